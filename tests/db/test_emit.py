"""Notices emitted for a licence's life, queued for the States concerned (firearms.exchange.emit)."""

from __future__ import annotations

import datetime as dt

import msgspec

from firearms import bootstrap, db
from firearms.canonical import canonical
from firearms.exchange import emit, trust
from firearms.exchange.bodies import ShipmentItem
from firearms.licence_object import LicenceObject
from tests.exchange_util import VECTORS

LICENCE = msgspec.convert(VECTORS["notice"]["envelope"]["notice"]["body"]["licence"], LicenceObject)


async def _peer(conn: db.Conn, state: str, key: str) -> None:
    await trust.add_peer(
        conn,
        own_state="AT",
        state=state,
        base_url=f"http://{state.lower()}.example",
        public_key=VECTORS["keys"][key]["public_key"],
        not_before=None,
        actor="test",
    )


async def test_issued_export_licence_goes_to_importing_and_transit_states(
    conn: db.Conn, initialised: bootstrap.Initialised
) -> None:
    async with conn.transaction():
        await _peer(conn, "DE", "DE")
        sent = await emit.licence_issued(conn, LICENCE, own_state="AT", actor="test")
    assert sent == ["DE"]  # CZ is not on the trust list: skipped, journaled
    row = await conn.fetchrow("SELECT recipient, type, body, confidentiality FROM notice_outbox")
    assert row is not None
    assert (row["recipient"], row["type"], row["confidentiality"]) == ("DE", "export-licence.issued", "restricted")
    assert canonical(row["body"]) == canonical(VECTORS["notice"]["envelope"]["notice"]["body"])
    skipped = await conn.fetchval("SELECT payload FROM journal_entry WHERE action = 'notice.not-sent'")
    assert skipped == {"recipient": "CZ", "type": "export-licence.issued", "why": "not on the trust list"}


async def test_status_change_and_consent_request(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    async with conn.transaction():
        await _peer(conn, "DE", "DE")
        await _peer(conn, "CZ", "OTHER")
        moment = dt.datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=dt.UTC)
        changed = await emit.licence_status_changed(
            conn, LICENCE, own_state="AT", status="revoked", reason="fraud", effective_at=moment, actor="test"
        )
        asked = await emit.consent_requested(
            conn,
            LICENCE,
            transit_state="CZ",
            window_from=dt.date(2026, 12, 1),
            window_to=dt.date(2026, 12, 20),
            actor="test",
        )
    assert changed == ["DE", "CZ"]
    assert asked
    rows = await conn.fetch("SELECT recipient, type, body FROM notice_outbox ORDER BY recipient, sequence")
    status = next(row for row in rows if row["recipient"] == "DE")
    assert status["body"]["effective_at"] == "2026-11-30T08:00:00Z"
    assert status["body"]["status"] == "revoked"
    consent = [row for row in rows if row["type"] == "transit-consent.requested"]
    assert consent[0]["body"]["licence"]["status"] == "pending"
    assert consent[0]["body"]["licence"]["issued_at"] is None
    assert consent[0]["body"]["shipment_window"] == {"from": "2026-12-01", "to": "2026-12-20"}


def test_concerned_states() -> None:
    assert emit.concerned_states(LICENCE, "AT") == ["DE", "CZ"]
    imported = msgspec.structs.replace(LICENCE, kind="import", issuing_state="DE", transit_states=[])
    assert emit.concerned_states(imported, "DE") == ["AT"]


async def _shipment_notices(
    conn: db.Conn, items: list[ShipmentItem], moment: dt.datetime
) -> tuple[list[str], list[str], list[str]]:
    """``shipment.dispatched`` as AT, then ``transit.passage-recorded`` and ``receipt.confirmed`` as CZ (transit) and
    DE (importing) would send them: to AT and DE, and to AT. The States each went to."""
    dispatched = await emit.shipment_dispatched(
        conn, LICENCE, own_state="AT", shipment_id="S1", dispatched_at=moment, items=items, actor="test"
    )
    passage = await emit.passage_recorded(
        conn,
        LICENCE,
        own_state="CZ",
        shipment_id="S1",
        check_id="c1",
        verdict="clear",
        reasons=[],
        checked_at=moment,
        crossing_point="CZ-1",
        items=items,
        actor="test",
    )
    confirmed = await emit.receipt_confirmed(
        conn,
        LICENCE,
        own_state="DE",
        shipment_id="S1",
        received_on=dt.date(2026, 12, 2),
        customs_document="ATB-1",
        items=items,
        actor="test",
    )
    return dispatched, passage, confirmed


async def test_shipment_notices_go_to_the_right_states(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    items = [ShipmentItem(line=1, quantity=2, serials=["SSG08-001", "SSG08-002"])]
    moment = dt.datetime(2026, 11, 30, 8, 0, 0, 5, tzinfo=dt.UTC)
    async with conn.transaction():
        await _peer(conn, "DE", "DE")
        await _peer(conn, "CZ", "OTHER")
        asked = await emit.receipt_confirmation_requested(conn, LICENCE, own_state="AT", shipment_id="S1", actor="test")
        dispatched, passage, confirmed = await _shipment_notices(conn, items, moment)
    assert dispatched == ["CZ", "DE"]
    assert asked == ["DE"]
    assert passage == ["DE"]  # this test registry trusts DE and CZ only: AT is skipped, and the skip journaled
    assert confirmed == []
    body = await conn.fetchval("SELECT body FROM notice_outbox WHERE type = 'shipment.dispatched' LIMIT 1")
    assert body == {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "S1",
        "dispatched_at": "2026-11-30T08:00:00Z",
        "items": [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}],
    }


async def test_a_shipment_notice_too_large_for_an_envelope_is_journaled_not_sent_and_the_record_stands(
    conn: db.Conn, initialised: bootstrap.Initialised
) -> None:
    """A consignment of thousands of long serials (a component line lists none, so a check may present up to 10,000
    of 64 characters) makes a shipment notice larger than PROTOCOL §3's 256 KiB. ``notice-too-large`` refused the
    customs check that caused it, at the border; the notice is now journaled as not sent and the check stands. A
    licence's own notice is still refused with its change."""
    items = [ShipmentItem(line=1, quantity=5000, serials=[f"{n:064d}" for n in range(5000)])]
    moment = dt.datetime(2026, 11, 30, 8, 0, 0, tzinfo=dt.UTC)
    async with conn.transaction():
        await _peer(conn, "DE", "DE")
        await _peer(conn, "CZ", "OTHER")
        dispatched, passage, confirmed = await _shipment_notices(conn, items, moment)
    assert (dispatched, confirmed, passage) == ([], [], [])
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox") == 0
    skipped = await conn.fetch("SELECT payload FROM journal_entry WHERE action = 'notice.not-sent' ORDER BY entry_id")
    too_large = "its envelope would exceed 262144 bytes (PROTOCOL §3)"
    assert [(row["payload"]["recipient"], row["payload"]["type"], row["payload"]["why"]) for row in skipped] == [
        ("CZ", "shipment.dispatched", too_large),
        ("DE", "shipment.dispatched", too_large),
        ("AT", "transit.passage-recorded", too_large),
        ("DE", "transit.passage-recorded", too_large),
        ("AT", "receipt.confirmed", "not on the trust list"),  # no partner to refuse it: nothing is too large
    ]
