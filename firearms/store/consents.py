"""Store functions for transit-consent requests and decisions (sql/queries/consents.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    import uuid
    from collections.abc import Sequence

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "insert_transit_consent",
    "list_latest_transit_consents",
    "list_transit_consent_requests",
    "list_transit_consents",
    "list_undecided_transit_consent_requests",
    "upsert_transit_consent_request",
]


async def upsert_transit_consent_request(
    conn: Conn,
    licence_id: uuid.UUID,
    transit_state: str,
    requested_on: dt.date,
    shipment_from: dt.date | None,
    shipment_to: dt.date | None,
    requested_at: dt.datetime,
    requested_by: str,
    licence_version: int,
) -> asyncpg.Record:
    """Record a consent request about ``licence_version`` (a repeat about the same version keeps the first date)."""
    row = await conn.fetchrow(
        Q["upsert_transit_consent_request"],
        licence_id,
        transit_state,
        requested_on,
        shipment_from,
        shipment_to,
        requested_at,
        requested_by,
        licence_version,
    )
    assert row is not None  # noqa: S101  # INSERT ... RETURNING yields the row
    return row


async def list_transit_consent_requests(conn: Conn, licence_id: uuid.UUID) -> list[asyncpg.Record]:
    """The consent requests of a licence."""
    return await conn.fetch(Q["list_transit_consent_requests"], licence_id)


async def insert_transit_consent(
    conn: Conn,
    licence_id: uuid.UUID,
    transit_state: str,
    decision: str,
    decided_on: dt.date,
    valid_until: dt.date | None,
    reason: str | None,
    source: str,
    recorded_at: dt.datetime,
    recorded_by: str,
    licence_version: int,
    confidentiality: str | None,
) -> asyncpg.Record:
    """Append one decision of a transit State on ``licence_version`` (a received one with its notice's level)."""
    row = await conn.fetchrow(
        Q["insert_transit_consent"],
        licence_id,
        transit_state,
        decision,
        decided_on,
        valid_until,
        reason,
        source,
        recorded_at,
        recorded_by,
        licence_version,
        confidentiality,
    )
    assert row is not None  # noqa: S101
    return row


async def list_latest_transit_consents(conn: Conn, licence_id: uuid.UUID) -> list[asyncpg.Record]:
    """The decision that counts for each transit State: on the latest version it answered, the latest recorded."""
    return await conn.fetch(Q["list_latest_transit_consents"], licence_id)


async def list_transit_consents(conn: Conn, licence_id: uuid.UUID, after: int, limit: int) -> list[asyncpg.Record]:
    """A page of every decision on a licence."""
    return await conn.fetch(Q["list_transit_consents"], licence_id, after, limit)


async def list_undecided_transit_consent_requests(
    conn: Conn, limit: int, refused_by: Sequence[str]
) -> list[asyncpg.Record]:
    """Requests on draft, pending or suspended local licences without a decision on the version asked about.

    Those to the transit States in ``refused_by`` (never deemed) are left out.
    """
    return await conn.fetch(Q["list_undecided_transit_consent_requests"], limit, list(refused_by))
