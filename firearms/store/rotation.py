"""Store functions for key rotation and revocation (sql/queries/rotation.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "cancel_pending_registry_key",
    "get_cancelled_registry_key",
    "get_earliest_queued_notice",
    "get_latest_key_start",
    "get_pending_registry_key_for_update",
    "get_registry_key",
    "has_unswitched_key",
    "insert_pending_registry_key",
    "list_announced_states",
    "list_key_revocations",
    "list_unannounced_states",
    "list_unswitched_keys",
    "lock_pending_registry_keys",
    "lock_unswitched_keys",
    "mark_key_switched",
    "resign_queued_outbox_notices",
    "revoke_registry_key",
]


async def insert_pending_registry_key(
    conn: Conn, key_id: str, public_key: bytes, not_before: dt.datetime, replaces: str, created_at: dt.datetime
) -> None:
    """Record a new key waiting for its announcements."""
    await conn.execute(Q["insert_pending_registry_key"], key_id, public_key, not_before, replaces, created_at)


async def lock_pending_registry_keys(conn: Conn) -> None:
    """Hold the waiting keys until commit: one rotation at a time."""
    await conn.execute(Q["lock_pending_registry_keys"])


async def has_unswitched_key(conn: Conn) -> bool:
    """Whether a new key is waiting for its announcements."""
    waiting: bool = await conn.fetchval(Q["has_unswitched_key"])
    return waiting


async def lock_unswitched_keys(conn: Conn) -> list[asyncpg.Record]:
    """New keys not yet in use, locked (waiting for a worker that holds them)."""
    return await conn.fetch(Q["lock_unswitched_keys"])


async def list_unswitched_keys(conn: Conn) -> list[asyncpg.Record]:
    """New keys not yet in use (locked, skipping those another worker holds)."""
    return await conn.fetch(Q["list_unswitched_keys"])


async def mark_key_switched(conn: Conn, key_id: str, now: dt.datetime) -> None:
    """Mark a pending key as in use."""
    await conn.execute(Q["mark_key_switched"], key_id, now)


async def get_registry_key(conn: Conn, key_id: str) -> asyncpg.Record | None:
    """One of this registry's keys."""
    return await conn.fetchrow(Q["get_registry_key"], key_id)


async def revoke_registry_key(conn: Conn, key_id: str, revoked_at: dt.datetime) -> bool:
    """Revoke a key; ``False`` when it was already revoked."""
    return await conn.fetchval(Q["revoke_registry_key"], key_id, revoked_at) is not None


async def list_unannounced_states(conn: Conn, key_id: str) -> list[str]:
    """The enabled partners that have not accepted the announcement of ``key_id`` (queued, or rejected)."""
    return [row["recipient"] for row in await conn.fetch(Q["list_unannounced_states"], key_id)]


async def get_pending_registry_key_for_update(conn: Conn, key_id: str) -> asyncpg.Record | None:
    """A rotated key, waiting or switched to, locked; ``None`` when none (never made, or cancelled)."""
    return await conn.fetchrow(Q["get_pending_registry_key_for_update"], key_id)


async def cancel_pending_registry_key(conn: Conn, key_id: str, cancelled_at: dt.datetime) -> bool:
    """Move a waiting key to the cancelled ones; ``False`` when it is not waiting."""
    return await conn.fetchval(Q["cancel_pending_registry_key"], key_id, cancelled_at) is not None


async def get_cancelled_registry_key(conn: Conn, key_id: str) -> asyncpg.Record | None:
    """A key whose rotation was cancelled: ``replaces`` and ``cancelled_at``."""
    return await conn.fetchrow(Q["get_cancelled_registry_key"], key_id)


async def list_announced_states(conn: Conn, key_id: str) -> list[str]:
    """The partners the announcement of ``key_id`` was queued for, except those that stored it rejected."""
    return [row["recipient"] for row in await conn.fetch(Q["list_announced_states"], key_id)]


async def list_key_revocations(conn: Conn, key_id: str) -> list[asyncpg.Record]:
    """The ``registry.key-revoked`` notices queued for ``key_id``: ``recipient`` and ``revoked_at``."""
    return await conn.fetch(Q["list_key_revocations"], key_id)


async def resign_queued_outbox_notices(conn: Conn, key_id: str) -> list[asyncpg.Record]:
    """Have every queued notice signed again with ``key_id``: per recipient, how many and the earliest created_at."""
    return await conn.fetch(Q["resign_queued_outbox_notices"], key_id)


async def get_latest_key_start(conn: Conn) -> dt.datetime | None:
    """The latest ``not_before`` of this registry's keys (``None`` when it has none)."""
    found: dt.datetime | None = await conn.fetchval(Q["get_latest_key_start"])
    return found


async def get_earliest_queued_notice(conn: Conn) -> dt.datetime | None:
    """The ``created_at`` of the oldest queued notice (``None`` when nothing is queued)."""
    found: dt.datetime | None = await conn.fetchval(Q["get_earliest_queued_notice"])
    return found
