"""Bodies of the trace notice types (ITI Section V; PROTOCOL §5 "More types"), as msgspec Structs.

``trace.requested`` (requesting -> requested State), ``trace.acknowledged`` and ``trace.answered`` (requested ->
requesting State, ``in_reply_to`` the request). As the core bodies (:mod:`firearms.exchange.bodies`): unknown fields
inside a body are ignored (PROTOCOL §3: a new optional field keeps the version), every string and list is bounded,
numbers are integers, times are protocol times, serials identifiers (no white space around them, no control
character: :data:`firearms.text_rules.IDENTIFIER`). What a type cannot mean however it is typed (an answer ``found``
without its record) is :func:`contradiction`'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from firearms.item_types import ComponentType, FirearmType, ItemKind, MarkingKind, Year
from firearms.lifecycle import EventKind, Status
from firearms.text_rules import IDENTIFIER

__all__ = [
    "MAX_RECORD_EVENTS",
    "MAX_RECORD_IMPORTS",
    "MAX_RECORD_MARKINGS",
    "TRACE_TYPES",
    "Outcome",
    "RecordedItem",
    "TraceAcknowledged",
    "TraceAnswered",
    "TraceEvent",
    "TraceMarking",
    "TraceRecord",
    "TraceRequested",
    "Weapon",
    "contradiction",
]

TRACE_TYPES = ("trace.requested", "trace.acknowledged", "trace.answered")
Outcome = Literal["found", "not-found", "restricted"]
Time = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# a serial is looked up in the requested State's records and read as the weapon's identity: padded or holding a control
# character, refused as the registry refuses its own, never trimmed (firearms.exchange.inbox.body_as)
Serial = Annotated[str, msgspec.Meta(min_length=1, max_length=200), IDENTIFIER]
Stamped = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Circumstances = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
IntendedUse = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class TraceMarking(msgspec.Struct, frozen=True, kw_only=True):
    """A marking as stamped with the fields read from it (the shape of :class:`firearms.item_types.NewMarking`)."""

    kind: MarkingKind
    stamped: Stamped
    manufacturer: Text | None = None
    place: Text | None = None
    country: Text | None = None
    serial: Serial | None = None
    year: Year | None = None
    model: Text | None = None
    symbol_code: Text | None = None
    alphanumeric_code: Text | None = None


class Weapon(msgspec.Struct, frozen=True, kw_only=True):
    """The weapon to trace (ITI para 14(a)): its description and its markings as stamped."""

    kind: ItemKind
    firearm_type: FirearmType | None = None
    component_type: ComponentType | None = None
    make: Text | None = None
    model: Text | None = None
    calibre: Text | None = None
    manufacturer: Text | None = None
    country_of_manufacture: Text | None = None
    serial: Serial | None = None
    year_of_manufacture: Year | None = None
    markings: Annotated[list[TraceMarking], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)

    @property
    def serials(self) -> list[str]:
        """Every serial the description gives: its own and its markings', in order, each once."""
        given = [self.serial, *(marking.serial for marking in self.markings)]
        return list(dict.fromkeys(serial for serial in given if serial))


class TraceRequested(msgspec.Struct, frozen=True, kw_only=True):
    """``trace.requested``: ITI para 14 (the weapon, the circumstances, the intended use) and the day asked for."""

    weapon: Weapon
    circumstances: Circumstances
    intended_use: IntendedUse
    answer_by: dt.date


class TraceAcknowledged(msgspec.Struct, frozen=True, kw_only=True):
    """``trace.acknowledged``: receipt acknowledged (ITI para 17), with the day the answer is due."""

    acknowledged_at: Time
    answer_by: dt.date


class TraceEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A lifecycle event of the record, as the requested State's events hold it (no officer, no internal note)."""

    event: EventKind
    occurred_on: dt.date
    status_after: Status
    from_party: Text | None = None
    to_party: Text | None = None
    country: Text | None = None
    document: Text | None = None
    temporary: bool = False
    purpose: Text | None = None


class RecordedItem(msgspec.Struct, frozen=True, kw_only=True):
    """The item as recorded by the requested State, with its current status."""

    kind: ItemKind
    firearm_type: FirearmType | None = None
    component_type: ComponentType | None = None
    make: Text | None = None
    model: Text | None = None
    calibre: Text | None = None
    manufacturer: Text
    country_of_manufacture: Text
    serial: Serial
    year_of_manufacture: Year | None = None
    status: Status


MAX_RECORD_MARKINGS = 100
MAX_RECORD_IMPORTS = 100
MAX_RECORD_EVENTS = 1000
Omitted = Annotated[int, msgspec.Meta(ge=1)]


class TraceRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the requested State's records hold (ITI paras 18-20): built from the item's history, never typed.

    ``markings`` every marking as it reads now; ``manufacture`` the manufacture marking; ``imports`` the imports in
    effect; ``last_transfer`` the latest transfer, import or export in effect (its parties: the last lawful holder
    known); ``events`` every event in effect, in order. Beyond what a notice carries, ``events`` and ``imports`` keep
    the most recent and ``markings`` the first; ``events_omitted``, ``imports_omitted`` and ``markings_omitted`` say
    how many were left out (absent when none: an additive field, PROTOCOL §3).
    """

    item: RecordedItem
    markings: Annotated[list[TraceMarking], msgspec.Meta(max_length=MAX_RECORD_MARKINGS)]
    manufacture: TraceMarking | None = None
    imports: Annotated[list[TraceEvent], msgspec.Meta(max_length=MAX_RECORD_IMPORTS)] = msgspec.field(
        default_factory=list
    )
    last_transfer: TraceEvent | None = None
    events: Annotated[list[TraceEvent], msgspec.Meta(max_length=MAX_RECORD_EVENTS)] = msgspec.field(
        default_factory=list
    )
    events_omitted: Omitted | msgspec.UnsetType = msgspec.UNSET
    imports_omitted: Omitted | msgspec.UnsetType = msgspec.UNSET
    markings_omitted: Omitted | msgspec.UnsetType = msgspec.UNSET


class TraceAnswered(msgspec.Struct, frozen=True, kw_only=True):
    """``trace.answered``: ``found`` with the record, ``not-found``, or ``restricted`` with the reason (ITI 21-22)."""

    outcome: Outcome
    record: TraceRecord | None = None
    reason: Reason | None = None
    note: Reason | None = None


def contradiction(body: TraceRequested | TraceAnswered) -> str | None:
    """Where a trace body contradicts itself, so that it is invalid for its type (``invalid-body``); else ``None``."""
    if isinstance(body, TraceRequested):
        if not body.weapon.serials and not body.weapon.markings:
            return "the weapon has neither a serial nor a marking: there is nothing to trace"
        return None
    if (body.outcome == "found") != (body.record is not None):
        return f"an answer {body.outcome} {'lacks' if body.record is None else 'carries'} a record"
    if body.outcome == "restricted" and body.reason is None:
        return "a restricted answer gives its reason (ITI para 22)"
    return None
