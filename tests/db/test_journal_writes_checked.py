"""What the service's role may write into the chain: only right links, and a verification's record only as one.

The sealer and ``journal verify`` run as the service's role (README "Database roles"). It could insert a
``journal_link`` with a wrong hash, a wrong predecessor or past a gap (each broke the chain for good: links are
append-only), and append a ``journal.verified`` entry with any head (the next ``--since-checkpoint`` starts there).
The database now recomputes every link as it is inserted (``journal_link_follows_chain``, migration 20261201030100)
and takes a ``journal.verified`` entry only from ``record_journal_verification()``, which runs as the owner and
checks the record against the chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from firearms import db, journal
from tests.db.test_journal import write_entries

LINK = "INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at) VALUES ($1, $2, $3, $4, now())"
ENTRY = (
    "WITH e AS (INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING entry_id)"
    " INSERT INTO journal_pending (entry_id) SELECT entry_id FROM e RETURNING entry_id"
)


async def queued_entry(conn: db.Conn) -> tuple[asyncpg.Record, asyncpg.Record]:
    """The chain's head after sealing, and one entry queued after it (its contents as the sealer reads them)."""
    await journal.seal(conn)
    await write_entries(conn, 1)
    head = await conn.fetchrow("SELECT seq, hash FROM journal_link ORDER BY seq DESC LIMIT 1")
    entry = await conn.fetchrow(
        "SELECT e.entry_id, e.recorded_at, e.actor, e.action, e.entity, e.entity_id, e.payload"
        "  FROM journal_entry AS e JOIN journal_pending USING (entry_id)"
    )
    assert head is not None
    assert entry is not None
    return head, entry


@pytest.mark.parametrize(
    ("gap", "prev", "digest", "refusal"),
    [
        (1, "head", "wrong", "is not SHA-256"),
        (1, "wrong", "of wrong", "does not follow"),
        (2, "head", "right", "does not follow"),
        (1000, "head", "right", "does not follow"),
    ],
)
async def test_the_service_role_cannot_link_an_entry_wrongly(
    service: db.Conn, gap: int, prev: str, digest: str, refusal: str
) -> None:
    """A wrong hash, a wrong predecessor's hash, a position past the head: refused, nothing linked."""
    head, entry = await queued_entry(service)
    prev_hash = head["hash"] if prev == "head" else b"\x01" * 32
    hashes = {
        "wrong": b"\x02" * 32,
        "of wrong": journal.entry_hash(prev_hash, entry),
        "right": journal.entry_hash(prev_hash, entry),
    }
    with pytest.raises(asyncpg.RestrictViolationError, match=refusal):
        await service.execute(LINK, head["seq"] + gap, entry["entry_id"], prev_hash, hashes[digest])
    assert await service.fetchval("SELECT max(seq) FROM journal_link") == head["seq"]
    assert await service.fetchval("SELECT count(*) FROM journal_pending") == 1
    await journal.seal(service)
    result = await journal.verify(service, state="AT")
    assert result.intact, result.problem


async def test_the_service_role_may_link_an_entry_rightly_behind_the_sealer(service: db.Conn) -> None:
    """A right link is a right link, whoever writes it: the sealer's queue lets the entry go, the chain is whole."""
    head, entry = await queued_entry(service)
    async with service.transaction():
        await service.execute(
            LINK, head["seq"] + 1, entry["entry_id"], head["hash"], journal.entry_hash(head["hash"], entry)
        )
        await service.execute("DELETE FROM journal_pending WHERE entry_id = $1", entry["entry_id"])
    assert (await journal.verify(service, state="AT")).intact


PAYLOADS: list[Any] = [
    {},
    [],
    {"z": 1, "Z": 2, "a": [], "é": {}, "\U0001f600": "x", "\uff61": "y", "": None, "aa": True, "a\u007f": False},
    {"text": "".join(chr(c) for c in range(1, 0x80)), "more": "\u2028\u2029\u00e9\u20ac\U0001f600\ufeff"},
    {"quotes": "\"'\\/", "controls": "\b\f\n\r\t\u000b\u001f", "keys": {"\n": 1, '"': 2, "\\": 3, "\u0001": 4}},
    {"numbers": [0, -1, 1, 2**53 - 1, -(2**53 - 1), 10**15, -(10**15)]},
    {"deep": [[[{"a": [{"b": [[]]}]}]]], "mixed": [1, "1", None, True, {"1": [False]}]},
    {"ids": [str(n) for n in range(200)]},
    7,  # a payload need not be an object when written behind journal.record's back
    'a\u2028"b"',
    [{"b": 1, "a": 2}, [], {}],
    False,
]
TIMES = [
    dt.datetime(1, 1, 2, 3, 4, 5, tzinfo=dt.UTC),  # not datetime.min nor .max: asyncpg writes them as infinities
    dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 30, 23, 0, 0, 120000, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999998, tzinfo=dt.UTC),
]


async def test_the_database_hashes_every_entry_as_the_sealer_does(service: db.Conn, conn: db.Conn) -> None:
    """The sealer's links pass the database's recomputation for entries written behind ``journal.record``'s back.

    Were the two to disagree on any entry, the sealer would stop on it for ever. Written as the owner, with texts
    the canonical form escapes, keys out of order and beyond ASCII, the integers at the bounds, years 1 to 9999.
    """
    await conn.execute("SET TIME ZONE 'Pacific/Chatham'")  # the database's reading of a time must not depend on it
    written = 0
    for index, payload in enumerate(PAYLOADS):
        for moment in TIMES[index % 2 :: 2]:
            await conn.execute(
                ENTRY, moment, f"cli:odd\t{index}\u00e9", "thing.made", "thing\n\"'", f"x\\{index}", payload
            )
            written += 1
    await service.execute("SET TIME ZONE 'America/St_Johns'")
    assert await journal.seal(service) >= written
    assert await service.fetchval("SELECT count(*) FROM journal_pending") == 0
    rows = await conn.fetch(
        "SELECT l.seq, l.prev_hash, l.hash, e.entry_id, e.recorded_at, e.actor, e.action, e.entity, e.entity_id,"
        "       e.payload, journal_entry_hash(l.prev_hash, e) AS by_database"
        "  FROM journal_link AS l JOIN journal_entry AS e USING (entry_id) ORDER BY l.seq"
    )
    assert [row["hash"] for row in rows] == [journal.entry_hash(row["prev_hash"], row) for row in rows]
    assert [row["by_database"] for row in rows] == [row["hash"] for row in rows]
    assert (await journal.verify(service, state="AT")).intact


async def test_an_entry_with_no_canonical_form_cannot_be_linked(service: db.Conn) -> None:
    """Such an entry is set aside by the sealer; a link for it (some hash of some text of it) is refused."""
    await journal.seal(service)
    head = await service.fetchrow("SELECT seq, hash FROM journal_link ORDER BY seq DESC LIMIT 1")
    assert head is not None
    bad: int = await service.fetchval(ENTRY, dt.datetime.now(dt.UTC), "insider", "thing.made", "thing", "x", {"n": 1.5})
    with pytest.raises(asyncpg.RestrictViolationError, match="no canonical form"):
        await service.execute(LINK, head["seq"] + 1, bad, head["hash"], b"\x03" * 32)
    await journal.seal(service)
    assert await service.fetchval("SELECT count(*) FROM journal_link WHERE entry_id = $1", bad) == 0


async def appended_by_insert(conn: db.Conn) -> None:
    await conn.execute(ENTRY, dt.datetime.now(dt.UTC), "mallory", "journal.verified", "journal", "3", {"head_seq": 3})


async def appended_by_record(conn: db.Conn) -> None:
    async with conn.transaction():
        await journal.record(
            conn,
            actor="mallory",
            action=journal.VERIFIED_ACTION,
            entity="journal",
            entity_id="3",
            payload={"head_seq": 3},
        )


@pytest.mark.parametrize("append", [appended_by_insert, appended_by_record])
async def test_the_service_role_cannot_append_a_verification_itself(
    service: db.Conn, append: Callable[[db.Conn], Awaitable[None]]
) -> None:
    """A ``journal.verified`` entry moves the next ``--since-checkpoint`` start: only a verification's record is one."""
    await write_entries(service, 3)
    await journal.seal(service)
    before = await service.fetchval("SELECT count(*) FROM journal_entry")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="record_journal_verification"):
        await append(service)
    assert await service.fetchval("SELECT count(*) FROM journal_entry") == before


async def test_a_verification_is_recorded_through_the_owners_function(service: db.Conn, home: Path) -> None:
    """``firearms journal verify``'s record, as the service's role: the next walk starts from its checkpoint."""
    await write_entries(service, 3)
    made = await journal.checkpoint(service, state="AT", home=home)
    assert made is not None
    full = await journal.verify(service, state="AT")
    assert full.intact, full.problem
    await journal.record_verification(service, actor="cli:alice", result=full)
    stored = await service.fetchrow(
        "SELECT actor, entity, entity_id, payload FROM journal_entry WHERE action = 'journal.verified'"
    )
    assert stored is not None
    assert dict(stored) == {
        "actor": "cli:alice",
        "entity": "journal",
        "entity_id": str(full.head_seq),
        "payload": {"head_seq": full.head_seq, "since_checkpoint": None, "entries": full.entries, "checkpoints": 1},
    }
    await write_entries(service, 2)
    since = await journal.verify(service, state="AT", since_checkpoint=True)
    assert (since.intact, since.since_checkpoint) == (True, made.seq)
    await journal.record_verification(service, actor="cli:alice", result=since)
    assert (await journal.verify(service, state="AT")).intact  # the records are sealed into the chain as any entry


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"head_seq": 10**6}, "head_seq"),
        ({"head_seq": -1}, "head_seq"),
        ({"since_checkpoint": 2}, "since_checkpoint"),
        ({"entries": 1}, "entries"),
        ({"checkpoints": 5}, "checkpoints "),
        ({"checkpoints": -1}, "checkpoints "),
    ],
)
async def test_a_verification_record_no_walk_produced_is_refused(
    service: db.Conn, home: Path, change: dict[str, int], why: str
) -> None:
    """The function holds the record to the chain: a head on it, a start at a checkpoint, the walk's own counts."""
    await write_entries(service, 3)
    assert await journal.checkpoint(service, state="AT", home=home) is not None
    full = await journal.verify(service, state="AT")
    assert full.intact, full.problem
    values = {"head_seq": full.head_seq, "since_checkpoint": None, "entries": full.entries, "checkpoints": 1}
    values.update(change)
    before = await service.fetchval("SELECT count(*) FROM journal_entry")
    with pytest.raises(asyncpg.InvalidParameterValueError, match=why):
        await service.execute(
            "SELECT record_journal_verification(now(), 'mallory', $1, $2, $3, $4)",
            values["head_seq"],
            values["since_checkpoint"],
            values["entries"],
            values["checkpoints"],
        )
    assert await service.fetchval("SELECT count(*) FROM journal_entry") == before
