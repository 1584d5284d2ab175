-- name: insert_registry_key
-- A signing key of this registry. $1 key_id, $2 public_key, $3 not_before, $4 created_at
INSERT INTO registry_key (key_id, public_key, not_before, created_at)
VALUES ($1, $2, $3, $4);

-- name: is_own_key
-- Whether a key is one this registry made: signing with it now or once (retired or revoked), waiting for its
-- switch, or cancelled before it. $1 key_id
SELECT EXISTS (SELECT FROM registry_key WHERE key_id = $1)
    OR EXISTS (SELECT FROM pending_registry_key WHERE key_id = $1)
    OR EXISTS (SELECT FROM cancelled_registry_key WHERE key_id = $1);

-- name: list_registry_keys
-- Every key this registry ever used, oldest first.
SELECT key_id, public_key, not_before, not_after, revoked_at, created_at
  FROM registry_key
 ORDER BY not_before, created_at;

-- name: get_current_registry_key
-- The key to sign with at $1: the newest one valid then.
SELECT key_id, public_key, not_before, not_after, revoked_at, created_at
  FROM registry_key
 WHERE key_id = current_registry_key_id($1);

-- name: list_needed_key_ids
-- The keys this registry will sign with from $1 on: the current one, a new one waiting to be switched to, and
-- those named for the notices still to be signed (the newest valid at a notice's created_at). $1 now
SELECT key_id
  FROM (SELECT current_registry_key_id($1) AS key_id
        UNION
        SELECT key_id FROM pending_registry_key WHERE switched_at IS NULL
        UNION
        SELECT coalesce(signing_key_id, registry_key_at(created_at))
          FROM notice_outbox
         WHERE status = 'queued' AND envelope IS NULL) AS needed
 WHERE key_id IS NOT NULL
 ORDER BY key_id;

-- name: claim_registry_state
-- The State this database speaks for: $1 when none is recorded yet (then recorded), else the one recorded.
-- $1 state, $2 now
WITH claimed AS (
    INSERT INTO registry_state (state, recorded_at)
    SELECT $1, $2
     WHERE NOT EXISTS (SELECT FROM registry_state)
        ON CONFLICT ON CONSTRAINT registry_state_pkey DO NOTHING
    RETURNING state
)
SELECT state FROM claimed
 UNION ALL
SELECT state FROM registry_state;

-- name: get_registry_state
-- The State this database speaks for, if one is recorded.
SELECT state FROM registry_state;

-- name: lock_key_files_shared
-- Taken first by every transaction that may write a key file beside its place (keys.key_transaction), until it
-- ends: transactions creating keys do not wait for one another, only for a sweep of left files.
SELECT pg_advisory_xact_lock_shared(7310004);

-- name: lock_key_files
-- Taken by a sweep of the key files left beside their places: it waits until every transaction that may have
-- written one has committed or rolled back, and holds off new ones until it ends, so a file it finds belongs to
-- a transaction that is over.
SELECT pg_advisory_xact_lock(7310004);

-- name: list_recorded_key_ids
-- Which of $1 are keys of this registry: recorded, or waiting for their announcements. A key whose rotation
-- was cancelled is not (nothing will ever sign with it). $1 key_ids
SELECT key_id FROM registry_key WHERE key_id = ANY($1::text[])
 UNION
SELECT key_id FROM pending_registry_key WHERE key_id = ANY($1::text[]);

-- name: list_removed_key_files
-- The key files whose removal was journaled: a sweep journals a file's removal and commits before it removes
-- the file, so a crash (or a failed unlink) between the two leaves a file the next sweep removes without a
-- second entry. $1 key_ids
SELECT entity_id AS key_id, payload ->> 'file' AS file
  FROM journal_entry
 WHERE entity = 'registry_key' AND entity_id = ANY($1::text[]) AND action = 'key.file-removed';
