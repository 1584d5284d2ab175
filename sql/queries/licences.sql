-- name: next_licence_number
-- The next number of a kind in a year (the counter row is locked until the transaction ends). $1 kind, $2 year
INSERT INTO licence_counter (kind, year, last)
VALUES ($1, $2, 1)
    ON CONFLICT ON CONSTRAINT licence_counter_pkey DO UPDATE SET last = licence_counter.last + 1
RETURNING last;

-- name: insert_licence
-- A new licence at version 1. $1 licence_id, $2 issuing_state, $3 number, $4 kind, $5 origin, $6 status, $7 valid_from, $8 expires_on, $9 exporting_state, $10 importing_state, $11 transit_states, $12 created_at, $13 created_by
INSERT INTO licence (licence_id, issuing_state, number, kind, origin, status, version, valid_from, expires_on,
                     exporting_state, importing_state, transit_states, created_at, created_by, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $11, $12, $13, $12);

-- name: insert_licence_version
-- One version of a licence. $1 licence_id, $2 version, $3 content, $4 exporter_id, $5 consignee_id, $6 final_recipient_id, $7 broker_ids, $8 reason, $9 created_at, $10 created_by
INSERT INTO licence_version (licence_id, version, content, exporter_id, consignee_id, final_recipient_id, broker_ids,
                             reason, created_at, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: sign_licence_version
-- Sign a version when it is issued (once). $1 licence_id, $2 version, $3 issued_at, $4 key_id, $5 signature
UPDATE licence_version
   SET issued_at = $3, key_id = $4, signature = $5
 WHERE licence_id = $1 AND version = $2 AND signature IS NULL;

-- name: upsert_licence_line
-- The current issued quantity and serials of a line. $1 licence_id, $2 line, $3 category, $4 quantity, $5 serials
INSERT INTO licence_line (licence_id, line, category, quantity, serials)
VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT ON CONSTRAINT licence_line_pkey
    DO UPDATE SET category = EXCLUDED.category, quantity = EXCLUDED.quantity, serials = EXCLUDED.serials;

-- name: get_licence
-- A licence's current row. $1 licence_id
SELECT licence_id, issuing_state, number, kind, origin, status, version, valid_from, expires_on,
       exporting_state, importing_state, transit_states, issued_at, created_at, created_by, updated_at
  FROM licence
 WHERE licence_id = $1;

-- name: get_licence_for_update
-- A licence's current row, locked for a status change, an amendment or a debit. $1 licence_id
SELECT licence_id, issuing_state, number, kind, origin, status, version, valid_from, expires_on,
       exporting_state, importing_state, transit_states, issued_at, created_at, created_by, updated_at
  FROM licence
 WHERE licence_id = $1
   FOR UPDATE;

-- name: find_licence
-- A licence by its number in its issuing State. $1 issuing_state, $2 number
SELECT licence_id, issuing_state, number, kind, origin, status, version, valid_from, expires_on,
       exporting_state, importing_state, transit_states, issued_at, created_at, created_by, updated_at
  FROM licence
 WHERE issuing_state = $1 AND number = $2;

-- name: list_partner_states_of_number
-- The issuing States of the partners' issued licences (received) under a number: what an officer who gave the number
-- without its State may have meant. $1 number
SELECT DISTINCT issuing_state
  FROM licence
 WHERE number = $1 AND origin = 'received' AND status NOT IN ('draft', 'pending')
 ORDER BY issuing_state;

-- name: find_licence_for_update
-- A licence by its number in its issuing State, its row locked (no key update) until the transaction ends: the
-- import authorisation an export licence is issued on. A status change in flight commits first; a later one waits,
-- and so does the issue or amendment of another licence drawn on the same authorisation, which then sees this one's
-- share of it (Art. 10(2)(a): the authorisation's quantity is one balance). $1 issuing_state, $2 number
SELECT licence_id, issuing_state, number, kind, origin, status, version, valid_from, expires_on,
       exporting_state, importing_state, transit_states, issued_at, created_at, created_by, updated_at
  FROM licence
 WHERE issuing_state = $1 AND number = $2
   FOR NO KEY UPDATE;

-- name: list_import_authorisation_shares
-- Art. 10(2)(a): what each OTHER export licence of this registry drawn on an import authorisation holds of it, per
-- category. A licence counts once, at its current version. Issued or suspended (it may be reinstated) and its current
-- version names the authorisation (its issuing State and number): the whole of its lines, or what left under a line
-- when more did, less what left under a version naming another authorisation (imported under that one). Otherwise what left under it (the ledger's debits) while a version naming the authorisation was in
-- force (the latest version made at or before the debit): those goods were imported under it, the rest is free --
-- a revoked, expired or exhausted licence, and one amended since onto another authorisation, which before gave back
-- what had left under this one. Draft or pending: nothing (it is judged at its own issue). Rows with nothing held
-- are left out. The licences are found on licence_version_import_authorisation_idx (any of their versions).
-- $1 issuing_state, $2 number of the authorisation, $3 licence_id of the licence judged
SELECT l.number, l.status, ll.category,
       sum(CASE WHEN l.status IN ('issued', 'suspended') AND c.names
                THEN greatest(ll.quantity - (d.debited - d.under), d.under)
                ELSE d.under END)::bigint AS quantity
  FROM licence AS l
  JOIN licence_version AS cv ON cv.licence_id = l.licence_id AND cv.version = l.version
 CROSS JOIN LATERAL (SELECT (cv.content -> 'import_authorisation' ->> 'state') IS NOT DISTINCT FROM $1
                            AND (cv.content -> 'import_authorisation' ->> 'number') IS NOT DISTINCT FROM $2
                            AS names) AS c
  JOIN licence_line AS ll ON ll.licence_id = l.licence_id
 CROSS JOIN LATERAL (
        SELECT coalesce(sum(e.quantity), 0) AS debited,
               coalesce(sum(e.quantity) FILTER (WHERE (
                   SELECT (w.content -> 'import_authorisation' ->> 'state') IS NOT DISTINCT FROM $1
                          AND (w.content -> 'import_authorisation' ->> 'number') IS NOT DISTINCT FROM $2
                     FROM licence_version AS w
                    WHERE w.licence_id = e.licence_id AND w.created_at <= e.recorded_at
                    ORDER BY w.version DESC
                    LIMIT 1)), 0) AS under
          FROM ledger_entry AS e
         WHERE e.licence_id = ll.licence_id AND e.line = ll.line) AS d
 WHERE l.licence_id IN (SELECT v.licence_id
                          FROM licence_version AS v
                         WHERE (v.content -> 'import_authorisation' ->> 'state') = $1
                           AND (v.content -> 'import_authorisation' ->> 'number') = $2)
   AND l.origin = 'local' AND l.kind = 'export' AND l.licence_id <> $3
   AND l.status NOT IN ('draft', 'pending')
 GROUP BY l.number, l.status, ll.category
HAVING sum(CASE WHEN l.status IN ('issued', 'suspended') AND c.names
                    THEN greatest(ll.quantity - (d.debited - d.under), d.under)
                    ELSE d.under END) > 0
 ORDER BY l.number, ll.category;

-- name: list_debits_under_other_authorisations
-- Art. 10(2)(a): what left under a licence, per category, while a version naming another import authorisation (or
-- none) than this one was in force (the latest version made at or before the debit): goods imported under that
-- one, which a licence amended onto this authorisation does not ask of it. $1 licence_id, $2 issuing_state, $3 number
-- of the authorisation
SELECT ll.category, sum(e.quantity)::bigint AS quantity
  FROM ledger_entry AS e
  JOIN licence_line AS ll ON ll.licence_id = e.licence_id AND ll.line = e.line
 WHERE e.licence_id = $1
   AND NOT coalesce((SELECT (w.content -> 'import_authorisation' ->> 'state') IS NOT DISTINCT FROM $2
                            AND (w.content -> 'import_authorisation' ->> 'number') IS NOT DISTINCT FROM $3
                       FROM licence_version AS w
                      WHERE w.licence_id = e.licence_id AND w.created_at <= e.recorded_at
                      ORDER BY w.version DESC
                      LIMIT 1), false)
 GROUP BY ll.category;

-- name: list_licences
-- Licences in creation order, a page after a cursor, optionally of one status and kind. $1 after created_at, $2 after licence_id, $3 status or NULL, $4 kind or NULL, $5 limit
SELECT licence_id, issuing_state, number, kind, origin, status, version, valid_from, expires_on,
       exporting_state, importing_state, transit_states, issued_at, created_at, created_by, updated_at
  FROM licence
 WHERE ($1::timestamptz IS NULL OR (created_at, licence_id) > ($1::timestamptz, $2::uuid))
   AND ($3::text IS NULL OR status = $3::text)
   AND ($4::text IS NULL OR kind = $4::text)
 ORDER BY created_at, licence_id
 LIMIT $5;

-- name: get_licence_version
-- One version of a licence. $1 licence_id, $2 version
SELECT licence_id, version, content, exporter_id, consignee_id, final_recipient_id, broker_ids, reason,
       created_at, created_by, issued_at, key_id, signature
  FROM licence_version
 WHERE licence_id = $1 AND version = $2;

-- name: list_licence_versions
-- The versions of a licence, a page after a version. $1 licence_id, $2 after version, $3 limit
SELECT licence_id, version, content, exporter_id, consignee_id, final_recipient_id, broker_ids, reason,
       created_at, created_by, issued_at, key_id, signature
  FROM licence_version
 WHERE licence_id = $1 AND version > $2
 ORDER BY version
 LIMIT $3;

-- name: update_licence_status
-- Set a licence's status. $1 licence_id, $2 status, $3 updated_at, $4 issued_at (kept when NULL)
UPDATE licence
   SET status = $2, updated_at = $3, issued_at = coalesce($4, issued_at)
 WHERE licence_id = $1;

-- name: update_licence_version
-- Point a licence at a new version and its dates and route. $1 licence_id, $2 version, $3 valid_from, $4 expires_on, $5 exporting_state, $6 importing_state, $7 transit_states, $8 updated_at
UPDATE licence
   SET version = $2, valid_from = $3, expires_on = $4, exporting_state = $5, importing_state = $6,
       transit_states = $7, updated_at = $8
 WHERE licence_id = $1;

-- name: insert_licence_event
-- One status change. $1 licence_id, $2 version, $3 from_status, $4 to_status, $5 reason, $6 actor, $7 occurred_at
INSERT INTO licence_event (licence_id, version, from_status, to_status, reason, actor, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING licence_event_id;

-- name: list_licence_events
-- A licence's status history, a page after an event id. $1 licence_id, $2 after licence_event_id, $3 limit
SELECT licence_event_id, licence_id, version, from_status, to_status, reason, actor, occurred_at
  FROM licence_event
 WHERE licence_id = $1 AND licence_event_id > $2
 ORDER BY licence_event_id
 LIMIT $3;

-- name: list_expired_licence_ids
-- Live local licences whose last day has passed (a partner's licence follows its issuing State's word). $1 today, $2 limit
SELECT licence_id
  FROM licence
 WHERE status IN ('issued', 'suspended') AND expires_on < $1 AND origin = 'local'
 ORDER BY expires_on, licence_id
 LIMIT $2;

-- name: get_licence_document
-- The rendered document of a version. $1 licence_id, $2 version
SELECT html, verification_code FROM licence_document WHERE licence_id = $1 AND version = $2;

-- name: insert_licence_document
-- Cache a rendered document (a concurrent render of the same version keeps the first). $1 licence_id, $2 version, $3 html, $4 verification_code, $5 rendered_at
INSERT INTO licence_document (licence_id, version, html, verification_code, rendered_at)
VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT ON CONSTRAINT licence_document_pkey DO NOTHING;

-- name: delete_licence_lines_except
-- Drop the lines an amendment removed (only lines nothing was debited from reach here). $1 licence_id, $2 kept line numbers
DELETE FROM licence_line WHERE licence_id = $1 AND NOT (line = ANY($2::integer[]));
