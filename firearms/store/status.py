"""Store functions for the operator's overview (sql/queries/status.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "get_journal_status",
    "get_key_status",
    "get_service_status",
    "get_waiting_work",
    "list_partner_status",
]


async def list_partner_status(conn: Conn, quota_since: dt.datetime) -> list[asyncpg.Record]:
    """Each partner's queue, last delivery, rejected notices and the latest rejection's time, in State order.

    With the notices refused for its quota since ``quota_since`` and the latest refusal's time.
    """
    return await conn.fetch(Q["list_partner_status"], quota_since)


async def get_journal_status(conn: Conn, verified_action: str, failed_action: str) -> asyncpg.Record:
    """Unsealed entries, the last checkpoint, the last intact verification, a break none walked over since (one row)."""
    row = await conn.fetchrow(Q["get_journal_status"], verified_action, failed_action)
    assert row is not None  # noqa: S101  # a SELECT without FROM filter: one row
    return row


async def get_key_status(conn: Conn, now: dt.datetime) -> asyncpg.Record:
    """The key signing at ``now``, a rotation not switched to, revoked and recorded keys (one row, always)."""
    row = await conn.fetchrow(Q["get_key_status"], now)
    assert row is not None  # noqa: S101
    return row


async def get_waiting_work(conn: Conn, today: dt.date) -> asyncpg.Record:
    """Held checks, pending consent requests, received trace requests open and overdue (one row, always)."""
    row = await conn.fetchrow(Q["get_waiting_work"], today)
    assert row is not None  # noqa: S101
    return row


async def get_service_status(conn: Conn) -> asyncpg.Record:
    """The database server's version and the latest migration applied (one row, always)."""
    row = await conn.fetchrow(Q["get_service_status"])
    assert row is not None  # noqa: S101
    return row
