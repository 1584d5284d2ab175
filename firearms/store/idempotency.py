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
    "get_database_time",
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


async def get_database_time(conn: Conn) -> dt.datetime:
    """The database's clock now (``now()``: the transaction's start, inside one)."""
    now: dt.datetime = await conn.fetchval(Q["get_database_time"])
    return now


async def prune_idempotency_keys(
    conn: Conn, stored_before: dt.datetime, limit: int, recorded_at: dt.datetime, actor: str, written: str
) -> int:
    """Delete up to ``limit`` keys stored before ``stored_before``, oldest first, each journaled; how many.

    Through ``prune_idempotency_keys()``, which refuses a ``stored_before`` later than a day ago by the database's
    clock (``InvalidParameterValueError``).
    """
    count: int = await conn.fetchval(Q["prune_idempotency_keys"], stored_before, limit, recorded_at, actor, written)
    return count
