"""Transit consent (Protocol Art. 10(2)(b); Reg. 258/2012 Art. 7): requests, decisions, deemed consent.

A decision is recorded by an officer now (``source='officer'``) and, once the exchange issue lands,
from a received ``transit-consent.decided`` notice (``source='notice'``) through the same
:func:`record_decision`. Where tacit consent is allowed, a transit State that stays silent for the
configured number of WORKING days after the request (weekends and configured holidays do not count;
20 in Reg. 258/2012 Art. 7(2)) is deemed to consent: :func:`deem_silent`, run by the worker's timer.

A transit State consents to the content it was shown: each request records the licence version it
carried and each decision the version it answers. Amending a pending licence asks every transit State
again about the new version (:func:`firearms.licence_versions.amend`), and only a decision on that version (or a
later one) satisfies the transit gate (:mod:`firearms.gates`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from firearms import journal
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.exchange import hooks
from firearms.licence_object import CountryCode
from firearms.store import consents as store
from firearms.store import licences as licence_store
from firearms.text_rules import REASON

if TYPE_CHECKING:
    from collections.abc import Iterable

    import asyncpg

    from firearms.db import Conn
    from firearms.settings import Settings

__all__ = [
    "CLOSED",
    "ConsentDecision",
    "ConsentRequest",
    "Decision",
    "TransitConsent",
    "TransitConsentRequest",
    "add_working_days",
    "deem_silent",
    "latest_decisions",
    "list_decisions",
    "list_requests",
    "record_decision",
    "request_consent",
]

Decision = Literal["no-objection", "objection", "deemed"]
Source = Literal["officer", "notice", "timer"]
Confidentiality = Literal["public", "restricted", "confidential"]  # PROTOCOL §3, as a received notice carries it
CLOSED = frozenset({"revoked", "expired", "exhausted"})  # no consent is asked or recorded for these


class ConsentDecision(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A transit State's decision as an officer records it.

    ``licence_version`` is the version the transit State was shown and answered. It may be left out only
    while the licence has one version (then it is 1); once amended, a decision without it is refused
    (``licence-version-required``): "the current version" could be an amendment made after the officer
    read the answer, and the answer would then open the transit gate for content it never saw.
    """

    transit_state: CountryCode
    decision: Literal["no-objection", "objection"]
    decided_on: dt.date
    valid_until: dt.date | None = None
    reason: REASON | None = None
    licence_version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None


class ConsentRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A request for consent to a transit State, with the planned shipment window."""

    transit_state: CountryCode
    shipment_from: dt.date | None = None
    shipment_to: dt.date | None = None


class TransitConsent(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded decision of a transit State on the licence version it answers.

    Per State, the decision on the latest version answered counts (the latest recorded among those);
    the transit gate holds only when that version is the one last asked about, or later.
    """

    transit_consent_id: int
    licence_id: uuid.UUID
    transit_state: str
    decision: Decision
    decided_on: dt.date
    valid_until: dt.date | None
    reason: str | None
    source: Source
    recorded_at: dt.datetime
    recorded_by: str
    licence_version: int
    confidentiality: Confidentiality | None
    """The level of the notice the decision came in (``source`` ``notice``; Art. 12(5): kept with the record,
    its ``reason`` above all); ``None`` for this registry's own record (an officer's entry, the timer)."""


class TransitConsentRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A consent request to a transit State about ``licence_version``; the silent period runs from ``requested_on``."""

    licence_id: uuid.UUID
    transit_state: str
    requested_on: dt.date
    shipment_from: dt.date | None
    shipment_to: dt.date | None
    requested_at: dt.datetime
    requested_by: str
    licence_version: int


def add_working_days(start: dt.date, days: int, holidays: Iterable[dt.date] = ()) -> dt.date:
    """The last day of a period of ``days`` working days from ``start`` (``start`` itself not counted).

    Saturdays, Sundays and ``holidays`` are not working days (Reg. 258/2012 Art. 7(2) counts working days). The
    period ends with the end of that day: an answer given on it is within the period, so silence is deemed
    consent only from the day after (:func:`deem_silent`).
    """
    off = set(holidays)
    day = start
    counted = 0
    while counted < days:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in off:
            counted += 1
    return day


async def _licence(conn: Conn, licence_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record:
    """The licence row; with ``lock``, locked until commit, so a concurrent status change is seen."""
    row = await (licence_store.get_licence_for_update if lock else licence_store.get_licence)(conn, licence_id)
    if row is None:
        raise NotFoundError(f"no licence {licence_id}", licence_id=str(licence_id))
    return row


def _require_own(row: asyncpg.Record, why: str) -> None:
    """Refuse a partner's licence (``origin='received'``) for what only its issuing State does."""
    if row["origin"] == "received":
        raise ConflictError(
            f"licence {row['number']} is {row['issuing_state']}'s: {why}",
            code="licence-not-own",
            issuing_state=row["issuing_state"],
        )


def _on_route(row: asyncpg.Record, transit_state: str) -> None:
    if transit_state not in row["transit_states"]:
        raise InvalidInputError(
            f"{transit_state} is not a transit State of licence {row['number']}",
            code="not-a-transit-state",
            transit_state=transit_state,
            transit_states=list(row["transit_states"]),
        )


async def request_consent(
    conn: Conn,
    *,
    licence_id: uuid.UUID,
    transit_state: str,
    shipment_from: dt.date | None,
    shipment_to: dt.date | None,
    today: dt.date,
    actor: str,
) -> TransitConsentRequest:
    """Record that consent was asked of a transit State about the licence's current version.

    The silent period starts today; asked again about the same version, the first date stays (and, without
    a shipment window, the window asked before); asked
    about a later version (the content was amended), the request starts afresh and earlier decisions no
    longer satisfy the transit gate.

    ``today`` is the registry's date (:func:`firearms.clock.today`), the day the request is dated.

    Raises:
        NotFoundError: no such licence.
        InvalidInputError: ``not-a-transit-state``, ``invalid-validity`` (window ends before it starts).
        ConflictError: ``licence-closed`` (revoked, expired or exhausted: nothing is asked for it);
            ``licence-not-own`` (a partner's licence: its issuing State asks).
    """
    row = await _licence(conn, licence_id, lock=True)
    _require_own(row, "its issuing State asks for consent")
    _on_route(row, transit_state)
    if row["status"] in CLOSED:
        raise ConflictError(
            f"licence {row['number']} is {row['status']}", code="licence-closed", licence_status=row["status"]
        )
    if shipment_from and shipment_to and shipment_to < shipment_from:
        raise InvalidInputError("the shipment window ends before it starts", code="invalid-validity")
    now = dt.datetime.now(dt.UTC)
    request = await store.upsert_transit_consent_request(
        conn, licence_id, transit_state, today, shipment_from, shipment_to, now, actor, row["version"]
    )
    await journal.record(
        conn,
        actor=actor,
        action="transit-consent.requested",
        entity="licence",
        entity_id=str(licence_id),
        payload={
            "transit_state": transit_state,
            "requested_on": request["requested_on"].isoformat(),
            "licence_version": request["licence_version"],
            "shipment_from": request["shipment_from"].isoformat() if request["shipment_from"] else None,
            "shipment_to": request["shipment_to"].isoformat() if request["shipment_to"] else None,
        },
    )
    await hooks.after_consent_request(
        conn,
        licence_id,
        transit_state=transit_state,
        shipment_from=request["shipment_from"],  # as stored: a request without a window keeps the one asked
        shipment_to=request["shipment_to"],
        actor=actor,
    )
    return TransitConsentRequest(**dict(request))


async def record_decision(
    conn: Conn,
    *,
    licence_id: uuid.UUID,
    transit_state: str,
    decision: Decision,
    decided_on: dt.date,
    valid_until: dt.date | None,
    reason: str | None,
    source: Source,
    today: dt.date,
    actor: str,
    licence_version: int | None = None,
    own_state: str | None = None,
    requested: bool = False,
    confidentiality: Confidentiality | None = None,
) -> TransitConsent:
    """Record a transit State's decision on a licence (officer now; received notice later; timer when deemed).

    ``licence_version`` is the version the decision answers: the one the answered request carried (a
    received notice, the timer). An officer (``source='officer'``) names it once the licence has more than
    one version; without it, a licence of one version is answered on that version (no other content exists
    the officer could have read). ``today`` is the registry's date
    (:func:`firearms.clock.today`): an officer's or a notice's decision may not be dated after it.
    ``own_state`` (an officer's record): on a partner's licence only this State's own decision is recorded.
    ``requested``: ``licence_version`` is the one a request received from the issuing State carried, which
    may be ahead of the version recorded here (a pending version asked about after the licence was recorded
    issued: the request never takes it back); the decision answers that version, not the recorded one.
    ``confidentiality``: the level of the notice a decision received by notice came in (``source='notice'``),
    kept with it; ``None`` for this registry's own record.

    Raises:
        NotFoundError: no such licence.
        InvalidInputError: ``not-a-transit-state``, ``decision-in-future``, ``invalid-validity``,
            ``licence-version-unknown`` (a version the licence has not reached), ``licence-version-required``
            (an officer's decision without a version on a licence amended since its first version).
        ConflictError: ``licence-closed`` (revoked, expired or exhausted); ``licence-not-own`` (another
            transit State's decision on a partner's licence: that State answers its issuing State).
    """
    row = await _licence(conn, licence_id, lock=True)
    if own_state is not None and transit_state != own_state:
        _require_own(row, f"{transit_state} answers its issuing State, not {own_state}")
    _on_route(row, transit_state)
    if licence_version is not None and licence_version > row["version"] and not requested:
        raise InvalidInputError(
            f"licence {row['number']} is at version {row['version']}: it has no version {licence_version}",
            code="licence-version-unknown",
            version=row["version"],
            licence_version=licence_version,
        )
    if licence_version is None and source == "officer" and row["version"] > 1:
        # The officer decided on a version read earlier; "the current one" may be an amendment made since.
        raise InvalidInputError(
            f"licence {row['number']} has {row['version']} versions: name the one {transit_state} answered"
            " (licence_version)",
            code="licence-version-required",
            version=row["version"],
            transit_state=transit_state,
        )
    if row["status"] in CLOSED:
        raise ConflictError(
            f"licence {row['number']} is {row['status']}", code="licence-closed", licence_status=row["status"]
        )
    now = dt.datetime.now(dt.UTC)
    if source != "timer" and decided_on > today:
        raise InvalidInputError("a decision cannot be dated in the future", code="decision-in-future")
    if valid_until is not None and valid_until < decided_on:
        raise InvalidInputError("valid_until is before decided_on", code="invalid-validity")
    version = row["version"] if licence_version is None else licence_version
    if (source == "notice") != (confidentiality is not None):
        raise ValueError("a decision received by notice carries the notice's confidentiality, and only such a one")
    saved = await store.insert_transit_consent(
        conn,
        licence_id,
        transit_state,
        decision,
        decided_on,
        valid_until,
        reason,
        source,
        now,
        actor,
        version,
        confidentiality,
    )
    payload: dict[str, object] = {
        "transit_state": transit_state,
        "decision": decision,
        "decided_on": decided_on.isoformat(),
        "valid_until": valid_until.isoformat() if valid_until else None,
        "reason": reason,
        "source": source,
        "licence_version": version,
    }
    if confidentiality is not None:
        payload["confidentiality"] = confidentiality
    await journal.record(
        conn,
        actor=actor,
        action=f"transit-consent.{decision}",
        entity="licence",
        entity_id=str(licence_id),
        payload=payload,
    )
    return TransitConsent(**dict(saved))


async def deem_silent(
    conn: Conn, *, settings: Settings, today: dt.date, licence_id: uuid.UUID | None = None, limit: int = 500
) -> int:
    """The tacit-consent timer: record ``deemed`` for every request whose silent period has run out.

    Applies where ``settings.tacit_consent`` is on and the transit State is not in
    ``tacit_consent_refused_by``, from the day after the period's last working day (the transit State may answer
    on that day); the deemed decision is dated that last day, when the period ended. With
    ``licence_id``, only that licence's requests (used just before issuing). Returns how many.
    """
    if not settings.tacit_consent:
        return 0
    if licence_id is None:
        rows = await store.list_undecided_transit_consent_requests(conn, limit, settings.tacit_consent_refused_by)
    else:
        answered = {
            row["transit_state"]: row["licence_version"]
            for row in await store.list_latest_transit_consents(conn, licence_id)
        }
        route = set((await _licence(conn, licence_id))["transit_states"])
        rows = [
            row
            for row in await store.list_transit_consent_requests(conn, licence_id)
            if answered.get(row["transit_state"], 0) < row["licence_version"] and row["transit_state"] in route
        ]
    count = 0
    for row in rows:
        if row["transit_state"] in settings.tacit_consent_refused_by:
            continue
        due = add_working_days(row["requested_on"], settings.tacit_consent_days, settings.holidays)
        if due >= today:
            continue  # the period's last day is still within it ("within 20 working days")
        await record_decision(
            conn,
            licence_id=row["licence_id"],
            transit_state=row["transit_state"],
            decision="deemed",
            decided_on=due,
            valid_until=None,
            reason=f"no answer within {settings.tacit_consent_days} working days of {row['requested_on'].isoformat()}",
            source="timer",
            today=today,
            actor="system:consent-timer",
            licence_version=row["licence_version"],
        )
        count += 1
    return count


async def latest_decisions(conn: Conn, licence_id: uuid.UUID) -> dict[str, TransitConsent]:
    """The decision that counts for each transit State, by State (see :class:`TransitConsent`)."""
    return {
        row["transit_state"]: TransitConsent(**dict(row))
        for row in await store.list_latest_transit_consents(conn, licence_id)
    }


async def list_requests(conn: Conn, licence_id: uuid.UUID) -> list[TransitConsentRequest]:
    """The consent requests of a licence (at most one per transit State)."""
    await _licence(conn, licence_id)
    return [TransitConsentRequest(**dict(row)) for row in await store.list_transit_consent_requests(conn, licence_id)]


async def list_decisions(conn: Conn, licence_id: uuid.UUID, *, after: int, limit: int) -> list[TransitConsent]:
    """A page of every decision on a licence, oldest first."""
    await _licence(conn, licence_id)
    return [TransitConsent(**dict(row)) for row in await store.list_transit_consents(conn, licence_id, after, limit)]
