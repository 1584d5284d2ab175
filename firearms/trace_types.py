"""What trace requests are made of (ITI Section V, paras 14-24; DESIGN §3): the request and answer types.

An officer's bodies (``New*``: a request to a partner, the weapon it describes, the answer to a received one) forbid
unknown fields; the request as the registry reads it back (:class:`TraceRequest`, either direction) carries its
findings, acknowledgement, answer and notices. The requests themselves are :mod:`firearms.traces`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from firearms.exchange.protocol import Confidentiality
from firearms.exchange.trace_bodies import Outcome, TraceRecord, Weapon
from firearms.item_types import ComponentType, FirearmType, ItemKind, NewMarking, RowId, Text, Year
from firearms.licence_object import CountryCode
from firearms.text_rules import REASON, UNPADDED_TEXT_PATTERN

__all__ = [
    "Direction",
    "NewTraceAnswer",
    "NewTraceRequest",
    "NewWeapon",
    "TraceAcknowledgement",
    "TraceAnswer",
    "TraceFinding",
    "TraceNotice",
    "TraceRequest",
    "TraceStatus",
]

Direction = Literal["incoming", "outgoing"]
TraceStatus = Literal["open", "acknowledged", "answered"]
Circumstances = Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=UNPADDED_TEXT_PATTERN)]
IntendedUse = Annotated[str, msgspec.Meta(min_length=1, max_length=1000, pattern=UNPADDED_TEXT_PATTERN)]


class NewWeapon(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The weapon to trace, described by the officer: as an item is, its markings as stamped plus their fields."""

    kind: ItemKind
    firearm_type: FirearmType | None = None
    component_type: ComponentType | None = None
    make: Text | None = None
    model: Text | None = None
    calibre: Text | None = None
    manufacturer: Text | None = None
    country_of_manufacture: Text | None = None
    serial: Text | None = None
    year_of_manufacture: Year | None = None
    markings: Annotated[list[NewMarking], msgspec.Meta(max_length=20)] = []


class NewTraceRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A request to a partner State to trace a weapon (ITI para 14).

    Either ``weapon`` (described) or ``item_id`` (an item recorded here, a seized firearm: its description and
    markings are taken from the record). ``answer_by``: the day the answer is asked for; by default
    ``FIREARMS_TRACE_ANSWER_DAYS`` after today.
    """

    recipient: CountryCode
    circumstances: Circumstances
    intended_use: IntendedUse
    weapon: NewWeapon | None = None
    item_id: RowId | None = None
    confidentiality: Confidentiality = "restricted"
    answer_by: dt.date | None = None


class NewTraceAnswer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The officer's answer to a received request: ``found`` names the item (its record is built from its history).

    ``unmatched_because``: why an item the request is not about (neither among its findings nor carrying one of its
    serials) is the weapon all the same; kept with the answer and journaled, never sent.
    """

    outcome: Outcome
    item_id: RowId | None = None
    reason: REASON | None = None
    note: REASON | None = None
    unmatched_because: REASON | None = None


class TraceFinding(msgspec.Struct, frozen=True, kw_only=True):
    """An item of this registry carrying a serial of a received request, with its status.

    ``manufacturer_matches`` and ``country_matches``: whether the request's manufacturer and country of manufacture
    (where it gives them) are the item's; ``None`` where it gives none. A serial alone is not an identity.
    """

    item_id: int
    kind: str
    firearm_type: str | None
    component_type: str | None
    manufacturer: str
    country_of_manufacture: str
    serial: str
    make: str | None
    model: str | None
    calibre: str | None
    status: str
    manufacturer_matches: bool | None
    country_matches: bool | None


class TraceAcknowledgement(msgspec.Struct, frozen=True, kw_only=True):
    """A request's acknowledgement: sent by this registry (incoming) or received from the partner (outgoing)."""

    notice_id: str
    acknowledged_at: dt.datetime
    acknowledged_by: str


class TraceAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A request's answer: sent by this registry (incoming) or received from the partner (outgoing), as it was.

    ``confidentiality``: the level of its notice (Art. 12(5)): the partner's for an answer received, which may be
    stricter than the request's; for one sent, the request's but never ``public``. ``unmatched_because``: for one
    sent naming an item the request is not about, the officer's reason (kept here, never sent).
    """

    notice_id: str
    confidentiality: str
    outcome: Outcome
    item_id: int | None
    record: TraceRecord | None
    reason: str | None
    note: str | None
    answered_at: dt.datetime
    answered_by: str
    unmatched_because: str | None


class TraceNotice(msgspec.Struct, frozen=True, kw_only=True):
    """One of this registry's notices about the request and its delivery state (``queued``, ``delivered``, ...)."""

    notice_id: uuid.UUID
    type: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    delivered_at: dt.datetime | None
    receipt_reason: str | None


class TraceRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A trace request, either direction, with its acknowledgement, answer and due days.

    ``partner_state`` is the requested State (outgoing) or the requesting State (incoming); ``notice_id`` the
    ``trace.requested`` notice. ``due_on`` is the day the answer is due (what the requested State acknowledged,
    else ``answer_by``); ``overdue`` when it passed unanswered. ``findings`` (incoming only) what this registry's
    records hold for the request's serials, computed on receipt, at most 50; ``findings_omitted`` how many more items
    carried them then (``None`` for an outgoing request, and for one received before they were counted).
    ``notices``: the notices this registry sent about it (the request; or the acknowledgement and the answer) and
    their delivery.
    """

    trace_request_id: int
    direction: Direction
    partner_state: str
    notice_id: str
    item_id: int | None
    weapon: Weapon
    circumstances: str
    intended_use: str
    confidentiality: str
    answer_by: dt.date
    acknowledge_by: dt.date | None
    due_on: dt.date
    status: TraceStatus
    overdue: bool
    findings: list[TraceFinding] | None
    findings_omitted: int | None
    created_at: dt.datetime
    created_by: str
    acknowledgement: TraceAcknowledgement | None
    answer: TraceAnswer | None
    notices: list[TraceNotice]
