"""Store functions for idempotency keys (sql/queries/idempotency.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "allow_idempotency_key_prune",
    "get_idempotency_key",
    "insert_idempotency_key",
    "lock_idempotency_key",
    "prune_idempotency_keys",
]


async def lock_idempotency_key(conn: Conn, token_id: uuid.UUID, key: str) -> None:
    """Wait for, then hold until commit, the one lock of this token's key."""
    await conn.execute(Q["lock_idempotency_key"], token_id, key)


async def get_idempotency_key(conn: Conn, token_id: uuid.UUID, key: str) -> asyncpg.Record | None:
    """The request and first answer stored under the key, if any."""
    return await conn.fetchrow(Q["get_idempotency_key"], token_id, key)


async def insert_idempotency_key(
    conn: Conn,
    token_id: uuid.UUID,
    key: str,
    request: str,
    fingerprint: bytes,
    answer: bytes,
    status_code: int,
    created_at: dt.datetime,
) -> None:
    """Keep the key with the answer it gave."""
    await conn.execute(
        Q["insert_idempotency_key"], token_id, key, request, fingerprint, answer, status_code, created_at
    )


async def allow_idempotency_key_prune(conn: Conn) -> None:
    """Let the caller's transaction, and it alone, delete keys."""
    await conn.execute(Q["allow_idempotency_key_prune"])


async def prune_idempotency_keys(
    conn: Conn, stored_before: dt.datetime, limit: int, recorded_at: dt.datetime, actor: str, written: str
) -> int:
    """Delete up to ``limit`` keys stored before ``stored_before``, oldest first, each journaled; how many."""
    count: int = await conn.fetchval(Q["prune_idempotency_keys"], stored_before, limit, recorded_at, actor, written)
    return count
