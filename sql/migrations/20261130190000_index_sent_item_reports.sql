-- The lost/stolen reports and withdrawals queued to each partner, by report id, newest first: a partner enabled
-- again is sent the withdrawal of every report it was sent whose withdrawal it was not (README "Notice types beyond
-- PROTOCOL §5"), found without reading the rest of the outbox.
CREATE INDEX notice_outbox_report_idx ON notice_outbox (recipient, (body ->> 'report_id'), queued_order DESC)
    WHERE type IN ('item.reported-missing', 'item.report-withdrawn');
