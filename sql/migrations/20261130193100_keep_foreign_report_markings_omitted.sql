-- A partner's report carries the first 50 markings of the item and, when it has more, how many were left out
-- (item.markings_omitted: README "Notice types beyond PROTOCOL §5"). The count was dropped on receipt, so the
-- officer saw 50 markings as if they were all. NULL: none left out (and for the reports stored before).
ALTER TABLE foreign_item_report
    ADD COLUMN markings_omitted integer CONSTRAINT foreign_item_report_markings_omitted_check CHECK (markings_omitted >= 1);
