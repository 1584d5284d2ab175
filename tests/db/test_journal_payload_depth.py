"""A payload the sealer cannot read cannot stop it (README "The journal"; migrations 20261130184000 and 184100).

asyncpg decodes a payload with msgspec, which gives up on JSON nested about a thousand levels deep, and on a number
beyond what a float or Python's integer conversion holds. An entry written directly by someone with the service's
role, its payload 3,000 arrays deep (6 kB) or holding such a number, made every run of the sealer fail as it read its
batch, and every ``journal verify`` (which seals first) with it: the sealer cannot set aside an entry it cannot read.
The table refuses such a payload; what it takes, the sealer and the database's own check agree on.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from firearms import db, journal
from firearms.canonical import canonical
from tests.db.test_journal import write_entries
from tests.db.test_journal_unsealable import INSIDER_ENTRY, unlinked


def nested(levels: int, inner: str = "1") -> str:
    """A payload whose innermost value is ``levels`` levels below it."""
    return "[" * levels + inner + "]" * levels


async def intact(conn: db.Conn) -> None:
    for since_checkpoint in (False, True):
        result = await journal.verify(conn, state="AT", since_checkpoint=since_checkpoint)
        assert result.intact, result.problem


@pytest.mark.parametrize("levels", [journal.MAX_PAYLOAD_DEPTH + 1, 3000])
async def test_a_payload_nested_deeper_than_the_sealer_reads_is_refused_and_the_journal_seals_on(
    service: db.Conn, levels: int
) -> None:
    await write_entries(service, 2)
    entries = await service.fetchval("SELECT count(*) FROM journal_entry")
    with pytest.raises(asyncpg.CheckViolationError, match="journal_entry_payload_depth_check"):
        await service.fetchval(INSIDER_ENTRY, dt.datetime.now(dt.UTC), nested(levels))
    assert await service.fetchval("SELECT count(*) FROM journal_entry") == entries
    await journal.seal(service)
    assert await unlinked(service) == 0
    await intact(service)


@pytest.mark.parametrize(
    "number",
    [
        "1" + "0" * 400 + ".5",  # a fraction past the largest float: msgspec's "Number out of range"
        "-" + "9" * 309 + ".25",
        "1" + "0" * 4300,  # an integer of more digits than Python converts: "Integer value out of range"
        "1e300",  # the bound: PostgreSQL writes it back as 301 digits
    ],
)
async def test_a_payload_number_the_sealer_cannot_read_is_refused_and_the_journal_seals_on(
    service: db.Conn, number: str
) -> None:
    await write_entries(service, 2)
    entries = await service.fetchval("SELECT count(*) FROM journal_entry")
    with pytest.raises(asyncpg.CheckViolationError, match="journal_entry_payload_number_check"):
        await service.fetchval(INSIDER_ENTRY, dt.datetime.now(dt.UTC), f'{{"n": [{number}]}}')
    assert await service.fetchval("SELECT count(*) FROM journal_entry") == entries
    await journal.seal(service)
    assert await unlinked(service) == 0
    await intact(service)


async def test_a_number_under_the_bound_is_read_and_set_aside_not_a_stop(service: db.Conn) -> None:
    """What the table takes the sealer reads: an integer of 300 digits, a fraction of 1e299, set aside and named."""
    bad = [
        await service.fetchval(INSIDER_ENTRY, dt.datetime.now(dt.UTC), f'{{"n": {number}}}')
        for number in ("9" * 300, "-" + "9" * 299 + ".5")
    ]
    await write_entries(service, 1)
    await journal.seal(service)
    assert await service.fetchval("SELECT count(*) FROM journal_pending") == 0
    aside = await service.fetch(
        "SELECT entity_id FROM journal_entry WHERE action = $1 ORDER BY entry_id", journal.UNSEALABLE_ACTION
    )
    assert [row["entity_id"] for row in aside] == [str(entry_id) for entry_id in bad]
    result = await journal.verify(service, state="AT")
    assert (result.intact, result.bad_entry_id) == (False, bad[0])
    assert result.problem is not None
    assert "no canonical form" in result.problem


async def test_the_deepest_payload_the_table_takes_is_sealed(service: db.Conn) -> None:
    deepest: int = await service.fetchval(INSIDER_ENTRY, dt.datetime.now(dt.UTC), nested(journal.MAX_PAYLOAD_DEPTH))
    empty: int = await service.fetchval(
        INSIDER_ENTRY, dt.datetime.now(dt.UTC), nested(journal.MAX_PAYLOAD_DEPTH + 1, "")
    )
    await journal.seal(service)
    linked = await service.fetchval("SELECT count(*) FROM journal_link WHERE entry_id IN ($1, $2)", deepest, empty)
    assert linked == 2
    await intact(service)


async def test_record_refuses_a_payload_the_table_would_refuse(service: db.Conn) -> None:
    """The change itself fails, with the rule, before the database is asked (as a float does)."""
    payload: object = 1
    for _ in range(journal.MAX_PAYLOAD_DEPTH + 1):
        payload = [payload]
    with pytest.raises(ValueError, match="nested more than 64 levels"):
        await journal.record(
            service, actor="insider", action="thing.made", entity="thing", entity_id="x", payload=payload
        )
    assert await service.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'thing.made'") == 0


# Payloads as someone with the service's role may write them; the sealer sets aside exactly those the database's
# check (journal_payload_has_no_canonical_form, which lets such an entry leave the sealer's queue) says have no
# canonical form: PostgreSQL writes numbers back without an exponent, and keeps a fraction's digits (1.0, 1e-400).
PAYLOADS = [
    '{"n": 1e2}',
    '{"n": -0}',
    '{"n": -0.0}',
    '{"n": 1.0}',
    '{"n": 1E+2}',
    '{"n": 1e-400}',
    '{"n": 1e400}',
    '{"n": 9007199254740991}',
    '{"n": -9007199254740991}',
    '{"n": 9007199254740992}',
    '{"n": -9007199254740992}',
    '{"n": 100000000000000000000}',
    "1.5",
    "7",
    '"1.5"',
    '{"1.5": true}',
    "[[[[1.5]]]]",
    '[[], {}, [[{"a": [2]}]]]',
    '{"a": [{"b": [{"c": 0.5}]}]}',
    nested(journal.MAX_PAYLOAD_DEPTH),
    nested(journal.MAX_PAYLOAD_DEPTH, "2.5"),
]


@pytest.mark.parametrize("payload", PAYLOADS)
async def test_the_sealer_and_the_database_agree_on_which_payloads_have_no_canonical_form(
    service: db.Conn, payload: str
) -> None:
    in_sql: bool = await service.fetchval("SELECT journal_payload_has_no_canonical_form($1::text::jsonb)", payload)
    stored = await service.fetchval("SELECT $1::text::jsonb", payload)
    try:
        canonical(stored)
    except ValueError:
        in_python = True
    else:
        in_python = False
    assert in_sql == in_python
