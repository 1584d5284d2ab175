from __future__ import annotations

import asyncio
import uuid

import asyncpg
import msgspec
import pytest

from firearms import bootstrap, db, ledger, licence_reads, licence_versions, licences
from firearms.errors import ConflictError, InvalidInputError
from firearms.settings import Settings
from tests.changes import changes
from tests.licensing_helpers import ACTOR, TODAY, export_draft, issued_export, register_parties


async def _debit(conn: db.Conn, licence_id: uuid.UUID, line: int, quantity: int, serials: list[str]) -> int:
    async with conn.transaction():
        return await ledger.debit(
            conn,
            licence_id=licence_id,
            line=line,
            quantity=quantity,
            serials=serials,
            check_id=uuid.uuid4(),
            customs_document="ATC-1",
            actor=ACTOR,
            today=TODAY,
        )


async def test_debits_reduce_balance_and_exhaust_the_licence(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    assert lic.status == "issued"
    assert await _debit(conn, lic.licence_id, 2, 300, []) == 500
    assert await _debit(conn, lic.licence_id, 1, 1, ["ssg08 001"]) == 1
    balances = await ledger.balances(conn, lic.licence_id)
    assert [(b.line, b.issued, b.debited, b.remaining) for b in balances] == [(1, 2, 1, 1), (2, 800, 300, 500)]
    assert await _debit(conn, lic.licence_id, 2, 500, []) == 0
    assert (await licence_reads.get_licence(conn, lic.licence_id)).status == "issued"
    assert await _debit(conn, lic.licence_id, 1, 1, ["SSG08-002"]) == 0
    assert (await licence_reads.get_licence(conn, lic.licence_id)).status == "exhausted"
    total = await conn.fetchval("SELECT sum(quantity) FROM ledger_entry WHERE licence_id = $1", lic.licence_id)
    assert total == 802


async def test_debit_refuses_to_go_below_zero_and_stores_nothing(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    with pytest.raises(ledger.BalanceExceededError) as caught:
        await _debit(conn, lic.licence_id, 2, 801, [])
    assert caught.value.facts == {"line": 2, "requested": 801, "remaining": 800}
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 0


async def test_firearm_serial_rules_on_debit(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    with pytest.raises(ledger.SerialNotOnLicenceError):
        await _debit(conn, lic.licence_id, 1, 1, ["XX-999"])
    with pytest.raises(InvalidInputError) as caught:
        await _debit(conn, lic.licence_id, 1, 1, [])
    assert caught.value.code == "serial-count-mismatch"
    await _debit(conn, lic.licence_id, 1, 1, ["SSG08-001"])
    with pytest.raises(ConflictError) as again:
        await _debit(conn, lic.licence_id, 1, 1, ["SSG08-001"])
    assert again.value.code == "serial-already-debited"
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 1


async def test_same_check_never_debits_a_line_twice(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    check_id = uuid.uuid4()
    async with conn.transaction():
        await ledger.debit(
            conn,
            licence_id=lic.licence_id,
            line=2,
            quantity=5,
            serials=[],
            check_id=check_id,
            customs_document="D",
            actor=ACTOR,
            today=TODAY,
        )
    with pytest.raises(ConflictError) as caught:
        async with conn.transaction():
            await ledger.debit(
                conn,
                licence_id=lic.licence_id,
                line=2,
                quantity=5,
                serials=[],
                check_id=check_id,
                customs_document="D",
                actor=ACTOR,
                today=TODAY,
            )
    assert caught.value.code == "check-already-debited"


async def test_concurrent_debits_never_pass_the_balance(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    pool = await db.create_pool(database, max_size=8)

    async def one() -> bool:
        async with pool.acquire() as c, c.transaction():
            try:
                await ledger.debit(
                    c,
                    licence_id=lic.licence_id,
                    line=2,
                    quantity=100,
                    serials=[],
                    check_id=uuid.uuid4(),
                    customs_document="D",
                    actor=ACTOR,
                    today=TODAY,
                )
            except ledger.BalanceExceededError:
                return False
            return True

    try:
        results = await asyncio.gather(*(one() for _ in range(12)))
    finally:
        await pool.close()
    assert results.count(True) == 8
    assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry WHERE line = 2") == 800


async def test_ledger_entries_are_append_only(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    await _debit(conn, lic.licence_id, 2, 1, [])
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE ledger_entry SET quantity = 0")
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("DELETE FROM ledger_entry")


async def test_debit_refused_on_suspended_licence(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    async with conn.transaction():
        await licences.transition(conn, licence_id=lic.licence_id, to="suspended", actor=ACTOR, reason="inquiry")
    with pytest.raises(ledger.LicenceNotUsableError):
        await _debit(conn, lic.licence_id, 2, 1, [])


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
    await _debit(conn, lic.licence_id, 1, 1, ["SSG08-001"])
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
    assert await _debit(conn, lic.licence_id, 1, 1, ["SSG08-020"]) == 0
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
    await _debit(conn, lic.licence_id, 1, 1, ["SSG08-001"])
    await _debit(conn, lic.licence_id, 2, 300, [])
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


async def test_a_suspended_licence_amended_down_to_its_debits_is_exhausted_when_reinstated(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    lic = await issued_export(conn, settings, p)
    await _debit(conn, lic.licence_id, 1, 2, ["SSG08-001", "SSG08-002"])
    await _debit(conn, lic.licence_id, 2, 300, [])
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


@pytest.mark.parametrize(
    ("line", "quantity", "code", "facts"),
    [
        (3, 1, "line-unknown", {"line": 3}),
        (2, 0, "invalid-quantity", {"quantity": 0}),
        (2, -5, "invalid-quantity", {"quantity": -5}),
    ],
)
async def test_a_debit_of_a_line_the_licence_lacks_or_of_less_than_one_is_refused_and_stores_nothing(
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
    line: int,
    quantity: int,
    code: str,
    facts: dict[str, int],
) -> None:
    # No request reaches these codes: a customs check debits through debit_lines once check_rules judged the
    # consignment (a line the licence lacks is the verdict reason line-not-on-licence; a quantity below 1 is a
    # 400 invalid-request of the check's body). Only ledger.debit, the ledger's own entry point, refuses them.
    lic = await issued_export(conn, settings, await register_parties(conn))
    before = await changes(conn)
    with pytest.raises(InvalidInputError) as caught:
        await _debit(conn, lic.licence_id, line, quantity, [])
    assert (caught.value.code, caught.value.facts) == (code, facts)
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 0
    assert await changes(conn) == before


async def test_a_firearm_line_without_its_serials_is_refused_serials_incomplete_and_stores_nothing(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # No request reaches it either: a check presenting a serial of such a line holds it serial-not-on-licence.
    p = await register_parties(conn)
    line = export_draft(p).lines[0]
    lic = await issued_export(conn, settings, p, lines=[msgspec.structs.replace(line, serials=[])])
    before = await changes(conn)
    with pytest.raises(ConflictError) as caught:
        await _debit(conn, lic.licence_id, 1, 1, ["SSG08-001"])
    assert (caught.value.code, caught.value.facts) == ("serials-incomplete", {"line": 1})
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 0
    assert await changes(conn) == before
