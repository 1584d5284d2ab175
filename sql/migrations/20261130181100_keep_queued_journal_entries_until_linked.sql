-- An entry leaves the sealer's queue only linked into the chain or set aside by the sealer (README "The journal").
--
-- firearms_app may DELETE from journal_pending (the sealer runs as the service and empties it), and UPDATE its one
-- column (its rows are taken FOR UPDATE, which asks for that right). So it could take an entry off the queue without
-- linking it, or move a queued row to another entry id: the entry was then found only by a full `journal verify`,
-- not by `--since-checkpoint` once a later start was recorded. Now a deferred constraint trigger checks, at commit,
-- every row that left the queue (deleted, or its entry_id changed) and refuses the commit, naming the entry, unless
-- by then:
--   - the entry is linked (a journal_link row: the sealer links what it takes in the same transaction, and an entry
--     queued again after it was linked leaves unlinked again, take_pending_entries), or
--   - the sealer set it aside: a journal.unsealable entry names it (entity 'journal', entity_id its id), and the
--     entry indeed has no canonical form (a number with a fraction, or beyond 2^53 - 1: what canonical() refuses in
--     what asyncpg reads back; anyone with the role may journal a journal.unsealable entry, so it alone proves
--     nothing), or
--   - no entry has that id (a queued id naming nothing: the sealer drops it, and nothing is lost with it).
-- No role is exempted: the owner's migrations, backups and restores never take a row off the queue (a restore
-- writes into an empty database); the owner may switch the trigger off, as it may any guard. The look-ups are index
-- look-ups: journal_link_entry_id_key, then, only for an entry not linked, journal_entry_pkey and
-- journal_entry_entity_idx (entity, entity_id).

-- What firearms.journal.entry_hash cannot hash: payload numbers as PostgreSQL writes them back (never with an
-- exponent) that msgspec reads as a float, or as an integer outside [-(2^53)+1, 2^53-1] (firearms.canonical).
CREATE FUNCTION journal_payload_has_no_canonical_form(payload jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE
    SET search_path = public, pg_temp AS $$
SELECT EXISTS (SELECT FROM jsonb_path_query(payload, 'strict $.**') AS v
                WHERE jsonb_typeof(v) = 'number'
                  AND (v::text ~ '[.eE]' OR abs(v::text::numeric) > 9007199254740991));
$$;

CREATE FUNCTION journal_pending_leaves_linked() RETURNS trigger LANGUAGE plpgsql
    SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.entry_id = OLD.entry_id THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT FROM journal_link WHERE entry_id = OLD.entry_id)
       OR NOT EXISTS (SELECT FROM journal_entry WHERE entry_id = OLD.entry_id)
       OR (EXISTS (SELECT FROM journal_entry
                    WHERE entity = 'journal' AND entity_id = OLD.entry_id::text AND action = 'journal.unsealable')
           AND (SELECT journal_payload_has_no_canonical_form(payload) FROM journal_entry
                 WHERE entry_id = OLD.entry_id)) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'journal entry % left the sealer''s queue unlinked: an entry leaves it only linked into the chain'
                    ' or set aside by the sealer (journal.unsealable)', OLD.entry_id
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE CONSTRAINT TRIGGER journal_pending_leaves_linked AFTER DELETE OR UPDATE OF entry_id ON journal_pending
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION journal_pending_leaves_linked();
