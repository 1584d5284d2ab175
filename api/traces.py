"""Trace requests to and from other States (``/api/v1/trace-requests``; ITI Section V; Art. 12(4))."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.deps import ConnDep, OfficerDep, SettingsDep
from api.idempotency import Answer, IdempotencyKeyHeader, once
from api.params import AfterQuery, LimitQuery, page
from firearms import clock, trace_reads, traces
from firearms.pagination import BIGINT_MAX, DEFAULT_LIMIT, decode_cursor, encode_cursor
from firearms.trace_types import Direction, NewTraceAnswer, NewTraceRequest, TraceRequest, TraceStatus

__all__ = ["TraceRequestController", "TraceRequestPage"]

WRITERS = ("records-officer", "admin")
READERS = ("records-officer", "admin", "auditor")
TraceRequestIdPath = Annotated[int, PathParameter(description="trace request id", ge=1, le=BIGINT_MAX)]


class TraceRequestPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of trace requests; ``next`` is the cursor of the following page, ``None`` at the end."""

    items: list[TraceRequest]
    next: str | None


class TraceRequestController(Controller):
    """``/api/v1/trace-requests``: records officers ask partners to trace weapons, and answer partners' requests."""

    path = "/trace-requests"
    opt = {"roles": READERS}  # noqa: RUF012  # Litestar reads it as a plain mapping

    @post("/", summary="Ask a partner State to trace a weapon", opt={"roles": WRITERS})
    async def request_trace(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        request: Request[Any, Any, Any],
        data: JSONBody[NewTraceRequest],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[TraceRequest]:
        """Queue ``trace.requested`` to a partner on the trust list (ITI para 14); the partner acknowledges it."""
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: traces.request_trace(
                conn,
                data,
                own_state=settings.state,
                today=clock.today(settings.time_zone),
                answer_days=settings.trace_answer_days,
                actor=officer.actor,
            ),
            lambda kept: trace_reads.journal_replay(conn, actor=officer.actor, answer=kept),
        )

    @get("/", summary="Trace requests sent and received")
    async def list_requests(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        direction: Annotated[Direction | None, QueryParameter()] = None,
        status: Annotated[TraceStatus | None, QueryParameter()] = None,
        overdue: Annotated[bool, QueryParameter(description="only those unanswered after their due day")] = False,  # noqa: FBT002
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> TraceRequestPage:
        """Requests in id order with their findings, acknowledgement and answer (the read is journaled)."""
        (start,) = decode_cursor(after, int) if after else (0,)
        items, last = page(
            await trace_reads.list_trace_requests(
                conn,
                direction=direction,
                status=status,
                overdue=overdue,
                today=clock.today(settings.time_zone),
                after=start,
                limit=limit + 1,
            ),
            limit,
        )
        await trace_reads.journal_read(conn, actor=officer.actor, requests=items)
        return TraceRequestPage(items=items, next=encode_cursor(last.trace_request_id) if last else None)

    @get("/{trace_request_id:int}", summary="One trace request")
    async def get_request(
        self, conn: ConnDep, officer: OfficerDep, settings: SettingsDep, trace_request_id: TraceRequestIdPath
    ) -> TraceRequest:
        """A request with its findings, acknowledgement, answer, due day and notices (the read is journaled)."""
        found = await trace_reads.get_trace_request(conn, trace_request_id, today=clock.today(settings.time_zone))
        await trace_reads.journal_read(conn, actor=officer.actor, requests=[found])
        return found

    @post(
        "/{trace_request_id:int}/answer",
        summary="Answer a received trace request",
        status_code=200,
        opt={"roles": WRITERS},
    )
    async def answer(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        trace_request_id: TraceRequestIdPath,
        request: Request[Any, Any, Any],
        data: JSONBody[NewTraceAnswer],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[TraceRequest]:
        """``found`` (the named item's record, built from its history), ``not-found`` or ``restricted`` (a reason).

        Sent back as ``trace.answered``; a second answer is 409 ``trace-already-answered`` (with the same
        ``Idempotency-Key``, the first answer again).
        """
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: traces.answer(
                conn, trace_request_id, data, today=clock.today(settings.time_zone), actor=officer.actor
            ),
            # the first answer again, a found record with every party the item went to: a read (DESIGN §6)
            lambda kept: trace_reads.journal_replay(conn, actor=officer.actor, answer=kept),
        )
