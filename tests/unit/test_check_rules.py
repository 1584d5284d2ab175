"""The customs-check rules, one reason code at a time, and the policy table (DESIGN §5)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from firearms.check_rules import (
    POLICY,
    AuthorisationView,
    CheckLine,
    CheckRequest,
    HeldAuthorisation,
    LicenceView,
    LineView,
    RecordsView,
    evaluate,
    verdict_of,
)

TODAY = dt.date(2026, 11, 29)
NOTHING = RecordsView(passed=frozenset(), reported=frozenset(), unmarked_imports=frozenset())


def licence(**changes: Any) -> LicenceView:
    values: dict[str, Any] = {
        "number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "kind": "export",
        "status": "issued",
        "valid_from": dt.date(2026, 11, 1),
        "expires_on": dt.date(2027, 11, 28),
        "exporting_state": "AT",
        "importing_state": "DE",
        "transit_states": ("CZ",),
        "lines": {
            1: LineView(
                line=1, category="firearm", quantity=2, remaining=2, serials=frozenset({"SSG08-001", "SSG08-002"})
            ),
            2: LineView(line=2, category="ammunition", quantity=800, remaining=800, serials=frozenset()),
        },
        "transit_consent": True,
    }
    values.update(changes)
    return LicenceView(**values)


def request(movement: str = "transit", lines: list[CheckLine] | None = None) -> CheckRequest:
    return CheckRequest(
        check_id=uuid.uuid4(),
        movement=movement,  # type: ignore[arg-type]
        licence_number="AT-EXP-2026-000123",
        issuing_state="AT",
        crossing_point="CZ-Dolni Dvoriste",
        lines=lines
        or [CheckLine(line=1, quantity=2, serials=["SSG08-001", "SSG08-002"]), CheckLine(line=2, quantity=800)],
    )


def codes(
    req: CheckRequest, view: LicenceView | None, records: RecordsView = NOTHING, state: str = "CZ", on: dt.date = TODAY
) -> list[str]:
    return [reason.code for reason in evaluate(req, view, records, state=state, on=on)]


def test_matching_consignment_clears() -> None:
    reasons = evaluate(request(), licence(), NOTHING, state="CZ", on=TODAY)
    assert reasons == []
    assert verdict_of(reasons) == "clear"


def test_licence_unknown() -> None:
    assert codes(request(), None) == ["licence-unknown"]


def test_licence_not_yet_valid() -> None:
    assert codes(request(), licence(valid_from=dt.date(2026, 12, 1))) == ["licence-not-yet-valid"]


def test_licence_expired_by_date_and_by_status() -> None:
    assert codes(request(), licence(expires_on=dt.date(2026, 11, 28))) == ["licence-expired"]
    assert codes(request(), licence(status="expired")) == ["licence-expired"]


@pytest.mark.parametrize(("status", "code"), [("suspended", "licence-suspended"), ("revoked", "licence-revoked")])
def test_licence_suspended_or_revoked(status: str, code: str) -> None:
    assert codes(request(), licence(status=status)) == [code]


def test_licence_exhausted() -> None:
    used_up = {
        1: LineView(line=1, category="firearm", quantity=2, remaining=0, serials=frozenset({"SSG08-001", "SSG08-002"})),
        2: LineView(line=2, category="ammunition", quantity=800, remaining=0, serials=frozenset()),
    }
    found = codes(request(lines=[CheckLine(line=2, quantity=1)]), licence(lines=used_up))
    assert found == ["licence-exhausted", "quantity-exceeds-balance"]


def test_state_not_on_route() -> None:
    assert codes(request("transit"), licence(), state="PL") == ["state-not-on-route"]
    assert codes(request("export"), licence(), state="CZ") == ["state-not-on-route"]
    assert codes(request("import"), licence(), state="CZ") == ["state-not-on-route"]


def test_transit_consent_missing() -> None:
    assert codes(request("transit"), licence(transit_consent=False)) == ["transit-consent-missing"]


def test_quantity_exceeds_balance() -> None:
    found = evaluate(request(lines=[CheckLine(line=2, quantity=801)]), licence(), NOTHING, state="CZ", on=TODAY)
    assert [(reason.code, reason.line) for reason in found] == [("quantity-exceeds-balance", 2)]


def test_serial_not_on_licence_is_a_hold() -> None:
    req = request(lines=[CheckLine(line=1, quantity=2, serials=["SSG08-001", "SSG08-009"])])
    found = evaluate(req, licence(), NOTHING, state="CZ", on=TODAY)
    assert [(reason.code, reason.serial) for reason in found] == [("serial-not-on-licence", "SSG08-009")]
    assert verdict_of(found) == "hold"


def test_serials_compare_in_normalised_form() -> None:
    req = request(lines=[CheckLine(line=1, quantity=2, serials=["ssg08 001", "SSG08.002"])])
    assert codes(req, licence()) == []


def test_serial_already_passed() -> None:
    records = RecordsView(passed=frozenset({"SSG08001"}), reported=frozenset(), unmarked_imports=frozenset())
    assert codes(request(), licence(), records) == ["serial-already-passed"]


def test_item_reported_lost_or_stolen() -> None:
    records = RecordsView(passed=frozenset(), reported=frozenset({"SSG08002"}), unmarked_imports=frozenset())
    assert codes(request(), licence(), records) == ["item-reported-lost-or-stolen"]


def test_import_marking_missing() -> None:
    records = RecordsView(passed=frozenset(), reported=frozenset(), unmarked_imports=frozenset({"SSG08001"}))
    assert codes(request("import"), licence(), records, state="DE") == ["import-marking-missing"]
    assert codes(request("transit"), licence(), records, state="CZ") == []


def test_line_not_on_licence_and_serials_missing_and_count_mismatch() -> None:
    assert codes(request(lines=[CheckLine(line=9, quantity=1)]), licence()) == ["line-not-on-licence"]
    assert codes(request(lines=[CheckLine(line=1, quantity=2)]), licence()) == ["serials-missing"]
    assert codes(request(lines=[CheckLine(line=1, quantity=2, serials=["SSG08-001"])]), licence()) == [
        "serial-count-mismatch"
    ]


def test_wrong_kind_of_licence() -> None:
    assert "licence-kind-mismatch" in codes(request(), licence(kind="import"))


@pytest.mark.parametrize(
    ("kind", "detail"),
    [
        ("import", "the number names an import licence, not an export authorisation"),
        ("transit", "the number names a transit licence, not an export authorisation"),
        ("brokering", "the number names a brokering licence, not an export authorisation"),
    ],
)
def test_the_kind_mismatch_says_what_the_number_names_in_plain_words(kind: str, detail: str) -> None:
    # it said "a import licence does not authorise a movement"
    reasons = evaluate(request(), licence(kind=kind), NOTHING, state="CZ", on=TODAY)
    assert [reason.detail for reason in reasons if reason.code == "licence-kind-mismatch"] == [detail]


def test_policy_table_covers_every_code_and_refuse_wins() -> None:
    assert set(POLICY.values()) == {"hold", "refuse"}
    assert POLICY["import-not-authorised"] == "refuse"  # the movement is not authorised (Art. 10(1)-(2))
    found = evaluate(request(), licence(status="revoked"), NOTHING, state="CZ", on=TODAY)
    assert verdict_of(found) == "refuse"
    records = RecordsView(passed=frozenset(), reported=frozenset({"SSG08001"}), unmarked_imports=frozenset())
    both = evaluate(request(), licence(status="revoked"), records, state="CZ", on=TODAY)
    assert {reason.code for reason in both} == {"licence-revoked", "item-reported-lost-or-stolen"}
    assert verdict_of(both) == "refuse"


def test_serials_given_on_a_component_line_are_judged_like_a_firearms() -> None:
    barrels = LineView(line=3, category="component", quantity=2, remaining=2, serials=frozenset({"B-1", "B-2"}))
    view = licence(lines={**licence().lines, 3: barrels})
    assert codes(request(lines=[CheckLine(line=3, quantity=1, serials=["b 1"])]), view) == []
    assert codes(request(lines=[CheckLine(line=3, quantity=1)]), view) == []  # components need no serials
    assert codes(request(lines=[CheckLine(line=3, quantity=1, serials=["SSG08-001"])]), view) == [
        "serial-not-on-licence"
    ]
    records = RecordsView(passed=frozenset({"B1"}), reported=frozenset({"B2"}), unmarked_imports=frozenset())
    assert codes(request(lines=[CheckLine(line=3, quantity=2, serials=["B-1", "B-2"])]), view, records) == [
        "serial-already-passed",
        "item-reported-lost-or-stolen",
    ]


def test_a_component_line_that_lists_no_serials_takes_any_serial_but_another_lines() -> None:
    barrels = LineView(line=3, category="component", quantity=2, remaining=2, serials=frozenset())
    view = licence(lines={**licence().lines, 3: barrels})
    assert codes(request(lines=[CheckLine(line=3, quantity=1, serials=["B-9"])]), view) == []
    assert codes(request(lines=[CheckLine(line=3, quantity=1, serials=["ssg08 001"])]), view) == [
        "serial-not-on-licence"
    ]
    records = RecordsView(passed=frozenset({"B9"}), reported=frozenset(), unmarked_imports=frozenset())
    assert codes(request(lines=[CheckLine(line=3, quantity=1, serials=["B-9"])]), view, records) == [
        "serial-already-passed"
    ]


def test_the_first_and_the_last_day_of_validity_are_valid() -> None:
    assert codes(request(), licence(valid_from=TODAY)) == []
    assert codes(request(), licence(expires_on=TODAY)) == []


def authorisation(held: HeldAuthorisation | None, **changes: Any) -> AuthorisationView:
    values: dict[str, Any] = {
        "number": "DE-IMP-2026-42",
        "state": "DE",
        "held": held,
    }
    values.update(changes)
    return AuthorisationView(**values)


def held(**changes: Any) -> HeldAuthorisation:
    values: dict[str, Any] = {
        "kind": "import",
        "origin": "local",
        "status": "issued",
        "valid_from": dt.date(2026, 11, 1),
        "expires_on": dt.date(2027, 12, 31),
        "exporting_state": "AT",
    }
    values.update(changes)
    return HeldAuthorisation(**values)


@pytest.mark.parametrize(
    ("movement", "state", "view", "detail"),
    [
        ("import", "DE", authorisation(held()), None),
        ("import", "DE", authorisation(None), "DE holds no import authorisation DE-IMP-2026-42 of its own"),
        ("import", "DE", AuthorisationView(), "the export licence names no import authorisation"),
        ("import", "DE", authorisation(held(status="revoked")), "import authorisation DE-IMP-2026-42 is revoked"),
        (
            "import",
            "DE",
            authorisation(held(kind="export")),
            "DE-IMP-2026-42 is DE's export licence, not an import authorisation",
        ),
        (
            "import",
            "DE",
            # the importing State's own record is its word on its dates
            authorisation(held(valid_from=dt.date(2026, 12, 1))),
            "import authorisation DE-IMP-2026-42 is valid from 2026-12-01",
        ),
        # at export the importing State's, as received; none received: the export gate judged the dates recorded
        # in the licence, and kept the licence within them (its own licence-expired says the rest)
        ("export", "AT", authorisation(None), None),
        # received: its own dates, the importing State's word
        (
            "export",
            "AT",
            authorisation(held(expires_on=dt.date(2026, 11, 28), origin="received")),
            "import authorisation DE-IMP-2026-42 expired on 2026-11-28",
        ),
        (
            "export",
            "AT",
            authorisation(held(status="suspended", origin="received")),
            "import authorisation DE-IMP-2026-42 is suspended",
        ),
        # in transit the authorisation is the exporting and importing States' business: not judged
        ("transit", "CZ", authorisation(None), None),
    ],
)
def test_the_import_authorisation_named_is_judged_at_export_and_import(
    movement: str, state: str, view: AuthorisationView, detail: str | None
) -> None:
    found = evaluate(request(movement), licence(import_authorisation=view), NOTHING, state=state, on=TODAY)
    assert [(reason.code, reason.detail) for reason in found] == (
        [] if detail is None else [("import-not-authorised", detail)]
    )
