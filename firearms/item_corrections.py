"""Corrections of an item's descriptive data and of its markings (DESIGN §3; Protocol Art. 7-8; ITI para 12).

Records are never edited in place without a trace: a correction is a new record (``item_correction``, append-only)
naming each field's value before and after, and why, journaled in the same transaction. The item or marking row then
holds the value after, as the item row holds the status its events give, so every read shows the current values and
the history both. The database holds the row to its corrections (migration 20261130162000).

The identity (``kind``, ``component_type``, ``manufacturer``, ``country_of_manufacture``, ``serial``) is never
corrected: it is the unique key, and licence lines, customs checks, the lost/stolen look-up and partners' records
name the item by it. A mistyped identity is a registration record to correct (a ``corrected`` event with
``corrects_event_id`` null) and an item to register anew. ``category`` follows deactivations, ``parent_item_id`` is
not corrected either.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec

from firearms import item_events, journal
from firearms.errors import InvalidInputError, NotFoundError
from firearms.exchange import reports
from firearms.item_rules import check_marking_year, check_text, check_year, validate_marking
from firearms.item_types import Correction, FieldChange, NewMarking
from firearms.store import item_corrections as store
from firearms.store import items as item_store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn
    from firearms.item_types import ItemChanges, MarkingChanges, NewItemCorrection, NewMarkingCorrection

__all__ = ["ITEM_FIELDS", "MARKING_FIELDS", "NOT_CORRECTABLE", "correct_item", "correct_marking"]

ITEM_FIELDS = ("make", "model", "calibre", "year_of_manufacture", "firearm_type", "headstamp", "quantity")
MARKING_FIELDS = (
    "stamped",
    "manufacturer",
    "place",
    "country",
    "serial",
    "year",
    "model",
    "symbol_code",
    "alphanumeric_code",
)
NOT_CORRECTABLE = (
    "kind",
    "component_type",
    "manufacturer",
    "country_of_manufacture",
    "serial",
    "category",
    "parent_item_id",
)
_KIND_FIELDS = {"firearm_type": "firearm", "headstamp": "ammunition", "quantity": "ammunition"}
_ANTIQUE_BEFORE = 1900


def _given(changes: ItemChanges | MarkingChanges, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: value for name in fields if (value := getattr(changes, name)) is not msgspec.UNSET}


def _refuse_unchanged(given: dict[str, Any], row: asyncpg.Record) -> None:
    unchanged = [name for name, value in given.items() if row[name] == value]
    if not given or unchanged:
        raise InvalidInputError(
            "a correction changes every field it names: "
            + (f"{', '.join(unchanged)} already hold(s) that value" if unchanged else "name at least one field"),
            code="correction-changes-nothing",
            fields=unchanged,
        )


async def _record(
    conn: Conn,
    row: asyncpg.Record,
    given: dict[str, Any],
    *,
    item_id: int,
    marking_id: int | None,
    reason: str,
    actor: str,
) -> Correction:
    changes = {name: {"before": row[name], "after": value} for name, value in given.items()}
    stored = await store.insert_item_correction(
        conn, item_id, marking_id, changes, reason, dt.datetime.now(dt.UTC), actor
    )
    correction = Correction(
        correction_id=stored["correction_id"],
        item_id=item_id,
        marking_id=marking_id,
        changes={name: FieldChange(before=c["before"], after=c["after"]) for name, c in changes.items()},
        reason=reason,
        recorded_at=stored["recorded_at"],
        recorded_by=actor,
    )
    await journal.record(
        conn,
        actor=actor,
        action="item.fields-corrected" if marking_id is None else "marking.corrected",
        entity="item",
        entity_id=str(item_id),
        payload={
            "correction_id": correction.correction_id,
            "marking_id": marking_id,
            "changes": changes,
            "reason": reason,
        },
    )
    return correction


async def correct_item(conn: Conn, item_id: int, data: NewItemCorrection, *, actor: str, today: dt.date) -> Correction:
    """Correct the item's descriptive fields, journaled as ``item.fields-corrected`` (DESIGN §3).

    Raises:
        InvalidInputError: ``field-not-correctable`` (identity, category, parent), ``correction-changes-nothing``,
            a text or year rule, ``invalid-kind-fields``, ``antique-too-recent``, ``year-before-manufacture`` (a
            marking stamped before the corrected year) or ``date-before-manufacture`` (an event in effect before it).
        NotFoundError: no such item.
    """
    refused = [name for name in NOT_CORRECTABLE if getattr(data.changes, name) is not msgspec.UNSET]
    if refused:
        raise InvalidInputError(
            f"{', '.join(refused)} cannot be corrected: the identity (manufacturer, country of manufacture, serial"
            " within the kind) is the item's unique key, and the category follows deactivations. Correct the"
            " registration record (a corrected event with corrects_event_id null) and register the item anew",
            code="field-not-correctable",
            fields=refused,
        )
    given = _given(data.changes, ITEM_FIELDS)
    for name in ("make", "model", "calibre", "headstamp"):
        if name in given:
            check_text(name, given[name])
    check_year("year_of_manufacture", given.get("year_of_manufacture"), today)
    item = await store.get_item_to_correct(conn, item_id)
    if item is None:
        raise NotFoundError(f"no item {item_id}", item_id=item_id)
    wrong = [name for name in given if name in _KIND_FIELDS and _KIND_FIELDS[name] != item["kind"]]
    if wrong:
        raise InvalidInputError(
            f"a {item['kind']} has no {', '.join(wrong)}", code="invalid-kind-fields", field=wrong[0]
        )
    _refuse_unchanged(given, item)
    if "year_of_manufacture" in given:
        await _check_year_of_manufacture(conn, item, given["year_of_manufacture"])
    correction = await _record(conn, item, given, item_id=item_id, marking_id=None, reason=data.reason, actor=actor)
    await store.update_item_fields(conn, item_id, *(given.get(name, item[name]) for name in ITEM_FIELDS))
    await reports.after_identity_change(conn, item_id, actor=actor)  # a stolen rifle's make corrected: partners hear
    return correction


async def _check_year_of_manufacture(conn: Conn, item: asyncpg.Record, year: int | None) -> None:
    """The corrected year fits the record: antique before 1900, no marking, event or certificate in effect before it."""
    events = await item_store.list_item_event_kinds(conn, item["item_id"])
    # An antique deactivated since is category C now, and antique again once that deactivation is corrected (the
    # category replays from its registration): it keeps its year before 1900 all along.
    antique = item["category"] == "antique" or any(event["category_before"] == "antique" for event in events)
    if antique and (year is None or year >= _ANTIQUE_BEFORE):
        raise InvalidInputError(
            "category antique is only for items made before 1900",
            code="antique-too-recent",
            field="year_of_manufacture",
        )
    if year is None:
        return
    for marking in await store.list_marking_years(conn, item["item_id"]):
        # a marking is stamped after the item is made: correct that marking first if its year is the mistake
        check_marking_year(f"markings[{marking['marking_id']}].year", marking["year"], year)
    for event in item_events.in_effect(events):
        if event["occurred_on"].year < year:
            raise InvalidInputError(
                f"event {event['event_id']} ({event['event']}) on {event['occurred_on']} is before {year}:"
                " correct that event first if its date is the mistake",
                code="date-before-manufacture",
                field="year_of_manufacture",
                occurred_on=event["occurred_on"].isoformat(),
                not_before=dt.date(year, 1, 1).isoformat(),
                year_of_manufacture=year,
            )
        # a deactivation's certificate is held to the year as its event is (item_rules.check_event_date)
        certified = event["certificate_date"]
        if certified and certified.year < year:
            raise InvalidInputError(
                f"the certificate of event {event['event_id']} ({event['event']}) is dated {certified}, before"
                f" {year}: correct that event first if its certificate date is the mistake",
                code="date-before-manufacture",
                field="year_of_manufacture",
                certificate_date=certified.isoformat(),
                not_before=dt.date(year, 1, 1).isoformat(),
                year_of_manufacture=year,
            )


async def correct_marking(
    conn: Conn, item_id: int, marking_id: int, data: NewMarkingCorrection, *, actor: str, today: dt.date
) -> Correction:
    """Correct a marking's text as stamped and parsed fields, journaled as ``marking.corrected`` (Art. 8).

    Raises:
        InvalidInputError: ``correction-changes-nothing``, a rule of :func:`firearms.item_rules.validate_marking`
            on the marking as corrected, or ``year-before-manufacture``.
        NotFoundError: no such item, or no such marking of it.
    """
    given = _given(data.changes, MARKING_FIELDS)
    item = await store.get_item_to_correct(conn, item_id)
    if item is None:
        raise NotFoundError(f"no item {item_id}", item_id=item_id)
    marking = await store.get_marking_of_item(conn, item_id, marking_id)
    if marking is None:
        raise NotFoundError(f"no marking {marking_id} of item {item_id}", item_id=item_id, marking_id=marking_id)
    _refuse_unchanged(given, marking)
    corrected = NewMarking(kind=marking["kind"], **{name: given.get(name, marking[name]) for name in MARKING_FIELDS})
    validate_marking(corrected, today, item_kind=item["kind"])
    if "year" in given:
        events = await item_store.list_item_event_kinds(conn, item_id)
        check_marking_year("marking.year", corrected.year, item_events.made_in(item, events))
    correction = await _record(
        conn, marking, given, item_id=item_id, marking_id=marking_id, reason=data.reason, actor=actor
    )
    await store.update_marking_fields(conn, marking_id, *(getattr(corrected, name) for name in MARKING_FIELDS))
    await reports.after_identity_change(conn, item_id, actor=actor)
    return correction
