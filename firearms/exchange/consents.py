"""Transit consent across borders (UN Firearms Protocol Art. 10(2)(b); Reg. 258/2012 Art. 7).

A ``transit-consent.requested`` from an exporting State becomes a pending request for this State's
licensing officer, pre-checked against the export authorisation data it carries
(:mod:`firearms.exchange.consent_findings`). The findings are made again when the officer reads a pending
request (one, or a page at once) and when the officer decides: a loss or theft reported after the request
arrived, here or by a partner, shows beside the findings made on arrival, and a no-objection while an item of
the licence is reported lost or stolen needs the officer's acknowledgement. The officer's decision
(:func:`decide`) goes back as ``transit-consent.decided`` ``in_reply_to`` the request, through the outbox, in the
same transaction. A request left unanswered for the silent period is deemed consent (:func:`deem_silent`, the
worker's timer), as the exporting State counts it too; a decision after the period comes late and is refused.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from firearms import consents as licensing_consents
from firearms import journal, licence_reads, licence_views, outbox
from firearms.canonical import utc_now
from firearms.clock import local_date
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.exchange.bodies import ConsentRequested
from firearms.exchange.consent_findings import LOST_OR_STOLEN, Finding, check_now, check_now_all
from firearms.store import received as store

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from firearms.db import Conn
    from firearms.settings import Settings

__all__ = [
    "ConsentRequest",
    "SilentPeriod",
    "decide",
    "deem_silent",
    "get_request",
    "list_requests",
    "silence_is_consent",
    "silent_period",
]

Decision = Literal["no-objection", "objection"]
_TIMER = "system:consent-timer"


class ConsentRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A received transit-consent request with its findings and, once decided, the decision.

    ``status`` is ``pending``, ``decided``, ``superseded`` (``superseded_by`` names the newer request of
    the same State about the same licence: the one its officer decides), or ``deemed`` (left unanswered
    for the silent period: this State is deemed to consent, :func:`deem_silent`).

    ``findings`` are the ones made on arrival, as they were. ``findings_now`` (a pending request only) are made
    again at the read, with today's date and the loss and theft records as they stand; ``findings_at_decision``
    (a request the officer decided since they are kept) are the ones the decision was made on, and
    ``acknowledgement`` the officer's words taking a no-objection while an item was reported lost or stolen.
    """

    requesting_state: str
    notice_id: str
    licence_number: str
    licence: Any
    window_from: dt.date
    window_to: dt.date
    findings: list[Finding]
    confidentiality: str
    received_at: dt.datetime
    status: str
    decision: str | None
    reason: str | None
    valid_until: dt.date | None
    decided_by: str | None
    decided_at: dt.datetime | None
    reply_notice_id: uuid.UUID | None
    superseded_by: str | None = None
    findings_now: list[Finding] | None = None
    findings_at_decision: list[Finding] | None = None
    acknowledgement: str | None = None


def _as_received(row: asyncpg.Record) -> ConsentRequested | None:
    """The request as received, from its stored licence and window; ``None`` if a rule tightened since refuses it."""
    try:
        return msgspec.convert(
            {"licence": row["licence"], "shipment_window": {"from": row["window_from"], "to": row["window_to"]}},
            ConsentRequested,
        )
    except msgspec.ValidationError:
        return None


async def _findings_now(
    conn: Conn, rows: Sequence[asyncpg.Record], own_state: str, today: dt.date
) -> list[list[Finding] | None]:
    """The findings made again of each of ``rows`` that is pending (``None`` for the others), all at once."""
    pending = [
        (index, request)
        for index, row in enumerate(rows)
        # a decided one keeps the findings it was decided on; one a rule tightened since refuses is not checked again
        if row["status"] == "pending" and (request := _as_received(row)) is not None
    ]
    made: list[list[Finding] | None] = [None] * len(rows)
    checked = await check_now_all(conn, [request for _, request in pending], own_state, today)
    for (index, _), found in zip(pending, checked, strict=True):
        made[index] = found.findings
    return made


def _request(row: asyncpg.Record, findings_now: list[Finding] | None = None) -> ConsentRequest:
    at_decision = row["findings_at_decision"]
    return ConsentRequest(
        requesting_state=row["requesting_state"],
        notice_id=row["notice_id"],
        licence_number=row["licence_number"],
        licence=row["licence"],
        window_from=row["window_from"],
        window_to=row["window_to"],
        findings=msgspec.convert(row["findings"], list[Finding]),
        confidentiality=row["confidentiality"],
        received_at=row["received_at"],
        status=row["status"],
        decision=row["decision"],
        reason=row["reason"],
        valid_until=row["valid_until"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        reply_notice_id=row["reply_notice_id"],
        superseded_by=row["superseded_by"],
        findings_now=findings_now,
        findings_at_decision=None if at_decision is None else msgspec.convert(at_decision, list[Finding]),
        acknowledgement=row["acknowledgement"],
    )


async def get_request(
    conn: Conn, requesting_state: str, notice_id: str, *, own_state: str, today: dt.date
) -> ConsentRequest:
    """One received request; a pending one with its findings made again (``findings_now``), dated ``today``.

    Raises:
        NotFoundError: no such request.
    """
    row = await store.get_consent_request(conn, requesting_state, notice_id)
    if row is None:
        raise NotFoundError(f"no transit-consent request {notice_id} from {requesting_state}")
    (findings_now,) = await _findings_now(conn, [row], own_state, today)
    return _request(row, findings_now)


async def list_requests(
    conn: Conn,
    *,
    after: tuple[dt.datetime, str, str] | None,
    status: str | None,
    limit: int,
    own_state: str,
    today: dt.date,
) -> list[ConsentRequest]:
    """A page of received requests in arrival order; the pending ones with their findings made again.

    The page's findings are made at once (:func:`check_now_all`: two queries, whatever the page's size), each the
    same as :func:`get_request` makes for that request alone.
    """
    rows = await store.list_consent_requests(conn, after, status, limit)
    return [
        _request(row, findings_now)
        for row, findings_now in zip(rows, await _findings_now(conn, rows, own_state, today), strict=True)
    ]


async def decide(
    conn: Conn,
    requesting_state: str,
    notice_id: str,
    *,
    settings: Settings,
    decision: Decision,
    reason: str | None,
    valid_until: dt.date | None,
    actor: str,
    acknowledgement: str | None = None,
) -> ConsentRequest:
    """Record the officer's decision and queue ``transit-consent.decided`` to the requesting State.

    The decision on the licence as received is dated today in the registry's time zone. The findings are
    made again (:func:`check_now`) and kept with the decision and in its journal entry: a no-objection while an
    item of the licence is reported lost or stolen, here or by a partner (Art. 11), is taken only with the
    officer's ``acknowledgement`` (words kept with it, never sent); an objection always is.

    Where this State's silence is consent (:func:`silence_is_consent`), a request whose silent period ended
    (:func:`silent_period`, before today) is deemed consent whether or not the timer has passed yet
    (Reg. 258/2012 Art. 7(2)): a decision then comes late and is refused like one on a request the timer deemed,
    naming the period's last day (the exporting State, counting the period too, may have issued on it already).

    Raises:
        NotFoundError: no such request.
        ConflictError: ``consent-already-decided`` (decided, or deemed: ``silent_period_end`` and
            ``deemed_consent_on``); ``consent-request-superseded`` (a newer request about the licence arrived:
            decide that one); ``consent-items-reported-lost-or-stolen`` (a no-objection without
            ``acknowledgement`` while items are reported lost or stolen: ``serials``).
        InvalidInputError: ``reason-required`` for an objection.
    """
    row = await store.get_consent_request_for_update(conn, requesting_state, notice_id)
    if row is None:
        raise NotFoundError(f"no transit-consent request {notice_id} from {requesting_state}")
    own_state = settings.state
    now = utc_now()
    today = local_date(now, settings.time_zone)
    if row["status"] == "superseded":
        raise ConflictError(
            f"{requesting_state} sent a newer request about {row['licence_number']}: decide {row['superseded_by']}",
            code="consent-request-superseded",
            superseded_by=row["superseded_by"],
        )
    if row["status"] == "deemed":
        # the day the timer counted, kept with it; read after the lock, which may have waited for the timer's commit
        raise _deemed(row, await store.get_consent_request_deemed_day(conn, requesting_state, notice_id))
    if row["status"] != "pending":
        raise ConflictError(
            f"the request was already decided ({row['decision']}): a decision stands; to decide again, ask"
            f" {requesting_state} to request consent again: its new request about {row['licence_number']} comes"
            " here to be decided",
            code="consent-already-decided",
            decision=row["decision"],
        )
    period_end = silent_period(row["received_at"], settings).last_day
    if silence_is_consent(settings) and period_end < today:
        raise _deemed(row, period_end)  # the timer has not passed yet: it deems the request at its next pass
    if decision == "objection" and not (reason and reason.strip()):
        raise InvalidInputError("an objection gives its reason", code="reason-required")
    request = _as_received(row)
    checked = None if request is None else await check_now(conn, request, own_state, today)
    # Stored before a rule tightened and refused by it now, a request is decided on the findings made on arrival.
    decided_on = msgspec.convert(row["findings"], list[Finding]) if checked is None else checked.findings
    if checked is not None and checked.reported and decision == "no-objection" and acknowledgement is None:
        raise ConflictError(
            f"licence {row['licence_number']} lists {', '.join(checked.reported)}, reported lost or stolen now"
            " (here or by a partner): object, or give the no-objection with an acknowledgement saying why",
            code="consent-items-reported-lost-or-stolen",
            serials=checked.reported,
        )
    failed = [found for found in decided_on if found.code == LOST_OR_STOLEN and found.result == "fail"]
    if checked is None and failed and decision == "no-objection" and acknowledgement is None:
        # Not checked again, it is decided on its arrival's findings: the same rule holds on them. Their serials are
        # in words only (the request's licence no longer converts): the detail quotes them, ``serials`` is empty.
        raise ConflictError(
            f"licence {row['licence_number']} is decided on its findings on arrival (a rule on received bodies"
            f" refuses its request now, so it is not checked again), which found: {failed[0].detail}: object, or give"
            " the no-objection with an acknowledgement saying why",
            code="consent-items-reported-lost-or-stolen",
            serials=[],
        )
    body = {
        "licence_number": row["licence_number"],
        "decision": decision,
        "reason": reason,
        "valid_until": valid_until.isoformat() if valid_until else None,
    }
    reply = await outbox.enqueue(
        conn,
        requesting_state,
        "transit-consent.decided",
        body,
        in_reply_to=notice_id,
        confidentiality=row["confidentiality"],
        actor=actor,
    )
    await store.decide_consent_request(
        conn, requesting_state, notice_id, decision, reason, valid_until, actor, now, reply
    )
    kept = msgspec.to_builtins(decided_on)
    await store.insert_consent_request_decision(conn, requesting_state, notice_id, kept, acknowledgement, now)
    # the same decision on the licence as received, for this State's customs and the licensing views, on the
    # version the request carried: not a later one received since, nor the issued one recorded here when the
    # request asked about an amendment of it (the customs check then counts it once that version arrives)
    licence = await _received_licence(conn, requesting_state, row["licence_number"])
    if licence is not None:
        await licensing_consents.record_decision(
            conn,
            licence_id=licence.licence_id,
            transit_state=own_state,
            decision=decision,
            decided_on=today,
            valid_until=valid_until,
            reason=reason,
            source="officer",
            today=today,
            actor=actor,
            licence_version=row["licence"]["version"],
            requested=True,
        )
    await journal.record(
        conn,
        actor=actor,
        action="transit-consent.decided",
        entity="consent_request_received",
        entity_id=f"{requesting_state}/{notice_id}",
        payload={**body, "reply_notice_id": str(reply), "findings": kept, "acknowledgement": acknowledgement},
    )
    return await get_request(conn, requesting_state, notice_id, own_state=own_state, today=today)


def _deemed(row: asyncpg.Record, period_end: dt.date | None) -> ConflictError:
    """``consent-already-decided`` for a decision on a request this State's silence made deemed consent."""
    state, number = row["requesting_state"], row["licence_number"]
    ended = "" if period_end is None else f": its silent period ended on {period_end}, consent from the day after"
    return ConflictError(
        f"this State's silence on the request is deemed consent{ended}; a decision after it comes late and stands"
        f" for nothing; to decide, ask {state} to request consent again: its new request about {number} comes here"
        " to be decided (a reported lost or stolen item is still held at this State's border checks)",
        code="consent-already-decided",
        decision="deemed",
        silent_period_end=None if period_end is None else period_end.isoformat(),
        deemed_consent_on=None if period_end is None else (period_end + dt.timedelta(days=1)).isoformat(),
    )


async def _received_licence(conn: Conn, issuing_state: str, number: str) -> licence_views.Licence | None:
    """The licence a request is about, as received from its issuing State (None when it is not recorded)."""
    try:
        licence = await licence_reads.find_licence(conn, issuing_state, number)
    except NotFoundError:
        return None
    return licence if licence.origin == "received" else None


def silence_is_consent(settings: Settings) -> bool:
    """Whether this State's silence on a request becomes deemed consent.

    ``settings.tacit_consent`` on, and this State not in ``tacit_consent_refused_by``.
    """
    return settings.tacit_consent and settings.state not in settings.tacit_consent_refused_by


class SilentPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """The silent period of a received request: the day it arrived here and the period's last day."""

    received_on: dt.date
    """The day of its receipt in the registry's time zone: the day the working days are counted from."""
    last_day: dt.date
    """The period's last day (the officer may answer all of it); the request is deemed consent the day after."""


def silent_period(received_at: dt.datetime, settings: Settings) -> SilentPeriod:
    """The silent period of a request received at ``received_at``: one rule for the decision, the timer, the overview.

    Reg. 258/2012 Art. 7(2): the working days counted from the day it arrived here (``received_at`` in the registry's
    time zone, ``FIREARMS_TIME_ZONE``), with this State's holidays.
    """
    received_on = local_date(received_at, settings.time_zone)
    last_day = licensing_consents.add_working_days(received_on, settings.tacit_consent_days, settings.holidays)
    return SilentPeriod(received_on=received_on, last_day=last_day)


async def deem_silent(conn: Conn, *, settings: Settings, today: dt.date, limit: int = 500) -> int:
    """This State's own silence: a request it left unanswered for the silent period is deemed consent.

    Reg. 258/2012 Art. 7(2) counts the working days from the receipt of the request: from the day it
    arrived here, in the registry's time zone, with this State's holidays. The day after the period's last
    working day (the officer may answer all that day) the request becomes ``deemed`` and the deemed consent
    is recorded on the licence as received (dated the day the period ended), so that this State's transit
    checks accept the licence the exporting State issued on it.
    Nothing is sent: the exporting State counts the period itself. Applies where ``settings.tacit_consent``
    is on and this State is not in ``tacit_consent_refused_by``. Returns how many requests were deemed.
    """
    if not silence_is_consent(settings):
        return 0
    count = 0
    now = utc_now()
    for row in await store.list_pending_consent_requests(conn, limit):
        period = silent_period(row["received_at"], settings)
        received_on, due = period.received_on, period.last_day
        if due >= today:
            break  # its last day is still within the period; oldest first: the later ones are not due either
        reason = f"no answer within {settings.tacit_consent_days} working days of its receipt on {received_on}"
        requesting_state, notice_id = row["requesting_state"], row["notice_id"]
        if not await store.deem_consent_request(conn, requesting_state, notice_id, reason, _TIMER, now, due):
            continue
        licence = await _received_licence(conn, requesting_state, row["licence_number"])
        if licence is not None and licence.status not in licensing_consents.CLOSED:
            await licensing_consents.record_decision(
                conn,
                licence_id=licence.licence_id,
                transit_state=settings.state,
                decision="deemed",
                decided_on=due,
                valid_until=None,
                reason=reason,
                source="timer",
                today=today,
                actor=_TIMER,
                licence_version=row["licence_version"],
                requested=True,
            )
        await journal.record(
            conn,
            actor=_TIMER,
            action="transit-consent.deemed",
            entity="consent_request_received",
            entity_id=f"{requesting_state}/{notice_id}",
            payload={
                "licence_number": row["licence_number"],
                "received_on": received_on.isoformat(),
                "deemed_on": due.isoformat(),
            },
        )
        count += 1
    return count
