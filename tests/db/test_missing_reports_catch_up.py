"""A partner added or enabled again hears of every lost or stolen report of this registry open now (Art. 11-12)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from typing import Any

from litestar.testing import AsyncTestClient

from firearms import db, item_events, lifecycle, outbox
from firearms.canonical import parse_time
from firearms.errors import FirearmsError
from firearms.exchange import reports, trust
from firearms.item_types import NewEvent
from firearms.lifecycle import EventKind
from firearms.store import items as item_store
from tests.check_helpers import register_firearm
from tests.conftest import TokenFactory
from tests.exchange_util import VECTORS, trust_cz_and_de
from tests.licensing_helpers import TODAY


async def _event(conn: db.Conn, item_id: int, event: EventKind, on: dt.date = TODAY, **fields: Any) -> int:
    async with conn.transaction():
        recorded = await item_events.record_event(
            conn, item_id, NewEvent(event=event, occurred_on=on, **fields), actor="police", today=TODAY
        )
    return recorded.event_id


async def _enable(conn: db.Conn, state: str, *, enabled: bool) -> None:
    async with conn.transaction():
        await trust.set_peer_enabled(conn, state, enabled=enabled, actor="admin")


async def _notices_to(conn: db.Conn, state: str) -> list[tuple[str, dict[str, Any]]]:
    """The lost/stolen notices queued to ``state``, in queue order: (type, body)."""
    rows = await conn.fetch(
        "SELECT type, body FROM notice_outbox WHERE recipient = $1 AND type LIKE 'item.%' ORDER BY queued_order",
        state,
    )
    return [(row["type"], row["body"]) for row in rows]


def _withdrawn(report: int, reason: str, on: dt.date) -> tuple[str, dict[str, Any]]:
    return ("item.report-withdrawn", {"report_id": str(report), "reason": reason, "occurred_on": on.isoformat()})


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


async def _copies_stolen(conn: db.Conn, first: int, count: int, on: dt.date) -> None:
    """``count`` copies of item ``first`` (serials BULK-1...), each stolen on ``on``: in one statement."""
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
        on,
    )


async def test_a_catch_up_of_many_stolen_items_reads_them_in_batches(conn: db.Conn) -> None:
    first = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, first, "stolen")
    count = 5000
    await _copies_stolen(conn, first, count, TODAY)
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


async def test_enabling_again_withdraws_a_report_sent_before_the_disabling_and_withdrawn_since(conn: db.Conn) -> None:
    """The withdrawal goes to the partner enabled again, with the body the others were sent; once, and to it only."""
    await trust_cz_and_de(conn)
    rifle = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, rifle, "stolen", TODAY - dt.timedelta(days=9))
    await _enable(conn, "DE", enabled=False)
    await _event(conn, rifle, "recovered", TODAY - dt.timedelta(days=2))
    # opened and withdrawn while DE was disabled: DE never had it, nothing is sent for it
    passing = await register_firearm(conn, "SSG08-002")
    await _event(conn, passing, "lost", TODAY - dt.timedelta(days=5))
    await _event(conn, passing, "recovered", TODAY - dt.timedelta(days=4))
    cz_before = await _notices_to(conn, "CZ")
    assert [kind for kind, _ in await _notices_to(conn, "DE")] == ["item.reported-missing"]
    await _enable(conn, "DE", enabled=True)
    withdrawal = _withdrawn(stolen, "recovered", TODAY - dt.timedelta(days=2))
    assert withdrawal in cz_before  # the body the sending path made for the partner enabled then
    assert (await _notices_to(conn, "DE"))[1:] == [withdrawal]
    assert await _notices_to(conn, "CZ") == cz_before  # CZ had it already: nothing new
    journaled = await conn.fetchval(
        "SELECT count(*) FROM journal_entry AS j JOIN notice_outbox AS o ON o.notice_id::text = j.entity_id"
        " WHERE j.action = 'notice.queued' AND o.recipient = 'DE' AND o.type = 'item.report-withdrawn'"
        " AND j.payload ->> 'type' = 'item.report-withdrawn'"
    )
    assert journaled == 1
    # disabled and enabled again: the withdrawal is not queued twice
    await _enable(conn, "DE", enabled=False)
    await _enable(conn, "DE", enabled=True)
    assert (await _notices_to(conn, "DE"))[1:] == [withdrawal]


async def test_a_seizure_or_a_correction_while_disabled_is_withdrawn_with_its_reason_and_date(conn: db.Conn) -> None:
    await trust_cz_and_de(conn)
    seized = await register_firearm(conn, "SSG08-001")
    taken = await _event(conn, seized, "stolen", TODAY - dt.timedelta(days=9))
    mistaken = await register_firearm(conn, "SSG08-002")
    lost = await _event(conn, mistaken, "lost", TODAY - dt.timedelta(days=8))
    await _enable(conn, "DE", enabled=False)
    await _event(conn, mistaken, "corrected", TODAY - dt.timedelta(days=6), corrects_event_id=lost, reason="typo")
    await _event(conn, seized, "seized", TODAY - dt.timedelta(days=3))
    await _event(conn, seized, "recovered", TODAY - dt.timedelta(days=1))  # ends no report: none open
    await _enable(conn, "DE", enabled=True)
    assert (await _notices_to(conn, "DE"))[2:] == [
        _withdrawn(lost, "corrected", TODAY - dt.timedelta(days=6)),
        _withdrawn(taken, "seized", TODAY - dt.timedelta(days=3)),
    ]


async def test_a_report_withdrawn_and_made_again_while_disabled_is_withdrawn_before_the_new_one_is_sent(
    conn: db.Conn,
) -> None:
    """A new theft is a new report id; a corrected recovery reopens the same id, which is open, not withdrawn."""
    await trust_cz_and_de(conn)
    again = await register_firearm(conn, "SSG08-001")
    first = await _event(conn, again, "stolen", TODAY - dt.timedelta(days=9))
    reopened = await register_firearm(conn, "SSG08-002")
    kept = await _event(conn, reopened, "lost", TODAY - dt.timedelta(days=9))
    await _enable(conn, "DE", enabled=False)
    await _event(conn, again, "recovered", TODAY - dt.timedelta(days=6))
    second = await _event(conn, again, "stolen", TODAY - dt.timedelta(days=2))
    recovered = await _event(conn, reopened, "recovered", TODAY - dt.timedelta(days=5))
    await _event(conn, reopened, "corrected", TODAY - dt.timedelta(days=4), corrects_event_id=recovered, reason="x")
    await _enable(conn, "DE", enabled=True)
    assert (await _notices_to(conn, "DE"))[2:] == [
        _withdrawn(first, "recovered", TODAY - dt.timedelta(days=6)),
        (
            "item.reported-missing",
            await reports.report_body(conn, reopened, kept, "lost", TODAY - dt.timedelta(days=9)),
        ),
        (
            "item.reported-missing",
            await reports.report_body(conn, again, second, "stolen", TODAY - dt.timedelta(days=2)),
        ),
    ]


async def test_a_catch_up_withdraws_two_thousand_reports_in_a_few_statements(conn: db.Conn) -> None:
    first = await register_firearm(conn, "SSG08-001")
    await _event(conn, first, "stolen")
    count = 2000
    await _copies_stolen(conn, first, count, TODAY - dt.timedelta(days=3))
    await _add(conn)  # DE is sent the 2,001 reports
    await _enable(conn, "DE", enabled=False)
    async with conn.transaction():
        await conn.execute(
            """
            WITH recovered AS (
                UPDATE item SET status = 'active' WHERE serial LIKE 'BULK-%' RETURNING item_id
            )
            INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, recorded_at,
                                    recorded_by)
            SELECT item_id, 'recovered', 'stolen', 'active', $1, now(), 'police' FROM recovered
            """,
            TODAY - dt.timedelta(days=1),
        )
    started = time.perf_counter()
    await _enable(conn, "DE", enabled=True)
    took = time.perf_counter() - started
    sent = (await _notices_to(conn, "DE"))[count + 1 :]
    assert len(sent) == count + 1
    withdrawn = [body for kind, body in sent if kind == "item.report-withdrawn"]
    reports_ids = await conn.fetch(
        "SELECT e.event_id FROM item_event AS e JOIN item AS i USING (item_id)"
        " WHERE i.serial LIKE 'BULK-%' AND e.event = 'stolen' ORDER BY e.event_id"
    )
    assert withdrawn == [
        _withdrawn(row["event_id"], "recovered", TODAY - dt.timedelta(days=1))[1] for row in reports_ids
    ]
    assert sent[-1][0] == "item.reported-missing"  # the one still open
    print(f"catch-up of {count} withdrawals and 1 open report: {took:.3f} s")  # noqa: T201
    assert took < 30, took


async def _until_waiting_or_done(conn: db.Conn, other: db.Conn, task: asyncio.Task[Any]) -> None:
    """Until ``task`` on ``other`` has finished or waits for a lock (``conn`` holds one it may want)."""
    pid = other.get_server_pid()
    deadline = time.monotonic() + 20
    while not task.done():
        waiting = await conn.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid)
        if waiting:
            return
        assert time.monotonic() < deadline, "neither finished nor waiting for a lock"
        await asyncio.sleep(0.01)


async def test_a_recovery_in_progress_while_a_partner_is_enabled_reaches_it(conn: db.Conn, database: str) -> None:
    """The enabling waits for the event's transaction (which read the partners), and then sees the recovery."""
    await trust_cz_and_de(conn)
    rifle = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, rifle, "stolen")
    await _enable(conn, "DE", enabled=False)
    other = await db.connect(database)
    try:
        recovery = conn.transaction()
        await recovery.start()
        await item_events.record_event(
            conn, rifle, NewEvent(event="recovered", occurred_on=TODAY), actor="police", today=TODAY
        )
        enabling = asyncio.create_task(_enable(other, "DE", enabled=True))
        await _until_waiting_or_done(conn, other, enabling)
        await recovery.commit()
        await enabling
    finally:
        await other.close()
    assert (await _notices_to(conn, "DE"))[1:] == [_withdrawn(stolen, "recovered", TODAY)]


async def test_a_recovery_recorded_while_a_partner_is_being_enabled_reaches_it(conn: db.Conn, database: str) -> None:
    """The event waits for the enabling's transaction, and then sends the withdrawal to the partner enabled."""
    await trust_cz_and_de(conn)
    rifle = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, rifle, "stolen")
    await _enable(conn, "DE", enabled=False)
    other = await db.connect(database)
    try:
        enabling = conn.transaction()
        await enabling.start()
        await trust.set_peer_enabled(conn, "DE", enabled=True, actor="admin")  # the report is still open: sent again
        recovery = asyncio.create_task(_recover(other, rifle))
        await _until_waiting_or_done(conn, other, recovery)
        await enabling.commit()
        await recovery
    finally:
        await other.close()
    report = await _expected(conn, rifle, stolen, "stolen")
    assert await _notices_to(conn, "DE") == [
        ("item.reported-missing", report),
        ("item.reported-missing", report),
        _withdrawn(stolen, "recovered", TODAY),
    ]


async def _recover(conn: db.Conn, item_id: int) -> None:
    await _event(conn, item_id, "recovered")


async def test_a_theft_in_progress_while_a_partner_is_added_reaches_it(conn: db.Conn, database: str) -> None:
    """The new partner's row is not there for the event to wait on: the catch-up waits for the event instead."""
    await trust_cz_and_de(conn)
    rifle = await register_firearm(conn, "SSG08-001")
    other = await db.connect(database)
    try:
        theft = conn.transaction()
        await theft.start()
        stolen = (
            await item_events.record_event(
                conn, rifle, NewEvent(event="stolen", occurred_on=TODAY), actor="police", today=TODAY
            )
        ).event_id
        adding = asyncio.create_task(_add(other, "FR", "AT"))
        await _until_waiting_or_done(conn, other, adding)
        await theft.commit()
        await adding
    finally:
        await other.close()
    assert await _reports_to(conn, "FR") == [await _expected(conn, rifle, stolen, "stolen")]


async def test_a_theft_recorded_while_a_partner_is_being_added_reaches_it(conn: db.Conn, database: str) -> None:
    await trust_cz_and_de(conn)
    rifle = await register_firearm(conn, "SSG08-001")
    other = await db.connect(database)
    try:
        adding = conn.transaction()
        await adding.start()
        await trust.add_peer(
            conn,
            own_state="AT",
            state="FR",
            base_url="http://fr.example",
            public_key=VECTORS["keys"]["AT"]["public_key"],
            not_before=parse_time("2026-01-01T00:00:00Z"),
            actor="admin",
        )
        theft = asyncio.create_task(_event(other, rifle, "stolen"))
        await _until_waiting_or_done(conn, other, theft)
        await adding.commit()
        stolen = await theft
    finally:
        await other.close()
    assert await _reports_to(conn, "FR") == [await _expected(conn, rifle, stolen, "stolen")]


async def _enable_when(conn: db.Conn, state: str, reached: asyncio.Event, gate: asyncio.Event) -> None:
    """Enable ``state`` in a transaction that, once the enabling is done, waits for ``gate`` before it commits."""
    async with conn.transaction():
        await trust.set_peer_enabled(conn, state, enabled=True, actor="admin")
        reached.set()
        await gate.wait()


async def test_an_enabling_that_waited_for_a_disabling_catches_the_partner_up(conn: db.Conn, database: str) -> None:
    """An enabling that began while a disabling was under way read the partner enabled (the disabling was not
    committed), waited for the row, then enabled it without a catch-up: a recovery recorded between the two commits
    (the partner disabled) was never withdrawn there. The enabling now reads the partner locked, as it changes it."""
    await trust_cz_and_de(conn)
    rifle = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, rifle, "stolen")
    enabler, recorder = await db.connect(database), await db.connect(database)
    reached, gate = asyncio.Event(), asyncio.Event()
    try:
        disabling = conn.transaction()
        await disabling.start()
        await trust.set_peer_enabled(conn, "DE", enabled=False, actor="admin")
        enabling = asyncio.create_task(_enable_when(enabler, "DE", reached, gate))
        await _until_waiting_or_done(conn, enabler, enabling)
        await disabling.commit()
        await asyncio.wait_for(reached.wait(), 20)
        recovery = asyncio.create_task(_recover(recorder, rifle))
        await _until_waiting_or_done(conn, recorder, recovery)
        gate.set()
        await enabling
        await recovery
    finally:
        gate.set()
        await enabler.close()
        await recorder.close()
    report = await _expected(conn, rifle, stolen, "stolen")
    assert await _notices_to(conn, "DE") == [
        ("item.reported-missing", report),
        ("item.reported-missing", report),  # the catch-up: the report was open then
        _withdrawn(stolen, "recovered", TODAY),  # the recovery waited for the catch-up, and saw the partner
    ]


async def test_two_enablings_at_once_catch_the_partner_up_once(conn: db.Conn, database: str) -> None:
    """Both read the partner disabled and each ran a catch-up: every open report was queued to it twice more."""
    await trust_cz_and_de(conn)
    rifle = await register_firearm(conn, "SSG08-001")
    stolen = await _event(conn, rifle, "stolen")
    await _enable(conn, "DE", enabled=False)
    other = await db.connect(database)
    try:
        first = conn.transaction()
        await first.start()
        await trust.set_peer_enabled(conn, "DE", enabled=True, actor="admin")
        second = asyncio.create_task(_enable(other, "DE", enabled=True))
        await _until_waiting_or_done(conn, other, second)
        await first.commit()
        await second
    finally:
        await other.close()
    report = await _expected(conn, rifle, stolen, "stolen")
    assert await _notices_to(conn, "DE") == [("item.reported-missing", report)] * 2


async def test_an_event_queueing_to_the_partner_being_enabled_does_not_deadlock_with_its_catch_up(
    conn: db.Conn, database: str
) -> None:
    """The enabling holds the partner's row (NO KEY UPDATE) and waits for the event's shared lock; the event, holding
    that lock, queues a notice to the partner, whose foreign key takes KEY SHARE on the row: the two do not conflict
    (a FOR UPDATE read of the row would, and PostgreSQL would end one of them as a deadlock)."""
    await trust_cz_and_de(conn)
    rifle = await register_firearm(conn, "SSG08-001")
    await _enable(conn, "DE", enabled=False)
    other = await db.connect(database)
    try:
        theft = conn.transaction()
        await theft.start()
        stolen = (
            await item_events.record_event(
                conn, rifle, NewEvent(event="stolen", occurred_on=TODAY), actor="police", today=TODAY
            )
        ).event_id
        enabling = asyncio.create_task(_enable(other, "DE", enabled=True))
        await _until_waiting_or_done(conn, other, enabling)
        assert not enabling.done()
        body = await _expected(conn, rifle, stolen, "stolen")
        await outbox.enqueue_to(conn, ["DE"], reports.REPORTED_MISSING, body, actor="police")
        await theft.commit()
        await asyncio.wait_for(enabling, 20)
    finally:
        await other.close()
    report = await _expected(conn, rifle, stolen, "stolen")
    assert await _notices_to(conn, "DE") == [("item.reported-missing", report)] * 2


async def test_a_partner_disabled_and_enabled_among_random_events_ends_with_each_report_as_it_is_here(
    conn: db.Conn,
) -> None:
    """80 seeded runs of 14 steps on one rifle each: a loss, theft, recovery or seizure the item allows, a correction
    of any earlier event (refused ones included), or the partner disabled or enabled; enabled at the end. Then, at
    the partner, every report it was queued ends with a report exactly when it is open here, the open one was sent,
    and no withdrawal was queued twice in a row."""
    await trust_cz_and_de(conn)
    rng = random.Random(4848)  # noqa: S311 - repeatable test cases, nothing secret
    found: list[tuple[int, str, int, list[str]]] = []
    corrected = 0
    for run in range(80):
        rifle = await register_firearm(conn, f"RND-{run}")
        enabled, steps = True, []
        for _ in range(14):
            item = await item_store.get_item(conn, rifle)
            assert item is not None
            events = await item_store.list_item_event_kinds(conn, rifle)
            allowed = [
                e for e in lifecycle.allowed_events(item["status"]) if e in ("lost", "stolen", "recovered", "seized")
            ]
            draw = rng.random()
            try:
                if draw < 0.3:
                    enabled = not enabled
                    await _enable(conn, "DE", enabled=enabled)
                    steps.append("enabled" if enabled else "disabled")
                elif events and draw < 0.55:
                    target = rng.choice(events)
                    await _event(conn, rifle, "corrected", corrects_event_id=target["event_id"], reason="mistaken")
                    steps.append(f"corrected {target['event']} {target['event_id']}")
                    corrected += 1
                elif allowed:
                    kind = rng.choice(allowed)
                    steps.append(f"{kind} {await _event(conn, rifle, kind)}")
            except FirearmsError:
                steps.append("refused")
        if not enabled:
            await _enable(conn, "DE", enabled=True)
        found += [(run, why, report, steps) for why, report in await _misjudged_at_de(conn, rifle)]
    assert corrected > 50
    assert found == []


async def _misjudged_at_de(conn: db.Conn, rifle: int) -> list[tuple[str, int]]:
    """What DE's queue gets wrong about the rifle's reports: (what, report id)."""
    item = await item_store.get_item(conn, rifle)
    assert item is not None
    events = await item_store.list_item_event_kinds(conn, rifle)
    now = reports.open_report(item["status"], events)
    ids = {event["event_id"] for event in events}
    wrong: list[tuple[str, int]] = []
    latest: dict[int, str] = {}
    for notice, body in await _notices_to(conn, "DE"):
        report = int(body["report_id"])
        if report not in ids:
            continue
        if notice == latest.get(report) == reports.REPORT_WITHDRAWN:
            wrong.append(("withdrawn twice", report))
        latest[report] = notice
    for report, notice in latest.items():
        if (notice == reports.REPORTED_MISSING) != (now is not None and now["event_id"] == report):
            wrong.append((f"ends {notice}", report))
    if now is not None and now["event_id"] not in latest:
        wrong.append(("never sent", now["event_id"]))
    return wrong
