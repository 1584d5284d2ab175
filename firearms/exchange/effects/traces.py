"""Effects of ``trace.requested``, ``trace.acknowledged`` and ``trace.answered`` (ITI Section V; Art. 12(4)).

A request becomes an open trace request for this State's records officers, with its findings, and is acknowledged
at once (:func:`firearms.traces.receive_request`). An acknowledgement or an answer is kept on the request of this
State's it replies to (``in_reply_to``): one naming no request sent to its sender is ``unknown-request``; a second
one is ``trace-already-acknowledged`` or ``trace-already-answered`` (the first stands, as an answer given here does),
and so is an acknowledgement after the answer (``trace-already-answered``).

The day an answer is due, as a request asks it or an acknowledgement moves it, is held to the bounds this registry
keeps for its own requests (README "Trace requests"): not before the request's day, at most a year after it (and a
day, for the sender's time zone). Outside them the body is ``invalid-body`` (PROTOCOL §4), nothing stored: a due day
before the request would make it overdue at once, one years on would never make it overdue. An acknowledgement's
``acknowledged_at`` is not before the request was made nor after it arrived, by more than PROTOCOL §4's clock skew.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from firearms import journal, traces
from firearms.canonical import format_time
from firearms.exchange.inbox import NoticeRejectedError, ReceivedNotice, body_as, effect
from firearms.exchange.protocol import CLOCK_SKEW
from firearms.exchange.trace_bodies import TraceAcknowledged, TraceAnswered, TraceRequested, contradiction
from firearms.store import traces as store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn

__all__ = ["trace_acknowledged", "trace_answered", "trace_requested"]


# a request's day is its notice's created_at, a UTC day; the sender's own day may be one ahead of it (its
# answer_by "at most 365 days after today" then reads 366 days after the UTC day) or one behind (never earlier)
_LATEST_DUE = dt.timedelta(days=traces.MAX_ANSWER_DAYS + 1)


def _check_due_day(answer_by: dt.date, asked_on: dt.date, what: str) -> None:
    """``answer_by`` within a request's bounds: not before ``asked_on``, the request's day, nor a year after it.

    Raises:
        NoticeRejectedError: ``invalid-body``.
    """
    if answer_by < asked_on:
        raise NoticeRejectedError(
            "invalid-body", f"{what} answer_by {answer_by} is before the request's day ({asked_on}): due before asked"
        )
    if answer_by > asked_on + _LATEST_DUE:
        raise NoticeRejectedError(
            "invalid-body",
            f"{what} answer_by {answer_by} is more than {traces.MAX_ANSWER_DAYS} days after the request's day"
            f" ({asked_on}): a trace is answered in a timely manner (ITI para 17)",
        )


def _check_acknowledged_at(acknowledged_at: dt.datetime, asked_at: dt.datetime, received_at: dt.datetime) -> None:
    """``acknowledged_at`` between the request's making and the receipt of its acknowledgement.

    Two registries' clocks are held to agree within PROTOCOL §4's ``CLOCK_SKEW`` (check 6: a notice's ``created_at``
    at most 300 s ahead of the receiver's clock): an acknowledgement is not made before the request it acknowledges,
    nor after it reached this registry, by more than that.

    Raises:
        NoticeRejectedError: ``invalid-body``.
    """
    skew = int(CLOCK_SKEW.total_seconds())
    if acknowledged_at < asked_at - CLOCK_SKEW:
        raise NoticeRejectedError(
            "invalid-body",
            f"acknowledged_at {format_time(acknowledged_at)} is more than {skew} s before the request was made"
            f" ({format_time(asked_at)}): acknowledged before asked",
        )
    if acknowledged_at > received_at + CLOCK_SKEW:
        raise NoticeRejectedError(
            "invalid-body",
            f"acknowledged_at {format_time(acknowledged_at)} is more than {skew} s ahead of this registry's clock"
            f" ({format_time(received_at.replace(microsecond=0))})",
        )


@effect("trace.requested")
async def trace_requested(conn: Conn, received: ReceivedNotice) -> None:
    """An open trace request for this State's records officers, with its findings; acknowledged at once."""
    body = body_as(received, TraceRequested)
    if (contradicts := contradiction(body)) is not None:
        raise NoticeRejectedError("invalid-body", contradicts)
    _check_due_day(body.answer_by, received.created_at.astimezone(dt.UTC).date(), "the request's")
    await traces.receive_request(
        conn,
        body,
        sender=received.notice.sender,
        notice_id=received.notice.id,
        confidentiality=received.notice.confidentiality,
        received_at=received.received_at,
        received_on=received.received_on,
    )


async def _replied_to(conn: Conn, received: ReceivedNotice) -> asyncpg.Record:
    """The request of this State's that the notice replies to.

    Raises:
        NoticeRejectedError: ``unknown-request``.
    """
    sender, reply_to = received.notice.sender, received.notice.in_reply_to
    request = None if reply_to is None else await store.find_trace_request(conn, "outgoing", sender, reply_to)
    if request is None:
        raise NoticeRejectedError(
            "unknown-request", f"in_reply_to {reply_to} names no trace request this registry sent to {sender}"
        )
    return request


@effect("trace.acknowledged")
async def trace_acknowledged(conn: Conn, received: ReceivedNotice) -> None:
    """The requested State acknowledged this State's request, with the day it answers by."""
    body = body_as(received, TraceAcknowledged)
    request = await _replied_to(conn, received)
    sender = received.notice.sender
    if request["acknowledged"]:
        raise NoticeRejectedError(
            "trace-already-acknowledged", f"{sender} already acknowledged request {received.notice.in_reply_to}"
        )
    # an acknowledgement says the answer is coming by a day: after the answer it would only move a closed
    # request's due day (to one before the answer, which would then read as late)
    if request["answered"]:
        raise NoticeRejectedError(
            "trace-already-answered",
            f"{sender} already answered request {received.notice.in_reply_to} (notice {request['answer_notice_id']}):"
            " an acknowledgement after the answer is not kept",
        )
    _check_due_day(body.answer_by, request["created_at"].astimezone(dt.UTC).date(), "the acknowledgement's")
    _check_acknowledged_at(body.acknowledged_at, request["created_at"], received.received_at)
    await store.insert_trace_acknowledgement(
        conn, request["trace_request_id"], received.notice.id, body.acknowledged_at, body.answer_by, f"partner:{sender}"
    )
    await journal.record(
        conn,
        actor=f"partner:{sender}",
        action="trace.acknowledged",
        entity="trace_request",
        entity_id=str(request["trace_request_id"]),
        payload={
            "notice_id": received.notice.id,
            "in_reply_to": received.notice.in_reply_to,
            "answer_by": body.answer_by.isoformat(),
        },
    )


@effect("trace.answered")
async def trace_answered(conn: Conn, received: ReceivedNotice) -> None:
    """The requested State's answer, kept on this State's request as received; the request is answered."""
    body = body_as(received, TraceAnswered)
    if (contradicts := contradiction(body)) is not None:
        raise NoticeRejectedError("invalid-body", contradicts)
    request = await _replied_to(conn, received)
    sender = received.notice.sender
    if request["answered"]:
        raise NoticeRejectedError(
            "trace-already-answered",
            f"{sender} already answered request {received.notice.in_reply_to} (notice {request['answer_notice_id']}):"
            " the first answer stands",
        )
    await store.insert_trace_answer(
        conn,
        request["trace_request_id"],
        received.notice.id,
        body.outcome,
        None,
        received.notice.body.get("record"),
        body.reason,
        body.note,
        min(received.created_at, received.received_at),
        f"partner:{sender}",
        received.notice.confidentiality,  # the answer's level, kept with it (Art. 12(5)), not the request's
    )
    await journal.record(
        conn,
        actor=f"partner:{sender}",
        action="trace.answered",
        entity="trace_request",
        entity_id=str(request["trace_request_id"]),
        payload={
            "notice_id": received.notice.id,
            "in_reply_to": received.notice.in_reply_to,
            "outcome": body.outcome,
            "reason": body.reason,
            "confidentiality": received.notice.confidentiality,
        },
    )
