-- name: receive_context
-- Checks 3-8: wait until no other receiver handles a notice from this sender (the lock is held until commit),
-- then the sender's keys (NULL arrays when it is not an enabled partner), the key to sign the receipt with at
-- $3, the last sequence received from the sender and the notice already stored under this id (NULLs when
-- none), the sender's own quota (NULLs: the settings' default) and the notices and bytes stored from it in the UTC
-- hour of $3, as committed when the lock was granted. $1 sender, $2 notice_id, $3 now
SELECT key_ids, public_keys, not_befores, not_afters, revoked_ats, own_key_id, last_sequence, notice, receipt,
       quota_notices, quota_bytes, used_notices, used_bytes
  FROM receive_context($1, $2, $3);

-- name: sender_keys
-- Check 3-4 without the sender's lock (a notice whose signature is not yet known good): the sender's keys as
-- receive_context gives them, NULL arrays when it is not an enabled partner. $1 sender
SELECT array_agg(k.key_id) AS key_ids, array_agg(k.public_key) AS public_keys, array_agg(k.not_before) AS not_befores,
       array_agg(k.not_after) AS not_afters, array_agg(k.revoked_at) AS revoked_ats
  FROM peer_key AS k JOIN peer AS p USING (state)
 WHERE p.state = $1 AND p.enabled;

-- name: store_received_notice
-- Store a received notice with its receipt and journal it, and count it and its bytes in the sender's quota for the
-- UTC hour of its receipt, in one statement (the caller holds the sender's lock).
-- $1 sender, $2 notice_id, $3 type, $4 sequence, $5 created_at, $6 in_reply_to, $7 confidentiality, $8 key_id,
-- $9 notice, $10 signature, $11 digest, $12 status, $13 reason, $14 received_at, $15 receipt,
-- $16 journal recorded_at, $17 journal payload
WITH counted AS (
    INSERT INTO peer_quota_window AS w (state, window_start, notices, bytes)
    VALUES ($1::text, date_trunc('hour', $14::timestamptz, 'UTC'), 1, octet_length($9::bytea))
    ON CONFLICT ON CONSTRAINT peer_quota_window_pkey
    DO UPDATE SET notices = w.notices + 1, bytes = w.bytes + excluded.bytes
), stored AS (
    INSERT INTO notice_inbox (sender, notice_id, type, sequence, created_at, in_reply_to, confidentiality, key_id,
                              notice, signature, digest, status, reason, received_at, receipt)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
    RETURNING sender, notice_id
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $16, 'partner:' || sender, 'notice.received', 'notice_inbox', sender || '/' || notice_id, $17 FROM stored
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM entry
RETURNING entry_id;

-- name: record_quota_refusal
-- A notice refused for the sender's quota (nothing of it stored): counted on the sender's row of the hour, and the
-- first refusal of the hour journaled (one entry a partner an hour however many are refused).
-- $1 sender, $2 refused_at, $3 journal recorded_at, $4 journal payload
WITH refusal AS (
    INSERT INTO peer_quota_window AS w (state, window_start, refused, first_refused_at, last_refused_at)
    VALUES ($1::text, date_trunc('hour', $2::timestamptz, 'UTC'), 1, $2, $2)
    ON CONFLICT ON CONSTRAINT peer_quota_window_pkey
    DO UPDATE SET refused = w.refused + 1, first_refused_at = coalesce(w.first_refused_at, excluded.first_refused_at),
                  last_refused_at = greatest(w.last_refused_at, excluded.last_refused_at)
    RETURNING state, window_start, refused
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $3, 'partner:' || state, 'notice.quota-exceeded', 'peer', state, $4 FROM refusal WHERE refused = 1
    RETURNING entry_id
), pending AS (
    INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry
)
SELECT refused FROM refusal;

-- name: list_inbox_notices
-- Received notices in arrival order, a page after a cursor. $1 after received_at or NULL, $2 after sender, $3 after notice_id, $4 limit
SELECT sender, notice_id, type, sequence, created_at, in_reply_to, confidentiality, key_id, status, reason, received_at
  FROM notice_inbox
 WHERE $1::timestamptz IS NULL OR (received_at, sender, notice_id) > ($1::timestamptz, $2::text, $3::text)
 ORDER BY received_at, sender, notice_id
 LIMIT $4;

-- name: wrote_in_transaction
-- Whether the current transaction has written anything: only a write assigns a transaction id.
SELECT pg_current_xact_id_if_assigned() IS NOT NULL;
