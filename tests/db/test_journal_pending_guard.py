"""An entry leaves the sealer's queue only linked or set aside (README "The journal"; migration 20261130181100).

firearms_app may DELETE from ``journal_pending`` (the sealer runs as the service and empties it). Taking an entry
off it unlinked hid the entry from ``journal verify --since-checkpoint`` once a later start was recorded: only the
full walk found it. A deferred constraint trigger now checks, at commit, every row that left the queue (deleted,
or its ``entry_id`` changed): its entry must be linked by then, or set aside by the sealer (a ``journal.unsealable``
entry naming it, the entry having no canonical form), or there must be no such entry. Otherwise the commit fails
naming the entry, and nothing of the transaction stays.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg
import pytest

from firearms import db, journal
from tests.db.test_journal import write_entries


async def queued(conn: db.Conn) -> list[int]:
    return [row["entry_id"] for row in await conn.fetch("SELECT entry_id FROM journal_pending ORDER BY entry_id")]


async def recorded(conn: db.Conn) -> int:
    async with conn.transaction():
        return await journal.record(
            conn, actor="insider", action="thing.made", entity="thing", entity_id="x", payload={}
        )


async def refused_at_commit(conn: db.Conn, entry_id: int | str, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Each statement runs; the commit is refused, naming the entry (a pattern); nothing of the transaction stays."""
    entries = await conn.fetchval("SELECT count(*) FROM journal_entry")
    transaction = conn.transaction()
    await transaction.start()
    for sql, args in statements:
        await conn.execute(sql, *args)
    with pytest.raises(asyncpg.RestrictViolationError, match=rf"journal entry {entry_id} left the sealer's queue"):
        await transaction.commit()
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == entries


async def sealed_and_intact(conn: db.Conn) -> None:
    await journal.seal(conn)
    assert await queued(conn) == []
    for since_checkpoint in (False, True):
        result = await journal.verify(conn, state="AT", since_checkpoint=since_checkpoint)
        assert result.intact, result.problem


async def test_the_service_role_cannot_take_an_unlinked_entry_off_the_sealers_queue(service: db.Conn) -> None:
    await journal.seal(service)
    hidden = await recorded(service)
    await refused_at_commit(service, hidden, ("DELETE FROM journal_pending WHERE entry_id = $1", (hidden,)))
    assert await queued(service) == [hidden]
    assert await journal.seal(service) == 1  # the sealer takes it as any entry
    assert await service.fetchval("SELECT count(*) FROM journal_link WHERE entry_id = $1", hidden) == 1
    await sealed_and_intact(service)


async def test_every_row_that_left_is_checked_and_an_unlinked_one_named(service: db.Conn) -> None:
    await journal.seal(service)
    await write_entries(service, 3)
    entries = await queued(service)
    await refused_at_commit(service, f"({'|'.join(map(str, entries))})", ("DELETE FROM journal_pending", ()))
    assert await queued(service) == entries
    await sealed_and_intact(service)


async def test_the_service_role_cannot_move_a_queued_row_to_another_entry(service: db.Conn) -> None:
    """The role's UPDATE on journal_pending (for FOR UPDATE) could rename a queued id: the old entry left the queue."""
    await journal.seal(service)
    linked: int = await service.fetchval("SELECT max(entry_id) FROM journal_link")
    hidden = await recorded(service)
    for other in (linked, hidden + 1_000_000):
        await refused_at_commit(
            service, hidden, ("UPDATE journal_pending SET entry_id = $2 WHERE entry_id = $1", (hidden, other))
        )
        assert await queued(service) == [hidden]
    await sealed_and_intact(service)


async def test_the_owner_takes_no_unlinked_entry_off_the_queue_either(service: db.Conn, conn: db.Conn) -> None:
    """No role is exempted: the owner may only switch the trigger off, as the tests' behind_the_back does."""
    await journal.seal(service)
    hidden = await recorded(service)
    await refused_at_commit(conn, hidden, ("DELETE FROM journal_pending WHERE entry_id = $1", (hidden,)))
    assert await queued(service) == [hidden]


async def test_an_entry_may_leave_the_queue_in_the_transaction_that_links_it(service: db.Conn) -> None:
    """The check is at commit: the sealer takes rows off first and links them after, in one transaction."""
    await journal.seal(service)
    hidden = await recorded(service)
    head = await service.fetchrow("SELECT seq, hash FROM journal_link ORDER BY seq DESC LIMIT 1")
    assert head is not None
    row = await service.fetchrow(
        "SELECT entry_id, recorded_at, actor, action, entity, entity_id, payload FROM journal_entry"
        " WHERE entry_id = $1",
        hidden,
    )
    assert row is not None
    async with service.transaction():
        await service.execute("DELETE FROM journal_pending WHERE entry_id = $1", hidden)
        await service.execute(
            "INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at) VALUES ($1, $2, $3, $4, now())",
            head["seq"] + 1,
            hidden,
            head["hash"],
            journal.entry_hash(head["hash"], row),
        )
    await sealed_and_intact(service)


async def test_a_queued_id_that_names_no_entry_leaves_the_queue(service: db.Conn) -> None:
    """Nothing is lost with it; refusing it would stop the sealer, which drops it, on every run."""
    await journal.seal(service)
    await service.execute("INSERT INTO journal_pending (entry_id) VALUES (1000000000000)")
    await write_entries(service, 1)
    await sealed_and_intact(service)


async def test_an_entry_set_aside_by_the_sealer_leaves_the_queue(service: db.Conn) -> None:
    """The sealer's own journal.unsealable entry, in its transaction, lets an entry with no canonical form go."""
    bad: int = await service.fetchval(
        "WITH entry AS (INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)"
        " VALUES ($1, 'insider', 'thing.made', 'thing', 'x', '{\"n\": 1.5}') RETURNING entry_id)"
        " INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry RETURNING entry_id",
        dt.datetime.now(dt.UTC),
    )
    await journal.seal(service)
    assert await queued(service) == []
    aside = await service.fetchval(
        "SELECT count(*) FROM journal_entry WHERE action = $1 AND entity_id = $2", journal.UNSEALABLE_ACTION, str(bad)
    )
    assert aside == 1


async def test_a_forged_unsealable_entry_does_not_let_a_sealable_entry_go(service: db.Conn) -> None:
    """Anyone with the role may journal ``journal.unsealable``: it counts only for an entry with no canonical form."""
    await journal.seal(service)
    hidden = await recorded(service)
    forged = (
        "WITH entry AS (INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)"
        " VALUES (now(), 'system:journal', 'journal.unsealable', 'journal', $1::bigint::text,"
        " jsonb_build_object('entry_id', $1::bigint, 'problem', 'floats have no canonical form: use integers'))"
        " RETURNING entry_id) INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry"
    )
    await refused_at_commit(
        service, hidden, (forged, (hidden,)), ("DELETE FROM journal_pending WHERE entry_id = $1", (hidden,))
    )
    assert await queued(service) == [hidden]
    await sealed_and_intact(service)


@pytest.mark.parametrize(
    ("gap", "right_prev", "problem"),
    [
        (1, False, "the link does not follow its predecessor"),
        (1, True, "the entry was changed after it was sealed"),
        (1000, True, "chain position {head_next} is missing"),
    ],
)
async def test_an_entry_linked_behind_the_sealers_back_with_a_wrong_link_is_named_by_both_verifications(
    service: db.Conn, conn: db.Conn, home: Path, gap: int, right_prev: bool, problem: str
) -> None:
    """A journal_link row lets its entry leave the queue: a wrong one is named, from a checkpoint on too.

    The table refuses such a link now (``journal_link_follows_chain``, migration 20261201030100;
    ``tests/db/test_journal_writes_checked.py``): written here as by the service's role before it, or by the owner
    with the trigger off.
    """
    await write_entries(service, 3)
    assert await journal.checkpoint(service, state="AT", home=home) is not None
    full = await journal.verify(service, state="AT")
    assert full.intact, full.problem
    await journal.record_verification(service, actor="test", result=full)
    await journal.seal(service)
    hidden = await recorded(service)
    head = await service.fetchrow("SELECT seq, hash FROM journal_link ORDER BY seq DESC LIMIT 1")
    assert head is not None
    async with conn.transaction():
        await conn.execute("ALTER TABLE journal_link DISABLE TRIGGER journal_link_follows_chain")
        await conn.execute(
            "INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at) VALUES ($1, $2, $3, $4, now())",
            head["seq"] + gap,
            hidden,
            head["hash"] if right_prev else b"\x01" * 32,
            b"\x02" * 32,
        )
        await conn.execute("DELETE FROM journal_pending WHERE entry_id = $1", hidden)
        await conn.execute("ALTER TABLE journal_link ENABLE TRIGGER journal_link_follows_chain")
    assert await queued(service) == []
    await write_entries(service, 2)  # sealed after it, on its hash
    for since_checkpoint in (False, True):
        result = await journal.verify(service, state="AT", since_checkpoint=since_checkpoint)
        assert not result.intact
        assert result.problem == problem.format(head_next=head["seq"] + 1)
        if gap == 1:
            assert (result.bad_seq, result.bad_entry_id) == (head["seq"] + 1, hidden)
        else:
            assert (result.bad_seq, result.bad_entry_id) == (head["seq"] + 1, None)
        assert (result.since_checkpoint is not None) == since_checkpoint  # the incremental walk, from the checkpoint
