"""Store functions for received notices (sql/queries/inbox.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "get_inbox_notice",
    "get_inbox_state",
    "insert_inbox_notice",
    "last_inbox_sequence",
    "list_inbox_notices",
]


async def get_inbox_notice(conn: Conn, sender: str, notice_id: str) -> asyncpg.Record | None:
    """The stored bytes and receipt of a received notice."""
    return await conn.fetchrow(Q["get_inbox_notice"], sender, notice_id)


async def last_inbox_sequence(conn: Conn, sender: str) -> int:
    """The highest sequence stored from ``sender`` (0 when none)."""
    value: int = await conn.fetchval(Q["last_inbox_sequence"], sender)
    return value


async def insert_inbox_notice(
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
) -> None:
    """Store a received notice and the receipt given for it."""
    await conn.execute(
        Q["insert_inbox_notice"],
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
    )


async def list_inbox_notices(
    conn: Conn, after: tuple[dt.datetime, str, str] | None, limit: int
) -> list[asyncpg.Record]:
    """A page of received notices in arrival order."""
    at, sender, notice_id = after if after else (None, None, None)
    return await conn.fetch(Q["list_inbox_notices"], at, sender, notice_id, limit)


async def get_inbox_state(conn: Conn, sender: str, notice_id: str) -> asyncpg.Record:
    """The stored notice with this id (``notice``/``receipt`` NULL when none) and ``last_sequence`` from ``sender``."""
    row = await conn.fetchrow(Q["get_inbox_state"], sender, notice_id)
    assert row is not None  # noqa: S101  # the query always returns one row
    return row
