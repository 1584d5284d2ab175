-- Protocol Art. 10(1)-(2): an export is authorised only against the importing State's import authorisation.
-- The customs check judged the export licence alone: at entry the importing State never looked at the import
-- authorisation the licence names, so goods cleared on one it had revoked, suspended, let expire or never given;
-- at exit the exporting State did not look again at the importing State's authorisation as received by notice
-- (a licence.status-changed revoking it changed nothing at the border).
--
-- check_context now also returns import_authorisation, for an export licence checked at export or import (NULL
-- otherwise): what the current version of the licence names ({"number", "state"}, or {} when it names none) and,
-- under "held", the licence row this registry holds under that State and number ({"kind", "origin", "status",
-- "valid_from", "expires_on", "exporting_state"}, or null when none). At import that is one this State issued; at
-- export the importing State's, as received. The row is read FOR SHARE after the
-- licence's lock, as the export gate reads it (firearms/gates.py): its revocation in flight commits first and the
-- check sees it, a later one waits for the check. Still one statement: no round trip is added. The return type
-- changes, so the function is dropped and created again; otherwise it is as 20261130091000 made it.
DROP FUNCTION check_context(text, text, text, date, text, text[]);

CREATE FUNCTION check_context(p_issuing_state text, p_number text, p_state text, p_today date,
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
                SELECT * INTO auth FROM licence AS a
                 WHERE a.issuing_state = named ->> 'state' AND a.number = named ->> 'number'
                   FOR SHARE;
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
