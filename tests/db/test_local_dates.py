"""Every "today" is the date in the registry's time zone (``FIREARMS_TIME_ZONE``), not the UTC date."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

from firearms import bootstrap, checks, clock, db, licence_reads
from firearms.check_rules import CheckRequest
from firearms.licence_timers import run_licence_timers
from firearms.settings import Settings
from tests.check_helpers import at_licence, check_body, receive
from tests.licensing_helpers import TODAY, issued_export, register_parties

UTC = ZoneInfo("UTC")
VIENNA = ZoneInfo("Europe/Vienna")
START = TODAY + dt.timedelta(days=1)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def zone_on_another_date() -> ZoneInfo:
    """A zone whose date differs from UTC's now, at least an hour away from its turning.

    Kiritimati (UTC+14) is a day ahead of UTC from 10:00 UTC; ``Etc/GMT+12`` (UTC-12, the sign is POSIX's)
    a day behind until 12:00 UTC.
    """
    return ZoneInfo("Pacific/Kiritimati" if dt.datetime.now(dt.UTC).hour >= 11 else "Etc/GMT+12")


async def _check(conn: db.Conn, body: dict[str, Any], *, state: str, zone: ZoneInfo, now: dt.datetime) -> list[str]:
    """The verdict and reason codes of a check made at ``now`` by a registry in ``zone``."""
    async with conn.transaction():
        answer = await checks.perform_check(
            conn, msgspec.convert(body, CheckRequest), state=state, time_zone=zone, actor="customs:test", now=now
        )
    return [answer.verdict, *(reason.code for reason in answer.reasons)]


async def test_an_exit_check_at_2330_utc_on_the_last_day_is_expired_in_vienna(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn), expires_on=TODAY)
    late = at(TODAY, 23, 30)  # 00:30 or 01:30 on the next day in Vienna
    body: dict[str, Any] = {"licence_number": licence.licence.number, "crossing_point": "AT-Wullowitz"}
    assert await _check(conn, check_body("export", **body), state="AT", zone=VIENNA, now=late) == [
        "refuse",
        "licence-expired",
    ]
    assert await _check(conn, check_body("export", **body), state="AT", zone=UTC, now=late) == ["clear"]


@pytest.mark.parametrize(
    ("zone", "moment", "refused_in"),
    [
        # 23:30 UTC on the eve of the first day: already the first day in Prague, not yet in UTC.
        ("Europe/Prague", at(TODAY, 23, 30), "UTC"),
        # 02:00 UTC on the first day: still the evening before in New York.
        ("America/New_York", at(START, 2), "America/New_York"),
    ],
    ids=["ahead-of-utc", "behind-utc"],
)
async def test_a_licence_is_valid_from_its_first_day_in_the_registry_zone(
    zone: str, moment: dt.datetime, refused_in: str, conn: db.Conn
) -> None:
    await receive(conn, at_licence(valid_from=START), state="CZ")
    refusing, clearing = (ZoneInfo(refused_in), ZoneInfo("UTC" if refused_in == zone else zone))
    assert await _check(conn, check_body(), state="CZ", zone=refusing, now=moment) == [
        "refuse",
        "licence-not-yet-valid",
    ]
    assert await _check(conn, check_body(), state="CZ", zone=clearing, now=moment) == ["clear"]


async def test_the_expiry_timer_counts_days_in_the_registry_zone(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    zone = zone_on_another_date()
    dates = {clock.today(zone): zone, clock.today(UTC): UTC}
    earlier, later = (msgspec.structs.replace(settings, time_zone=dates[day]) for day in sorted(dates))
    last_day = min(dates)  # today where the registry is behind, yesterday where it is ahead
    licence = await issued_export(conn, earlier, await register_parties(conn), valid_from=last_day, expires_on=last_day)
    assert await run_licence_timers(conn, earlier) == (0, 0)
    assert (await licence_reads.get_licence(conn, licence.licence_id)).status == "issued"
    assert await run_licence_timers(conn, later) == (1, 0)
    assert (await licence_reads.get_licence(conn, licence.licence_id)).status == "expired"
