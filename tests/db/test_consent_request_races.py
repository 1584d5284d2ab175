"""A transit State's officer deciding a received consent request while the exporting State's newer request arrives.

The officer's decision holds the request's row lock in an open transaction (what
:func:`firearms.exchange.consents.decide` takes first); the newer request (the licence amended before issue) is
received on another connection, as the endpoint receives it, and seen waiting on a lock; then the decision goes
on and commits. Before, the notice locked the received licence (for its newer version) before the requests it
supersedes, and the decision locked them the other way round: a deadlock, and the partner's notice was
answered with a 500.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firearms import db, journal
from firearms.errors import ConflictError
from firearms.exchange import consents
from firearms.exchange.inbox import Delivered, receive_notice
from firearms.settings import Settings
from tests.exchange_fixtures import Client, cz
from tests.exchange_util import AT_KEY, VECTORS, envelope
from tests.races import blocked_on_lock, race

__all__ = ["cz"]

LICENCE: dict[str, Any] = VECTORS["notice"]["envelope"]["notice"]["body"]["licence"]
WINDOW = {"from": "2026-12-01", "to": "2026-12-20"}


def request(sequence: int, version: int) -> bytes:
    """AT's ``transit-consent.requested`` about its pending licence at ``version``."""
    pending = copy.deepcopy(LICENCE) | {"status": "pending", "issued_at": None, "version": version}
    body = {"licence": pending, "shipment_window": WINDOW}
    return envelope(AT_KEY, recipient="CZ", sequence=sequence, type_="transit-consent.requested", body=body)


async def test_a_decision_and_a_newer_request_arriving_at_once_both_stand(
    cz: tuple[Client, db.Conn], database: str, home: Path
) -> None:
    client, conn = cz
    first_raw = request(1, 1)
    assert (await client.post("/exchange/v1/notices", content=first_raw)).status_code == 202
    first_id = str(msgspec.json.decode(first_raw)["notice"]["id"])
    newer_raw = request(2, 2)
    newer_id = str(msgspec.json.decode(newer_raw)["notice"]["id"])

    officer, inbox, observer = await db.connect(database), await db.connect(database), await db.connect(database)
    try:
        transaction = officer.transaction()
        await transaction.start()
        await officer.execute(
            "SELECT 1 FROM consent_request_received WHERE requesting_state = 'AT' AND notice_id = $1 FOR UPDATE",
            first_id,
        )
        arriving = asyncio.create_task(
            receive_notice(inbox, newer_raw, state="CZ", home=home, time_zone=dt.UTC)  # what the endpoint runs
        )
        await blocked_on_lock(observer, inbox.get_server_pid())
        decided: Any
        try:
            decided = await consents.decide(
                officer,
                "AT",
                first_id,
                settings=Settings(state="CZ", home=home),
                decision="no-objection",
                reason=None,
                valid_until=None,
                actor="officer:test",
            )
        except Exception as exc:  # noqa: BLE001  # the deadlock's loser may be either side: the test names it
            decided = exc
        finally:
            await transaction.commit()
        answer = (await asyncio.gather(arriving, return_exceptions=True))[0]
    finally:
        for connection in (officer, inbox, observer):
            await connection.close()

    assert isinstance(decided, consents.ConsentRequest), decided
    assert (decided.status, decided.decision) == ("decided", "no-objection")
    assert isinstance(answer, Delivered), answer
    assert (answer.duplicate, answer.status) == (False, "accepted")
    rows = await conn.fetch("SELECT notice_id, status FROM consent_request_received")
    statuses = {row["notice_id"]: row["status"] for row in rows}
    assert statuses == {first_id: "decided", newer_id: "pending"}
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'transit-consent.decided'") == 1
    assert (await journal.verify(conn, state="CZ")).intact


async def test_a_decision_waiting_on_the_timer_deeming_the_request_names_the_day_the_timer_kept(
    cz: tuple[Client, db.Conn], database: str, home: Path
) -> None:
    """The timer deems a request while an officer's decision on it waits for the row: the refusal names the day.

    Before, the day kept with the deeming (consent_request_deemed) was read in the statement that waited for the row
    lock; the row was read again after the timer committed, but the day, a table of its own, with the statement's
    snapshot from before: the 409 said ``deemed`` with no ``silent_period_end``, as for a request deemed before the
    day was kept.
    """
    client, conn = cz
    raw = request(1, 1)
    assert (await client.post("/exchange/v1/notices", content=raw)).status_code == 202
    notice_id = str(msgspec.json.decode(raw)["notice"]["id"])
    async with conn.transaction():  # received on a Thursday: 20 working days end on 29 October
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("UPDATE consent_request_received SET received_at = '2026-10-01T09:00:00Z'")
    # the timer counts 28 October a holiday: its period ended a day later than the officer's settings count
    timer = Settings(state="CZ", home=home, holidays=(dt.date(2026, 10, 28),))

    async def deem(timer_conn: db.Conn) -> int:
        return await consents.deem_silent(timer_conn, settings=timer, today=dt.date(2026, 12, 1))

    async def decide(officer: db.Conn) -> object:
        return await consents.decide(
            officer,
            "AT",
            notice_id,
            settings=Settings(state="CZ", home=home),
            decision="objection",
            reason="a rifle is stolen",
            valid_until=None,
            actor="officer:test",
        )

    with pytest.raises(ConflictError) as refused:
        await race(database, deem, decide)
    assert refused.value.code == "consent-already-decided"
    assert refused.value.facts == {
        "decision": "deemed",
        "silent_period_end": "2026-10-30",
        "deemed_consent_on": "2026-10-31",
    }
    assert "ended on 2026-10-30" in refused.value.detail
    assert await conn.fetchval("SELECT status FROM consent_request_received") == "deemed"
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'transit-consent.decided'") == 0
