-- name: get_inbox_notice
-- A received notice's bytes and receipt. $1 sender, $2 notice_id
SELECT notice, receipt FROM notice_inbox WHERE sender = $1 AND notice_id = $2;

-- name: get_receive_context
-- Checks 3-4 and the receipt's key in one read: the keys of an enabled partner (no rows when it is unknown
-- or disabled), each row with the key this registry signs with at $2 (NULL when none). $1 sender, $2 now
SELECT k.key_id, k.public_key, k.not_before, k.not_after, k.revoked_at, current_registry_key_id($2) AS own_key_id
  FROM peer_key AS k JOIN peer AS p USING (state)
 WHERE p.state = $1 AND p.enabled;

-- name: lock_inbox
-- Checks 7-8: lock the sender's row until commit (one receiver per sender at a time), with the last sequence
-- received from it and the notice already stored under this id, if any. NO KEY UPDATE: it does not wait for
-- transactions queueing notices to that partner (their foreign key holds KEY SHARE). A receiver that waited
-- for the lock sees received_sequence as its predecessor committed it but the inbox as of its own snapshot:
-- when the sequence says the id may be stored already, the caller looks again (get_inbox_notice).
-- $1 sender, $2 notice_id
SELECT p.received_sequence, i.notice, i.receipt
  FROM peer AS p
  LEFT JOIN notice_inbox AS i ON i.sender = p.state AND i.notice_id = $2
 WHERE p.state = $1
   FOR NO KEY UPDATE OF p;

-- name: store_received_notice
-- Store a received notice with its receipt, advance the sender's received_sequence and journal it, in one
-- statement. No row when $4 is not the next sequence (the caller holds the sender's lock: a bug).
-- $1 sender, $2 notice_id, $3 type, $4 sequence, $5 created_at, $6 in_reply_to, $7 confidentiality, $8 key_id,
-- $9 notice, $10 signature, $11 digest, $12 status, $13 reason, $14 received_at, $15 receipt,
-- $16 journal recorded_at, $17 journal payload
WITH advanced AS (
    UPDATE peer SET received_sequence = $4
     WHERE state = $1 AND received_sequence = $4 - 1
    RETURNING state
), stored AS (
    INSERT INTO notice_inbox (sender, notice_id, type, sequence, created_at, in_reply_to, confidentiality, key_id,
                              notice, signature, digest, status, reason, received_at, receipt)
    SELECT state, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 FROM advanced
    RETURNING sender, notice_id
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $16, 'partner:' || sender, 'notice.received', 'notice_inbox', sender || '/' || notice_id, $17 FROM stored
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM entry
RETURNING entry_id;

-- name: list_inbox_notices
-- Received notices in arrival order, a page after a cursor. $1 after received_at or NULL, $2 after sender, $3 after notice_id, $4 limit
SELECT sender, notice_id, type, sequence, created_at, in_reply_to, confidentiality, key_id, status, reason, received_at
  FROM notice_inbox
 WHERE $1::timestamptz IS NULL OR (received_at, sender, notice_id) > ($1::timestamptz, $2::text, $3::text)
 ORDER BY received_at, sender, notice_id
 LIMIT $4;
