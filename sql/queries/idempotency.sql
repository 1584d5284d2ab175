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

-- name: prune_idempotency_keys
-- Up to $2 keys stored before $1, oldest first, deleted, each journaled (idempotency-key.pruned, the same
-- entity_id as its idempotency-key.recorded) and queued for the sealer, in this transaction; their count. The
-- function runs as the tables' owner (the service's role may not DELETE a key) and refuses a bound later than a
-- day ago (migration 20261130181000). $1 stored before, $2 limit, $3 recorded_at, $4 actor, $5 stored before as
-- written in the journal
SELECT prune_idempotency_keys($1, $2, $3, $4, $5);

-- name: get_database_time
-- The database's clock: the prune's bound is taken from it, the clock prune_idempotency_keys() holds it to.
SELECT now();
