"""The database's canonical form of an entry against the sealer's, over seeded random entries (a property test).

The database recomputes every link the sealer inserts (``journal_link_follows_chain``, migration 20261201030100) with
its own canonical form (``journal_entry_hash()``, ``journal_canonical_json()``); the sealer hashes with
``firearms.journal.entry_hash``. An entry the table lets in on which the two disagree would have its good link
refused. Here random entries of what the table holds (nested objects and arrays, every kind of character the
canonical form escapes or not, characters beyond the BMP, keys that sort differently by UTF-16 code units than by
code point, empty keys, long texts, integers at and beyond 2^53, fractions, times in years 1 to 9999 with and without
microseconds, written in several time zones) are read back as the sealer reads them and hashed both ways; whether
each has a canonical form at all is held to ``journal_payload_has_no_canonical_form()``. Seeded: a failure names its
seed and case, and reruns.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import pytest

from firearms import db, journal
from firearms.canonical import canonical

SEEDS = (61, 2026, 1201)
CASES = 400
GENESIS = bytes(32)
# Characters the canonical form escapes (below U+0020, ", \), the ones it must not (/, DEL, U+2028), beyond ASCII,
# beyond the BMP (U+1F600 sorts before U+FF61 by UTF-16 code units, after it by code point), combining marks.
ALPHABET = [chr(code) for code in range(1, 0x80)] + [
    "\u0080", "\u00e9", "\u00ff", "\u0300", "\u2028", "\u2029", "\u20ac", "\ufeff", "\ufffd", "\uffff", "\uff61",
    "\ue000", "\U00010000", "\U0001f600", "\U0010ffff",
]  # fmt: skip
INTEGERS = [0, -1, 1, 2**31, -(2**31), 10**15, 2**53 - 1, -(2**53 - 1), 2**53, -(2**53), 2**63, 10**40]
ZONES = ["UTC", "America/St_Johns", "Pacific/Chatham", "Australia/Lord_Howe", "Africa/Monrovia"]


def _text(rng: random.Random, longest: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, longest)))


def _scalar(rng: random.Random) -> Any:
    kinds: list[Callable[[], Any]] = [
        lambda: None,
        lambda: rng.choice([True, False]),
        lambda: rng.choice(INTEGERS),
        lambda: rng.randint(-(2**53 - 1), 2**53 - 1),
        # rarely a fraction (no canonical form: set aside, never linked)
        lambda: rng.choice([0.5, -1.25, 1e-7, 123456.789]) if rng.randrange(8) == 0 else rng.randint(-999, 999),
        lambda: _text(rng, 300),
    ]
    kind = rng.randrange(10)
    return kinds[kind]() if kind < len(kinds) else _text(rng, 8)


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(6)
    if depth >= 8 or kind < 3:
        return _scalar(rng)
    if kind == 3:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {_text(rng, 4): _value(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def _moment(rng: random.Random) -> dt.datetime:
    year = rng.choice([1, 2, 999, 1000, 1969, 1970, 2026, 9998, 9999, rng.randint(1, 9999)])
    micro = rng.choice([0, 0, 1, 999999, rng.randint(0, 999999)])
    moment = dt.datetime(  # noqa: DTZ001  # given a zone below
        year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59), micro
    )
    offset = dt.timedelta(minutes=rng.choice([0, 0, 330, -210, 765, -600]))
    if year == 1:
        offset = min(offset, dt.timedelta(0))  # not before the year 1 in UTC (journal_entry_recorded_at_check)
    if year == 9999:
        offset = max(offset, dt.timedelta(0))  # nor after 9999
    return moment.replace(tzinfo=dt.timezone(offset))


HASH_BOTH_WAYS = (
    "SELECT $1::timestamptz AS recorded_at, $2::text AS actor, $3::text AS action, $4::text AS entity,"
    "       $5::text AS entity_id, $6::jsonb AS payload,"
    "       journal_payload_has_no_canonical_form($6::jsonb) AS uncanonical,"
    "       journal_entry_hash($7, ROW(1, $1, $2, $3, $4, $5, $6)::journal_entry) AS by_database"
)


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_database_and_the_sealer_hash_random_entries_alike(conn: db.Conn, seed: int) -> None:
    """Every random entry: the same hash both ways, or no canonical form both ways."""
    rng = random.Random(seed)  # noqa: S311  # seeded: a failure reruns
    disagreements: list[str] = []
    hashed = 0
    for case in range(CASES):
        if case % 50 == 0:
            await conn.execute(f"SET TIME ZONE '{rng.choice(ZONES)}'")
        payload = _value(rng)
        if payload is None:  # a JSON null payload (asyncpg would send SQL NULL for None)
            payload = [None]
        texts = [_text(rng, 12) for _ in range(4)]
        prev = rng.randbytes(32) if rng.randrange(2) else GENESIS
        row = await conn.fetchrow(HASH_BOTH_WAYS, _moment(rng), *texts, payload, prev)
        assert row is not None
        try:
            by_sealer: bytes | None = journal.entry_hash(prev, row)
        except ValueError:
            by_sealer = None
        if (by_sealer is None) != row["uncanonical"] or (by_sealer is not None and by_sealer != row["by_database"]):
            disagreements.append(f"seed {seed} case {case}: {row['recorded_at']!r} {texts!r} {row['payload']!r}")
        hashed += by_sealer is not None
    assert disagreements == []
    assert hashed > CASES // 2  # most have a canonical form: the comparison is of hashes, not of refusals


async def test_every_character_is_escaped_alike(conn: db.Conn) -> None:
    """Every code point of the BMP but U+0000 and the surrogates, and one in 61 beyond with each plane's first and last,
    as a text and as a key: the database writes what msgspec does."""
    beyond = {*range(0x10000, 0x110000, 61), *range(0x10000, 0x110000, 0x10000), *range(0x1FFFF, 0x110000, 0x10000)}
    codes = [code for code in range(1, 0x10000) if not 0xD800 <= code <= 0xDFFF] + sorted(beyond)
    differ: list[int] = []
    for first in range(0, len(codes), 100_000):
        rows = await conn.fetch(
            "SELECT c, journal_canonical_json(jsonb_build_object(chr(c), jsonb_build_array(chr(c)))) AS written"
            "  FROM unnest($1::int[]) AS c",
            codes[first : first + 100_000],
        )
        differ += [row["c"] for row in rows if row["written"].encode() != canonical({chr(row["c"]): [chr(row["c"])]})]
    assert differ == []


ENTRY = (
    "WITH e AS (INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)"
    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING entry_id)"
    " INSERT INTO journal_pending (entry_id) SELECT entry_id FROM e RETURNING entry_id"
)


async def test_the_sealer_links_random_entries_through_the_databases_check(conn: db.Conn) -> None:
    """The same random entries written and sealed: every link passes ``journal_link_follows_chain``'s one query.

    The trigger writes the canonical form in its own query (migration 20261201090000), not by calling
    ``journal_entry_hash()``: none is refused (none waits in the queue), those with no canonical form are set aside.
    """
    rng = random.Random(SEEDS[0])  # noqa: S311  # seeded: a failure reruns
    written = 0
    for case in range(CASES):
        if case % 50 == 0:
            await conn.execute(f"SET TIME ZONE '{rng.choice(ZONES)}'")
        payload = _value(rng)
        texts = [_text(rng, 12) for _ in range(4)]
        prev = rng.randbytes(32) if rng.randrange(2) else GENESIS
        del prev  # drawn as the test above draws it: the same entries
        await conn.execute(ENTRY, _moment(rng), *texts, [None] if payload is None else payload)
        written += 1
    await journal.seal(conn)
    assert await conn.fetchval("SELECT count(*) FROM journal_pending") == 0
    unsealable = await conn.fetchval(
        "SELECT count(*) FROM journal_entry WHERE action = $1 AND actor = $2",
        journal.UNSEALABLE_ACTION,
        journal.SEALER_ACTOR,
    )
    # each entry linked but those set aside, each of those replaced by its journal.unsealable entry, linked
    assert await conn.fetchval("SELECT count(*) FROM journal_link") == written
    assert 0 < unsealable < written // 2
    result = await journal.verify(conn, state="AT")
    assert not result.intact  # the entries set aside are named: the first of them
    assert result.kind == "entry-unsealable"
