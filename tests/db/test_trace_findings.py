"""A received trace request's findings: the items carrying its serials, the full matches first (ITI para 14)."""

from __future__ import annotations

import datetime as dt

import pytest

from firearms import db, items, trace_reads, traces
from firearms.canonical import utc_now
from firearms.errors import InvalidInputError
from firearms.exchange.trace_bodies import TraceRequested, Weapon
from firearms.item_types import NewItem, NewMarking
from firearms.trace_types import NewTraceAnswer
from tests.exchange_util import trust_cz_and_de

TODAY = dt.date(2026, 11, 30)


async def _register(conn: db.Conn, manufacturer: str, country: str) -> int:
    async with db.transaction(conn):
        detail = await items.register_item(
            conn,
            NewItem(
                kind="firearm",
                firearm_type="pistol",
                manufacturer=manufacturer,
                country_of_manufacture=country,
                serial="4711",
                markings=[NewMarking(kind="manufacture", stamped=f"{manufacturer} 4711", serial="4711")],
            ),
            actor="officer:records",
            today=TODAY,
        )
    return detail.item_id


async def test_a_full_match_among_more_items_than_the_findings_hold_is_found_first(conn: db.Conn) -> None:
    """A short serial many manufacturers used: the item made by the request's maker is registered last."""
    await trust_cz_and_de(conn)
    others = [await _register(conn, f"Maker {n:02}", "DE") for n in range(55)]
    same_maker_elsewhere = await _register(conn, "ceska  ZBROJOVKA", "SK")
    wanted = await _register(conn, "Ceska zbrojovka", "CZ")
    async with db.transaction(conn):
        request_id = await traces.receive_request(
            conn,
            TraceRequested(
                weapon=Weapon(
                    kind="firearm", serial="47-11", manufacturer="Ceska Zbrojovka", country_of_manufacture="CZ"
                ),
                circumstances="seized",
                intended_use="investigation",
                answer_by=dt.date(2099, 1, 1),
            ),
            sender="DE",
            notice_id="0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e01",
            confidentiality="restricted",
            received_at=utc_now(),
            received_on=TODAY,
        )
    request = await trace_reads.get_trace_request(conn, request_id, today=TODAY)
    assert request.findings is not None
    assert len(request.findings) == 50  # at most 50
    assert request.findings_omitted == 7  # 57 items carry the serial: the officer is told of the 7 left out
    assert [(f.item_id, f.manufacturer_matches, f.country_matches) for f in request.findings[:3]] == [
        (wanted, True, True),
        (same_maker_elsewhere, True, False),
        (others[0], False, False),
    ]
    assert [f.item_id for f in request.findings[2:]] == others[:48]


async def _receive(conn: db.Conn, serial: str, notice_id: str) -> int:
    async with db.transaction(conn):
        return await traces.receive_request(
            conn,
            TraceRequested(
                weapon=Weapon(kind="firearm", serial=serial, manufacturer="Ceska Zbrojovka"),
                circumstances="seized",
                intended_use="investigation",
                answer_by=dt.date(2099, 1, 1),
            ),
            sender="DE",
            notice_id=notice_id,
            confidentiality="restricted",
            received_at=utc_now(),
            received_on=TODAY,
        )


async def test_an_item_carrying_a_serial_of_the_request_left_out_of_the_findings_is_answered_found(
    conn: db.Conn,
) -> None:
    """The findings hold 50; the 51st item carrying the serial is the request's as much as they are."""
    await trust_cz_and_de(conn)
    registered = [await _register(conn, f"Maker {n:02}", "DE") for n in range(51)]
    request_id = await _receive(conn, "47/11", "0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e02")
    request = await trace_reads.get_trace_request(conn, request_id, today=TODAY)
    assert request.findings is not None
    assert (len(request.findings), request.findings_omitted) == (50, 1)
    (left_out,) = set(registered) - {f.item_id for f in request.findings}
    async with db.transaction(conn):
        answered = await traces.answer(
            conn, request_id, NewTraceAnswer(outcome="found", item_id=left_out), today=TODAY, actor="officer"
        )
    assert answered.answer is not None
    assert (answered.answer.item_id, answered.answer.unmatched_because) == (left_out, None)


async def test_an_item_carrying_none_of_the_request_serials_is_refused_without_a_reason(conn: db.Conn) -> None:
    await trust_cz_and_de(conn)
    item_id = await _register(conn, "Ceska zbrojovka", "CZ")  # serial 4711
    request_id = await _receive(conn, "4712", "0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e03")
    request = await trace_reads.get_trace_request(conn, request_id, today=TODAY)
    assert (request.findings, request.findings_omitted) == ([], 0)
    with pytest.raises(InvalidInputError) as refused:
        async with db.transaction(conn):
            await traces.answer(
                conn, request_id, NewTraceAnswer(outcome="found", item_id=item_id), today=TODAY, actor="o"
            )
    assert refused.value.code == "item-not-matching-request"
    assert await conn.fetchval("SELECT count(*) FROM trace_answer") == 0
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'trace.answered'") == 0
