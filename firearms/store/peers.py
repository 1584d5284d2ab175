"""Store functions for the trust list (sql/queries/peers.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from firearms.db import QUERIES as Q
from firearms.errors import ConflictError

if TYPE_CHECKING:
    import datetime as dt

    from firearms.db import Conn

__all__ = [
    "get_peer",
    "get_peer_for_update",
    "get_peer_key",
    "insert_peer",
    "insert_peer_key",
    "list_enabled_peer_states",
    "list_key_states",
    "list_peer_keys",
    "list_peers",
    "list_trusted_keys",
    "lock_peer_key_id",
    "lock_report_recipients",
    "lock_report_recipients_shared",
    "revoke_peer_key",
    "set_peer_enabled",
    "set_peer_quota",
    "set_peer_url",
]


async def insert_peer(conn: Conn, state: str, base_url: str, now: dt.datetime) -> None:
    """Put a partner on the trust list.

    Raises:
        ConflictError: ``peer-already-exists``.
    """
    try:
        await conn.execute(Q["insert_peer"], state, base_url, now)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "peer_pkey":
            raise ConflictError(
                f"{state} is already on the trust list ('firearms peers list'): enter another of its keys with"
                f" 'firearms peers add-key {state}' (POST /api/v1/peers/{state}/keys), or enable it with"
                f" 'firearms peers enable {state}' if disabled",
                code="peer-already-exists",
                state=state,
            ) from exc
        raise


async def get_peer(conn: Conn, state: str) -> asyncpg.Record | None:
    """One partner."""
    return await conn.fetchrow(Q["get_peer"], state)


async def get_peer_for_update(conn: Conn, state: str) -> asyncpg.Record | None:
    """One partner, its row locked (NO KEY UPDATE) until the transaction ends: to enable or disable it."""
    return await conn.fetchrow(Q["get_peer_for_update"], state)


async def list_peers(conn: Conn, after: str, limit: int) -> list[asyncpg.Record]:
    """Partners in State order after ``after``."""
    return await conn.fetch(Q["list_peers"], after, limit)


async def list_enabled_peer_states(conn: Conn) -> list[str]:
    """Every enabled partner's State."""
    return [row["state"] for row in await conn.fetch(Q["list_enabled_peer_states"])]


async def lock_report_recipients_shared(conn: Conn) -> None:
    """Hold off a partner's catch-up until this transaction ends (it queues a report or withdrawal to the partners)."""
    await conn.execute(Q["lock_report_recipients_shared"])


async def lock_report_recipients(conn: Conn) -> None:
    """Wait for every transaction queueing reports to the partners to end, and hold off new ones until this one ends."""
    await conn.execute(Q["lock_report_recipients"])


async def set_peer_enabled(conn: Conn, state: str, enabled: bool, now: dt.datetime) -> asyncpg.Record | None:  # noqa: FBT001
    """Enable or disable a partner; ``None`` when unknown."""
    return await conn.fetchrow(Q["set_peer_enabled"], state, enabled, now)


async def set_peer_quota(
    conn: Conn, state: str, notices: int | None, bytes_: int | None, now: dt.datetime
) -> asyncpg.Record | None:
    """Set a partner's own quota an hour (``None``: the settings' default); ``None`` when unknown."""
    return await conn.fetchrow(Q["set_peer_quota"], state, notices, bytes_, now)


async def set_peer_url(conn: Conn, state: str, base_url: str, now: dt.datetime) -> asyncpg.Record | None:
    """Change a partner's base URL; ``None`` when unknown."""
    return await conn.fetchrow(Q["set_peer_url"], state, base_url, now)


async def insert_peer_key(
    conn: Conn,
    state: str,
    key_id: str,
    public_key: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime | None,
    provenance: str,
    now: dt.datetime,
) -> None:
    """Add a key to a partner's trust entry.

    Raises:
        ConflictError: ``peer-key-exists``. A ``not_after`` not after ``not_before`` is the caller's to refuse
            first (the key announcement rejects it ``invalid-body``; the officer API enters no ``not_after``):
            ``peer_key_window_check`` only guards the table.
    """
    try:
        await conn.execute(Q["insert_peer_key"], state, key_id, public_key, not_before, not_after, provenance, now)
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "peer_key_pkey":
            raise ConflictError(
                f"key {key_id} of {state} is already on the trust list", code="peer-key-exists", key_id=key_id
            ) from exc
        raise


async def get_peer_key(conn: Conn, state: str, key_id: str) -> asyncpg.Record | None:
    """One key of a partner."""
    return await conn.fetchrow(Q["get_peer_key"], state, key_id)


async def lock_peer_key_id(conn: Conn, key_id: str) -> None:
    """Wait for, then hold until the transaction ends, the right to enter the key ``key_id`` for any State."""
    await conn.execute(Q["lock_peer_key_id"], key_id)


async def list_key_states(conn: Conn, key_id: str) -> list[str]:
    """The States whose trust entry holds the key ``key_id``."""
    return [row["state"] for row in await conn.fetch(Q["list_key_states"], key_id)]


async def list_peer_keys(conn: Conn, state: str) -> list[asyncpg.Record]:
    """Every key of a partner, oldest first."""
    return await conn.fetch(Q["list_peer_keys"], state)


async def list_trusted_keys(conn: Conn, state: str) -> list[asyncpg.Record]:
    """The keys of an enabled partner; empty when unknown or disabled."""
    return await conn.fetch(Q["list_trusted_keys"], state)


async def revoke_peer_key(conn: Conn, state: str, key_id: str, revoked_at: dt.datetime) -> asyncpg.Record | None:
    """Mark a partner's key revoked; ``None`` when unknown."""
    return await conn.fetchrow(Q["revoke_peer_key"], state, key_id, revoked_at)
