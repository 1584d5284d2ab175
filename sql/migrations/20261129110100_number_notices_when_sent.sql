-- Outgoing notices are numbered when the worker first takes them, not when they are queued (PROTOCOL §4:
-- per partner, rising by exactly one). Queueing then takes no lock on the partner's row, so transactions
-- that queue notices for the same partner (customs checks sending shipment.dispatched, say) no longer
-- wait for one another's commit. A notice waits with sequence NULL, in queued_order, until numbered.
ALTER TABLE notice_outbox ALTER COLUMN sequence DROP NOT NULL;
ALTER TABLE notice_outbox ADD COLUMN queued_order bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX notice_outbox_unnumbered_idx ON notice_outbox (recipient, queued_order) WHERE sequence IS NULL;
