"""The quantity ledger of licences (DESIGN §3): issued quantities and append-only debits.

Per line: balance = issued quantity - sum(debits). A licence whose every line reaches zero becomes
``exhausted`` (through :func:`firearms.licences.transition`). The customs-check issue calls
:func:`debit` inside its own transaction; the licence row is locked ``FOR UPDATE`` first, so
concurrent debits of one licence are serialised by the database and never go below zero.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import msgspec

from firearms import journal, licences
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.serials import normalise
from firearms.store import ledger as store
from firearms.store import licences as licence_store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn

__all__ = [
    "BalanceExceededError",
    "LedgerEntry",
    "LicenceNotUsableError",
    "LineBalance",
    "SerialNotOnLicenceError",
    "SerialsIncompleteError",
    "UnknownLineError",
    "balances",
    "debit",
    "debit_lines",
    "list_entries",
    "passage_balances",
]


class LicenceNotUsableError(ConflictError):
    """The licence is not ``issued``, or today is outside its validity: nothing may be debited."""

    code = "licence-not-usable"


class BalanceExceededError(ConflictError):
    """The debit would take a line below zero (facts: ``line``, ``requested``, ``remaining``)."""

    code = "quantity-exceeds-balance"


class SerialsIncompleteError(ConflictError):
    """A firearm line is used before its serials are complete (Reg. 258/2012 Art. 8(1)(h))."""

    code = "serials-incomplete"


class SerialNotOnLicenceError(ConflictError):
    """A debited serial is not on the line (facts: ``line``, ``serials``)."""

    code = "serial-not-on-licence"


class UnknownLineError(InvalidInputError):
    """The licence has no such line."""

    code = "line-unknown"


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


async def debit(
    conn: Conn,
    *,
    licence_id: uuid.UUID,
    line: int,
    quantity: int,
    serials: list[str],
    check_id: uuid.UUID,
    customs_document: str,
    actor: str,
    today: dt.date,
) -> int:
    """Debit ``quantity`` (and for firearms the ``serials``) from one line; return the line's remaining balance.

    Call inside the caller's transaction. Locks the licence row (``FOR UPDATE``), so concurrent
    debits never pass the balance. The last debit that brings every line to zero makes the licence
    ``exhausted``. A firearm line must carry complete serials, and the debit names exactly
    ``quantity`` of them, each on the line and not debited before. ``today`` is the registry's date
    (:func:`firearms.clock.today`), which must lie within the licence's validity.

    Raises:
        NotFoundError: no such licence.
        LicenceNotUsableError: not issued, or today outside its validity.
        UnknownLineError: no such line; InvalidInputError ``invalid-quantity`` for quantity < 1.
        SerialsIncompleteError, SerialNotOnLicenceError: serial rules for firearm lines.
        BalanceExceededError: more than the remaining balance.
        ConflictError: ``check-already-debited``, ``serial-already-debited``.
    """
    # No request reaches line-unknown, invalid-quantity or serials-incomplete: a customs check debits through
    # debit_lines once firearms.check_rules judged the consignment (a line the licence lacks is the verdict reason
    # line-not-on-licence, a serial of a line without serials serial-not-on-licence, a quantity below 1 a 400 of
    # the check's body). They guard this entry point's other callers (tests/db/test_ledger.py).
    if quantity < 1:
        raise InvalidInputError("a debit is at least 1", code="invalid-quantity", quantity=quantity)
    row = await licence_store.get_licence_for_update(conn, licence_id)
    if row is None:
        raise NotFoundError(f"no licence {licence_id}", licence_id=str(licence_id))
    now = dt.datetime.now(dt.UTC)
    if row["status"] != "issued" or not row["valid_from"] <= today <= row["expires_on"]:
        raise LicenceNotUsableError(
            f"licence {row['number']} is {row['status']}, valid {row['valid_from']} to {row['expires_on']}",
            status=row["status"],
            number=row["number"],
        )
    lines = {item["line"]: item for item in await store.get_licence_lines(conn, licence_id)}
    current = lines.get(line)
    if current is None:
        raise UnknownLineError(f"licence {row['number']} has no line {line}", line=line)
    keys = _check_serials(current, quantity, serials)
    remaining: int = current["quantity"] - current["debited"]
    if quantity > remaining:
        raise BalanceExceededError(
            f"line {line} has {remaining} left; {quantity} requested",
            line=line,
            requested=quantity,
            remaining=remaining,
        )
    entry_id = await store.insert_ledger_entry(
        conn, licence_id, line, quantity, list(serials), check_id, customs_document, now, actor
    )
    if keys:
        await store.insert_ledger_serials(conn, licence_id, line, entry_id, keys)
    await journal.record(
        conn,
        actor=actor,
        action="ledger.debited",
        entity="licence",
        entity_id=str(licence_id),
        payload={
            "ledger_entry_id": entry_id,
            "line": line,
            "quantity": quantity,
            "serials": list(serials),
            "check_id": str(check_id),
            "customs_document": customs_document,
            "remaining": remaining - quantity,
        },
    )
    others_left = any(item["quantity"] - item["debited"] > 0 for number, item in lines.items() if number != line)
    if remaining - quantity == 0 and not others_left:
        await licences.transition(
            conn,
            licence_id=licence_id,
            to="exhausted",
            actor=actor,
            reason=f"every line reached zero (check {check_id})",
        )
    return remaining - quantity


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
    """
    rows = [
        {"line": line, "quantity": quantity, "serials": serials, "keys": [normalise(s) for s in serials]}
        for line, quantity, serials in debits
    ]
    await store.insert_ledger_debits(conn, licence_id, rows, check_id, customs_document, dt.datetime.now(dt.UTC), actor)


def _check_serials(current: asyncpg.Record, quantity: int, serials: list[str]) -> list[str]:
    """The normalised serials of a debit, after the firearm-line rules."""
    keys = [normalise(serial) for serial in serials]
    if len(set(keys)) != len(keys):
        raise InvalidInputError("a serial is named twice in one debit", code="duplicate-serial", line=current["line"])
    on_line = {normalise(serial) for serial in current["serials"]}
    if current["category"] == "firearm":
        if len(on_line) != current["quantity"]:
            raise SerialsIncompleteError(
                f"line {current['line']} lists {len(on_line)} serials for {current['quantity']} firearms",
                line=current["line"],
            )
        if len(keys) != quantity:
            raise InvalidInputError(
                f"a firearm debit names one serial per firearm ({quantity} expected, {len(keys)} given)",
                code="serial-count-mismatch",
                line=current["line"],
            )
    if keys and on_line:
        missing = [serial for serial, key in zip(serials, keys, strict=True) if key not in on_line]
        if missing:
            raise SerialNotOnLicenceError(
                f"serials not on line {current['line']}: {', '.join(missing)}", line=current["line"], serials=missing
            )
    return keys


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
