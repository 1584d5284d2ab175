-- The operator's overview (firearms status, GET /api/v1/status) counts each partner's rejected notices and the held
-- customs checks awaiting a decision. Neither had an index: on 500,000 outbox rows the count read every notice of
-- the partner, and the held checks were found by reading every check. Both sets are small beside their tables.
CREATE INDEX notice_outbox_rejected_idx ON notice_outbox (recipient) WHERE status = 'rejected';
CREATE INDEX customs_check_held_idx ON customs_check (checked_at) WHERE verdict = 'hold';
