"""An officer's decision on a held customs check (DESIGN §5): a release takes what a clear takes; a refusal, nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import asyncpg
import msgspec

from firearms import journal, ledger
from firearms.check_records import CheckAnswer, CheckRecord, Decision, get_check
from firearms.check_rules import POLICY, CheckRequest, LicenceView, Reason, RecordsView, evaluate
from firearms.checks import (
    already_passed,
    cleared_serials,
    customs_document,
    exhaust,
    licence_view,
    locked_context,
    partner_reports,
    serial_keys,
)
from firearms.errors import ConflictError, NotFoundError
from firearms.exchange import hooks
from firearms.serials import normalise
from firearms.store import checks as store

if TYPE_CHECKING:
    import datetime as dt
    import uuid
    from collections.abc import Iterable

    from firearms.db import Conn

__all__ = ["decide"]

_NO_RECORDS = RecordsView(passed=frozenset(), reported=frozenset(), unmarked_imports=frozenset())
# Holds on the consignment's own serials. A release would record the serials as presented -- a misread
# one, or too few -- so the firearm's real serial would never be marked as passed and could pass again.
_SERIAL_HOLDS = frozenset({"serial-not-on-licence", "serial-count-mismatch", "serials-missing"})
"""A release re-judges the licence, not the serials: the officer saw those, and the database refuses a second clear.

Except a serial reported lost or stolen here since the hold, or at entry registered here unmarked since, which the
officer never saw (:func:`_require_nothing_new_since`)."""


async def decide(
    conn: Conn, check_id: uuid.UUID, decision: Decision, reason: str, *, state: str, time_zone: dt.tzinfo, actor: str
) -> CheckRecord:
    """An officer releases a held check (it then debits as a clear would) or refuses it.

    The licence's row is locked first (as by a check, a status change or an amendment) and the decision
    dated then; a release judges the licence again on that date in ``time_zone``, the registry's.

    Raises:
        NotFoundError: no such check.
        ConflictError: ``check-not-held`` (it was clear or refused, or decided already);
            ``quantity-exceeds-balance`` (``line``, ``remaining``) / ``serial-already-passed`` (``serials``, cleared
            by another check since the hold) when a release no longer fits;
            ``licence-not-usable`` when a check now would be refused for the licence itself
            (suspended, revoked, expired, out of its validity, consent withdrawn, a line a later version dropped, or
            the import authorisation it names no longer in force: ``import-not-authorised``);
            ``serials-need-correction`` when it was held for its serials (not on the licence, too few,
            none): such a check is refused and the consignment checked again with the serials as read;
            ``item-reported-lost-or-stolen`` when a serial was reported lost or stolen here since the hold;
            ``import-marking-missing`` when, at entry, a firearm with a serial of it is held here without the
            import marking since the hold.
    """
    row = await store.get_customs_check(conn, check_id)
    if row is None:
        raise NotFoundError(f"no check {check_id}", check_id=str(check_id))
    if row["verdict"] != "hold" or row["decision"] is not None:
        raise ConflictError(
            f"check {check_id} is {row['decision'] or row['verdict']}: only a held check awaits a decision",
            code="check-not-held",
            verdict=row["verdict"],
            decision=row["decision"],
        )
    request = msgspec.convert(row["request"], CheckRequest)
    held = msgspec.convert(row["answer"], CheckAnswer).reasons
    # The licence's lock first, as a check, a status change and an amendment take it: the decision is
    # dated once it holds it, so a release that waited for a reinstatement is not dated before it. The
    # serials' facts are read as a check reads them (after the items' locks: a report in flight commits first).
    context, precise, today = await locked_context(conn, request, state, serial_keys(request), time_zone, None)
    now = precise.replace(microsecond=0)
    if context["licence_id"] is None:  # a held check always named a known licence
        raise NotFoundError(f"licence {request.licence_number} is gone", licence_number=request.licence_number)
    # The decision before anything is taken: a concurrent decision on the same check (it waited for the
    # licence's lock behind this one) finds check_decision_pkey taken before it could clear, tally or debit.
    if not await store.insert_check_decision(conn, check_id, decision, reason, now, actor):
        decided = await store.get_customs_check(conn, check_id)  # the decision that won, committed meanwhile
        raise ConflictError(
            f"check {check_id} was decided already",
            code="check-not-held",
            verdict=row["verdict"],
            decision=decided["decision"] if decided is not None else None,
        )
    view = await licence_view(conn, request, context, state)
    if decision == "release":
        _require_releasable(request, view, state=state, on=today)
        _require_nothing_new_since(request, held, context["facts"] or [], "reported")
        if serial_keys(request):
            _require_no_partner_report_since(request, held, await partner_reports(conn, request, context["licence_id"]))
        if request.movement == "import":
            _require_nothing_new_since(request, held, context["facts"] or [], "unmarked")
        _require_nothing_passed_since(request, context["facts"] or [])
        await _release(conn, request, context["licence_id"], view, actor)
    # The decision is the check's outcome: a transit State reports it as it reported the hold (a release
    # clears, a refusal gives the reasons it was held for); a released exit or entry check is the dispatch
    # or the receipt.
    await hooks.after_check(
        conn,
        request,
        view,
        verdict="clear" if decision == "release" else "refuse",
        reasons=[] if decision == "release" else [item.code for item in held],
        checked_at=now,
        checked_on=today,
        own_state=state,
        actor=actor,
    )
    await journal.record(
        conn,
        actor=actor,
        action=f"check.{'released' if decision == 'release' else 'refused'}",
        entity="customs_check",
        entity_id=str(check_id),
        payload=_decision_payload(row, reason, decision),
    )
    return await get_check(conn, check_id)


def _decision_payload(row: asyncpg.Record, reason: str, decision: Decision) -> dict[str, object]:
    """The decision's journal entry: a release names what it took, as a clear's entry does (a hold took nothing)."""
    request = row["request"]
    return {
        "reason": reason,
        "verdict": row["verdict"],
        "movement": row["movement"],
        "licence_number": row["licence_number"],
        "issuing_state": row["issuing_state"],
        # what the release took: the ledger debits at export, this State's tally in transit and at import
        "lines": [
            {"line": item["line"], "quantity": item["quantity"], "serials": list(item.get("serials", []))}
            for item in request["lines"]
        ]
        if decision == "release"
        else [],
    }


def _require_releasable(request: CheckRequest, view: LicenceView, *, state: str, on: dt.date) -> None:
    """A release takes what a clear would: only while the balance and the licence still allow it, serials as read."""
    for item in request.lines:
        line = view.lines.get(item.line)
        if line is None:
            continue  # a later version dropped the line: line-not-on-licence below, not a balance used up
        left = line.remaining
        if item.quantity > left:
            raise ConflictError(
                f"line {item.line} has {left} left; the held consignment needs {item.quantity}",
                code="quantity-exceeds-balance",
                line=item.line,
                remaining=left,
            )
    judged = evaluate(request, view, _NO_RECORDS, state=state, on=on)
    refusals = [reason for reason in judged if POLICY[reason.code] == "refuse"]
    if refusals:  # revoked, suspended, expired... since the check: a clear now would be refused
        raise ledger.LicenceNotUsableError(
            f"the licence no longer allows this movement: {'; '.join(reason.detail for reason in refusals)}",
            reasons=[reason.code for reason in refusals],
        )
    misread = [reason for reason in judged if reason.code in _SERIAL_HOLDS]
    if misread:
        raise ConflictError(
            "the consignment's serials do not match the licence ("
            + "; ".join(reason.detail for reason in misread)
            + "): refuse this check and check the consignment again with the serials as read on the items",
            code="serials-need-correction",
            reasons=[reason.code for reason in misread],
        )


# What a release refuses when it appeared here since the hold: (the serial's fact in check_context, the code, what)
_SINCE_THE_HOLD = {
    # Protocol Art. 11: a firearm reported stolen is stopped, not passed
    "reported": ("item-reported-lost-or-stolen", "reported lost or stolen here"),
    # Art. 8(1)(b), at entry only: a firearm imported is marked with the country of import (or exempt, made here)
    "unmarked": ("import-marking-missing", "registered here without this State's import marking"),
}


def _require_nothing_new_since(
    request: CheckRequest, held: list[Reason], facts: list[asyncpg.Record], fact: Literal["reported", "unmarked"]
) -> None:
    """A release lets through only what the officer saw: no serial ``fact`` here since the hold.

    The hold named every serial reported lost or stolen then (``item-reported-lost-or-stolen``) and, at entry,
    every firearm held here without this State's import marking (``import-marking-missing``), and the officer
    decided on those. One that became so after the hold (a report since; a firearm registered unmarked since, or
    no longer exempt as made here and exported) was never before the officer, so the release is refused and the
    officer refuses the check (or checks the consignment again, which holds it with what is new).

    Raises:
        ConflictError: ``item-reported-lost-or-stolen`` or ``import-marking-missing`` — ``serials`` (as presented)
            new since the hold.
    """
    code, what = _SINCE_THE_HOLD[fact]
    _require_none_named_since(request, held, code, what, {row["serial"] for row in facts if row[fact]})


def _require_none_named_since(
    request: CheckRequest, held: list[Reason], code: str, what: str, named: Iterable[str]
) -> None:
    """Refuse a release that would let through a serial ``named`` now (normalised) that the hold did not name ``code``.

    Raises:
        ConflictError: ``code`` — ``serials`` (as presented) named since the hold.
    """
    seen = {normalise(reason.serial) for reason in held if reason.code == code and reason.serial}
    new = set(named) - seen
    since = [serial for item in request.lines for serial in item.serials if normalise(serial) in new]
    if since:
        raise ConflictError(
            f"{what} since the check was held: {', '.join(since)}; refuse the check", code=code, serials=since
        )


def _require_no_partner_report_since(request: CheckRequest, held: list[Reason], reported: dict[str, str]) -> None:
    """A release lets through no serial a partner reported lost or stolen since the hold (Art. 11-12).

    As for this registry's own reports (:func:`_require_nothing_new_since`): a serial the hold named
    ``reported-missing-by-partner`` was before the officer; one a partner reported since was not.

    Raises:
        ConflictError: ``reported-missing-by-partner`` — ``serials`` (as presented) reported since the hold.
    """
    _require_none_named_since(
        request, held, "reported-missing-by-partner", "reported lost or stolen by a partner", reported.keys()
    )


def _require_nothing_passed_since(request: CheckRequest, facts: list[asyncpg.Record]) -> None:
    """A release clears no serial that another check cleared here for this movement since the hold (DESIGN §5).

    ``cleared_serial_pkey`` refuses it anyway; this names the serials, as presented, so that the officer knows which
    firearm already passed (the bare constraint's answer named none).

    Raises:
        ConflictError: ``serial-already-passed`` — ``serials`` (as presented) cleared since the hold.
    """
    passed = {fact["serial"] for fact in facts if fact["passed"]}
    since = [serial for item in request.lines for serial in item.serials if normalise(serial) in passed]
    if since:
        raise ConflictError(
            f"already cleared here for this movement since the check was held: {', '.join(since)}; refuse the check",
            code="serial-already-passed",
            serials=since,
        )


async def _release(conn: Conn, request: CheckRequest, licence_id: uuid.UUID, view: LicenceView, actor: str) -> None:
    """A released check takes what a clear would have taken."""
    cleared = cleared_serials(request)
    if cleared:
        try:
            await store.insert_cleared_serials(
                conn,
                request.issuing_state,
                request.licence_number,
                request.movement,
                request.check_id,
                [line for line, _ in cleared],
                [serial for _, serial in cleared],
            )
        except asyncpg.UniqueViolationError as exc:
            raise already_passed() from exc
    if request.movement == "export":
        left = {number: line.remaining for number, line in view.lines.items()}
        for item in request.lines:
            left[item.line] -= item.quantity
        await ledger.debit_lines(
            conn,
            licence_id=licence_id,
            debits=[(item.line, item.quantity, list(item.serials)) for item in request.lines],
            check_id=request.check_id,
            customs_document=customs_document(request),
            actor=actor,
        )
        if not any(left.values()):
            await exhaust(conn, licence_id, request.check_id, actor)
    else:
        await store.insert_passage_tally(
            conn,
            request.check_id,
            request.issuing_state,
            request.licence_number,
            request.movement,
            [item.line for item in request.lines],
            [item.quantity for item in request.lines],
        )
