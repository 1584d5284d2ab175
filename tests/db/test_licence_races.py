"""Two different operations racing on one licence, each interleaving forced with a row lock.

The first writer holds its lock in an open transaction; the second is started and observed waiting
on that lock (``pg_stat_activity``) before the first goes on and commits. So each test runs exactly
the interleaving it names, every time, without sleeps standing in for synchronisation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from firearms import (
    bootstrap,
    check_decisions,
    check_records,
    checks,
    clock,
    consents,
    db,
    item_events,
    licence_reads,
    licence_versions,
    licence_views,
    licences,
    parties,
    received,
)
from firearms.check_rules import CheckRequest
from firearms.errors import ConflictError
from firearms.item_types import ItemEvent, NewEvent
from firearms.licence_rules import DraftLine
from firearms.settings import Settings
from tests.check_helpers import at_licence, check_body, de_authorisation, register_firearm, register_stolen
from tests.licensing_helpers import ACTOR, LINES, TODAY, Parties, export_draft, issued_export, register_parties
from tests.races import blocked_on_lock, race

UTC = ZoneInfo("UTC")
Work = Callable[[db.Conn], Awaitable[Any]]


async def interleave(database: str, first_lock: Work, second_work: Work, first_rest: Work) -> tuple[Any, Any]:
    """``first_lock`` takes a lock; ``second_work`` is seen waiting on it; ``first_rest`` runs and commits.

    Returns the first writer's result and the second's result or the exception it raised.
    """
    first, second, observer = await db.connect(database), await db.connect(database), await db.connect(database)
    try:
        transaction = first.transaction()
        await transaction.start()
        await first_lock(first)

        async def in_transaction() -> Any:
            async with second.transaction():
                return await second_work(second)

        pending = asyncio.create_task(in_transaction())
        try:
            await blocked_on_lock(observer, second.get_server_pid())
            first_result = await first_rest(first)
        except BaseException:
            await transaction.rollback()
            await asyncio.gather(pending, return_exceptions=True)
            raise
        await transaction.commit()
        outcome: tuple[Any, ...] = await asyncio.gather(pending, return_exceptions=True)
        return first_result, outcome[0]
    finally:
        for conn in (first, second, observer):
            await conn.close()


def lock_licence(licence_id: uuid.UUID) -> Work:
    """What :func:`firearms.licences.transition` and :func:`firearms.licence_versions.amend` do first."""

    async def work(conn: db.Conn) -> None:
        await conn.execute("SELECT 1 FROM licence WHERE licence_id = $1 FOR UPDATE", licence_id)

    return work


def export_check(number: str, lines: list[dict[str, Any]]) -> Work:
    async def work(conn: db.Conn) -> check_records.CheckAnswer:
        request = msgspec.convert(
            check_body("export", lines=lines, licence_number=number, crossing_point="AT-Wullowitz"), CheckRequest
        )
        return await checks.perform_check(conn, request, state="AT", time_zone=UTC, actor="customs:at")

    return work


def move(licence_id: uuid.UUID, to: licence_views.LicenceStatus, settings: Settings, **options: Any) -> Work:
    async def work(conn: db.Conn) -> licence_views.Licence:
        return await licences.transition(
            conn, licence_id=licence_id, to=to, actor=ACTOR, reason="race", settings=settings, **options
        )

    return work


def amend_line_2(licence_id: uuid.UUID, p: Parties, settings: Settings, quantity: int, **changes: Any) -> Work:
    lines = [DraftLine(**msgspec.structs.asdict(line)) for line in LINES]
    lines[1] = msgspec.structs.replace(lines[1], quantity=quantity)

    async def work(conn: db.Conn) -> licence_views.Licence:
        draft = export_draft(p, lines=lines, reason=f"line 2 to {quantity}", **changes)
        return await licence_versions.amend(conn, licence_id, draft, settings=settings, actor=ACTOR)

    return work


async def next_second() -> None:
    """Wait (deadline 3 s) until the wall clock has moved into the next whole second."""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    deadline = asyncio.get_running_loop().time() + 3
    while dt.datetime.now(dt.UTC).replace(microsecond=0) == start:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)


async def debited(conn: db.Conn, licence_id: uuid.UUID) -> int:
    return int(
        await conn.fetchval("SELECT coalesce(sum(quantity), 0) FROM ledger_entry WHERE licence_id = $1", licence_id)
    )


async def actions(conn: db.Conn) -> list[str]:
    """The journal's actions in entry order, without the exchange's notes on notices (no partner is set up)."""
    rows = await conn.fetch("SELECT action FROM journal_entry WHERE action NOT LIKE 'notice.%' ORDER BY entry_id")
    return [row[0] for row in rows]


async def last_event_at(conn: db.Conn, licence_id: uuid.UUID, to: str) -> dt.datetime:
    at: dt.datetime = await conn.fetchval(
        "SELECT max(occurred_at) FROM licence_event WHERE licence_id = $1 AND to_status = $2", licence_id, to
    )
    return at


async def recorded_at(conn: db.Conn, check_id: uuid.UUID) -> dt.datetime:
    at: dt.datetime = await conn.fetchval("SELECT checked_at FROM customs_check WHERE check_id = $1", check_id)
    return at


@pytest.mark.parametrize("to", ["suspended", "revoked"])
async def test_a_check_behind_a_suspension_is_refused_and_dated_after_it(
    to: licence_views.LicenceStatus,
    database: str,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    _, answer = await interleave(
        database,
        lock_licence(licence.licence_id),
        export_check(licence.licence.number, [{"line": 2, "quantity": 300}]),
        move(licence.licence_id, to, settings),
    )
    assert isinstance(answer, check_records.CheckAnswer)
    assert (answer.verdict, [reason.code for reason in answer.reasons]) == ("refuse", [f"licence-{to}"])
    assert await debited(conn, licence.licence_id) == 0
    # the check saw the suspension: it is recorded after it, not at the moment it started waiting
    changed = await last_event_at(conn, licence.licence_id, to)
    assert await recorded_at(conn, answer.check_id) >= changed
    assert answer.checked_at >= changed.replace(microsecond=0)
    assert (await actions(conn))[-2:] == [f"licence.{to}", "check.recorded"]


@pytest.mark.parametrize("to", ["suspended", "revoked"])
async def test_a_suspension_behind_a_clearing_check_comes_after_the_debit(
    to: licence_views.LicenceStatus,
    database: str,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    answer, moved = await race(
        database,
        export_check(licence.licence.number, [{"line": 2, "quantity": 300}]),
        move(licence.licence_id, to, settings),
    )
    assert answer.verdict == "clear"
    assert moved.status == to
    assert await debited(conn, licence.licence_id) == 300
    assert await last_event_at(conn, licence.licence_id, to) >= await recorded_at(conn, answer.check_id)
    assert (await actions(conn))[-2:] == ["check.recorded", f"licence.{to}"]


async def test_a_check_behind_a_reinstatement_clears_dated_after_it(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    async with conn.transaction():
        await move(licence.licence_id, "suspended", settings)(conn)
    _, answer = await interleave(
        database,
        lock_licence(licence.licence_id),
        export_check(licence.licence.number, [{"line": 2, "quantity": 300}]),
        move(licence.licence_id, "issued", settings, only_from=frozenset({"suspended"})),
    )
    assert isinstance(answer, check_records.CheckAnswer)
    assert answer.verdict == "clear"
    assert await debited(conn, licence.licence_id) == 300
    # a dispatch dated while the licence was still suspended would contradict the status history
    reinstated = await last_event_at(conn, licence.licence_id, "issued")
    assert await recorded_at(conn, answer.check_id) >= reinstated
    assert answer.checked_at >= reinstated.replace(microsecond=0)


async def test_a_check_behind_an_amendment_that_lowers_a_line_sees_the_new_quantity(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    licence = await issued_export(conn, settings, p)
    amended, answer = await race(
        database,
        amend_line_2(licence.licence_id, p, settings, 100),
        export_check(licence.licence.number, [{"line": 2, "quantity": 300}]),
    )
    assert amended.licence.version == 2
    assert answer.verdict == "refuse"
    assert [reason.code for reason in answer.reasons] == ["quantity-exceeds-balance"]
    assert await debited(conn, licence.licence_id) == 0


async def test_an_amendment_behind_a_check_cannot_go_below_its_debit(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    licence = await issued_export(conn, settings, p)
    with pytest.raises(ConflictError) as caught:
        await race(
            database,
            export_check(licence.licence.number, [{"line": 2, "quantity": 300}]),
            amend_line_2(licence.licence_id, p, settings, 100),
        )
    assert caught.value.code == "quantity-below-debited"
    assert caught.value.facts["debited"] == 300
    assert await debited(conn, licence.licence_id) == 300
    assert await conn.fetchval("SELECT version FROM licence WHERE licence_id = $1", licence.licence_id) == 1
    assert await conn.fetchval("SELECT quantity FROM licence_line WHERE line = 2") == 800


async def test_two_amendments_from_one_version_one_wins_the_other_is_told_the_version_moved(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    licence = await issued_export(conn, settings, p)
    with pytest.raises(ConflictError) as caught:
        await race(
            database,
            amend_line_2(licence.licence_id, p, settings, 700, base_version=1),
            amend_line_2(licence.licence_id, p, settings, 600, base_version=1),
        )
    assert caught.value.code == "version-moved"
    assert caught.value.facts == {"version": 2, "base_version": 1}
    versions = [row[0] for row in await conn.fetch("SELECT version FROM licence_version ORDER BY version")]
    assert versions == [1, 2]
    assert await conn.fetchval("SELECT quantity FROM licence_line WHERE line = 2") == 700


async def test_two_amendments_without_a_base_version_are_applied_one_after_the_other(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    licence = await issued_export(conn, settings, p)
    first, second = await race(
        database,
        amend_line_2(licence.licence_id, p, settings, 700),
        amend_line_2(licence.licence_id, p, settings, 600),
    )
    assert (first.licence.version, second.licence.version) == (2, 3)
    versions = [row[0] for row in await conn.fetch("SELECT version FROM licence_version ORDER BY version")]
    assert versions == [1, 2, 3]
    assert await conn.fetchval("SELECT quantity FROM licence_line WHERE line = 2") == 600


async def pending_export(conn: db.Conn, settings: Settings) -> licence_views.Licence:
    async with conn.transaction():
        lic = await licence_versions.create_draft(
            conn, export_draft(await register_parties(conn)), settings=settings, actor=ACTOR
        )
        return await licences.transition(
            conn, licence_id=lic.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )


def decision_of_cz(licence_id: uuid.UUID, decision: consents.Decision) -> Work:
    async def work(conn: db.Conn) -> consents.TransitConsent:
        return await consents.record_decision(
            conn,
            licence_id=licence_id,
            transit_state="CZ",
            decision=decision,
            decided_on=TODAY,
            valid_until=None,
            reason="route closed" if decision == "objection" else None,
            source="officer",
            today=TODAY,
            actor="officer:cz",
            licence_version=1,
        )

    return work


async def test_issuing_behind_a_committed_objection_is_refused(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await pending_export(conn, settings)
    with pytest.raises(ConflictError) as caught:
        await race(
            database,
            decision_of_cz(licence.licence_id, "objection"),
            move(licence.licence_id, "issued", settings),
        )
    assert caught.value.code == "gates-unmet"
    assert [gate["gate"] for gate in caught.value.facts["unmet"]] == ["transit-consent-objected"]
    assert await conn.fetchval("SELECT status FROM licence") == "pending"


async def test_an_objection_behind_issuing_is_recorded_after_it(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await pending_export(conn, settings)
    async with conn.transaction():
        await decision_of_cz(licence.licence_id, "no-objection")(conn)
    issued, objection = await race(
        database,
        move(licence.licence_id, "issued", settings),
        decision_of_cz(licence.licence_id, "objection"),
    )
    assert issued.status == "issued"
    assert objection.decision == "objection"
    assert (await actions(conn))[-2:] == ["licence.issued", "transit-consent.objection"]


async def held_check(conn: db.Conn, number: str) -> check_records.CheckAnswer:
    """An exit check held for a reported rifle (a person decides): one rifle and 500 cartridges."""
    await register_stolen(conn, "SSG08-001")
    async with conn.transaction():
        answer: check_records.CheckAnswer = await export_check(
            number, [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 500}]
        )(conn)
    assert answer.verdict == "hold"
    return answer


def decide(check_id: uuid.UUID, decision: check_records.Decision) -> Work:
    async def work(conn: db.Conn) -> check_records.CheckRecord:
        return await check_decisions.decide(
            conn, check_id, decision, f"{decision} by the race", state="AT", time_zone=UTC, actor="customs:at"
        )

    return work


async def test_a_release_and_a_refusal_of_one_held_check_one_wins(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    held = await held_check(conn, licence.licence.number)
    with pytest.raises(ConflictError) as caught:
        await race(database, decide(held.check_id, "release"), decide(held.check_id, "refuse"))
    assert caught.value.code == "check-not-held"
    assert await conn.fetchval("SELECT decision FROM check_decision") == "release"
    assert await debited(conn, licence.licence_id) == 501


async def test_a_release_behind_a_check_that_took_the_balance_is_refused(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    held = await held_check(conn, licence.licence.number)
    with pytest.raises(ConflictError) as caught:
        await race(
            database,
            export_check(licence.licence.number, [{"line": 2, "quantity": 500}]),
            decide(held.check_id, "release"),
        )
    assert caught.value.code == "quantity-exceeds-balance"
    assert caught.value.facts == {"line": 2, "remaining": 300}
    assert await debited(conn, licence.licence_id) == 500
    assert await conn.fetchval("SELECT count(*) FROM check_decision") == 0


async def test_a_check_behind_a_release_sees_the_balance_it_took(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    held = await held_check(conn, licence.licence.number)
    released, answer = await race(
        database,
        decide(held.check_id, "release"),
        export_check(licence.licence.number, [{"line": 2, "quantity": 500}]),
    )
    assert released.decision == "release"
    assert answer.verdict == "refuse"
    assert [reason.code for reason in answer.reasons] == ["quantity-exceeds-balance"]
    assert await debited(conn, licence.licence_id) == 501


async def test_a_release_behind_a_suspension_is_refused(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    held = await held_check(conn, licence.licence.number)
    _, outcome = await interleave(
        database,
        lock_licence(licence.licence_id),
        decide(held.check_id, "release"),
        move(licence.licence_id, "suspended", settings),
    )
    assert isinstance(outcome, ConflictError)
    assert outcome.code == "licence-not-usable"
    assert await debited(conn, licence.licence_id) == 0
    assert await conn.fetchval("SELECT count(*) FROM check_decision") == 0


async def test_a_release_behind_a_reinstatement_is_dated_after_it(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    held = await held_check(conn, licence.licence.number)
    async with conn.transaction():
        await move(licence.licence_id, "suspended", settings)(conn)
    reinstate = move(licence.licence_id, "issued", settings, only_from=frozenset({"suspended"}))

    async def reinstate_in_the_next_second(conn: db.Conn) -> Any:
        # a decision is dated in whole seconds: the reinstatement goes into a later second than the
        # release's arrival, so a release dated on arrival is seen to come before it
        await next_second()
        return await reinstate(conn)

    _, released = await interleave(
        database, lock_licence(licence.licence_id), decide(held.check_id, "release"), reinstate_in_the_next_second
    )
    assert isinstance(released, check_records.CheckRecord)
    assert released.decision == "release"
    assert await debited(conn, licence.licence_id) == 501
    reinstated = await last_event_at(conn, licence.licence_id, "issued")
    assert released.decided_at is not None
    assert released.decided_at >= reinstated.replace(microsecond=0)


def report_stolen(item_id: int) -> Work:
    async def work(conn: db.Conn) -> ItemEvent:
        return await item_events.record_event(
            conn, item_id, NewEvent(event="stolen", occurred_on=TODAY), actor="police", today=TODAY
        )

    return work


def lock_item(item_id: int) -> Work:
    """What :func:`firearms.item_events.record_event` does first."""

    async def work(conn: db.Conn) -> None:
        await conn.execute("SELECT 1 FROM item WHERE item_id = $1 FOR UPDATE", item_id)

    return work


RIFLE = [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}]


async def test_a_check_behind_a_stolen_report_in_flight_holds_the_serial(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    item_id = await register_firearm(conn, "SSG08-001")
    _, answer = await interleave(
        database, lock_item(item_id), export_check(licence.licence.number, RIFLE), report_stolen(item_id)
    )
    assert isinstance(answer, check_records.CheckAnswer)
    assert (answer.verdict, [reason.code for reason in answer.reasons]) == ("hold", ["item-reported-lost-or-stolen"])
    assert await debited(conn, licence.licence_id) == 0
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0
    assert (await actions(conn))[-2:] == ["item.stolen", "check.recorded"]


async def test_a_stolen_report_behind_a_clearing_check_comes_after_it(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    item_id = await register_firearm(conn, "SSG08-001")
    answer, event = await race(database, export_check(licence.licence.number, RIFLE), report_stolen(item_id))
    assert answer.verdict == "clear"
    assert event.status_after == "stolen"
    assert await debited(conn, licence.licence_id) == 1
    assert (await actions(conn))[-2:] == ["check.recorded", "item.stolen"]


def suspend_party(party_id: uuid.UUID) -> Work:
    async def work(conn: db.Conn) -> parties.Party:
        change = parties.StatusChange(status="suspended", reason="registration under review")
        return await parties.change_party_status(conn, party_id, change, actor=ACTOR)

    return work


def lock_party(party_id: uuid.UUID) -> Work:
    """What :func:`firearms.parties.change_party_status` does first."""

    async def work(conn: db.Conn) -> None:
        await conn.execute("SELECT 1 FROM party WHERE party_id = $1 FOR UPDATE", party_id)

    return work


async def consented_pending_export(conn: db.Conn, settings: Settings) -> tuple[licence_views.Licence, uuid.UUID]:
    """A pending export licence CZ consented to, and its exporter."""
    licence = await pending_export(conn, settings)
    async with conn.transaction():
        await decision_of_cz(licence.licence_id, "no-objection")(conn)
    exporter: uuid.UUID = await conn.fetchval(
        "SELECT exporter_id FROM licence_version WHERE licence_id = $1", licence.licence_id
    )
    return licence, exporter


async def test_issuing_behind_a_party_suspension_in_flight_is_refused(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence, exporter = await consented_pending_export(conn, settings)
    _, outcome = await interleave(
        database, lock_party(exporter), move(licence.licence_id, "issued", settings), suspend_party(exporter)
    )
    assert isinstance(outcome, ConflictError)
    assert outcome.code == "gates-unmet"
    assert [gate["gate"] for gate in outcome.facts["unmet"]] == ["party-not-active"]
    assert await conn.fetchval("SELECT status FROM licence") == "pending"


async def test_a_party_suspension_behind_issuing_comes_after_it(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence, exporter = await consented_pending_export(conn, settings)
    issued, party = await race(database, move(licence.licence_id, "issued", settings), suspend_party(exporter))
    assert issued.status == "issued"
    assert party.status == "suspended"
    assert (await actions(conn))[-2:] == ["licence.issued", "party.suspended"]


async def test_issuing_behind_a_revocation_of_the_import_authorisation_in_flight_is_refused(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence, _ = await consented_pending_export(conn, settings)
    # DE's import authorisation as stored on receipt of DE's notice; DE's revocation of it is in flight
    authorisation = uuid.uuid4()
    await conn.execute(
        """INSERT INTO licence (licence_id, issuing_state, number, kind, origin, status, version, valid_from,
                                expires_on, exporting_state, importing_state, transit_states, created_at,
                                created_by, updated_at)
           VALUES ($1, 'DE', 'DE-IMP-2026-42', 'import', 'received', 'issued', 1, $2, $3, 'AT', 'DE', '{CZ}',
                   now(), 'notice', now())""",
        authorisation,
        TODAY - dt.timedelta(days=5),
        TODAY + dt.timedelta(days=360),
    )

    async def revoke_authorisation(conn: db.Conn) -> None:
        await conn.execute("UPDATE licence SET status = 'revoked' WHERE licence_id = $1", authorisation)

    _, outcome = await interleave(
        database, lock_licence(authorisation), move(licence.licence_id, "issued", settings), revoke_authorisation
    )
    assert isinstance(outcome, ConflictError)
    assert outcome.code == "gates-unmet"
    assert [(gate["gate"], gate["state"]) for gate in outcome.facts["unmet"]] == [
        ("import-authorisation-not-valid", "DE")
    ]
    assert await conn.fetchval("SELECT status FROM licence WHERE licence_id = $1", licence.licence_id) == "pending"


async def test_a_check_that_waited_for_the_lock_past_midnight_reads_again_for_the_new_day(
    database: str, conn: db.Conn
) -> None:
    # CZ's no-objection runs to the end of day D. A transit check asked on D waited for the licence's lock
    # (a status change, an amendment) until after midnight: it is dated D+1 and its context read again for
    # D+1, where the consent is over. Read once, it judged the consent on D and cleared. No clock is faked:
    # the registry's zone is a fixed offset whose midnight falls a second after the check starts (the zone is
    # chosen as the check starts, so a slow set-up cannot eat the margin). D is then yesterday in UTC.
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    licence = at_licence(valid_from=day - dt.timedelta(days=5), expires_on=day + dt.timedelta(days=300))
    async with conn.transaction():
        stored = await received.record_received(conn, licence, registry_state="CZ", actor="peer:AT")
        await consents.record_decision(
            conn,
            licence_id=stored.licence_id,
            transit_state="CZ",
            decision="no-objection",
            decided_on=day - dt.timedelta(days=1),
            valid_until=day,
            reason=None,
            source="officer",
            actor=ACTOR,
            today=day,
            licence_version=1,
        )
    request = msgspec.convert(check_body(lines=[{"line": 2, "quantity": 1}]), CheckRequest)
    zones: list[dt.tzinfo] = []

    async def transit_check(conn: db.Conn) -> check_records.CheckAnswer:
        # midnight on a whole second, as in a real zone: the answer's checked_at has whole seconds
        midnight = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)).replace(microsecond=0)
        zone = dt.timezone(-(midnight - midnight.replace(hour=0, minute=0, second=0)))
        assert clock.local_date(dt.datetime.now(dt.UTC), zone) == day, "run across midnight UTC: run it again"
        zones.append(zone)
        return await checks.perform_check(conn, request, state="CZ", time_zone=zone, actor="customs:cz")

    async def past_midnight(conn: db.Conn) -> None:
        # the check was seen waiting before midnight: its first read was for D
        (zone,) = zones
        assert clock.local_date(dt.datetime.now(dt.UTC), zone) == day, "too slow: the check started after midnight"
        deadline = asyncio.get_running_loop().time() + 5
        while clock.local_date(dt.datetime.now(dt.UTC), zone) == day:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)

    _, answer = await interleave(database, lock_licence(stored.licence_id), transit_check, past_midnight)
    assert isinstance(answer, check_records.CheckAnswer), answer
    assert clock.local_date(answer.checked_at, zones[0]) == day + dt.timedelta(days=1)
    assert (answer.verdict, [reason.code for reason in answer.reasons]) == ("refuse", ["transit-consent-missing"])
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0


async def test_a_partner_licence_received_twice_at_once_is_stored_once(
    database: str, conn: db.Conn, initialised: bootstrap.Initialised
) -> None:
    # No request reaches licence-number-taken: local numbers come from the locked licence_counter row, and a
    # partner's licence arrives only by its issuing State's notices, which the inbox applies one at a time per
    # sender. The constraint's translation guards a writer outside that lock; here two take the same new licence.
    licence = at_licence(status="pending", issued_at=None)

    async def receive(c: db.Conn) -> licence_views.Licence:
        return await received.record_received(c, licence, registry_state="CZ", actor="peer:AT")

    async def nothing_more(c: db.Conn) -> None:
        return None

    before = await actions(conn)
    _, second = await interleave(database, receive, receive, nothing_more)
    assert (await licence_reads.find_licence(conn, "AT", licence.number)).licence == licence
    assert isinstance(second, ConflictError)
    assert second.code == "licence-number-taken"
    assert second.facts == {"number": licence.number, "issuing_state": "AT"}
    assert await conn.fetchval("SELECT count(*) FROM licence") == 1
    assert await conn.fetchval("SELECT count(*) FROM licence_version") == 1
    assert await actions(conn) == [*before, "licence.received"]


async def received_authorisation(conn: db.Conn) -> uuid.UUID:
    """DE's import authorisation as AT stores it on receipt of DE's notice (the one AT's licences name); its id."""
    async with conn.transaction():
        return (
            await received.record_received(conn, de_authorisation(), registry_state="AT", actor="peer:DE")
        ).licence_id


@pytest.mark.parametrize("to", ["suspended", "revoked"])
async def test_an_exit_check_behind_a_withdrawal_of_the_import_authorisation_in_flight_is_refused(
    to: licence_views.LicenceStatus,
    database: str,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    authorisation = await received_authorisation(conn)
    licence = await issued_export(conn, settings, await register_parties(conn))
    _, answer = await interleave(
        database,
        lock_licence(authorisation),  # DE's licence.status-changed being applied holds the authorisation's row
        export_check(licence.licence.number, [{"line": 2, "quantity": 300}]),
        move(authorisation, to, settings),
    )
    assert isinstance(answer, check_records.CheckAnswer)
    assert (answer.verdict, [reason.code for reason in answer.reasons]) == ("refuse", ["import-not-authorised"])
    assert await debited(conn, licence.licence_id) == 0
    assert (await actions(conn))[-2:] == [f"licence.{to}", "check.recorded"]


async def test_a_withdrawal_of_the_import_authorisation_behind_a_clearing_exit_check_comes_after_it(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    authorisation = await received_authorisation(conn)
    licence = await issued_export(conn, settings, await register_parties(conn))
    answer, moved = await race(
        database,
        export_check(licence.licence.number, [{"line": 2, "quantity": 300}]),
        move(authorisation, "revoked", settings),
    )
    assert answer.verdict == "clear"
    assert moved.status == "revoked"
    assert await debited(conn, licence.licence_id) == 300
    assert (await actions(conn))[-2:] == ["check.recorded", "licence.revoked"]
