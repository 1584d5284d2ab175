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
    "find_cleared_entry_check",
    "get_check_context",
    "get_customs_check",
    "insert_check_decision",
    "insert_cleared_serials",
    "insert_passage_tally",
    "list_checks_by_licence",
    "list_checks_by_serial",
    "record_customs_check",
]


async def get_customs_check(conn: Conn, check_id: uuid.UUID) -> asyncpg.Record | None:
    """A recorded check with its decision."""
    return await conn.fetchrow(Q["get_customs_check"], check_id)


async def get_check_context(
    conn: Conn, issuing_state: str, number: str, state: str, today: dt.date, movement: str, serials: list[str]
) -> asyncpg.Record:
    """The licence (locked; ``licence_id`` NULL when unknown), its ``lines`` and the serials' ``facts``."""
    row = await conn.fetchrow(Q["get_check_context"], issuing_state, number, state, today, movement, serials)
    assert row is not None  # noqa: S101  # the function always returns one row
    return row


async def list_authorisation_cover(
    conn: Conn, issuing_state: str, number: str, licence_id: uuid.UUID, movement: str
) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, int]]:
    """What an import authorisation authorises and what passed under the export licences drawn on it.

    The first, by category (a category it omits is absent); the second, what already passed at ``movement`` under
    every other export licence while a version naming it was in force, by category, by licence number; the third,
    what passed so under the licence ``licence_id`` itself, by category.
    """
    rows = await conn.fetch(Q["list_authorisation_cover"], issuing_state, number, licence_id, movement)
    authorised = {row["category"]: int(row["authorised"]) for row in rows if row["authorised"]}
    elsewhere = {
        row["category"]: {licence: int(quantity) for licence, quantity in row["elsewhere"].items()}
        for row in rows
        if row["elsewhere"]
    }
    here = {row["category"]: int(row["here"]) for row in rows if row["here"]}
    return authorised, elsewhere, here


async def record_customs_check(
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
    presented: list[str],
    cleared: list[tuple[int, str]],
    tally: list[tuple[int, int]],
    licence_id: uuid.UUID | None,
    debits: list[dict[str, Any]],
    customs_document: str,
    journal_at: dt.datetime,
    journal_payload: Any,
) -> bool:
    """Record a check with its serials, cleared serials, tally, debits and journal entry.

    ``False`` when the check_id exists (nothing was written).

    Raises:
        asyncpg.UniqueViolationError: ``cleared_serial_pkey`` — a serial cleared before.
        asyncpg.CheckViolationError: ``ledger_entry_balance_check`` — a debit past a balance.
    """
    inserted = await conn.fetchval(
        Q["record_customs_check"],
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
        presented,
        [line for line, _ in cleared],
        [serial for _, serial in cleared],
        [line for line, _ in tally],
        [quantity for _, quantity in tally],
        licence_id,
        debits,
        customs_document,
        journal_at,
        journal_payload,
    )
    return inserted is not None


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


async def find_cleared_entry_check(
    conn: Conn, issuing_state: str, number: str, shipment_id: str
) -> asyncpg.Record | None:
    """The first import check here that let the shipment in."""
    return await conn.fetchrow(Q["find_cleared_entry_check"], issuing_state, number, shipment_id)


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
