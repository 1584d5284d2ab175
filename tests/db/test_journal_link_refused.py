"""A link the database refuses does not stop the sealer (README "The journal").

The database recomputes every link the sealer inserts (``journal_link_follows_chain``): were its canonical form ever
to disagree with the sealer's on some entry (none is known: ``tests/db/test_journal_canonical_property.py``), that
entry's good link would be refused. The sealer inserted each batch in one statement, so the whole batch was refused,
on every run: nothing was linked from then on, no checkpoint signed, and every ``journal verify`` (which seals first)
failed with it. The sealer now leaves such an entry queued (it cannot take it off the queue unlinked:
``journal_pending_leaves_linked``), links the rest, and the overview's ``journal-unsealed`` names the wait.

The disagreement is made by the tables' owner: ``journal_canonical_json()`` replaced by one that writes an object
holding a ``drift`` key differently, as a future change of either side could (a nested object: the payload's own
members are written by the hash's query).
"""

from __future__ import annotations

import datetime as dt

from firearms import db, journal

ENTRY = """
WITH entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    VALUES ($1, 'test', 'thing.made', 'thing', $2, $3)
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry RETURNING entry_id
"""

DRIFT = """
CREATE OR REPLACE FUNCTION journal_canonical_json(value jsonb) RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT
    SET search_path = public, pg_temp AS $$
BEGIN
    IF jsonb_typeof(value) = 'object' AND value ? 'drift' THEN
        RETURN '{"drift":"written otherwise"}';
    END IF;
    CASE jsonb_typeof(value)
        WHEN 'object' THEN
            RETURN '{' || coalesce((
                SELECT string_agg(to_jsonb(e.key)::text || ':' || journal_canonical_json(e.value), ','
                                  ORDER BY e.key COLLATE "C")
                  FROM jsonb_each(value) AS e), '') || '}';
        WHEN 'array' THEN
            RETURN '[' || coalesce((
                SELECT string_agg(journal_canonical_json(a.value), ',' ORDER BY a.n)
                  FROM jsonb_array_elements(value) WITH ORDINALITY AS a (value, n)), '') || ']';
        ELSE
            RETURN value::text;
    END CASE;
END;
$$;
"""


async def write(conn: db.Conn, name: str, payload: object) -> int:
    entry_id: int = await conn.fetchval(ENTRY, dt.datetime.now(dt.UTC), name, payload)
    return entry_id


async def test_an_entry_whose_link_the_database_refuses_waits_and_the_rest_are_linked(
    conn: db.Conn, service: db.Conn
) -> None:
    """Entries before and after it are linked, in one run; it stays queued, linked by no one; the chain verifies."""
    await journal.seal(service)
    await conn.execute(DRIFT)
    before = await write(service, "before", {"n": 1})
    drifted = await write(service, "drifted", {"n": 2, "inner": {"drift": True}})
    after = await write(service, "after", {"n": 3})

    assert await journal.seal(service) == 2

    linked = await service.fetch(
        "SELECT entry_id FROM journal_link WHERE entry_id = ANY($1::bigint[])", [before, after, drifted]
    )
    assert {row["entry_id"] for row in linked} == {before, after}
    assert await service.fetchval("SELECT array_agg(entry_id) FROM journal_pending") == [drifted]
    result = await journal.verify(service, state="AT")
    assert result.intact, result.problem
    assert result.pending == 1

    # the next run links what is written since, and leaves it waiting again
    later = await write(service, "later", {"n": 4})
    assert await journal.seal(service) == 1
    assert await service.fetchval("SELECT count(*) FROM journal_link WHERE entry_id = $1", later) == 1
    assert await service.fetchval("SELECT array_agg(entry_id) FROM journal_pending") == [drifted]


async def test_a_refused_entry_is_linked_once_the_two_agree_again(conn: db.Conn, service: db.Conn) -> None:
    """The forms agreeing again (the function put back as the migration wrote it), the waiting entry is linked."""
    await journal.seal(service)
    original = await conn.fetchval("SELECT pg_get_functiondef('journal_canonical_json(jsonb)'::regprocedure)")
    await conn.execute(DRIFT)
    drifted = await write(service, "drifted", {"inner": {"drift": True}})
    assert await journal.seal(service) == 0
    await conn.execute(original)
    assert await journal.seal(service) == 1
    assert await service.fetchval("SELECT count(*) FROM journal_pending") == 0
    assert await service.fetchval("SELECT count(*) FROM journal_link WHERE entry_id = $1", drifted) == 1
    assert (await journal.verify(service, state="AT")).intact


async def test_an_entry_the_sealer_sets_aside_that_the_database_finds_a_canonical_form_for_waits(
    conn: db.Conn, service: db.Conn
) -> None:
    """The other disagreement: the sealer finds no canonical form (a fraction), the database finds one (its check
    replaced by the owner by one that finds none wanting), so the queue's guard refuses the entry's leaving at COMMIT.
    The batch was refused whole on every run; now the entry waits and the rest are linked."""
    await journal.seal(service)
    await conn.execute(
        "CREATE OR REPLACE FUNCTION journal_payload_has_no_canonical_form(payload jsonb) RETURNS boolean"
        " LANGUAGE sql IMMUTABLE AS $$ SELECT false $$"
    )
    before = await write(service, "before", {"n": 1})
    fraction = await write(service, "fraction", {"n": 1.5})
    after = await write(service, "after", {"n": 3})
    assert await journal.seal(service) == 2
    linked = await service.fetch(
        "SELECT entry_id FROM journal_link WHERE entry_id = ANY($1::bigint[])", [before, fraction, after]
    )
    assert {row["entry_id"] for row in linked} == {before, after}
    assert await service.fetchval("SELECT array_agg(entry_id) FROM journal_pending") == [fraction]
    assert (
        await service.fetchval("SELECT count(*) FROM journal_entry WHERE action = $1", journal.UNSEALABLE_ACTION) == 0
    )
