"""Two officers answer one received trace request at the same moment: one answer stands, one notice goes back."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from firearms import db, traces
from firearms.canonical import utc_now
from firearms.errors import ConflictError
from firearms.exchange.trace_bodies import Outcome, TraceRequested, Weapon
from firearms.trace_types import NewTraceAnswer
from tests.exchange_fixtures import receiver


async def test_two_answers_at_once_leave_one_answer_and_one_notice(database: str, home: Path) -> None:
    _, conn = await receiver("CZ", database, home)
    try:
        async with db.transaction(conn):
            request_id = await traces.receive_request(
                conn,
                TraceRequested(
                    weapon=Weapon(kind="firearm", serial="RACE-1"),
                    circumstances="seized",
                    intended_use="investigation",
                    answer_by=dt.date(2099, 1, 1),
                ),
                sender="AT",
                notice_id="0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e99",
                confidentiality="restricted",
                received_at=utc_now(),
                received_on=dt.date(2026, 11, 30),
            )
        first, second = await db.connect(database), await db.connect(database)
        entered = asyncio.Event()

        async def blocked() -> None:
            """Until the other answer waits on this one's row (the answer's primary key), or 10 s."""
            deadline = asyncio.get_running_loop().time() + 10
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            while not await conn.fetchval(query):
                assert asyncio.get_running_loop().time() < deadline, "the second answer never waited on the first"
                await asyncio.sleep(0.02)

        async def answer(connection: db.Conn, outcome: Outcome, *, wait: bool) -> str:
            async with db.transaction(connection):
                if wait:
                    await entered.wait()  # the other transaction has read the request unanswered
                done = await traces.answer(
                    connection,
                    request_id,
                    NewTraceAnswer(outcome=outcome, reason="ongoing" if outcome == "restricted" else None),
                    today=dt.date(2026, 11, 30),
                    actor=f"officer:{outcome}",
                )
                if not wait:
                    entered.set()
                    await blocked()  # commit only once the other answer waits on this one
                assert done.answer is not None
                return done.answer.outcome

        try:
            results = await asyncio.gather(
                answer(first, "not-found", wait=False), answer(second, "restricted", wait=True), return_exceptions=True
            )
        finally:
            await first.close()
            await second.close()
        assert results[0] == "not-found"
        assert isinstance(results[1], ConflictError)
        assert results[1].code == "trace-already-answered"
        rows = await conn.fetch("SELECT outcome FROM trace_answer")
        assert [row["outcome"] for row in rows] == ["not-found"]
        assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'trace.answered'") == 1
        assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'trace.answered'") == 1
    finally:
        await conn.close()
