-- Idempotency keys are deleted only by `firearms idempotency prune`, and never one stored less than a day ago
-- (README "Retrying a request that creates a record").
--
-- Before, the guard (migration 20261129211200) let a DELETE through when the transaction had set
-- firearms.idempotency_prune = on, a setting any session may set, and firearms_app had DELETE on the table: code
-- running as the service could delete a fresh key, and a retried request then ran twice. Now the prune is
-- prune_idempotency_keys(), a SECURITY DEFINER function: it runs as the tables' owner, sets the marker for its own
-- run only, deletes only keys stored before the bound it is given, and refuses a bound later than
-- a day ago. A day is the least `--older-than` the command has ever taken: no prune the operator may ask for is
-- refused, and a key lives at least a day, past any retry the README describes (a client retries within minutes
-- or hours; a 503 database-outcome-unknown says to retry after 5 s). firearms_app loses DELETE on the table and may
-- EXECUTE the function; the guard lets a DELETE through only with the marker set AND the deleting role the table's
-- owner (or a member of it: a superuser), which the service's role cannot become. The owner's bare DELETE stays
-- refused as before (no marker).

CREATE FUNCTION prune_idempotency_keys(bound timestamptz, max_keys integer, entry_time timestamptz, entry_actor text,
                                       bound_written text)
    RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    deleted bigint;
BEGIN
    -- now(), this transaction's start, is never later than the clock: every key deleted is more than a day old
    IF bound IS NULL OR bound > now() - interval '1 day' THEN
        RAISE EXCEPTION 'idempotency keys are pruned only when stored at least a day ago, not before %', bound
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The guard's marker, for this call only (a SET clause would do it, but only a superuser may give a function
    -- one for a parameter PostgreSQL does not know: an external server's owner is none)
    PERFORM set_config('firearms.idempotency_prune', 'on', true);
    -- Up to max_keys keys stored before the bound, oldest first, deleted, each journaled (idempotency-key.pruned,
    -- the same entity_id as its idempotency-key.recorded) and queued for the sealer, in the caller's transaction
    WITH doomed AS (
        SELECT token_id, idempotency_key
          FROM idempotency_key
         WHERE created_at < bound
         ORDER BY created_at, token_id, idempotency_key
         LIMIT max_keys
    ), pruned AS (
        DELETE FROM idempotency_key AS k
         USING doomed AS d
         WHERE k.token_id = d.token_id AND k.idempotency_key = d.idempotency_key
        RETURNING k.token_id, k.idempotency_key, k.request, k.fingerprint, k.created_at
    ), journaled AS (
        INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
        SELECT entry_time, entry_actor, 'idempotency-key.pruned', 'idempotency_key',
               pruned.token_id::text || '/' || pruned.idempotency_key,
               jsonb_build_object('request', pruned.request, 'fingerprint', encode(pruned.fingerprint, 'hex'),
                                  'stored_before', bound_written)
          FROM pruned
         ORDER BY pruned.created_at, pruned.token_id, pruned.idempotency_key
        RETURNING entry_id
    ), queued AS (
        INSERT INTO journal_pending (entry_id)
        SELECT entry_id FROM journaled
        RETURNING entry_id
    )
    SELECT count(*) INTO deleted FROM queued;
    PERFORM set_config('firearms.idempotency_prune', 'off', true);
    RETURN deleted;
END;
$$;

CREATE OR REPLACE FUNCTION idempotency_key_pruned_only() RETURNS trigger LANGUAGE plpgsql
    SET search_path = public, pg_temp AS $$
BEGIN
    -- the marker is prune_idempotency_keys()'s; any session may set it, so the role must be the owner's too
    IF TG_OP = 'DELETE' AND current_setting('firearms.idempotency_prune', true) = 'on'
       AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'table % is append-only: % refused (keys are deleted by firearms idempotency prune only)',
        TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

-- The grants of migration 20261130170000's function, but DELETE on idempotency_key, and EXECUTE on the prune for the
-- service's role alone.
CREATE OR REPLACE FUNCTION grant_service_role() RETURNS void LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    routine regprocedure;
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
