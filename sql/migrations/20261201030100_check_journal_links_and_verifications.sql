-- What the service's role may write into the journal's chain (README "The journal", "Database roles").
--
-- The sealer and `firearms journal verify` run as firearms_app, which may INSERT into journal_link and
-- journal_entry. So it could insert a link with a wrong hash, a predecessor's hash that is not the chain's, or at
-- a position past the head (links are append-only: each broke the chain for good, and every verification after
-- failed on it), and append a journal.verified entry naming any head (the next `journal verify
-- --since-checkpoint` starts at the latest checkpoint at or before it).
--
-- Links: a trigger recomputes the links a statement inserted, whoever inserts them: each prev_hash must be the hash of
-- the link before it (32 zero bytes at position 1), and its hash SHA-256(prev_hash || canonical(entry)), the
-- canonical JSON of PROTOCOL §2 over recorded_at, actor, action, entity, entity_id and payload, as
-- firearms.journal.entry_hash computes it; an entry with no canonical form is not linked (the sealer sets it aside).
-- The sealer's own links pass; tests/db/test_journal_writes_checked.py holds the database's hash to the sealer's over
-- a table of entries. A link at position 0 or below is left to journal_link_seq_check, a missing entry to
-- journal_link_entry_id_fkey, to refuse by name. pg_restore creates triggers after the data: a restore takes the
-- chain as the archive holds it, and verification reads it.
--
-- Verifications: a journal.verified entry is written by record_journal_verification() alone, a SECURITY DEFINER
-- function (it runs as the tables' owner; EXECUTE is the service role's alone), which holds the record to the
-- chain: its head a position on it, its start a checkpoint at or before that head (or none: the whole chain), its
-- entries the links from that start to the head, its checkpoints no more than the chain holds there. A trigger
-- refuses a journal.verified entry from anyone but the owner (or a member of it: a superuser; inside the function
-- current_user is the owner). What the database cannot know is that a walk ran: the service's role may still call
-- the function with a record a walk would produce (README "The journal").

-- The canonical JSON of a jsonb value (PROTOCOL §2; firearms.canonical.canonical): keys sorted by code point (the
-- "C" collation orders UTF-8 bytes, which is code-point order), no white space, strings escaped as JCS does (jsonb's
-- own escaping: \", \\, \b, \f, \n, \r, \t, other characters below U+0020 as \u00xx), numbers as PostgreSQL
-- writes them back (an entry whose numbers msgspec reads as floats or beyond 2^53 is never linked:
-- journal_payload_has_no_canonical_form).
CREATE FUNCTION journal_canonical_json(value jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT
    SET search_path = public, pg_temp AS $$
BEGIN
    CASE jsonb_typeof(value)
        WHEN 'object' THEN
            RETURN '{' || coalesce((
                SELECT string_agg(to_jsonb(e.key)::text || ':' ||
                                  CASE WHEN jsonb_typeof(e.value) IN ('object', 'array')
                                       THEN journal_canonical_json(e.value) ELSE e.value::text END,
                                  ',' ORDER BY e.key COLLATE "C")
                  FROM jsonb_each(value) AS e), '') || '}';
        WHEN 'array' THEN
            RETURN '[' || coalesce((
                SELECT string_agg(CASE WHEN jsonb_typeof(a.value) IN ('object', 'array')
                                       THEN journal_canonical_json(a.value) ELSE a.value::text END,
                                  ',' ORDER BY a.n)
                  FROM jsonb_array_elements(value) WITH ORDINALITY AS a (value, n)), '') || ']';
        ELSE
            RETURN value::text;
    END CASE;
END;
$$;

-- SHA-256(prev || canonical(entry)): firearms.journal.entry_hash, the time as firearms.canonical.format_time writes
-- it (UTC, four-digit year, microseconds only when there are any, Z).
CREATE FUNCTION journal_entry_hash(prev bytea, entry journal_entry) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT
    SET search_path = public, pg_temp AS $$
SELECT sha256(prev || convert_to(
           '{"action":' || to_jsonb(entry.action)::text ||
           ',"actor":' || to_jsonb(entry.actor)::text ||
           ',"entity":' || to_jsonb(entry.entity)::text ||
           ',"entity_id":' || to_jsonb(entry.entity_id)::text ||
           ',"payload":' || journal_canonical_json(entry.payload) ||
           ',"recorded_at":"' ||
           to_char(entry.recorded_at AT TIME ZONE 'UTC',
                   CASE WHEN date_trunc('second', entry.recorded_at) = entry.recorded_at
                        THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END) ||
           '"}', 'UTF8'));
$$;

-- Checked once a statement has inserted its links, over all of them at once (the sealer inserts a batch of up to
-- 5,000 in one statement): each link joined to the one before it (in the table by then, whether this statement
-- inserted it or not) and to its entry. The first wrong one, by position, is named.
CREATE FUNCTION journal_link_follows_chain() RETURNS trigger LANGUAGE plpgsql
    SET search_path = public, pg_temp AS $$
DECLARE
    wrong record;
BEGIN
    SELECT l.seq, l.entry_id,
           l.prev_hash IS DISTINCT FROM CASE WHEN l.seq = 1 THEN decode(repeat('00', 32), 'hex') ELSE p.hash END
               AS unfollowed,
           journal_payload_has_no_canonical_form(e.payload) AS uncanonical
      INTO wrong
      FROM added AS l
      LEFT JOIN journal_link AS p ON p.seq = l.seq - 1
      LEFT JOIN journal_entry AS e ON e.entry_id = l.entry_id
     WHERE l.seq >= 1  -- below, journal_link_seq_check refuses it by name; a missing entry, journal_link_entry_id_fkey
       AND (l.prev_hash IS DISTINCT FROM CASE WHEN l.seq = 1 THEN decode(repeat('00', 32), 'hex') ELSE p.hash END
            OR (e.entry_id IS NOT NULL
                AND (journal_payload_has_no_canonical_form(e.payload)
                     OR l.hash IS DISTINCT FROM journal_entry_hash(l.prev_hash, e))))
     ORDER BY l.seq
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF wrong.unfollowed THEN
        RAISE EXCEPTION 'journal link % does not follow the chain: its prev_hash must be the hash of the link at %',
            wrong.seq, wrong.seq - 1
            USING ERRCODE = 'restrict_violation';
    ELSIF wrong.uncanonical THEN
        RAISE EXCEPTION 'journal entry % has no canonical form: it cannot be linked (the sealer sets it aside)',
            wrong.entry_id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RAISE EXCEPTION 'journal link %: its hash is not SHA-256(prev_hash || canonical(entry %))', wrong.seq,
        wrong.entry_id
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER journal_link_follows_chain AFTER INSERT ON journal_link
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION journal_link_follows_chain();

-- The record of an intact verification (firearms.journal.record_verification), journaled and queued for the sealer
-- in the caller's transaction; returns its entry_id.
CREATE FUNCTION record_journal_verification(entry_time timestamptz, entry_actor text, head_seq bigint,
                                            since_checkpoint bigint, entries bigint, checkpoints bigint)
    RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    walked_from bigint := coalesce(since_checkpoint - 1, 0);
    recorded bigint;
BEGIN
    IF head_seq IS NULL OR head_seq < 0 OR (head_seq > 0 AND NOT EXISTS (SELECT FROM journal_link AS l
                                                                         WHERE l.seq = head_seq)) THEN
        RAISE EXCEPTION 'head_seq % is not a position on the chain', head_seq
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF since_checkpoint IS NOT NULL AND (since_checkpoint > head_seq
                                         OR NOT EXISTS (SELECT FROM journal_checkpoint AS c
                                                         WHERE c.seq = since_checkpoint)) THEN
        RAISE EXCEPTION 'since_checkpoint % is no checkpoint at or before the head %', since_checkpoint, head_seq
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF entries IS DISTINCT FROM head_seq - walked_from THEN
        RAISE EXCEPTION 'entries % is not the number of links from % to %', entries, walked_from + 1, head_seq
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF checkpoints IS NULL OR checkpoints < 0
       OR checkpoints > (SELECT count(*) FROM journal_checkpoint AS c WHERE c.seq > walked_from AND c.seq <= head_seq)
    THEN
        RAISE EXCEPTION 'checkpoints % is more than the chain holds from % to %', checkpoints, walked_from + 1,
            head_seq
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH entry AS (
        INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
        VALUES (entry_time, entry_actor, 'journal.verified', 'journal', head_seq::text,
                jsonb_build_object('head_seq', head_seq, 'since_checkpoint', since_checkpoint, 'entries', entries,
                                   'checkpoints', checkpoints))
        RETURNING entry_id
    )
    INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry RETURNING entry_id INTO recorded;
    RETURN recorded;
END;
$$;
REVOKE EXECUTE ON FUNCTION record_journal_verification(timestamptz, text, bigint, bigint, bigint, bigint)
    FROM PUBLIC;

CREATE FUNCTION journal_verified_by_the_owner() RETURNS trigger LANGUAGE plpgsql
    SET search_path = public, pg_temp AS $$
BEGIN
    IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a journal.verified entry is written by record_journal_verification() only'
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- The WHEN clause is evaluated without calling the function: every other entry costs nothing more.
CREATE TRIGGER journal_verified_by_the_owner BEFORE INSERT ON journal_entry
    FOR EACH ROW WHEN (NEW.action = 'journal.verified') EXECUTE FUNCTION journal_verified_by_the_owner();

-- The grants of migration 20261201030000's function, and EXECUTE on record_journal_verification() for the service's
-- role alone.
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
