"""Store functions for parties and the broker register (sql/queries/parties.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from firearms.db import QUERIES as Q
from firearms.errors import ConflictError

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    from firearms.db import Conn

__all__ = [
    "get_parties",
    "get_parties_for_share",
    "get_party",
    "get_party_for_update",
    "insert_party",
    "list_parties",
    "update_party_status",
]


async def insert_party(
    conn: Conn,
    party_id: uuid.UUID,
    kind: str,
    name: str,
    country: str,
    address: str,
    registration: str | None,
    valid_from: dt.date | None,
    expires_on: dt.date | None,
    status: str,
    created_at: dt.datetime,
    created_by: str,
) -> asyncpg.Record:
    """Store a new party.

    Raises:
        ConflictError: a broker with this registration number is already in the register.
    """
    try:
        row = await conn.fetchrow(
            Q["insert_party"],
            party_id,
            kind,
            name,
            country,
            address,
            registration,
            valid_from,
            expires_on,
            status,
            created_at,
            created_by,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "party_broker_registration_key":
            raise ConflictError(
                f"broker registration {registration!r} of {country} is already in the register",
                code="broker-already-registered",
                country=country,
                registration=registration,
            ) from exc
        raise
    assert row is not None  # noqa: S101  # INSERT ... RETURNING yields the row
    return row


async def get_party(conn: Conn, party_id: uuid.UUID) -> asyncpg.Record | None:
    """One party."""
    return await conn.fetchrow(Q["get_party"], party_id)


async def get_party_for_update(conn: Conn, party_id: uuid.UUID) -> asyncpg.Record | None:
    """One party, locked."""
    return await conn.fetchrow(Q["get_party_for_update"], party_id)


async def get_parties(conn: Conn, party_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """Several parties at once (any order)."""
    return await conn.fetch(Q["get_parties"], party_ids)


async def get_parties_for_share(conn: Conn, party_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """Several parties, locked ``FOR SHARE`` until the transaction ends (party_id order)."""
    return await conn.fetch(Q["get_parties_for_share"], party_ids)


async def list_parties(
    conn: Conn, after: tuple[dt.datetime, uuid.UUID] | None, kind: str | None, limit: int
) -> list[asyncpg.Record]:
    """A page of parties in creation order."""
    at, party_id = after if after else (None, None)
    return await conn.fetch(Q["list_parties"], at, party_id, kind, limit)


async def update_party_status(
    conn: Conn, party_id: uuid.UUID, status: str, updated_at: dt.datetime
) -> asyncpg.Record | None:
    """Set a party's register status."""
    return await conn.fetchrow(Q["update_party_status"], party_id, status, updated_at)
