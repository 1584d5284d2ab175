"""The silent period of a received transit-consent request (Reg. 258/2012 Art. 7(2)), from its receipt time.

One function (:func:`firearms.exchange.consents.silent_period`) turns the receipt time into the day it arrived in
``FIREARMS_TIME_ZONE`` and the period's last day: the officer's decision, the timer that deems silence and the
operator's overview each did it themselves before.
"""

from __future__ import annotations

import datetime as dt

import pytest

from firearms.exchange.consents import SilentPeriod, silent_period
from firearms.settings import load_settings


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("received_at", "received_on", "last_day"),
    [
        # Thursday 23:30 UTC is Friday 00:30 in Vienna: counted from Friday (the UTC day would end a day earlier)
        ("2026-11-26T23:30:00+00:00", dt.date(2026, 11, 27), dt.date(2026, 12, 1)),
        ("2026-11-26T22:59:59+00:00", dt.date(2026, 11, 26), dt.date(2026, 11, 30)),
        # the clocks go forward on Sunday 29 March 2026 at 01:00 UTC: +01:00 before, +02:00 after
        ("2026-03-28T23:30:00+00:00", dt.date(2026, 3, 29), dt.date(2026, 3, 31)),  # 00:30 CET, a Sunday
        ("2026-03-29T21:59:59+00:00", dt.date(2026, 3, 29), dt.date(2026, 3, 31)),  # 23:59:59 CEST
        ("2026-03-29T22:00:00+00:00", dt.date(2026, 3, 30), dt.date(2026, 4, 1)),  # midnight CEST, not 23:00 CET
        # back on Sunday 25 October 2026 at 01:00 UTC: +02:00 before, +01:00 after
        ("2026-10-24T22:30:00+00:00", dt.date(2026, 10, 25), dt.date(2026, 10, 27)),  # 00:30 CEST, a Sunday
        ("2026-10-25T22:30:00+00:00", dt.date(2026, 10, 25), dt.date(2026, 10, 27)),  # 23:30 CET, not 00:30 CEST
        ("2026-10-25T23:00:00+00:00", dt.date(2026, 10, 26), dt.date(2026, 10, 28)),
        # a receipt given in another offset is the same moment
        ("2026-03-30T00:30:00+02:00", dt.date(2026, 3, 30), dt.date(2026, 4, 1)),
    ],
)
def test_the_silent_period_counts_from_the_day_of_receipt_in_the_registrys_time_zone(
    received_at: str, received_on: dt.date, last_day: dt.date
) -> None:
    settings = load_settings(
        {"FIREARMS_STATE": "AT", "FIREARMS_TIME_ZONE": "Europe/Vienna", "FIREARMS_TACIT_CONSENT_DAYS": "2"}
    )
    assert silent_period(_at(received_at), settings) == SilentPeriod(received_on=received_on, last_day=last_day)


def test_the_silent_period_skips_this_states_holidays_west_of_utc() -> None:
    """Thursday 26 November 2026 22:00 in New York (03:00 UTC on the Friday); Friday 27 is a holiday there."""
    settings = load_settings(
        {
            "FIREARMS_STATE": "US",
            "FIREARMS_TIME_ZONE": "America/New_York",
            "FIREARMS_TACIT_CONSENT_DAYS": "2",
            "FIREARMS_HOLIDAYS": "2026-11-27",
        }
    )
    found = silent_period(_at("2026-11-27T03:00:00+00:00"), settings)
    assert found == SilentPeriod(received_on=dt.date(2026, 11, 26), last_day=dt.date(2026, 12, 1))


def test_a_naive_receipt_time_is_refused() -> None:
    """Every time here is UTC and timezone-aware: a naive one would be read in the host's zone."""
    with pytest.raises(ValueError, match="naive datetime"):
        silent_period(dt.datetime(2026, 11, 26, 23, 30), load_settings({"FIREARMS_STATE": "AT"}))  # noqa: DTZ001
