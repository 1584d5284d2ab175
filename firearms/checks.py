"""Customs checks (DESIGN §5; Protocol Art. 10-11): a consignment against its authorisation.

At exit, in transit and at import: a verdict and reasons, recorded in one transaction.

A check locks the licence row it names, so concurrent checks of one licence take turns and never
debit past a balance; a serial is cleared at most once per licence and movement by a primary key.
``clear`` at export debits the licence's quantity ledger; in transit and at import it adds to this
State's own tally. ``hold`` and ``refuse`` record the check and debit nothing. The same ``check_id``
with the same request gives back the first answer unchanged; with another request it is a conflict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
import msgspec

from firearms import clock, journal, ledger, licences, received
from firearms.canonical import canonical
from firearms.check_rules import (
    POLICY,
    CheckRequest,
    LicenceView,
    LineView,
    Movement,
    Reason,
    RecordsView,
    Verdict,
    evaluate,
    verdict_of,
)
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.exchange import hooks
from firearms.licence_rules import asks_more_of_transit
from firearms.serials import normalise
from firearms.store import checks as store
from firearms.store import licences as licence_store
from firearms.text_rules import is_padded

if TYPE_CHECKING:
    from firearms.db import Conn

__all__ = [
    "CheckAnswer",
    "CheckRecord",
    "Decision",
    "LicenceSummary",
    "LineRemaining",
    "decide",
    "entry_for_shipment",
    "get_check",
    "list_by_licence",
    "list_by_serial",
    "perform_check",
]

Decision = Literal["release", "refuse"]
_NO_RECORDS = RecordsView(passed=frozenset(), reported=frozenset(), unmarked_imports=frozenset())
# Holds on the consignment's own serials. A release would record the serials as presented -- a misread
# one, or too few -- so the firearm's real serial would never be marked as passed and could pass again.
_SERIAL_HOLDS = frozenset({"serial-not-on-licence", "serial-count-mismatch", "serials-missing"})
"""A release re-judges the licence, not the serials: the officer saw those, and the database refuses a second clear.

Except a serial reported lost or stolen here since the hold, which the officer never saw
(:func:`_require_nothing_reported_since`)."""


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


def fingerprint(request: CheckRequest) -> bytes:
    """SHA-256 of the request's canonical form: what makes two requests "the same" for idempotency."""
    return hashlib.sha256(canonical(msgspec.to_builtins(request))).digest()


def _check_record(row: asyncpg.Record) -> CheckRecord:
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


async def _replay(conn: Conn, request: CheckRequest, digest: bytes) -> CheckAnswer | None:
    row = await store.get_customs_check(conn, request.check_id)
    if row is None:
        return None
    if row["fingerprint"] != digest:
        raise ConflictError(
            f"check {request.check_id} was already recorded with a different request",
            code="check-id-conflict",
            check_id=str(request.check_id),
        )
    return msgspec.convert(row["answer"], CheckAnswer)


def _serial_keys(request: CheckRequest) -> list[str]:
    return list(dict.fromkeys(normalise(serial) for item in request.lines for serial in item.serials))


async def perform_check(
    conn: Conn,
    request: CheckRequest,
    *,
    state: str,
    time_zone: dt.tzinfo,
    actor: str,
    now: dt.datetime | None = None,
) -> CheckAnswer:
    """Check a consignment and record the check, in the caller's transaction (DESIGN §5).

    Two statements: one reads (locks the licence, then reads its balances and the serials' facts in
    fresh snapshots), one writes (the check, its serials, the debits or tally, the journal entry).
    The check is dated when it holds the licence's lock (after any status change it waited for), and
    the licence's validity is judged on that date in ``time_zone``, the registry's.

    Raises:
        InvalidInputError: ``padded-value`` — the licence number, shipment id or customs document has white
            space around it;
            ``duplicate-line`` or ``duplicate-serial`` — the consignment names a line,
            or a serial (in normalised form), twice; ``invalid-serial`` — a serial without letters or
            digits (as a licence refuses it); ``serials-not-allowed`` — it gives serials on an
            ammunition line of the licence.
        ConflictError: ``check-id-conflict`` — the ``check_id`` was used for another request;
            ``serial-already-passed`` or ``quantity-exceeds-balance`` if a writer outside the checks
            took the serial or the balance between our read and our write.
    """
    _require_unpadded(request)
    _require_distinct(request)
    digest = fingerprint(request)
    keys = _serial_keys(request)
    context, precise, today = await _locked_context(conn, request, state, keys, time_zone, now)
    moment = precise.replace(microsecond=0)  # the answer speaks in whole seconds, as the protocol does
    view = await _view(conn, request, context, state) if context["licence_id"] is not None else None
    if view is not None:
        try:
            _require_no_ammunition_serials(request, view)
        except InvalidInputError:
            # A retry of a recorded check answers the first answer, whatever the licence became since (a
            # later version made the line ammunition); another request under its check_id is the conflict.
            replayed = await _replay(conn, request, digest)
            if replayed is None:
                raise
            return replayed
    facts = context["facts"] or []
    records = RecordsView(
        passed=frozenset(fact["serial"] for fact in facts if fact["passed"]),
        reported=frozenset(fact["serial"] for fact in facts if fact["reported"]),
        unmarked_imports=frozenset(fact["serial"] for fact in facts if fact["unmarked"]),
    )
    reasons = evaluate(request, view, records, state=state, on=today)
    verdict = verdict_of(reasons)
    cleared = verdict == "clear" and view is not None
    remaining = {number: line.remaining for number, line in view.lines.items()} if view else {}
    if cleared:
        for item in request.lines:
            remaining[item.line] -= item.quantity
    exhausted = cleared and request.movement == "export" and not any(remaining.values())
    answer = CheckAnswer(
        check_id=request.check_id,
        verdict=verdict,
        reasons=reasons,
        licence=None
        if view is None
        else LicenceSummary(
            number=request.licence_number,
            issuing_state=request.issuing_state,
            status="exhausted" if exhausted else view.status,
            expires_on=view.expires_on,
            lines=[LineRemaining(line=line, remaining=left) for line, left in sorted(remaining.items())],
        ),
        checked_at=moment,
    )
    recorded = await _record_check(
        conn, request, digest, answer, keys, actor, context["licence_id"], cleared=cleared, recorded_at=precise
    )
    if not recorded:
        # The check_id exists: a replay (the first answer) or a conflict. Nothing was written.
        replayed = await _replay(conn, request, digest)
        if replayed is None:
            raise ConflictError(f"check {request.check_id} could not be recorded", code="check-id-conflict")
        return replayed
    if exhausted:
        await _exhaust(conn, context["licence_id"], request.check_id, actor)
    if view is not None:
        await hooks.after_check(
            conn,
            request,
            view,
            verdict=verdict,
            reasons=[reason.code for reason in reasons],
            checked_at=moment,
            checked_on=today,
            own_state=state,
            actor=actor,
        )
    return answer


async def _locked_context(
    conn: Conn,
    request: CheckRequest,
    state: str,
    keys: list[str],
    time_zone: dt.tzinfo,
    now: dt.datetime | None,
) -> tuple[asyncpg.Record, dt.datetime, dt.date]:
    """The check's context read under the licence's lock, the time once the lock is held, and that day.

    Dated once the lock is held, not when the request came in: a check or a decision that waited for a
    suspension or a reinstatement to commit judged the licence after it, and its time (the row's, the
    answer's, a dispatch notice's) must not come before that status change. If midnight passed while it
    waited, the context is read again for the new day: a transit consent's last day is judged on the day
    of the check. ``now`` (tests) stands for the clock.
    """
    today = clock.local_date(now or dt.datetime.now(dt.UTC), time_zone)
    context = await store.get_check_context(
        conn, request.issuing_state, request.licence_number, state, today, request.movement, keys
    )
    precise = now or dt.datetime.now(dt.UTC)
    if clock.local_date(precise, time_zone) != today:
        today = clock.local_date(precise, time_zone)
        context = await store.get_check_context(
            conn, request.issuing_state, request.licence_number, state, today, request.movement, keys
        )
    return context, precise, today


def _require_unpadded(request: CheckRequest) -> None:
    """The licence number, the shipment id and the customs document are identifiers: padded, they name nothing.

    A scanner that sends a trailing blank would otherwise get a recorded ``refuse`` (``licence-unknown``)
    for a licence that exists, a dispatch under a shipment id no partner uses, and a ledger debit and a
    ``receipt.confirmed`` under a customs document (an MRN) that matches no declaration. White space is the
    registry's one definition (:data:`firearms.text_rules.SPACE_CHARACTERS`), as for every record field;
    serials are held to it in :func:`_require_distinct`.
    """
    for field, value in (
        ("licence_number", request.licence_number),
        ("shipment_id", request.shipment_id),
        ("customs_document", request.customs_document),
    ):
        if value is not None and is_padded(value):
            raise InvalidInputError(
                f"{field} has leading or trailing white space; identifiers are refused, never trimmed",
                code="padded-value",
                field=field,
            )


def _require_distinct(request: CheckRequest) -> None:
    """Each line and each serial (normalised) at most once in a consignment; a serial has a letter or a digit, unpadded.

    The rules judge every line alone against its balance, and a cleared serial is recorded once per
    licence and movement: a repeat would pass a balance, or fail as if the serial had passed before.
    """
    lines: set[int] = set()
    for item in request.lines:
        if item.line in lines:
            raise InvalidInputError(f"line {item.line} appears twice", code="duplicate-line", line=item.line)
        lines.add(item.line)
    keys: set[str] = set()
    for item in request.lines:
        for serial in item.serials:
            if not any(character.isalnum() for character in serial):
                # "-" or "n/a" written for a serial that cannot be read: in normalised form every one of them
                # is the empty string, which would clear once and then refuse every later one as passed.
                raise InvalidInputError(
                    f"serial {serial!r} has no letters or digits", code="invalid-serial", line=item.line, serial=serial
                )
            if is_padded(serial):
                # a serial ending in a no-break space was a hold (serial-not-on-licence), one ending in a blank
                # cleared: padding is refused, never trimmed, as in a registration
                raise InvalidInputError(
                    f"serial {serial!r} has leading or trailing white space; serials are refused, never trimmed",
                    code="padded-value",
                    field="serial",
                    line=item.line,
                    serial=serial,
                )
            key = normalise(serial)
            if key in keys:
                raise InvalidInputError(
                    f"serial {serial} appears twice (serials are compared in normalised form)",
                    code="duplicate-serial",
                    line=item.line,
                    serial=serial,
                )
            keys.add(key)


def _require_no_ammunition_serials(request: CheckRequest, view: LicenceView) -> None:
    """Ammunition lines carry no serials (a lot is described instead), at the border as on the licence.

    The rules compare serials on firearm lines only; a serial given on an ammunition line would clear
    unchecked and be recorded as passed, and the firearm that bears it would then be refused.
    """
    for item in request.lines:
        line = view.lines.get(item.line)
        if item.serials and line is not None and line.category == "ammunition":
            raise InvalidInputError(
                f"line {item.line} is ammunition: it carries no serials (a lot is described instead)",
                code="serials-not-allowed",
                line=item.line,
            )


async def _view(conn: Conn, request: CheckRequest, context: asyncpg.Record, state: str) -> LicenceView:
    """The licence as the check judges it: the current version's lines, each with what remains for this movement.

    In transit and at import what passed here can exceed a line a later version lowered (the issuing State's
    ledger counts its own exits, not this State's passages): nothing remains then, never less than nothing, and
    the next check of that line is ``quantity-exceeds-balance``.
    """
    used = "debited" if request.movement == "export" else "passed"
    gap = await _consent_gap(conn, request, context, state) if request.movement == "transit" else None
    return LicenceView(
        number=request.licence_number,
        issuing_state=request.issuing_state,
        kind=context["kind"],
        status=context["status"],
        valid_from=context["valid_from"],
        expires_on=context["expires_on"],
        exporting_state=context["exporting_state"],
        importing_state=context["importing_state"],
        transit_states=tuple(context["transit_states"]),
        lines={
            line["line"]: LineView(
                line=line["line"],
                category=line["category"],
                quantity=line["quantity"],
                remaining=max(0, line["quantity"] - line[used]),
                serials=frozenset(normalise(serial) for serial in line["serials"]),
            )
            for line in context["lines"]
        },
        transit_consent=context["transit_consent"] and gap is None,
        consent_gap=gap,
    )


async def _consent_gap(conn: Conn, request: CheckRequest, context: asyncpg.Record, state: str) -> str | None:
    """What the licence's current version asks of this transit State beyond the version its consent answers.

    Protocol Art. 10(2)(b); Reg. 258/2012 Art. 7: a transit State consents to the content it was shown. A
    later version received from the issuing State is covered when it asks nothing more (less of anything, a
    corrected description: :func:`firearms.licence_rules.asks_more_of_transit`); otherwise the consent to
    the earlier version does not let it pass. ``None`` when covered, or when there is no consent to judge.
    Two reads, only when the licence moved on past the consented version.
    """
    consented: int | None = context["consent_version"]
    if not context["transit_consent"] or consented is None or consented >= context["version"]:
        return None
    before = await licence_store.get_licence_version(conn, context["licence_id"], consented)
    after = await licence_store.get_licence_version(conn, context["licence_id"], context["version"])
    # a version asked about as an amendment of the issued licence and never issued itself is held only in
    # the request that carried it
    answered = (
        before["content"]
        if before is not None
        else await received.requested_content(conn, request.issuing_state, request.licence_number, consented)
    )
    if answered is None or after is None:
        return f"version {context['version']} cannot be compared with version {consented}, which {state} consented to"
    more = asks_more_of_transit(answered, after["content"])
    if not more:
        return None
    return (
        f"{state} consented to version {consented} of this licence; version {context['version']} asks more"
        f" ({'; '.join(more)}): this State's consent to it is missing"
    )


async def _record_check(
    conn: Conn,
    request: CheckRequest,
    digest: bytes,
    answer: CheckAnswer,
    keys: list[str],
    actor: str,
    licence_id: uuid.UUID | None,
    *,
    cleared: bool,
    recorded_at: dt.datetime,
) -> bool:
    """Record the check with what a clear takes: the export ledger's debits, or this State's tally."""
    export = request.movement == "export"
    tally = [(item.line, item.quantity) for item in request.lines] if cleared and not export else []
    debits = _debits(request) if cleared and export else []
    journal_at, payload = journal.prepare(_journal_payload(request, answer))
    try:
        return await store.record_customs_check(
            conn,
            request.check_id,
            digest,
            request.movement,
            request.issuing_state,
            request.licence_number,
            request.crossing_point,
            request.shipment_id,
            msgspec.to_builtins(request),
            answer.verdict,
            msgspec.to_builtins(answer),
            recorded_at,  # the row keeps the exact time, for ordering; the answer has whole seconds
            actor,
            keys,
            _cleared_serials(request) if cleared else [],
            tally,
            licence_id,
            debits,
            _customs_document(request),
            journal_at,
            payload,
        )
    except asyncpg.UniqueViolationError as exc:
        raise _already_passed() from exc
    except asyncpg.CheckViolationError as exc:
        raise ConflictError("the consignment exceeds a line's balance", code="quantity-exceeds-balance") from exc


def _debits(request: CheckRequest) -> list[dict[str, object]]:
    return [
        {
            "line": item.line,
            "quantity": item.quantity,
            "serials": list(item.serials),
            "keys": [normalise(serial) for serial in item.serials],
        }
        for item in request.lines
    ]


def _customs_document(request: CheckRequest) -> str:
    return request.customs_document or f"check {request.check_id}"


def _cleared_serials(request: CheckRequest) -> list[tuple[int, str]]:
    return [(item.line, normalise(serial)) for item in request.lines for serial in item.serials]


def _already_passed() -> ConflictError:
    return ConflictError("a serial of this consignment already cleared for this movement", code="serial-already-passed")


async def _exhaust(conn: Conn, licence_id: uuid.UUID, check_id: uuid.UUID, actor: str) -> None:
    """The debit that brought every line to zero makes the licence ``exhausted`` (DESIGN §3)."""
    await licences.transition(
        conn, licence_id=licence_id, to="exhausted", actor=actor, reason=f"every line reached zero (check {check_id})"
    )


def _journal_payload(request: CheckRequest, answer: CheckAnswer) -> dict[str, object]:
    return {
        "movement": request.movement,
        "licence_number": request.licence_number,
        "issuing_state": request.issuing_state,
        "crossing_point": request.crossing_point,
        "customs_document": request.customs_document,
        "verdict": answer.verdict,
        "reasons": [reason.code for reason in answer.reasons],
        # what a clear took: the ledger debits at export, this State's tally in transit and at import
        "lines": [
            {"line": item.line, "quantity": item.quantity, "serials": list(item.serials)} for item in request.lines
        ]
        if answer.verdict == "clear"
        else [],
    }


async def get_check(conn: Conn, check_id: uuid.UUID) -> CheckRecord:
    """A recorded check.

    Raises:
        NotFoundError: no such check.
    """
    row = await store.get_customs_check(conn, check_id)
    if row is None:
        raise NotFoundError(f"no check {check_id}", check_id=str(check_id))
    return _check_record(row)


async def decide(
    conn: Conn, check_id: uuid.UUID, decision: Decision, reason: str, *, state: str, time_zone: dt.tzinfo, actor: str
) -> CheckRecord:
    """An officer releases a held check (it then debits as a clear would) or refuses it.

    The licence's row is locked first (as by a check, a status change or an amendment) and the decision
    dated then; a release judges the licence again on that date in ``time_zone``, the registry's.

    Raises:
        NotFoundError: no such check.
        ConflictError: ``check-not-held`` (it was clear or refused, or decided already);
            ``quantity-exceeds-balance`` / ``serial-already-passed`` when a release no longer fits;
            ``licence-not-usable`` when a check now would be refused for the licence itself
            (suspended, revoked, expired, out of its validity, consent withdrawn);
            ``serials-need-correction`` when it was held for its serials (not on the licence, too few,
            none): such a check is refused and the consignment checked again with the serials as read;
            ``item-reported-lost-or-stolen`` when a serial was reported lost or stolen here since the hold.
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
    context, precise, today = await _locked_context(conn, request, state, _serial_keys(request), time_zone, None)
    now = precise.replace(microsecond=0)
    if context["licence_id"] is None:  # a held check always named a known licence
        raise NotFoundError(f"licence {request.licence_number} is gone", licence_number=request.licence_number)
    # The decision before anything is taken: a concurrent decision on the same check (it waited for the
    # licence's lock behind this one) finds check_decision_pkey taken before it could clear, tally or debit.
    if not await store.insert_check_decision(conn, check_id, decision, reason, now, actor):
        raise ConflictError(f"check {check_id} was decided already", code="check-not-held")
    view = await _view(conn, request, context, state)
    if decision == "release":
        _require_releasable(request, view, state=state, on=today)
        _require_nothing_reported_since(request, held, context["facts"] or [])
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
        left = line.remaining if line else 0
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


def _require_nothing_reported_since(request: CheckRequest, held: list[Reason], facts: list[asyncpg.Record]) -> None:
    """A release lets through only what the officer saw: no serial reported lost or stolen here since the hold.

    Protocol Art. 11: a firearm reported stolen is stopped, not passed. The hold named every serial reported
    then (``item-reported-lost-or-stolen``), and the officer decided on those; a report made after the hold
    was never before them, so the release is refused and the officer refuses the check (or checks the
    consignment again, which holds it with the new report).

    Raises:
        ConflictError: ``item-reported-lost-or-stolen`` — ``serials`` (as presented) reported since the hold.
    """
    seen = {
        normalise(reason.serial) for reason in held if reason.code == "item-reported-lost-or-stolen" and reason.serial
    }
    reported = {fact["serial"] for fact in facts if fact["reported"]} - seen
    since = [serial for item in request.lines for serial in item.serials if normalise(serial) in reported]
    if since:
        raise ConflictError(
            f"reported lost or stolen here since the check was held: {', '.join(since)}; refuse the check",
            code="item-reported-lost-or-stolen",
            serials=since,
        )


async def _release(conn: Conn, request: CheckRequest, licence_id: uuid.UUID, view: LicenceView, actor: str) -> None:
    """A released check takes what a clear would have taken."""
    cleared = _cleared_serials(request)
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
            raise _already_passed() from exc
    if request.movement == "export":
        left = {number: line.remaining for number, line in view.lines.items()}
        for item in request.lines:
            left[item.line] -= item.quantity
        await ledger.debit_lines(
            conn,
            licence_id=licence_id,
            debits=[(item.line, item.quantity, list(item.serials)) for item in request.lines],
            check_id=request.check_id,
            customs_document=_customs_document(request),
            actor=actor,
        )
        if not any(left.values()):
            await _exhaust(conn, licence_id, request.check_id, actor)
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
    return [
        _check_record(row) for row in await store.list_checks_by_licence(conn, issuing_state, number, before, limit)
    ]


async def list_by_serial(
    conn: Conn, serial: str, *, before: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[CheckRecord]:
    """Checks that presented a serial (matched in normalised form), newest first."""
    return [_check_record(row) for row in await store.list_checks_by_serial(conn, normalise(serial), before, limit)]
