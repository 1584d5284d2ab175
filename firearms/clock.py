"""The registry's calendar: which day it is in this State (``FIREARMS_TIME_ZONE``, DESIGN §9).

Moments stay UTC (``timestamptz``, DESIGN §6); a date -- a licence's last day, a consent decided "in the
future", an event "after today" -- is the day in the State's own time zone, where its officers work: at
00:30 in Vienna a licence that expired "yesterday" is expired, though it is still yesterday in UTC.
"""

from __future__ import annotations

import datetime as dt

__all__ = ["local_date", "today"]


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
