-- name: get_inbox_notice
-- A received notice's bytes and receipt. $1 sender, $2 notice_id
SELECT notice, receipt FROM notice_inbox WHERE sender = $1 AND notice_id = $2;

-- name: last_inbox_sequence
-- The highest sequence received from a sender (0 when none). $1 sender
SELECT coalesce(max(sequence), 0) FROM notice_inbox WHERE sender = $1;

-- name: insert_inbox_notice
-- Store a received notice with its receipt. $1 sender, $2 notice_id, $3 type, $4 sequence, $5 created_at, $6 in_reply_to, $7 confidentiality, $8 key_id, $9 notice, $10 signature, $11 digest, $12 status, $13 reason, $14 received_at, $15 receipt
INSERT INTO notice_inbox (sender, notice_id, type, sequence, created_at, in_reply_to, confidentiality, key_id,
                          notice, signature, digest, status, reason, received_at, receipt)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15);

-- name: list_inbox_notices
-- Received notices in arrival order, a page after a cursor. $1 after received_at or NULL, $2 after sender, $3 after notice_id, $4 limit
SELECT sender, notice_id, type, sequence, created_at, in_reply_to, confidentiality, key_id, status, reason, received_at
  FROM notice_inbox
 WHERE $1::timestamptz IS NULL OR (received_at, sender, notice_id) > ($1::timestamptz, $2::text, $3::text)
 ORDER BY received_at, sender, notice_id
 LIMIT $4;

-- name: get_inbox_state
-- A stored notice with this id from the sender (NULLs when none) and the sender's highest stored sequence.
-- $1 sender, $2 notice_id
SELECT i.notice, i.receipt, (SELECT coalesce(max(m.sequence), 0) FROM notice_inbox AS m WHERE m.sender = $1) AS last_sequence
  FROM (SELECT 1) AS one
  LEFT JOIN notice_inbox AS i ON i.sender = $1 AND i.notice_id = $2;
