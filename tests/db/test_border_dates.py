"""A licence's first and last day at the border, in the registry's time zone, to the second (README "Dates and the
time zone"): zones far from UTC on both sides, a night whose midnight the clocks skip, a 25-hour day, 29 February,
and a partner's licence judged by the calendar of the State whose officer checks it."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from firearms import checks, db, received
from firearms.check_rules import CheckRequest
from firearms.store import received as received_store
from tests.check_helpers import NUMBER, at_licence, check_body, receive

ONE_SECOND = dt.timedelta(seconds=1)
# the ammunition line alone: no serial is recorded as passed, so every check of a test is judged afresh
CARTRIDGE = [{"line": 2, "quantity": 1}]


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int, second: int) -> dt.datetime:
    """The UTC moment of a wall-clock time in ``zone`` (an existing, unambiguous one)."""
    moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone))
    assert moment.astimezone(dt.UTC).astimezone(moment.tzinfo) == moment, "no such wall-clock time"
    return moment.astimezone(dt.UTC)


async def verdict(conn: db.Conn, *, zone: str, now: dt.datetime) -> list[str]:
    """The verdict and reason codes of CZ's transit check at ``now`` by a registry in ``zone``."""
    body: dict[str, Any] = check_body(lines=CARTRIDGE)
    async with conn.transaction():
        answer = await checks.perform_check(
            conn,
            msgspec.convert(body, CheckRequest),
            state="CZ",
            time_zone=ZoneInfo(zone),
            actor="customs:test",
            now=now,
        )
    assert answer.checked_at == now.replace(microsecond=0)
    return [answer.verdict, *(reason.code for reason in answer.reasons)]


CLEAR = ["clear"]
EXPIRED = ["refuse", "licence-expired"]
NOT_YET = ["refuse", "licence-not-yet-valid"]


@pytest.mark.parametrize(
    ("zone", "last_day", "before", "after"),
    [
        # UTC+13: the last day ends locally at 11:00 UTC, half a day before the UTC date turns
        ("Pacific/Auckland", dt.date(2027, 11, 28), (2027, 11, 28, 23, 59, 59), (2027, 11, 29, 0, 0, 0)),
        # UTC-8: the last day ends locally at 08:00 UTC the next day, when UTC is already a day on
        ("America/Los_Angeles", dt.date(2027, 11, 28), (2027, 11, 28, 23, 59, 59), (2027, 11, 29, 0, 0, 0)),
        # the night clocks go back (a 25-hour day in Vienna): still the last day until local midnight
        ("Europe/Vienna", dt.date(2027, 10, 31), (2027, 10, 31, 23, 59, 59), (2027, 11, 1, 0, 0, 0)),
        # Santiago's clocks skip from 24:00 on 4 September to 01:00 on the 5th: there is no 00:00
        ("America/Santiago", dt.date(2027, 9, 4), (2027, 9, 4, 23, 59, 59), (2027, 9, 5, 1, 0, 0)),
        # 29 February is a last day like any other
        ("Europe/Prague", dt.date(2028, 2, 29), (2028, 2, 29, 23, 59, 59), (2028, 3, 1, 0, 0, 0)),
    ],
    ids=["auckland", "los-angeles", "vienna-25-hour-day", "santiago-no-midnight", "29-february"],
)
async def test_a_licence_clears_until_the_last_second_of_its_last_day_in_the_registry_zone(
    zone: str, last_day: dt.date, before: tuple[int, ...], after: tuple[int, ...], conn: db.Conn
) -> None:
    await receive(conn, at_licence(valid_from=dt.date(2027, 1, 1), expires_on=last_day), state="CZ")
    assert local(zone, *after) - local(zone, *before) == ONE_SECOND
    assert await verdict(conn, zone=zone, now=local(zone, *before)) == CLEAR
    assert await verdict(conn, zone=zone, now=local(zone, *after)) == EXPIRED
    assert await verdict(conn, zone=zone, now=local(zone, *after) + dt.timedelta(days=1)) == EXPIRED


@pytest.mark.parametrize(
    ("zone", "first_day", "before", "after"),
    [
        ("Pacific/Auckland", dt.date(2027, 11, 29), (2027, 11, 28, 23, 59, 59), (2027, 11, 29, 0, 0, 0)),
        ("America/Los_Angeles", dt.date(2027, 11, 29), (2027, 11, 28, 23, 59, 59), (2027, 11, 29, 0, 0, 0)),
        # the night clocks go forward in Los Angeles (02:00 -> 03:00): the first day starts at local midnight
        ("America/Los_Angeles", dt.date(2027, 3, 14), (2027, 3, 13, 23, 59, 59), (2027, 3, 14, 0, 0, 0)),
        ("America/Santiago", dt.date(2027, 9, 5), (2027, 9, 4, 23, 59, 59), (2027, 9, 5, 1, 0, 0)),
        ("Europe/Prague", dt.date(2028, 2, 29), (2028, 2, 28, 23, 59, 59), (2028, 2, 29, 0, 0, 0)),
    ],
    ids=["auckland", "los-angeles", "los-angeles-23-hour-day", "santiago-no-midnight", "29-february"],
)
async def test_a_licence_clears_from_the_first_second_of_its_first_day_in_the_registry_zone(
    zone: str, first_day: dt.date, before: tuple[int, ...], after: tuple[int, ...], conn: db.Conn
) -> None:
    await receive(conn, at_licence(valid_from=first_day, expires_on=dt.date(2029, 1, 1)), state="CZ")
    assert local(zone, *after) - local(zone, *before) == ONE_SECOND
    assert await verdict(conn, zone=zone, now=local(zone, *before)) == NOT_YET
    assert await verdict(conn, zone=zone, now=local(zone, *after)) == CLEAR


async def test_a_one_day_licence_on_29_february_clears_that_day_only(conn: db.Conn) -> None:
    leap_day = dt.date(2028, 2, 29)
    await receive(conn, at_licence(valid_from=leap_day, expires_on=leap_day), state="CZ")
    zone = "Pacific/Auckland"
    assert await verdict(conn, zone=zone, now=local(zone, 2028, 2, 28, 23, 59, 59)) == NOT_YET
    assert await verdict(conn, zone=zone, now=local(zone, 2028, 2, 29, 0, 0, 0)) == CLEAR
    assert await verdict(conn, zone=zone, now=local(zone, 2028, 2, 29, 23, 59, 59)) == CLEAR
    assert await verdict(conn, zone=zone, now=local(zone, 2028, 3, 1, 0, 0, 0)) == EXPIRED


@pytest.mark.parametrize(
    ("zone", "at_post", "expected"),
    [
        # 00:30 on the day after the last day at a post in Auckland: 11:30 UTC, still the last day in Vienna
        ("Pacific/Auckland", (2027, 11, 29, 0, 30, 0), EXPIRED),
        # 23:30 on the last day at a post in Los Angeles: 07:30 UTC, already the next day in Vienna and in UTC
        ("America/Los_Angeles", (2027, 11, 28, 23, 30, 0), CLEAR),
    ],
    ids=["post-ahead-of-the-issuer", "post-behind-the-issuer"],
)
async def test_a_partner_licence_is_judged_by_the_calendar_at_the_border_post(
    zone: str, at_post: tuple[int, ...], expected: list[str], conn: db.Conn
) -> None:
    """Vienna's licence "valid until 28 November" is valid on 28 November where the officer stands, and not after.

    The licence carries dates, not moments (PROTOCOL §5): the checking registry reads them on its own calendar, as
    its officer reads the printed document, whatever the date is in the issuing State at that moment.
    """
    await receive(conn, at_licence(valid_from=dt.date(2027, 1, 1), expires_on=dt.date(2027, 11, 28)), state="CZ")
    now = local(zone, *at_post)
    assert await verdict(conn, zone=zone, now=now) == expected
    vienna = now.astimezone(ZoneInfo("Europe/Vienna")).date()
    assert (vienna > dt.date(2027, 11, 28)) == (expected == CLEAR)  # the issuer's calendar would say the opposite


async def test_checked_at_is_whole_seconds_utc_and_a_replay_gives_it_again(conn: db.Conn) -> None:
    await receive(conn, at_licence(valid_from=dt.date(2027, 1, 1), expires_on=dt.date(2027, 12, 31)), state="CZ")
    request = msgspec.convert(check_body(lines=CARTRIDGE), CheckRequest)
    auckland = ZoneInfo("Pacific/Auckland")
    moment = dt.datetime(2027, 11, 28, 23, 30, 15, 987654, tzinfo=dt.UTC)  # 12:30:15.987654 on the 29th there
    answers = []
    for now in (moment, moment + dt.timedelta(hours=3, microseconds=100)):  # the officer's retry, hours later
        async with conn.transaction():
            answers.append(
                await checks.perform_check(conn, request, state="CZ", time_zone=auckland, actor="customs:cz", now=now)
            )
    first, replayed = answers
    assert first.checked_at == dt.datetime(2027, 11, 28, 23, 30, 15, tzinfo=dt.UTC)
    assert msgspec.json.decode(msgspec.json.encode(first))["checked_at"] == "2027-11-28T23:30:15Z"
    assert msgspec.json.encode(replayed) == msgspec.json.encode(first)
    # the record keeps the moment to the microsecond; the answer speaks in seconds
    assert await conn.fetchval("SELECT checked_at FROM customs_check") == moment


async def _expired_by_issuer(conn: db.Conn, moment: dt.datetime) -> None:
    """AT's ``licence.status-changed`` to ``expired`` applied here at ``moment``."""
    async with conn.transaction():
        licence = await received.apply_status(
            conn, issuing_state="AT", number=NUMBER, status="expired", reason="validity ended", actor="partner:AT"
        )
    # the row's time is when the change was applied; the test's moment stands for it
    await conn.execute("UPDATE licence SET updated_at = $1 WHERE licence_id = $2", moment, licence.licence_id)


async def test_a_partner_licence_the_issuer_expired_at_its_own_midnight_clears_here_until_the_last_day_ends(
    conn: db.Conn,
) -> None:
    # Vienna's midnight after the last day is 15:00 in Los Angeles: AT's timer expires the licence and tells CZ's
    # registry, whose post is in Los Angeles. The licence is valid there until midnight there, as its dates say
    # (README "Dates and the time zone"); the issuer's expiry at its own midnight refused it nine hours early.
    last_day = dt.date(2027, 11, 28)
    await receive(conn, at_licence(valid_from=dt.date(2027, 1, 1), expires_on=last_day), state="CZ")
    vienna_midnight = dt.datetime(2027, 11, 28, 23, 0, 5, tzinfo=dt.UTC)
    await _expired_by_issuer(conn, vienna_midnight)
    zone = "America/Los_Angeles"
    assert await verdict(conn, zone=zone, now=local(zone, 2027, 11, 28, 16, 0, 0)) == CLEAR
    assert await verdict(conn, zone=zone, now=local(zone, 2027, 11, 28, 23, 59, 59)) == CLEAR
    assert await verdict(conn, zone=zone, now=local(zone, 2027, 11, 29, 0, 0, 0)) == EXPIRED  # one reason, not two


async def test_a_partner_licence_the_issuer_expired_before_its_last_day_is_refused(conn: db.Conn) -> None:
    # An expiry announced well before the printed last day is the issuing State's decision, not its calendar.
    await receive(conn, at_licence(valid_from=dt.date(2027, 1, 1), expires_on=dt.date(2027, 11, 28)), state="CZ")
    await _expired_by_issuer(conn, dt.datetime(2027, 11, 28, 9, 59, 59, tzinfo=dt.UTC))  # no zone's midnight yet
    zone = "America/Los_Angeles"
    assert await verdict(conn, zone=zone, now=local(zone, 2027, 11, 27, 12, 0, 0)) == EXPIRED


async def test_an_expiry_the_issuer_decided_early_and_delivered_late_is_refused_on_the_last_day(conn: db.Conn) -> None:
    # AT expired the licence three days before its last day (its decision, effective then); the notice reached CZ
    # only on the last day, after AT's midnight (the partner unreachable meanwhile, the outbox retrying). The
    # notice says when the expiry took effect: arriving late does not make the decision the issuer's calendar.
    last_day = dt.date(2027, 11, 28)
    licence = at_licence(valid_from=dt.date(2027, 1, 1), expires_on=last_day)
    await receive(conn, licence, state="CZ")
    await _notified_expiry(conn, licence, effective_at=dt.datetime(2027, 11, 25, 8, 0, 0, tzinfo=dt.UTC))
    zone = "America/Los_Angeles"
    assert await verdict(conn, zone=zone, now=local(zone, 2027, 11, 28, 16, 0, 0)) == EXPIRED


async def test_an_expiry_the_issuer_notified_effective_at_its_midnight_clears_until_the_last_day_ends_here(
    conn: db.Conn,
) -> None:
    # the notice's effective_at is AT's midnight after the last day (the timer's expiry): the issuer's calendar
    licence = at_licence(valid_from=dt.date(2027, 1, 1), expires_on=dt.date(2027, 11, 28))
    await receive(conn, licence, state="CZ")
    await _notified_expiry(conn, licence, effective_at=dt.datetime(2027, 11, 28, 23, 0, 0, tzinfo=dt.UTC))
    zone = "America/Los_Angeles"
    assert await verdict(conn, zone=zone, now=local(zone, 2027, 11, 28, 16, 0, 0)) == CLEAR
    assert await verdict(conn, zone=zone, now=local(zone, 2027, 11, 29, 0, 0, 0)) == EXPIRED


async def _notified_expiry(conn: db.Conn, licence: Any, *, effective_at: dt.datetime) -> None:
    """AT's ``licence.status-changed`` to ``expired``, effective at ``effective_at``, reaching CZ on the last day."""
    arrived = dt.datetime(2027, 11, 28, 23, 0, 5, tzinfo=dt.UTC)
    async with conn.transaction():  # what the licence.status-changed effect writes before it applies the status
        await received_store.upsert_foreign_licence(
            conn, "AT", NUMBER, "export", 1, "issued", msgspec.to_builtins(licence), "restricted", "n-1", effective_at
        )
        await received_store.set_foreign_licence_status(
            conn, "AT", NUMBER, "expired", "validity ended", effective_at, arrived, "restricted"
        )
    await _expired_by_issuer(conn, arrived)
