"""Store functions for partners' lost and stolen reports (sql/queries/foreign_item_reports.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "find_partner_reported_goods",
    "find_partner_reported_serials",
    "insert_foreign_item_report",
    "insert_foreign_item_report_withdrawal",
    "list_foreign_item_reports",
]


async def insert_foreign_item_report(conn: Conn, *values: Any) -> str:
    """Store a received ``item.reported-missing`` (see the query for the values); its normalised serial."""
    serial: str = await conn.fetchval(Q["insert_foreign_item_report"], *values)
    return serial


async def insert_foreign_item_report_withdrawal(
    conn: Conn,
    sender_state: str,
    report_id: str,
    notice_id: str,
    sequence: int,
    reason: str,
    occurred_on: dt.date,
    received_at: dt.datetime,
) -> bool:
    """Store a received ``item.report-withdrawn``; whether a report of that id was received before."""
    known: bool = await conn.fetchval(
        Q["insert_foreign_item_report_withdrawal"],
        sender_state,
        report_id,
        notice_id,
        sequence,
        reason,
        occurred_on,
        received_at,
    )
    return known


async def find_partner_reported_serials(
    conn: Conn, licence_id: uuid.UUID, lines: list[int], serials: list[str]
) -> list[asyncpg.Record]:
    """Partners' open reports matching ``serials`` (normalised, one per entry of ``lines``) on the licence's lines."""
    return await conn.fetch(Q["find_partner_reported_serials"], licence_id, lines, serials)


async def find_partner_reported_goods(
    conn: Conn, serials: list[str], categories: list[str], makes: list[str], licence_indexes: list[int]
) -> list[asyncpg.Record]:
    """Partners' open reports matching goods given as (normalised serial, category, make) on a licence of a batch."""
    return await conn.fetch(Q["find_partner_reported_goods"], serials, categories, makes, licence_indexes)


async def list_foreign_item_reports(
    conn: Conn,
    sender_state: str | None,
    status: str | None,
    serial: str | None,
    before: tuple[dt.datetime, str, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """A page of partners' reports, newest received first (each report as its latest notice says).

    ``status`` ``lost`` or ``stolen``: the open reports of that status (a query of their own, which the planner reads
    on the receipt index, page by page); ``withdrawn``: the withdrawn ones; ``None``: all.
    """
    at, state, sequence = before if before is not None else (None, None, None)
    query = "list_open_foreign_item_reports" if status in {"lost", "stolen"} else "list_foreign_item_reports"
    return await conn.fetch(Q[query], sender_state, status, serial, at, state, sequence, limit)
