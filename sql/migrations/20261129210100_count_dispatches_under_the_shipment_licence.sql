-- 20261129200000 summed every accepted shipment.dispatched of a shipment from the inbox into its record,
-- those under another licence than the record's too (the registry had accepted them, each replacing the
-- items before it). The runtime rule since refuses such a dispatch (shipment-licence-mismatch: nothing is
-- mixed in), so this State's customs expected goods of another licence under this shipment. The records
-- with such a dispatch are made again the way the runtime would have made them: only the dispatches under
-- the record's licence count -- their items summed in sequence order, dispatched_at the latest of theirs
-- (no items and no dispatched_at when none is under it). Each change journaled in this transaction
-- (shipment.dispatches-recounted, the notices left out named), as the runtime journals every write of a
-- record. The dispatches under another licence stay in shipment_dispatch (append-only: they were received
-- and acknowledged), each with its own licence_number.
WITH counted AS (
    SELECT r.exporting_state, r.shipment_id, r.licence_number,
           CASE WHEN bool_or(d.licence_number = r.licence_number)
                THEN shipment_items_add(NULL, jsonb_path_query_array(
                         jsonb_agg(d.items ORDER BY d.sequence) FILTER (WHERE d.licence_number = r.licence_number),
                         '$[*][*]'))
           END AS items,
           max(d.dispatched_at) FILTER (WHERE d.licence_number = r.licence_number) AS dispatched_at,
           jsonb_agg(d.notice_id ORDER BY d.sequence) FILTER (WHERE d.licence_number <> r.licence_number) AS left_out
      FROM shipment_record AS r
      JOIN shipment_dispatch AS d USING (exporting_state, shipment_id)
     GROUP BY r.exporting_state, r.shipment_id, r.licence_number
    HAVING bool_or(d.licence_number <> r.licence_number)
), rebuilt AS (
    UPDATE shipment_record AS r
       SET items = c.items, dispatched_at = c.dispatched_at, updated_at = now()
      FROM counted AS c
     WHERE r.exporting_state = c.exporting_state AND r.shipment_id = c.shipment_id
    RETURNING r.exporting_state, r.shipment_id, r.licence_number, r.items, r.dispatched_at, c.left_out
), journaled AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT now(), 'system:migration', 'shipment.dispatches-recounted', 'shipment_record',
           exporting_state || '/' || shipment_id,
           jsonb_build_object('licence_number', licence_number, 'items', items, 'dispatched_at', dispatched_at,
                              'left_out', left_out,
                              'migration', '20261129210100_count_dispatches_under_the_shipment_licence.sql')
      FROM rebuilt
     ORDER BY exporting_state, shipment_id
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM journaled;
