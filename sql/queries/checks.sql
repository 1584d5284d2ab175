-- name: get_customs_check
-- A recorded check with its decision, if any. $1 check_id
SELECT c.check_id, c.fingerprint, c.movement, c.issuing_state, c.licence_number, c.crossing_point, c.shipment_id,
       c.request, c.verdict, c.answer, c.checked_at, c.checked_by,
       d.decision, d.reason AS decision_reason, d.decided_at, d.decided_by
  FROM customs_check AS c
  LEFT JOIN check_decision AS d USING (check_id)
 WHERE c.check_id = $1;

-- name: find_licence_for_check
-- The licence a check names, locked so concurrent checks of one licence take turns, with this State's
-- latest transit-consent decision on it. $1 issuing_state, $2 number, $3 this State, $4 today
SELECT l.licence_id, l.kind, l.origin, l.status, l.valid_from, l.expires_on,
       l.exporting_state, l.importing_state, l.transit_states,
       coalesce((SELECT t.decision IN ('no-objection', 'deemed') AND (t.valid_until IS NULL OR t.valid_until >= $4)
                   FROM transit_consent AS t
                  WHERE t.licence_id = l.licence_id AND t.transit_state = $3
                  ORDER BY t.transit_consent_id DESC
                  LIMIT 1), false) AS transit_consent
  FROM licence AS l
 WHERE l.issuing_state = $1 AND l.number = $2
   FOR UPDATE OF l;

-- name: list_check_lines
-- A licence's lines with what the export ledger debited and what passed here for a movement.
-- $1 licence_id, $2 issuing_state, $3 number, $4 movement
SELECT ll.line, ll.category, ll.quantity, ll.serials,
       coalesce((SELECT sum(e.quantity) FROM ledger_entry AS e
                  WHERE e.licence_id = ll.licence_id AND e.line = ll.line), 0)::bigint AS debited,
       coalesce((SELECT sum(t.quantity) FROM passage_tally AS t
                  WHERE t.issuing_state = $2 AND t.licence_number = $3 AND t.movement = $4 AND t.line = ll.line), 0)::bigint AS passed
  FROM licence_line AS ll
 WHERE ll.licence_id = $1
 ORDER BY ll.line;

-- name: list_serial_facts
-- What this registry knows of each presented serial: cleared already for this licence and movement,
-- reported lost or stolen, registered as a firearm without this State's import marking.
-- $1 issuing_state, $2 number, $3 movement, $4 normalised serials, $5 this State
SELECT s AS serial,
       EXISTS (SELECT 1 FROM cleared_serial AS c
                WHERE c.issuing_state = $1 AND c.licence_number = $2 AND c.movement = $3 AND c.serial = s) AS passed,
       EXISTS (SELECT 1 FROM item AS i WHERE i.serial_normalised = s AND i.status IN ('lost', 'stolen')) AS reported,
       EXISTS (SELECT 1 FROM item AS i
                WHERE i.serial_normalised = s AND i.kind = 'firearm'
                  AND NOT EXISTS (SELECT 1 FROM marking AS m
                                   WHERE m.item_id = i.item_id AND m.kind = 'import' AND m.country = $5)) AS unmarked
  FROM unnest($4::text[]) AS s;

-- name: insert_customs_check
-- Record a check and its answer. $1 check_id, $2 fingerprint, $3 movement, $4 issuing_state, $5 licence_number,
-- $6 crossing_point, $7 shipment_id, $8 request, $9 verdict, $10 answer, $11 checked_at, $12 checked_by
INSERT INTO customs_check (check_id, fingerprint, movement, issuing_state, licence_number, crossing_point, shipment_id,
                           request, verdict, answer, checked_at, checked_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT ON CONSTRAINT customs_check_pkey DO NOTHING
RETURNING check_id;

-- name: insert_check_serials
-- The serials a check presented. $1 check_id, $2 normalised serials
INSERT INTO check_serial (serial, check_id)
SELECT DISTINCT s, $1::uuid FROM unnest($2::text[]) AS s;

-- name: insert_cleared_serials
-- Serials that cleared; a serial cleared before for this licence and movement violates the key.
-- $1 issuing_state, $2 number, $3 movement, $4 check_id, $5 lines, $6 normalised serials
INSERT INTO cleared_serial (issuing_state, licence_number, movement, serial, line, check_id)
SELECT $1::text, $2::text, $3::text, s, l, $4::uuid FROM unnest($5::int[], $6::text[]) AS t (l, s);

-- name: insert_passage_tally
-- What passed here, per line. $1 check_id, $2 issuing_state, $3 number, $4 movement, $5 lines, $6 quantities
INSERT INTO passage_tally (check_id, issuing_state, licence_number, movement, line, quantity)
SELECT $1::uuid, $2::text, $3::text, $4::text, l, q FROM unnest($5::int[], $6::bigint[]) AS t (l, q);

-- name: insert_check_decision
-- An officer's decision on a held check. $1 check_id, $2 decision, $3 reason, $4 decided_at, $5 decided_by
INSERT INTO check_decision (check_id, decision, reason, decided_at, decided_by)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT check_decision_pkey DO NOTHING
RETURNING check_id;

-- name: list_checks_by_licence
-- Checks of one licence, newest first, a page after a cursor. $1 issuing_state, $2 number, $3 before checked_at, $4 before check_id, $5 limit
SELECT c.check_id, c.movement, c.verdict, c.answer, c.checked_at, c.checked_by, c.crossing_point,
       d.decision, d.reason AS decision_reason, d.decided_at, d.decided_by
  FROM customs_check AS c
  LEFT JOIN check_decision AS d USING (check_id)
 WHERE c.issuing_state = $1 AND c.licence_number = $2
   AND ($3::timestamptz IS NULL OR (c.checked_at, c.check_id) < ($3::timestamptz, $4::uuid))
 ORDER BY c.checked_at DESC, c.check_id DESC
 LIMIT $5;

-- name: list_checks_by_serial
-- Checks that presented a serial, newest first, a page after a cursor. $1 normalised serial, $2 before checked_at, $3 before check_id, $4 limit
SELECT c.check_id, c.movement, c.verdict, c.answer, c.checked_at, c.checked_by, c.crossing_point,
       d.decision, d.reason AS decision_reason, d.decided_at, d.decided_by
  FROM check_serial AS s
  JOIN customs_check AS c USING (check_id)
  LEFT JOIN check_decision AS d USING (check_id)
 WHERE s.serial = $1
   AND ($2::timestamptz IS NULL OR (c.checked_at, c.check_id) < ($2::timestamptz, $3::uuid))
 ORDER BY c.checked_at DESC, c.check_id DESC
 LIMIT $4;
