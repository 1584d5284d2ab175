-- name: insert_officer_token
-- A new officer token; only the SHA-256 of the secret is kept. $1 token_id, $2 name, $3 role, $4 token_hash, $5 created_at, $6 created_by
INSERT INTO officer_token (token_id, name, role, token_hash, created_at, created_by)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: get_officer_by_token_hash
-- The live (not revoked) officer holding a token. $1 token_hash
SELECT token_id, name, role
  FROM officer_token
 WHERE token_hash = $1 AND revoked_at IS NULL;

-- name: lock_officer_token_names
-- Serialises the operators' token creations, so that two cannot both take a name no live token holds yet.
SELECT pg_advisory_xact_lock(7310006);

-- name: get_live_officer_token_named
-- The live token whose name is $1, compared without case and surrounding spaces (the journal's actor names it).
SELECT token_id
  FROM officer_token
 WHERE lower(btrim(name)) = lower(btrim($1::text)) AND revoked_at IS NULL
 LIMIT 1;

-- name: is_officer_token_live
-- Whether a token is still live: a request whose connection came long after the guard's look-up asks again. $1 token_id
SELECT EXISTS (SELECT FROM officer_token WHERE token_id = $1 AND revoked_at IS NULL);

-- name: list_officer_tokens
-- Tokens in creation order, a page after a cursor. $1 after created_at or NULL, $2 after token_id, $3 limit
SELECT token_id, name, role, created_at, created_by, revoked_at, revoked_by
  FROM officer_token
 WHERE $1::timestamptz IS NULL OR (created_at, token_id) > ($1::timestamptz, $2::uuid)
 ORDER BY created_at, token_id
 LIMIT $3;

-- name: revoke_officer_token
-- Revoke a live token. $1 token_id, $2 revoked_at, $3 revoked_by
UPDATE officer_token
   SET revoked_at = $2, revoked_by = $3
 WHERE token_id = $1 AND revoked_at IS NULL
RETURNING token_id, name, role, created_at, created_by, revoked_at, revoked_by;

-- name: get_officer_token
-- One token's public facts. $1 token_id
SELECT token_id, name, role, created_at, created_by, revoked_at, revoked_by
  FROM officer_token
 WHERE token_id = $1;

-- name: count_admin_tokens
-- How many admin tokens were ever created, revoked ones too (the first start creates one when there was none).
SELECT count(*) FROM officer_token WHERE role = 'admin';
