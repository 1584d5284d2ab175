"""A trace answer's record made small enough for its envelope: the oldest events, then imports, then markings."""

from __future__ import annotations

import datetime as dt

import msgspec

from firearms.exchange.trace_bodies import RecordedItem, TraceEvent, TraceMarking, TraceRecord
from firearms.trace_records import fit_record

ITEM = RecordedItem(kind="firearm", manufacturer="Steyr", country_of_manufacture="AT", serial="S-1", status="active")


def _event(n: int, event: str = "transferred") -> TraceEvent:
    return TraceEvent(
        event=event,  # type: ignore[arg-type]  # an event kind
        occurred_on=dt.date(2020, 1, 1),
        status_after="active",
        from_party=f"{n:04} " + "x" * 195,
        to_party=f"{n:04} " + "y" * 195,
    )


def _size(record: TraceRecord) -> int:
    return len(msgspec.json.encode(record))


def test_a_record_that_fits_is_left_as_it_is_and_reckoned_once() -> None:
    record = TraceRecord(item=ITEM, markings=[], events=[_event(n) for n in range(10)])
    reckoned: list[int] = []

    def fits(candidate: TraceRecord) -> bool:
        reckoned.append(_size(candidate))
        return True

    assert fit_record(record, fits) is record
    assert len(reckoned) == 1


def test_the_oldest_events_go_first_as_few_as_must_counted_with_those_already_left_out() -> None:
    record = TraceRecord(item=ITEM, markings=[], events=[_event(n) for n in range(1000)], events_omitted=5)
    limit = _size(record) // 4
    calls: list[int] = []

    def fits(candidate: TraceRecord) -> bool:
        calls.append(1)
        return _size(candidate) <= limit

    fitted = fit_record(record, fits)
    assert _size(fitted) <= limit
    kept = len(fitted.events)
    assert _size(msgspec.structs.replace(fitted, events=record.events[-(kept + 1) :])) > limit  # one more would not
    assert fitted.events == record.events[-kept:]
    assert fitted.events_omitted == 5 + 1000 - kept
    assert len(calls) < 20  # halving then refining, never one reckoning an event


def test_then_the_oldest_imports_then_markings_beyond_the_first_and_the_rest_stays() -> None:
    markings = [TraceMarking(kind="proof", stamped=f"{n:03} " + "m" * 496) for n in range(100)]
    imports = [_event(n, "imported") for n in range(100)]
    last = _event(9999)
    record = TraceRecord(
        item=ITEM,
        markings=markings,
        manufacture=markings[0],
        imports=imports,
        last_transfer=last,
        events=[_event(n) for n in range(1000)],
    )
    limit = 20_000

    fitted = fit_record(record, lambda candidate: _size(candidate) <= limit)
    assert _size(fitted) <= limit
    assert (fitted.events, fitted.events_omitted) == ([], 1000)
    assert (fitted.imports, fitted.imports_omitted) == ([], 100)
    assert 0 < len(fitted.markings) < 100
    assert fitted.markings == markings[: len(fitted.markings)]  # the first kept
    assert fitted.markings_omitted == 100 - len(fitted.markings)
    assert (fitted.item, fitted.manufacture, fitted.last_transfer) == (ITEM, markings[0], last)
