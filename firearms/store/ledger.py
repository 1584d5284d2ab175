"""Store functions for the quantity ledger (sql/queries/ledger.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from firearms.db import QUERIES as Q
from firearms.errors import ConflictError

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    from firearms.db import Conn

__all__ = [
    "get_licence_lines",
    "get_licence_lines_passed",
    "insert_ledger_debits",
    "list_debited_serials",
    "list_ledger_entries",
]


async def get_licence_lines(conn: Conn, licence_id: uuid.UUID) -> list[asyncpg.Record]:
    """The current lines of a licence with the sum debited from each (``debited``)."""
    return await conn.fetch(Q["get_licence_lines"], licence_id)


async def get_licence_lines_passed(
    conn: Conn, licence_id: uuid.UUID, issuing_state: str, number: str, movement: str
) -> list[asyncpg.Record]:
    """A partner's licence's current lines with what passed here for ``movement`` (``debited``)."""
    return await conn.fetch(Q["get_licence_lines_passed"], licence_id, issuing_state, number, movement)


async def list_debited_serials(conn: Conn, licence_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every serial debited under a licence (normalised), with its ``line``."""
    return await conn.fetch(Q["list_debited_serials"], licence_id)


async def list_ledger_entries(conn: Conn, licence_id: uuid.UUID, after: int, limit: int) -> list[asyncpg.Record]:
    """A page of a licence's debits in order."""
    return await conn.fetch(Q["list_ledger_entries"], licence_id, after, limit)


async def insert_ledger_debits(
    conn: Conn,
    licence_id: uuid.UUID,
    debits: list[dict[str, object]],
    check_id: uuid.UUID,
    customs_document: str,
    recorded_at: dt.datetime,
    recorded_by: str,
) -> None:
    """Several debits of one check in one statement (``line``, ``quantity``, ``serials``, ``keys`` each).

    Raises:
        ConflictError: by constraint: ``serial-already-debited`` (``ledger_serial_pkey``), ``check-already-debited``
            (``ledger_entry_check_line_key``) or ``quantity-exceeds-balance`` (``ledger_entry_balance_check``, the
            balance trigger). Any other violation (a quantity below 1, a line the licence lacks) is raised as it is:
            the caller's own rules let none through.
    """
    try:
        await conn.execute(
            Q["insert_ledger_debits"], licence_id, debits, check_id, customs_document, recorded_at, recorded_by
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "ledger_serial_pkey":
            raise ConflictError(
                "a serial was already debited under this licence", code="serial-already-debited"
            ) from exc
        if exc.constraint_name == "ledger_entry_check_line_key":
            raise ConflictError("this check already debited the line", code="check-already-debited") from exc
        raise
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name == "ledger_entry_balance_check":
            raise ConflictError("the debit exceeds the line's balance", code="quantity-exceeds-balance") from exc
        raise
