"""Lost and stolen reports of this registry go to every enabled partner, in the event's transaction (Art. 11-12)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest

from firearms import db, item_corrections, item_events, items
from firearms.canonical import utc_now
from firearms.exchange import reports, trust
from firearms.exchange.effects.reports import ItemReportedMissing
from firearms.exchange.inbox import ReceivedNotice, body_as
from firearms.exchange.protocol import Notice
from firearms.item_types import NewEvent, NewItemCorrection, NewMarking
from firearms.lifecycle import EventKind
from tests.check_helpers import register_firearm
from tests.exchange_util import trust_cz_and_de
from tests.licensing_helpers import TODAY


async def _event(conn: db.Conn, item_id: int, event: EventKind, **fields: Any) -> int:
    async with conn.transaction():
        recorded = await item_events.record_event(
            conn,
            item_id,
            NewEvent(event=event, occurred_on=TODAY, **fields),
            actor="police",
            today=TODAY,
        )
    return recorded.event_id


async def _queued(conn: db.Conn) -> list[tuple[str, str, dict[str, Any]]]:
    rows = await conn.fetch(
        "SELECT recipient, type, body, confidentiality FROM notice_outbox WHERE type LIKE 'item.%'"
        " ORDER BY queued_order"
    )
    assert all(row["confidentiality"] == "restricted" for row in rows)
    return [(row["recipient"], row["type"], row["body"]) for row in rows]


async def test_a_theft_queues_the_report_to_every_enabled_partner_with_the_items_identity(conn: db.Conn) -> None:
    await trust_cz_and_de(conn)
    item_id = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, item_id, "stolen")
    queued = await _queued(conn)
    assert [(recipient, kind) for recipient, kind, _ in queued] == [
        ("CZ", "item.reported-missing"),
        ("DE", "item.reported-missing"),
    ]
    assert (
        queued[0][2]
        == queued[1][2]
        == {
            "report_id": str(stolen),
            "status": "stolen",
            "occurred_on": TODAY.isoformat(),
            "item": {
                "kind": "firearm",
                "type": "rifle",
                "make": "Steyr Mannlicher",
                "model": "SSG 08",
                "calibre": ".308 Win",
                "manufacturer": "Steyr Mannlicher",
                "country_of_manufacture": "AT",
                "serial": "SSG08-001",
                "serial_normalised": "SSG08001",
                "markings": [{"kind": "manufacture", "stamped": "STEYR AUSTRIA SSG08-001"}],
            },
        }
    )
    # journaled with the queueing, in the same transaction
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.queued'") >= 2


async def test_the_report_is_queued_in_the_events_transaction_and_rolled_back_with_it(conn: db.Conn) -> None:
    await trust_cz_and_de(conn)
    item_id = await register_firearm(conn, "SSG08-001")

    async def lost_then_failed() -> None:
        async with conn.transaction():
            await item_events.record_event(
                conn, item_id, NewEvent(event="lost", occurred_on=TODAY), actor="police", today=TODAY
            )
            assert len(await _queued(conn)) == 2
            raise RuntimeError

    with pytest.raises(RuntimeError):
        await lost_then_failed()
    assert await _queued(conn) == []
    assert await conn.fetchval("SELECT status FROM item WHERE item_id = $1", item_id) == "active"


async def test_a_disabled_partner_is_not_sent_the_report(conn: db.Conn) -> None:
    await trust_cz_and_de(conn)
    async with conn.transaction():
        await trust.set_peer_enabled(conn, "DE", enabled=False, actor="test")
    item_id = await register_firearm(conn, "SSG08-001")
    await _event(conn, item_id, "lost")
    assert [(recipient, kind) for recipient, kind, _ in await _queued(conn)] == [("CZ", "item.reported-missing")]


async def test_recovery_seizure_and_correction_withdraw_the_report(conn: db.Conn) -> None:
    await trust_cz_and_de(conn)
    first = await register_firearm(conn, "SSG08-001")
    lost = await _event(conn, first, "lost")
    await _event(conn, first, "recovered")
    second = await register_firearm(conn, "SSG08-002")
    stolen = await _event(conn, second, "stolen")
    await _event(conn, second, "corrected", corrects_event_id=stolen, reason="recorded for the wrong rifle")
    third = await register_firearm(conn, "SSG08-003")
    taken = await _event(conn, third, "stolen")
    await _event(conn, third, "seized")
    queued = await _queued(conn)
    withdrawals = [(recipient, body) for recipient, kind, body in queued if kind == "item.report-withdrawn"]
    assert withdrawals == [
        (state, {"report_id": str(report), "reason": reason, "occurred_on": TODAY.isoformat()})
        for report, reason in ((lost, "recovered"), (stolen, "corrected"), (taken, "seized"))
        for state in ("CZ", "DE")
    ]


async def test_a_corrected_recovery_reopens_the_same_report(conn: db.Conn) -> None:
    await trust_cz_and_de(conn)
    item_id = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, item_id, "stolen")
    recovered = await _event(conn, item_id, "recovered")
    await _event(conn, item_id, "corrected", corrects_event_id=recovered, reason="another rifle was found")
    sent = [(kind, body["report_id"]) for recipient, kind, body in await _queued(conn) if recipient == "CZ"]
    assert sent == [
        ("item.reported-missing", str(stolen)),
        ("item.report-withdrawn", str(stolen)),
        ("item.reported-missing", str(stolen)),
    ]


async def test_events_that_move_no_report_send_nothing(conn: db.Conn) -> None:
    await trust_cz_and_de(conn)
    item_id = await register_firearm(conn, "SSG08-001")
    transferred = await _event(conn, item_id, "transferred", from_party="Huber", to_party="Müller")
    await _event(conn, item_id, "corrected", corrects_event_id=transferred, reason="typo")
    assert await _queued(conn) == []


async def test_a_make_corrected_or_a_marking_added_while_stolen_sends_the_report_again(conn: db.Conn) -> None:
    await trust_cz_and_de(conn)
    item_id = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, item_id, "stolen")
    async with conn.transaction():
        await item_corrections.correct_item(
            conn,
            item_id,
            msgspec.convert({"changes": {"make": "Steyr"}, "reason": "make misread"}, NewItemCorrection),
            actor="records",
            today=TODAY,
        )
    async with conn.transaction():
        await items.add_marking(
            conn, item_id, NewMarking(kind="proof", stamped="Ferlach 26", place="Ferlach"), actor="records", today=TODAY
        )
    sent = [(kind, body) for recipient, kind, body in await _queued(conn) if recipient == "CZ"]
    assert [(kind, body["report_id"]) for kind, body in sent] == [("item.reported-missing", str(stolen))] * 3
    assert [body["item"]["make"] for _, body in sent] == ["Steyr Mannlicher", "Steyr", "Steyr"]
    assert sent[2][1]["item"]["markings"][-1] == {"kind": "proof", "stamped": "Ferlach 26"}
    # an item not reported lost or stolen sends nothing when corrected
    other = await register_firearm(conn, "SSG08-002")
    async with conn.transaction():
        await item_corrections.correct_item(
            conn,
            other,
            msgspec.convert({"changes": {"model": "SSG 69"}, "reason": "model misread"}, NewItemCorrection),
            actor="records",
            today=TODAY,
        )
    assert len(await _queued(conn)) == 6


async def test_a_report_of_an_item_with_more_markings_than_a_report_carries_is_one_a_partner_accepts(
    conn: db.Conn,
) -> None:
    """A partner refuses a report of more than ``MAX_MARKINGS`` markings (``invalid-body``): it never heard of it."""
    await trust_cz_and_de(conn)
    item_id = await register_firearm(conn, "SSG08-001")
    await conn.execute(
        "INSERT INTO marking (item_id, kind, stamped, recorded_at, recorded_by)"
        " SELECT $1, 'proof', 'PROOF ' || n, now(), 'test' FROM generate_series(1, $2::int) AS n",
        item_id,
        reports.MAX_MARKINGS + 4,  # and the manufacture marking: five more than a report carries
    )
    await _event(conn, item_id, "stolen")
    [(_, _, body), _] = await _queued(conn)
    notice = Notice(
        id=str(uuid.uuid4()),
        type="item.reported-missing",
        sender="AT",
        recipient="CZ",
        sequence=1,
        created_at="2026-11-30T12:00:00Z",
        in_reply_to=None,
        confidentiality="restricted",
        body=body,
    )
    received = ReceivedNotice(notice=notice, key_id="k", received_at=utc_now(), time_zone=dt.UTC)
    report = body_as(received, ItemReportedMissing)  # as the receiving effect decodes it
    assert [marking.stamped for marking in report.item.markings][:2] == ["STEYR AUSTRIA SSG08-001", "PROOF 1"]
    assert len(report.item.markings) == reports.MAX_MARKINGS
    assert report.item.markings_omitted == 5
