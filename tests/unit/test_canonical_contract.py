"""PROTOCOL §2 line by line, where the known-answer vectors leave a rule out: every escape JCS makes and no
other, the integer range at both ends, no floats, times with a ``Z`` at second precision."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from firearms.canonical import canonical, format_time, parse_time
from firearms.exchange.protocol import Notice, notice_signing_input


def test_strings_are_escaped_as_jcs_does_and_nothing_else() -> None:
    text = '"\\\b\f\n\r\t\x00\x0b\x1f\x7f/é\u2028€'
    assert canonical({"s": text}) == ('{"s":"\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u000b\\u001f\x7f/é\u2028€"}').encode()


def test_keys_are_sorted_by_code_point_without_white_space() -> None:
    assert (
        canonical({"b": [1, {"d": None, "c": True}], "B": False, "a": ""})
        == b'{"B":false,"a":"","b":[1,{"c":true,"d":null}]}'
    )


def test_integers_are_taken_within_plus_or_minus_2_to_the_53_minus_1_only() -> None:
    assert canonical([-(2**53) + 1, 2**53 - 1]) == b"[-9007199254740991,9007199254740991]"
    for outside in (-(2**53), 2**53):
        with pytest.raises(ValueError, match="canonical range"):
            canonical([outside])


def test_no_floats_anywhere() -> None:
    with pytest.raises(ValueError, match="floats"):
        canonical({"a": [{"b": 1.0}]})


def test_times_are_utc_with_a_z_at_second_precision() -> None:
    vienna = dt.timezone(dt.timedelta(hours=1))
    assert format_time(dt.datetime(2026, 11, 29, 11, 15, tzinfo=vienna)) == "2026-11-29T10:15:00Z"


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC), "0999-12-31T23:59:59Z"),
        (dt.datetime(1, 1, 1, tzinfo=dt.UTC), "0001-01-01T00:00:00Z"),
        (dt.datetime(2039, 1, 19, 3, 14, 8, tzinfo=dt.UTC), "2039-01-19T03:14:08Z"),
        (dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_a_time_of_any_year_has_four_year_digits_and_reads_back(moment: dt.datetime, text: str) -> None:
    # strftime("%Y") gives "999" for the year 999 on Linux: not RFC 3339 (PROTOCOL §2), and parse_time refused it.
    assert format_time(moment) == text
    assert parse_time(format_time(moment)) == moment


def test_a_protocol_value_with_an_object_key_outside_ascii_has_no_canonical_form() -> None:
    """§2: object keys are ASCII; the notice's body is where a sender could write another (refused, not signed)."""
    notice = Notice(
        id="0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e11",
        type="test.ping",
        sender="AT",
        recipient="DE",
        sequence=1,
        created_at="2026-11-29T10:15:00Z",
        in_reply_to=None,
        confidentiality="public",
        body={"nested": [{"\U0001f600": 1}]},
    )
    with pytest.raises(ValueError, match="ASCII"):
        notice_signing_input(notice)
    assert notice_signing_input(msgspec.structs.replace(notice, body={"nested": [{"a": "\U0001f600"}]}))
