-- name: insert_foreign_item_report
-- A partner's item.reported-missing, as received (append-only; the receiver's identity forms are generated).
-- $1 sender_state, $2 report_id, $3 notice_id, $4 sequence, $5 status, $6 occurred_on, $7 kind, $8 item_type,
-- $9 make, $10 model, $11 calibre, $12 manufacturer, $13 country_of_manufacture, $14 serial, $15 markings,
-- $16 confidentiality, $17 received_at, $18 markings_omitted (NULL: none left out)
INSERT INTO foreign_item_report (sender_state, report_id, notice_id, sequence, status, occurred_on, kind, item_type,
                                 make, model, calibre, manufacturer, country_of_manufacture, serial, markings,
                                 confidentiality, received_at, markings_omitted)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
RETURNING serial_normalised;

-- name: insert_foreign_item_report_withdrawal
-- A partner's item.report-withdrawn, as received (append-only), and whether a report of that id was received
-- before. $1 sender_state, $2 report_id, $3 notice_id, $4 sequence, $5 reason, $6 occurred_on, $7 received_at
WITH withdrawn AS (
    INSERT INTO foreign_item_report_withdrawal (sender_state, report_id, notice_id, sequence, reason, occurred_on,
                                                received_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
)
SELECT EXISTS (SELECT 1 FROM foreign_item_report WHERE sender_state = $1 AND report_id = $2) AS known;

-- name: find_partner_reported_serials
-- Partners' open lost/stolen reports matching a consignment's serials on the lines of a licence held here
-- (foreign_item_report_serial_idx): the normalised serial, the item's kind the line's category, and the line's make
-- in the registry's manufacturer identity form the report's manufacturer or make. A report is open when no later
-- notice of the same report (a newer report, a withdrawal: a higher sequence from its sender) follows it
-- (open_foreign_item_report).
-- $1 licence_id, $2 lines, $3 normalised serials (one per line given)
WITH presented AS (
    SELECT t.line, t.serial FROM unnest($2::int[], $3::text[]) AS t (line, serial)
), licence_lines AS (
    SELECT (l.line ->> 'line')::int AS line, l.line ->> 'category' AS category,
           normalise_manufacturer(l.line ->> 'make') AS make_key
      FROM licence AS a
      JOIN licence_version AS v ON v.licence_id = a.licence_id AND v.version = a.version
     CROSS JOIN LATERAL jsonb_array_elements(v.content -> 'lines') AS l (line)
     WHERE a.licence_id = $1
)
SELECT p.line, p.serial, r.sender_state, r.report_id, r.status, r.occurred_on
  FROM presented AS p
  JOIN licence_lines AS ll ON ll.line = p.line
  JOIN open_foreign_item_report AS r ON r.serial_normalised = p.serial AND r.kind = ll.category
                                    AND ll.make_key IN (r.manufacturer_key, r.make_key)
 ORDER BY p.line, p.serial, r.sender_state, r.report_id;

-- name: find_partner_reported_goods
-- The same look-up for licences' lines as notices carry them (transit-consent requests' pre-check: one request, or
-- a page of them at once). $1 normalised serials, $2 categories, $3 makes (each as the line gives it), $4 which
-- licence of the batch each good is on
SELECT p.licence_index, p.serial, r.sender_state, r.report_id, r.status
  FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[]) AS p (serial, category, make, licence_index)
  JOIN open_foreign_item_report AS r ON r.serial_normalised = p.serial AND r.kind = p.category
                                    AND normalise_manufacturer(p.make) IN (r.manufacturer_key, r.make_key)
 ORDER BY p.licence_index, p.serial, r.sender_state, r.report_id;

-- name: list_foreign_item_reports
-- Partners' lost/stolen reports, each as its latest report notice says, with its withdrawal (a later one) if any;
-- newest received first (then by sender and its sequence: foreign_item_report_received_idx), a page after a cursor.
-- All of them, or the withdrawn ones (list_open_foreign_item_reports lists the open ones). $1 sender_state or NULL,
-- $2 'withdrawn' or NULL, $3 normalised serial or NULL, $4 before received_at, $5 sender_state, $6 sequence, $7 limit
SELECT c.sender_state, c.report_id, c.notice_id, c.sequence, c.status, c.occurred_on, c.kind, c.item_type, c.make,
       c.model, c.calibre, c.manufacturer, c.country_of_manufacture, c.serial, c.serial_normalised, c.markings,
       c.markings_omitted, c.confidentiality, c.received_at, c.withdrawal_reason, c.withdrawn_on, c.withdrawn_at, c.withdrawal_notice_id
  FROM (SELECT r.sender_state, r.report_id, r.notice_id, r.sequence, r.status, r.occurred_on, r.kind, r.item_type,
               r.make, r.model, r.calibre, r.manufacturer, r.country_of_manufacture, r.serial, r.serial_normalised,
               r.markings, r.markings_omitted, r.confidentiality, r.received_at,
               w.reason AS withdrawal_reason, w.occurred_on AS withdrawn_on, w.received_at AS withdrawn_at,
               w.notice_id AS withdrawal_notice_id
          FROM foreign_item_report AS r
          LEFT JOIN LATERAL (SELECT x.reason, x.occurred_on, x.received_at, x.notice_id
                               FROM foreign_item_report_withdrawal AS x
                              WHERE x.sender_state = r.sender_state AND x.report_id = r.report_id
                                AND x.sequence > r.sequence
                              ORDER BY x.sequence DESC
                              LIMIT 1) AS w ON true
         WHERE NOT EXISTS (SELECT 1 FROM foreign_item_report AS n
                            WHERE n.sender_state = r.sender_state AND n.report_id = r.report_id
                              AND n.sequence > r.sequence)
           AND ($1::text IS NULL OR r.sender_state = $1::text)
           AND ($3::text IS NULL OR r.serial_normalised = $3::text)
           AND ($4::timestamptz IS NULL
                OR (r.received_at, r.sender_state, r.sequence) < ($4::timestamptz, $5::text, $6::bigint))) AS c
 WHERE ($2::text IS NULL OR c.withdrawn_at IS NOT NULL)
 ORDER BY c.received_at DESC, c.sender_state DESC, c.sequence DESC
 LIMIT $7;

-- name: list_open_foreign_item_reports
-- Partners' open reports of one status (lost or stolen), as list_foreign_item_reports lists them. Its own query, so
-- that "no later withdrawal" is an anti-join the planner counts (in list_foreign_item_reports' form it guessed one row
-- in all, read every report and sorted them). $1 sender_state or NULL, $2 status, $3 normalised serial or NULL,
-- $4 before received_at, $5 sender_state, $6 sequence, $7 limit
SELECT r.sender_state, r.report_id, r.notice_id, r.sequence, r.status, r.occurred_on, r.kind, r.item_type, r.make,
       r.model, r.calibre, r.manufacturer, r.country_of_manufacture, r.serial, r.serial_normalised, r.markings,
       r.markings_omitted, r.confidentiality, r.received_at, NULL::text AS withdrawal_reason, NULL::date AS withdrawn_on,
       NULL::timestamptz AS withdrawn_at, NULL::text AS withdrawal_notice_id
  FROM open_foreign_item_report AS r
 WHERE r.status = $2::text
   AND ($1::text IS NULL OR r.sender_state = $1::text)
   AND ($3::text IS NULL OR r.serial_normalised = $3::text)
   AND ($4::timestamptz IS NULL
        OR (r.received_at, r.sender_state, r.sequence) < ($4::timestamptz, $5::text, $6::bigint))
 ORDER BY r.received_at DESC, r.sender_state DESC, r.sequence DESC
 LIMIT $7;
