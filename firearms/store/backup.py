"""Store functions for backups and restores (sql/queries/backup.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    from firearms.db import Conn

__all__ = [
    "count_public_relations",
    "export_snapshot",
    "get_database_size",
    "keep_transaction_open",
    "list_applied_migrations",
    "release_migrations",
    "wait_for_migrations",
]


async def keep_transaction_open(conn: Conn) -> None:
    """Let the open transaction idle as long as it must (no ``idle_in_transaction_session_timeout``)."""
    await conn.execute(Q["keep_transaction_open"])


async def export_snapshot(conn: Conn) -> str:
    """Export the open transaction's snapshot; its id stays valid until that transaction ends."""
    snapshot: str = await conn.fetchval(Q["export_snapshot"])
    return snapshot


async def get_database_size(conn: Conn) -> int:
    """The database's size on disk, in bytes."""
    size: int = await conn.fetchval(Q["get_database_size"])
    return size


async def list_applied_migrations(conn: Conn) -> list[str]:
    """The names of the applied migrations, in order."""
    return [row["name"] for row in await conn.fetch(Q["list_applied_migrations"])]


async def count_public_relations(conn: Conn) -> int:
    """How many tables, views and sequences the public schema holds."""
    count: int = await conn.fetchval(Q["count_public_relations"])
    return count


async def wait_for_migrations(conn: Conn, key: int) -> None:
    """Wait for a running migration to end, then keep migrations out until :func:`release_migrations`."""
    await conn.execute(Q["wait_for_migrations"], key)


async def release_migrations(conn: Conn, key: int) -> None:
    """Let migrations run again."""
    await conn.execute(Q["release_migrations"], key)
