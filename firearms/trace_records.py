"""The record of an item a found trace answer carries (ITI paras 18-20): built from its history, fitted to a notice.

:func:`build_record` takes the item as recorded now and its events in effect; nobody types it. :func:`fit_record`
leaves out what a notice cannot carry (PROTOCOL §3's 256 KiB) -- the oldest events, then the oldest imports, then
markings beyond the first -- and counts it. The answer that sends it is :func:`firearms.traces.answer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from firearms.exchange.trace_bodies import (
    MAX_RECORD_EVENTS,
    MAX_RECORD_IMPORTS,
    MAX_RECORD_MARKINGS,
    RecordedItem,
    TraceEvent,
    TraceMarking,
    TraceRecord,
)
from firearms.item_events import in_effect

if TYPE_CHECKING:
    from collections.abc import Callable

    import asyncpg

    from firearms.item_types import ItemDetail

__all__ = ["build_record", "fit_record", "trace_marking"]


def build_record(item: ItemDetail, events: list[asyncpg.Record]) -> TraceRecord:
    """What this registry's records hold about an item (ITI paras 18-20), from its record and its events in effect.

    Nobody types it: the item as recorded now (corrections applied), every marking, the manufacture marking, the
    imports, and the latest transfer, import or export (the last lawful holder or transfer known here). What a
    notice carries at most (``trace.answered``: 1,000 events, 100 imports, 100 markings; else the partner refuses it
    ``invalid-body`` and the requesting State never hears): the most recent events and imports, the first markings,
    and how many were left out; the manufacture marking and the last transfer are taken from all of them. A record
    still too large for its envelope (long texts) is made to fit by :func:`fit_record` when it is answered.
    """
    current = [
        TraceEvent(
            event=row["event"],
            occurred_on=row["occurred_on"],
            status_after=row["status_after"],
            from_party=row["from_party"],
            to_party=row["to_party"],
            country=row["country"],
            document=row["document"],
            temporary=row["temporary"],
            purpose=row["purpose"],
        )
        for row in in_effect(events)
    ]
    markings = [trace_marking(marking) for marking in item.markings]
    imports = [event for event in current if event.event == "imported"]
    return TraceRecord(
        item=RecordedItem(**{name: getattr(item, name) for name in RecordedItem.__struct_fields__}),
        markings=markings[:MAX_RECORD_MARKINGS],
        manufacture=next((marking for marking in markings if marking.kind == "manufacture"), None),
        imports=imports[-MAX_RECORD_IMPORTS:],
        last_transfer=next(
            (event for event in reversed(current) if event.event in {"transferred", "imported", "exported"}), None
        ),
        events=current[-MAX_RECORD_EVENTS:],
        events_omitted=_omitted(current, MAX_RECORD_EVENTS),
        imports_omitted=_omitted(imports, MAX_RECORD_IMPORTS),
        markings_omitted=_omitted(markings, MAX_RECORD_MARKINGS),
    )


def fit_record(record: TraceRecord, fits: Callable[[TraceRecord], bool]) -> TraceRecord:
    """The record made small enough for its notice: ``fits`` says whether a record does (PROTOCOL §3's 256 KiB).

    Leaves out the oldest events first, then the oldest imports, then markings beyond the first -- each as few as
    it must (halving, then refining: a handful of size reckonings, never one an event) -- and counts them in
    ``events_omitted``, ``imports_omitted`` and ``markings_omitted`` with those already left out. The item, the
    manufacture marking and the last transfer always stay: without the rest they fit any envelope.
    """
    for name, most_recent in (("events", True), ("imports", True), ("markings", False)):
        if fits(record):
            break
        record = _fewer(record, name, fits, most_recent=most_recent)
    return record


def _fewer(record: TraceRecord, name: str, fits: Callable[[TraceRecord], bool], *, most_recent: bool) -> TraceRecord:
    """``record`` keeping as many of its ``name`` as fit (none, when none does), the rest counted as omitted."""
    values: list[Any] = getattr(record, name)
    before = getattr(record, f"{name}_omitted")
    already = 0 if before is msgspec.UNSET else before

    def keeping(count: int) -> TraceRecord:
        kept = (values[len(values) - count :] if most_recent else values[:count]) if count else []
        changes = {name: kept, f"{name}_omitted": already + len(values) - count}
        return msgspec.structs.replace(record, **changes)

    low, high = 0, len(values) - 1  # all of them do not fit; the most that do is in [low, high], or none
    if not fits(keeping(low)):
        return keeping(0)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(keeping(middle)):
            low = middle
        else:
            high = middle - 1
    return keeping(low)


def _omitted(values: list[Any], limit: int) -> int | msgspec.UnsetType:
    """How many of ``values`` a notice's list of ``limit`` leaves out; unset (the field absent) when none."""
    return len(values) - limit if len(values) > limit else msgspec.UNSET


def trace_marking(marking: Any) -> TraceMarking:
    """A marking of an item as a trace notice carries it: in a weapon described by a request, or in a record."""
    return TraceMarking(**{name: getattr(marking, name) for name in TraceMarking.__struct_fields__})
