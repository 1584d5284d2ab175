-- A partner's report is open when no later notice of the same report follows it: neither a newer report (which
-- supersedes it) nor a withdrawal, a higher sequence from its sender either way. The rule was written out in each
-- query that needs it (the border's look-up, the transit-consent pre-check, the officers' list of open reports);
-- it is this view's, once. A view is inlined into the query that reads it, so each keeps its plan (the serial index,
-- the receipt index); an SQL function holding the EXISTS tests would not be. security_invoker: a reader needs the
-- right on the table itself, as it would without the view (the service role's SELECT and INSERT, grant_service_role()).
CREATE VIEW open_foreign_item_report WITH (security_invoker = true) AS
SELECT r.*
  FROM foreign_item_report AS r
 WHERE NOT EXISTS (SELECT 1 FROM foreign_item_report AS n
                    WHERE n.sender_state = r.sender_state AND n.report_id = r.report_id AND n.sequence > r.sequence)
   AND NOT EXISTS (SELECT 1 FROM foreign_item_report_withdrawal AS w
                    WHERE w.sender_state = r.sender_state AND w.report_id = r.report_id AND w.sequence > r.sequence);
