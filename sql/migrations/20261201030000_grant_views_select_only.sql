-- A view is granted SELECT only (README "Database roles").
--
-- grant_service_role() granted SELECT and INSERT ON ALL TABLES IN SCHEMA public, which covers views: through an
-- auto-updatable view (open_foreign_item_report, migration 20261130195000: one table, no aggregate) firearms_app
-- could INSERT into the table beneath, under that table's guards. No code writes through a view (the border's
-- look-up, the transit-consent pre-check and the officers' list read it), so a view now keeps SELECT alone, and a
-- view a later migration adds is granted so when migrate() runs the function again after it. A restored database
-- (no privileges in the archive) gets the same grants from the restore's migrate(). The rest of the function is that
-- of migration 20261130181000, unchanged.
CREATE OR REPLACE FUNCTION grant_service_role() RETURNS void LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    routine regprocedure;
    view regclass;
BEGIN
    -- First, whether or not the role can be made: every function that may read a table looks in this schema before
    -- the session's temporary tables (the immutable ones read none; pg_trgm's are the extension's). A session's
    -- temporary schema comes first in its search path for tables, and firearms_app may create temporary tables (an
    -- import stages its rows in them): one named item_event stood in for the real one in item_status_follows_events
    -- and let an item be destroyed with no event.
    FOR routine IN
        SELECT p.oid::regprocedure
          FROM pg_proc AS p
          JOIN pg_namespace AS n ON n.oid = p.pronamespace
         WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p') AND p.provolatile <> 'i'
           AND NOT EXISTS (SELECT FROM pg_depend AS d
                            WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
           AND NOT coalesce('search_path=public, pg_temp' = ANY (p.proconfig), false)
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = public, pg_temp', routine);
    END LOOP;
    -- The prune runs as the owner (SECURITY DEFINER): the service's role, and it alone, may call it. A restored
    -- database has lost its privileges (pg_dump --no-privileges), and a new function may be run by PUBLIC.
    REVOKE EXECUTE ON FUNCTION prune_idempotency_keys(timestamptz, integer, timestamptz, text, text) FROM PUBLIC;

    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'firearms_app') THEN
        BEGIN
            CREATE ROLE firearms_app NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- another registry's database on this server made it at the same time
            WHEN insufficient_privilege THEN
                RAISE WARNING 'role firearms_app does not exist and % may not create it: the service keeps the'
                              ' privileges of the URL it is given (README "Database roles")', current_user;
                RETURN;
        END;
    END IF;
    -- exactly these: a privilege given by hand or by an earlier version of this function is taken back
    REVOKE ALL ON ALL TABLES IN SCHEMA public FROM firearms_app;
    REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM firearms_app;
    GRANT USAGE ON SCHEMA public TO firearms_app;
    GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO firearms_app;
    REVOKE INSERT ON schema_migration FROM firearms_app;  -- migrate()'s own bookkeeping
    -- ALL TABLES covers views: a view is read, never written through (no code does), so it keeps SELECT alone
    FOR view IN
        SELECT c.oid::regclass
          FROM pg_class AS c
          JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')
    LOOP
        EXECUTE format('REVOKE INSERT ON %s FROM firearms_app', view);
    END LOOP;
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO firearms_app;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO firearms_app;
    REVOKE EXECUTE ON FUNCTION grant_service_role() FROM PUBLIC, firearms_app;
    GRANT EXECUTE ON FUNCTION prune_idempotency_keys(timestamptz, integer, timestamptz, text, text) TO firearms_app;

    -- Current state beside an append-only history (each change journaled)
    GRANT UPDATE (status, updated_at) ON party TO firearms_app;
    GRANT UPDATE (status, version, valid_from, expires_on, exporting_state, importing_state, transit_states,
                  issued_at, updated_at) ON licence TO firearms_app;
    GRANT UPDATE (issued_at, key_id, signature) ON licence_version TO firearms_app;
    GRANT UPDATE (category, quantity, serials) ON licence_line TO firearms_app;
    GRANT UPDATE (last) ON licence_counter TO firearms_app;
    GRANT UPDATE (status, category) ON item TO firearms_app;
    -- an item's descriptive fields and markings, corrected only beside an item_correction row naming the change
    -- (migration 20261130162000 and its guards; before it, item_status_only and marking's guard refuse any change)
    GRANT UPDATE (make, model, calibre, year_of_manufacture, firearm_type, headstamp, quantity) ON item TO firearms_app;
    GRANT UPDATE (stamped, manufacturer, place, country, serial, year, model, symbol_code, alphanumeric_code)
        ON marking TO firearms_app;
    GRANT UPDATE (kind, version, status, status_reason, status_effective_at, licence, confidentiality, notice_id,
                  updated_at) ON foreign_licence TO firearms_app;
    GRANT UPDATE (dispatched_at, items, confirmation_requested_at, received_on, customs_document, received_items,
                  confirmed_by, confidentiality, updated_at) ON shipment_record TO firearms_app;
    GRANT UPDATE (status, decision, reason, valid_until, decided_by, decided_at, reply_notice_id, superseded_by)
        ON consent_request_received TO firearms_app;
    GRANT UPDATE (requested_on, shipment_from, shipment_to, requested_at, requested_by, licence_version)
        ON transit_consent_request TO firearms_app;
    -- Delivery state; the notice and its signed bytes stay (notice_outbox's guards)
    GRANT UPDATE (sequence, envelope, status, attempts, last_error, last_attempt_at, next_attempt_at, lease_owner,
                  lease_until, delivered_at, receipt, receipt_reason, expected_sequence, id_conflict_at,
                  signing_key_id) ON notice_outbox TO firearms_app;
    -- The trust list's settings and revocations
    GRANT UPDATE (base_url, enabled, last_sent_sequence, updated_at) ON peer TO firearms_app;
    GRANT UPDATE (revoked_at) ON peer_key TO firearms_app;
    GRANT UPDATE (revoked_at, revoked_by) ON officer_token TO firearms_app;
    GRANT UPDATE (revoked_at) ON registry_key TO firearms_app;
    -- Queues: the sealer's, a rotation waiting for its switch, the lines an amendment drops. Not idempotency_key
    -- (taken back by the REVOKE ALL above): its keys are deleted by prune_idempotency_keys() alone, as the owner.
    -- (journal_pending's one column: its rows are taken FOR UPDATE, which asks an UPDATE right on some column)
    GRANT UPDATE (switched_at) ON pending_registry_key TO firearms_app;
    GRANT UPDATE (entry_id) ON journal_pending TO firearms_app;
    GRANT DELETE ON journal_pending, pending_registry_key, licence_line TO firearms_app;
END
$$;

SELECT grant_service_role();
