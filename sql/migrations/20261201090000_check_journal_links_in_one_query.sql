-- The database's check of the journal's links (migration 20261201030100) at about half its cost (README "The journal").
--
-- journal_link_follows_chain recomputed each link by calling journal_entry_hash(), a SQL function the planner cannot
-- write into the calling query (its body holds a subquery, and it pins its search path): each call was run on its own,
-- about 9 µs an entry before any hashing, and it wrote the payload with journal_canonical_json(), a PL/pgSQL walk with
-- a query of its own per object. journal_payload_has_no_canonical_form() was likewise run on its own, a query per
-- entry comparing each number's text with a regular expression. The sealer took about 18 µs more an entry.
--
-- Now the canonical text of an entry is written by journal_entry_canonical(), a set-returning SQL function without a
-- search path of its own (immutable: it reads no table; what it calls is named with its schema), which the planner
-- writes into the trigger's one query as a subquery: an object payload's members (every payload the service writes
-- is an object) are aggregated there, sorted by code point as before, and only a member that is itself an object or
-- an array goes to journal_canonical_json() (unchanged). journal_entry_hash() hashes the same text (one definition).
-- The no-canonical-form check is one SQL/JSON path predicate the planner writes in likewise: a number whose text as
-- PostgreSQL writes it back has a fraction ("."; it never writes an exponent: "e" and "E" are kept from the old test)
-- or lies beyond 2^53 - 1 either way. Same text byte for byte, same entries refused:
-- tests/db/test_journal_canonical_property.py holds it to the sealer's over seeded random entries, sealed through the
-- trigger too; tests/db/test_journal_writes_checked.py over its table.

-- What firearms.journal.entry_hash cannot hash (as migration 20261130181100 wrote it, in one path predicate).
CREATE OR REPLACE FUNCTION journal_payload_has_no_canonical_form(payload jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE
AS $$
SELECT jsonb_path_exists(payload, 'strict $.** ? (@.type() == "number" && (@.string() like_regex "[.eE]"'
                                  ' || @ > 9007199254740991 || @ < -9007199254740991))');
$$;

-- canonical(entry) of PROTOCOL §2 (firearms.journal.entry_hash; see migration 20261201030100): one row.
CREATE FUNCTION journal_entry_canonical(entry journal_entry) RETURNS TABLE (canonical text) LANGUAGE sql IMMUTABLE
AS $$
SELECT '{"action":' || to_jsonb(entry.action)::text ||
       ',"actor":' || to_jsonb(entry.actor)::text ||
       ',"entity":' || to_jsonb(entry.entity)::text ||
       ',"entity_id":' || to_jsonb(entry.entity_id)::text ||
       ',"payload":' ||
       CASE WHEN jsonb_typeof(entry.payload) = 'object' THEN
           '{' || coalesce((SELECT string_agg(to_jsonb(m.key)::text || ':' ||
                                              CASE WHEN jsonb_typeof(m.value) IN ('object', 'array')
                                                   THEN public.journal_canonical_json(m.value) ELSE m.value::text END,
                                              ',' ORDER BY m.key COLLATE "C")
                              FROM jsonb_each(entry.payload) AS m), '') || '}'
       ELSE public.journal_canonical_json(entry.payload) END ||
       ',"recorded_at":"' ||
       to_char(entry.recorded_at AT TIME ZONE 'UTC',
               CASE WHEN date_trunc('second', entry.recorded_at) = entry.recorded_at
                    THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END) ||
       '"}';
$$;

-- SHA-256(prev || canonical(entry)): firearms.journal.entry_hash.
CREATE OR REPLACE FUNCTION journal_entry_hash(prev bytea, entry journal_entry) RETURNS bytea LANGUAGE sql IMMUTABLE
    STRICT SET search_path = public, pg_temp AS $$
SELECT sha256(prev || convert_to(c.canonical, 'UTF8')) FROM journal_entry_canonical(entry) AS c;
$$;

-- As migration 20261201030100 wrote it, the hash computed in the one query.
CREATE OR REPLACE FUNCTION journal_link_follows_chain() RETURNS trigger LANGUAGE plpgsql
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
      LEFT JOIN LATERAL journal_entry_canonical(e) AS c ON true
     WHERE l.seq >= 1  -- below, journal_link_seq_check refuses it by name; a missing entry, journal_link_entry_id_fkey
       AND (l.prev_hash IS DISTINCT FROM CASE WHEN l.seq = 1 THEN decode(repeat('00', 32), 'hex') ELSE p.hash END
            OR (e.entry_id IS NOT NULL
                AND (journal_payload_has_no_canonical_form(e.payload)
                     OR l.hash IS DISTINCT FROM sha256(l.prev_hash || convert_to(c.canonical, 'UTF8')))))
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
