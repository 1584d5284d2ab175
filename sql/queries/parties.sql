-- name: insert_party
-- A new party. $1 party_id, $2 kind, $3 name, $4 country, $5 address, $6 registration, $7 valid_from, $8 expires_on, $9 status, $10 created_at, $11 created_by
INSERT INTO party (party_id, kind, name, country, address, registration, valid_from, expires_on, status,
                   created_at, created_by, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10)
RETURNING party_id, kind, name, country, address, registration, valid_from, expires_on, status, created_at, updated_at,
          registration_duplicate_of;

-- name: get_party
-- One party. $1 party_id
SELECT party_id, kind, name, country, address, registration, valid_from, expires_on, status, created_at, updated_at,
       registration_duplicate_of
  FROM party
 WHERE party_id = $1;

-- name: get_parties
-- Several parties at once. $1 party_id[]
SELECT party_id, kind, name, country, address, registration, valid_from, expires_on, status, created_at, updated_at,
       registration_duplicate_of
  FROM party
 WHERE party_id = ANY($1::uuid[]);

-- name: get_parties_for_share
-- Several parties, their rows shared until the transaction ends, in party_id order: a status change in
-- flight (it holds the row FOR UPDATE) commits first and is seen; a later one waits. $1 party_id[]
SELECT party_id, kind, name, country, address, registration, valid_from, expires_on, status, created_at, updated_at,
       registration_duplicate_of
  FROM party
 WHERE party_id = ANY($1::uuid[])
 ORDER BY party_id
   FOR SHARE;

-- name: list_parties
-- Parties in creation order, a page after a cursor, optionally of one kind. $1 after created_at, $2 after party_id, $3 kind or NULL, $4 limit
SELECT party_id, kind, name, country, address, registration, valid_from, expires_on, status, created_at, updated_at,
       registration_duplicate_of
  FROM party
 WHERE ($1::timestamptz IS NULL OR (created_at, party_id) > ($1::timestamptz, $2::uuid))
   AND ($3::text IS NULL OR kind = $3::text)
 ORDER BY created_at, party_id
 LIMIT $4;

-- name: update_party_status
-- Change a party's register status. $1 party_id, $2 status, $3 updated_at
UPDATE party
   SET status = $2, updated_at = $3
 WHERE party_id = $1
RETURNING party_id, kind, name, country, address, registration, valid_from, expires_on, status, created_at, updated_at,
          registration_duplicate_of;

-- name: get_party_for_update
-- One party, locked while its status changes. $1 party_id
SELECT party_id, kind, name, country, address, registration, valid_from, expires_on, status, created_at, updated_at,
       registration_duplicate_of
  FROM party
 WHERE party_id = $1
   FOR UPDATE;
