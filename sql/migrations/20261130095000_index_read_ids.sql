-- Who looked at one record: GET /api/v1/journal?entity_id=X also lists the reads of a page that showed X among
-- other records, journaled as one entry with entity_id '*' and the ids in payload.ids (journal.record_read).
-- This index finds those entries by id; it holds the reads of such pages alone (the partial predicate), so no
-- other journaled change pays for it.
CREATE INDEX journal_entry_read_ids_idx ON journal_entry USING gin ((payload -> 'ids')) WHERE entity_id = '*';
