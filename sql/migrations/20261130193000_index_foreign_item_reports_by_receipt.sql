-- The officer's list of partners' reports (GET /api/v1/foreign-item-reports) is newest received first, a page after a
-- cursor (received_at, sender_state, sequence): on this index a page reads the reports on it. Without it every page
-- read every report ever received, each with its latest-notice and withdrawal tests, and sorted them (100,000
-- reports: 40-50 ms a page, 300 ms with ?status=stolen).
CREATE INDEX foreign_item_report_received_idx ON foreign_item_report (received_at, sender_state, sequence);
