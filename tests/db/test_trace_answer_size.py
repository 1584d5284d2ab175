"""A trace answer about an item with more events or markings than ``trace.answered`` carries still reaches its State."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from firearms import db, outbox, traces
from firearms.canonical import canonical, utc_now
from firearms.exchange.inbox import ReceivedNotice, body_as
from firearms.exchange.protocol import MAX_ENVELOPE_BYTES, Notice
from firearms.exchange.trace_bodies import TraceAnswered, TraceRequested, Weapon, contradiction
from firearms.trace_types import NewTraceAnswer, TraceRequest
from tests.check_helpers import register_firearm
from tests.exchange_util import trust_cz_and_de

TODAY = dt.date(2026, 11, 30)


def _as_received(body: Any, notice_id: str) -> TraceAnswered:
    """The queued answer's body decoded as DE's receiving effect decodes it."""
    notice = Notice(
        id=str(uuid.uuid4()),
        type="trace.answered",
        sender="AT",
        recipient="DE",
        sequence=1,
        created_at="2026-11-30T12:00:00Z",
        in_reply_to=notice_id,
        confidentiality="restricted",
        body=body,
    )
    received = ReceivedNotice(notice=notice, key_id="k", received_at=utc_now(), time_zone=dt.UTC)
    return body_as(received, TraceAnswered)


async def _answered(conn: db.Conn, serial: str, answer: NewTraceAnswer) -> tuple[str, TraceRequest]:
    """DE's request to trace ``serial``, received, and answered with ``answer``: its notice id and the request."""
    notice_id = str(uuid.uuid4())
    async with db.transaction(conn):
        request_id = await traces.receive_request(
            conn,
            TraceRequested(
                weapon=Weapon(kind="firearm", serial=serial),
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
        answered = await traces.answer(conn, request_id, answer, today=TODAY, actor="officer")
    return notice_id, answered


async def test_a_found_answer_about_an_item_with_1005_events_and_105_markings_is_one_the_receiver_accepts(
    conn: db.Conn,
) -> None:
    await trust_cz_and_de(conn)
    item_id = await register_firearm(conn, "LONG-1")
    await conn.execute(
        """
        INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, from_party, to_party,
                                recorded_at, recorded_by)
        SELECT $1, 'transferred', 'active', 'active', $2, 'Holder ' || n, 'Holder ' || (n + 1), now(), 'test'
          FROM generate_series(1, 1005) AS n
        """,
        item_id,
        TODAY,
    )
    await conn.execute(
        """
        INSERT INTO marking (item_id, kind, stamped, recorded_at, recorded_by)
        SELECT $1, 'proof', 'PROOF ' || n, now(), 'test' FROM generate_series(1, 105 - (
            SELECT count(*) FROM marking WHERE item_id = $1)) AS n
        """,
        item_id,
    )
    notice_id, _ = await _answered(conn, "LONG-1", NewTraceAnswer(outcome="found", item_id=item_id))
    row = await conn.fetchrow("SELECT body FROM notice_outbox WHERE type = 'trace.answered'")
    assert row is not None
    answered = _as_received(row["body"], notice_id)
    assert contradiction(answered) is None
    record = answered.record
    assert record is not None
    assert len(record.events) == 1000
    assert record.events_omitted == 5
    assert record.events[-1].to_party == "Holder 1006"  # the most recent kept
    assert record.events[0].to_party == "Holder 7"  # the five earliest left out
    assert record.last_transfer is not None
    assert record.last_transfer.to_party == "Holder 1006"
    assert len(record.markings) == 100
    assert record.markings_omitted == 5
    assert row["body"]["record"]["events_omitted"] == 5


async def test_a_found_answer_too_large_for_its_envelope_drops_the_oldest_events_until_it_fits(conn: db.Conn) -> None:
    """1,000 events with texts of 200 characters: about 1 MB, four times PROTOCOL §3's 256 KiB. The answer was 422
    ``notice-too-large`` and the officer could never answer found; the oldest events now go, counted."""
    await trust_cz_and_de(conn)
    item_id = await register_firearm(conn, "LONG-2")
    await conn.execute(
        """
        INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, from_party, to_party,
                                document, purpose, recorded_at, recorded_by)
        SELECT $1, 'transferred', 'active', 'active', $2, rpad('Holder ' || n || ' ', 200, 'x'),
               rpad('Holder ' || (n + 1) || ' ', 200, 'y'), rpad('Contract ' || n || ' ', 200, 'z'),
               rpad('Purpose ' || n || ' ', 200, 'w'), now(), 'test'
          FROM generate_series(1, 1000) AS n
        """,
        item_id,
        TODAY,
    )
    note = "é" * 2000  # two bytes a character: the note counts in the envelope too
    notice_id, answered = await _answered(conn, "LONG-2", NewTraceAnswer(outcome="found", item_id=item_id, note=note))
    row = await conn.fetchrow(
        "SELECT body, in_reply_to, confidentiality FROM notice_outbox WHERE type = 'trace.answered'"
    )
    assert row is not None
    size = outbox.envelope_size(
        "trace.answered", row["in_reply_to"], row["confidentiality"], len(canonical(row["body"], ascii_keys=True))
    )
    assert MAX_ENVELOPE_BYTES - 2000 < size <= MAX_ENVELOPE_BYTES  # as many events as fit: within one event of it
    decoded = _as_received(row["body"], notice_id)
    assert contradiction(decoded) is None
    record = decoded.record
    assert record is not None
    assert 100 < len(record.events) < 300
    assert record.events_omitted == 1000 - len(record.events)
    assert record.events[-1].to_party is not None
    assert record.events[-1].to_party.startswith("Holder 1001 ")  # the most recent kept
    assert record.last_transfer is not None
    assert record.last_transfer.to_party == record.events[-1].to_party
    assert (record.markings_omitted, decoded.note) == (msgspec.UNSET, note)
    # the answer as kept here is the record sent
    assert answered.answer is not None
    assert answered.answer.record == record
