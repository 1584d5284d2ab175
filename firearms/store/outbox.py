"""Store functions for the outbox (sql/queries/outbox.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "claim_outbox_heads",
    "count_outbox_pending",
    "enqueue_outbox_notice",
    "get_outbox_envelope",
    "get_outbox_notice",
    "get_registry_key_at",
    "list_outbox_notices",
    "lock_partners_with_unnumbered_notices",
    "number_outbox_notices",
    "record_outbox_failure",
    "record_outbox_receipt",
    "relax_commit",
    "requeue_outbox_from",
    "set_outbox_envelope",
]


async def enqueue_outbox_notice(
    conn: Conn,
    notice_id: uuid.UUID,
    recipient: str,
    type_: str,
    created_at: dt.datetime,
    in_reply_to: str | None,
    confidentiality: str,
    body: Any,
    signing_key_id: str | None,
    actor: str,
) -> bool:
    """Queue and journal a notice (unnumbered); ``False`` when the partner is not on the trust list."""
    queued = await conn.fetchval(
        Q["enqueue_outbox_notice"],
        notice_id,
        recipient,
        type_,
        created_at,
        in_reply_to,
        confidentiality,
        body,
        signing_key_id,
        actor,
    )
    return queued is not None


async def lock_partners_with_unnumbered_notices(conn: Conn) -> list[str]:
    """Partners with unnumbered queued notices, locked (skipping those another worker holds)."""
    return [row["state"] for row in await conn.fetch(Q["lock_partners_with_unnumbered_notices"])]


async def number_outbox_notices(conn: Conn, states: list[str]) -> list[asyncpg.Record]:
    """Number the locked partners' queued notices; (``state``, ``first``, ``last``) per partner."""
    return await conn.fetch(Q["number_outbox_notices"], states)


async def claim_outbox_heads(
    conn: Conn, now: dt.datetime, lease_until: dt.datetime, worker: str
) -> list[asyncpg.Record]:
    """Lease the due head notice of every enabled recipient to ``worker``."""
    return await conn.fetch(Q["claim_outbox_heads"], now, lease_until, worker)


async def set_outbox_envelope(conn: Conn, notice_id: uuid.UUID, envelope: bytes) -> bool:
    """Keep the signed bytes; ``False`` when the notice already had them."""
    return await conn.fetchval(Q["set_outbox_envelope"], notice_id, envelope) is not None


async def get_outbox_envelope(conn: Conn, notice_id: uuid.UUID) -> bytes | None:
    """The signed bytes of a notice."""
    value: bytes | None = await conn.fetchval(Q["get_outbox_envelope"], notice_id)
    return value


async def record_outbox_receipt(
    conn: Conn, notice_id: uuid.UUID, worker: str, status: str, receipt: bytes, reason: str | None, now: dt.datetime
) -> bool:
    """Store a verified receipt; ``False`` when the lease was lost."""
    return await conn.fetchval(Q["record_outbox_receipt"], notice_id, worker, status, receipt, reason, now) is not None


async def record_outbox_failure(
    conn: Conn, notice_id: uuid.UUID, worker: str, error: str, next_attempt_at: dt.datetime
) -> bool:
    """Record a failed attempt and when to try again; ``False`` when the lease was lost."""
    return await conn.fetchval(Q["record_outbox_failure"], notice_id, worker, error, next_attempt_at) is not None


async def requeue_outbox_from(conn: Conn, recipient: str, sequence: int, now: dt.datetime) -> int:
    """Queue again every notice for ``recipient`` from ``sequence`` on; how many."""
    return len(await conn.fetch(Q["requeue_outbox_from"], recipient, sequence, now))


async def list_outbox_notices(
    conn: Conn, before: tuple[dt.datetime, uuid.UUID] | None, status: str | None, recipient: str | None, limit: int
) -> list[asyncpg.Record]:
    """A page of outgoing notices, newest first."""
    at, notice_id = before if before else (None, None)
    return await conn.fetch(Q["list_outbox_notices"], at, notice_id, status, recipient, limit)


async def get_outbox_notice(conn: Conn, notice_id: uuid.UUID) -> asyncpg.Record | None:
    """One outgoing notice."""
    return await conn.fetchrow(Q["get_outbox_notice"], notice_id)


async def count_outbox_pending(conn: Conn) -> list[asyncpg.Record]:
    """Queued notices per recipient."""
    return await conn.fetch(Q["count_outbox_pending"])


async def get_registry_key_at(conn: Conn, moment: dt.datetime) -> str | None:
    """The ``key_id`` of this registry's newest key valid at ``moment``."""
    value: str | None = await conn.fetchval(Q["get_registry_key_at"], moment)
    return value


async def relax_commit(conn: Conn) -> None:
    """Let the current transaction commit without waiting for its WAL flush (sender-side bookkeeping only)."""
    await conn.execute(Q["relax_commit"])
