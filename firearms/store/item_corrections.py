"""Store functions for corrections of items and markings (sql/queries/item_corrections.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "get_item_to_correct",
    "get_marking_of_item",
    "insert_item_correction",
    "list_marking_years",
    "update_item_fields",
    "update_marking_fields",
]


async def get_item_to_correct(conn: Conn, item_id: int) -> asyncpg.Record | None:
    """The item's correctable fields, its kind and category, in its row lock."""
    return await conn.fetchrow(Q["get_item_to_correct"], item_id)


async def get_marking_of_item(conn: Conn, item_id: int, marking_id: int) -> asyncpg.Record | None:
    """One marking of the item; ``None`` when there is none or it is another item's."""
    return await conn.fetchrow(Q["get_marking_of_item"], item_id, marking_id)


async def list_marking_years(conn: Conn, item_id: int) -> list[asyncpg.Record]:
    """The item's markings that carry a year, earliest year first."""
    return await conn.fetch(Q["list_marking_years"], item_id)


async def insert_item_correction(
    conn: Conn,
    item_id: int,
    marking_id: int | None,
    changes: dict[str, dict[str, Any]],
    reason: str,
    recorded_at: dt.datetime,
    recorded_by: str,
) -> asyncpg.Record:
    """Insert a correction; returns its row."""
    row = await conn.fetchrow(
        Q["insert_item_correction"], item_id, marking_id, changes, reason, recorded_at, recorded_by
    )
    assert row is not None  # noqa: S101  # INSERT ... RETURNING always returns the row
    return row


async def update_item_fields(conn: Conn, item_id: int, *values: Any) -> None:
    """Set the item's descriptive fields (the 7 values of ``update_item_fields``) to what its corrections give."""
    await conn.execute(Q["update_item_fields"], item_id, *values)


async def update_marking_fields(conn: Conn, marking_id: int, *values: Any) -> None:
    """Set a marking's text and parsed fields (the 9 values of ``update_marking_fields``)."""
    await conn.execute(Q["update_marking_fields"], marking_id, *values)
