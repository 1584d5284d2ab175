-- Protocol Art. 10(2)(a): an import authorisation's quantity is one balance shared by every export licence drawn on
-- it, and the customs check counts what passed under every licence naming it (sql/queries/checks.sql,
-- list_authorisation_cover, the statement after this one). Two checks at once under two licences of one authorisation
-- each held its own licence's lock and shared the authorisation's row, so neither saw the other's goods: after the
-- importing State lowered its authorisation to 80 under licences of 60 and 40, both 60 and 30 cleared at exit.
--
-- check_context now locks the authorisation's row FOR NO KEY UPDATE (not FOR SHARE) when another export licence's
-- current version names it (found on licence_version_import_authorisation_idx, migration 20261130161000): such checks
-- go one at a time, and the next one's cover statement, with its own snapshot, counts what the first took. An
-- authorisation only one licence names is still shared, as before: checks under one licence already go one at a time
-- on the licence's lock, and no check waits for another licence's. Still one statement: no round trip is added. The
-- lock order is unchanged (the licence, then the authorisation, then the presented items), as the export gate's
-- (the licence, then the authorisation, firearms/gates.py). Otherwise the function is as 20261130144000 made it.
CREATE OR REPLACE FUNCTION check_context(p_issuing_state text, p_number text, p_state text, p_today date,
                              p_movement text, p_serials text[])
RETURNS TABLE (licence_id uuid, kind text, status text, valid_from date, expires_on date,
               exporting_state text, importing_state text, transit_states text[], transit_consent boolean,
               lines jsonb, facts jsonb, version integer, consent_version integer, import_authorisation jsonb)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    hit licence%ROWTYPE;
    auth licence%ROWTYPE;
    named jsonb;
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
        IF hit.kind = 'export' AND p_movement IN ('export', 'import') THEN
            SELECT v.content -> 'import_authorisation' INTO named
              FROM licence_version AS v
             WHERE v.licence_id = hit.licence_id AND v.version = hit.version;
            IF named IS NULL OR jsonb_typeof(named) <> 'object' THEN
                import_authorisation := '{}'::jsonb;
            ELSE
                IF EXISTS (SELECT 1
                             FROM licence_version AS w
                             JOIN licence AS o ON o.licence_id = w.licence_id AND o.version = w.version
                            WHERE (w.content -> 'import_authorisation' ->> 'state') = named ->> 'state'
                              AND (w.content -> 'import_authorisation' ->> 'number') = named ->> 'number'
                              AND o.kind = 'export' AND o.licence_id <> hit.licence_id) THEN
                    -- Another licence draws on it: one check at a time, so the next one's cover counts this one's.
                    SELECT * INTO auth FROM licence AS a
                     WHERE a.issuing_state = named ->> 'state' AND a.number = named ->> 'number'
                       FOR NO KEY UPDATE;
                ELSE
                    SELECT * INTO auth FROM licence AS a
                     WHERE a.issuing_state = named ->> 'state' AND a.number = named ->> 'number'
                       FOR SHARE;
                END IF;
                import_authorisation := jsonb_build_object(
                    'number', named ->> 'number', 'state', named ->> 'state',
                    'held', CASE WHEN FOUND THEN jsonb_build_object(
                                'kind', auth.kind, 'origin', auth.origin, 'status', auth.status,
                                'valid_from', auth.valid_from, 'expires_on', auth.expires_on,
                                'exporting_state', auth.exporting_state) END);
            END IF;
        END IF;
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
