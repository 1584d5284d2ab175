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

-- name: allow_idempotency_key_prune
-- Let this transaction, and it alone, delete idempotency keys (the table's trigger refuses it otherwise).
SELECT set_config('firearms.idempotency_prune', 'on', true);

-- name: prune_idempotency_keys
-- Up to $2 keys stored before $1, oldest first, deleted, each journaled (idempotency-key.pruned, the same
-- entity_id as its idempotency-key.recorded) and queued for the sealer, in this transaction; their count.
-- $1 stored before, $2 limit, $3 recorded_at, $4 actor, $5 stored before as written in the journal
WITH doomed AS (
    SELECT token_id, idempotency_key
      FROM idempotency_key
     WHERE created_at < $1
     ORDER BY created_at, token_id, idempotency_key
     LIMIT $2
), pruned AS (
    DELETE FROM idempotency_key AS k
     USING doomed AS d
     WHERE k.token_id = d.token_id AND k.idempotency_key = d.idempotency_key
    RETURNING k.token_id, k.idempotency_key, k.request, k.fingerprint, k.created_at
), journaled AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $3, $4, 'idempotency-key.pruned', 'idempotency_key', token_id::text || '/' || idempotency_key,
           jsonb_build_object('request', request, 'fingerprint', encode(fingerprint, 'hex'),
                              'stored_before', $5::text)
      FROM pruned
     ORDER BY created_at, token_id, idempotency_key
    RETURNING entry_id
), queued AS (
    INSERT INTO journal_pending (entry_id)
    SELECT entry_id FROM journaled
    RETURNING entry_id
)
SELECT count(*) FROM queued;
