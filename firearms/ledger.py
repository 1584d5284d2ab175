"""The quantity ledger of licences (DESIGN §3): issued quantities and append-only debits.

Per line: balance = issued quantity - sum(debits). Customs checks are what debit it: a clear export check in
its own statement (:func:`firearms.checks.perform_check`), a released held check through :func:`debit_lines`;
both lock the licence row first, and the one that brings every line to zero makes the licence ``exhausted``
(:func:`firearms.checks.exhaust`). The database holds the invariants for any writer: the balance trigger
(``ledger_entry_balance_check``) never lets a line go below zero, ``ledger_serial_pkey`` never lets a serial
be debited twice under a licence, ``ledger_entry_check_line_key`` never lets a check debit a line twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import msgspec

from firearms.errors import ConflictError
from firearms.serials import normalise
from firearms.store import ledger as store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn

__all__ = [
    "LedgerEntry",
    "LicenceNotUsableError",
    "LineBalance",
    "balances",
    "debit_lines",
    "list_entries",
    "passage_balances",
]


class LicenceNotUsableError(ConflictError):
    """A held check's release the licence no longer allows (:mod:`firearms.check_decisions`): nothing is taken."""

    code = "licence-not-usable"


class LineBalance(msgspec.Struct, frozen=True, kw_only=True):
    """One line's balance: ``remaining = issued - debited``."""

    line: int
    category: str
    issued: int
    debited: int
    remaining: int


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One debit of the ledger."""

    ledger_entry_id: int
    line: int
    quantity: int
    serials: list[str]
    check_id: uuid.UUID
    customs_document: str
    recorded_at: dt.datetime
    recorded_by: str


def _balance(row: asyncpg.Record) -> LineBalance:
    return LineBalance(
        line=row["line"],
        category=row["category"],
        issued=row["quantity"],
        debited=row["debited"],
        # What passed here in transit or at import can exceed a line a later version lowered: nothing remains.
        remaining=max(0, row["quantity"] - row["debited"]),
    )


async def balances(conn: Conn, licence_id: uuid.UUID) -> list[LineBalance]:
    """Every line's issued quantity, sum of debits and remaining balance, by line number."""
    return [_balance(row) for row in await store.get_licence_lines(conn, licence_id)]


async def passage_balances(
    conn: Conn, licence_id: uuid.UUID, *, issuing_state: str, number: str, movement: str
) -> list[LineBalance]:
    """A partner's licence's lines against this State's own tally for ``movement`` (``transit`` or ``import``).

    DESIGN §5: transit and importing States keep their own tally of what passed; it is what their checks
    judge a line's remainder by, so it is the remaining balance ``GET /verify`` answers there (``debited``:
    what passed here).
    """
    rows = await store.get_licence_lines_passed(conn, licence_id, issuing_state, number, movement)
    return [_balance(row) for row in rows]


async def debit_lines(
    conn: Conn,
    *,
    licence_id: uuid.UUID,
    debits: list[tuple[int, int, list[str]]],
    check_id: uuid.UUID,
    customs_document: str,
    actor: str,
) -> None:
    """Debit several lines for one customs check whose caller already holds the licence lock.

    The customs check has locked the licence row and checked status, validity, lines, balances and
    serials; this writes all its debits in one statement (the balance trigger still guards) and
    leaves journaling to the caller's own entry for the check. ``debits`` are (line, quantity, serials).

    Raises:
        ConflictError: ``quantity-exceeds-balance`` (the balance trigger), ``serial-already-debited``
            (``ledger_serial_pkey``, serials compared normalised) or ``check-already-debited``
            (``ledger_entry_check_line_key``); the statement then wrote nothing.
    """
    rows = [
        {"line": line, "quantity": quantity, "serials": serials, "keys": [normalise(s) for s in serials]}
        for line, quantity, serials in debits
    ]
    await store.insert_ledger_debits(conn, licence_id, rows, check_id, customs_document, dt.datetime.now(dt.UTC), actor)


async def list_entries(conn: Conn, licence_id: uuid.UUID, *, after: int, limit: int) -> list[LedgerEntry]:
    """A page of a licence's debits, oldest first."""
    return [
        LedgerEntry(
            ledger_entry_id=row["ledger_entry_id"],
            line=row["line"],
            quantity=row["quantity"],
            serials=list(row["serials"]),
            check_id=row["check_id"],
            customs_document=row["customs_document"],
            recorded_at=row["recorded_at"],
            recorded_by=row["recorded_by"],
        )
        for row in await store.list_ledger_entries(conn, licence_id, after, limit)
    ]
