-- name: get_customs_check
-- A recorded check with its decision, if any. $1 check_id
SELECT c.check_id, c.fingerprint, c.movement, c.issuing_state, c.licence_number, c.crossing_point, c.shipment_id,
       c.request, c.verdict, c.answer, c.checked_at, c.checked_by,
       d.decision, d.reason AS decision_reason, d.decided_at, d.decided_by
  FROM customs_check AS c
  LEFT JOIN check_decision AS d USING (check_id)
 WHERE c.check_id = $1;

-- name: get_check_context
-- The licence (locked), its lines with balances, and what this registry knows of the serials: one
-- round trip (the check_context function). $1 issuing_state, $2 number, $3 this State, $4 today,
-- $5 movement, $6 normalised serials. consent_version: the licence version this State's latest consent answers;
-- import_authorisation: for an export licence at export or import, the authorisation it names and the row held here.
SELECT licence_id, kind, status, valid_from, expires_on, exporting_state, importing_state, transit_states,
       transit_consent, lines, facts, version, consent_version, import_authorisation
  FROM check_context($1, $2, $3, $4, $5, $6);

-- name: list_authorisation_cover
-- Art. 10(2)(a): what an import authorisation's current version authorises, per category (firearm, component,
-- ammunition), read from its content as issued or received, and what already passed at this movement under every
-- OTHER export licence drawn on it, as {number: quantity}: what was debited at exit, or tallied at entry, while a
-- version naming it was in force (the latest version made, or received, at or before the debit or the check; a
-- licence amended since onto another authorisation still took those goods under this one: before, the amendment
-- gave them back); and, as ``here``, what passed so under the licence checked itself (what left under it while it
-- named another authorisation was imported under that one). A category neither authorised nor used is absent. Its row is held by
-- check_context already (locked, not shared, when another licence's current version names it: migration
-- 20261130161100, so two such checks go one after the other; a licence that names it no more takes nothing more
-- under it). $1 issuing_state, $2 number of the authorisation, $3 licence_id of the licence checked, $4 movement
WITH authorised AS (
    SELECT l.line ->> 'category' AS category, sum((l.line ->> 'quantity')::bigint) AS quantity
      FROM licence AS a
      JOIN licence_version AS v ON v.licence_id = a.licence_id AND v.version = a.version
     CROSS JOIN LATERAL jsonb_array_elements(v.content -> 'lines') AS l(line)
     WHERE a.issuing_state = $1 AND a.number = $2
     GROUP BY l.line ->> 'category'
), drawn AS (
    SELECT o.licence_id, o.issuing_state, o.number, o.licence_id = $3 AS own
      FROM licence AS o
     WHERE o.licence_id IN (SELECT v.licence_id
                              FROM licence_version AS v
                             WHERE (v.content -> 'import_authorisation' ->> 'state') = $1
                               AND (v.content -> 'import_authorisation' ->> 'number') = $2)
       AND o.kind = 'export'
), passed AS (
    -- what passed at this movement under those licences, and when: debited at exit, tallied at entry
    SELECT d.licence_id, d.own, d.number, e.line, e.quantity, e.recorded_at AS passed_at
      FROM drawn AS d
      JOIN ledger_entry AS e ON e.licence_id = d.licence_id
     WHERE $4::text = 'export'
     UNION ALL
    SELECT d.licence_id, d.own, d.number, t.line, t.quantity, c.checked_at
      FROM drawn AS d
      JOIN passage_tally AS t ON t.issuing_state = d.issuing_state AND t.licence_number = d.number
                             AND t.movement = 'import'
      JOIN customs_check AS c ON c.check_id = t.check_id
     WHERE $4::text = 'import'
), used AS (
    SELECT p.own, p.number, ll.category, sum(p.quantity) AS quantity
      FROM passed AS p
      JOIN licence_line AS ll ON ll.licence_id = p.licence_id AND ll.line = p.line
     WHERE (SELECT (x.content -> 'import_authorisation' ->> 'state') IS NOT DISTINCT FROM $1
                   AND (x.content -> 'import_authorisation' ->> 'number') IS NOT DISTINCT FROM $2
              FROM licence_version AS x
             WHERE x.licence_id = p.licence_id AND x.created_at <= p.passed_at
             ORDER BY x.version DESC
             LIMIT 1)
     GROUP BY p.own, p.number, ll.category
), elsewhere AS (
    SELECT category, jsonb_object_agg(number, quantity) FILTER (WHERE NOT own) AS licences,
           coalesce(sum(quantity) FILTER (WHERE own), 0)::bigint AS here
      FROM used GROUP BY category
)
SELECT coalesce(a.category, e.category) AS category, coalesce(a.quantity, 0) AS authorised,
       coalesce(e.licences, '{}'::jsonb) AS elsewhere, coalesce(e.here, 0) AS here
  FROM authorised AS a
  FULL JOIN elsewhere AS e ON e.category = a.category;

-- name: record_customs_check
-- Record a check, its answer and the serials it presented; when it cleared, the serials and this State's
-- tally (transit, import) or the ledger debits (export); and its journal entry. Nothing happens when the
-- check_id exists (then no row comes back). A serial cleared before for this licence and movement
-- violates cleared_serial_pkey; a debit past a balance fails the ledger's balance trigger.
-- $1 check_id, $2 fingerprint, $3 movement, $4 issuing_state, $5 licence_number, $6 crossing_point,
-- $7 shipment_id, $8 request, $9 verdict, $10 answer, $11 checked_at, $12 checked_by,
-- $13 presented serials (normalised), $14 cleared lines, $15 cleared serials (normalised),
-- $16 tally lines, $17 tally quantities, $18 licence_id, $19 debits [{"line","quantity","serials","keys"}],
-- $20 customs_document, $21 journal recorded_at, $22 journal payload
WITH recorded AS (
    INSERT INTO customs_check (check_id, fingerprint, movement, issuing_state, licence_number, crossing_point,
                               shipment_id, request, verdict, answer, checked_at, checked_by)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
    ON CONFLICT ON CONSTRAINT customs_check_pkey DO NOTHING
    RETURNING check_id
), presented AS (
    INSERT INTO check_serial (serial, check_id)
    SELECT DISTINCT s, recorded.check_id FROM recorded, unnest($13::text[]) AS s
), cleared AS (
    INSERT INTO cleared_serial (issuing_state, licence_number, movement, serial, line, check_id)
    SELECT $4, $5, $3, t.s, t.l, recorded.check_id FROM recorded, unnest($14::int[], $15::text[]) AS t (l, s)
), tally AS (
    INSERT INTO passage_tally (check_id, issuing_state, licence_number, movement, line, quantity)
    SELECT recorded.check_id, $4, $5, $3, t.l, t.q FROM recorded, unnest($16::int[], $17::bigint[]) AS t (l, q)
), debit AS (
    SELECT d.line, d.quantity, d.serials, d.keys
      FROM recorded, jsonb_to_recordset($19::jsonb) AS d (line int, quantity bigint, serials text[], keys text[])
), ledger AS (
    INSERT INTO ledger_entry (licence_id, line, quantity, serials, check_id, customs_document, recorded_at, recorded_by)
    SELECT $18, line, quantity, serials, $1, $20, $11, $12 FROM debit ORDER BY line
    RETURNING ledger_entry_id, line
), ledger_serials AS (
    INSERT INTO ledger_serial (licence_id, serial, line, ledger_entry_id)
    SELECT $18, k, ledger.line, ledger.ledger_entry_id FROM ledger JOIN debit USING (line), unnest(debit.keys) AS k
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $21, $12, 'check.recorded', 'customs_check', recorded.check_id::text, $22 FROM recorded
    RETURNING entry_id
), queued AS (
    INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry
)
SELECT check_id FROM recorded;

-- name: insert_cleared_serials
-- Serials that cleared when a held check is released. $1 issuing_state, $2 number, $3 movement, $4 check_id, $5 lines, $6 normalised serials
INSERT INTO cleared_serial (issuing_state, licence_number, movement, serial, line, check_id)
SELECT $1::text, $2::text, $3::text, s, l, $4::uuid FROM unnest($5::int[], $6::text[]) AS t (l, s);

-- name: insert_passage_tally
-- What passed here, per line, when a held check is released. $1 check_id, $2 issuing_state, $3 number, $4 movement, $5 lines, $6 quantities
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
SELECT c.check_id, c.movement, c.verdict, c.request, c.answer, c.checked_at, c.checked_by, c.crossing_point,
       d.decision, d.reason AS decision_reason, d.decided_at, d.decided_by
  FROM customs_check AS c
  LEFT JOIN check_decision AS d USING (check_id)
 WHERE c.issuing_state = $1 AND c.licence_number = $2
   AND ($3::timestamptz IS NULL OR (c.checked_at, c.check_id) < ($3::timestamptz, $4::uuid))
 ORDER BY c.checked_at DESC, c.check_id DESC
 LIMIT $5;

-- name: list_checks_by_serial
-- Checks that presented a serial, newest first, a page after a cursor. $1 normalised serial, $2 before checked_at, $3 before check_id, $4 limit
SELECT c.check_id, c.movement, c.verdict, c.request, c.answer, c.checked_at, c.checked_by, c.crossing_point,
       d.decision, d.reason AS decision_reason, d.decided_at, d.decided_by
  FROM check_serial AS s
  JOIN customs_check AS c USING (check_id)
  LEFT JOIN check_decision AS d USING (check_id)
 WHERE s.serial = $1
   AND ($2::timestamptz IS NULL OR (c.checked_at, c.check_id) < ($2::timestamptz, $3::uuid))
 ORDER BY c.checked_at DESC, c.check_id DESC
 LIMIT $4;

-- name: find_cleared_entry_check
-- This State's entry check that let a shipment in (cleared, or held then released), the first one, and
-- when it let it in: a held check at its release (the day its release confirmed as received_on).
-- A check without a shipment_id stands for the shipment named by its check_id.
-- $1 issuing_state, $2 number, $3 shipment_id
SELECT c.check_id, c.request, CASE WHEN c.verdict = 'clear' THEN c.checked_at ELSE d.decided_at END AS let_in_at
  FROM customs_check AS c
  LEFT JOIN check_decision AS d USING (check_id)
 WHERE c.issuing_state = $1 AND c.licence_number = $2 AND c.movement = 'import'
   AND (c.shipment_id = $3 OR (c.shipment_id IS NULL AND c.check_id::text = $3))
   AND (c.verdict = 'clear' OR d.decision = 'release')
 ORDER BY let_in_at, c.check_id
 LIMIT 1;
