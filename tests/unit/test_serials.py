from __future__ import annotations

import pytest

from firearms import lifecycle, serials
from firearms.errors import ConflictError, InvalidInputError
from firearms.serials import serial_problem
from firearms.text_rules import SPACE_CHARACTERS, is_padded


def test_normalise_drops_separators_and_case_only() -> None:
    assert serials.normalise("ab-12 c/d.e_f") == "AB12CDEF"
    assert serials.normalise("AB12") != serials.normalise("A812")


def test_fold_maps_confusables_onto_digits() -> None:
    assert serials.fold("SB0Z-1234") == serials.fold("5BOZ 1234") == "5802" + "1234"
    assert serials.fold("il-ol") == "1101"


@pytest.mark.parametrize(
    ("serial", "reason"),
    [
        ("", "empty"),
        ("A\x07B", "control"),
        (" AB", "white space"),
        ("AB ", "white space"),
        ("A" * 65, "longer"),
        ("AB#1", "Latin letters"),
        ("--", "no letter or digit"),
    ],
)
def test_unacceptable_serials_are_refused_with_a_reason(serial: str, reason: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        serials.check_serial(serial)
    assert caught.value.code == "invalid-serial"
    assert reason in caught.value.detail


def test_raw_serial_is_returned_unaltered() -> None:
    assert serials.check_serial("ab 12/x") == "ab 12/x"


def test_destroyed_is_terminal_but_for_corrections() -> None:
    assert lifecycle.allowed_events("destroyed") == ["corrected"]
    with pytest.raises(ConflictError) as caught:
        lifecycle.next_status("destroyed", "transferred")
    assert caught.value.facts == {
        "current_status": "destroyed",
        "event": "transferred",
        "allowed_events": ["corrected"],
    }


def test_recovery_returns_a_lost_item_to_active() -> None:
    assert lifecycle.next_status("lost", "recovered") == "active"
    assert lifecycle.next_status("exported", "imported") == "active"


def test_the_registry_has_one_white_space_and_str_strip_is_not_it() -> None:
    # Record fields, serials and the identifiers of a customs check are padded by the same characters.
    for space in SPACE_CHARACTERS:
        assert is_padded(f"{space}A1")
        assert is_padded(f"A1{space}")
        assert serial_problem(f"A1{space}") is not None
        assert not is_padded(f"A{space}1")
    assert {" ", "\u00a0", "\u2007", "\u202f", "\u3000"} <= set(SPACE_CHARACTERS)
    # NEL and U+001C-U+001F are white space to str.strip(), control characters to the registry
    for control in ("\x85", "\x1c", "\t"):
        assert control not in SPACE_CHARACTERS
        assert f"A1{control}".strip() == "A1"
        assert serial_problem(f"A1{control}") == "the serial contains control characters"
