"""A partner added or enabled again hears of every lost or stolen report of this registry open now (Art. 11-12)."""

from __future__ import annotations

import time
from typing import Any

from litestar.testing import AsyncTestClient

from firearms import db, item_events
from firearms.canonical import parse_time
from firearms.exchange import reports, trust
from firearms.item_types import NewEvent
from firearms.lifecycle import EventKind
from tests.check_helpers import register_firearm
from tests.conftest import TokenFactory
from tests.exchange_util import VECTORS
from tests.licensing_helpers import TODAY


async def _event(conn: db.Conn, item_id: int, event: EventKind) -> int:
    async with conn.transaction():
        recorded = await item_events.record_event(
            conn, item_id, NewEvent(event=event, occurred_on=TODAY), actor="police", today=TODAY
        )
    return recorded.event_id


async def _add(conn: db.Conn, state: str = "DE", key: str = "DE") -> None:
    async with conn.transaction():
        await trust.add_peer(
            conn,
            own_state="AT",
            state=state,
            base_url=f"http://{state.lower()}.example",
            public_key=VECTORS["keys"][key]["public_key"],
            not_before=parse_time("2026-01-01T00:00:00Z"),
            actor="admin",
        )


async def _reports_to(conn: db.Conn, state: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT body FROM notice_outbox WHERE recipient = $1 AND type = 'item.reported-missing' ORDER BY queued_order",
        state,
    )
    return [row["body"] for row in rows]


async def _expected(conn: db.Conn, item_id: int, event_id: int, status: str) -> dict[str, Any]:
    """The body the sending path makes for this report."""
    return await reports.report_body(conn, item_id, event_id, status, TODAY)


async def test_a_partner_added_after_two_thefts_receives_both_reports_as_the_sending_path_makes_them(
    conn: db.Conn,
) -> None:
    first = await register_firearm(conn, "SSG08-001")
    second = await register_firearm(conn, "SSG08-002")
    stolen = await _event(conn, first, "stolen")
    lost = await _event(conn, second, "lost")
    await _add(conn)
    assert await _reports_to(conn, "DE") == [
        await _expected(conn, first, stolen, "stolen"),
        await _expected(conn, second, lost, "lost"),
    ]
    entries = await conn.fetchval(
        "SELECT count(*) FROM journal_entry WHERE action = 'notice.queued'"
        " AND payload->>'recipient' = 'DE' AND payload->>'type' = 'item.reported-missing'"
    )
    assert entries == 2


async def test_a_withdrawn_report_is_not_sent_and_a_partner_with_none_open_gets_nothing(conn: db.Conn) -> None:
    item_id = await register_firearm(conn, "SSG08-001")
    await _event(conn, item_id, "stolen")
    await _event(conn, item_id, "recovered")
    await _add(conn)
    assert await _reports_to(conn, "DE") == []
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE recipient = 'DE'") == 0


async def test_enabling_again_queues_every_open_report_and_a_key_or_a_second_enable_does_not(conn: db.Conn) -> None:
    await _add(conn)
    kept = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, kept, "stolen")  # sent while DE was enabled
    async with conn.transaction():
        await trust.set_peer_enabled(conn, "DE", enabled=False, actor="admin")
    other = await register_firearm(conn, "SSG08-002")
    lost = await _event(conn, other, "lost")  # not sent: DE disabled
    ended = await register_firearm(conn, "SSG08-003")
    await _event(conn, ended, "stolen")
    await _event(conn, ended, "recovered")
    assert len(await _reports_to(conn, "DE")) == 1
    async with conn.transaction():
        await trust.set_peer_enabled(conn, "DE", enabled=True, actor="admin")
    assert (await _reports_to(conn, "DE"))[1:] == [
        await _expected(conn, kept, stolen, "stolen"),
        await _expected(conn, other, lost, "lost"),
    ]
    async with conn.transaction():
        await trust.set_peer_enabled(conn, "DE", enabled=True, actor="admin")  # already enabled: nothing new
        await trust.add_peer_key(
            conn, state="DE", public_key=VECTORS["keys"]["OTHER"]["public_key"], not_before=None, actor="admin"
        )
    assert len(await _reports_to(conn, "DE")) == 3


async def test_a_catch_up_of_many_stolen_items_reads_them_in_batches(conn: db.Conn) -> None:
    first = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, first, "stolen")
    count = 5000
    await conn.execute(
        """
        WITH copies AS (
            INSERT INTO item (kind, firearm_type, make, model, calibre, country_of_manufacture, category,
                              manufacturer, serial, status, registered_at, registered_by)
            SELECT kind, firearm_type, make, model, calibre, country_of_manufacture, category, manufacturer,
                   'BULK-' || n, status, registered_at, registered_by
              FROM item, generate_series(1, $2) AS n WHERE item_id = $1
            RETURNING item_id
        )
        INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, recorded_at, recorded_by)
        SELECT item_id, 'stolen', 'active', 'stolen', $3, now(), 'police' FROM copies
        """,
        first,
        count,
        TODAY,
    )
    started = time.perf_counter()
    await _add(conn)
    took = time.perf_counter() - started
    sent = await _reports_to(conn, "DE")
    assert len(sent) == count + 1
    assert sent[0] == await _expected(conn, first, stolen, "stolen")
    assert {body["item"]["serial"] for body in sent[1:]} == {f"BULK-{n}" for n in range(1, count + 1)}
    assert took < 30, took


async def test_the_admin_api_adds_and_enables_a_partner_with_its_catch_up(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    item_id = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, item_id, "stolen")
    admin = await auth("admin")
    body = {"state": "DE", "base_url": "https://registry.example.de", "public_key": VECTORS["keys"]["DE"]["public_key"]}
    assert (await client.post("/api/v1/peers", json=body, headers=admin)).status_code == 201
    expected = await _expected(conn, item_id, stolen, "stolen")
    assert await _reports_to(conn, "DE") == [expected]
    assert (await client.post("/api/v1/peers/DE/disable", headers=admin)).status_code == 200
    assert (await client.post("/api/v1/peers/DE/enable", headers=admin)).status_code == 200
    assert await _reports_to(conn, "DE") == [expected, expected]
