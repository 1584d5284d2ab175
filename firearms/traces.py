"""Trace requests between registries (ITI Section V, paras 14-24; UN Firearms Protocol Art. 12(4); DESIGN §3).

A records officer asks a partner State to trace a weapon found or seized here (:func:`request_trace`):
``trace.requested`` goes out through the outbox in the same transaction. A request received from a partner
(:func:`receive_request`, the notice's effect) is stored with its *findings* -- the items of this registry carrying
one of its serials, each with its status -- and acknowledged at once: ``trace.acknowledged`` goes back in the
receiving transaction (ITI para 17 asks for a prompt acknowledgement; storing the request is the receipt, so the
acknowledgement costs no officer's time and is never late). The officer answers (:func:`answer`): ``found`` with
the record built here from the item's history, ``not-found``, or ``restricted`` with the reason (paras 21-22);
``trace.answered`` goes back and the request is closed. Nothing is ever changed: the acknowledgement and the
answer are rows of their own, and the status is computed from them.

The request and answer types are in :mod:`firearms.trace_types`; the record a found answer carries, built from the
item's history and fitted to its notice, in :mod:`firearms.trace_records`; reading the requests (and journaling the
read) in :mod:`firearms.trace_reads`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec

from firearms import items, journal, outbox, serials
from firearms.canonical import utc_now
from firearms.errors import ConflictError, InvalidInputError
from firearms.exchange.protocol import MAX_ENVELOPE_BYTES, Confidentiality
from firearms.exchange.trace_bodies import TraceRecord, TraceRequested, Weapon
from firearms.item_rules import (
    check_country,
    check_marking_year,
    check_text,
    check_year,
    same_person,
    validate_marking,
)
from firearms.store import peers as peer_store
from firearms.store import traces as store
from firearms.trace_reads import get_trace_request
from firearms.trace_records import build_record, fit_record, trace_marking
from firearms.trace_types import TraceFinding

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn
    from firearms.item_types import ItemDetail
    from firearms.trace_types import NewTraceAnswer, NewTraceRequest, NewWeapon, TraceRequest

__all__ = [
    "MAX_ANSWER_DAYS",
    "answer",
    "findings",
    "receive_request",
    "request_trace",
]

_MAX_FINDINGS = 50
MAX_ANSWER_DAYS = 365  # the latest answer_by an officer may ask for, as FIREARMS_TRACE_ANSWER_DAYS's bound


def _same(one: str | None, other: str) -> bool | None:
    return None if one is None else same_person(one, other)


def _maker(weapon: Weapon) -> tuple[str | None, str | None]:
    """The manufacturer and country of manufacture a request gives: the weapon's, else its manufacture marking's."""
    manufacturer = weapon.manufacturer or next(
        (m.manufacturer for m in weapon.markings if m.kind == "manufacture" and m.manufacturer), None
    )
    country = weapon.country_of_manufacture or next(
        (m.country for m in weapon.markings if m.kind == "manufacture" and m.country), None
    )
    return manufacturer, country


def findings(weapon: Weapon, rows: list[asyncpg.Record]) -> list[TraceFinding]:
    """The pre-computed findings of a received request: each item found by serial, best matches first."""
    manufacturer, country = _maker(weapon)
    found = [
        TraceFinding(
            **{name: row[name] for name in TraceFinding.__struct_fields__ if name not in _MATCHES},
            manufacturer_matches=_same(manufacturer, row["manufacturer"]),
            country_matches=_same(country, row["country_of_manufacture"]),
        )
        for row in rows
    ]
    return sorted(found, key=lambda f: (f.manufacturer_matches is False, f.country_matches is False, f.item_id))


_MATCHES = frozenset({"manufacturer_matches", "country_matches"})


_MAX_MARKINGS = 20  # a weapon's markings on the wire (trace_bodies.Weapon): a registration's limit too


def _weapon_of(item: ItemDetail) -> Weapon:
    """The weapon as this registry records it; one with more markings than a request carries is refused.

    Raises:
        InvalidInputError: ``invalid-trace-request`` (markings added one by one beyond a registration's 20).
    """
    if len(item.markings) > _MAX_MARKINGS:
        raise InvalidInputError(
            f"item {item.item_id} has {len(item.markings)} markings, more than a trace request carries"
            f" ({_MAX_MARKINGS}): describe the weapon (weapon) with the markings that identify it",
            code="invalid-trace-request",
            item_id=item.item_id,
        )
    return Weapon(
        kind=item.kind,
        firearm_type=item.firearm_type,
        component_type=item.component_type,
        make=item.make,
        model=item.model,
        calibre=item.calibre,
        manufacturer=item.manufacturer,
        country_of_manufacture=item.country_of_manufacture,
        serial=item.serial,
        year_of_manufacture=item.year_of_manufacture,
        markings=[trace_marking(marking) for marking in item.markings],
    )


_TYPE_OF_KIND = {"firearm_type": ("firearm",), "component_type": ("component",)}


def _described(weapon: NewWeapon, today: dt.date) -> Weapon:
    """A weapon as the officer described it, held to the rules of a registration's fields and markings."""
    for name in ("make", "model", "calibre", "manufacturer"):
        check_text(f"weapon.{name}", getattr(weapon, name))
    check_country("weapon.country_of_manufacture", weapon.country_of_manufacture)
    check_year("weapon.year_of_manufacture", weapon.year_of_manufacture, today)
    if weapon.serial is not None:
        serials.check_serial(weapon.serial, "weapon.serial")
    # a description may leave the type out, but never gives the type of another kind (as a registration refuses)
    for name, kinds in _TYPE_OF_KIND.items():
        if getattr(weapon, name) is not None and weapon.kind not in kinds:
            raise InvalidInputError(
                f"weapon.{name}: a {weapon.kind} has no {name} (a field of another kind of item)",
                code="invalid-kind-fields",
                field=f"weapon.{name}",
            )
    for index, marking in enumerate(weapon.markings):
        validate_marking(marking, today, f"weapon.markings[{index}]", item_kind=weapon.kind)
        check_marking_year(f"weapon.markings[{index}].year", marking.year, weapon.year_of_manufacture)
    described = Weapon(
        **{name: getattr(weapon, name) for name in Weapon.__struct_fields__ if name != "markings"},
        markings=[trace_marking(marking) for marking in weapon.markings],
    )
    if not described.serials and not described.markings:
        raise InvalidInputError(
            "the weapon needs a serial or a marking: there is nothing to trace", code="invalid-trace-request"
        )
    return described


async def request_trace(
    conn: Conn, data: NewTraceRequest, *, own_state: str, today: dt.date, answer_days: int, actor: str
) -> TraceRequest:
    """Ask ``data.recipient`` to trace a weapon (ITI para 14): ``trace.requested`` queued and journaled.

    Raises:
        InvalidInputError: ``invalid-trace-request`` (no weapon or item, both, this State asked, an ``answer_by`` not
            after today or more than :data:`MAX_ANSWER_DAYS` after it, nothing to trace); ``unknown-peer`` (not on
            the trust list); ``peer-disabled``; a rule of the weapon's fields and markings (as a registration's:
            ``invalid-kind-fields``, ``year-before-manufacture`` ...).
        NotFoundError: ``item_id`` names no item.
    """
    recipient = data.recipient
    if recipient == own_state:
        raise InvalidInputError(f"{own_state} is this registry's State: trace here", code="invalid-trace-request")
    if (data.weapon is None) == (data.item_id is None):
        raise InvalidInputError(
            "give either the weapon's description (weapon) or the item recorded here (item_id), not both",
            code="invalid-trace-request",
        )
    answer_by = data.answer_by or today + dt.timedelta(days=answer_days)
    if answer_by <= today:
        raise InvalidInputError(
            f"answer_by {answer_by} is not after today ({today})", code="invalid-trace-request", field="answer_by"
        )
    if answer_by > today + dt.timedelta(days=MAX_ANSWER_DAYS):
        raise InvalidInputError(
            f"answer_by {answer_by} is more than {MAX_ANSWER_DAYS} days after today ({today}): a trace is answered"
            " in a timely manner (ITI para 17), and a day years ahead would never be overdue",
            code="invalid-trace-request",
            field="answer_by",
        )
    peer = await peer_store.get_peer(conn, recipient)
    if peer is None:
        raise InvalidInputError(
            f"{recipient} is not on the trust list: add it with 'firearms peers add'",
            code="unknown-peer",
            state=recipient,
        )
    if not peer["enabled"]:
        raise InvalidInputError(
            f"{recipient} is disabled on the trust list: nothing is sent to it", code="peer-disabled", state=recipient
        )
    if data.item_id is not None:
        weapon = _weapon_of(await items.get_item(conn, data.item_id))
    else:
        assert data.weapon is not None  # noqa: S101  # one of the two, checked above
        weapon = _described(data.weapon, today)
    body = TraceRequested(
        weapon=weapon, circumstances=data.circumstances, intended_use=data.intended_use, answer_by=answer_by
    )
    notice_id = await outbox.enqueue(
        conn, recipient, "trace.requested", body, confidentiality=data.confidentiality, actor=actor
    )
    trace_request_id = await store.insert_trace_request(
        conn,
        "outgoing",
        recipient,
        str(notice_id),
        data.item_id,
        msgspec.to_builtins(weapon),
        data.circumstances,
        data.intended_use,
        data.confidentiality,
        answer_by,
        None,
        None,
        utc_now(),
        actor,
    )
    await journal.record(
        conn,
        actor=actor,
        action="trace.requested",
        entity="trace_request",
        entity_id=str(trace_request_id),
        payload={
            "direction": "outgoing",
            "recipient": recipient,
            "notice_id": str(notice_id),
            "item_id": data.item_id,
            "serials": weapon.serials,
            "answer_by": answer_by.isoformat(),
            "confidentiality": data.confidentiality,
        },
    )
    return await get_trace_request(conn, trace_request_id, today=today)


async def receive_request(
    conn: Conn,
    body: TraceRequested,
    *,
    sender: str,
    notice_id: str,
    confidentiality: Confidentiality,
    received_at: dt.datetime,
    received_on: dt.date,
) -> int:
    """Store a received ``trace.requested`` with its findings and acknowledge it (``trace.acknowledged``).

    The acknowledgement goes back in the same transaction (ITI para 17: "acknowledge receipt ... within a
    reasonable time"): ``acknowledge_by`` is the day of receipt, and the acknowledgement meets it. It tells the
    requesting State the day asked for, ``answer_by``, as the day the answer is due. Returns the request's id.
    """
    # the full matches are chosen before the limit, not only sorted first among the items it happened to keep
    rows = await store.find_trace_items(conn, body.weapon.serials, _MAX_FINDINGS, *_maker(body.weapon))
    found = findings(body.weapon, rows)
    omitted = rows[0]["matching"] - len(rows) if rows else 0
    actor = f"partner:{sender}"
    trace_request_id = await store.insert_trace_request(
        conn,
        "incoming",
        sender,
        notice_id,
        None,
        msgspec.to_builtins(body.weapon),
        body.circumstances,
        body.intended_use,
        confidentiality,
        body.answer_by,
        received_on,
        msgspec.to_builtins(found),
        received_at,
        actor,
        omitted,
    )
    await journal.record(
        conn,
        actor=actor,
        action="trace.requested",
        entity="trace_request",
        entity_id=str(trace_request_id),
        payload={
            "direction": "incoming",
            "requesting_state": sender,
            "notice_id": notice_id,
            "serials": body.weapon.serials,
            "answer_by": body.answer_by.isoformat(),
            "findings": [f"{item.item_id}:{item.status}" for item in found],
            "findings_omitted": omitted,
        },
    )
    acknowledged_at = received_at.replace(microsecond=0)
    reply = await outbox.enqueue(
        conn,
        sender,
        "trace.acknowledged",
        {"acknowledged_at": acknowledged_at, "answer_by": body.answer_by},
        in_reply_to=notice_id,
        confidentiality=confidentiality,
        actor=_ACKNOWLEDGER,
    )
    await store.insert_trace_acknowledgement(
        conn, trace_request_id, str(reply), acknowledged_at, body.answer_by, _ACKNOWLEDGER
    )
    await journal.record(
        conn,
        actor=_ACKNOWLEDGER,
        action="trace.acknowledged",
        entity="trace_request",
        entity_id=str(trace_request_id),
        payload={"notice_id": str(reply), "in_reply_to": notice_id, "answer_by": body.answer_by.isoformat()},
    )
    return trace_request_id


_ACKNOWLEDGER = "system:trace-acknowledgement"


async def answer(
    conn: Conn, trace_request_id: int, data: NewTraceAnswer, *, today: dt.date, actor: str
) -> TraceRequest:
    """Answer a received request (ITI paras 18-22): ``trace.answered`` to the requesting State, and it is closed.

    Raises:
        NotFoundError: no such request.
        ConflictError: ``trace-already-answered``.
        InvalidInputError: ``invalid-trace-answer`` (``found`` without an item, an item or ``unmatched_because``
            with another outcome, ``unmatched_because`` for an item the request is about, a request this registry
            sent); ``reason-required`` (``restricted`` without its reason); ``item-not-matching-request`` (an item
            neither among the findings nor carrying one of the request's serials, without ``unmatched_because``).
    """
    request = await get_trace_request(conn, trace_request_id, today=today)
    if request.direction != "incoming":
        raise InvalidInputError(
            f"trace request {trace_request_id} is this registry's own request to {request.partner_state}: the"
            " requested State answers it",
            code="invalid-trace-answer",
        )
    if request.answer is not None:
        raise ConflictError(
            f"trace request {trace_request_id} is already answered ({request.answer.outcome}): an answer stands",
            code="trace-already-answered",
            trace_request_id=trace_request_id,
        )
    if (data.outcome == "found") != (data.item_id is not None):
        raise InvalidInputError(
            "an answer found names the item (item_id) its record is built from; another outcome names none",
            code="invalid-trace-answer",
            field="item_id",
        )
    if data.outcome != "found" and data.unmatched_because is not None:
        raise InvalidInputError(
            "unmatched_because says why the item named by an answer found is the weapon; this answer names none",
            code="invalid-trace-answer",
            field="unmatched_because",
        )
    if data.outcome == "restricted" and data.reason is None:
        raise InvalidInputError(
            "a restricted answer gives its reason (ITI para 22)", code="reason-required", field="reason"
        )
    record = None
    if data.item_id is not None:
        item = await items.get_item(conn, data.item_id)
        _check_matches(request, item, data.unmatched_because)
        record = build_record(item, await store.list_trace_item_events(conn, data.item_id))
    # Art. 12(5): a public notice's content may be passed to a third State. The level is the requesting State's
    # choice, but a found record names the weapon's holders and a reason or note is an officer's own text: never
    # sent below restricted, whatever level the request came at.
    level: Confidentiality = "restricted"
    if request.confidentiality != "public":
        level = request.confidentiality  # type: ignore[assignment]  # a level the database checked

    def body(record: TraceRecord | None) -> dict[str, Any]:
        return {"outcome": data.outcome, "record": record, "reason": data.reason, "note": data.note}

    try:  # the common answer is reckoned once, by the outbox
        reply = await outbox.enqueue(
            conn, request.partner_state, "trace.answered", body(record), request.notice_id, level, actor=actor
        )
    except InvalidInputError as exc:
        if exc.code != "notice-too-large" or record is None:
            raise
        # a long history with long texts: as many of the most recent events as fit (PROTOCOL §3's 256 KiB), so that
        # every found answer can be sent; the outbox refused nothing (it refuses before it writes)
        record = fit_record(
            record,
            lambda trimmed: (
                outbox.notice_size("trace.answered", body(trimmed), request.notice_id, level) <= MAX_ENVELOPE_BYTES
            ),
        )
        reply = await outbox.enqueue(
            conn, request.partner_state, "trace.answered", body(record), request.notice_id, level, actor=actor
        )
    await store.insert_trace_answer(
        conn,
        trace_request_id,
        str(reply),
        data.outcome,
        data.item_id,
        msgspec.to_builtins(record),
        data.reason,
        data.note,
        utc_now(),
        actor,
        level,
        data.unmatched_because,
    )
    await journal.record(
        conn,
        actor=actor,
        action="trace.answered",
        entity="trace_request",
        entity_id=str(trace_request_id),
        payload={
            "notice_id": str(reply),
            "in_reply_to": request.notice_id,
            "outcome": data.outcome,
            "item_id": data.item_id,
            "reason": data.reason,
            "confidentiality": level,
            "unmatched_because": data.unmatched_because,
        },
    )
    return await get_trace_request(conn, trace_request_id, today=today)


def _check_matches(request: TraceRequest, item: ItemDetail, unmatched_because: str | None) -> None:
    """An answer found sends the item's record abroad: the item must be one the request is about, or said to be.

    About the request: among its findings, or carrying (its serial or a marking's, normalised) one of its serials --
    the findings hold 50, and an item left out of them is the request's as much. Otherwise a mistyped item id would
    send an unrelated person's history to another State: refused unless the officer says why it is the weapon all
    the same (``unmatched_because``, a reason as the registry's other decisions give).

    Raises:
        InvalidInputError: ``item-not-matching-request`` (neither, and no reason); ``invalid-trace-answer`` (a reason
            given for an item the request is about: it would say what is not so).
    """
    wanted = {serials.normalise(serial) for serial in request.weapon.serials}
    carried = {serials.normalise(serial) for serial in [item.serial, *(m.serial for m in item.markings)] if serial}
    matches = item.item_id in {finding.item_id for finding in request.findings or []} or bool(wanted & carried)
    if matches and unmatched_because is not None:
        raise InvalidInputError(
            f"item {item.item_id} is one trace request {request.trace_request_id} is about (a finding, or carrying"
            " one of its serials): unmatched_because is for an item that is not",
            code="invalid-trace-answer",
            field="unmatched_because",
        )
    if not matches and unmatched_because is None:
        raise InvalidInputError(
            f"item {item.item_id} (serial {item.serial}) is not among the findings of trace request"
            f" {request.trace_request_id} and carries none of its serials ({', '.join(request.weapon.serials) or '-'}):"
            " its record would tell another State an unrelated weapon's history. Check the item id, or say why it is"
            " the weapon all the same (unmatched_because)",
            code="item-not-matching-request",
            trace_request_id=request.trace_request_id,
            item_id=item.item_id,
            serials=request.weapon.serials,
        )
