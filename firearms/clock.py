"""The registry's calendar: which day it is in this State (``FIREARMS_TIME_ZONE``, DESIGN §9).

Moments stay UTC (``timestamptz``, DESIGN §6); a date -- a licence's last day, a consent decided "in the
future", an event "after today" -- is the day in the State's own time zone, where its officers work: at
00:30 in Vienna a licence that expired "yesterday" is expired, though it is still yesterday in UTC.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["local_date", "start_of_day", "today"]


def local_date(moment: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The date ``moment`` falls on in ``zone``.

    Raises:
        ValueError: ``moment`` is naive (Python would read it in the host's time zone).
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time here is UTC and timezone-aware")
    return moment.astimezone(zone).date()


def today(zone: dt.tzinfo) -> dt.date:
    """This day in ``zone``: the "today" of every rule that compares a date with the present."""
    return local_date(dt.datetime.now(dt.UTC), zone)


def start_of_day(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """The first moment (UTC) of ``day`` in ``zone``: when a licence whose last day was the day before stopped.

    A day whose midnight the clocks skip (Santiago, Beirut: 24:00 is 01:00) starts at the skip, which is
    where ``fold=0`` puts midnight (the offset in force before it).
    """
    moment = dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    if local_date(moment, zone) != day:  # a zone that skips a whole day (Apia, 30 December 2011) starts it later
        moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        while local_date(moment, zone) < day:
            moment += dt.timedelta(minutes=15)
        while local_date(moment - dt.timedelta(seconds=1), zone) >= day:
            moment -= dt.timedelta(seconds=1)
    return moment
