from __future__ import annotations

import asyncio
import datetime as dt
import time
from zoneinfo import ZoneInfo

import msgspec
import pytest

from firearms import bootstrap, checks, consents, db, licence_reads, licence_versions, licence_views, licences
from firearms.canonical import format_time
from firearms.check_rules import CheckRequest
from firearms.errors import ConflictError
from firearms.licence_timers import run_licence_timers
from firearms.settings import Settings
from firearms.worker import run_worker
from tests.check_helpers import check_body
from tests.exchange_util import trust_cz_and_de
from tests.licensing_helpers import ACTOR, TODAY, export_draft, issued_export, register_parties
from tests.races import race


async def _pending_export(conn: db.Conn, settings: Settings) -> licence_views.Licence:
    p = await register_parties(conn)
    async with conn.transaction():
        lic = await licence_versions.create_draft(conn, export_draft(p), settings=settings, actor=ACTOR)
        return await licences.transition(
            conn, licence_id=lic.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )


async def _requested_on(conn: db.Conn, day: dt.date) -> None:
    # The request is dated today (in the registry's time zone); move it back to exercise the silent period.
    await conn.execute("UPDATE transit_consent_request SET requested_on = $1", day)


async def test_silence_becomes_deemed_consent_after_twenty_working_days(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await _pending_export(conn, settings)
    friday = dt.date(2026, 11, 27)
    await _requested_on(conn, friday)
    holiday = dt.date(2026, 12, 8)
    settings = msgspec.structs.replace(settings, holidays=(holiday,))
    due = dt.date(2026, 12, 28)  # 20 working days after Friday 27 Nov, 8 Dec not counted; 26-27 Dec a weekend
    # The 20th working day is within the period ("no objection received within 20 working days", Reg. 258/2012
    # Art. 7(2)): CZ may still object all that day. Before, its silence was deemed consent at that day's first minute.
    assert await run_licence_timers(conn, settings, today=due) == (0, 0)
    assert await consents.latest_decisions(conn, lic.licence_id) == {}
    day_after = due + dt.timedelta(days=1)
    assert await run_licence_timers(conn, settings, today=day_after) == (0, 1)
    deemed = (await consents.latest_decisions(conn, lic.licence_id))["CZ"]
    assert (deemed.decision, deemed.decided_on, deemed.source) == ("deemed", due, "timer")  # dated the period's end
    assert await run_licence_timers(conn, settings, today=day_after) == (0, 0)
    async with conn.transaction():
        issued = await licences.transition(
            conn, licence_id=lic.licence_id, to="issued", actor=ACTOR, reason="deemed consent", settings=settings
        )
    assert issued.status == "issued"


async def test_no_deemed_consent_where_policy_refuses_it(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await _pending_export(conn, settings)
    await _requested_on(conn, TODAY - dt.timedelta(days=60))
    refused_by_cz = msgspec.structs.replace(settings, tacit_consent_refused_by=("CZ",))
    assert await run_licence_timers(conn, refused_by_cz) == (0, 0)
    no_tacit = msgspec.structs.replace(settings, tacit_consent=False)
    assert await run_licence_timers(conn, no_tacit) == (0, 0)
    with pytest.raises(ConflictError) as caught:
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=lic.licence_id, to="issued", actor=ACTOR, reason="x", settings=no_tacit
            )
    assert [gate["gate"] for gate in caught.value.facts["unmet"]] == ["transit-consent-missing"]
    assert (await licence_reads.get_licence(conn, lic.licence_id)).status == "pending"
    # with tacit consent allowed, issuing deems the consent itself (no need to wait for the timer)
    async with conn.transaction():
        issued = await licences.transition(
            conn, licence_id=lic.licence_id, to="issued", actor=ACTOR, reason="x", settings=settings
        )
    assert issued.status == "issued"


async def test_expiry_timer_expires_issued_and_suspended_licences(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    first = await issued_export(conn, settings, p, expires_on=TODAY + dt.timedelta(days=1))
    second = await issued_export(conn, settings, p, expires_on=TODAY + dt.timedelta(days=3))
    async with conn.transaction():
        await licences.transition(conn, licence_id=first.licence_id, to="suspended", actor=ACTOR, reason="inquiry")
    assert await run_licence_timers(conn, settings, today=TODAY + dt.timedelta(days=1)) == (0, 0)
    assert await run_licence_timers(conn, settings, today=TODAY + dt.timedelta(days=2)) == (1, 0)
    assert (await licence_reads.get_licence(conn, first.licence_id)).status == "expired"
    assert (await licence_reads.get_licence(conn, second.licence_id)).status == "issued"
    events = await licence_reads.list_events(conn, first.licence_id, after=0, limit=10)
    assert (events[-1].from_status, events[-1].to_status, events[-1].actor) == (
        "suspended",
        "expired",
        "system:expiry-timer",
    )


async def test_worker_expires_licences_by_itself(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    # the licence's last day passes: move its validity back (the licence row is not a record)
    await conn.execute(
        "UPDATE licence SET valid_from = $1, expires_on = $1 WHERE licence_id = $2",
        TODAY - dt.timedelta(days=2),
        lic.licence_id,
    )
    pool = await db.create_pool(database, max_size=2)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(pool, msgspec.structs.replace(settings, seal_interval=0.05), stop))
    try:
        deadline = time.monotonic() + 10
        while (await licence_reads.get_licence(conn, lic.licence_id)).status != "expired":
            assert time.monotonic() < deadline, "the worker did not expire the licence"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await worker
        await pool.close()


async def test_amending_a_pending_licence_restarts_the_silent_period(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    async with conn.transaction():
        lic = await licence_versions.create_draft(conn, export_draft(p), settings=settings, actor=ACTOR)
        await licences.transition(
            conn, licence_id=lic.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )
    await _requested_on(conn, TODAY - dt.timedelta(days=60))
    assert await run_licence_timers(conn, settings) == (0, 1)
    assert (await consents.latest_decisions(conn, lic.licence_id))["CZ"].licence_version == 1
    async with conn.transaction():
        await licence_versions.amend(
            conn,
            lic.licence_id,
            export_draft(p, reason="longer validity", expires_on=TODAY + dt.timedelta(days=320)),
            settings=settings,
            actor=ACTOR,
        )
    (request,) = await consents.list_requests(conn, lic.licence_id)
    assert (request.licence_version, request.requested_on) == (2, TODAY)
    # CZ's deemed consent was to version 1: silence about version 2 counts from the new request only.
    with pytest.raises(ConflictError) as caught:
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=lic.licence_id, to="issued", actor=ACTOR, reason="x", settings=settings
            )
    assert [gate["gate"] for gate in caught.value.facts["unmet"]] == ["transit-consent-outdated"]
    due = consents.add_working_days(TODAY, settings.tacit_consent_days, settings.holidays)
    # The last working day of the period is still within it (Art. 7(2)): CZ may object all that day.
    assert await run_licence_timers(conn, settings, today=due) == (0, 0)
    assert await run_licence_timers(conn, settings, today=due + dt.timedelta(days=1)) == (0, 1)
    deemed = (await consents.latest_decisions(conn, lic.licence_id))["CZ"]
    assert (deemed.decision, deemed.decided_on, deemed.licence_version) == ("deemed", due, 2)


async def test_requests_the_policy_never_deems_do_not_hold_back_the_later_ones(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # The timer read the oldest undecided requests, a batch at a time, and skipped those of a transit State whose
    # policy refuses tacit consent: such requests stay undecided as long as their licence stays a draft, pending or
    # suspended, so once a batch's worth had gathered over the years, the timer read only them on every pass and
    # no later request was ever deemed.
    p = await register_parties(conn)
    refused = msgspec.structs.replace(settings, tacit_consent_refused_by=("CZ",))
    async with conn.transaction():
        via_cz = await licence_versions.create_draft(conn, export_draft(p), settings=settings, actor=ACTOR)
        via_sk = await licence_versions.create_draft(
            conn, export_draft(p, route=["AT", "SK", "DE"]), settings=settings, actor=ACTOR
        )
        for lic in (via_cz, via_sk):
            await licences.transition(
                conn, licence_id=lic.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
            )
    await conn.execute(
        "UPDATE transit_consent_request SET requested_on = $1 WHERE transit_state = 'CZ'", TODAY - dt.timedelta(days=90)
    )
    await conn.execute(
        "UPDATE transit_consent_request SET requested_on = $1 WHERE transit_state = 'SK'", TODAY - dt.timedelta(days=60)
    )
    async with conn.transaction():
        assert await consents.deem_silent(conn, settings=refused, today=TODAY, limit=1) == 1
    assert await consents.latest_decisions(conn, via_cz.licence_id) == {}
    assert (await consents.latest_decisions(conn, via_sk.licence_id))["SK"].decision == "deemed"


async def _expiry_notices(conn: db.Conn) -> list[tuple[str, str, str]]:
    rows = await conn.fetch(
        "SELECT recipient, body FROM notice_outbox WHERE type = 'licence.status-changed' ORDER BY created_at, recipient"
    )
    return [(row["recipient"], row["body"]["status"], row["body"]["effective_at"]) for row in rows]


async def test_two_timer_passes_at_once_expire_a_licence_and_tell_partners_exactly_once(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # Two workers (or a worker and its restart) run the expiry at the same time: the second waits for the
    # licence's lock, reads it expired and leaves it; a later pass finds nothing.
    await trust_cz_and_de(conn)
    lic = await issued_export(conn, settings, await register_parties(conn), expires_on=TODAY)
    day_after = TODAY + dt.timedelta(days=1)
    first, second = await race(
        database, lambda c: licences.expire_due(c, today=day_after), lambda c: licences.expire_due(c, today=day_after)
    )
    assert (first, second) == (1, 0)
    assert await run_licence_timers(conn, settings, today=day_after) == (0, 0)
    assert [(state, status) for state, status, _ in await _expiry_notices(conn)] == [
        ("CZ", "expired"),
        ("DE", "expired"),
    ]
    events = await licence_reads.list_events(conn, lic.licence_id, after=0, limit=10)
    assert [event.to_status for event in events].count("expired") == 1
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'licence.expired'") == 1


async def test_a_check_racing_the_expiry_timer_is_refused_either_way(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    parties = await register_parties(conn)
    lic = await issued_export(conn, settings, parties, expires_on=TODAY)
    day_after = TODAY + dt.timedelta(days=1)
    noon = dt.datetime.combine(day_after, dt.time(12), tzinfo=dt.UTC)

    async def check(c: db.Conn) -> list[str]:
        body = check_body("export", licence_number=lic.licence.number, crossing_point="AT-Wullowitz")
        answer = await checks.perform_check(
            c, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at", now=noon
        )
        assert answer.licence is not None
        return [answer.licence.status, answer.verdict, *(reason.code for reason in answer.reasons)]

    # the check first: the licence is still issued, and its last day is past
    answer, expired = await race(database, check, lambda c: licences.expire_due(c, today=day_after))
    assert (answer, expired) == (["issued", "refuse", "licence-expired"], 1)
    # the timer first: the check waits for it and reads the licence expired (one reason, not two)
    lic = await issued_export(conn, settings, parties, expires_on=TODAY)
    expired, answer = await race(database, lambda c: licences.expire_due(c, today=day_after), check)
    assert (expired, answer) == (1, ["expired", "refuse", "licence-expired"])


async def test_an_expiry_notice_says_when_the_licence_stopped_being_valid(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # The worker was stopped for a few days: the licence expired at midnight in Vienna after its last day, not
    # when the timer ran again, and partners are told that moment (their records show it as the change's time).
    await trust_cz_and_de(conn)
    vienna = msgspec.structs.replace(settings, time_zone=ZoneInfo("Europe/Vienna"))
    lic = await issued_export(conn, settings, await register_parties(conn))
    last_day = TODAY - dt.timedelta(days=3)
    await conn.execute(
        "UPDATE licence SET valid_from = $1, expires_on = $1 WHERE licence_id = $2", last_day, lic.licence_id
    )
    assert await run_licence_timers(conn, vienna) == (1, 0)
    midnight = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo("Europe/Vienna"))
    assert await _expiry_notices(conn) == [
        ("CZ", "expired", format_time(midnight.astimezone(dt.UTC))),
        ("DE", "expired", format_time(midnight.astimezone(dt.UTC))),
    ]
