"""Reading trace requests (ITI Section V; DESIGN §3, §6): one, a page of them, and the journaled read.

A request, either direction, with its acknowledgement, its answer and the notices this registry sent about it; its
status, due day and overdue are computed by the query. Nothing here writes but :func:`journal_read` (the officer's
read, DESIGN §6). The requests are made and answered in :mod:`firearms.traces`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import msgspec

from firearms import journal
from firearms.errors import NotFoundError
from firearms.exchange.trace_bodies import TraceRecord, Weapon
from firearms.store import traces as store
from firearms.trace_types import TraceAcknowledgement, TraceAnswer, TraceFinding, TraceNotice, TraceRequest

if TYPE_CHECKING:
    import datetime as dt

    import asyncpg

    from firearms.db import Conn
    from firearms.trace_types import Direction, TraceStatus

__all__ = ["get_trace_request", "journal_read", "journal_replay", "list_trace_requests"]


async def _requests(
    conn: Conn,
    *,
    trace_request_id: int | None = None,
    direction: Direction | None = None,
    status: TraceStatus | None = None,
    overdue: bool = False,
    today: dt.date,
    after: int = 0,
    limit: int = 1,
) -> list[TraceRequest]:
    rows = await store.list_trace_requests(conn, trace_request_id, direction, status, overdue, today, after, limit)
    ids = [
        uuid.UUID(notice)
        for row in rows
        for notice in (
            [row["notice_id"]]
            if row["direction"] == "outgoing"
            else [row["acknowledgement_notice_id"], row["answer_notice_id"]]
        )
        if notice is not None
    ]
    states = [TraceNotice(**dict(row)) for row in await store.list_trace_notice_states(conn, ids)] if ids else []
    return [_request(row, states) for row in rows]


def _request(row: asyncpg.Record, states: list[TraceNotice]) -> TraceRequest:
    # in the order they were sent: the request; or the acknowledgement, then the answer
    mine = (
        [row["notice_id"]]
        if row["direction"] == "outgoing"
        else [row["acknowledgement_notice_id"], row["answer_notice_id"]]
    )
    by_id = {str(state.notice_id): state for state in states}
    return TraceRequest(
        trace_request_id=row["trace_request_id"],
        direction=row["direction"],
        partner_state=row["partner_state"],
        notice_id=row["notice_id"],
        item_id=row["item_id"],
        weapon=msgspec.convert(row["weapon"], Weapon),
        circumstances=row["circumstances"],
        intended_use=row["intended_use"],
        confidentiality=row["confidentiality"],
        answer_by=row["answer_by"],
        acknowledge_by=row["acknowledge_by"],
        due_on=row["due_on"],
        status=row["status"],
        overdue=row["overdue"],
        findings=None if row["findings"] is None else msgspec.convert(row["findings"], list[TraceFinding]),
        findings_omitted=row["findings_omitted"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        acknowledgement=None
        if row["acknowledged_at"] is None
        else TraceAcknowledgement(
            notice_id=row["acknowledgement_notice_id"],
            acknowledged_at=row["acknowledged_at"],
            acknowledged_by=row["acknowledged_by"],
        ),
        answer=None
        if row["answered_at"] is None
        else TraceAnswer(
            notice_id=row["answer_notice_id"],
            confidentiality=row["answer_confidentiality"],
            outcome=row["outcome"],
            item_id=row["answer_item_id"],
            record=None if row["record"] is None else msgspec.convert(row["record"], TraceRecord),
            reason=row["reason"],
            note=row["note"],
            answered_at=row["answered_at"],
            answered_by=row["answered_by"],
            unmatched_because=row["unmatched_because"],
        ),
        notices=[by_id[notice] for notice in mine if notice in by_id],
    )


async def get_trace_request(conn: Conn, trace_request_id: int, *, today: dt.date) -> TraceRequest:
    """One trace request.

    Raises:
        NotFoundError: no such request.
    """
    found = await _requests(conn, trace_request_id=trace_request_id, today=today)
    if not found:
        raise NotFoundError(f"no trace request {trace_request_id}", trace_request_id=trace_request_id)
    return found[0]


async def journal_read(conn: Conn, *, actor: str, requests: list[TraceRequest]) -> None:
    """Journal that ``actor`` looked at these requests (DESIGN §6): where weapons were found, their holders.

    A found answer this registry sent is an item's record, every party it went to, as the item's history is: its
    read is journaled on the item too (``item.read``), so that the item's reads name every officer who saw them.
    """
    items = [r.answer.item_id for r in requests if r.answer is not None and r.answer.item_id is not None]
    await _journal_read(conn, actor, [request.trace_request_id for request in requests], items)


async def _journal_read(conn: Conn, actor: str, requests: list[int], items: list[int]) -> None:
    await journal.record_read(conn, actor=actor, entity="trace-request", ids=[str(request) for request in requests])
    await journal.record_read(conn, actor=actor, entity="item", ids=list(dict.fromkeys(str(item) for item in items)))


class _ShownAnswer(msgspec.Struct, frozen=True):
    item_id: int | None = None


class _Shown(msgspec.Struct, frozen=True):
    """What a kept answer shows of a request: its id and its answer's item (its other members are not read)."""

    trace_request_id: int
    answer: _ShownAnswer | None = None


async def journal_replay(conn: Conn, *, actor: str, answer: bytes) -> None:
    """Journal a request shown again by an ``Idempotency-Key`` replay as :func:`journal_read` journals a read.

    The replay is the first answer's bytes (:mod:`firearms.idempotency`): the request as it was then and, answered
    found, the record with every party the item went to. The ids are read from those bytes, what the officer sees.
    """
    shown = msgspec.json.decode(answer, type=_Shown)
    items = [] if shown.answer is None or shown.answer.item_id is None else [shown.answer.item_id]
    await _journal_read(conn, actor, [shown.trace_request_id], items)


async def list_trace_requests(
    conn: Conn,
    *,
    direction: Direction | None,
    status: TraceStatus | None,
    overdue: bool,
    today: dt.date,
    after: int,
    limit: int,
) -> list[TraceRequest]:
    """A page of trace requests in id order; ``overdue``: only those unanswered after the day the answer was due."""
    return await _requests(
        conn, direction=direction, status=status, overdue=overdue, today=today, after=after, limit=limit
    )
