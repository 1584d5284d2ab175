"""Store functions for the registry's own signing keys (sql/queries/keys.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "claim_registry_state",
    "get_current_registry_key",
    "get_registry_state",
    "insert_registry_key",
    "is_own_key",
    "list_needed_key_ids",
    "list_recorded_key_ids",
    "list_registry_keys",
    "list_removed_key_files",
    "lock_key_files",
    "lock_key_files_shared",
]


async def insert_registry_key(
    conn: Conn, key_id: str, public_key: bytes, not_before: dt.datetime, created_at: dt.datetime
) -> None:
    """Record a new signing key's public half."""
    await conn.execute(Q["insert_registry_key"], key_id, public_key, not_before, created_at)


async def is_own_key(conn: Conn, key_id: str) -> bool:
    """Whether ``key_id`` is a key this registry made (in use, retired, revoked, waiting or cancelled)."""
    return bool(await conn.fetchval(Q["is_own_key"], key_id))


async def list_registry_keys(conn: Conn) -> list[asyncpg.Record]:
    """Every key this registry ever used, oldest first."""
    return await conn.fetch(Q["list_registry_keys"])


async def get_current_registry_key(conn: Conn, now: dt.datetime) -> asyncpg.Record | None:
    """The newest key valid at ``now``."""
    return await conn.fetchrow(Q["get_current_registry_key"], now)


async def list_needed_key_ids(conn: Conn, now: dt.datetime) -> list[str]:
    """The keys this registry signs with from ``now`` on: current, waiting to be switched to, for unsigned notices."""
    return [row["key_id"] for row in await conn.fetch(Q["list_needed_key_ids"], now)]


async def get_registry_state(conn: Conn) -> str | None:
    """The State this database speaks for, ``None`` before one is recorded."""
    state: str | None = await conn.fetchval(Q["get_registry_state"])
    return state


async def claim_registry_state(conn: Conn, state: str, now: dt.datetime) -> str:
    """The State this database speaks for; ``state`` is recorded when none is yet."""
    recorded: str = await conn.fetchval(Q["claim_registry_state"], state, now)
    return recorded


async def lock_key_files_shared(conn: Conn) -> None:
    """Hold off sweeps of left key files until this transaction ends (it may write one)."""
    await conn.execute(Q["lock_key_files_shared"])


async def lock_key_files(conn: Conn) -> None:
    """Wait for every transaction that may write a key file to end; hold off new ones until this one ends."""
    await conn.execute(Q["lock_key_files"])


async def list_recorded_key_ids(conn: Conn, key_ids: list[str]) -> set[str]:
    """Which of ``key_ids`` are keys of this registry (recorded or waiting; not cancelled)."""
    return {row["key_id"] for row in await conn.fetch(Q["list_recorded_key_ids"], key_ids)}


async def list_removed_key_files(conn: Conn, key_ids: list[str]) -> set[tuple[str, str]]:
    """The ``(key_id, file name)`` of the files of ``key_ids`` whose removal is journaled."""
    return {(row["key_id"], row["file"]) for row in await conn.fetch(Q["list_removed_key_files"], key_ids)}
