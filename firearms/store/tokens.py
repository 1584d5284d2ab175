"""Store functions for officers' bearer tokens (sql/queries/tokens.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "count_admin_tokens",
    "get_live_officer_token_named",
    "get_officer_by_token_hash",
    "get_officer_token",
    "insert_officer_token",
    "is_officer_token_live",
    "list_officer_tokens",
    "lock_officer_token_names",
    "revoke_officer_token",
]


async def insert_officer_token(
    conn: Conn, token_id: uuid.UUID, name: str, role: str, token_hash: bytes, created_at: dt.datetime, created_by: str
) -> None:
    """Store a new token's hash."""
    await conn.execute(Q["insert_officer_token"], token_id, name, role, token_hash, created_at, created_by)


async def get_officer_by_token_hash(conn: Conn, token_hash: bytes) -> asyncpg.Record | None:
    """The live officer holding the token with this hash."""
    return await conn.fetchrow(Q["get_officer_by_token_hash"], token_hash)


async def lock_officer_token_names(conn: Conn) -> None:
    """Hold, until the transaction ends, the lock under which an operator's token takes its name."""
    await conn.execute(Q["lock_officer_token_names"])


async def get_live_officer_token_named(conn: Conn, name: str) -> uuid.UUID | None:
    """The live token of that name (case and surrounding spaces aside), if any."""
    token_id: uuid.UUID | None = await conn.fetchval(Q["get_live_officer_token_named"], name)
    return token_id


async def is_officer_token_live(conn: Conn, token_id: uuid.UUID) -> bool:
    """Whether the token is known and not revoked."""
    live: bool = await conn.fetchval(Q["is_officer_token_live"], token_id)
    return live


async def list_officer_tokens(
    conn: Conn, after: tuple[dt.datetime, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """A page of tokens in creation order after the cursor ``after``."""
    at, token_id = after if after else (None, None)
    return await conn.fetch(Q["list_officer_tokens"], at, token_id, limit)


async def revoke_officer_token(
    conn: Conn, token_id: uuid.UUID, revoked_at: dt.datetime, revoked_by: str
) -> asyncpg.Record | None:
    """Revoke a live token; ``None`` when it is unknown or already revoked."""
    return await conn.fetchrow(Q["revoke_officer_token"], token_id, revoked_at, revoked_by)


async def get_officer_token(conn: Conn, token_id: uuid.UUID) -> asyncpg.Record | None:
    """One token's public facts."""
    return await conn.fetchrow(Q["get_officer_token"], token_id)


async def count_admin_tokens(conn: Conn) -> int:
    """Admin tokens ever created, revoked ones included."""
    count: int = await conn.fetchval(Q["count_admin_tokens"])
    return count
