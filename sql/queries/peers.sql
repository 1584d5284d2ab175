-- name: insert_peer
-- A partner State on the trust list. $1 state, $2 base_url, $3 now
INSERT INTO peer (state, base_url, enabled, created_at, updated_at)
VALUES ($1, $2, true, $3, $3);

-- name: get_peer
-- One partner. $1 state
SELECT state, base_url, enabled, last_sent_sequence, quota_notices, quota_bytes, created_at, updated_at FROM peer WHERE state = $1;

-- name: get_peer_for_update
-- One partner, locked to be enabled or disabled: whether it was enabled is read as the change finds it, not before a
-- change under way commits (an enabling that read it enabled then would skip the catch-up it owes). NO KEY UPDATE,
-- the lock the change takes anyway: it does not wait for the transactions queueing notices to the partner, whose
-- foreign key holds a KEY SHARE lock on its row (an event holding the report recipients' shared lock among them).
-- $1 state
SELECT state, base_url, enabled, last_sent_sequence, quota_notices, quota_bytes, created_at, updated_at FROM peer WHERE state = $1
   FOR NO KEY UPDATE;

-- name: list_peers
-- Partners in State order, a page after a cursor. $1 after state, $2 limit
SELECT state, base_url, enabled, last_sent_sequence, quota_notices, quota_bytes, created_at, updated_at
  FROM peer
 WHERE state > $1
 ORDER BY state
 LIMIT $2;

-- name: list_enabled_peer_states
-- Every enabled partner (the recipients of a lost/stolen report, read after lock_report_recipients_shared).
SELECT state FROM peer WHERE enabled ORDER BY state;

-- name: lock_report_recipients_shared
-- Taken by every transaction that queues a lost/stolen report or its withdrawal to the enabled partners, before it
-- reads them, until it ends: such transactions do not wait for one another, only for a partner's catch-up.
SELECT pg_advisory_xact_lock_shared(7310005);

-- name: lock_report_recipients
-- Taken by a partner's catch-up (added, or enabled again) before it reads the reports: it waits until every
-- transaction that read the partners without it has ended, and holds off new ones until it ends, so each of the two
-- sees the other (an event under way is seen by the catch-up; one that follows sees the partner).
SELECT pg_advisory_xact_lock(7310005);

-- name: set_peer_enabled
-- Enable or disable a partner. $1 state, $2 enabled, $3 now
UPDATE peer SET enabled = $2, updated_at = $3 WHERE state = $1
RETURNING state, base_url, enabled, last_sent_sequence, quota_notices, quota_bytes, created_at, updated_at;

-- name: set_peer_url
-- Change where a partner is reached. $1 state, $2 base_url, $3 now
UPDATE peer SET base_url = $2, updated_at = $3 WHERE state = $1
RETURNING state, base_url, enabled, last_sent_sequence, quota_notices, quota_bytes, created_at, updated_at;

-- name: insert_peer_key
-- A partner's key. $1 state, $2 key_id, $3 public_key, $4 not_before, $5 not_after, $6 provenance, $7 now
INSERT INTO peer_key (state, key_id, public_key, not_before, not_after, provenance, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: get_peer_key
-- One key of a partner. $1 state, $2 key_id
SELECT state, key_id, public_key, not_before, not_after, revoked_at, provenance, created_at
  FROM peer_key WHERE state = $1 AND key_id = $2;

-- name: lock_peer_key_id
-- Serialise, until the transaction ends, every entry of the key ``key_id`` on the trust list (whichever State it
-- is entered for): a second one waits here for the first to commit, then list_key_states sees it. $1 key_id
SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7403));

-- name: list_key_states
-- The States a key is on the trust list for (one at most: a key speaks for one State). $1 key_id
SELECT state FROM peer_key WHERE key_id = $1 ORDER BY state;

-- name: list_peer_keys
-- Every key of a partner, oldest first. $1 state
SELECT state, key_id, public_key, not_before, not_after, revoked_at, provenance, created_at
  FROM peer_key WHERE state = $1 ORDER BY not_before, created_at;

-- name: list_trusted_keys
-- The keys of an enabled partner (none when it is unknown or disabled). $1 state
SELECT k.key_id, k.public_key, k.not_before, k.not_after, k.revoked_at
  FROM peer_key AS k JOIN peer AS p USING (state)
 WHERE p.state = $1 AND p.enabled;

-- name: revoke_peer_key
-- Mark a partner's key revoked from $3 (an earlier revocation time is kept). $1 state, $2 key_id, $3 revoked_at
UPDATE peer_key SET revoked_at = LEAST(coalesce(revoked_at, $3), $3)
 WHERE state = $1 AND key_id = $2
RETURNING key_id, revoked_at;

-- name: set_peer_quota
-- A partner's own bound on the notices stored from it an hour (NULLs: the settings' default). $1 state, $2 notices,
-- $3 bytes, $4 now
UPDATE peer SET quota_notices = $2, quota_bytes = $3, updated_at = $4 WHERE state = $1
RETURNING state, base_url, enabled, last_sent_sequence, quota_notices, quota_bytes, created_at, updated_at;
