"""What an amendment asks of the transit States beyond what they consented to (``asks_more_of_transit``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from firearms.licence_rules import asks_more_of_transit

BEFORE: dict[str, Any] = {
    "valid_from": "2026-12-01",
    "expires_on": "2027-06-30",
    "exporter": {"name": "Steyr Arms", "country": "AT", "address": "Steyr", "registration": "FN 1"},
    "consignee": {"name": "Jagd GmbH", "country": "DE", "address": "Berlin", "registration": "HRB 2"},
    "final_recipient": {"name": "Jagd GmbH", "country": "DE", "address": "Berlin", "registration": "HRB 2"},
    "import_authorisation": {
        "number": "DE-IMP-1",
        "state": "DE",
        "issued_on": "2026-11-01",
        "expires_on": "2027-12-31",
    },
    "brokers": [{"name": "Broker", "country": "AT", "address": "Wien", "registration": "AT-BR-7"}],
    "lines": [
        {
            "line": 1,
            "category": "firearm",
            "type": "rifle",
            "make": "Steyr",
            "model": "SSG 08",
            "calibre": ".308",
            "quantity": 2,
            "serials": ["SSG08-001", "SSG08-002"],
        },
        {
            "line": 2,
            "category": "ammunition",
            "type": "cartridge",
            "make": "Hirtenberger",
            "model": "",
            "calibre": ".308",
            "quantity": 800,
            "serials": [],
        },
    ],
}


def changed(**changes: Any) -> dict[str, Any]:
    after = copy.deepcopy(BEFORE)
    after.update(changes)
    return after


def with_line(index: int, **changes: Any) -> dict[str, Any]:
    after = copy.deepcopy(BEFORE)
    after["lines"][index].update(changes)
    return after


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (with_line(1, quantity=8000), ["line 2 rises from 800 to 8000"]),
        (with_line(0, model="SSG 69"), ["line 1 holds other goods"]),
        (with_line(0, calibre=".300 Win Mag"), ["line 1 holds other goods"]),
        (changed(lines=[*BEFORE["lines"], {**BEFORE["lines"][1], "line": 3}]), ["line 3 is new"]),
        (
            changed(expires_on="2027-07-01"),
            ["the validity 2026-12-01 to 2027-07-01 reaches beyond 2026-12-01 to 2027-06-30"],
        ),
        (
            changed(valid_from="2026-11-30"),
            ["the validity 2026-11-30 to 2027-06-30 reaches beyond 2026-12-01 to 2027-06-30"],
        ),
        (changed(consignee={**BEFORE["consignee"], "registration": "HRB 9"}), ["the consignee changed"]),
        (changed(exporter={"name": "Other", "country": "AT", "address": "Linz"}), ["the exporter changed"]),
        (
            changed(import_authorisation={**BEFORE["import_authorisation"], "number": "DE-IMP-2"}),
            ["the import authorisation changed"],
        ),
        (changed(purpose="exhibition"), ["the purpose changed"]),
        (
            changed(brokers=[*BEFORE["brokers"], {**BEFORE["brokers"][0], "registration": "AT-BR-8"}]),
            ["a broker was added"],
        ),
    ],
)
def test_more_or_other_goods_longer_validity_or_other_parties_ask_more(
    after: dict[str, Any], expected: list[str]
) -> None:
    assert asks_more_of_transit(BEFORE, after) == expected


@pytest.mark.parametrize(
    "after",
    [
        copy.deepcopy(BEFORE),
        with_line(1, quantity=700),  # fewer
        with_line(0, serials=["SSG08-001", "SSG08-020"]),  # a misread serial corrected
        with_line(0, description="with scope"),
        changed(expires_on="2027-05-31", valid_from="2026-12-15"),  # shorter
        changed(brokers=[]),  # a broker dropped
        changed(lines=[BEFORE["lines"][0]]),  # a line dropped
        changed(place_of_issue="Linz"),
        changed(consignee={**BEFORE["consignee"], "address": "Potsdam"}),  # the same consignee, moved
        changed(import_authorisation={**BEFORE["import_authorisation"], "expires_on": "2028-06-30"}),
    ],
)
def test_less_or_corrections_ask_nothing_more(after: dict[str, Any]) -> None:
    assert asks_more_of_transit(BEFORE, after) == []


def test_every_finding_is_listed() -> None:
    after = with_line(1, quantity=900)
    after["expires_on"] = "2028-01-01"
    after["exporter"] = {**BEFORE["exporter"], "registration": "FN 9"}
    assert asks_more_of_transit(BEFORE, after) == [
        "line 2 rises from 800 to 900",
        "the validity 2026-12-01 to 2028-01-01 reaches beyond 2026-12-01 to 2027-06-30",
        "the exporter changed",
    ]
