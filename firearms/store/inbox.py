"""Store functions for received notices (sql/queries/inbox.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "get_inbox_notice",
    "get_receive_context",
    "list_inbox_notices",
    "lock_inbox",
    "store_received_notice",
]


async def get_inbox_notice(conn: Conn, sender: str, notice_id: str) -> asyncpg.Record | None:
    """The stored bytes and receipt of a received notice."""
    return await conn.fetchrow(Q["get_inbox_notice"], sender, notice_id)


async def get_receive_context(conn: Conn, sender: str, now: dt.datetime) -> list[asyncpg.Record]:
    """The enabled sender's keys (none when unknown or disabled), each with ``own_key_id`` valid at ``now``."""
    return await conn.fetch(Q["get_receive_context"], sender, now)


async def lock_inbox(conn: Conn, sender: str, notice_id: str) -> asyncpg.Record | None:
    """Lock the sender's row until commit; ``received_sequence`` and any stored ``notice``/``receipt`` with this id.

    ``None`` when the sender is not on the trust list.
    """
    return await conn.fetchrow(Q["lock_inbox"], sender, notice_id)


async def store_received_notice(
    conn: Conn,
    sender: str,
    notice_id: str,
    type_: str,
    sequence: int,
    created_at: dt.datetime,
    in_reply_to: str | None,
    confidentiality: str,
    key_id: str,
    notice: bytes,
    signature: str,
    digest: str,
    status: str,
    reason: str | None,
    received_at: dt.datetime,
    receipt: bytes,
    recorded_at: dt.datetime,
    payload: Any,
) -> int | None:
    """Store a received notice and its receipt, advance ``received_sequence``, journal it; the entry id.

    ``None`` when ``sequence`` is not the next one from ``sender`` (nothing was written).
    """
    entry_id: int | None = await conn.fetchval(
        Q["store_received_notice"],
        sender,
        notice_id,
        type_,
        sequence,
        created_at,
        in_reply_to,
        confidentiality,
        key_id,
        notice,
        signature,
        digest,
        status,
        reason,
        received_at,
        receipt,
        recorded_at,
        payload,
    )
    return entry_id


async def list_inbox_notices(
    conn: Conn, after: tuple[dt.datetime, str, str] | None, limit: int
) -> list[asyncpg.Record]:
    """A page of received notices in arrival order."""
    at, sender, notice_id = after if after else (None, None, None)
    return await conn.fetch(Q["list_inbox_notices"], at, sender, notice_id, limit)
