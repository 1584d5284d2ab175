"""The registry's calendar: a moment's date in the State's time zone, at the day boundary on both sides."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from firearms.clock import local_date, start_of_day, today


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("zone", "moment", "date"),
    [
        # Vienna in winter (CET, UTC+1): the day ends at 23:00 UTC.
        ("Europe/Vienna", "2026-11-29T22:59:59", "2026-11-29"),
        ("Europe/Vienna", "2026-11-29T23:00:00", "2026-11-30"),
        ("Europe/Vienna", "2026-11-29T23:30:00", "2026-11-30"),
        # Vienna in summer (CEST, UTC+2): at 22:00 UTC.
        ("Europe/Vienna", "2026-07-14T21:59:59", "2026-07-14"),
        ("Europe/Vienna", "2026-07-14T22:00:00", "2026-07-15"),
        # The night of 28 to 29 March 2026 the clocks go forward: 29 March starts in CET, ends in CEST.
        ("Europe/Vienna", "2026-03-28T22:59:59", "2026-03-28"),
        ("Europe/Vienna", "2026-03-28T23:00:00", "2026-03-29"),
        ("Europe/Vienna", "2026-03-29T21:59:59", "2026-03-29"),
        ("Europe/Vienna", "2026-03-29T22:00:00", "2026-03-30"),
        # Auckland is ahead of UTC: NZDT (UTC+13) in November, NZST (UTC+12) in July.
        ("Pacific/Auckland", "2026-11-29T10:59:59", "2026-11-29"),
        ("Pacific/Auckland", "2026-11-29T11:00:00", "2026-11-30"),
        ("Pacific/Auckland", "2026-07-14T11:59:59", "2026-07-14"),
        ("Pacific/Auckland", "2026-07-14T12:00:00", "2026-07-15"),
        # New York is behind: 1 November 2026 starts in EDT (04:00 UTC) and ends in EST (05:00 UTC next day).
        ("America/New_York", "2026-11-01T03:59:59", "2026-10-31"),
        ("America/New_York", "2026-11-01T04:00:00", "2026-11-01"),
        ("America/New_York", "2026-11-02T04:59:59", "2026-11-01"),
        ("America/New_York", "2026-11-02T05:00:00", "2026-11-02"),
        ("UTC", "2026-11-29T23:59:59", "2026-11-29"),
        ("UTC", "2026-11-30T00:00:00", "2026-11-30"),
    ],
)
def test_local_date_is_the_day_in_the_zone(zone: str, moment: str, date: str) -> None:
    assert local_date(utc(moment), ZoneInfo(zone)) == dt.date.fromisoformat(date)


def test_local_date_reads_an_aware_moment_in_any_offset_alike() -> None:
    vienna = ZoneInfo("Europe/Vienna")
    same = dt.datetime(2026, 11, 29, 18, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))  # 23:30 UTC
    assert local_date(same, vienna) == dt.date(2026, 11, 30)


def test_local_date_refuses_a_naive_moment() -> None:
    with pytest.raises(ValueError, match="naive"):
        local_date(dt.datetime(2026, 11, 29, 23, 30), ZoneInfo("Europe/Vienna"))  # noqa: DTZ001


def test_today_is_the_date_in_the_zone_given() -> None:
    # UTC+14 and UTC-12 are 26 hours apart: at any moment their dates differ by at least a day.
    assert today(ZoneInfo("Etc/GMT-14")) > today(ZoneInfo("Etc/GMT+12"))


@pytest.mark.parametrize(
    ("zone", "day", "start"),
    [
        ("Europe/Vienna", "2026-11-30", "2026-11-29T23:00:00"),
        ("Europe/Vienna", "2027-10-31", "2027-10-30T22:00:00"),  # the 25-hour day starts in summer time
        ("Pacific/Auckland", "2027-11-29", "2027-11-28T11:00:00"),
        ("America/Los_Angeles", "2027-03-14", "2027-03-14T08:00:00"),  # the 23-hour day starts in winter time
        # the clocks skip from 24:00 to 01:00: the day starts at the skip, one second after 23:59:59
        ("America/Santiago", "2027-09-05", "2027-09-05T04:00:00"),
        ("Asia/Beirut", "2027-03-28", "2027-03-27T22:00:00"),
        # Samoa skipped 30 December 2011 altogether: the first moment of a day not before it is 31 December's
        ("Pacific/Apia", "2011-12-30", "2011-12-30T10:00:00"),
        ("UTC", "9999-12-31", "9999-12-31T00:00:00"),
    ],
)
def test_start_of_day_is_the_first_moment_of_the_day_in_the_zone(zone: str, day: str, start: str) -> None:
    moment = start_of_day(dt.date.fromisoformat(day), ZoneInfo(zone))
    assert moment == utc(start)
    assert local_date(moment, ZoneInfo(zone)) >= dt.date.fromisoformat(day)
    assert local_date(moment - dt.timedelta(seconds=1), ZoneInfo(zone)) < dt.date.fromisoformat(day)
