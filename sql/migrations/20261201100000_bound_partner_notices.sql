-- A quota on what one partner can make this registry store (README "What one partner can make this registry
-- store"): per partner, per UTC hour, at most so many notices and so many bytes of them are stored. A partner on the
-- trust list, signing validly, could otherwise fill the disk at the rate one receiver takes its notices.

-- The operator's bound for one partner ('firearms peers quota'), NULL: FIREARMS_PARTNER_QUOTA_NOTICES / _BYTES.
-- A bound below one notice, or below one envelope's 256 KiB, would refuse a notice for ever (the sender retries
-- the same bytes and nothing else passes it).
ALTER TABLE peer
    ADD COLUMN quota_notices integer CONSTRAINT peer_quota_notices_check CHECK (quota_notices >= 1),
    ADD COLUMN quota_bytes   bigint  CONSTRAINT peer_quota_bytes_check CHECK (quota_bytes >= 262144);

DROP TRIGGER peer_change_only ON peer;
CREATE TRIGGER peer_change_only BEFORE UPDATE OR DELETE ON peer
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('base_url', 'enabled', 'last_sent_sequence', 'updated_at',
        'quota_notices', 'quota_bytes');

-- One row per partner and UTC hour in which it sent anything stored or refused for its quota: the notices stored
-- and their canonical bytes, written by the statement that stores the notice (under the sender's lock), and the
-- refusals for the quota (counted, with the first and last: a flood of refused requests adds no row).
CREATE TABLE peer_quota_window (
    state            text        NOT NULL CONSTRAINT peer_quota_window_state_fkey REFERENCES peer (state),
    window_start     timestamptz NOT NULL CONSTRAINT peer_quota_window_start_check
                                 CHECK (window_start = date_trunc('hour', window_start, 'UTC')),
    notices          integer     NOT NULL DEFAULT 0 CONSTRAINT peer_quota_window_notices_check CHECK (notices >= 0),
    bytes            bigint      NOT NULL DEFAULT 0 CONSTRAINT peer_quota_window_bytes_check CHECK (bytes >= 0),
    refused          integer     NOT NULL DEFAULT 0 CONSTRAINT peer_quota_window_refused_check CHECK (refused >= 0),
    first_refused_at timestamptz,
    last_refused_at  timestamptz,
    CONSTRAINT peer_quota_window_pkey PRIMARY KEY (state, window_start),
    CONSTRAINT peer_quota_window_refused_at_check CHECK ((refused = 0) = (last_refused_at IS NULL)
                                                         AND (refused = 0) = (first_refused_at IS NULL))
);
-- the status overview: a partner's refusals within the last 24 hours, read from the index's end
CREATE INDEX peer_quota_window_refused_idx ON peer_quota_window (state, last_refused_at) WHERE refused > 0;
CREATE TRIGGER peer_quota_window_change_only BEFORE UPDATE OR DELETE ON peer_quota_window
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('notices', 'bytes', 'refused', 'first_refused_at',
        'last_refused_at');
CREATE TRIGGER peer_quota_window_truncate_refused BEFORE TRUNCATE ON peer_quota_window
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- receive_context (migration 20261129120000) also gives the sender's quota and what it used in the hour of `at`,
-- read under the same lock: the count the store statement adds to is not beaten by a concurrent receiver.
DROP FUNCTION receive_context(text, text, timestamptz);
CREATE FUNCTION receive_context(
    from_state text, id text, at timestamptz,
    OUT key_ids text[], OUT public_keys bytea[], OUT not_befores timestamptz[], OUT not_afters timestamptz[],
    OUT revoked_ats timestamptz[], OUT own_key_id text, OUT last_sequence bigint, OUT notice bytea, OUT receipt bytea,
    OUT quota_notices integer, OUT quota_bytes bigint, OUT used_notices integer, OUT used_bytes bigint
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7310003, hashtext(from_state));
    SELECT array_agg(k.key_id), array_agg(k.public_key), array_agg(k.not_before), array_agg(k.not_after),
           array_agg(k.revoked_at), max(p.quota_notices), max(p.quota_bytes)
      INTO key_ids, public_keys, not_befores, not_afters, revoked_ats, quota_notices, quota_bytes
      FROM peer_key AS k JOIN peer AS p USING (state)
     WHERE p.state = from_state AND p.enabled;
    own_key_id := current_registry_key_id(at);
    SELECT coalesce(max(i.sequence), 0) INTO last_sequence FROM notice_inbox AS i WHERE i.sender = from_state;
    SELECT i.notice, i.receipt INTO notice, receipt FROM notice_inbox AS i WHERE i.sender = from_state AND i.notice_id = id;
    SELECT w.notices, w.bytes INTO used_notices, used_bytes
      FROM peer_quota_window AS w
     WHERE w.state = from_state AND w.window_start = date_trunc('hour', at, 'UTC');
    used_notices := coalesce(used_notices, 0);
    used_bytes := coalesce(used_bytes, 0);
END
$$;

-- The grants of migration 20261201030100's function, and UPDATE on a partner's quota and on the counts of its windows.
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
    -- So does the record of a verification (migration 20261201030100)
    REVOKE EXECUTE ON FUNCTION record_journal_verification(timestamptz, text, bigint, bigint, bigint, bigint)
        FROM PUBLIC;

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
    GRANT EXECUTE ON FUNCTION record_journal_verification(timestamptz, text, bigint, bigint, bigint, bigint)
        TO firearms_app;

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
    GRANT UPDATE (base_url, enabled, last_sent_sequence, updated_at, quota_notices, quota_bytes) ON peer TO firearms_app;
    -- A partner's notices stored and refused per hour (migration 20261201100000): counts, not records
    GRANT UPDATE (notices, bytes, refused, first_refused_at, last_refused_at) ON peer_quota_window TO firearms_app;
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
