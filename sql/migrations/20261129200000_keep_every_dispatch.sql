-- A consignment that crosses the exit in several parts (two trucks: two clear exit checks under one
-- shipment id) arrives here as several shipment.dispatched notices. The shipment record took each one's
-- items in place of the last's, so this State's customs expected only the last part. Every dispatch
-- notice is now kept (once: keyed by its notice id), and the shipment record holds their sum. Dispatches
-- received before are taken again from the notices stored in the inbox, and their records summed anew.

-- Each shipment.dispatched received, as its notice told it; append-only.
CREATE TABLE shipment_dispatch (
    exporting_state text        NOT NULL,
    notice_id       text        NOT NULL,
    sequence        bigint      NOT NULL,
    shipment_id     text        NOT NULL,
    licence_number  text        NOT NULL,
    dispatched_at   timestamptz NOT NULL,
    items           jsonb       NOT NULL,
    confidentiality text        NOT NULL,
    received_at     timestamptz NOT NULL,
    CONSTRAINT shipment_dispatch_pkey PRIMARY KEY (exporting_state, notice_id)
);
CREATE INDEX shipment_dispatch_shipment_idx ON shipment_dispatch (exporting_state, shipment_id, sequence);
CREATE TRIGGER shipment_dispatch_append_only BEFORE UPDATE OR DELETE ON shipment_dispatch
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER shipment_dispatch_truncate_refused BEFORE TRUNCATE ON shipment_dispatch
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- Shipment items [{"line", "quantity", "serials"}] added together: one entry per line, in line order, its
-- quantities summed and its serials in the order given (total's first). NULL counts as no items.
CREATE FUNCTION shipment_items_add(total jsonb, more jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('line', line, 'quantity', quantity, 'serials', serials)
                              ORDER BY line), '[]'::jsonb)
      FROM (SELECT (item ->> 'line')::int AS line,
                   sum((item ->> 'quantity')::bigint) AS quantity,
                   jsonb_path_query_array(jsonb_agg(coalesce(item -> 'serials', '[]'::jsonb) ORDER BY part, position),
                                          '$[*][*]') AS serials
              FROM (VALUES (1, coalesce(total, '[]'::jsonb)), (2, coalesce(more, '[]'::jsonb))) AS given (part, items),
                   jsonb_array_elements(given.items) WITH ORDINALITY AS element (item, position)
             GROUP BY 1) AS merged;
$$;

INSERT INTO shipment_dispatch (exporting_state, notice_id, sequence, shipment_id, licence_number, dispatched_at, items,
                               confidentiality, received_at)
SELECT i.sender, i.notice_id, i.sequence, n.notice #>> '{body,shipment_id}', n.notice #>> '{body,licence_number}',
       (n.notice #>> '{body,dispatched_at}')::timestamptz,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('line', e.item -> 'line', 'quantity', e.item -> 'quantity',
                                                     'serials', coalesce(e.item -> 'serials', '[]'::jsonb))
                                  ORDER BY e.position), '[]'::jsonb)
          FROM jsonb_array_elements(n.notice #> '{body,items}') WITH ORDINALITY AS e (item, position)),
       i.confidentiality, i.received_at
  FROM notice_inbox AS i, LATERAL (SELECT convert_from(i.notice, 'UTF8')::jsonb AS notice) AS n
 WHERE i.type = 'shipment.dispatched' AND i.status = 'accepted';

UPDATE shipment_record AS r
   SET items = shipment_items_add(NULL, d.items)
  FROM (SELECT exporting_state, shipment_id, jsonb_path_query_array(jsonb_agg(items ORDER BY sequence), '$[*][*]') AS items
          FROM shipment_dispatch
         GROUP BY exporting_state, shipment_id) AS d
 WHERE r.exporting_state = d.exporting_state AND r.shipment_id = d.shipment_id;
