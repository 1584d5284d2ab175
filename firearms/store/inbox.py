"""Store functions for received notices (sql/queries/inbox.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "list_inbox_notices",
    "receive_context",
    "record_quota_refusal",
    "sender_keys",
    "store_received_notice",
    "wrote_in_transaction",
]


async def receive_context(conn: Conn, sender: str, notice_id: str, now: dt.datetime) -> asyncpg.Record:
    """Hold the sender's inbox until commit; its keys, ``own_key_id``, ``last_sequence`` and any stored notice."""
    row = await conn.fetchrow(Q["receive_context"], sender, notice_id, now)
    assert row is not None  # noqa: S101  # the function returns one row
    return row


async def record_quota_refusal(
    conn: Conn, sender: str, refused_at: dt.datetime, recorded_at: dt.datetime, payload: Any
) -> int:
    """Count a notice refused for the sender's quota in its hour (the first of the hour journaled); the count."""
    refused: int = await conn.fetchval(Q["record_quota_refusal"], sender, refused_at, recorded_at, payload)
    return refused


async def sender_keys(conn: Conn, sender: str) -> asyncpg.Record:
    """The sender's keys on the trust list as :func:`receive_context` gives them, without its lock."""
    row = await conn.fetchrow(Q["sender_keys"], sender)
    assert row is not None  # noqa: S101  # an aggregate returns one row
    return row


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
) -> int:
    """Store a received notice and its receipt and journal it; the journal entry's id."""
    entry_id: int = await conn.fetchval(
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


async def wrote_in_transaction(conn: Conn) -> bool:
    """Whether the current transaction has written anything (it has a transaction id)."""
    wrote: bool = await conn.fetchval(Q["wrote_in_transaction"])
    return wrote
