-- A shipment record is built from several notices (dispatches, a confirmation request, receipts), each with
-- its confidentiality (Art. 12(5), PROTOCOL §3: kept with the record). The record kept the level of its first
-- notice only: a public first truck, then a confidential second one, and the record holding both trucks'
-- serials said public. The runtime now keeps the strictest level of the notices a record took; the records
-- made before take the strictest of theirs: their dispatches and receipts (kept, each with its level) and the
-- confirmation requests accepted from the exporting State (in the inbox). Each change journaled in this
-- transaction (shipment.confidentiality-raised), as the runtime journals every write of a record; the
-- column joins those the record's guard lets change.
DROP TRIGGER shipment_record_change_only ON shipment_record;
CREATE TRIGGER shipment_record_change_only BEFORE UPDATE OR DELETE ON shipment_record
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('dispatched_at', 'items', 'confirmation_requested_at',
        'received_on', 'customs_document', 'received_items', 'confirmed_by', 'confidentiality', 'updated_at');

WITH levels AS (
    SELECT exporting_state, shipment_id, confidentiality FROM shipment_dispatch
    UNION ALL
    SELECT exporting_state, shipment_id, confidentiality FROM shipment_receipt
    UNION ALL
    SELECT sender, convert_from(notice, 'UTF8')::jsonb #>> '{body,shipment_id}', confidentiality
      FROM notice_inbox
     WHERE type = 'receipt.confirmation-requested' AND status = 'accepted'
), strictest AS (
    SELECT r.exporting_state, r.shipment_id, r.confidentiality AS was,
           (ARRAY['public', 'restricted', 'confidential'])[
               greatest(array_position(ARRAY['public', 'restricted', 'confidential'], r.confidentiality),
                        max(array_position(ARRAY['public', 'restricted', 'confidential'], l.confidentiality)))
           ] AS level
      FROM shipment_record AS r
      JOIN levels AS l USING (exporting_state, shipment_id)
     GROUP BY r.exporting_state, r.shipment_id, r.confidentiality
), raised AS (
    UPDATE shipment_record AS r
       SET confidentiality = s.level, updated_at = now()
      FROM strictest AS s
     WHERE r.exporting_state = s.exporting_state AND r.shipment_id = s.shipment_id AND s.level <> s.was
    RETURNING r.exporting_state, r.shipment_id, s.was, s.level
), journaled AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT now(), 'system:migration', 'shipment.confidentiality-raised', 'shipment_record',
           exporting_state || '/' || shipment_id,
           jsonb_build_object('from', was, 'to', level,
                              'migration', '20261130002000_keep_the_strictest_shipment_confidentiality.sql')
      FROM raised
     ORDER BY exporting_state, shipment_id
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM journaled;
