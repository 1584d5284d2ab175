"""An insider with the service's role cannot stop the journal from sealing (README "The journal").

firearms_app may INSERT into ``journal_entry``, ``journal_pending`` and ``journal_link``: the service journals every
change. An entry written there directly, with no canonical form (a float in its payload, an integer beyond 2^53), or an
entry queued again after it was linked, made the sealer fail on every run, and ``journal verify`` (which seals
first) with it: no entry was linked from then on, a denial of the audit trail. The sealer sets such an entry
aside, journals that it did (``journal.unsealable``), links the rest; ``journal verify`` names it.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from firearms import db, journal
from tests.db.test_journal import write_entries

INSIDER_ENTRY = """
WITH entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    VALUES ($1, 'insider', 'thing.made', 'thing', 'x', $2::text::jsonb)
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry RETURNING entry_id
"""


async def unlinked(conn: db.Conn) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM journal_entry AS e"
        " WHERE NOT EXISTS (SELECT FROM journal_link AS l WHERE l.entry_id = e.entry_id)"
    )
    return count


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ('{"n": 1.5}', "floats have no canonical form"),
        ('{"n": 1.0}', "floats have no canonical form"),
        ('{"n": [{"m": 9007199254740992}]}', "outside the canonical range"),
    ],
)
async def test_an_entry_without_a_canonical_form_is_set_aside_and_named_not_a_stop(
    service: db.Conn, payload: str, why: str
) -> None:
    bad: int = await service.fetchval(INSIDER_ENTRY, dt.datetime.now(dt.UTC), payload)
    await write_entries(service, 3)
    await journal.seal(service)  # raised ValueError here on every run, before
    assert await service.fetchval("SELECT count(*) FROM journal_pending") == 0
    linked = await service.fetchval(
        "SELECT count(*) FROM journal_link JOIN journal_entry USING (entry_id) WHERE action = 'thing.made'"
        " AND actor = 'test'"
    )
    assert linked == 3  # the entries after it are linked
    aside = await service.fetchrow(
        "SELECT e.actor, e.entity_id, e.payload FROM journal_entry AS e JOIN journal_link USING (entry_id)"
        " WHERE e.action = 'journal.unsealable'"
    )
    assert aside is not None
    assert (aside["actor"], aside["entity_id"], aside["payload"]["entry_id"]) == ("system:journal", str(bad), bad)
    assert why in aside["payload"]["problem"]
    for since_checkpoint in (False, True):
        result = await journal.verify(service, state="AT", since_checkpoint=since_checkpoint)
        assert (result.intact, result.bad_entry_id) == (False, bad)
        assert result.problem is not None
        assert result.problem.startswith("the entry has no canonical form")
        assert why in result.problem


async def test_an_entry_queued_again_after_it_was_linked_does_not_stop_the_sealer(service: db.Conn) -> None:
    await journal.seal(service)
    linked: int = await service.fetchval("SELECT min(entry_id) FROM journal_link")
    await service.execute("INSERT INTO journal_pending (entry_id) VALUES ($1)", linked)
    await write_entries(service, 2)
    await journal.seal(service)  # the second link of one entry: journal_link_entry_id_key, on every run, before
    assert await service.fetchval("SELECT count(*) FROM journal_pending") == 0
    assert await unlinked(service) == 0
    result = await journal.verify(service, state="AT")
    assert result.intact, result.problem


async def test_an_entry_linked_behind_the_sealer_is_not_linked_twice_and_its_bad_link_is_named(
    service: db.Conn, conn: db.Conn
) -> None:
    """The link is written as the service's role could before migration 20261201030100 (the table now recomputes
    each link and refuses a wrong hash: ``tests/db/test_journal_writes_checked.py``), or the owner with it off."""
    await journal.seal(service)
    await write_entries(service, 1)
    queued: int = await service.fetchval("SELECT entry_id FROM journal_pending")
    head = await service.fetchrow("SELECT seq, hash FROM journal_link ORDER BY seq DESC LIMIT 1")
    assert head is not None
    async with conn.transaction():
        await conn.execute("ALTER TABLE journal_link DISABLE TRIGGER journal_link_follows_chain")
        await conn.execute(
            "INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at) VALUES ($1, $2, $3, $4, now())",
            head["seq"] + 1,
            queued,
            head["hash"],
            bytes(32),
        )
        await conn.execute("ALTER TABLE journal_link ENABLE TRIGGER journal_link_follows_chain")
    await write_entries(service, 2)
    await journal.seal(service)
    assert await unlinked(service) == 0
    result = await journal.verify(service, state="AT")
    assert (result.intact, result.bad_seq, result.problem) == (
        False,
        head["seq"] + 1,
        "the entry was changed after it was sealed",
    )


@pytest.mark.parametrize(
    "recorded_at", ["infinity", "-infinity", "10000-01-01 00:00:00+00", "0044-03-15 00:00:00+00 BC"]
)
async def test_an_entry_at_a_time_the_journal_cannot_write_is_refused(service: db.Conn, recorded_at: str) -> None:
    """A time outside years 1-9999 has no RFC 3339 form: asyncpg cannot even read it, so nothing could set it aside."""
    before = await service.fetchval("SELECT count(*) FROM journal_entry")
    with pytest.raises(asyncpg.CheckViolationError, match="journal_entry_recorded_at_check"):
        await service.execute(INSIDER_ENTRY.replace("VALUES ($1,", "VALUES ($1::text::timestamptz,"), recorded_at, "{}")
    assert await service.fetchval("SELECT count(*) FROM journal_entry") == before
    await write_entries(service, 1)
    await journal.seal(service)
    assert (await journal.verify(service, state="AT")).intact


@pytest.mark.parametrize("seq", [0, -1])
async def test_an_entry_cannot_be_linked_outside_the_chain_and_left_out_of_every_verification(
    service: db.Conn, seq: int
) -> None:
    """A link at position 0 or below was never walked (the chain runs 1, 2, 3 ...), yet counted the entry as linked.

    As the service's role: link a queued entry there and take it off the queue. The full verification reported the
    chain intact with the entry in none of it. The table refuses such a position (``journal_link_seq_check``).
    """
    await journal.seal(service)
    await write_entries(service, 1)
    queued: int = await service.fetchval("SELECT entry_id FROM journal_pending")
    with pytest.raises(asyncpg.CheckViolationError, match="journal_link_seq_check"):
        await service.execute(
            "INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at) VALUES ($1, $2, $3, $3, now())",
            seq,
            queued,
            bytes(32),
        )
    assert await service.fetchval("SELECT entry_id FROM journal_pending") == queued
    result = await journal.verify(service, state="AT")
    assert result.intact, result.problem
    assert await unlinked(service) == 0


async def test_a_link_outside_the_chain_written_before_the_table_refused_it_is_named(
    service: db.Conn, conn: db.Conn
) -> None:
    await journal.seal(service)
    await write_entries(service, 1)
    queued: int = await service.fetchval("SELECT entry_id FROM journal_pending")
    async with conn.transaction():  # as a registry that held it before migration 20261130170200
        await conn.execute("ALTER TABLE journal_link DROP CONSTRAINT journal_link_seq_check")
        await conn.execute(
            "INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at) VALUES (-1, $1, $2, $2, now())",
            queued,
            bytes(32),
        )
        await conn.execute("DELETE FROM journal_pending WHERE entry_id = $1", queued)
        await conn.execute("ALTER TABLE journal_link ADD CONSTRAINT journal_link_seq_check CHECK (seq > 0) NOT VALID")
    for since_checkpoint in (False, True):
        result = await journal.verify(service, state="AT", since_checkpoint=since_checkpoint)
        assert (result.intact, result.bad_seq, result.bad_entry_id, result.problem) == (
            False,
            -1,
            queued,
            "the entry is linked at -1, outside the chain",
        )
