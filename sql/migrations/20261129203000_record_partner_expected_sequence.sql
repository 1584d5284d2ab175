-- The number a partner expected when it last refused a queued notice with a sequence-gap ahead of that
-- notice's own number (PROTOCOL §4 check 8). Such an answer passed check 7 first, so the partner holds no
-- notice under that id: only then may the notice be given a new number (peers resequence) without meeting
-- notice-id-conflict there for ever. NULL: not refused so (not offered yet, or renumbered since).
ALTER TABLE notice_outbox ADD COLUMN expected_sequence bigint
    CONSTRAINT notice_outbox_expected_sequence_check CHECK (expected_sequence >= 1);
