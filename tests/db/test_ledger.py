"""The quantity ledger (DESIGN §3) on the paths that write it.

Customs checks debit it: a clear export check through :func:`firearms.checks.perform_check` (its own statement),
a released held check through :func:`firearms.ledger.debit_lines`. The invariants live in the database (the
balance trigger, ``ledger_entry_check_line_key``, ``ledger_serial_pkey``) and hold for whoever writes, so they
are tested on ``debit_lines`` without the licence's lock the checks take. Append-only: the catalogue sweep
(tests/db/test_append_only_sweep.py) refuses every change to ``ledger_entry`` and ``ledger_serial``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import asyncpg
import msgspec
import pytest

from firearms import bootstrap, db, ledger, licence_reads, licence_versions, licences
from firearms.errors import ConflictError
from firearms.serials import normalise
from firearms.settings import Settings
from tests.changes import changes
from tests.check_helpers import clear_at_export
from tests.licensing_helpers import ACTOR, export_draft, issued_export, register_parties


async def _debit_lines(
    conn: db.Conn, licence_id: uuid.UUID, debits: list[tuple[int, int, list[str]]], check_id: uuid.UUID | None = None
) -> None:
    async with conn.transaction():
        await ledger.debit_lines(
            conn,
            licence_id=licence_id,
            debits=debits,
            check_id=check_id or uuid.uuid4(),
            customs_document="ATC-1",
            actor=ACTOR,
        )


async def _refused(
    conn: db.Conn, licence_id: uuid.UUID, debits: list[tuple[int, int, list[str]]], check_id: uuid.UUID | None = None
) -> str:
    """The code of the conflict ``debit_lines`` raised; nothing was stored or journaled."""
    before = await changes(conn), await _entries(conn)
    with pytest.raises(ConflictError) as caught:
        await _debit_lines(conn, licence_id, debits, check_id)
    assert (await changes(conn), await _entries(conn)) == before
    return caught.value.code


async def _entries(conn: db.Conn) -> tuple[int, int]:
    row = await conn.fetchrow("SELECT (SELECT count(*) FROM ledger_entry), (SELECT count(*) FROM ledger_serial)")
    assert row is not None
    return row[0], row[1]


async def test_export_checks_debit_the_ledger_and_the_one_that_takes_the_last_line_to_zero_exhausts_it(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    number = lic.licence.number
    first = await clear_at_export(conn, number, [{"line": 2, "quantity": 300}])
    assert first.licence is not None
    assert [(line.line, line.remaining) for line in first.licence.lines] == [(1, 2), (2, 500)]
    await clear_at_export(conn, number, [{"line": 1, "quantity": 1, "serials": ["ssg08 001"]}])
    balances = await ledger.balances(conn, lic.licence_id)
    assert [(b.line, b.issued, b.debited, b.remaining) for b in balances] == [(1, 2, 1, 1), (2, 800, 300, 500)]
    # one line at zero, the other not: still issued
    await clear_at_export(conn, number, [{"line": 2, "quantity": 500}])
    assert (await licence_reads.get_licence(conn, lic.licence_id)).status == "issued"
    last = await clear_at_export(conn, number, [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}])
    assert last.licence is not None
    assert last.licence.status == "exhausted"
    assert (await licence_reads.get_licence(conn, lic.licence_id)).status == "exhausted"
    assert [b.remaining for b in await ledger.balances(conn, lic.licence_id)] == [0, 0]
    total = await conn.fetchval("SELECT sum(quantity) FROM ledger_entry WHERE licence_id = $1", lic.licence_id)
    assert total == 802
    serials = await conn.fetch("SELECT serial FROM ledger_serial WHERE licence_id = $1 ORDER BY serial", lic.licence_id)
    assert [row[0] for row in serials] == [normalise("SSG08-001"), normalise("SSG08-002")]


async def test_the_database_refuses_a_debit_past_the_balance_and_stores_none_of_the_checks_lines(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    await _debit_lines(conn, lic.licence_id, [(2, 500, [])])
    # line 1 fits; line 2 passes its balance by one: the balance trigger refuses the statement, line 1 included
    code = await _refused(conn, lic.licence_id, [(1, 1, ["SSG08-001"]), (2, 301, [])])
    assert code == "quantity-exceeds-balance"
    balances = await ledger.balances(conn, lic.licence_id)
    assert [(b.line, b.debited, b.remaining) for b in balances] == [(1, 0, 2), (2, 500, 300)]
    await _debit_lines(conn, lic.licence_id, [(1, 1, ["SSG08-001"]), (2, 300, [])])
    assert [b.remaining for b in await ledger.balances(conn, lic.licence_id)] == [1, 0]


async def test_the_database_refuses_a_serial_debited_twice_under_a_licence_in_any_spelling(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    await _debit_lines(conn, lic.licence_id, [(1, 1, ["SSG08-001"])])
    assert await _refused(conn, lic.licence_id, [(1, 1, ["ssg08 001"])]) == "serial-already-debited"
    assert [b.debited for b in await ledger.balances(conn, lic.licence_id)] == [1, 0]


async def test_the_database_refuses_a_check_debiting_a_line_twice(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    check_id = uuid.uuid4()
    await _debit_lines(conn, lic.licence_id, [(2, 5, [])], check_id)
    assert await _refused(conn, lic.licence_id, [(2, 5, [])], check_id) == "check-already-debited"
    assert [b.debited for b in await ledger.balances(conn, lic.licence_id)] == [0, 5]


async def test_the_database_refuses_a_debit_of_less_than_one_or_of_a_line_the_licence_lacks_as_what_it_is(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # A check's body refuses a quantity below 1 (400) and its rules a line the licence lacks (line-not-on-licence);
    # for any other writer the table does, by constraint, and the store does not call either a balance conflict.
    lic = await issued_export(conn, settings, await register_parties(conn))
    before = await changes(conn), await _entries(conn)
    with pytest.raises(asyncpg.CheckViolationError) as small:
        await _debit_lines(conn, lic.licence_id, [(2, 0, [])])
    assert small.value.constraint_name == "ledger_entry_quantity_check"
    with pytest.raises(asyncpg.ForeignKeyViolationError) as unknown:
        await _debit_lines(conn, lic.licence_id, [(3, 1, [])])
    assert unknown.value.constraint_name == "ledger_entry_line_fkey"
    assert (await changes(conn), await _entries(conn)) == before


async def test_concurrent_debits_never_pass_the_balance_even_without_the_licence_lock(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # The checks lock the licence row first (tests/e2e/test_check_race.py races 200 of them over HTTP); the balance
    # trigger locks the line, so a writer that does not still never takes it below zero.
    lic = await issued_export(conn, settings, await register_parties(conn))
    pool = await db.create_pool(database, max_size=8)

    async def one() -> str:
        """``debited``, or the code of the conflict that refused the debit."""
        async with pool.acquire() as c:
            try:
                await _debit_lines(c, lic.licence_id, [(2, 100, [])])
            except ConflictError as refused:
                return refused.code
            return "debited"

    try:
        results = await asyncio.gather(*(one() for _ in range(12)))
    finally:
        await pool.close()
    assert Counter(results) == {"debited": 8, "quantity-exceeds-balance": 4}
    assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry WHERE line = 2") == 800


async def test_database_refuses_debits_past_the_issued_quantity_whoever_writes(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    insert = """INSERT INTO ledger_entry (licence_id, line, quantity, check_id, customs_document, recorded_at,
                                          recorded_by)
                VALUES ($1, 2, $2, gen_random_uuid(), 'D', now(), 'sql')"""
    await conn.execute(insert, lic.licence_id, 800)
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        await conn.execute(insert, lic.licence_id, 1)
    assert caught.value.constraint_name == "ledger_entry_balance_check"
    with pytest.raises(asyncpg.CheckViolationError) as lowered:
        await conn.execute("UPDATE licence_line SET quantity = 799 WHERE licence_id = $1 AND line = 2", lic.licence_id)
    assert lowered.value.constraint_name == "licence_line_debited_check"
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("DELETE FROM licence_line WHERE licence_id = $1 AND line = 2", lic.licence_id)


async def test_amendment_corrects_an_undebited_serial_but_never_drops_a_debited_one(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    lic = await issued_export(conn, settings, p)
    await clear_at_export(conn, lic.licence.number, [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}])
    rifles, cartridges = export_draft(p).lines
    # SSG08-002 was misread and never left: correcting it keeps every debited serial
    corrected = msgspec.structs.replace(rifles, serials=["SSG08-001", "SSG08-020"])
    async with conn.transaction():
        amended = await licence_versions.amend(
            conn,
            lic.licence_id,
            export_draft(p, reason="serial misread", lines=[corrected, cartridges]),
            settings=settings,
            actor=ACTOR,
        )
    assert amended.version == 2
    assert amended.licence.lines[0].serials == ["SSG08-001", "SSG08-020"]
    answer = await clear_at_export(conn, lic.licence.number, [{"line": 1, "quantity": 1, "serials": ["SSG08-020"]}])
    assert answer.licence is not None
    assert [(line.line, line.remaining) for line in answer.licence.lines] == [(1, 0), (2, 800)]
    # dropping the debited SSG08-001 is refused, and nothing is stored
    dropped = msgspec.structs.replace(rifles, serials=["SSG08-020", "SSG08-021"])
    with pytest.raises(ConflictError) as caught:
        async with conn.transaction():
            await licence_versions.amend(
                conn,
                lic.licence_id,
                export_draft(p, reason="drop", lines=[dropped, cartridges]),
                settings=settings,
                actor=ACTOR,
            )
    assert caught.value.code == "quantity-below-debited"
    assert await conn.fetchval("SELECT count(*) FROM licence_version WHERE licence_id = $1", lic.licence_id) == 2


async def test_amendment_down_to_what_was_debited_exhausts_the_licence(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    lic = await issued_export(conn, settings, p)
    await clear_at_export(
        conn, lic.licence.number, [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 300}]
    )
    rifles, cartridges = export_draft(p).lines
    # the second rifle and the other cartridges will not be shipped: nothing is left to use
    fewer = [
        msgspec.structs.replace(rifles, quantity=1, serials=["SSG08-001"]),
        msgspec.structs.replace(cartridges, quantity=300),
    ]
    async with conn.transaction():
        amended = await licence_versions.amend(
            conn,
            lic.licence_id,
            export_draft(p, reason="partly cancelled", lines=fewer),
            settings=settings,
            actor=ACTOR,
        )
    assert amended.version == 2
    assert amended.status == "exhausted"
    assert [b.remaining for b in await ledger.balances(conn, lic.licence_id)] == [0, 0]
    events = await licence_reads.list_events(conn, lic.licence_id, after=0, limit=10)
    assert [(e.from_status, e.to_status, e.version) for e in events][-1] == ("issued", "exhausted", 2)
    # exhausted is final: the lines are not raised again to bring it back (a new licence is issued instead)
    with pytest.raises(ConflictError) as caught:
        async with conn.transaction():
            await licence_versions.amend(
                conn, lic.licence_id, export_draft(p, reason="shipped after all"), settings=settings, actor=ACTOR
            )
    assert (caught.value.code, caught.value.facts["licence_status"]) == ("licence-not-amendable", "exhausted")
    after = await licence_reads.get_licence(conn, lic.licence_id)
    assert (after.status, after.version) == ("exhausted", 2)


async def test_a_suspended_licence_amended_down_to_its_debits_is_exhausted_when_reinstated(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    lic = await issued_export(conn, settings, p)
    await clear_at_export(
        conn,
        lic.licence.number,
        [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}, {"line": 2, "quantity": 300}],
    )
    async with conn.transaction():
        await licences.transition(conn, licence_id=lic.licence_id, to="suspended", actor=ACTOR, reason="inquiry")
    rifles, cartridges = export_draft(p).lines
    fewer = [rifles, msgspec.structs.replace(cartridges, quantity=300)]
    async with conn.transaction():
        amended = await licence_versions.amend(
            conn, lic.licence_id, export_draft(p, reason="rest cancelled", lines=fewer), settings=settings, actor=ACTOR
        )
    assert amended.status == "suspended"
    async with conn.transaction():
        reinstated = await licences.transition(
            conn, licence_id=lic.licence_id, to="issued", actor=ACTOR, reason="cleared", settings=settings
        )
    assert reinstated.status == "exhausted"
    events = await licence_reads.list_events(conn, lic.licence_id, after=0, limit=10)
    assert [(e.from_status, e.to_status) for e in events][-2:] == [("suspended", "issued"), ("issued", "exhausted")]
