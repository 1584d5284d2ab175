"""Customs checks (DESIGN §5; Protocol Art. 10-11): a consignment against its authorisation.

At exit, in transit and at import: a verdict and reasons, recorded in one transaction.

A check locks the licence row it names, so concurrent checks of one licence take turns and never
debit past a balance; a serial is cleared at most once per licence and movement by a primary key.
``clear`` at export debits the licence's quantity ledger; in transit and at import it adds to this
State's own tally. ``hold`` and ``refuse`` record the check and debit nothing. The same ``check_id``
with the same request gives back the first answer unchanged; with another request it is a conflict.

The answer and the recorded checks are in :mod:`firearms.check_records`; an officer's later decision on a
held check in :mod:`firearms.check_decisions`, which judges the licence again with this module's reading of
it (:func:`locked_context`, :func:`licence_view`) and takes what a clear takes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

import asyncpg
import msgspec

from firearms import clock, journal, licences, received
from firearms.canonical import canonical
from firearms.check_records import CheckAnswer, LicenceSummary, LineRemaining
from firearms.check_rules import (
    AuthorisationView,
    CheckRequest,
    LicenceView,
    LineView,
    RecordsView,
    evaluate,
    verdict_of,
)
from firearms.errors import ConflictError, InvalidInputError
from firearms.exchange import hooks
from firearms.licence_rules import asks_more_of_transit
from firearms.serials import normalise, serial_problem
from firearms.store import checks as store
from firearms.store import foreign_item_reports as report_store
from firearms.store import licences as licence_store
from firearms.store import received as received_store
from firearms.text_rules import is_padded

if TYPE_CHECKING:
    import uuid

    from firearms.db import Conn

__all__ = [
    "already_passed",
    "cleared_serials",
    "customs_document",
    "exhaust",
    "fingerprint",
    "licence_view",
    "locked_context",
    "partner_reports",
    "perform_check",
    "serial_keys",
]


def fingerprint(request: CheckRequest) -> bytes:
    """SHA-256 of the request's canonical form: what makes two requests "the same" for idempotency."""
    return hashlib.sha256(canonical(msgspec.to_builtins(request))).digest()


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


def serial_keys(request: CheckRequest) -> list[str]:
    """The consignment's serials in normalised form, each once, in the order presented (the facts are read by them)."""
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
            digits (as a licence refuses it), or one the registry refuses (another script) on a component
            line that lists no serials, unless the licence lists it; ``serials-not-allowed`` — it gives serials on an
            ammunition line of the licence.
        ConflictError: ``check-id-conflict`` — the ``check_id`` was used for another request;
            ``serial-already-passed`` or ``quantity-exceeds-balance`` if a writer outside the checks
            took the serial or the balance between our read and our write.
    """
    _require_unpadded(request)
    _require_distinct(request)
    digest = fingerprint(request)
    keys = serial_keys(request)
    context, precise, today = await locked_context(conn, request, state, keys, time_zone, now)
    moment = precise.replace(microsecond=0)  # the answer speaks in whole seconds, as the protocol does
    view = await licence_view(conn, request, context, state) if context["licence_id"] is not None else None
    if view is not None:
        try:
            _require_no_ammunition_serials(request, view)
            _require_vouched_serials(request, view)
        except InvalidInputError:
            # A retry of a recorded check answers the first answer, whatever the licence became since (a
            # later version made the line ammunition, or stopped listing a serial); another request under its
            # check_id is the conflict.
            replayed = await _replay(conn, request, digest)
            if replayed is None:
                raise
            return replayed
    facts = context["facts"] or []
    records = RecordsView(
        passed=frozenset(fact["serial"] for fact in facts if fact["passed"]),
        reported=frozenset(fact["serial"] for fact in facts if fact["reported"]),
        # a firearm this State made, coming home, is not "unmarked" (Art. 8(1)(b); check_context, made_here)
        unmarked_imports=frozenset(fact["serial"] for fact in facts if fact["unmarked"]),
        partner_reported=await partner_reports(conn, request, context["licence_id"]) if keys else {},
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
        await exhaust(conn, context["licence_id"], request.check_id, actor)
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


async def partner_reports(conn: Conn, request: CheckRequest, licence_id: uuid.UUID | None) -> dict[str, str]:
    """The consignment's serials a partner reported lost or stolen, each with the report in words (Art. 11-12).

    One query, only for a consignment that presents serials, on a licence held here: a partner's report names the
    item's kind, manufacturer and make, and a serial is matched only with the line's category and make (in the
    registry's manufacturer identity form, upper case with white space collapsed) equal to the item's kind and its
    manufacturer or make. Serials collide across manufacturers; a serial alone names no stolen item here.
    """
    if licence_id is None:
        return {}
    lines = [item.line for item in request.lines for _ in item.serials]
    keys = [normalise(serial) for item in request.lines for serial in item.serials]
    found: dict[str, list[str]] = {}
    for row in await report_store.find_partner_reported_serials(conn, licence_id, lines, keys):
        found.setdefault(row["serial"], []).append(
            f"reported {row['status']} by {row['sender_state']} (report {row['report_id']},"
            f" {row['occurred_on'].isoformat()})"
        )
    return {serial: "; ".join(reports) for serial, reports in found.items()}


async def locked_context(
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


def _require_vouched_serials(request: CheckRequest, view: LicenceView) -> None:
    """A serial on a component line that lists none is one the registry accepts, unless the licence lists it.

    Art. 8(1)(a); README "Serials": a registration and an own licence take Latin letters, digits and the
    separators only. A partner's licence may list other characters (what its issuing State sent), and a serial
    is checked against it as listed. A component line that lists no serials compares a serial with nothing:
    one in another script (a Cyrillic letter read or pasted for a Latin one) cleared, was recorded as passed,
    and missed this registry's lost-or-stolen look-up, which holds Latin serials only. The officer gives the
    serial in the Latin letters and digits stamped, or none (a component line needs none).

    Raises:
        InvalidInputError: ``invalid-serial``, with the ``line`` and the ``serial`` as presented.
    """
    listed = frozenset(normalise(serial) for line in view.lines.values() for serial in line.serials)
    for item in request.lines:
        line = view.lines.get(item.line)
        if line is None or line.category != "component" or line.serials:
            continue
        for serial in item.serials:
            problem = serial_problem(serial)
            if problem is not None and normalise(serial) not in listed:
                raise InvalidInputError(
                    f"serial {serial!r} on line {item.line}: {problem}; the licence line lists no serials to"
                    " compare it with: give it in the Latin letters and digits stamped, or leave it out",
                    code="invalid-serial",
                    line=item.line,
                    serial=serial,
                )


async def _expired_here_at(conn: Conn, row: asyncpg.Record | None) -> dt.datetime | None:
    """When a partner's expired licence (``row``) expired by its issuing State's word (check_rules judges its time).

    The licence row's last change (final: the expiry applied here), or, earlier, the moment the issuer's
    ``licence.status-changed`` says the expiry took effect: an expiry the issuer decided before the last day and
    delivered late (the partner unreachable, its outbox retrying) is still its decision, not its calendar.
    ``None`` for this registry's own licence.
    """
    if row is None or row["origin"] != "received":
        return None
    moment: dt.datetime = row["updated_at"]
    notice = await received_store.get_foreign_licence(conn, row["issuing_state"], row["number"])
    if notice is not None and notice["status"] == "expired" and notice["status_effective_at"] is not None:
        moment = min(moment, notice["status_effective_at"])
    return moment


async def licence_view(conn: Conn, request: CheckRequest, context: asyncpg.Record, state: str) -> LicenceView:
    """The licence as the check judges it: the current version's lines, each with what remains for this movement.

    For an export licence at export or import, also the import authorisation it names and what this registry holds
    of it (``check_context`` reads both in the same statement).

    In transit and at import what passed here can exceed a line a later version lowered (the issuing State's
    ledger counts its own exits, not this State's passages): nothing remains then, never less than nothing, and
    the next check of that line is ``quantity-exceeds-balance``.
    """
    used = "debited" if request.movement == "export" else "passed"
    gap = await _consent_gap(conn, request, context, state) if request.movement == "transit" else None
    expired_here_at = None
    if context["status"] == "expired":
        expired_here_at = await _expired_here_at(conn, await licence_store.get_licence(conn, context["licence_id"]))
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
        expired_here_at=expired_here_at,
        import_authorisation=await _authorisation_view(conn, context, request.movement),
    )


async def _authorisation_view(conn: Conn, context: asyncpg.Record, movement: str) -> AuthorisationView | None:
    """The import authorisation ``check_context`` read, with what it authorises and what passed under it already.

    Its cover is read (one more statement) only when it is an import authorisation held here; when it is
    ``expired``, also when its issuing State expired it (judged on this State's calendar, as the licence is:
    :mod:`firearms.check_rules`). The same statement reads what passed at this movement under the other export
    licences naming it (Art. 10(2)(a): its quantity is one balance, shared by every licence drawn on it).
    """
    if context["import_authorisation"] is None:
        return None
    view = msgspec.convert(context["import_authorisation"], AuthorisationView)
    if view.held is not None and view.held.status == "expired":
        held = await licence_store.find_licence(conn, str(view.state), str(view.number))
        view = msgspec.structs.replace(
            view, held=msgspec.structs.replace(view.held, expired_here_at=await _expired_here_at(conn, held))
        )
    if view.held is None or view.held.kind != "import" or view.state is None or view.number is None:
        return view
    # What passed under this licence while it named the authorisation: what left while it named another was
    # imported under that one (the same statement).
    authorised, elsewhere, taken = await store.list_authorisation_cover(
        conn, view.state, view.number, context["licence_id"], movement
    )
    return msgspec.structs.replace(view, authorised=authorised, used=taken, elsewhere=elsewhere)


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
            cleared_serials(request) if cleared else [],
            tally,
            licence_id,
            debits,
            customs_document(request),
            journal_at,
            payload,
        )
    except asyncpg.UniqueViolationError as exc:
        raise already_passed() from exc
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


def customs_document(request: CheckRequest) -> str:
    """The customs document a clear's ledger debit names: the declaration presented, or the check itself."""
    return request.customs_document or f"check {request.check_id}"


def cleared_serials(request: CheckRequest) -> list[tuple[int, str]]:
    """The (line, normalised serial) pairs a clear records as passed for its movement."""
    return [(item.line, normalise(serial)) for item in request.lines for serial in item.serials]


def already_passed() -> ConflictError:
    """The conflict of a clear whose serial another check cleared first for this movement (``cleared_serial_pkey``)."""
    return ConflictError("a serial of this consignment already cleared for this movement", code="serial-already-passed")


async def exhaust(conn: Conn, licence_id: uuid.UUID, check_id: uuid.UUID, actor: str) -> None:
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
