from __future__ import annotations

import datetime as dt

import pytest

from firearms.consents import add_working_days
from firearms.errors import ConfigError
from firearms.settings import load_settings

FRIDAY = dt.date(2026, 11, 27)


def test_twenty_working_days_skip_weekends() -> None:
    assert add_working_days(FRIDAY, 20) == dt.date(2026, 12, 25)
    assert add_working_days(FRIDAY, 1) == dt.date(2026, 11, 30)
    assert add_working_days(dt.date(2026, 11, 28), 1) == dt.date(2026, 11, 30)


def test_configured_holidays_do_not_count() -> None:
    holidays = (dt.date(2026, 12, 24), dt.date(2026, 12, 25), dt.date(2026, 12, 8))
    assert add_working_days(FRIDAY, 20, holidays) == dt.date(2026, 12, 30)


def test_licensing_settings_from_environment() -> None:
    settings = load_settings(
        {
            "FIREARMS_STATE": "AT",
            "FIREARMS_TACIT_CONSENT": "no",
            "FIREARMS_TACIT_CONSENT_DAYS": "15",
            "FIREARMS_TACIT_CONSENT_REFUSED_BY": "CZ, SK",
            "FIREARMS_HOLIDAYS": "2026-12-25,2026-12-26",
            "FIREARMS_AMMUNITION_LIMITS": "hunting=500,sport-shooting=1000",
        }
    )
    assert settings.tacit_consent is False
    assert settings.tacit_consent_days == 15
    assert settings.tacit_consent_refused_by == ("CZ", "SK")
    assert settings.holidays == (dt.date(2026, 12, 25), dt.date(2026, 12, 26))
    assert settings.ammunition_limits == {"hunting": 500, "sport-shooting": 1000}
    defaults = load_settings({"FIREARMS_STATE": "AT"})
    assert (defaults.tacit_consent, defaults.tacit_consent_days, defaults.holidays) == (True, 20, ())
    assert defaults.ammunition_limits == {"hunting": 800, "sport-shooting": 1200}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FIREARMS_TACIT_CONSENT", "maybe"),
        ("FIREARMS_TACIT_CONSENT_DAYS", "0"),
        ("FIREARMS_TACIT_CONSENT_REFUSED_BY", "XX"),
        ("FIREARMS_HOLIDAYS", "25.12.2026"),
        ("FIREARMS_AMMUNITION_LIMITS", "hunting=lots"),
        ("FIREARMS_AMMUNITION_LIMITS", "fishing=10"),
    ],
)
def test_bad_licensing_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError):
        load_settings({"FIREARMS_STATE": "AT", name: value})
