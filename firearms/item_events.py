"""Lifecycle events and the history of an item (Protocol Art. 7; ITI para 12; DESIGN §3).

Records are never edited: every change is an event, in the item's row lock, journaled in the same
transaction. Rules checked here beyond the state machine:

* Art. 8(1)(b): an ``imported`` event of a firearm or component needs an import marking on the item (a lot of
  ammunition takes none), unless the import is
  temporary for a lawful purpose (``temporary`` with ``purpose``), or it is a return (the item ``exported``)
  of a firearm this State made, bearing its manufacture marking (``made_here``): that marking already names
  the State whose authorities trace it, and its records here show it left;
* an item imported for good (a permanent ``imported`` event in effect) is not imported again before an
  ``exported`` event: the second arrival is refused, and so is a correction that would leave two;
* Art. 8(1)(c): a ``transferred`` event ``from_state_stocks`` (release to civilian use) of a firearm or
  component needs a state-to-civilian marking (a lot of ammunition takes none);
* Art. 9; Reg. 2015/2403: firearms and their parts are deactivated, never a lot of ammunition
  (``event-not-for-kind``);
* Art. 9; Reg. 2015/2403 Art. 3: a ``deactivated`` event needs the item's deactivation marking (country,
  verifier's symbol, year), and names the deactivator, the verifier (never the same) and the certificate
  (:func:`firearms.item_rules.validate_event`);
* Dir. 2021/555 Annex I: a ``deactivated`` event moves the item to category C (or the category the officer
  gives), recording the category before and after; a correction of it moves the category back to what the
  item's other events give;
* Reg. 2015/2403: a deactivated firearm is lost, stolen and seized like any other; a ``recovered`` event leads
  back to the status its loss, theft or seizure run began in (``active`` or ``deactivated``), what the events
  in effect give (:func:`_replay`, for the recording and for a correction alike), and a firearm seized while
  deactivated is not deactivated again (:mod:`firearms.lifecycle`);
* Reg. 2015/2403 Art. 7: a deactivated firearm is exported and imported as one; a re-import leads back to the
  status the export left (``deactivated`` stays deactivated, in its category), replayed like a run's origin;
* dates: no event after the registry's today, none before the item's year of manufacture, none before
  the latest event in effect (a correction: before the event it corrects); the registration is no bound
  (:func:`firearms.item_rules.check_event_date`);
* a ``corrected`` event names an event of the same item (or ``null``: the registration record)
  and why; the status becomes what the item's history gives without the corrected event (every
  event not corrected, replayed from registration), and a correction that would leave a later
  event impossible (a recovery without its loss) is refused: correct the later events first.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, NamedTuple

from firearms import journal, lifecycle
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.exchange import reports
from firearms.item_rules import check_event_date, same_person, validate_event
from firearms.item_types import HistoryEntry, ItemEvent, NewEvent
from firearms.store import items as store

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from firearms.db import Conn
    from firearms.lifecycle import Status

__all__ = ["history", "in_effect", "made_in", "record_event"]

_DEACTIVATED_CATEGORY = "C"  # Dir. 2021/555 Annex I, part II, C 6: deactivated under Reg. 2015/2403


async def record_event(conn: Conn, item_id: int, data: NewEvent, *, actor: str, today: dt.date) -> ItemEvent:
    """Record a lifecycle event on an item and move its status, journaled as ``item.<event>``.

    ``today`` is the registry's date (:func:`firearms.clock.today`): no event is dated after it.

    Raises:
        InvalidInputError: a field rule, ``invalid-correction``, or a date before the item was made or before
            the event it follows (``date-before-manufacture``, ``date-before-previous-event``).
        NotFoundError: no such item.
        ConflictError: ``illegal-transition`` (with ``current_status`` and ``allowed_events``),
            ``already-imported`` (imported for good and not exported since; ``event_id``), ``import-marking-missing``,
            ``deactivation-marking-missing``, ``state-to-civilian-marking-missing``, ``certificate-already-recorded``,
            ``event-not-for-kind`` (a lot of ammunition deactivated) or ``correction-breaks-history``.
    """
    validate_event(data, today)
    # the status and its event are one change (the database checks at commit that they agree): a
    # transaction of their own, a savepoint inside the caller's
    async with conn.transaction():
        return await _record_event(conn, item_id, data, actor=actor)


async def _record_event(conn: Conn, item_id: int, data: NewEvent, *, actor: str) -> ItemEvent:
    item = await store.get_item_for_update(conn, item_id)
    if item is None:
        raise NotFoundError(f"no item {item_id}", item_id=item_id)
    before: Status = item["status"]
    # read in the item's row lock: no event can come between these and ours
    events = await store.list_item_event_kinds(conn, item_id)
    # a recovery leads back to where the loss, theft or seizure run began: what the events in effect give
    after = lifecycle.next_status(before, data.event, _replay(in_effect(events)).origin)
    if data.event == "deactivated" and item["kind"] == "ammunition":
        raise ConflictError(
            f"item {item_id} is a lot of ammunition: Art. 9 deactivates firearms and their parts; record it destroyed",
            code="event-not-for-kind",
            item_id=item_id,
            kind=item["kind"],
            event=data.event,
        )
    if data.event == "corrected":
        after = _status_after_correction(events, item_id, before, data.corrects)
    check_event_date(data, year_of_manufacture=made_in(item, events), follows=_followed(events, data))
    if data.event == "imported" and (held := _imported_for_good(in_effect(events))) is not None:
        raise ConflictError(
            f"item {item_id} was imported for good by event {held['event_id']} and has not been exported since:"
            " it cannot arrive again (correct that event if it was recorded in error)",
            code="already-imported",
            item_id=item_id,
            event_id=held["event_id"],
        )
    if (
        data.event == "imported"
        and not data.temporary
        # Art. 8(1)(b) marks each imported firearm (and its parts, Dir. 2021/555 Art. 4): a lot of cartridges none
        and item["kind"] != "ammunition"
        and not await store.has_marking(conn, item_id, "import")
        # a return home: a firearm this State made bears its marking already (Art. 8(1)(b))
        and not (before == "exported" and await store.is_made_here(conn, item_id))
    ):
        raise ConflictError(
            f"item {item_id} has no import marking: mark it first, or record a temporary import with its purpose",
            code="import-marking-missing",
            item_id=item_id,
        )
    if data.event == "deactivated" and not await store.has_marking(conn, item_id, "deactivation"):
        raise ConflictError(
            f"item {item_id} has no deactivation marking: record the mark the verifier stamped first",
            code="deactivation-marking-missing",
            item_id=item_id,
        )
    if data.event == "deactivated" and data.certificate_number is not None and data.verifier is not None:
        await _check_certificate_unused(conn, item_id, data.certificate_number, data.verifier)
    if (
        data.from_state_stocks
        # Art. 8(1)(c) marks a firearm leaving State stocks for civilian use (and its parts); a lot of cartridges none
        and item["kind"] != "ammunition"
        and not await store.has_marking(conn, item_id, "state-to-civilian")
    ):
        raise ConflictError(
            f"item {item_id} leaves State stocks without a state-to-civilian marking",
            code="state-to-civilian-marking-missing",
            item_id=item_id,
        )
    if after != before:
        await store.update_item_status(conn, item_id, after)
    category_before, category_after = _category_change(item, events, data)
    if category_before != category_after:
        await store.update_item_category(conn, item_id, category_after)
    row = await store.insert_item_event(
        conn,
        item_id,
        data.event,
        before,
        after,
        data.occurred_on,
        data.from_party,
        data.to_party,
        data.document,
        data.country,
        data.temporary,
        data.from_state_stocks,
        data.purpose,
        data.corrects,
        data.reason,
        data.note,
        dt.datetime.now(dt.UTC),
        actor,
        data.deactivator,
        data.verifier,
        data.certificate_number,
        data.certificate_date,
        category_before,
        category_after,
    )
    event = ItemEvent(**{name: row[name] for name in ItemEvent.__struct_fields__})
    await journal.record(
        conn,
        actor=actor,
        action=f"item.{data.event}",
        entity="item",
        entity_id=str(item_id),
        payload={
            "event_id": event.event_id,
            "status_before": before,
            "status_after": after,
            # every field the event row holds (the journal is what an auditor can trust)
            **{name: getattr(data, name) for name in NewEvent.__struct_fields__ if name != "event"},
            "corrects_event_id": data.corrects,
            "occurred_on": data.occurred_on.isoformat(),
            "certificate_date": None if data.certificate_date is None else data.certificate_date.isoformat(),
            "category_before": category_before,
            "category_after": category_after,
        },
    )
    # Art. 11-12: partners hear of a loss or theft, and of its end, in the same transaction
    await reports.after_event(
        conn, item_id, event=row, status_before=before, status_after=after, earlier=events, actor=actor
    )
    return event


async def _check_certificate_unused(conn: Conn, item_id: int, certificate_number: str, verifier: str) -> None:
    """Reg. 2015/2403 Art. 3: a verifier's certificate is for one firearm, so not in effect on another item.

    The verifiers are compared as :func:`firearms.item_rules.same_person` does (another verifier's numbers are its
    own); a deactivation corrected since frees its number; a firearm recorded twice (a recorded identity duplicate)
    takes its one certificate on both records.

    Raises:
        ConflictError: ``certificate-already-recorded``, naming the other item and its event.
    """
    await store.lock_certificate_number(conn, certificate_number)
    for row in await store.list_certificate_deactivations(conn, certificate_number, item_id):
        if same_person(row["verifier"], verifier):
            raise ConflictError(
                f"certificate {certificate_number} of {verifier} is recorded for item {row['item_id']}"
                f" (event {row['event_id']}): a certificate is for one firearm",
                code="certificate-already-recorded",
                item_id=row["item_id"],
                event_id=row["event_id"],
                certificate_number=certificate_number,
            )


def _category_change(
    item: asyncpg.Record, events: Sequence[asyncpg.Record], data: NewEvent
) -> tuple[str | None, str | None]:
    """The item's category before and after ``data``; ``(None, None)`` for an event that moves no category.

    A deactivation moves it to ``data.category_after``, C by default (Dir. 2021/555 Annex I). A correction of an
    event that moved it (a deactivation recorded since the category is) gives back the category the item's other
    events give: the registered one, replayed through every deactivation still in effect.
    """
    current: str | None = item["category"]
    if data.event == "deactivated":
        return current, data.category_after or _DEACTIVATED_CATEGORY
    target = next((e for e in events if e["event_id"] == data.corrects), None)
    if data.event != "corrected" or target is None or not _moves_category(target):
        return None, None
    moved = [event for event in events if _moves_category(event)]
    # the item row holds only the current category: the registered one is what the first move found
    replayed: str | None = moved[0]["category_before"]
    for event in in_effect(events, undoing=target["event_id"]):
        if _moves_category(event):
            replayed = event["category_after"]
    return current, replayed


def _moves_category(event: asyncpg.Record) -> bool:
    """Whether an event recorded a category change (a deactivation since migration 20261130070000, its correction)."""
    return event["category_before"] is not None or event["category_after"] is not None


def made_in(item: asyncpg.Record, events: Sequence[asyncpg.Record]) -> int | None:
    """The item's year of manufacture as a bound on dates; none once its registration record was corrected.

    The item row never changes: without this, an officer would be held to a mistyped year for good.
    """
    if any(e["event"] == "corrected" and e["corrects_event_id"] is None for e in events):
        return None
    year: int | None = item["year_of_manufacture"]
    return year


def _followed(events: Sequence[asyncpg.Record], data: NewEvent) -> tuple[int, str, dt.date] | None:
    """The event ``data`` logically follows: for a correction the event it corrects, else the latest in effect."""
    if data.event == "corrected":
        target = next((e for e in events if e["event_id"] == data.corrects), None)
    else:
        current = in_effect(events)
        target = current[-1] if current else None
    return None if target is None else (target["event_id"], target["event"], target["occurred_on"])


def in_effect(events: Sequence[asyncpg.Record], undoing: int | None = None) -> list[asyncpg.Record]:
    """The item's events in order that are neither a correction nor corrected (nor ``undoing``, about to be)."""
    undone = {event["corrects_event_id"] for event in events if event["event"] == "corrected"} | {undoing}
    return [event for event in events if event["event"] != "corrected" and event["event_id"] not in undone]


def _imported_for_good(events: Sequence[asyncpg.Record]) -> asyncpg.Record | None:
    """The permanent import that holds the item here: the latest one in ``events`` with no export after it.

    A temporary import is not one (a temporary import may become permanent, one arrival); an export ends it.
    """
    held: asyncpg.Record | None = None
    for event in events:
        if event["event"] == "exported":
            held = None
        elif event["event"] == "imported" and not event["temporary"]:
            held = event
    return held


def _status_after_correction(
    events: Sequence[asyncpg.Record], item_id: int, status: Status, corrects: int | None
) -> Status:
    """The status the item's history gives once ``corrects`` is undone: every event not corrected, replayed.

    Raises:
        InvalidInputError: ``invalid-correction`` (not an event of the item, or itself a correction).
        ConflictError: ``correction-breaks-history``: a later event could not have happened without the
            corrected one (a recovery without the loss): correct the later events first.
    """
    if corrects is None:
        return status  # a correction of the registration record changes no status
    target = next((event for event in events if event["event_id"] == corrects), None)
    if target is None:
        raise InvalidInputError(
            f"event {corrects} is not an event of item {item_id}", code="invalid-correction", event_id=corrects
        )
    if target["event"] == "corrected":
        raise InvalidInputError(
            "a correction corrects an event, not another correction", code="invalid-correction", event_id=corrects
        )
    replay = _replay(in_effect(events, undoing=corrects))
    if replay.broken is not None:
        raise ConflictError(
            f"without event {corrects} ({target['event']}), event {replay.broken['event_id']}"
            f" ({replay.broken['event']}) could not have happened to an item {replay.status}: correct the later"
            " events first",
            code="correction-breaks-history",
            event_id=replay.broken["event_id"],
            event=replay.broken["event"],
        )
    return replay.status


class _Replay(NamedTuple):
    status: Status
    origin: Status  # where its loss, theft or seizure run began, or the status its export left (lifecycle.run_origin)
    broken: asyncpg.Record | None  # the first event that could not have happened; the replay stops before it


def _replay(events: Sequence[asyncpg.Record]) -> _Replay:
    """The status and run origin the events in effect give, replayed from registration (every item is active).

    The one place the history is replayed: a recovery goes back to the origin of its run, the same way when it is
    recorded and when a correction replays it.
    """
    status: Status = "active"
    origin: Status = "active"
    for position, event in enumerate(events):
        after = lifecycle.after_event(status, event["event"], origin)
        # two arrivals without a departure between them could not have happened either
        if after is None or (event["event"] == "imported" and _imported_for_good(events[:position]) is not None):
            return _Replay(status, origin, event)
        status, origin = after, lifecycle.run_origin(status, after, origin)
    return _Replay(status, origin, None)


async def history(
    conn: Conn, item_id: int, *, after: tuple[dt.datetime, int, int] | None, limit: int
) -> list[tuple[HistoryEntry, tuple[dt.datetime, int, int]]]:
    """A page of the item's history in time order: registration, markings, events (with their sort keys).

    Raises:
        NotFoundError: no such item.
    """
    if after is None and await store.get_item(conn, item_id) is None:
        raise NotFoundError(f"no item {item_id}", item_id=item_id)
    rows = await store.list_item_history(conn, item_id, after, limit)
    return [
        (
            HistoryEntry(at=row["at"], source=row["source"], detail=row["detail"]),
            (row["at"], row["rank"], row["record_id"]),
        )
        for row in rows
    ]
