-- name: insert_trace_request
-- A trace request, sent or received. $1 direction, $2 partner_state, $3 notice_id, $4 item_id, $5 weapon, $6 circumstances, $7 intended_use, $8 confidentiality, $9 answer_by, $10 acknowledge_by, $11 findings, $12 created_at, $13 created_by, $14 findings_omitted
INSERT INTO trace_request (direction, partner_state, notice_id, item_id, weapon, circumstances, intended_use,
                           confidentiality, answer_by, acknowledge_by, findings, created_at, created_by,
                           findings_omitted)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
RETURNING trace_request_id;

-- name: insert_trace_acknowledgement
-- A request's acknowledgement (one per request: trace_acknowledgement_pkey). $1 trace_request_id, $2 notice_id, $3 acknowledged_at, $4 answer_by, $5 recorded_by
INSERT INTO trace_acknowledgement (trace_request_id, notice_id, acknowledged_at, answer_by, recorded_by)
VALUES ($1, $2, $3, $4, $5);

-- name: insert_trace_answer
-- A request's answer (one per request: trace_answer_pkey), with the level of its notice (Art. 12(5)) and, for an item
-- the request is not about, the officer's reason. $1 trace_request_id, $2 notice_id, $3 outcome, $4 item_id,
-- $5 record, $6 reason, $7 note, $8 answered_at, $9 answered_by, $10 confidentiality, $11 unmatched_because
INSERT INTO trace_answer (trace_request_id, notice_id, outcome, item_id, record, reason, note, answered_at,
                          answered_by, confidentiality, unmatched_because)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);

-- name: find_trace_request
-- The request a partner's reply names: this registry's trace.requested notice sent to that partner, with whether it
-- was acknowledged and answered already, and when it was made. $1 direction, $2 partner_state, $3 notice_id
SELECT r.trace_request_id, r.answer_by, r.confidentiality, r.created_at,
       a.trace_request_id IS NOT NULL AS acknowledged, w.trace_request_id IS NOT NULL AS answered,
       w.notice_id AS answer_notice_id
  FROM trace_request AS r
  LEFT JOIN trace_acknowledgement AS a ON a.trace_request_id = r.trace_request_id
  LEFT JOIN trace_answer AS w ON w.trace_request_id = r.trace_request_id
 WHERE r.direction = $1 AND r.partner_state = $2 AND r.notice_id = $3;

-- name: list_trace_requests
-- Trace requests with their acknowledgement and answer, the status they give (answered, acknowledged, open), the day
-- the answer is due and whether it is overdue on $5 (trace_request_state, trace_request_overdue: the rule the
-- operator's overview counts by). One request ($1) or a page in id order after a cursor. $1 trace_request_id or NULL,
-- $2 direction or NULL, $3 status or NULL, $4 overdue only, $5 today, $6 after trace_request_id, $7 limit
SELECT trace_request_id, direction, partner_state, notice_id, item_id, weapon, circumstances, intended_use,
       confidentiality, answer_by, acknowledge_by, findings, findings_omitted, created_at, created_by,
       acknowledgement_notice_id, acknowledged_at, acknowledged_by, due_on, answer_notice_id, outcome,
       answer_item_id, record, reason, note, answered_at, answered_by, answer_confidentiality, unmatched_because,
       status, trace_request_overdue(answered, due_on, $5::date) AS overdue
  FROM trace_request_state
 WHERE ($1::bigint IS NULL OR trace_request_id = $1::bigint)
   AND ($2::text IS NULL OR direction = $2::text)
   AND trace_request_id > $6::bigint
   AND ($3::text IS NULL OR status = $3::text)
   AND (NOT $4::boolean OR trace_request_overdue(answered, due_on, $5::date))
 ORDER BY trace_request_id
 LIMIT $7;

-- name: find_trace_items
-- The items whose normalised serial is one of the serials given (item_serial_normalised_idx), for a received trace
-- request's findings: those made by the request's manufacturer first, then those of its country of manufacture
-- (each compared as normalise_manufacturer compares names; NULL: the request names none), then in item_id order,
-- so that the limit never leaves out a full match for an item that only shares the serial. matching: how many items
-- carry the serials, the limit aside (counted before it), so that the officer is told how many were left out.
-- $1 serials as given, $2 limit, $3 manufacturer or NULL, $4 country of manufacture or NULL
SELECT item_id, kind, firearm_type, component_type, manufacturer, country_of_manufacture, serial, make, model,
       calibre, status, count(*) OVER () AS matching
  FROM item
 WHERE serial_normalised = ANY (ARRAY(SELECT normalise_serial(s) FROM unnest($1::text[]) AS s))
 ORDER BY normalise_manufacturer(manufacturer) = normalise_manufacturer($3::text) IS NOT TRUE,
          normalise_manufacturer(country_of_manufacture) = normalise_manufacturer($4::text) IS NOT TRUE,
          item_id
 LIMIT $2;

-- name: list_trace_item_events
-- An item's lifecycle events in recording order, what a trace answer's record is built from (no officer, no note).
-- $1 item_id
SELECT event_id, event, corrects_event_id, occurred_on, status_after, from_party, to_party, country, document,
       temporary, purpose
  FROM item_event
 WHERE item_id = $1
 ORDER BY event_id;

-- name: list_trace_notice_states
-- The delivery state of this registry's notices about a trace request (the request it sent, or the acknowledgement
-- and answer it sent). $1 notice ids
SELECT notice_id, type, recipient, status, attempts, last_error, delivered_at, receipt_reason
  FROM notice_outbox
 WHERE notice_id = ANY ($1::uuid[])
 ORDER BY notice_id;
