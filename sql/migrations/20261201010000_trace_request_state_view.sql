-- When a trace request is overdue (README "Trace requests", "Due dates"): unanswered after the day its answer is due,
-- the day the requested State acknowledged, else the day asked. The rule was written in the trace list
-- (list_trace_requests: overdue, ?overdue=true) and again in the operator's overview (get_waiting_work:
-- trace_requests_overdue); it is the view's and the function's, once.
--
-- trace_request_state: a request with its acknowledgement and its answer, the day due (due_on) and the status they give
-- (answered, acknowledged, open). A view is inlined into the query that reads it, so each keeps its plan (the list's
-- primary-key walk, the overview's one pass over the received requests). security_invoker: a reader needs the rights
-- on the tables themselves, as without the view (the service role's SELECT, grant_service_role()). It joins three
-- tables, so nothing can be written through it.
CREATE VIEW trace_request_state WITH (security_invoker = true) AS
SELECT r.trace_request_id, r.direction, r.partner_state, r.notice_id, r.item_id, r.weapon, r.circumstances,
       r.intended_use, r.confidentiality, r.answer_by, r.acknowledge_by, r.findings, r.findings_omitted, r.created_at,
       r.created_by,
       a.notice_id AS acknowledgement_notice_id, a.acknowledged_at, a.recorded_by AS acknowledged_by,
       coalesce(a.answer_by, r.answer_by) AS due_on,
       w.notice_id AS answer_notice_id, w.outcome, w.item_id AS answer_item_id, w.record, w.reason, w.note,
       w.answered_at, w.answered_by, w.confidentiality AS answer_confidentiality, w.unmatched_because,
       w.trace_request_id IS NOT NULL AS answered,
       CASE WHEN w.trace_request_id IS NOT NULL THEN 'answered'
            WHEN a.trace_request_id IS NOT NULL THEN 'acknowledged'
            ELSE 'open' END AS status
  FROM trace_request AS r
  LEFT JOIN trace_acknowledgement AS a ON a.trace_request_id = r.trace_request_id
  LEFT JOIN trace_answer AS w ON w.trace_request_id = r.trace_request_id;

-- Overdue on today (the registry's day, FIREARMS_TIME_ZONE: a parameter, so not in the view): unanswered, and the day
-- due is past. Immutable and a single expression, so the planner inlines it where it is called (and
-- grant_service_role() leaves it unpinned: it reads no table); not strict, which would stop the inlining.
CREATE FUNCTION trace_request_overdue(answered boolean, due_on date, today date) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN NOT answered AND due_on < today;
