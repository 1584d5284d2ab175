-- The service's own database role (README "Database roles"). Migrations, backups and restores run as the tables'
-- owner; the API processes, the worker and the commands that only read and write records connect as firearms_app:
-- no superuser (who may SET session_replication_role = replica and so switch every guard off), not the owner (who
-- may ALTER TABLE ... DISABLE TRIGGER, DROP TRIGGER, or grant itself anything), no TRUNCATE, and UPDATE and DELETE
-- only where the code changes current state or empties a queue -- the columns tests/db/test_append_only_sweep.py
-- lets change. The guards still judge what it may touch; what it may not, the database refuses before any trigger.
--
-- The grants are made by grant_service_role(), which this migration runs and migrate() runs again after every run,
-- under its advisory lock: tables later migrations add are granted SELECT and INSERT without anyone listing them,
-- and a database restored from a backup (pg_dump --no-privileges: no grant is in the archive) gets the service's
-- rights back when the restore migrates it. ALTER DEFAULT PRIVILEGES would do neither: it is lost with the
-- privileges in a restore, and it cannot give a column-wise UPDATE. A later migration that lets the service change
-- another column replaces this function with its grant added.
--
-- The role is made here NOLOGIN when it is missing (a role belongs to the whole server: several registries' databases
-- on one server share it). The embedded server lets it log in on its socket (firearms.embedded.ensure_database); on
-- an external server the administrator grants it to the service's login, or lets it log in with a password. An owner
-- that may not create roles, on a server where nobody made it, gets a warning and no grants: the registry then runs
-- on one URL as before.
CREATE FUNCTION grant_service_role() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
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
    -- Queues: the sealer's, a rotation waiting for its switch, the lines an amendment drops, and idempotency keys
    -- pruned (their own guard lets only the prune's transaction delete)
    -- (journal_pending's one column: its rows are taken FOR UPDATE, which asks an UPDATE right on some column)
    GRANT UPDATE (switched_at) ON pending_registry_key TO firearms_app;
    GRANT UPDATE (entry_id) ON journal_pending TO firearms_app;
    GRANT DELETE ON journal_pending, pending_registry_key, licence_line, idempotency_key TO firearms_app;
END
$$;

SELECT grant_service_role();
