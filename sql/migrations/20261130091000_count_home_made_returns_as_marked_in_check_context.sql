-- The import check's "unmarked" fact now leaves out a firearm this State made and recorded exported, coming
-- home: it bears this State's manufacture marking, and Protocol Art. 8(1)(b) asks no import marking of it
-- (made_here, 20261130081100). The customs check asked this with a second query after check_context
-- (list_home_made_returns, now gone); the fact is where the other facts of a serial are, read under the same
-- share locks on the presented items. Only the import check reads "unmarked". Otherwise the function is as
-- 20261129214000 made it.
CREATE OR REPLACE FUNCTION check_context(p_issuing_state text, p_number text, p_state text, p_today date,
                              p_movement text, p_serials text[])
RETURNS TABLE (licence_id uuid, kind text, status text, valid_from date, expires_on date,
               exporting_state text, importing_state text, transit_states text[], transit_consent boolean,
               lines jsonb, facts jsonb, version integer, consent_version integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    hit licence%ROWTYPE;
BEGIN
    SELECT * INTO hit FROM licence AS l WHERE l.issuing_state = p_issuing_state AND l.number = p_number FOR UPDATE;
    IF FOUND THEN
        licence_id := hit.licence_id;
        kind := hit.kind;
        status := hit.status;
        valid_from := hit.valid_from;
        expires_on := hit.expires_on;
        exporting_state := hit.exporting_state;
        importing_state := hit.importing_state;
        transit_states := hit.transit_states;
        version := hit.version;
        SELECT t.decision IN ('no-objection', 'deemed') AND (t.valid_until IS NULL OR t.valid_until >= p_today),
               t.licence_version
          INTO transit_consent, consent_version
          FROM transit_consent AS t
         WHERE t.licence_id = hit.licence_id AND t.transit_state = p_state
         ORDER BY t.licence_version DESC, t.transit_consent_id DESC
         LIMIT 1;
        transit_consent := coalesce(transit_consent, false);
        lines := coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'line', ll.line, 'category', ll.category, 'quantity', ll.quantity, 'serials', ll.serials,
                       'debited', coalesce((SELECT sum(e.quantity) FROM ledger_entry AS e
                                             WHERE e.licence_id = ll.licence_id AND e.line = ll.line), 0),
                       'passed', coalesce((SELECT sum(t.quantity) FROM passage_tally AS t
                                            WHERE t.issuing_state = p_issuing_state AND t.licence_number = p_number
                                              AND t.movement = p_movement AND t.line = ll.line), 0))
                       ORDER BY ll.line)
              FROM licence_line AS ll
             WHERE ll.licence_id = hit.licence_id), '[]'::jsonb);
    END IF;
    IF cardinality(p_serials) > 0 THEN
        -- The presented items' rows, shared: a lifecycle event or a marking in flight on one of them (it holds
        -- the item's row lock) commits first and is seen below, and one that comes later waits for the check.
        PERFORM 1 FROM item AS i WHERE i.serial_normalised = ANY (p_serials) ORDER BY i.item_id FOR SHARE;
        facts := (
            SELECT jsonb_agg(jsonb_build_object(
                       'serial', s,
                       'passed', EXISTS (SELECT 1 FROM cleared_serial AS c
                                          WHERE c.issuing_state = p_issuing_state AND c.licence_number = p_number
                                            AND c.movement = p_movement AND c.serial = s),
                       'reported', EXISTS (SELECT 1 FROM item AS i
                                            WHERE i.serial_normalised = s AND i.status IN ('lost', 'stolen')),
                       'unmarked', EXISTS (SELECT 1 FROM item AS i
                                            WHERE i.serial_normalised = s AND i.kind = 'firearm'
                                              AND NOT EXISTS (SELECT 1 FROM marking AS m
                                                               WHERE m.item_id = i.item_id AND m.kind = 'import'
                                                                 AND m.country = p_state)
                                              AND NOT (i.status = 'exported' AND made_here(i.item_id, p_state)))))
              FROM unnest(p_serials) AS s);
    ELSE
        facts := '[]'::jsonb;
    END IF;
    RETURN NEXT;
END;
$$;
