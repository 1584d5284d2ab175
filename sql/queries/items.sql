-- name: insert_item
-- Register an item unless its identity exists (then no row). $1 kind, $2 firearm_type, $3 component_type, $4 parent_item_id, $5 make, $6 model, $7 calibre, $8 year_of_manufacture, $9 country_of_manufacture, $10 category, $11 manufacturer, $12 serial, $13 headstamp, $14 quantity, $15 registered_at, $16 registered_by
INSERT INTO item (kind, firearm_type, component_type, parent_item_id, make, model, calibre, year_of_manufacture,
                  country_of_manufacture, category, manufacturer, serial, headstamp, quantity,
                  registered_at, registered_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT (serial_normalised, identity_class, manufacturer_key, country_of_manufacture)
   WHERE identity_duplicate_of IS NULL DO NOTHING
RETURNING item_id, kind, firearm_type, component_type, parent_item_id, make, model, calibre, year_of_manufacture,
          country_of_manufacture, category, manufacturer, serial, serial_normalised, headstamp, quantity, status,
          registered_at, registered_by, import_id, identity_duplicate_of;

-- name: get_item_id_by_identity
-- The item holding an identity. $1 kind, $2 component_type, $3 manufacturer, $4 country, $5 serial
SELECT item_id
  FROM item
 WHERE serial_normalised = normalise_serial($5)
   AND identity_class = CASE WHEN $1::text = 'component' THEN 'component:' || $2::text ELSE $1::text END
   AND manufacturer_key = normalise_manufacturer($3)
   AND country_of_manufacture = $4
   AND identity_duplicate_of IS NULL;

-- name: get_item
-- One item. $1 item_id
SELECT item_id, kind, firearm_type, component_type, parent_item_id, make, model, calibre, year_of_manufacture,
       country_of_manufacture, category, manufacturer, serial, serial_normalised, headstamp, quantity, status,
       registered_at, registered_by, import_id, identity_duplicate_of
  FROM item
 WHERE item_id = $1;

-- name: get_item_for_update
-- One item, locked for a lifecycle event (its year of manufacture bounds the event's date; a deactivation
-- moves its category). $1 item_id
SELECT item_id, kind, status, year_of_manufacture, category
  FROM item
 WHERE item_id = $1
   FOR UPDATE;

-- name: update_item_status
-- The item's current status after an event. $1 item_id, $2 status
UPDATE item SET status = $2 WHERE item_id = $1;

-- name: update_item_category
-- The item's category after a deactivation or its correction (the event records before and after). $1 item_id, $2 category
UPDATE item SET category = $2 WHERE item_id = $1;

-- name: insert_markings
-- Markings of one item. $1 item_id, $2 kinds, $3 stamped, $4 manufacturers, $5 places, $6 countries, $7 serials, $8 years, $9 models, $10 symbol_codes, $11 alphanumeric_codes, $12 recorded_at, $13 recorded_by
INSERT INTO marking (item_id, kind, stamped, manufacturer, place, country, serial, year, model, symbol_code,
                     alphanumeric_code, recorded_at, recorded_by)
SELECT $1, kind, stamped, manufacturer, place, country, serial, year, model, symbol_code, alphanumeric_code, $12, $13
  FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::smallint[], $9::text[],
              $10::text[], $11::text[])
       WITH ORDINALITY AS m (kind, stamped, manufacturer, place, country, serial, year, model, symbol_code,
                             alphanumeric_code, position)
 ORDER BY position
RETURNING marking_id, item_id, kind, stamped, manufacturer, place, country, serial, year, model, symbol_code,
          alphanumeric_code, recorded_at, recorded_by;

-- name: list_markings
-- An item's markings in the order they were recorded. $1 item_id
SELECT marking_id, item_id, kind, stamped, manufacturer, place, country, serial, year, model, symbol_code,
       alphanumeric_code, recorded_at, recorded_by
  FROM marking
 WHERE item_id = $1
 ORDER BY marking_id;

-- name: has_marking
-- Whether an item carries a marking of a kind. $1 item_id, $2 kind
SELECT EXISTS (SELECT 1 FROM marking WHERE item_id = $1 AND kind = $2);

-- name: lock_certificate_number
-- Held to the end of the transaction, so that two deactivations citing one certificate number are judged one after
-- the other. A statement of its own: a statement that took the lock itself would read the snapshot it began with,
-- blind to the deactivation the holder committed meanwhile. $1 certificate_number
SELECT pg_advisory_xact_lock(hashtextextended('item_event.certificate_number:' || $1::text, 0));

-- name: list_certificate_deactivations
-- The deactivations in effect (no correction names them) of other firearms recorded with this certificate number
-- (after lock_certificate_number): not of this item, nor of another record of the same firearm (a recorded identity
-- duplicate, or the item it duplicates, or another duplicate of it). $1 certificate_number, $2 item_id
SELECT e.event_id, e.item_id, e.verifier
  FROM item_event AS e
  JOIN item AS other ON other.item_id = e.item_id
  JOIN item AS this ON this.item_id = $2::bigint
 WHERE e.event = 'deactivated' AND e.certificate_number = $1::text
   AND coalesce(other.identity_duplicate_of, other.item_id) <> coalesce(this.identity_duplicate_of, this.item_id)
   AND NOT EXISTS (SELECT 1 FROM item_event AS c WHERE c.item_id = e.item_id AND c.corrects_event_id = e.event_id)
 ORDER BY e.event_id;

-- name: is_made_here
-- Whether the item is a firearm made in the State this database speaks for, bearing its manufacture marking
-- (made_here); false while no State is recorded. $1 item_id
SELECT coalesce((SELECT made_here($1, state) FROM registry_state), false);

-- name: insert_item_event
-- A lifecycle event. $1 item_id, $2 event, $3 status_before, $4 status_after, $5 occurred_on, $6 from_party, $7 to_party, $8 document, $9 country, $10 temporary, $11 from_state_stocks, $12 purpose, $13 corrects_event_id, $14 reason, $15 note, $16 recorded_at, $17 recorded_by, $18 deactivator, $19 verifier, $20 certificate_number, $21 certificate_date, $22 category_before, $23 category_after
INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, from_party, to_party, document,
                        country, temporary, from_state_stocks, purpose, corrects_event_id, reason, note,
                        recorded_at, recorded_by, deactivator, verifier, certificate_number, certificate_date,
                        category_before, category_after)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
RETURNING event_id, item_id, event, status_before, status_after, occurred_on, from_party, to_party, document,
          country, temporary, from_state_stocks, purpose, corrects_event_id, reason, note, recorded_at, recorded_by,
          deactivator, verifier, certificate_number, certificate_date, category_before, category_after;

-- name: list_item_event_kinds
-- Every event of an item in the order recorded, with what each corrects, its date and whether an import was
-- temporary: enough to replay its status, to date the next event and to know whether it was imported for good;
-- and the category each moved (to replay the category a correction gives back); a deactivation's certificate date
-- (a corrected year of manufacture is not after it). $1 item_id
SELECT event_id, event, corrects_event_id, occurred_on, temporary, category_before, category_after, certificate_date
  FROM item_event
 WHERE item_id = $1
 ORDER BY event_id;

-- name: list_item_history
-- Registration, markings (as they read now), events, corrections (each field before and after), and the licence lines and customs checks that name the item's serial
-- (matched in normalised form), in time order, a page after a cursor.
-- $1 item_id, $2 after recorded_at or NULL, $3 after source rank, $4 after record id, $5 limit
SELECT at, rank, record_id, source, detail
  FROM (
        SELECT i.registered_at AS at, 0 AS rank, i.item_id AS record_id, 'registration' AS source,
               jsonb_build_object('recorded_by', i.registered_by, 'import_id', i.import_id) AS detail
          FROM item AS i WHERE i.item_id = $1
        UNION ALL
        SELECT m.recorded_at, 1, m.marking_id, 'marking',
               jsonb_strip_nulls(jsonb_build_object(
                   'marking_id', m.marking_id, 'kind', m.kind, 'stamped', m.stamped, 'manufacturer', m.manufacturer,
                   'place', m.place, 'country', m.country, 'serial', m.serial, 'year', m.year, 'model', m.model,
                   'symbol_code', m.symbol_code, 'alphanumeric_code', m.alphanumeric_code,
                   'recorded_by', m.recorded_by))
          FROM marking AS m WHERE m.item_id = $1
        UNION ALL
        SELECT e.recorded_at, 2, e.event_id, 'event',
               jsonb_strip_nulls(jsonb_build_object(
                   'event_id', e.event_id, 'event', e.event, 'status_before', e.status_before,
                   'status_after', e.status_after, 'occurred_on', e.occurred_on, 'from_party', e.from_party,
                   'to_party', e.to_party, 'document', e.document, 'country', e.country, 'temporary', e.temporary,
                   'from_state_stocks', e.from_state_stocks, 'purpose', e.purpose,
                   'corrects_event_id', e.corrects_event_id, 'reason', e.reason, 'note', e.note,
                   'deactivator', e.deactivator, 'verifier', e.verifier,
                   'certificate_number', e.certificate_number, 'certificate_date', e.certificate_date,
                   'category_before', e.category_before, 'category_after', e.category_after,
                   'recorded_by', e.recorded_by))
          FROM item_event AS e WHERE e.item_id = $1
        UNION ALL
        SELECT k.recorded_at, 5, k.correction_id, 'correction',
               jsonb_build_object(
                   'correction_id', k.correction_id, 'marking_id', k.marking_id, 'changes', k.changes,
                   'reason', k.reason, 'recorded_by', k.recorded_by)
          FROM item_correction AS k WHERE k.item_id = $1
        UNION ALL
        SELECT l.created_at, 3, hashtextextended(l.licence_id::text || '/' || ll.line, 0), 'licence-line',
               jsonb_build_object(
                   'licence_number', l.number, 'issuing_state', l.issuing_state, 'kind', l.kind,
                   'status', l.status, 'line', ll.line, 'origin', l.origin)
          FROM item AS i
          JOIN licence_line AS ll ON normalise_serials(ll.serials) @> ARRAY[i.serial_normalised]
          JOIN licence AS l ON l.licence_id = ll.licence_id
         WHERE i.item_id = $1 AND i.kind = 'firearm'
        UNION ALL
        SELECT c.checked_at, 4, hashtextextended(c.check_id::text, 0), 'check',
               jsonb_build_object(
                   'check_id', c.check_id, 'movement', c.movement, 'verdict', c.verdict,
                   'licence_number', c.licence_number, 'issuing_state', c.issuing_state,
                   'crossing_point', c.crossing_point)
          FROM item AS i
          JOIN check_serial AS s ON s.serial = i.serial_normalised
          JOIN customs_check AS c ON c.check_id = s.check_id
         WHERE i.item_id = $1 AND i.kind = 'firearm'
       ) AS h
 WHERE $2::timestamptz IS NULL OR (at, rank, record_id) > ($2::timestamptz, $3::integer, $4::bigint)
 ORDER BY at, rank, record_id
 LIMIT $5;

-- name: list_items
-- Items matching the filters (each NULL = any), a page in item_id order. $1 after item_id, $2 make, $3 model, $4 calibre, $5 firearm_type, $6 status, $7 kind, $8 country_of_manufacture, $9 limit
SELECT item_id, kind, firearm_type, component_type, parent_item_id, make, model, calibre, year_of_manufacture,
       country_of_manufacture, category, manufacturer, serial, serial_normalised, headstamp, quantity, status,
       registered_at, registered_by, import_id, identity_duplicate_of
  FROM item
 WHERE item_id > $1
   AND ($2::text IS NULL OR make = $2::text)
   AND ($3::text IS NULL OR model = $3::text)
   AND ($4::text IS NULL OR calibre = $4::text)
   AND ($5::text IS NULL OR firearm_type = $5::text)
   AND ($6::text IS NULL OR status = $6::text)
   AND ($7::text IS NULL OR kind = $7::text)
   AND ($8::text IS NULL OR country_of_manufacture = $8::text)
 ORDER BY item_id
 LIMIT $9;

-- name: find_items_by_serial
-- Exact look-up by normalised serial (item_serial_normalised_idx; recorded identity duplicates too), other filters optional, a page in item_id order. $1 serial, $2 after item_id, $3 make, $4 model, $5 calibre, $6 firearm_type, $7 status, $8 kind, $9 country_of_manufacture, $10 limit
SELECT item_id, kind, firearm_type, component_type, parent_item_id, make, model, calibre, year_of_manufacture,
       country_of_manufacture, category, manufacturer, serial, serial_normalised, headstamp, quantity, status,
       registered_at, registered_by, import_id, identity_duplicate_of
  FROM item
 WHERE serial_normalised = normalise_serial($1::text)
   AND item_id > $2
   AND ($3::text IS NULL OR make = $3::text)
   AND ($4::text IS NULL OR model = $4::text)
   AND ($5::text IS NULL OR calibre = $5::text)
   AND ($6::text IS NULL OR firearm_type = $6::text)
   AND ($7::text IS NULL OR status = $7::text)
   AND ($8::text IS NULL OR kind = $8::text)
   AND ($9::text IS NULL OR country_of_manufacture = $9::text)
 ORDER BY item_id
 LIMIT $10;

-- name: export_items
-- Items with their first manufacture/geometric and first import marking, flat, in item_id order (streamed); not
-- registered_by (staff data). The NDJSON export adds every marking, event and correction (list_export_*). $1 make, $2 model, $3 calibre, $4 firearm_type, $5 status, $6 kind, $7 country_of_manufacture, $8 import_id
SELECT i.item_id, i.status, i.serial_normalised, i.registered_at, i.import_id, i.parent_item_id,
       i.kind, i.firearm_type, i.component_type, i.make, i.model, i.calibre, i.year_of_manufacture,
       i.country_of_manufacture, i.category, i.manufacturer, i.serial, i.headstamp, i.quantity,
       m.kind AS marking_kind, m.stamped AS marking_stamped, m.symbol_code, m.alphanumeric_code,
       im.country AS import_country, im.year AS import_year, im.stamped AS import_stamped
  FROM item AS i
  LEFT JOIN LATERAL (SELECT kind, stamped, symbol_code, alphanumeric_code FROM marking
                      WHERE item_id = i.item_id AND kind IN ('manufacture', 'geometric')
                      ORDER BY marking_id LIMIT 1) AS m ON true
  LEFT JOIN LATERAL (SELECT country, year, stamped FROM marking
                      WHERE item_id = i.item_id AND kind = 'import'
                      ORDER BY marking_id LIMIT 1) AS im ON true
 WHERE ($1::text IS NULL OR i.make = $1::text)
   AND ($2::text IS NULL OR i.model = $2::text)
   AND ($3::text IS NULL OR i.calibre = $3::text)
   AND ($4::text IS NULL OR i.firearm_type = $4::text)
   AND ($5::text IS NULL OR i.status = $5::text)
   AND ($6::text IS NULL OR i.kind = $6::text)
   AND ($7::text IS NULL OR i.country_of_manufacture = $7::text)
   AND ($8::bigint IS NULL OR i.import_id = $8::bigint)
 ORDER BY i.item_id;

-- name: list_export_markings
-- The markings of a batch of exported items as they read now (corrections applied), each in the shape of its
-- history entry's detail (list_item_history) with recorded_at and without recorded_by (staff data): one JSON array
-- per item, in marking_id order, as text on one line (json, not jsonb: cheaper to build, and the array is joined by
-- hand since json_agg puts a line break between elements, which would split an NDJSON line). $1 item_ids
SELECT item_id,
       '[' || string_agg(json_strip_nulls(json_build_object(
           'marking_id', marking_id, 'kind', kind, 'stamped', stamped, 'manufacturer', manufacturer, 'place', place,
           'country', country, 'serial', serial, 'year', year, 'model', model, 'symbol_code', symbol_code,
           'alphanumeric_code', alphanumeric_code, 'recorded_at', recorded_at))::text, ',' ORDER BY marking_id)
       || ']' AS markings
  FROM marking
 WHERE item_id = ANY($1::bigint[])
 GROUP BY item_id;

-- name: list_export_events
-- The lifecycle events of a batch of exported items, each in the shape of its history entry's detail
-- (list_item_history) with recorded_at and without recorded_by (staff data): one JSON array per item, in event_id
-- order, on one line (as list_export_markings). $1 item_ids
SELECT item_id,
       '[' || string_agg(json_strip_nulls(json_build_object(
           'event_id', event_id, 'event', event, 'status_before', status_before, 'status_after', status_after,
           'occurred_on', occurred_on, 'from_party', from_party, 'to_party', to_party, 'document', document,
           'country', country, 'temporary', temporary, 'from_state_stocks', from_state_stocks, 'purpose', purpose,
           'corrects_event_id', corrects_event_id, 'reason', reason, 'note', note, 'deactivator', deactivator,
           'verifier', verifier, 'certificate_number', certificate_number, 'certificate_date', certificate_date,
           'category_before', category_before, 'category_after', category_after, 'recorded_at', recorded_at))::text,
           ',' ORDER BY event_id) || ']' AS events
  FROM item_event
 WHERE item_id = ANY($1::bigint[])
 GROUP BY item_id;

-- name: list_export_corrections
-- The corrections of a batch of exported items' fields and markings (each field before and after, and why), each in
-- the shape of its history entry's detail (list_item_history) with recorded_at and without recorded_by (staff
-- data): one JSON array per item, in correction_id order, on one line (as list_export_markings). $1 item_ids
SELECT item_id,
       '[' || string_agg(json_build_object(
           'correction_id', correction_id, 'marking_id', marking_id, 'changes', changes, 'reason', reason,
           'recorded_at', recorded_at)::text, ',' ORDER BY correction_id) || ']' AS corrections
  FROM item_correction
 WHERE item_id = ANY($1::bigint[])
 GROUP BY item_id;

-- name: set_similarity_threshold
-- The trigram similarity a fuzzy candidate needs, for this transaction only. $1 threshold as text
SELECT set_config('pg_trgm.similarity_threshold', $1::text, true);

-- name: search_items
-- Fuzzy candidates: trigram similarity on the folded serial, best first; at one score the serials equal in
-- normalised form (exact) before their confusables. $1 folded query, $2 after score or NULL, $3 after exact,
-- $4 after item_id, $5 make, $6 model, $7 calibre, $8 firearm_type, $9 status, $10 kind, $11 limit,
-- $12 normalised query
SELECT item_id, kind, firearm_type, component_type, parent_item_id, make, model, calibre, year_of_manufacture,
       country_of_manufacture, category, manufacturer, serial, serial_normalised, headstamp, quantity, status,
       registered_at, registered_by, import_id, identity_duplicate_of, score, exact
  FROM (SELECT i.*, similarity(i.serial_folded, $1::text)::float8 AS score,
               i.serial_normalised = $12::text AS exact
          FROM item AS i
         WHERE i.serial_folded % $1::text
           AND ($5::text IS NULL OR i.make = $5::text)
           AND ($6::text IS NULL OR i.model = $6::text)
           AND ($7::text IS NULL OR i.calibre = $7::text)
           AND ($8::text IS NULL OR i.firearm_type = $8::text)
           AND ($9::text IS NULL OR i.status = $9::text)
           AND ($10::text IS NULL OR i.kind = $10::text)) AS c
 WHERE $2::float8 IS NULL
    OR score < $2::float8
    OR (score = $2::float8 AND (exact < $3::boolean OR (exact = $3::boolean AND item_id > $4::bigint)))
 ORDER BY score DESC, exact DESC, item_id
 LIMIT $11;

-- name: find_reported_serials
-- Which of these normalised serials belong to an item reported lost or stolen (the partial index). $1 normalised serials
SELECT DISTINCT serial_normalised
  FROM item
 WHERE serial_normalised = ANY($1::text[]) AND status IN ('lost', 'stolen');

-- name: find_serial_statuses
-- The items of kind $1 whose normalised serial is one of $2, with their status (item_serial_normalised_idx), for
-- an export licence's lines. $1 kind, $2 normalised serials
SELECT item_id, serial_normalised, status
  FROM item
 WHERE kind = $1::text AND serial_normalised = ANY($2::text[])
 ORDER BY item_id;

-- name: get_current_deactivation
-- An item's deactivation in effect (the latest deactivated event no correction names), with the deactivation mark
-- recorded last before it (the verifier marks the firearm before it is recorded deactivated). $1 item_id
SELECT e.event_id, e.occurred_on, e.recorded_at, e.deactivator, e.verifier, e.certificate_number,
       e.certificate_date, e.category_before, e.category_after,
       m.stamped AS mark_stamped, m.country AS mark_country, m.symbol_code AS mark_symbol_code, m.year AS mark_year
  FROM item_event AS e
  LEFT JOIN LATERAL (SELECT stamped, country, symbol_code, year FROM marking
                      WHERE item_id = e.item_id AND kind = 'deactivation' AND recorded_at <= e.recorded_at
                      ORDER BY marking_id DESC LIMIT 1) AS m ON true
 WHERE e.item_id = $1 AND e.event = 'deactivated'
   AND NOT EXISTS (SELECT 1 FROM item_event AS c
                    WHERE c.item_id = $1 AND c.event = 'corrected' AND c.corrects_event_id = e.event_id)
 ORDER BY e.event_id DESC
 LIMIT 1;

-- name: find_items_by_certificate
-- The items whose deactivation in effect (their latest deactivated event no correction names, as
-- get_current_deactivation) records this certificate number, compared as recorded (item_event_certificate_number_idx),
-- with the deactivation's certificate and verifier, a page in item_id order. $1 certificate_number, $2 after item_id,
-- $3 limit
SELECT i.item_id, i.kind, i.firearm_type, i.component_type, i.parent_item_id, i.make, i.model, i.calibre,
       i.year_of_manufacture, i.country_of_manufacture, i.category, i.manufacturer, i.serial, i.serial_normalised,
       i.headstamp, i.quantity, i.status, i.registered_at, i.registered_by, i.import_id, i.identity_duplicate_of,
       e.event_id, e.occurred_on AS deactivated_on, e.certificate_number, e.certificate_date, e.verifier
  FROM item_event AS e
  JOIN item AS i ON i.item_id = e.item_id
 WHERE e.certificate_number = $1::text
   AND e.event = 'deactivated'
   AND e.item_id > $2::bigint
   AND NOT EXISTS (SELECT 1 FROM item_event AS c
                    WHERE c.item_id = e.item_id AND c.event = 'corrected' AND c.corrects_event_id = e.event_id)
   AND NOT EXISTS (SELECT 1 FROM item_event AS later
                    WHERE later.item_id = e.item_id AND later.event = 'deactivated' AND later.event_id > e.event_id
                      AND NOT EXISTS (SELECT 1 FROM item_event AS c
                                       WHERE c.item_id = later.item_id AND c.event = 'corrected'
                                         AND c.corrects_event_id = later.event_id))
 ORDER BY e.item_id
 LIMIT $3;

-- name: list_reported_items
-- Every item of this registry reported lost or stolen now, in item order (a partner's catch-up). No arguments
SELECT item_id, kind, firearm_type, component_type, make, model, calibre, manufacturer, country_of_manufacture,
       serial, serial_normalised, status
  FROM item
 WHERE status IN ('lost', 'stolen')
 ORDER BY item_id;

-- name: list_items_markings
-- The markings of a batch of items as stamped, in the order recorded. $1 item_ids
SELECT item_id, kind, stamped
  FROM marking
 WHERE item_id = ANY($1::bigint[])
 ORDER BY item_id, marking_id;

-- name: list_items_report_events
-- The losses, thefts and corrections of a batch of items in the order recorded (what names each open report).
-- $1 item_ids
SELECT item_id, event_id, event, corrects_event_id, occurred_on
  FROM item_event
 WHERE item_id = ANY($1::bigint[]) AND event IN ('lost', 'stolen', 'corrected')
 ORDER BY item_id, event_id;

-- name: list_reports_left_open_at
-- The reports this registry queued to partner $1 (item.reported-missing) whose latest notice queued to it, by queue
-- order, is that report and not its withdrawal (notice_outbox_report_idx); with the item's status now and every event
-- of the item, in the order recorded, to replay which event ended each since. A partner's catch-up. $1 recipient
WITH latest AS (
    SELECT DISTINCT ON (o.body ->> 'report_id') o.body ->> 'report_id' AS report_id, o.type
      FROM notice_outbox AS o
     WHERE o.recipient = $1 AND o.type IN ('item.reported-missing', 'item.report-withdrawn')
     ORDER BY o.body ->> 'report_id', o.queued_order DESC
), sent AS (
    SELECT r.event_id AS report_id, r.item_id
      FROM latest AS l
      -- this registry's report ids are its event ids, as text
      JOIN item_event AS r ON r.event_id = CASE WHEN l.report_id ~ '^[0-9]{1,18}$' THEN l.report_id::bigint END
     WHERE l.type = 'item.reported-missing' AND r.event IN ('lost', 'stolen')
)
SELECT s.report_id, i.status, e.event_id, e.event, e.corrects_event_id, e.occurred_on, e.status_before,
       e.status_after
  FROM sent AS s
  JOIN item AS i ON i.item_id = s.item_id
  JOIN item_event AS e ON e.item_id = s.item_id
 ORDER BY s.report_id, e.event_id;
