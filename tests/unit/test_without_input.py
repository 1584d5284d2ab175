"""``text_rules.without_input``: msgspec's words, quoted back, never carry a value or an unknown name a caller wrote."""

from __future__ import annotations

import pytest

from firearms.text_rules import decode_location, plain_name, without_input


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Invalid enum value '<script>'", "Invalid value: not one of those the field takes"),
        (
            "Invalid enum value 'x - at `$.y`' - at `$.notice.confidentiality`",
            "Invalid value: not one of those the field takes - at `$.notice.confidentiality`",
        ),
        (
            "Invalid value 7 - at `$.lines[0].kind`",
            "Invalid value: not one of those the field takes - at `$.lines[0].kind`",
        ),
        ("Object contains unknown field `colour`", "Object contains unknown field `colour`"),
        ("Object contains unknown field `<b>` - at `$.notice`", "Object contains an unknown field - at `$.notice`"),
        ("Object contains unknown field `a - at `$.x``", "Object contains an unknown field"),
        ("Object contains unknown field `a", "Object contains an unknown field"),  # cut short at its first " - "
        ("Expected `int`, got `str` - at `$.sequence`", "Expected `int`, got `str` - at `$.sequence`"),
        ("Object missing required field `movement`", "Object missing required field `movement`"),
    ],
)
def test_msgspec_words_keep_the_rule_and_lose_the_input(message: str, expected: str) -> None:
    assert without_input(message) == expected


_NAMES = [("status", "status"), ("file_name", "file_name"), ("a" * 64, "a" * 64), ("a" * 65, None), ("<b>", None)]


@pytest.mark.parametrize(("name", "plain"), [*_NAMES, ("", None), ("a b", None), ("a\n", None), ("é", None)])
def test_a_plain_name_is_letters_digits_and_few_marks(name: str, plain: str | None) -> None:
    assert plain_name(name) == plain


@pytest.mark.parametrize(
    ("message", "location"),
    [
        ("Expected `int`, got `str` - at `$.lines[0].quantity`", "lines[0].quantity"),
        ("Object contains unknown field `$.<script>`", None),  # the top level: the name is no place
        ("Object contains unknown field `$.<b>` - at `$.lines[0]`", "lines[0]"),
        ("Expected `object`, got `array`", None),
    ],
)
def test_the_place_of_a_decode_error_is_msgspecs_own(message: str, location: str | None) -> None:
    assert decode_location(message) == location
