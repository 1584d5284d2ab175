-- A receipt ends a partner's refusal of a notice: the number it expected when it refused the notice as behind
-- (expected_sequence) was kept on the notice after it was delivered or rejected. A resend the partner asked
-- for later put that notice back at the head of its queue with the stale number, and peers resequence took it
-- for what the partner expects now. Receipts now clear it (record_outbox_receipts); the notices acknowledged
-- before forget it here. Delivery state, not a record: the worker does not journal it either.
UPDATE notice_outbox SET expected_sequence = NULL WHERE status <> 'queued' AND expected_sequence IS NOT NULL;
