"""Store functions for customs checks (sql/queries/checks.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "find_licence_for_check",
    "get_customs_check",
    "insert_check_decision",
    "insert_check_serials",
    "insert_cleared_serials",
    "insert_customs_check",
    "insert_passage_tally",
    "list_check_lines",
    "list_checks_by_licence",
    "list_checks_by_serial",
    "list_serial_facts",
]


async def get_customs_check(conn: Conn, check_id: uuid.UUID) -> asyncpg.Record | None:
    """A recorded check with its decision."""
    return await conn.fetchrow(Q["get_customs_check"], check_id)


async def find_licence_for_check(
    conn: Conn, issuing_state: str, number: str, state: str, today: dt.date
) -> asyncpg.Record | None:
    """The licence, locked ``FOR UPDATE``, with this State's transit consent on it."""
    return await conn.fetchrow(Q["find_licence_for_check"], issuing_state, number, state, today)


async def list_check_lines(
    conn: Conn, licence_id: uuid.UUID, issuing_state: str, number: str, movement: str
) -> list[asyncpg.Record]:
    """Lines with the export ledger's debits and this State's tally for ``movement``."""
    return await conn.fetch(Q["list_check_lines"], licence_id, issuing_state, number, movement)


async def list_serial_facts(
    conn: Conn, issuing_state: str, number: str, movement: str, serials: list[str], state: str
) -> list[asyncpg.Record]:
    """Per normalised serial: ``passed``, ``reported``, ``unmarked``."""
    return await conn.fetch(Q["list_serial_facts"], issuing_state, number, movement, serials, state)


async def insert_customs_check(
    conn: Conn,
    check_id: uuid.UUID,
    fingerprint: bytes,
    movement: str,
    issuing_state: str,
    licence_number: str,
    crossing_point: str,
    shipment_id: str | None,
    request: Any,
    verdict: str,
    answer: Any,
    checked_at: dt.datetime,
    checked_by: str,
) -> bool:
    """Record a check; ``False`` when a check with this id exists already."""
    inserted = await conn.fetchval(
        Q["insert_customs_check"],
        check_id,
        fingerprint,
        movement,
        issuing_state,
        licence_number,
        crossing_point,
        shipment_id,
        request,
        verdict,
        answer,
        checked_at,
        checked_by,
    )
    return inserted is not None


async def insert_check_serials(conn: Conn, check_id: uuid.UUID, serials: list[str]) -> None:
    """The serials a check presented."""
    await conn.execute(Q["insert_check_serials"], check_id, serials)


async def insert_cleared_serials(
    conn: Conn,
    issuing_state: str,
    number: str,
    movement: str,
    check_id: uuid.UUID,
    lines: list[int],
    serials: list[str],
) -> None:
    """Serials that cleared (a repeat violates ``cleared_serial_pkey``)."""
    await conn.execute(Q["insert_cleared_serials"], issuing_state, number, movement, check_id, lines, serials)


async def insert_passage_tally(
    conn: Conn,
    check_id: uuid.UUID,
    issuing_state: str,
    number: str,
    movement: str,
    lines: list[int],
    quantities: list[int],
) -> None:
    """What passed here per line."""
    await conn.execute(Q["insert_passage_tally"], check_id, issuing_state, number, movement, lines, quantities)


async def insert_check_decision(
    conn: Conn, check_id: uuid.UUID, decision: str, reason: str, decided_at: dt.datetime, decided_by: str
) -> bool:
    """An officer's decision; ``False`` when the check was decided already."""
    return (
        await conn.fetchval(Q["insert_check_decision"], check_id, decision, reason, decided_at, decided_by) is not None
    )


async def list_checks_by_licence(
    conn: Conn, issuing_state: str, number: str, before: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """Checks of a licence, newest first."""
    at, check_id = before if before else (None, None)
    return await conn.fetch(Q["list_checks_by_licence"], issuing_state, number, at, check_id, limit)


async def list_checks_by_serial(
    conn: Conn, serial: str, before: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """Checks that presented a (normalised) serial, newest first."""
    at, check_id = before if before else (None, None)
    return await conn.fetch(Q["list_checks_by_serial"], serial, at, check_id, limit)
