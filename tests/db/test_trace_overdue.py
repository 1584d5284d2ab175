"""When a received trace request is overdue (README "Trace requests", "Due dates"; "Status"): one rule, read by the
trace list (``?overdue=true``, each request's ``overdue``) and by the operator's overview (``trace_requests_overdue``).

A request is overdue while unanswered after the day its answer is due: the day the requested State acknowledged,
else the day asked. The list and the overview wrote the rule each; it is now the view ``trace_request_state`` (the due
day and the status) and the function ``trace_request_overdue`` (migration 20261201010000), and the two must agree on
every request, whichever day today is.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from firearms import db, trace_reads
from firearms.store import status as status_store

TODAY = dt.date(2026, 12, 1)
DAY = dt.timedelta(days=1)

# (name, direction, the day asked, the day acknowledged (None: no acknowledgement; "none": one naming no day),
#  answered)
REQUESTS: list[tuple[str, str, dt.date, dt.date | str | None, bool]] = [
    ("due yesterday", "incoming", TODAY - DAY, None, False),
    ("due today", "incoming", TODAY, None, False),
    ("due tomorrow", "incoming", TODAY + DAY, None, False),
    ("due yesterday, acknowledged for today", "incoming", TODAY - DAY, TODAY, False),
    ("due yesterday, acknowledged for a week on", "incoming", TODAY - DAY, TODAY + 7 * DAY, False),
    ("due next week, acknowledged for yesterday", "incoming", TODAY + 7 * DAY, TODAY - DAY, False),
    ("due two days ago, acknowledged with no day", "incoming", TODAY - 2 * DAY, "none", False),
    ("due a month ago, answered", "incoming", TODAY - 30 * DAY, None, True),
    ("due yesterday, acknowledged for yesterday, answered", "incoming", TODAY - DAY, TODAY - DAY, True),
    ("sent, due yesterday", "outgoing", TODAY - DAY, None, False),
    ("sent, due a month ago, answered", "outgoing", TODAY - 30 * DAY, None, True),
]


async def _store(conn: db.Conn) -> dict[str, int]:
    ids = {}
    for name, direction, asked, acknowledged, answered in REQUESTS:
        incoming = direction == "incoming"
        trace_request_id = await conn.fetchval(
            "INSERT INTO trace_request (direction, partner_state, notice_id, weapon, circumstances, intended_use,"
            " confidentiality, answer_by, acknowledge_by, findings, created_at, created_by)"
            " VALUES ($1, 'CZ', $2, '{\"kind\": \"firearm\"}', 'seized', 'investigation', 'restricted', $3, $4, $5,"
            " now(), 'test') RETURNING trace_request_id",
            direction,
            str(uuid.uuid4()),
            asked,
            asked - 30 * DAY if incoming else None,
            [] if incoming else None,
        )
        if acknowledged is not None:
            await conn.execute(
                "INSERT INTO trace_acknowledgement (trace_request_id, notice_id, acknowledged_at, answer_by,"
                " recorded_by) VALUES ($1, $2, now(), $3, 'test')",
                trace_request_id,
                str(uuid.uuid4()),
                None if acknowledged == "none" else acknowledged,
            )
        if answered:
            await conn.execute(
                "INSERT INTO trace_answer (trace_request_id, notice_id, outcome, answered_at, answered_by,"
                " confidentiality) VALUES ($1, $2, 'not-found', now(), 'test', 'restricted')",
                trace_request_id,
                str(uuid.uuid4()),
            )
        ids[name] = trace_request_id
    return ids


def _overdue(today: dt.date, direction: str) -> set[str]:
    """The rule as README states it, written here once more only to say what the answer must be."""
    return {
        name
        for name, way, asked, acknowledged, answered in REQUESTS
        if way == direction and not answered and (acknowledged if isinstance(acknowledged, dt.date) else asked) < today
    }


@pytest.mark.parametrize("days", [-2, -1, 0, 1, 8, 31])
async def test_the_list_and_the_overview_agree_on_which_requests_are_overdue(conn: db.Conn, days: int) -> None:
    """Over the boundaries of today: the day due itself is not overdue, the day after it is."""
    ids = await _store(conn)
    names = {trace_request_id: name for name, trace_request_id in ids.items()}
    today = TODAY + dt.timedelta(days=days)
    for direction in ("incoming", "outgoing"):
        listed = await trace_reads.list_trace_requests(
            conn, direction=direction, status=None, overdue=True, today=today, after=0, limit=100
        )
        assert {names[r.trace_request_id] for r in listed} == _overdue(today, direction), (days, direction)
        every = await trace_reads.list_trace_requests(
            conn, direction=direction, status=None, overdue=False, today=today, after=0, limit=100
        )
        assert {names[r.trace_request_id] for r in every if r.overdue} == _overdue(today, direction)
    waiting = await status_store.get_waiting_work(conn, today)
    assert waiting["traces_overdue"] == len(_overdue(today, "incoming")), days
    assert waiting["traces_open"] == sum(1 for _, way, _, _, answered in REQUESTS if way == "incoming" and not answered)


async def test_the_overdue_rule_is_written_once() -> None:
    """Neither query spells the rule (the due day's coalesce, the comparison with today): both read it."""
    for name in ("list_trace_requests", "get_waiting_work"):
        query = db.QUERIES[name]
        assert "trace_request_state" in query, name
        assert "trace_request_overdue(" in query, name
        assert "coalesce(" not in query.lower(), name


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def test_the_overview_still_counts_the_unanswered_by_an_anti_join(conn: db.Conn) -> None:
    """Through the view, the overview keeps its plan: the answered requests dropped by an anti join on the answers (the
    view's ``answered`` is the answer's key tested for null, which the planner turns into one), not a left join of
    every answer and a filter on the status."""
    await _store(conn)
    await conn.execute("ANALYZE trace_request; ANALYZE trace_acknowledgement; ANALYZE trace_answer")
    (explained,) = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {db.QUERIES['get_waiting_work']}", TODAY)
    joins = [node.get("Join Type") for node in _nodes(explained["Plan"]) if "Join Type" in node]
    assert joins.count("Anti") == 2, joins  # the held checks' and the trace requests'
