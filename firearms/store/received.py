"""Store functions for what partners told this registry (sql/queries/received.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from firearms.db import Conn

# A journal entry written by the same statement: recorded_at, actor, action, payload (see journal.entry).
JournalEntry: TypeAlias = "tuple[dt.datetime, str, str, Any]"

__all__ = [
    "decide_consent_request",
    "deem_consent_request",
    "get_consent_decision_answering",
    "get_consent_request",
    "get_consent_request_deemed_day",
    "get_consent_request_for_update",
    "get_foreign_licence",
    "get_foreign_licence_for_update",
    "get_requested_licence",
    "get_shipment_record",
    "insert_consent_decision",
    "insert_consent_request",
    "insert_consent_request_decision",
    "insert_shipment_passage",
    "list_consent_decisions",
    "list_consent_requests",
    "list_foreign_licences",
    "list_pending_consent_requests",
    "list_shipment_dispatches",
    "list_shipment_passages",
    "list_shipment_receipts",
    "list_shipment_records",
    "set_foreign_licence_status",
    "supersede_consent_requests",
    "upsert_foreign_licence",
    "upsert_shipment_confirmation_request",
    "upsert_shipment_dispatch",
    "upsert_shipment_receipt",
]


async def get_foreign_licence_for_update(conn: Conn, issuing_state: str, number: str) -> asyncpg.Record | None:
    """A received licence, locked."""
    return await conn.fetchrow(Q["get_foreign_licence_for_update"], issuing_state, number)


async def get_foreign_licence(conn: Conn, issuing_state: str, number: str) -> asyncpg.Record | None:
    """A received licence."""
    return await conn.fetchrow(Q["get_foreign_licence"], issuing_state, number)


async def upsert_foreign_licence(
    conn: Conn,
    issuing_state: str,
    number: str,
    kind: str,
    version: int,
    status: str,
    licence: Any,
    confidentiality: str,
    notice_id: str,
    now: dt.datetime,
) -> None:
    """Store a licence version."""
    await conn.execute(
        Q["upsert_foreign_licence"],
        issuing_state,
        number,
        kind,
        version,
        status,
        licence,
        confidentiality,
        notice_id,
        now,
    )


async def set_foreign_licence_status(
    conn: Conn,
    issuing_state: str,
    number: str,
    status: str,
    reason: str | None,
    effective_at: dt.datetime,
    now: dt.datetime,
    confidentiality: str,
) -> None:
    """Apply a status change; the licence keeps the stricter of its confidentiality and the change's."""
    await conn.execute(
        Q["set_foreign_licence_status"], issuing_state, number, status, reason, effective_at, now, confidentiality
    )


async def list_foreign_licences(
    conn: Conn, after: tuple[str, str], kind: str | None, limit: int
) -> list[asyncpg.Record]:
    """A page of received licences."""
    return await conn.fetch(Q["list_foreign_licences"], after[0], after[1], kind, limit)


async def upsert_shipment_dispatch(
    conn: Conn,
    exporting_state: str,
    shipment_id: str,
    licence_number: str,
    issuing_state: str,
    dispatched_at: dt.datetime,
    items: Any,
    confidentiality: str,
    now: dt.datetime,
    notice: tuple[str, int],
    journal: JournalEntry,
) -> bool:
    """Record a dispatch notice (``notice``: its id and sequence), add its items to the shipment's, journal it.

    False when nothing was written: the shipment is recorded under another licence.
    """
    written = await conn.fetchval(
        Q["upsert_shipment_dispatch"],
        exporting_state,
        shipment_id,
        licence_number,
        issuing_state,
        dispatched_at,
        items,
        confidentiality,
        now,
        *notice,
        *journal,
    )
    return written is not None


async def upsert_shipment_confirmation_request(
    conn: Conn,
    exporting_state: str,
    shipment_id: str,
    licence_number: str,
    issuing_state: str,
    requested_at: dt.datetime,
    confidentiality: str,
    now: dt.datetime,
    journal: JournalEntry,
) -> None:
    """Record a request for confirmation of receipt and journal it."""
    await conn.execute(
        Q["upsert_shipment_confirmation_request"],
        exporting_state,
        shipment_id,
        licence_number,
        issuing_state,
        requested_at,
        confidentiality,
        now,
        *journal,
    )


async def upsert_shipment_receipt(
    conn: Conn,
    exporting_state: str,
    shipment_id: str,
    licence_number: str,
    received_on: dt.date,
    customs_document: str,
    items: Any,
    confirmed_by: str,
    confidentiality: str,
    now: dt.datetime,
    notice: tuple[str, int],
    journal: JournalEntry,
) -> bool:
    """Record a confirmation of receipt (``notice``: its id and sequence), add its part, journal it.

    False (nothing written) when ``licence_number`` is no export licence of ``exporting_state`` whose
    importing State is ``confirmed_by``.
    """
    entry_id = await conn.fetchval(
        Q["upsert_shipment_receipt"],
        exporting_state,
        shipment_id,
        licence_number,
        received_on,
        customs_document,
        items,
        confirmed_by,
        confidentiality,
        now,
        *notice,
        *journal,
    )
    return entry_id is not None


async def get_shipment_record(conn: Conn, exporting_state: str, shipment_id: str) -> asyncpg.Record | None:
    """One shipment."""
    return await conn.fetchrow(Q["get_shipment_record"], exporting_state, shipment_id)


async def get_requested_licence(conn: Conn, issuing_state: str, number: str, version: int) -> Any:
    """The licence object (as received) a transit-consent request carried at ``version``; ``None``: no such request."""
    return await conn.fetchval(Q["get_requested_licence"], issuing_state, number, version)


async def list_shipment_dispatches(conn: Conn, exporting_state: str, shipment_id: str) -> list[asyncpg.Record]:
    """The dispatch notices of one shipment, in sending order."""
    return await conn.fetch(Q["list_shipment_dispatches"], exporting_state, shipment_id)


async def list_shipment_receipts(conn: Conn, exporting_state: str, shipment_id: str) -> list[asyncpg.Record]:
    """The confirmations of receipt of one shipment, in arrival order."""
    return await conn.fetch(Q["list_shipment_receipts"], exporting_state, shipment_id)


async def list_shipment_records(
    conn: Conn, issuing_state: str, licence_number: str, after: tuple[str, str], limit: int
) -> list[asyncpg.Record]:
    """A page of the shipments recorded under a licence."""
    return await conn.fetch(Q["list_shipment_records"], issuing_state, licence_number, after[0], after[1], limit)


async def insert_shipment_passage(
    conn: Conn,
    recorded_by: str,
    check_id: str,
    licence_number: str,
    issuing_state: str,
    shipment_id: str | None,
    verdict: str,
    reasons: Any,
    checked_at: dt.datetime,
    crossing_point: str,
    items: Any,
    confidentiality: str,
    notice_id: str,
    now: dt.datetime,
    journal: JournalEntry,
) -> bool:
    """Record a passage and journal it; ``False`` when that check was already recorded (nothing is written)."""
    value = await conn.fetchval(
        Q["insert_shipment_passage"],
        recorded_by,
        check_id,
        licence_number,
        issuing_state,
        shipment_id,
        verdict,
        reasons,
        checked_at,
        crossing_point,
        items,
        confidentiality,
        notice_id,
        now,
        *journal,
    )
    return value is not None


async def list_shipment_passages(conn: Conn, issuing_state: str, licence_number: str) -> list[asyncpg.Record]:
    """Passages reported for a licence."""
    return await conn.fetch(Q["list_shipment_passages"], issuing_state, licence_number)


async def insert_consent_request(
    conn: Conn,
    requesting_state: str,
    notice_id: str,
    licence_number: str,
    licence: Any,
    window_from: dt.date,
    window_to: dt.date,
    findings: Any,
    confidentiality: str,
    now: dt.datetime,
) -> None:
    """Store a received transit-consent request."""
    await conn.execute(
        Q["insert_consent_request"],
        requesting_state,
        notice_id,
        licence_number,
        licence,
        window_from,
        window_to,
        findings,
        confidentiality,
        now,
    )


async def supersede_consent_requests(
    conn: Conn, requesting_state: str, licence_number: str, notice_id: str
) -> list[str]:
    """Mark a State's pending requests about a licence superseded by ``notice_id``; their notice ids."""
    return [
        row["notice_id"]
        for row in await conn.fetch(Q["supersede_consent_requests"], requesting_state, licence_number, notice_id)
    ]


async def get_consent_request_for_update(conn: Conn, requesting_state: str, notice_id: str) -> asyncpg.Record | None:
    """One received request, locked."""
    return await conn.fetchrow(Q["get_consent_request_for_update"], requesting_state, notice_id)


async def get_consent_request_deemed_day(conn: Conn, requesting_state: str, notice_id: str) -> dt.date | None:
    """The silent period's last day a deemed request's deeming kept; ``None`` when none was kept."""
    day: dt.date | None = await conn.fetchval(Q["get_consent_request_deemed_day"], requesting_state, notice_id)
    return day


async def get_consent_request(conn: Conn, requesting_state: str, notice_id: str) -> asyncpg.Record | None:
    """One received request."""
    return await conn.fetchrow(Q["get_consent_request"], requesting_state, notice_id)


async def decide_consent_request(
    conn: Conn,
    requesting_state: str,
    notice_id: str,
    decision: str,
    reason: str | None,
    valid_until: dt.date | None,
    decided_by: str,
    decided_at: dt.datetime,
    reply_notice_id: uuid.UUID,
) -> None:
    """Record the officer's decision."""
    await conn.execute(
        Q["decide_consent_request"],
        requesting_state,
        notice_id,
        decision,
        reason,
        valid_until,
        decided_by,
        decided_at,
        reply_notice_id,
    )


async def deem_consent_request(
    conn: Conn,
    requesting_state: str,
    notice_id: str,
    reason: str,
    decided_by: str,
    decided_at: dt.datetime,
    silent_period_end: dt.date,
) -> bool:
    """Mark a pending request deemed, keeping the silent period's last day; False when it was no longer pending."""
    row = await conn.fetchrow(
        Q["deem_consent_request"], requesting_state, notice_id, reason, decided_by, decided_at, silent_period_end
    )
    return row is not None


async def list_pending_consent_requests(conn: Conn, limit: int) -> list[asyncpg.Record]:
    """Received requests still waiting for the officer, oldest first."""
    return await conn.fetch(Q["list_pending_consent_requests"], limit)


async def insert_consent_request_decision(
    conn: Conn,
    requesting_state: str,
    notice_id: str,
    findings: list[Any],
    acknowledgement: str | None,
    decided_at: dt.datetime,
) -> None:
    """Keep the findings an officer's decision was made on, with the acknowledgement of a failing one."""
    await conn.execute(
        Q["insert_consent_request_decision"], requesting_state, notice_id, findings, acknowledgement, decided_at
    )


async def list_consent_requests(
    conn: Conn, after: tuple[dt.datetime, str, str] | None, status: str | None, limit: int
) -> list[asyncpg.Record]:
    """A page of received requests."""
    at, state, notice_id = after if after else (None, None, None)
    return await conn.fetch(Q["list_consent_requests"], at, state, notice_id, status, limit)


async def insert_consent_decision(
    conn: Conn,
    transit_state: str,
    notice_id: str,
    in_reply_to: str | None,
    licence_number: str,
    decision: str,
    reason: str | None,
    valid_until: dt.date | None,
    now: dt.datetime,
    confidentiality: str,
) -> None:
    """Store a transit State's decision with its notice's confidentiality."""
    await conn.execute(
        Q["insert_consent_decision"],
        transit_state,
        notice_id,
        in_reply_to,
        licence_number,
        decision,
        reason,
        valid_until,
        now,
        confidentiality,
    )


async def get_consent_decision_answering(
    conn: Conn, transit_state: str, in_reply_to: str, licence_number: str
) -> asyncpg.Record | None:
    """The standing decision ``transit_state`` sent in reply to ``in_reply_to`` (its objection if any), if recorded."""
    return await conn.fetchrow(Q["get_consent_decision_answering"], transit_state, in_reply_to, licence_number)


async def list_consent_decisions(conn: Conn, licence_number: str) -> list[asyncpg.Record]:
    """Decisions received for a licence of this State."""
    return await conn.fetch(Q["list_consent_decisions"], licence_number)
