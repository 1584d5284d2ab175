"""Store functions for bulk imports (sql/queries/imports.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import AsyncIterator, Iterable

    from firearms.db import Conn

__all__ = [
    "check_item_staging",
    "copy_item_staging",
    "count_import_outcome",
    "create_import_tables",
    "get_item_import",
    "insert_imported_items",
    "insert_item_import",
    "iter_import_rejections",
    "list_item_imports",
    "next_import_id",
]


async def create_import_tables(conn: Conn) -> None:
    """The staging and checked temporary tables of one import (dropped at commit), and its sort memory."""
    try:
        async with conn.transaction():
            await conn.execute(Q["set_import_temp_buffers"])
    except asyncpg.PostgresError:
        pass  # the session used temporary tables already: it keeps its setting
    await conn.execute(Q["set_import_work_mem"])
    await conn.execute(Q["create_item_staging"])
    await conn.execute(Q["create_item_checked"])


async def copy_item_staging(conn: Conn, columns: tuple[str, ...], records: Iterable[tuple[object, ...]]) -> None:
    """COPY the file's rows into the staging table (binary COPY, streamed)."""
    await conn.copy_records_to_table("item_staging", records=records, columns=list(columns))


async def check_item_staging(
    conn: Conn, countries: list[str], current_year: int, control_pattern: str, padding_pattern: str
) -> None:
    """Validate the staged rows set-wise into the checked table."""
    await conn.execute(Q["check_item_staging"], countries, current_year, control_pattern, padding_pattern)


async def next_import_id(conn: Conn) -> int:
    """A new batch id."""
    import_id: int = await conn.fetchval(Q["next_import_id"])
    return import_id


async def insert_imported_items(conn: Conn, import_id: int, imported_at: dt.datetime, imported_by: str) -> int:
    """Insert the valid rows and their markings; returns how many items were inserted."""
    row = await conn.fetchrow(Q["insert_imported_items"], import_id, imported_at, imported_by)
    assert row is not None  # noqa: S101  # an aggregate always returns one row
    inserted: int = row["inserted"]
    return inserted


async def count_import_outcome(conn: Conn) -> asyncpg.Record:
    """``rows_read``, ``valid`` (inserted or already registered) and ``rejected`` of the checked rows."""
    row = await conn.fetchrow(Q["count_import_outcome"])
    assert row is not None  # noqa: S101  # an aggregate always returns one row
    return row


async def iter_import_rejections(conn: Conn, *, any_registered: bool) -> AsyncIterator[asyncpg.Record]:
    """Rejected and (when ``any_registered``) already-registered rows in line order (in the import's transaction)."""
    async for row in conn.cursor(Q["list_import_rejections"], any_registered, prefetch=5000):
        yield row


async def insert_item_import(
    conn: Conn,
    import_id: int,
    file_name: str,
    fmt: str,
    sha256: bytes,
    counts: tuple[int, int, int, int],
    imported_at: dt.datetime,
    imported_by: str,
) -> None:
    """The batch record with its counts (rows_read, inserted, already_registered, rejected)."""
    await conn.execute(Q["insert_item_import"], import_id, file_name, fmt, sha256, *counts, imported_at, imported_by)


async def list_item_imports(conn: Conn, before: int | None, limit: int) -> list[asyncpg.Record]:
    """A page of bulk-import batches, newest first, those before ``before`` (an ``import_id``) when given."""
    return await conn.fetch(Q["list_item_imports"], before, limit)


async def get_item_import(conn: Conn, import_id: int) -> asyncpg.Record | None:
    """One bulk-import batch, if it exists."""
    return await conn.fetchrow(Q["get_item_import"], import_id)
