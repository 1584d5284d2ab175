"""Store functions for idempotency keys (sql/queries/idempotency.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from firearms.db import Conn

__all__ = ["get_idempotency_key", "insert_idempotency_key", "lock_idempotency_key"]


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
