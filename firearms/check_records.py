"""Recorded customs checks (DESIGN §5): the answer a check gives, and the checks as officers and auditors read them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from firearms.check_rules import CheckRequest, Movement, Reason, Verdict
from firearms.errors import NotFoundError
from firearms.serials import normalise
from firearms.store import checks as store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn

__all__ = [
    "CheckAnswer",
    "CheckRecord",
    "Decision",
    "LicenceSummary",
    "LineRemaining",
    "check_record",
    "entry_for_shipment",
    "get_check",
    "list_by_licence",
    "list_by_serial",
]

Decision = Literal["release", "refuse"]


class LineRemaining(msgspec.Struct, frozen=True, kw_only=True):
    """What remains on one line after the check (export: the ledger; transit, import: this State's tally)."""

    line: int
    remaining: int


class LicenceSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The licence as the check saw it."""

    number: str
    issuing_state: str
    status: str
    expires_on: dt.date
    lines: list[LineRemaining]


class CheckAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of ``POST /api/v1/checks`` (DESIGN §5)."""

    check_id: uuid.UUID
    verdict: Verdict
    reasons: list[Reason]
    licence: LicenceSummary | None
    checked_at: dt.datetime


class CheckRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded check: its answer, its movement, and an officer's decision if it was held."""

    check_id: uuid.UUID
    movement: Movement
    crossing_point: str
    checked_by: str
    request: dict[str, Any]
    """The consignment as presented: the licence number and State, lines, serials, shipment, customs document.

    As it was recorded, not converted again: a check recorded under earlier input rules (say a value the
    rules of a later release refuse) must still be shown.
    """
    recorded_at: dt.datetime
    """When the check was recorded, to the microsecond (the answer's ``checked_at`` has whole seconds)."""
    answer: CheckAnswer
    decision: Decision | None
    decision_reason: str | None
    decided_at: dt.datetime | None
    decided_by: str | None


def check_record(row: asyncpg.Record) -> CheckRecord:
    """A check as its row records it."""
    return CheckRecord(
        check_id=row["check_id"],
        movement=row["movement"],
        crossing_point=row["crossing_point"],
        checked_by=row["checked_by"],
        request=row["request"],
        recorded_at=row["checked_at"],
        answer=msgspec.convert(row["answer"], CheckAnswer),
        decision=row["decision"],
        decision_reason=row["decision_reason"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"],
    )


async def get_check(conn: Conn, check_id: uuid.UUID) -> CheckRecord:
    """A recorded check.

    Raises:
        NotFoundError: no such check.
    """
    row = await store.get_customs_check(conn, check_id)
    if row is None:
        raise NotFoundError(f"no check {check_id}", check_id=str(check_id))
    return check_record(row)


async def entry_for_shipment(
    conn: Conn, issuing_state: str, number: str, shipment_id: str
) -> tuple[CheckRequest, dt.datetime] | None:
    """The entry check that let a shipment into this State, and when (Art. 10(4): what a receipt confirmation rests on).

    A held check let the shipment in when it was released: the day its release confirmed as ``received_on``.
    """
    row = await store.find_cleared_entry_check(conn, issuing_state, number, shipment_id)
    if row is None:
        return None
    return msgspec.convert(row["request"], CheckRequest), row["let_in_at"]


async def list_by_licence(
    conn: Conn, issuing_state: str, number: str, *, before: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[CheckRecord]:
    """Checks of one licence, newest first."""
    return [check_record(row) for row in await store.list_checks_by_licence(conn, issuing_state, number, before, limit)]


async def list_by_serial(
    conn: Conn, serial: str, *, before: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[CheckRecord]:
    """Checks that presented a serial (matched in normalised form), newest first."""
    return [check_record(row) for row in await store.list_checks_by_serial(conn, normalise(serial), before, limit)]
