"""Store functions for the outbox (sql/queries/outbox.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "claim_outbox_runs",
    "count_outbox_pending",
    "enqueue_outbox_notices",
    "enqueue_outbox_notices_many",
    "get_database_clock",
    "get_outbox_lease",
    "get_outbox_notice",
    "get_outbox_sequences",
    "get_requested_licence_version",
    "last_sent_licence_version",
    "list_licence_recipients",
    "list_outbox_notices",
    "lock_partners_with_unnumbered_notices",
    "number_outbox_notices",
    "outbox_has_sequence",
    "park_queued_outbox_sequences",
    "record_outbox_failure",
    "record_outbox_id_conflict",
    "record_outbox_receipts",
    "record_outbox_refused_ahead",
    "relax_commit",
    "release_outbox_leases",
    "requeue_outbox_from",
    "resequence_outbox_notices",
    "set_outbox_envelopes",
]


async def enqueue_outbox_notices(
    conn: Conn,
    notice_ids: list[uuid.UUID],
    recipients: list[str],
    type_: str,
    created_at: dt.datetime,
    in_reply_to: str | None,
    confidentiality: str,
    body: Any,
    signing_key_id: str | None,
    actor: str,
) -> set[str]:
    """Queue and journal one notice per recipient on the trust list (unnumbered); the recipients queued."""
    rows = await conn.fetch(
        Q["enqueue_outbox_notices"],
        notice_ids,
        recipients,
        type_,
        created_at,
        in_reply_to,
        confidentiality,
        body,
        signing_key_id,
        actor,
    )
    return {row["recipient"] for row in rows}


async def enqueue_outbox_notices_many(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """``enqueue_outbox_notices`` for each row of its nine values, pipelined in one batch (results unread)."""
    await conn.executemany(Q["enqueue_outbox_notices"], rows)


async def lock_partners_with_unnumbered_notices(conn: Conn) -> list[str]:
    """Partners with unnumbered queued notices, locked (skipping those another worker holds)."""
    return [row["state"] for row in await conn.fetch(Q["lock_partners_with_unnumbered_notices"])]


async def number_outbox_notices(conn: Conn, states: list[str]) -> list[asyncpg.Record]:
    """Number the locked partners' queued notices; (``state``, ``first``, ``last``) per partner."""
    return await conn.fetch(Q["number_outbox_notices"], states)


async def outbox_has_sequence(conn: Conn, recipient: str, sequence: int) -> bool:
    """Whether a notice for ``recipient`` carries number ``sequence``."""
    found: bool = await conn.fetchval(Q["outbox_has_sequence"], recipient, sequence)
    return found


async def requeue_outbox_from(conn: Conn, recipient: str, sequence: int) -> int:
    """Queue again every notice for ``recipient`` from ``sequence`` on, due at once (database time); how many."""
    return len(await conn.fetch(Q["requeue_outbox_from"], recipient, sequence))


async def list_outbox_notices(
    conn: Conn, before: tuple[dt.datetime, uuid.UUID] | None, status: str | None, recipient: str | None, limit: int
) -> list[asyncpg.Record]:
    """A page of outgoing notices, newest first."""
    at, notice_id = before if before else (None, None)
    return await conn.fetch(Q["list_outbox_notices"], at, notice_id, status, recipient, limit)


async def get_outbox_notice(conn: Conn, notice_id: uuid.UUID) -> asyncpg.Record | None:
    """One outgoing notice."""
    return await conn.fetchrow(Q["get_outbox_notice"], notice_id)


async def count_outbox_pending(conn: Conn) -> list[asyncpg.Record]:
    """Queued notices per recipient."""
    return await conn.fetch(Q["count_outbox_pending"])


async def get_database_clock(conn: Conn) -> dt.datetime:
    """The database's clock, which every worker schedules the outbox on, whatever its host's clock reads."""
    now: dt.datetime = await conn.fetchval(Q["get_database_clock"])
    return now


async def get_outbox_lease(conn: Conn, recipient: str, notice_id: uuid.UUID, worker: str) -> asyncpg.Record:
    """The database's clock (``now``), whether ``recipient`` is enabled, and ``worker``'s lease of the notice.

    ``lease_until`` is ``None`` when ``worker`` no longer holds it.
    """
    row = await conn.fetchrow(Q["get_outbox_lease"], recipient, notice_id, worker)
    assert row is not None  # noqa: S101  # a SELECT without FROM returns its one row
    return row


async def claim_outbox_runs(
    conn: Conn, now: dt.datetime, lease_until: dt.datetime, worker: str, most: int, retry_limit: dt.datetime
) -> list[asyncpg.Record]:
    """Lease a run of due notices per enabled recipient to ``worker`` (see the query for the rules).

    ``retry_limit``: ``now`` plus the longest a retry is put off; one scheduled later is due (the clock went back).
    """
    return await conn.fetch(Q["claim_outbox_runs"], now, lease_until, worker, most, retry_limit)


async def set_outbox_envelopes(conn: Conn, notice_ids: list[uuid.UUID], envelopes: list[bytes]) -> None:
    """Keep the signed bytes of notices not signed before."""
    await conn.execute(Q["set_outbox_envelopes"], notice_ids, envelopes)


async def release_outbox_leases(conn: Conn, notice_ids: list[uuid.UUID], worker: str) -> None:
    """Give back notices ``worker`` leased but did not send."""
    await conn.execute(Q["release_outbox_leases"], notice_ids, worker)


async def record_outbox_receipts(
    conn: Conn,
    notice_ids: list[uuid.UUID],
    worker: str,
    statuses: list[str],
    receipts: list[bytes],
    reasons: list[str | None],
    attempted_ats: list[dt.datetime],
    payloads: list[Any],
    recorded_at: dt.datetime,
) -> int:
    """Record verified receipts, delivered on the database's clock, with their journal entries; how many recorded."""
    count: int = await conn.fetchval(
        Q["record_outbox_receipts"],
        notice_ids,
        worker,
        statuses,
        receipts,
        reasons,
        attempted_ats,
        payloads,
        recorded_at,
    )
    return count


async def record_outbox_failure(
    conn: Conn,
    notice_id: uuid.UUID,
    worker: str,
    error: str,
    retry_in: float,
    attempted_at: dt.datetime,
) -> bool:
    """A failed attempt, tried again ``retry_in`` seconds from now on the database's clock.

    ``False`` when ``worker`` no longer holds the lease.
    """
    row = await conn.fetchval(Q["record_outbox_failure"], notice_id, worker, error, retry_in, attempted_at)
    return row is not None


async def record_outbox_refused_ahead(
    conn: Conn,
    notice_id: uuid.UUID,
    worker: str,
    expected_sequence: int,
    error: str,
    retry_in: float,
    attempted_at: dt.datetime,
) -> bool:
    """A ``sequence-gap`` ahead of the notice, with the number the partner expects; ``False``: lease lost.

    Tried again ``retry_in`` seconds from now on the database's clock.
    """
    row = await conn.fetchval(
        Q["record_outbox_refused_ahead"], notice_id, worker, expected_sequence, error, retry_in, attempted_at
    )
    return row is not None


async def record_outbox_id_conflict(
    conn: Conn, notice_id: uuid.UUID, worker: str, error: str, retry_in: float, attempted_at: dt.datetime
) -> bool:
    """A ``notice-id-conflict``: the partner holds the notice under another number; ``False``: lease lost.

    Tried again ``retry_in`` seconds from now on the database's clock.
    """
    row = await conn.fetchval(Q["record_outbox_id_conflict"], notice_id, worker, error, retry_in, attempted_at)
    return row is not None


async def relax_commit(conn: Conn) -> None:
    """Let the current transaction commit without waiting for its WAL flush (sender-side bookkeeping only)."""
    await conn.execute(Q["relax_commit"])


async def get_requested_licence_version(conn: Conn, notice_id: uuid.UUID, recipient: str, number: str) -> int | None:
    """The licence version the transit-consent request ``notice_id`` to ``recipient`` about ``number`` carried."""
    version: int | None = await conn.fetchval(Q["get_requested_licence_version"], notice_id, recipient, number)
    return version


async def last_sent_licence_version(conn: Conn, number: str) -> int | None:
    """The highest version of an own licence queued for partners; ``None`` when none was."""
    version: int | None = await conn.fetchval(Q["last_sent_licence_version"], number)
    return version


async def list_licence_recipients(conn: Conn, number: str) -> list[str]:
    """The States an own licence was queued for (any version), in name order."""
    return [row["recipient"] for row in await conn.fetch(Q["list_licence_recipients"], number)]


async def get_outbox_sequences(conn: Conn, recipient: str) -> asyncpg.Record | None:
    """The numbers a resequencing needs for a partner, its row locked; ``None``: no such peer.

    Its last sent number, the highest number stored for it, how many notices wait and what it expected when
    it refused the first of them as behind it (``head_expected``).
    """
    return await conn.fetchrow(Q["get_outbox_sequences"], recipient)


async def park_queued_outbox_sequences(conn: Conn, recipient: str) -> None:
    """Negate the numbers of the partner's numbered queued notices (their order kept) before renumbering them."""
    await conn.execute(Q["park_queued_outbox_sequences"], recipient)


async def resequence_outbox_notices(conn: Conn, recipient: str, first_sequence: int) -> asyncpg.Record:
    """Renumber the partner's parked queued notices from ``first_sequence`` (to be signed again), due at once.

    Returns ``renumbered`` and the partner's new ``last_sent_sequence``.
    """
    row = await conn.fetchrow(Q["resequence_outbox_notices"], recipient, first_sequence)
    assert row is not None  # noqa: S101  # the caller found the peer under its row lock
    return row
