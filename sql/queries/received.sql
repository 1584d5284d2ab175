-- name: get_foreign_licence_for_update
-- A licence received from its issuing State, locked. $1 issuing_state, $2 number
SELECT issuing_state, number, kind, version, status, status_reason, status_effective_at, licence, confidentiality,
       notice_id, received_at, updated_at
  FROM foreign_licence
 WHERE issuing_state = $1 AND number = $2
   FOR UPDATE;

-- name: get_foreign_licence
-- A licence received from its issuing State. $1 issuing_state, $2 number
SELECT issuing_state, number, kind, version, status, status_reason, status_effective_at, licence, confidentiality,
       notice_id, received_at, updated_at
  FROM foreign_licence
 WHERE issuing_state = $1 AND number = $2;

-- name: upsert_foreign_licence
-- Store a licence version (a later version supersedes). $1 issuing_state, $2 number, $3 kind, $4 version, $5 status, $6 licence, $7 confidentiality, $8 notice_id, $9 now
INSERT INTO foreign_licence (issuing_state, number, kind, version, status, licence, confidentiality, notice_id,
                             received_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
ON CONFLICT ON CONSTRAINT foreign_licence_pkey DO UPDATE
   SET kind = EXCLUDED.kind, version = EXCLUDED.version, status = EXCLUDED.status, licence = EXCLUDED.licence,
       confidentiality = EXCLUDED.confidentiality, notice_id = EXCLUDED.notice_id, status_reason = NULL,
       status_effective_at = NULL, updated_at = EXCLUDED.updated_at;

-- name: set_foreign_licence_status
-- Apply a status change at once; the licence keeps the stricter of its confidentiality and the change's (Art. 12(5)).
-- $1 issuing_state, $2 number, $3 status, $4 reason, $5 effective_at, $6 now, $7 the change's confidentiality
UPDATE foreign_licence
   SET status = $3, status_reason = $4, status_effective_at = $5, updated_at = $6,
       confidentiality = CASE WHEN 'confidential' IN (confidentiality, $7) THEN 'confidential'
                              WHEN 'restricted' IN (confidentiality, $7) THEN 'restricted'
                              ELSE 'public' END
 WHERE issuing_state = $1 AND number = $2;

-- name: list_foreign_licences
-- Received licences in key order, a page after a cursor. $1 after issuing_state, $2 after number, $3 kind or NULL, $4 limit
SELECT issuing_state, number, kind, version, status, status_reason, status_effective_at, licence, confidentiality,
       notice_id, received_at, updated_at
  FROM foreign_licence
 WHERE (issuing_state, number) > ($1, $2) AND ($3::text IS NULL OR kind = $3)
 ORDER BY issuing_state, number
 LIMIT $4;

-- name: upsert_shipment_dispatch
-- The record keeps the strictest confidentiality of the notices it took (Art. 12(5)), as the two queries after it.
-- A dispatch notice, kept once (by its notice id), its items added to the shipment's: a consignment crosses
-- the exit in parts under one shipment id. Nothing is written when the shipment is recorded under another
-- licence. $1 exporting_state, $2 shipment_id, $3 licence_number, $4 issuing_state, $5 dispatched_at, $6 items,
-- $7 confidentiality, $8 now, $9 notice_id, $10 sequence, $11 journal recorded_at, $12 actor, $13 action, $14 payload
-- Journaled in the same statement (no entry when nothing was written).
WITH dispatch AS (
    INSERT INTO shipment_dispatch (exporting_state, notice_id, sequence, shipment_id, licence_number, dispatched_at,
                                   items, confidentiality, received_at)
    SELECT $1, $9, $10, $2, $3, $5, $6, $7, $8
     WHERE NOT EXISTS (SELECT FROM shipment_record
                        WHERE exporting_state = $1 AND shipment_id = $2 AND licence_number <> $3)
    ON CONFLICT ON CONSTRAINT shipment_dispatch_pkey DO NOTHING
    RETURNING items
), written AS (
    INSERT INTO shipment_record (exporting_state, shipment_id, licence_number, issuing_state, dispatched_at, items,
                                 confidentiality, updated_at)
    SELECT $1, $2, $3, $4, $5, shipment_items_add(NULL, dispatch.items), $7, $8 FROM dispatch
    ON CONFLICT ON CONSTRAINT shipment_record_pkey DO UPDATE
       SET dispatched_at = greatest(shipment_record.dispatched_at, EXCLUDED.dispatched_at),
           items = shipment_items_add(shipment_record.items, EXCLUDED.items), updated_at = EXCLUDED.updated_at,
           confidentiality = CASE WHEN 'confidential' IN (shipment_record.confidentiality, EXCLUDED.confidentiality) THEN 'confidential'
                                WHEN 'restricted' IN (shipment_record.confidentiality, EXCLUDED.confidentiality) THEN 'restricted'
                                ELSE 'public' END
    RETURNING exporting_state
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $11, $12, $13, 'shipment_record', $1 || '/' || $2, $14 FROM written
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry
RETURNING entry_id;

-- name: upsert_shipment_confirmation_request
-- The exporting State asks for a confirmation of receipt. $1 exporting_state, $2 shipment_id, $3 licence_number, $4 issuing_state, $5 requested_at, $6 confidentiality, $7 now, $8 journal recorded_at, $9 actor, $10 action, $11 payload
-- Journaled in the same statement (no entry when nothing was written).
WITH written AS (
    INSERT INTO shipment_record (exporting_state, shipment_id, licence_number, issuing_state, confirmation_requested_at,
                                 confidentiality, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT ON CONSTRAINT shipment_record_pkey DO UPDATE
       SET confirmation_requested_at = EXCLUDED.confirmation_requested_at, updated_at = EXCLUDED.updated_at,
           confidentiality = CASE WHEN 'confidential' IN (shipment_record.confidentiality, EXCLUDED.confidentiality) THEN 'confidential'
                                WHEN 'restricted' IN (shipment_record.confidentiality, EXCLUDED.confidentiality) THEN 'restricted'
                                ELSE 'public' END
    RETURNING exporting_state
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $8, $9, $10, 'shipment_record', $1 || '/' || $2, $11 FROM written
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry
RETURNING entry_id;

-- name: upsert_shipment_receipt
-- The importing State confirms receipt of a shipment or of a part of it, only under one of this State's own
-- export licences that names it as the importing State. Each confirmation is kept once (by its notice id) and
-- its items added to what the shipment received, unless it repeats one recorded before (same customs document,
-- day and items: the same part confirmed again). $1 exporting_state (this State), $2 shipment_id,
-- $3 licence_number, $4 received_on, $5 customs_document, $6 items, $7 confirmed_by (the sender),
-- $8 confidentiality, $9 now, $10 notice_id, $11 sequence, $12 journal recorded_at, $13 actor, $14 action, $15 payload
-- Journaled in the same statement; no row (nothing written) when no such licence is there, when the shipment id is
-- recorded under another licence (nothing is mixed in, as for a dispatch), or when an item is not
-- on it: a line it does not have, more than the line's quantity (alone, or with the parts of the shipment received
-- before unless it repeats one: a shipment is of goods one licence authorises), a serial a part received before
-- carried (normalised, on any line; unless it repeats that part: a firearm crosses once), serials on an ammunition line, a firearm line
-- without one serial per item, a serial not on a line that lists serials (compared in normalised form; the
-- effect's _off_licence says which, on this rare path only). $6 items always carry "serials" (the effect's
-- ShipmentItem writes the empty list), and their self-contradictions (a line twice) were refused before.
WITH licence_found AS (
    SELECT licence_id, number FROM licence
     WHERE issuing_state = $1 AND number = $3 AND origin = 'local' AND kind = 'export' AND importing_state = $7
), repeated AS (
    SELECT FROM shipment_receipt AS r
     WHERE r.exporting_state = $1 AND r.shipment_id = $2 AND r.customs_document = $5 AND r.received_on = $4
       AND r.items = $6::jsonb
), off_licence AS (
    SELECT FROM licence_found AS found
     CROSS JOIN LATERAL jsonb_array_elements($6::jsonb) AS item
      LEFT JOIN licence_line AS line ON line.licence_id = found.licence_id AND line.line = (item ->> 'line')::integer
     WHERE line.line IS NULL
        OR (item ->> 'quantity')::bigint > line.quantity
        OR (line.category = 'ammunition' AND jsonb_array_length(item -> 'serials') > 0)
        OR (line.category = 'firearm' AND jsonb_array_length(item -> 'serials') <> (item ->> 'quantity')::bigint)
        OR (cardinality(line.serials) > 0
            AND EXISTS (SELECT FROM jsonb_array_elements_text(item -> 'serials') AS given (serial)
                         WHERE normalise_serial(given.serial) <> ALL (SELECT normalise_serial(listed)
                                                                      FROM unnest(line.serials) AS listed)))
        OR (NOT EXISTS (SELECT FROM repeated)
            AND (item ->> 'quantity')::bigint
                + coalesce((SELECT sum((held ->> 'quantity')::bigint)
                              FROM shipment_record AS record
                             CROSS JOIN LATERAL jsonb_array_elements(record.received_items) AS held
                             WHERE record.exporting_state = $1 AND record.shipment_id = $2
                               AND record.licence_number = found.number AND (held ->> 'line')::integer = line.line), 0)
                > line.quantity)
        -- the record's items read by its key in a scalar subquery: joined, the planner read every shipment's record
        -- for each notice (a sequential scan while the table's statistics were young: receiving fell by a third)
        OR (NOT EXISTS (SELECT FROM repeated)
            AND EXISTS (SELECT FROM jsonb_array_elements(coalesce(
                                        (SELECT record.received_items FROM shipment_record AS record
                                          WHERE record.exporting_state = $1 AND record.shipment_id = $2
                                            AND record.licence_number = found.number), '[]'::jsonb)) AS held
                         CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(held -> 'serials', '[]'::jsonb))
                               AS earlier (serial)
                         WHERE normalise_serial(earlier.serial) IN (
                               SELECT normalise_serial(given.serial)
                                 FROM jsonb_array_elements_text(item -> 'serials') AS given (serial))))
), receipt AS (
    INSERT INTO shipment_receipt (confirmed_by, notice_id, sequence, exporting_state, shipment_id, licence_number,
                                  received_on, customs_document, items, confidentiality, received_at)
    SELECT $7::text, $10::text, $11::bigint, $1::text, $2::text, number, $4::date, $5::text, $6::jsonb, $8::text,
           $9::timestamptz
      FROM licence_found
     WHERE NOT EXISTS (SELECT FROM off_licence)
       AND NOT EXISTS (SELECT FROM shipment_record
                        WHERE exporting_state = $1 AND shipment_id = $2 AND licence_number <> licence_found.number)
    ON CONFLICT ON CONSTRAINT shipment_receipt_pkey DO NOTHING
    RETURNING items, licence_number
), part AS (
    SELECT CASE WHEN EXISTS (SELECT FROM repeated) THEN '[]'::jsonb ELSE receipt.items END AS items,
           receipt.licence_number
      FROM receipt
), written AS (
    INSERT INTO shipment_record (exporting_state, shipment_id, licence_number, issuing_state, received_on,
                                 customs_document, received_items, confirmed_by, confidentiality, updated_at)
    SELECT $1::text, $2::text, licence_number, $1::text, $4::date, $5::text, shipment_items_add(NULL, items),
           $7::text, $8::text, $9::timestamptz
      FROM part
    ON CONFLICT ON CONSTRAINT shipment_record_pkey DO UPDATE
       SET received_on = greatest(shipment_record.received_on, EXCLUDED.received_on),
           customs_document = EXCLUDED.customs_document,
           received_items = shipment_items_add(shipment_record.received_items, EXCLUDED.received_items),
           confirmed_by = EXCLUDED.confirmed_by, updated_at = EXCLUDED.updated_at,
           confidentiality = CASE WHEN 'confidential' IN (shipment_record.confidentiality, EXCLUDED.confidentiality) THEN 'confidential'
                                WHEN 'restricted' IN (shipment_record.confidentiality, EXCLUDED.confidentiality) THEN 'restricted'
                                ELSE 'public' END
    RETURNING exporting_state
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $12, $13, $14, 'shipment_record', $1 || '/' || $2, $15 FROM written
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry
RETURNING entry_id;

-- name: get_shipment_record
-- One shipment. $1 exporting_state, $2 shipment_id
SELECT exporting_state, shipment_id, licence_number, issuing_state, dispatched_at, items, confirmation_requested_at,
       received_on, customs_document, received_items, confirmed_by, confidentiality, updated_at
  FROM shipment_record
 WHERE exporting_state = $1 AND shipment_id = $2;

-- name: list_shipment_dispatches
-- The dispatch notices of one shipment, in the order they were sent. $1 exporting_state, $2 shipment_id
SELECT notice_id, sequence, licence_number, dispatched_at, items, confidentiality, received_at
  FROM shipment_dispatch
 WHERE exporting_state = $1 AND shipment_id = $2
 ORDER BY sequence;

-- name: list_shipment_receipts
-- The confirmations of receipt of one shipment, in the order they arrived. $1 exporting_state, $2 shipment_id
SELECT confirmed_by, notice_id, sequence, licence_number, received_on, customs_document, items, confidentiality,
       received_at
  FROM shipment_receipt
 WHERE exporting_state = $1 AND shipment_id = $2
 ORDER BY received_at, confirmed_by, sequence;

-- name: list_shipment_records
-- Shipments under a licence in key order, a page after a cursor. $1 issuing_state, $2 licence_number, $3 after exporting_state, $4 after shipment_id, $5 limit
SELECT exporting_state, shipment_id, licence_number, issuing_state, dispatched_at, items, confirmation_requested_at,
       received_on, customs_document, received_items, confirmed_by, confidentiality, updated_at
  FROM shipment_record
 WHERE issuing_state = $1 AND licence_number = $2 AND (exporting_state, shipment_id) > ($3, $4)
 ORDER BY exporting_state, shipment_id
 LIMIT $5;

-- name: insert_shipment_passage
-- A border passage reported by a transit State (the same check with the same verdict again changes nothing;
-- a held check's decision is a second report). $1 recorded_by, $2 check_id, $3 licence_number, $4 issuing_state, $5 shipment_id, $6 verdict, $7 reasons, $8 checked_at, $9 crossing_point, $10 items, $11 confidentiality, $12 notice_id, $13 now, $14 journal recorded_at, $15 actor, $16 action, $17 payload
-- Journaled in the same statement (no entry when nothing was written).
WITH written AS (
    INSERT INTO shipment_passage (recorded_by, check_id, licence_number, issuing_state, shipment_id, verdict, reasons,
                                  checked_at, crossing_point, items, confidentiality, notice_id, received_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT ON CONSTRAINT shipment_passage_pkey DO NOTHING
    RETURNING check_id
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $14, $15, $16, 'shipment_passage', $1 || '/' || $2, $17 FROM written
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry
RETURNING entry_id;

-- name: list_shipment_passages
-- Passages reported for a licence. $1 issuing_state, $2 licence_number
SELECT recorded_by, check_id, licence_number, issuing_state, shipment_id, verdict, reasons, checked_at, crossing_point,
       items, confidentiality, notice_id, received_at
  FROM shipment_passage
 WHERE issuing_state = $1 AND licence_number = $2
 ORDER BY checked_at, recorded_by, check_id;

-- name: insert_consent_request
-- A transit-consent request, pre-checked. $1 requesting_state, $2 notice_id, $3 licence_number, $4 licence, $5 window_from, $6 window_to, $7 findings, $8 confidentiality, $9 now
INSERT INTO consent_request_received (requesting_state, notice_id, licence_number, licence, window_from, window_to,
                                      findings, confidentiality, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: supersede_consent_requests
-- Older pending requests of a State about a licence, superseded by a newer one; returns their notice ids. $1 requesting_state, $2 licence_number, $3 superseding notice_id
UPDATE consent_request_received
   SET status = 'superseded', superseded_by = $3
 WHERE requesting_state = $1 AND licence_number = $2 AND status = 'pending'
RETURNING notice_id;

-- name: get_consent_request_for_update
-- One received request, locked for the officer's decision. $1 requesting_state, $2 notice_id
SELECT requesting_state, notice_id, licence_number, licence, window_from, window_to, findings, confidentiality,
       received_at, status, decision, reason, valid_until, decided_by, decided_at, reply_notice_id, superseded_by
  FROM consent_request_received
 WHERE requesting_state = $1 AND notice_id = $2
   FOR UPDATE;

-- name: get_consent_request_deemed_day
-- The last day of the silent period a deemed request's deeming kept (no row: deemed before migration 20261201020000
-- without a journal entry naming it). A statement of its own, after the request's row lock: a subquery of the
-- locking statement reads with that statement's snapshot, from before the timer that held the lock committed.
-- $1 requesting_state, $2 notice_id
SELECT silent_period_end
  FROM consent_request_deemed
 WHERE requesting_state = $1 AND notice_id = $2;

-- name: get_consent_request
-- One received request. $1 requesting_state, $2 notice_id
SELECT r.requesting_state, r.notice_id, r.licence_number, r.licence, r.window_from, r.window_to, r.findings,
       r.confidentiality, r.received_at, r.status, r.decision, r.reason, r.valid_until, r.decided_by, r.decided_at,
       r.reply_notice_id, r.superseded_by, d.findings AS findings_at_decision, d.acknowledgement
  FROM consent_request_received r
  LEFT JOIN consent_request_decision d USING (requesting_state, notice_id)
 WHERE r.requesting_state = $1 AND r.notice_id = $2;

-- name: get_requested_licence
-- The licence a received transit-consent request carried at one version (the latest such request): the
-- content this State answered, when its licensing tables never held that version.
-- $1 requesting_state (the issuing State), $2 licence_number, $3 version
SELECT licence
  FROM consent_request_received
 WHERE requesting_state = $1 AND licence_number = $2 AND (licence ->> 'version')::integer = $3
 ORDER BY received_at DESC, notice_id DESC
 LIMIT 1;

-- name: decide_consent_request
-- The officer's decision. $1 requesting_state, $2 notice_id, $3 decision, $4 reason, $5 valid_until, $6 decided_by, $7 decided_at, $8 reply_notice_id
UPDATE consent_request_received
   SET status = 'decided', decision = $3, reason = $4, valid_until = $5, decided_by = $6, decided_at = $7,
       reply_notice_id = $8
 WHERE requesting_state = $1 AND notice_id = $2 AND status = 'pending';

-- name: insert_consent_request_decision
-- The findings an officer's decision was made on, with the acknowledgement of a failing one. $1 requesting_state, $2 notice_id, $3 findings, $4 acknowledgement, $5 decided_at
INSERT INTO consent_request_decision (requesting_state, notice_id, findings, acknowledgement, decided_at)
VALUES ($1, $2, $3, $4, $5);

-- name: list_pending_consent_requests
-- Received requests still waiting for this State's officer, oldest first (the tacit-consent timer). $1 limit
SELECT requesting_state, notice_id, licence_number, received_at, (licence ->> 'version')::int AS licence_version
  FROM consent_request_received
 WHERE status = 'pending'
 ORDER BY received_at, requesting_state, notice_id
 LIMIT $1;

-- name: deem_consent_request
-- A pending request left unanswered for the silent period, with the period's last day kept (consent_request_deemed).
-- $1 requesting_state, $2 notice_id, $3 reason, $4 decided_by, $5 decided_at, $6 silent_period_end
WITH deemed AS (
    UPDATE consent_request_received
       SET status = 'deemed', reason = $3, decided_by = $4, decided_at = $5
     WHERE requesting_state = $1 AND notice_id = $2 AND status = 'pending'
    RETURNING requesting_state, notice_id
)
INSERT INTO consent_request_deemed (requesting_state, notice_id, silent_period_end, deemed_at)
SELECT requesting_state, notice_id, $6, $5 FROM deemed
RETURNING notice_id;

-- name: list_consent_requests
-- Received requests in arrival order, a page after a cursor. $1 after received_at or NULL, $2 after requesting_state, $3 after notice_id, $4 status or NULL, $5 limit
SELECT r.requesting_state, r.notice_id, r.licence_number, r.licence, r.window_from, r.window_to, r.findings,
       r.confidentiality, r.received_at, r.status, r.decision, r.reason, r.valid_until, r.decided_by, r.decided_at,
       r.reply_notice_id, r.superseded_by, d.findings AS findings_at_decision, d.acknowledgement
  FROM consent_request_received r
  LEFT JOIN consent_request_decision d USING (requesting_state, notice_id)
 WHERE ($1::timestamptz IS NULL OR (r.received_at, r.requesting_state, r.notice_id) > ($1::timestamptz, $2::text, $3::text))
   AND ($4::text IS NULL OR r.status = $4)
 ORDER BY r.received_at, r.requesting_state, r.notice_id
 LIMIT $5;

-- name: insert_consent_decision
-- A transit State's decision on this State's request, with its notice's confidentiality. $1 transit_state, $2 notice_id, $3 in_reply_to, $4 licence_number, $5 decision, $6 reason, $7 valid_until, $8 now, $9 confidentiality
INSERT INTO consent_decision_received (transit_state, notice_id, in_reply_to, licence_number, decision, reason,
                                       valid_until, received_at, confidentiality)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: get_consent_decision_answering
-- The decision a transit State sent in reply to one request of this State's that stands: its objection if it sent
-- one (a second answer is taken only to withdraw a no-objection: firearms/exchange/effects/consents.py), else its
-- no-objection. $1 transit_state, $2 in_reply_to (the request's notice id), $3 licence_number
SELECT transit_state, notice_id, in_reply_to, licence_number, decision, reason, valid_until, received_at,
       confidentiality
  FROM consent_decision_received
 WHERE transit_state = $1 AND in_reply_to = $2 AND licence_number = $3
 ORDER BY decision = 'objection' DESC, received_at, notice_id
 LIMIT 1;

-- name: list_consent_decisions
-- Decisions received for a licence of this State. $1 licence_number
SELECT transit_state, notice_id, in_reply_to, licence_number, decision, reason, valid_until, received_at,
       confidentiality
  FROM consent_decision_received
 WHERE licence_number = $1
 ORDER BY received_at, transit_state;
