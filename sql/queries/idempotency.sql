-- name: lock_idempotency_key
-- Serialise the requests of one officer's token that carry one key, until the transaction ends: a second
-- one waits here for the first to commit (then reads its answer) or roll back (then runs itself).
-- $1 token_id, $2 idempotency_key
SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text || '/' || $2::text, 7402));

-- name: get_idempotency_key
-- The first answer to a key, read after lock_idempotency_key (a snapshot that sees what the holder
-- committed). $1 token_id, $2 idempotency_key
SELECT request, fingerprint, answer, status_code, created_at
  FROM idempotency_key
 WHERE token_id = $1 AND idempotency_key = $2;

-- name: insert_idempotency_key
-- A key and the answer it gave, in the transaction of the record that answer created.
-- $1 token_id, $2 idempotency_key, $3 request, $4 fingerprint, $5 answer, $6 status_code, $7 created_at
INSERT INTO idempotency_key (token_id, idempotency_key, request, fingerprint, answer, status_code, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7);
