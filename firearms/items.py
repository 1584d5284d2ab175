"""Registering items with their markings, reading them back, and the lost/stolen look-up (Protocol Art. 7-8).

Identity (DESIGN §3) is (manufacturer, country of manufacture, normalised serial) within a kind of
item (firearm, each component type, ammunition lot): a second registration of the same identity is
refused with the existing item's id. The database enforces it (``item_identity_key``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from firearms import item_events, journal, serials
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.exchange import reports
from firearms.item_rules import check_marking_year, validate_item, validate_marking
from firearms.item_types import Item, ItemDetail, Marking, NewItem, NewMarking, ScoredItem
from firearms.store import items as store

if TYPE_CHECKING:
    from collections.abc import Iterable

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "SEARCH_THRESHOLD",
    "ItemFilters",
    "add_marking",
    "find_by_serial",
    "get_item",
    "item_from_row",
    "list_items",
    "marking_from_row",
    "not_exportable",
    "register_item",
    "reported_lost_or_stolen",
    "search_items",
]

# (make, model, calibre, firearm_type, status, kind): each None = any.
ItemFilters = tuple[str | None, str | None, str | None, str | None, str | None, str | None]
# Trigram similarity a fuzzy candidate needs (pg_trgm's default is 0.3). Measured on 1,000,000 realistic
# serials: 0.4 still finds 99 % of serials read with one wrong character (confusables aside, which the
# folding makes exact), while keeping the candidate set, and so the p99, within budget (bench/RESULTS.md).
SEARCH_THRESHOLD = 0.4
# Searched first with a stricter threshold: when that fills the page, the page is exactly the one the
# final threshold would give (every stricter candidate outranks every other), at a fraction of the cost.
_SEARCH_TIERS = (0.5, SEARCH_THRESHOLD)
_ANY: ItemFilters = (None, None, None, None, None, None)
_MARKING_COLUMNS = (
    "kind",
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


# What a registration wrote, in its journal entry: every column of the row but the entry's own (the item
# id is its entity, status, time and actor are its own) and what is derived (the normalised serial) or set
# only by a bulk import, or only by the migration that marks identity duplicates (which journals each mark).
# The journal is what an auditor can trust: a field left out could be changed unseen.
_UNJOURNALED = {
    "item_id",
    "serial_normalised",
    "status",
    "registered_at",
    "registered_by",
    "import_id",
    "identity_duplicate_of",
}
_JOURNALED_ITEM_FIELDS = tuple(name for name in Item.__struct_fields__ if name not in _UNJOURNALED)


def _marking_payload(marking: Marking) -> dict[str, Any]:
    """A marking as written, for the journal: its id and every field."""
    return {"marking_id": marking.marking_id, **{name: getattr(marking, name) for name in _MARKING_COLUMNS}}


def item_from_row(row: asyncpg.Record) -> Item:
    """An :class:`Item` from a row of the item table."""
    return Item(**{name: row[name] for name in Item.__struct_fields__})


def marking_from_row(row: asyncpg.Record) -> Marking:
    """A :class:`Marking` from a row of the marking table."""
    return Marking(**{name: row[name] for name in Marking.__struct_fields__})


async def _insert_markings(conn: Conn, item_id: int, markings: Iterable[NewMarking], actor: str) -> list[Marking]:
    given = list(markings)
    if not given:
        return []
    columns: list[list[Any]] = [[getattr(m, name) for m in given] for name in _MARKING_COLUMNS]
    rows = await store.insert_markings(conn, item_id, columns, dt.datetime.now(dt.UTC), actor)
    return [marking_from_row(row) for row in rows]


async def register_item(conn: Conn, data: NewItem, *, actor: str, today: dt.date) -> ItemDetail:
    """Register an item with its markings (Art. 7, 8), journaled as ``item.registered``.

    ``today`` is the registry's date (:func:`firearms.clock.today`): no year after its year.

    Raises:
        InvalidInputError: a rule of :func:`firearms.item_rules.validate_item`, or ``invalid-parent``.
        ConflictError: ``item-already-registered`` with the existing ``item_id``.
    """
    validate_item(data, today)
    if data.parent_item_id is not None:
        parent = await store.get_item(conn, data.parent_item_id)
        if parent is None or parent["kind"] != "firearm":
            raise InvalidInputError(
                f"parent_item_id {data.parent_item_id} is not a registered firearm",
                code="invalid-parent",
                parent_item_id=data.parent_item_id,
            )
    row = await store.insert_item(
        conn,
        data.kind,
        data.firearm_type,
        data.component_type,
        data.parent_item_id,
        data.make,
        data.model,
        data.calibre,
        data.year_of_manufacture,
        data.country_of_manufacture,
        data.category,
        data.manufacturer,
        data.serial,
        data.headstamp,
        data.quantity,
        dt.datetime.now(dt.UTC),
        actor,
    )
    if row is None:
        existing = await store.get_item_id_by_identity(
            conn, data.kind, data.component_type, data.manufacturer, data.country_of_manufacture, data.serial
        )
        raise ConflictError(
            f"this {data.kind} is already registered as item {existing}",
            code="item-already-registered",
            item_id=existing,
        )
    item = item_from_row(row)
    markings = await _insert_markings(conn, item.item_id, data.markings, actor)
    await journal.record(
        conn,
        actor=actor,
        action="item.registered",
        entity="item",
        entity_id=str(item.item_id),
        payload={
            **{name: getattr(item, name) for name in _JOURNALED_ITEM_FIELDS},
            "markings": [_marking_payload(m) for m in markings],
        },
    )
    return ItemDetail(**{name: getattr(item, name) for name in Item.__struct_fields__}, markings=markings)


async def add_marking(conn: Conn, item_id: int, data: NewMarking, *, actor: str, today: dt.date) -> Marking:
    """Record a further marking on an item (import, state-to-civilian, proof ...), journaled as ``marking.added``.

    ``today`` is the registry's date (:func:`firearms.clock.today`): no year after its year.

    Raises:
        InvalidInputError: a rule of :func:`firearms.item_rules.validate_marking`, or ``year-before-manufacture``.
        NotFoundError: no such item.
    """
    validate_marking(data, today)
    item = await store.get_item_for_update(conn, item_id)
    if item is None:
        raise NotFoundError(f"no item {item_id}", item_id=item_id)
    validate_marking(data, today, item_kind=item["kind"])
    events = await store.list_item_event_kinds(conn, item_id) if data.year is not None else []
    check_marking_year("marking.year", data.year, item_events.made_in(item, events))
    (marking,) = await _insert_markings(conn, item_id, [data], actor)
    await journal.record(
        conn,
        actor=actor,
        action="marking.added",
        entity="item",
        entity_id=str(item_id),
        payload=_marking_payload(marking),
    )
    await reports.after_identity_change(conn, item_id, actor=actor)  # partners hold the report with its markings
    return marking


async def get_item(conn: Conn, item_id: int) -> ItemDetail:
    """One item with its markings.

    Raises:
        NotFoundError: no such item.
    """
    row = await store.get_item(conn, item_id)
    if row is None:
        raise NotFoundError(f"no item {item_id}", item_id=item_id)
    markings = [marking_from_row(m) for m in await store.list_markings(conn, item_id)]
    item = item_from_row(row)
    return ItemDetail(**{name: getattr(item, name) for name in Item.__struct_fields__}, markings=markings)


async def find_by_serial(
    conn: Conn, serial: str, *, after: int = 0, limit: int, country: str | None = None, filters: ItemFilters = _ANY
) -> list[Item]:
    """Exact search: the items whose normalised serial equals that of ``serial`` (one index look-up)."""
    rows = await store.find_items_by_serial(conn, serial, after, (*filters, country), limit)
    return [item_from_row(row) for row in rows]


async def list_items(conn: Conn, *, country: str | None, filters: ItemFilters, after: int, limit: int) -> list[Item]:
    """Items by filters in registration order."""
    return [item_from_row(row) for row in await store.list_items(conn, after, (*filters, country), limit)]


async def search_items(
    conn: Conn, query: str, *, filters: ItemFilters, after: tuple[float, bool, int] | None, limit: int
) -> list[ScoredItem]:
    """Fuzzy search: candidates ranked by trigram similarity of the folded serials (DESIGN §3).

    A candidate is for a person to look at: ``exact`` is true only when the normalised serials are equal.
    At one score (serials that fold alike score 1.0 all), exact candidates come first. ``after`` is the
    last candidate's (score, exact, item_id).

    Raises:
        InvalidInputError: ``invalid-serial`` when the query holds no letter or digit.
    """
    folded = serials.fold(query)
    if not folded:
        raise InvalidInputError("the search needs a letter or digit", code="invalid-serial", field="q")
    wanted = serials.normalise(query)
    for threshold in _SEARCH_TIERS:
        await store.set_similarity_threshold(conn, threshold)
        rows = await store.search_items(conn, folded, wanted, after, filters, limit)
        if len(rows) >= limit:
            break
    return [
        ScoredItem(
            **{name: row[name] for name in Item.__struct_fields__},
            score=row["score"],
            exact=row["exact"],
        )
        for row in rows
    ]


async def reported_lost_or_stolen(conn: Conn, serials_given: Iterable[str]) -> set[str]:
    """Which of ``serials_given`` belong to an item currently reported lost or stolen (Art. 11; DESIGN §5).

    Matching is on the normalised serial (case and separators), never on the confusable folding. One
    query on a partial index, whatever the number of serials. Returns the serials as given.
    """
    by_normalised: dict[str, list[str]] = {}
    for serial in serials_given:
        by_normalised.setdefault(serials.normalise(serial), []).append(serial)
    if not by_normalised:
        return set()
    found = await store.find_reported_serials(conn, list(by_normalised))
    return {serial for normalised in found for serial in by_normalised[normalised]}


async def not_exportable(conn: Conn, kind: str, serials_given: Iterable[str]) -> dict[str, list[tuple[int, str]]]:
    """Which of ``serials_given`` name only items of ``kind`` here that cannot leave as what they are (Art. 10).

    An item is exportable while ``active``: a destroyed one no longer exists, a deactivated one is no longer a
    live firearm or component, a lost, stolen or seized one is not in its holder's hands, an exported one is
    already abroad. Matching is on the normalised serial, never the folding; a serial no item here carries is
    not named, and neither is one that an active item carries too (another manufacturer's firearm may share
    the serial, and a licence line names no manufacturer). Returns each such serial as given with its
    items' ``(item_id, status)``.
    """
    by_normalised: dict[str, list[str]] = {}
    for serial in serials_given:
        by_normalised.setdefault(serials.normalise(serial), []).append(serial)
    if not by_normalised:
        return {}
    found: dict[str, list[tuple[int, str]]] = {}
    for row in await store.find_serial_statuses(conn, kind, list(by_normalised)):
        found.setdefault(row["serial_normalised"], []).append((row["item_id"], row["status"]))
    return {
        serial: items
        for normalised, items in found.items()
        if all(status != "active" for _, status in items)
        for serial in by_normalised[normalised]
    }
