"""Store functions for trace requests (sql/queries/traces.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

from firearms.db import QUERIES as Q
from firearms.errors import ConflictError

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    from firearms.db import Conn

__all__ = [
    "find_trace_items",
    "find_trace_request",
    "insert_trace_acknowledgement",
    "insert_trace_answer",
    "insert_trace_request",
    "list_trace_item_events",
    "list_trace_notice_states",
    "list_trace_requests",
]


async def insert_trace_request(
    conn: Conn,
    direction: str,
    partner_state: str,
    notice_id: str,
    item_id: int | None,
    weapon: Any,
    circumstances: str,
    intended_use: str,
    confidentiality: str,
    answer_by: dt.date,
    acknowledge_by: dt.date | None,
    findings: Any,
    created_at: dt.datetime,
    created_by: str,
    findings_omitted: int | None = None,
) -> int:
    """A trace request; its id."""
    trace_request_id: int = await conn.fetchval(
        Q["insert_trace_request"],
        direction,
        partner_state,
        notice_id,
        item_id,
        weapon,
        circumstances,
        intended_use,
        confidentiality,
        answer_by,
        acknowledge_by,
        findings,
        created_at,
        created_by,
        findings_omitted,
    )
    return trace_request_id


async def insert_trace_acknowledgement(
    conn: Conn,
    trace_request_id: int,
    notice_id: str,
    acknowledged_at: dt.datetime,
    answer_by: dt.date | None,
    recorded_by: str,
) -> None:
    """A request's acknowledgement."""
    await conn.execute(
        Q["insert_trace_acknowledgement"], trace_request_id, notice_id, acknowledged_at, answer_by, recorded_by
    )


async def insert_trace_answer(
    conn: Conn,
    trace_request_id: int,
    notice_id: str,
    outcome: str,
    item_id: int | None,
    record: Any,
    reason: str | None,
    note: str | None,
    answered_at: dt.datetime,
    answered_by: str,
    confidentiality: str,
    unmatched_because: str | None = None,
) -> None:
    """A request's answer, with the level of its notice and the officer's reason for an item the request is not about.

    Raises:
        ConflictError: ``trace-already-answered`` (``trace_answer_pkey``: another answer committed first).
    """
    try:
        await conn.execute(
            Q["insert_trace_answer"],
            trace_request_id,
            notice_id,
            outcome,
            item_id,
            record,
            reason,
            note,
            answered_at,
            answered_by,
            confidentiality,
            unmatched_because,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != "trace_answer_pkey":
            raise
        raise ConflictError(
            f"trace request {trace_request_id} is already answered: an answer stands",
            code="trace-already-answered",
            trace_request_id=trace_request_id,
        ) from exc


async def find_trace_request(conn: Conn, direction: str, partner_state: str, notice_id: str) -> asyncpg.Record | None:
    """The request a notice id names, with whether it was acknowledged and answered."""
    return await conn.fetchrow(Q["find_trace_request"], direction, partner_state, notice_id)


async def list_trace_requests(
    conn: Conn,
    trace_request_id: int | None,
    direction: str | None,
    status: str | None,
    overdue: bool,  # noqa: FBT001  # a query parameter, in its place
    today: dt.date,
    after: int,
    limit: int,
) -> list[asyncpg.Record]:
    """One request (``trace_request_id``) or a page of them, with acknowledgement, answer, status and due day."""
    return await conn.fetch(Q["list_trace_requests"], trace_request_id, direction, status, overdue, today, after, limit)


async def find_trace_items(
    conn: Conn, serials: list[str], limit: int, manufacturer: str | None, country: str | None
) -> list[asyncpg.Record]:
    """Items whose normalised serial is one of ``serials``: the ``manufacturer``'s first, then the ``country``'s.

    Each row also counts every item carrying them, the ``limit`` aside (``matching``).
    """
    return await conn.fetch(Q["find_trace_items"], serials, limit, manufacturer, country)


async def list_trace_item_events(conn: Conn, item_id: int) -> list[asyncpg.Record]:
    """An item's events in recording order."""
    return await conn.fetch(Q["list_trace_item_events"], item_id)


async def list_trace_notice_states(conn: Conn, notice_ids: list[uuid.UUID]) -> list[asyncpg.Record]:
    """The delivery state of these outbox notices."""
    return await conn.fetch(Q["list_trace_notice_states"], notice_ids)
