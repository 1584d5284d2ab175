"""Store functions for licences, their versions, lines, events and documents (sql/queries/licences.sql)."""

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
    "delete_licence_lines_except",
    "find_licence",
    "find_licence_for_update",
    "get_licence",
    "get_licence_document",
    "get_licence_for_update",
    "get_licence_version",
    "insert_licence",
    "insert_licence_document",
    "insert_licence_event",
    "insert_licence_version",
    "list_debits_under_other_authorisations",
    "list_expired_licence_ids",
    "list_import_authorisation_shares",
    "list_licence_events",
    "list_licence_versions",
    "list_licences",
    "list_partner_states_of_number",
    "next_licence_number",
    "sign_licence_version",
    "update_licence_status",
    "update_licence_version",
    "upsert_licence_line",
]


async def next_licence_number(conn: Conn, kind: str, year: int) -> int:
    """The next sequence number of ``kind`` in ``year`` (locks the counter row until commit)."""
    value: int = await conn.fetchval(Q["next_licence_number"], kind, year)
    return value


async def insert_licence(
    conn: Conn,
    licence_id: uuid.UUID,
    issuing_state: str,
    number: str,
    kind: str,
    origin: str,
    status: str,
    valid_from: dt.date,
    expires_on: dt.date,
    exporting_state: str,
    importing_state: str,
    transit_states: list[str],
    created_at: dt.datetime,
    created_by: str,
) -> None:
    """Store a new licence at version 1.

    Raises:
        ConflictError: the number is already used in the issuing State (``licence_number_key``).
    """
    try:
        await conn.execute(
            Q["insert_licence"],
            licence_id,
            issuing_state,
            number,
            kind,
            origin,
            status,
            valid_from,
            expires_on,
            exporting_state,
            importing_state,
            transit_states,
            created_at,
            created_by,
        )
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "licence_number_key":
            # A safety net no request reaches: a local number comes from the locked licence_counter row, and a
            # partner's licence only by its issuing State's notices, applied one at a time per sender (the inbox
            # lock). It guards a writer outside those locks (tests/db/test_licence_races.py races two).
            raise ConflictError(
                f"licence number {number} of {issuing_state} already exists",
                code="licence-number-taken",
                number=number,
                issuing_state=issuing_state,
            ) from exc
        raise


async def insert_licence_version(
    conn: Conn,
    licence_id: uuid.UUID,
    version: int,
    content: Any,
    exporter_id: uuid.UUID | None,
    consignee_id: uuid.UUID | None,
    final_recipient_id: uuid.UUID | None,
    broker_ids: list[uuid.UUID],
    reason: str | None,
    created_at: dt.datetime,
    created_by: str,
) -> None:
    """Store one version of a licence."""
    await conn.execute(
        Q["insert_licence_version"],
        licence_id,
        version,
        content,
        exporter_id,
        consignee_id,
        final_recipient_id,
        broker_ids,
        reason,
        created_at,
        created_by,
    )


async def sign_licence_version(
    conn: Conn, licence_id: uuid.UUID, version: int, issued_at: dt.datetime, key_id: str, signature: bytes
) -> bool:
    """Sign a version once; ``False`` when it was already signed."""
    result = await conn.execute(Q["sign_licence_version"], licence_id, version, issued_at, key_id, signature)
    return result.endswith(" 1")


async def upsert_licence_line(
    conn: Conn, licence_id: uuid.UUID, line: int, category: str, quantity: int, serials: list[str]
) -> None:
    """Set a line's current issued quantity and serials.

    Raises:
        ConflictError: the quantity would go below what was debited (``licence_line_debited_check``).
    """
    try:
        await conn.execute(Q["upsert_licence_line"], licence_id, line, category, quantity, serials)
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name == "licence_line_debited_check":
            raise ConflictError(
                f"line {line} already had more than {quantity} debited", code="quantity-below-debited", line=line
            ) from exc
        raise


async def get_licence(conn: Conn, licence_id: uuid.UUID) -> asyncpg.Record | None:
    """A licence's current row."""
    return await conn.fetchrow(Q["get_licence"], licence_id)


async def get_licence_for_update(conn: Conn, licence_id: uuid.UUID) -> asyncpg.Record | None:
    """A licence's current row, locked until the transaction ends."""
    return await conn.fetchrow(Q["get_licence_for_update"], licence_id)


async def find_licence(conn: Conn, issuing_state: str, number: str) -> asyncpg.Record | None:
    """A licence by (issuing State, number)."""
    return await conn.fetchrow(Q["find_licence"], issuing_state, number)


async def list_partner_states_of_number(conn: Conn, number: str) -> list[str]:
    """The issuing States of partners' issued licences received under ``number``, in order."""
    return [row["issuing_state"] for row in await conn.fetch(Q["list_partner_states_of_number"], number)]


async def find_licence_for_update(conn: Conn, issuing_state: str, number: str) -> asyncpg.Record | None:
    """A licence by (issuing State, number), locked ``FOR NO KEY UPDATE`` until the transaction ends."""
    return await conn.fetchrow(Q["find_licence_for_update"], issuing_state, number)


async def list_import_authorisation_shares(
    conn: Conn, issuing_state: str, number: str, licence_id: uuid.UUID
) -> list[asyncpg.Record]:
    """What every other export licence drawn on an import authorisation holds of it, by number and category.

    Rows of (number, status, category, quantity).
    """
    return await conn.fetch(Q["list_import_authorisation_shares"], issuing_state, number, licence_id)


async def list_debits_under_other_authorisations(
    conn: Conn, licence_id: uuid.UUID, issuing_state: str, number: str
) -> dict[str, int]:
    """What left under a licence, by category, while a version naming another import authorisation was in force."""
    rows = await conn.fetch(Q["list_debits_under_other_authorisations"], licence_id, issuing_state, number)
    return {row["category"]: int(row["quantity"]) for row in rows}


async def list_licences(
    conn: Conn, after: tuple[dt.datetime, uuid.UUID] | None, status: str | None, kind: str | None, limit: int
) -> list[asyncpg.Record]:
    """A page of licences in creation order."""
    at, licence_id = after if after else (None, None)
    return await conn.fetch(Q["list_licences"], at, licence_id, status, kind, limit)


async def get_licence_version(conn: Conn, licence_id: uuid.UUID, version: int) -> asyncpg.Record | None:
    """One version of a licence."""
    return await conn.fetchrow(Q["get_licence_version"], licence_id, version)


async def list_licence_versions(conn: Conn, licence_id: uuid.UUID, after: int, limit: int) -> list[asyncpg.Record]:
    """A page of a licence's versions."""
    return await conn.fetch(Q["list_licence_versions"], licence_id, after, limit)


async def update_licence_status(
    conn: Conn, licence_id: uuid.UUID, status: str, updated_at: dt.datetime, issued_at: dt.datetime | None
) -> None:
    """Set a licence's status (and its issue time when given)."""
    await conn.execute(Q["update_licence_status"], licence_id, status, updated_at, issued_at)


async def update_licence_version(
    conn: Conn,
    licence_id: uuid.UUID,
    version: int,
    valid_from: dt.date,
    expires_on: dt.date,
    exporting_state: str,
    importing_state: str,
    transit_states: list[str],
    updated_at: dt.datetime,
) -> None:
    """Point a licence at its new version."""
    await conn.execute(
        Q["update_licence_version"],
        licence_id,
        version,
        valid_from,
        expires_on,
        exporting_state,
        importing_state,
        transit_states,
        updated_at,
    )


async def insert_licence_event(
    conn: Conn,
    licence_id: uuid.UUID,
    version: int,
    from_status: str | None,
    to_status: str,
    reason: str,
    actor: str,
    occurred_at: dt.datetime,
) -> int:
    """Record one status change; its id."""
    event_id: int = await conn.fetchval(
        Q["insert_licence_event"], licence_id, version, from_status, to_status, reason, actor, occurred_at
    )
    return event_id


async def list_licence_events(conn: Conn, licence_id: uuid.UUID, after: int, limit: int) -> list[asyncpg.Record]:
    """A page of a licence's status history."""
    return await conn.fetch(Q["list_licence_events"], licence_id, after, limit)


async def list_expired_licence_ids(conn: Conn, today: dt.date, limit: int) -> list[uuid.UUID]:
    """Live local licences whose last day is before ``today``."""
    return [row["licence_id"] for row in await conn.fetch(Q["list_expired_licence_ids"], today, limit)]


async def get_licence_document(conn: Conn, licence_id: uuid.UUID, version: int) -> asyncpg.Record | None:
    """The cached document of a version."""
    return await conn.fetchrow(Q["get_licence_document"], licence_id, version)


async def insert_licence_document(
    conn: Conn, licence_id: uuid.UUID, version: int, html: str, verification_code: str, rendered_at: dt.datetime
) -> None:
    """Cache a rendered document."""
    await conn.execute(Q["insert_licence_document"], licence_id, version, html, verification_code, rendered_at)


async def delete_licence_lines_except(conn: Conn, licence_id: uuid.UUID, kept: list[int]) -> None:
    """Drop the lines of a licence that are not in ``kept``."""
    await conn.execute(Q["delete_licence_lines_except"], licence_id, kept)
