-- The importing State confirms each part of a shipment as its customs let it in (an entry check that
-- clears sends receipt.confirmed): a consignment in two trucks is two confirmations under one shipment id.
-- The exporting State's shipment record took each one's items in place of the last's, and showed half
-- the goods delivered. Every confirmation is now kept (once: keyed by its notice id), and the record holds
-- the sum of the parts. A confirmation repeating one recorded before (same customs document, day and
-- items: the importing registry answering a confirmation request from its records) is the same part and
-- is not added again. Confirmations received before are taken again from the inbox.

-- Each receipt.confirmed accepted, as its notice told it; append-only.
CREATE TABLE shipment_receipt (
    confirmed_by     text        NOT NULL,
    notice_id        text        NOT NULL,
    sequence         bigint      NOT NULL,
    exporting_state  text        NOT NULL,
    shipment_id      text        NOT NULL,
    licence_number   text        NOT NULL,
    received_on      date        NOT NULL,
    customs_document text        NOT NULL,
    items            jsonb       NOT NULL,
    confidentiality  text        NOT NULL,
    received_at      timestamptz NOT NULL,
    CONSTRAINT shipment_receipt_pkey PRIMARY KEY (confirmed_by, notice_id)
);
CREATE INDEX shipment_receipt_shipment_idx ON shipment_receipt (exporting_state, shipment_id);
CREATE TRIGGER shipment_receipt_append_only BEFORE UPDATE OR DELETE ON shipment_receipt
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER shipment_receipt_truncate_refused BEFORE TRUNCATE ON shipment_receipt
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

INSERT INTO shipment_receipt (confirmed_by, notice_id, sequence, exporting_state, shipment_id, licence_number,
                              received_on, customs_document, items, confidentiality, received_at)
SELECT i.sender, i.notice_id, i.sequence, n.notice ->> 'recipient', n.notice #>> '{body,shipment_id}',
       n.notice #>> '{body,licence_number}', (n.notice #>> '{body,received_on}')::date,
       n.notice #>> '{body,customs_document}',
       (SELECT coalesce(jsonb_agg(jsonb_build_object('line', e.item -> 'line', 'quantity', e.item -> 'quantity',
                                                     'serials', coalesce(e.item -> 'serials', '[]'::jsonb))
                                  ORDER BY e.position), '[]'::jsonb)
          FROM jsonb_array_elements(n.notice #> '{body,items}') WITH ORDINALITY AS e (item, position)),
       i.confidentiality, i.received_at
  FROM notice_inbox AS i, LATERAL (SELECT convert_from(i.notice, 'UTF8')::jsonb AS notice) AS n
 WHERE i.type = 'receipt.confirmed' AND i.status = 'accepted';

UPDATE shipment_record AS r
   SET received_items = shipment_items_add(NULL, d.items)
  FROM (SELECT exporting_state, shipment_id, jsonb_path_query_array(jsonb_agg(items ORDER BY first), '$[*][*]') AS items
          FROM (SELECT exporting_state, shipment_id, items, min(received_at) AS first
                  FROM shipment_receipt
                 GROUP BY exporting_state, shipment_id, customs_document, received_on, items) AS part
         GROUP BY exporting_state, shipment_id) AS d
 WHERE r.exporting_state = d.exporting_state AND r.shipment_id = d.shipment_id;
