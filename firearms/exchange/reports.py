"""Lost and stolen reports sent to every enabled partner (Art. 11-12; README "Notice types beyond PROTOCOL §5").

An item of this registry reported ``lost`` or ``stolen`` is a report; the report ends when the item leaves that
status: ``recovered``, ``seized`` (in the hands of the authorities: this State's own look-up stops naming it too)
or the report event ``corrected``. :func:`after_event` is called by :func:`firearms.item_events.record_event` in
the item's row lock, inside the event's transaction: it queues ``item.reported-missing`` when a report opens
(a loss or theft, or a correction that puts one back in effect: the recovery corrected) and
``item.report-withdrawn`` when one ends, each to every enabled partner, with its journal entries
(:func:`firearms.outbox.enqueue_to`). The report's id is the id of the ``lost`` or ``stolen`` event, as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import asyncpg

from firearms import outbox
from firearms.serials import normalise
from firearms.store import foreign_item_reports as report_store
from firearms.store import items as item_store
from firearms.store import peers as peer_store

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from firearms.db import Conn
    from firearms.licence_object import LicenceLine

__all__ = [
    "MAX_MARKINGS",
    "REPORTED_MISSING",
    "REPORT_WITHDRAWN",
    "WithdrawalReason",
    "after_event",
    "after_identity_change",
    "catch_up",
    "open_report",
    "partner_reported_lines",
    "report_body",
    "withdrawal_body",
]

REPORTED_MISSING = "item.reported-missing"
MAX_MARKINGS = 50
"""The markings a report carries at most (the first, by id); ``markings_omitted`` counts those left out."""
REPORT_WITHDRAWN = "item.report-withdrawn"
WithdrawalReason = Literal["recovered", "seized", "corrected"]
# an item event as read or inserted: ``event_id``, ``event``, ``corrects_event_id``, ``occurred_on``
Row = asyncpg.Record
_MISSING = frozenset({"lost", "stolen"})
_CONFIDENTIALITY: Literal["restricted"] = "restricted"  # Art. 12(5): a partner passes it to no third State


def open_report(status: str, events: Sequence[Row]) -> Row | None:
    """The ``lost`` or ``stolen`` event in effect that makes ``status`` a report; ``None`` when not lost or stolen.

    ``events`` are the item's events in the order recorded (correction or not): the report is the latest loss or
    theft neither correcting nor corrected (while lost or stolen no later event in effect can have moved it).
    """
    if status not in _MISSING:
        return None
    undone = {event["corrects_event_id"] for event in events if event["event"] == "corrected"}
    return next(
        (event for event in reversed(events) if event["event"] in _MISSING and event["event_id"] not in undone), None
    )


async def after_event(
    conn: Conn,
    item_id: int,
    *,
    event: Row,
    status_before: str,
    status_after: str,
    earlier: Sequence[Row],
    actor: str,
) -> None:
    """Queue the report or its withdrawal an item's new ``event`` causes, to every enabled partner.

    ``earlier`` are the item's events before ``event`` (read in its row lock). Nothing is queued when the report
    in effect is the same before and after (a transfer while active, a correction of another event). The partners
    are read under a shared lock held to the end of the transaction, which a partner's catch-up (:func:`catch_up`)
    takes exclusively: the partner added or enabled and its catch-up come wholly before or wholly after this event.
    """
    before = open_report(status_before, earlier)
    after = open_report(status_after, [*earlier, event])
    if (before and before["event_id"]) == (after and after["event_id"]):
        return
    await peer_store.lock_report_recipients_shared(conn)  # before the read: a catch-up under way is waited for
    states = await peer_store.list_enabled_peer_states(conn)
    if not states:
        return
    if before is not None:
        body = withdrawal_body(before["event_id"], event)
        await outbox.enqueue_to(conn, states, REPORT_WITHDRAWN, body, confidentiality=_CONFIDENTIALITY, actor=actor)
    if after is not None:
        body = await report_body(conn, item_id, after["event_id"], after["event"], after["occurred_on"])
        await outbox.enqueue_to(conn, states, REPORTED_MISSING, body, confidentiality=_CONFIDENTIALITY, actor=actor)


async def after_identity_change(conn: Conn, item_id: int, *, actor: str) -> None:
    """Send the open report again, under its id, after the item's fields or markings changed (a correction, a marking).

    Partners match a report on the make (README "Notice types beyond PROTOCOL §5"): a make corrected while the item is
    reported lost or stolen must reach them. The later report supersedes the earlier one there. Nothing is sent for an
    item not reported lost or stolen. Called in the change's transaction, under the item's row lock.
    """
    item = await item_store.get_item(conn, item_id)
    if item is None or item["status"] not in _MISSING:
        return
    report = open_report(item["status"], await item_store.list_item_event_kinds(conn, item_id))
    if report is None:
        return
    await peer_store.lock_report_recipients_shared(conn)  # before the read: a catch-up under way is waited for
    states = await peer_store.list_enabled_peer_states(conn)
    if not states:
        return
    body = await report_body(conn, item_id, report["event_id"], report["event"], report["occurred_on"])
    await outbox.enqueue_to(conn, states, REPORTED_MISSING, body, confidentiality=_CONFIDENTIALITY, actor=actor)


def withdrawal_body(report_id: int, event: Row) -> dict[str, Any]:
    """The body of ``item.report-withdrawn``: report ``report_id`` ended by the item's ``event``.

    The reason is the event's kind (a correction: ``corrected``; a seizure: ``seized``; else ``recovered``), the date
    the event's.
    """
    reason: WithdrawalReason = (
        "corrected" if event["event"] == "corrected" else "seized" if event["event"] == "seized" else "recovered"
    )
    return {"report_id": str(report_id), "reason": reason, "occurred_on": event["occurred_on"].isoformat()}


def _ended_by(report_id: int, status: str, events: Sequence[Row]) -> Row | None:
    """The event that last ended report ``report_id`` of an item, replayed as :func:`after_event` saw each event.

    ``None`` when the report is open now (``status``, the item's status now) or was never ended. ``events`` are every
    event of the item in the order recorded, each with its ``status_before`` and ``status_after``.
    """
    if (now := open_report(status, events)) is not None and now["event_id"] == report_id:
        return None
    ended = None
    for at, event in enumerate(events):
        if event["status_before"] not in _MISSING:  # no report was open before it: it ends none
            continue
        before = open_report(event["status_before"], events[:at])
        after = open_report(event["status_after"], events[: at + 1])
        if before is not None and before["event_id"] == report_id and (after is None or after["event_id"] != report_id):
            ended = event
    return ended


async def _withdrawals_owed(conn: Conn, state: str) -> list[dict[str, Any]]:
    """The withdrawals ``state`` was not queued: of each report it was, ended since, in the order they ended.

    The outbox is the bookkeeping: the reports whose latest notice queued to ``state`` is the report (not its
    withdrawal), and of those the ones no longer open, each with the body :func:`after_event` made for the event that
    ended it. One statement, whatever the number of reports (then the events replayed here).
    """
    events: dict[int, list[Row]] = {}
    statuses: dict[int, str] = {}
    for row in await item_store.list_reports_left_open_at(conn, state):
        events.setdefault(row["report_id"], []).append(row)
        statuses[row["report_id"]] = row["status"]
    ended = [
        (event, report_id)
        for report_id, history in events.items()
        if (event := _ended_by(report_id, statuses[report_id], history)) is not None
    ]
    ended.sort(key=lambda pair: (pair[0]["event_id"], pair[1]))  # the order the reports were withdrawn
    return [withdrawal_body(report_id, event) for event, report_id in ended]


async def report_body(conn: Conn, item_id: int, event_id: int, status: str, occurred_on: dt.date) -> dict[str, Any]:
    """The body of ``item.reported-missing``: the report and the item's identity here (markings as stamped)."""
    item = await item_store.get_item(conn, item_id)
    assert item is not None  # noqa: S101  # the caller holds the item's row lock
    return _body(item, await item_store.list_markings(conn, item_id), event_id, status, occurred_on)


def _body(item: Row, markings: Sequence[Row], event_id: int, status: str, occurred_on: dt.date) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "kind": item["kind"],
        "type": item["firearm_type"] or item["component_type"],
        "make": item["make"],
        "model": item["model"],
        "calibre": item["calibre"],
        "manufacturer": item["manufacturer"],
        "country_of_manufacture": item["country_of_manufacture"],
        "serial": item["serial"],
        "serial_normalised": item["serial_normalised"],
        "markings": [{"kind": marking["kind"], "stamped": marking["stamped"]} for marking in markings[:MAX_MARKINGS]],
    }
    if len(markings) > MAX_MARKINGS:  # a partner refuses a longer list (invalid-body): the report would not reach it
        identity["markings_omitted"] = len(markings) - MAX_MARKINGS
    return {
        "report_id": str(event_id),
        "status": status,
        "occurred_on": occurred_on.isoformat(),
        "item": identity,
    }


async def catch_up(conn: Conn, state: str, *, actor: str) -> int:
    """Queue ``state`` the withdrawals it missed, then every report of this registry open now; how many were queued.

    For a partner just added to the trust list or enabled again (:mod:`firearms.exchange.trust`), in that change's
    transaction. First ``item.report-withdrawn`` for each report it was queued whose withdrawal it was not (ended
    while it was disabled), with the body :func:`after_event` made for it; then ``item.reported-missing`` for each
    report open now under its own id, with the body :func:`after_event` sends, so a partner that has it already takes
    it as a later report of the same id (which supersedes). A report ended and opened again under the same id while it
    was disabled is open now: it is sent, not withdrawn. One statement for the withdrawals and three reads for the
    open reports (the items, their markings, the events naming each report) for any number of items, each kind of
    notice queued in one pipelined batch.
    """
    # an event queueing reports to the partners (which read them before this one was added or enabled) ends first,
    # and is read here; one that comes later waits for this transaction and reads the partner
    await peer_store.lock_report_recipients(conn)
    withdrawals = await _withdrawals_owed(conn, state)
    await outbox.enqueue_each(conn, state, REPORT_WITHDRAWN, withdrawals, confidentiality=_CONFIDENTIALITY, actor=actor)
    items = await item_store.list_reported_items(conn)
    if not items:
        return len(withdrawals)
    ids = [item["item_id"] for item in items]
    markings: dict[int, list[Row]] = {}
    for marking in await item_store.list_items_markings(conn, ids):
        markings.setdefault(marking["item_id"], []).append(marking)
    events: dict[int, list[Row]] = {}
    for event in await item_store.list_items_report_events(conn, ids):
        events.setdefault(event["item_id"], []).append(event)
    opened = [
        (report, item)
        for item in items
        if (report := open_report(item["status"], events.get(item["item_id"], []))) is not None
    ]
    opened.sort(key=lambda pair: pair[0]["event_id"])  # the order the reports were made
    bodies = [
        _body(item, markings.get(item["item_id"], []), report["event_id"], report["event"], report["occurred_on"])
        for report, item in opened
    ]
    await outbox.enqueue_each(conn, state, REPORTED_MISSING, bodies, confidentiality=_CONFIDENTIALITY, actor=actor)
    return len(withdrawals) + len(bodies)


async def partner_reported_lines(conn: Conn, licences_lines: Sequence[Sequence[LicenceLine]]) -> list[dict[str, str]]:
    """For each licence's ``lines``, its serials (as given) a partner reported lost or stolen, with the report in words.

    The customs check's rule (:func:`firearms.checks.partner_reports`): an open report whose normalised serial is the
    serial's, whose item kind is the line's category and whose manufacturer or make is the line's make (in the
    registry's manufacturer identity form). One query for all the licences (transit-consent requests' pre-check:
    one request, or a page of them); each licence's answer is the one it would get alone.
    """
    given = [
        (index, serial, line)
        for index, lines in enumerate(licences_lines)
        for line in lines
        if line.category != "ammunition"
        for serial in line.serials
    ]
    found: list[dict[str, list[str]]] = [{} for _ in licences_lines]
    if not given:
        return [{} for _ in licences_lines]
    by_key: dict[tuple[int, str], list[str]] = {}
    for index, serial, _ in given:
        by_key.setdefault((index, normalise(serial)), []).append(serial)
    rows = await report_store.find_partner_reported_goods(
        conn,
        [normalise(serial) for _, serial, _ in given],
        [line.category for _, _, line in given],
        [line.make for _, _, line in given],
        [index for index, _, _ in given],
    )
    for row in rows:
        words = f"reported {row['status']} by {row['sender_state']} (report {row['report_id']})"
        licence = found[row["licence_index"]]
        for serial in by_key[row["licence_index"], row["serial"]]:
            if words not in licence.setdefault(serial, []):
                licence[serial].append(words)
    return [{serial: "; ".join(reports) for serial, reports in licence.items()} for licence in found]
