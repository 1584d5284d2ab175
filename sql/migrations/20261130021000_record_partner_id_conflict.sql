-- When the partner last answered a queued notice notice-id-conflict (PROTOCOL §4 check 7): it holds a notice
-- under that id with other bytes -- this very notice under another number, as after this registry was restored
-- from a backup taken while the notice was queued unnumbered (numbered otherwise since). Ed25519 signatures are
-- deterministic: given the number the partner holds it under (peers resequence), the notice signed again is
-- those bytes, a duplicate answered with its first receipt. Any other number is refused there again and stored
-- nowhere. NULL: not answered so, or acknowledged, renumbered or refused otherwise since. Delivery state.
ALTER TABLE notice_outbox ADD COLUMN id_conflict_at timestamptz;

DROP TRIGGER notice_outbox_change_only ON notice_outbox;
CREATE TRIGGER notice_outbox_change_only BEFORE UPDATE OR DELETE ON notice_outbox
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('sequence', 'envelope', 'status', 'attempts', 'last_error',
        'last_attempt_at', 'next_attempt_at', 'lease_owner', 'lease_until', 'delivered_at', 'receipt',
        'receipt_reason', 'expected_sequence', 'id_conflict_at');
