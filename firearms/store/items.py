"""Store functions for items, markings and lifecycle events (sql/queries/items.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import AsyncIterator

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "find_items_by_certificate",
    "find_items_by_serial",
    "find_reported_serials",
    "find_serial_statuses",
    "get_current_deactivation",
    "get_item",
    "get_item_for_update",
    "get_item_id_by_identity",
    "has_marking",
    "insert_item",
    "insert_item_event",
    "insert_markings",
    "is_made_here",
    "iter_export_items",
    "list_certificate_deactivations",
    "list_export_corrections",
    "list_export_events",
    "list_export_markings",
    "list_item_event_kinds",
    "list_item_history",
    "list_items",
    "list_items_markings",
    "list_items_report_events",
    "list_markings",
    "list_reported_items",
    "list_reports_left_open_at",
    "lock_certificate_number",
    "search_items",
    "set_similarity_threshold",
    "update_item_category",
    "update_item_status",
]


async def insert_item(conn: Conn, *values: Any) -> asyncpg.Record | None:
    """Insert an item (the 16 values of ``insert_item``); ``None`` when its identity is already registered."""
    return await conn.fetchrow(Q["insert_item"], *values)


async def get_item_id_by_identity(
    conn: Conn, kind: str, component_type: str | None, manufacturer: str, country: str, serial: str
) -> int | None:
    """The id of the item holding this identity, if any."""
    item_id: int | None = await conn.fetchval(
        Q["get_item_id_by_identity"], kind, component_type, manufacturer, country, serial
    )
    return item_id


async def get_item(conn: Conn, item_id: int) -> asyncpg.Record | None:
    """One item."""
    return await conn.fetchrow(Q["get_item"], item_id)


async def get_current_deactivation(conn: Conn, item_id: int) -> asyncpg.Record | None:
    """The item's deactivation in effect with its deactivation mark; ``None`` when it has none."""
    return await conn.fetchrow(Q["get_current_deactivation"], item_id)


async def get_item_for_update(conn: Conn, item_id: int) -> asyncpg.Record | None:
    """One item's kind, status, year of manufacture and category, row-locked until the transaction ends."""
    return await conn.fetchrow(Q["get_item_for_update"], item_id)


async def update_item_status(conn: Conn, item_id: int, status: str) -> None:
    """Set the item's current status."""
    await conn.execute(Q["update_item_status"], item_id, status)


async def update_item_category(conn: Conn, item_id: int, category: str | None) -> None:
    """Set the item's category (a deactivation's, or the one its correction gives back)."""
    await conn.execute(Q["update_item_category"], item_id, category)


async def insert_markings(
    conn: Conn, item_id: int, columns: list[list[Any]], recorded_at: dt.datetime, recorded_by: str
) -> list[asyncpg.Record]:
    """Insert markings given column-wise (10 arrays in the query's order); returns them in order."""
    return await conn.fetch(Q["insert_markings"], item_id, *columns, recorded_at, recorded_by)


async def list_markings(conn: Conn, item_id: int) -> list[asyncpg.Record]:
    """An item's markings in recording order."""
    return await conn.fetch(Q["list_markings"], item_id)


async def has_marking(conn: Conn, item_id: int, kind: str) -> bool:
    """Whether the item carries a marking of ``kind``."""
    return bool(await conn.fetchval(Q["has_marking"], item_id, kind))


async def lock_certificate_number(conn: Conn, certificate_number: str) -> None:
    """Lock a certificate number to the end of the transaction: deactivations citing it are judged one at a time.

    A statement of its own, before the look-up: the look-up's snapshot then shows what the holder committed.
    """
    await conn.execute(Q["lock_certificate_number"], certificate_number)


async def list_certificate_deactivations(conn: Conn, certificate_number: str, item_id: int) -> list[asyncpg.Record]:
    """Other items' deactivations in effect citing ``certificate_number`` (after :func:`lock_certificate_number`)."""
    return await conn.fetch(Q["list_certificate_deactivations"], certificate_number, item_id)


async def is_made_here(conn: Conn, item_id: int) -> bool:
    """Whether the item was made in the registry's own State and bears its manufacture marking (``made_here``)."""
    return bool(await conn.fetchval(Q["is_made_here"], item_id))


async def insert_item_event(conn: Conn, *values: Any) -> asyncpg.Record:
    """Insert a lifecycle event (the 23 values of ``insert_item_event``)."""
    row = await conn.fetchrow(Q["insert_item_event"], *values)
    assert row is not None  # noqa: S101  # INSERT ... RETURNING always returns the row
    return row


async def list_item_event_kinds(conn: Conn, item_id: int) -> list[asyncpg.Record]:
    """Every event of an item in the order recorded: what it corrects, its date, and the category it moved."""
    return await conn.fetch(Q["list_item_event_kinds"], item_id)


async def list_item_history(
    conn: Conn, item_id: int, after: tuple[dt.datetime, int, int] | None, limit: int
) -> list[asyncpg.Record]:
    """A page of an item's history (registration, markings, events) in time order."""
    at, rank, record_id = after if after else (None, None, None)
    return await conn.fetch(Q["list_item_history"], item_id, at, rank, record_id, limit)


async def list_items(conn: Conn, after: int, filters: tuple[str | None, ...], limit: int) -> list[asyncpg.Record]:
    """A page of items matching ``filters`` (make, model, calibre, firearm_type, status, kind, country)."""
    return await conn.fetch(Q["list_items"], after, *filters, limit)


async def find_items_by_certificate(
    conn: Conn, certificate_number: str, after: int, limit: int
) -> list[asyncpg.Record]:
    """A page of the items whose deactivation in effect records ``certificate_number``, with that deactivation."""
    return await conn.fetch(Q["find_items_by_certificate"], certificate_number, after, limit)


async def find_items_by_serial(
    conn: Conn, serial: str, after: int, filters: tuple[str | None, ...], limit: int
) -> list[asyncpg.Record]:
    """A page of items whose normalised serial equals that of ``serial``, with the filters of :func:`list_items`."""
    return await conn.fetch(Q["find_items_by_serial"], serial, after, *filters, limit)


async def iter_export_items(conn: Conn, filters: tuple[str | int | None, ...]) -> AsyncIterator[asyncpg.Record]:
    """Stream items flat with their first manufacture/geometric and import markings (needs a transaction)."""
    async for row in conn.cursor(Q["export_items"], *filters, prefetch=2000):
        yield row


async def list_export_markings(conn: Conn, item_ids: list[int]) -> dict[int, str]:
    """Every marking of these items as it reads now: one JSON array (text, never decoded) per item that has any."""
    return {row[0]: row[1] for row in await conn.fetch(Q["list_export_markings"], item_ids)}


async def list_export_events(conn: Conn, item_ids: list[int]) -> dict[int, str]:
    """Every lifecycle event of these items: one JSON array (text, never decoded) per item that has any."""
    return {row[0]: row[1] for row in await conn.fetch(Q["list_export_events"], item_ids)}


async def list_export_corrections(conn: Conn, item_ids: list[int]) -> dict[int, str]:
    """Every correction of these items' fields and markings: one JSON array (text) per item that has any."""
    return {row[0]: row[1] for row in await conn.fetch(Q["list_export_corrections"], item_ids)}


async def search_items(
    conn: Conn,
    folded: str,
    normalised: str,
    after: tuple[float, bool, int] | None,
    filters: tuple[str | None, ...],
    limit: int,
) -> list[asyncpg.Record]:
    """A page of fuzzy candidates (with ``score`` and ``exact``) for a folded serial, best first."""
    score, exact, item_id = after if after else (None, False, 0)
    return await conn.fetch(Q["search_items"], folded, score, exact, item_id, *filters, limit, normalised)


async def set_similarity_threshold(conn: Conn, threshold: float) -> None:
    """Set ``pg_trgm.similarity_threshold`` for the current transaction."""
    await conn.execute(Q["set_similarity_threshold"], str(threshold))


async def find_reported_serials(conn: Conn, normalised: list[str]) -> list[str]:
    """The normalised serials among ``normalised`` that belong to an item reported lost or stolen."""
    return [row[0] for row in await conn.fetch(Q["find_reported_serials"], normalised)]


async def find_serial_statuses(conn: Conn, kind: str, normalised: list[str]) -> list[asyncpg.Record]:
    """The items of ``kind`` whose normalised serial is among ``normalised``, with ``item_id`` and ``status``."""
    return await conn.fetch(Q["find_serial_statuses"], kind, normalised)


async def list_reported_items(conn: Conn) -> list[asyncpg.Record]:
    """Every item reported lost or stolen now, in item order."""
    return await conn.fetch(Q["list_reported_items"])


async def list_items_markings(conn: Conn, item_ids: list[int]) -> list[asyncpg.Record]:
    """The markings (``item_id``, ``kind``, ``stamped``) of a batch of items, by item in the order recorded."""
    return await conn.fetch(Q["list_items_markings"], item_ids)


async def list_items_report_events(conn: Conn, item_ids: list[int]) -> list[asyncpg.Record]:
    """The losses, thefts and corrections of a batch of items, by item in the order recorded."""
    return await conn.fetch(Q["list_items_report_events"], item_ids)


async def list_reports_left_open_at(conn: Conn, recipient: str) -> list[asyncpg.Record]:
    """The reports whose latest notice queued to ``recipient`` is the report, each with its item's status and events.

    One row per report and event of its item (``report_id``, ``status``, then the event's ``event_id``, ``event``,
    ``corrects_event_id``, ``occurred_on``, ``status_before``, ``status_after``), by report, in the order recorded.
    """
    return await conn.fetch(Q["list_reports_left_open_at"], recipient)
