"""``POST /api/v1/checks`` (DESIGN §5): every reason code, the policy, idempotency, held checks."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, clock, db, item_events, items, licences, received
from firearms.exchange import trust
from firearms.item_types import NewEvent, NewItem, NewMarking
from firearms.licence_object import LicenceLine
from firearms.licence_views import LicenceStatus
from firearms.settings import Settings
from tests.check_helpers import (
    NUMBER,
    at_licence,
    authorise_import,
    check_body,
    receive,
    register_firearm,
    register_stolen,
)
from tests.conftest import TokenFactory
from tests.db.test_local_dates import zone_on_another_date
from tests.exchange_util import VECTORS
from tests.licensing_helpers import LINES, TODAY, issued_export, register_parties

# A third line of AT's licence in the component tests: two barrels with their serials.
BARRELS = LicenceLine(
    line=3,
    category="component",
    type="barrel",
    make="Steyr",
    model="SSG 08",
    calibre=".308 Win",
    quantity=2,
    serials=["B-1", "B-2"],
)

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def cz(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[Client]:
    """The API of CZ's registry (a transit State)."""
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, state="CZ"))) as client:
        yield client


@pytest.fixture
async def de(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[Client]:
    """The API of DE's registry (the importing State)."""
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, state="DE"))) as client:
        yield client


async def customs(auth: TokenFactory) -> dict[str, str]:
    return await auth("customs-officer")


async def post_check(client: Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/checks", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def codes(answer: dict[str, Any]) -> list[str]:
    return [reason["code"] for reason in answer["reasons"]]


async def test_transit_check_clears_and_keeps_the_tally(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    answer = await post_check(cz, headers, check_body())
    assert answer["verdict"] == "clear"
    assert answer["reasons"] == []
    assert answer["licence"]["status"] == "issued"
    assert answer["licence"]["lines"] == [{"line": 1, "remaining": 0}, {"line": 2, "remaining": 0}]
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 802
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial WHERE movement = 'transit'") == 2


async def test_licence_unknown_is_a_refuse_not_a_404(cz: Client, auth: TokenFactory) -> None:
    answer = await post_check(cz, await customs(auth), check_body(licence_number="AT-EXP-2026-999999"))
    assert answer["verdict"] == "refuse"
    assert codes(answer) == ["licence-unknown"]
    assert answer["licence"] is None


async def test_licence_not_yet_valid(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(valid_from=TODAY + dt.timedelta(days=3)), state="CZ")
    answer = await post_check(cz, await customs(auth), check_body())
    assert (answer["verdict"], codes(answer)) == ("refuse", ["licence-not-yet-valid"])


async def test_licence_expired(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(
        conn,
        at_licence(valid_from=TODAY - dt.timedelta(days=30), expires_on=TODAY - dt.timedelta(days=1)),
        state="CZ",
    )
    answer = await post_check(cz, await customs(auth), check_body())
    assert (answer["verdict"], codes(answer)) == ("refuse", ["licence-expired"])


async def test_a_check_judges_the_licence_on_today_in_the_registry_zone(
    cz: Client, conn: db.Conn, settings: Settings, auth: TokenFactory
) -> None:
    zone = zone_on_another_date()
    local, utc = clock.today(zone), clock.today(dt.UTC)
    last_day = min(local, utc)  # the last day for one registry, yesterday for the other
    await receive(conn, at_licence(valid_from=last_day - dt.timedelta(days=30), expires_on=last_day), state="CZ")
    headers = await customs(auth)
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, state="CZ", time_zone=zone))) as zoned:
        ahead, behind = (zoned, cz) if local > utc else (cz, zoned)
        refused = await post_check(ahead, headers, check_body())
        assert (refused["verdict"], codes(refused)) == ("refuse", ["licence-expired"])
        assert (await post_check(behind, headers, check_body()))["verdict"] == "clear"


@pytest.mark.parametrize(("status", "code"), [("suspended", "licence-suspended"), ("revoked", "licence-revoked")])
async def test_licence_suspended_or_revoked(
    status: LicenceStatus, code: str, cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await receive(conn, at_licence(), state="CZ")
    async with conn.transaction():
        await received.apply_status(
            conn,
            issuing_state="AT",
            number=NUMBER,
            status=status,
            reason="inquiry",
            actor="peer:AT",
        )
    answer = await post_check(cz, await customs(auth), check_body())
    assert (answer["verdict"], codes(answer)) == ("refuse", [code])


async def test_state_not_on_route(de: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="DE")
    answer = await post_check(de, await customs(auth), check_body("transit"))
    assert (answer["verdict"], codes(answer)) == ("refuse", ["state-not-on-route"])


async def test_transit_consent_missing(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ", consent=False)
    answer = await post_check(cz, await customs(auth), check_body())
    assert (answer["verdict"], codes(answer)) == ("refuse", ["transit-consent-missing"])


async def test_quantity_exceeds_balance(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    answer = await post_check(cz, await customs(auth), check_body(lines=[{"line": 2, "quantity": 801}]))
    assert answer["verdict"] == "refuse"
    assert answer["reasons"][0] | {"detail": None} == {
        "code": "quantity-exceeds-balance",
        "line": 2,
        "serial": None,
        "detail": None,
    }
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0


async def test_serial_not_on_licence_is_held(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    body = check_body(lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-0O2"]}])
    answer = await post_check(cz, await customs(auth), body)
    assert answer["verdict"] == "hold"
    assert [(reason["code"], reason["serial"]) for reason in answer["reasons"]] == [
        ("serial-not-on-licence", "SSG08-0O2")
    ]
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0


async def test_a_serial_equal_only_under_a_general_case_mapping_is_not_on_the_licence(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # U+017F (long s) upper-cases to "S": a general case mapping would clear SSG08-002 by another serial.
    other = "\u017fSG08-002"
    await receive(conn, at_licence(), state="CZ")
    body = check_body(lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001", other]}])
    answer = await post_check(cz, await customs(auth), body)
    assert answer["verdict"] == "hold"
    assert [(reason["code"], reason["serial"]) for reason in answer["reasons"]] == [("serial-not-on-licence", other)]


async def test_serial_already_passed_on_a_second_passage(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    first = await post_check(cz, headers, check_body(lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}]))
    assert first["verdict"] == "clear"
    second = await post_check(cz, headers, check_body(lines=[{"line": 1, "quantity": 1, "serials": ["ssg08 001"]}]))
    assert second["verdict"] == "refuse"
    assert [(reason["code"], reason["serial"]) for reason in second["reasons"]] == [
        ("serial-already-passed", "ssg08 001")
    ]


async def test_licence_exhausted_at_export(
    client: Client, conn: db.Conn, settings: Settings, auth: TokenFactory
) -> None:
    await issued_export(conn, settings, await register_parties(conn))
    headers = await customs(auth)
    number = await conn.fetchval("SELECT number FROM licence")
    body = check_body("export", licence_number=number, crossing_point="AT-Wullowitz")
    cleared = await post_check(client, headers, body)
    assert cleared["verdict"] == "clear"
    assert cleared["licence"]["status"] == "exhausted"
    again = await post_check(
        client, headers, check_body("export", licence_number=number, lines=[{"line": 2, "quantity": 1}])
    )
    assert again["verdict"] == "refuse"
    assert codes(again) == ["licence-exhausted", "quantity-exceeds-balance"]
    assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry") == 802


async def test_item_reported_lost_or_stolen_is_held(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    await register_stolen(conn, "SSG08-002")
    answer = await post_check(cz, await customs(auth), check_body())
    assert answer["verdict"] == "hold"
    assert [(reason["code"], reason["serial"]) for reason in answer["reasons"]] == [
        ("item-reported-lost-or-stolen", "SSG08-002")
    ]


async def test_a_stolen_rifle_is_named_under_an_unknown_licence_or_line(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # The verdict is refuse either way, but the officer must learn that the rifle is reported stolen here: the
    # answer said only licence-unknown (or line-not-on-licence), and the rifle was turned back, not stopped.
    await receive(conn, at_licence(), state="CZ")
    await register_stolen(conn, "SSG08-001")
    headers = await customs(auth)
    unknown = await post_check(
        cz,
        headers,
        check_body(licence_number="AT-EXP-2026-999999", lines=[{"line": 1, "quantity": 1, "serials": ["ssg08 001"]}]),
    )
    assert unknown["verdict"] == "refuse"
    assert [(r["code"], r["line"], r["serial"]) for r in unknown["reasons"]] == [
        ("licence-unknown", None, None),
        ("item-reported-lost-or-stolen", 1, "ssg08 001"),
    ]
    no_line = await post_check(cz, headers, check_body(lines=[{"line": 7, "quantity": 1, "serials": ["SSG08-001"]}]))
    assert no_line["verdict"] == "refuse"
    assert [(r["code"], r["line"], r["serial"]) for r in no_line["reasons"]] == [
        ("line-not-on-licence", 7, None),
        ("item-reported-lost-or-stolen", 7, "SSG08-001"),
    ]
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0


async def test_import_marking_missing_is_held(de: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="DE")
    await register_firearm(conn, "SSG08-001")  # registered in DE without DE's import marking
    await register_firearm(conn, "SSG08-002", import_marking="DE")
    body = check_body("import", crossing_point="DE-Passau")
    answer = await post_check(de, await customs(auth), body)
    assert answer["verdict"] == "hold"
    assert [(reason["code"], reason["serial"]) for reason in answer["reasons"]] == [
        ("import-marking-missing", "SSG08-001")
    ]


@pytest.mark.parametrize(
    ("made_in", "exported", "namesake", "held"),
    [
        ("DE", True, False, False),  # made here, recorded leaving: coming home, bearing DE's manufacture marking
        ("DE", False, False, True),  # made here, never recorded leaving: the registry cannot tell it is coming home
        ("AT", True, False, True),  # made abroad: it needs DE's import marking, whether or not it left once
        ("DE", True, True, True),  # another maker's unmarked firearm here bears the serial too: a person looks
    ],
)
async def test_a_firearm_made_here_coming_home_is_not_held_for_an_import_marking(
    made_in: str, exported: bool, namesake: bool, held: bool, de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # Art. 8(1)(b) marks an imported firearm with its country of import, so that its authorities can trace it; a
    # firearm this State made bears its marking already, and its records show it left. It was held all the same.
    await receive(conn, at_licence(), state="DE")
    marking = NewMarking(
        kind="manufacture", stamped=f"MADE IN {made_in} SSG08-001", serial="SSG08-001", country=made_in
    )
    item = NewItem(
        kind="firearm",
        manufacturer="Waffenfabrik",
        country_of_manufacture=made_in,
        serial="SSG08-001",
        firearm_type="rifle",
        make="Waffenfabrik",
        model="SSG 08",
        calibre=".308 Win",
        markings=[marking],
    )
    item_id = (await items.register_item(conn, item, actor="officer:records", today=TODAY)).item_id
    if exported:
        left = NewEvent(event="exported", occurred_on=TODAY, country="AT")
        await item_events.record_event(conn, item_id, left, actor="officer:records", today=TODAY)
    if namesake:
        await register_firearm(conn, "SSG08-001")  # a Steyr rifle made in AT, registered here without the marking
    await register_firearm(conn, "SSG08-002", import_marking="DE")
    answer = await post_check(de, await customs(auth), check_body("import", crossing_point="DE-Passau"))
    assert [(reason["code"], reason["serial"]) for reason in answer["reasons"]] == (
        [("import-marking-missing", "SSG08-001")] if held else []
    )
    assert answer["verdict"] == ("hold" if held else "clear")


async def test_same_check_id_same_request_gives_the_same_answer_and_debits_once(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 2, "quantity": 100}])
    first = await cz.post("/api/v1/checks", json=body, headers=headers)
    second = await cz.post("/api/v1/checks", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 100
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 1


async def test_a_replay_after_a_line_became_ammunition_answers_the_first_answer(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # A retry of a recorded check must answer what the first one answered, whatever the licence became since:
    # it was 422 serials-not-allowed once the issuing State's next version made the barrels' line ammunition.
    await receive(conn, at_licence(lines=[*LINES, BARRELS]), state="CZ")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 3, "quantity": 1, "serials": ["B-1"]}])
    first = await cz.post("/api/v1/checks", json=body, headers=headers)
    assert (first.status_code, first.json()["verdict"]) == (200, "clear")
    cartridges = LicenceLine(
        line=3, category="ammunition", type="cartridge", make="Hirtenberger", model="", calibre="9 mm", quantity=2
    )
    await receive(conn, at_licence(version=2, lines=[*LINES, cartridges]), state="CZ", consent=False)
    again = await cz.post("/api/v1/checks", json=body, headers=headers)
    assert (again.status_code, again.content) == (200, first.content)
    other = await cz.post("/api/v1/checks", json=check_body(lines=body["lines"]), headers=headers)
    assert (other.status_code, other.json()["type"].rsplit("/", 1)[-1]) == (422, "serials-not-allowed")
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 1
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 1


async def test_same_check_id_other_request_is_409(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 2, "quantity": 100}])
    await post_check(cz, headers, body)
    changed = body | {"lines": [{"line": 2, "quantity": 101}]}
    conflict = await cz.post("/api/v1/checks", json=changed, headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["type"].endswith("/check-id-conflict")
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 100


async def test_held_check_released_then_debits(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    await register_stolen(conn, "SSG08-002")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}])
    held = await post_check(cz, headers, body)
    assert (held["verdict"], codes(held)) == ("hold", ["item-reported-lost-or-stolen"])
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0
    released = await cz.post(
        f"/api/v1/checks/{body['check_id']}/release", json={"reason": "recovered: police report seen"}, headers=headers
    )
    assert released.status_code == 200, released.text
    assert released.json()["decision"] == "release"
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 2
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 2
    again = await cz.post(f"/api/v1/checks/{body['check_id']}/refuse", json={"reason": "x"}, headers=headers)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/check-not-held")


async def test_a_check_holds_a_stolen_deactivated_firearm_and_the_stolen_look_ups_find_it(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """A deactivated firearm is still kept (it can be reactivated; Reg. 2015/2403): stolen, a check holds it."""
    await receive(conn, at_licence(), state="CZ")
    item_id = await register_firearm(conn, "SSG08-002")
    mark = NewMarking(
        kind="deactivation", stamped=f"CZ CP {TODAY.year}", country="CZ", symbol_code="CP", year=TODAY.year
    )
    deactivation = NewEvent(
        event="deactivated",
        occurred_on=TODAY,
        deactivator="Zbrojíř Novák",
        verifier="Český úřad pro zkoušení zbraní",
        certificate_number="CZ-DEAC-2026-4",
        certificate_date=TODAY,
    )
    async with conn.transaction():
        await items.add_marking(conn, item_id, mark, actor="officer:records", today=TODAY)
        for data in (deactivation, NewEvent(event="stolen", occurred_on=TODAY)):
            await item_events.record_event(conn, item_id, data, actor="police", today=TODAY)
    records = await auth("records-officer")
    stolen = await cz.get("/api/v1/items", params={"status": "stolen"}, headers=records)
    assert stolen.status_code == 200, stolen.text
    assert [(item["item_id"], item["category"]) for item in stolen.json()["items"]] == [(item_id, "C")]
    body = check_body(lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}])
    held = await post_check(cz, await customs(auth), body)
    assert held["verdict"] == "hold"
    assert [(r["code"], r["line"], r["serial"]) for r in held["reasons"]] == [
        ("item-reported-lost-or-stolen", 1, "SSG08-002")
    ]
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0


async def test_a_release_is_refused_for_an_item_reported_stolen_since_the_hold(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # The officer held SSG08-002 (reported stolen) and looked at it; SSG08-001 was reported stolen only after
    # the hold. The release did not look again: both rifles passed and were tallied, the second unseen.
    await receive(conn, at_licence(), state="CZ")
    await register_stolen(conn, "SSG08-002")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}])
    held = await post_check(cz, headers, body)
    assert (held["verdict"], codes(held)) == ("hold", ["item-reported-lost-or-stolen"])
    await register_stolen(conn, "SSG08-001")
    outbox = await conn.fetchval("SELECT count(*) FROM notice_outbox")
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "ok"}, headers=headers)
    assert released.status_code == 409, released.text
    assert released.headers["content-type"].startswith("application/problem+json")
    problem = released.json()
    assert problem["type"].endswith("/item-reported-lost-or-stolen")
    assert problem["serials"] == ["SSG08-001"]
    assert await conn.fetchval("SELECT count(*) FROM check_decision") == 0
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox") == outbox
    refused = await cz.post(f"/api/v1/checks/{body['check_id']}/refuse", json={"reason": "stolen"}, headers=headers)
    assert refused.status_code == 200, refused.text


@pytest.mark.parametrize(
    ("serials", "code"),
    [
        (["SSG08-001", "SSG08-0O2"], "serial-not-on-licence"),  # misread: the rifle stamped SSG08-002
        (["SSG08-001"], "serial-count-mismatch"),  # a second rifle found in the crate
        ([], "serials-missing"),
    ],
)
async def test_a_check_held_for_its_serials_is_not_released_but_checked_again(
    serials: list[str], code: str, cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """A release would record the serials as presented: the real SSG08-002 would never be marked as passed."""
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 1, "quantity": 2, "serials": serials}])
    held = await post_check(cz, headers, body)
    assert (held["verdict"], codes(held)) == ("hold", [code])
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "ok"}, headers=headers)
    assert released.status_code == 409, released.text
    assert (released.json()["type"].rsplit("/", 1)[-1], released.json()["reasons"]) == (
        "serials-need-correction",
        [code],
    )
    assert await conn.fetchval("SELECT count(*) FROM check_decision") == 0
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0
    refused = await cz.post(
        f"/api/v1/checks/{body['check_id']}/refuse", json={"reason": "serials read again"}, headers=headers
    )
    assert refused.status_code == 200, refused.text
    again = await post_check(
        cz, headers, check_body(lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}])
    )
    assert again["verdict"] == "clear"
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 2


async def test_held_check_refused_debits_nothing(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 1, "quantity": 1, "serials": ["XYZ-1"]}])
    held = await post_check(cz, headers, body)
    assert held["verdict"] == "hold"
    refused = await cz.post(
        f"/api/v1/checks/{body['check_id']}/refuse", json={"reason": "not on licence"}, headers=headers
    )
    assert refused.json()["decision"] == "refuse"
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0
    record = await cz.get(f"/api/v1/checks/{body['check_id']}", headers=await auth("auditor"))
    assert record.json()["answer"] == held


async def test_clear_check_cannot_be_released(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    body = check_body()
    await post_check(cz, headers, body)
    response = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "x"}, headers=headers)
    assert response.status_code == 409


async def test_checks_listed_by_licence_and_by_serial(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    for serial in ("SSG08-001", "SSG08-002", "NOPE-3"):
        await post_check(cz, headers, check_body(lines=[{"line": 1, "quantity": 1, "serials": [serial]}]))
    auditor = await auth("auditor")
    by_licence = await cz.get(
        "/api/v1/checks", params={"licence_number": NUMBER, "issuing_state": "AT", "limit": "2"}, headers=auditor
    )
    page = by_licence.json()
    assert len(page["items"]) == 2
    rest = await cz.get(
        "/api/v1/checks",
        params={"licence_number": NUMBER, "issuing_state": "AT", "after": page["next"]},
        headers=auditor,
    )
    assert len(rest.json()["items"]) == 1
    assert rest.json()["next"] is None
    by_serial = await cz.get("/api/v1/checks", params={"serial": "ssg08.002"}, headers=auditor)
    assert [item["answer"]["verdict"] for item in by_serial.json()["items"]] == ["clear"]
    for params in ({}, {"licence_number": NUMBER}, {"serial": "SSG08-001", "licence_number": NUMBER}):
        # neither filter, half of one, or both at once (which one would the list follow?)
        ambiguous = await cz.get("/api/v1/checks", params=params, headers=auditor)
        assert (ambiguous.status_code, ambiguous.json()["type"].rsplit("/", 1)[-1]) == (422, "invalid-check-filter")


async def test_a_recorded_check_shows_the_consignment_it_judged(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    # An auditor reading a check, or the checks of a serial, saw the answer but not what was presented: not the
    # licence number of a licence-unknown check, nor the lines, serials, shipment or customs document.
    headers = await customs(auth)
    body = check_body(
        licence_number="AT-EXP-2026-999999",
        shipment_id="SHP-9",
        customs_document="MRN-26CZ0009",
        lines=[{"line": 1, "quantity": 1, "serials": ["ssg08 001"]}],
    )
    answer = await post_check(cz, headers, body)
    assert answer["licence"] is None
    auditor = await auth("auditor")
    record = (await cz.get(f"/api/v1/checks/{body['check_id']}", headers=auditor)).json()
    assert record["request"] == body
    by_serial = (await cz.get("/api/v1/checks", params={"serial": "SSG08-001"}, headers=auditor)).json()
    assert [item["request"] for item in by_serial["items"]] == [body]
    by_licence = await cz.get(
        "/api/v1/checks", params={"licence_number": "AT-EXP-2026-999999", "issuing_state": "AT"}, headers=auditor
    )
    assert [item["request"] for item in by_licence.json()["items"]] == [body]


async def test_a_check_recorded_under_earlier_input_rules_is_still_shown(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # Until the input patterns refused a final line feed, "AT\n" was recorded (refuse, licence-unknown). Such a
    # record must stay readable: its request is shown as recorded, not converted under today's rules.
    headers = await customs(auth)
    body = check_body(licence_number="AT-EXP-2026-999998")
    await post_check(cz, headers, body)
    earlier = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO customs_check
        SELECT (jsonb_populate_record(c, jsonb_build_object(
                  'check_id', $2::uuid, 'request', jsonb_set(c.request, '{issuing_state}', to_jsonb('AT' || chr(10))))
               )).*
          FROM customs_check AS c WHERE c.check_id = $1
        """,
        uuid.UUID(body["check_id"]),
        earlier,
    )
    answer = await cz.get(f"/api/v1/checks/{earlier}", headers=await auth("auditor"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["request"]["issuing_state"] == "AT\n"


@pytest.mark.parametrize(
    "body",
    [
        {"movement": "smuggling"},
        {"check_id": "not-a-uuid"},
        {"lines": []},
        {"lines": [{"line": 1, "quantity": 0}]},
        {"lines": [{"line": 1, "quantity": -1}]},
        {"lines": [{"line": 1, "quantity": 1.5}]},
        {"lines": [{"line": 1, "quantity": "2"}]},  # a number in a string is not a number
        {"lines": [{"line": "1", "quantity": 2}]},
        {"issuing_state": "at"},
        {"extra": True},
        {"lines": [{"line": 1, "quantity": 1, "serials": [""]}]},
        {"licence_number": "AT-EXP-2026\n000123"},
    ],
)
async def test_bad_check_requests_are_400_and_record_nothing(
    body: dict[str, Any], cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    response = await cz.post("/api/v1/checks", json=check_body() | body, headers=await customs(auth))
    assert response.status_code == 400
    assert response.json()["type"].endswith("/invalid-request")
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            check_body(lines=[{"line": 1, "quantity": "2"}]),
            {"message": "Expected `int`, got `str`", "key": "lines[0].quantity", "source": "body"},
        ),
        (
            check_body(movement="fly"),
            {  # never the value sent (README "Security"): msgspec's "Invalid enum value 'fly'" quoted it
                "message": "'movement' is not one of the values it takes: export, import, transit",
                "key": "movement",
                "source": "body",
            },
        ),
        (
            {key: value for key, value in check_body().items() if key != "movement"},
            {"message": "Object missing required field `movement`", "key": "data", "source": "body"},
        ),
        ([check_body()], {"message": "Expected `object`, got `array`", "key": "data", "source": "body"}),
    ],
)
async def test_a_body_of_other_types_is_described_as_litestar_describes_it(
    body: Any, error: dict[str, Any], cz: Client, auth: TokenFactory
) -> None:
    # The strict check answers what Litestar's own conversion answered before it: clients read the
    # same message (without msgspec's "- at `$...`" suffix) and the same key ("data" for the body itself).
    response = await cz.post("/api/v1/checks", json=body, headers=await customs(auth))
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"].endswith("/invalid-request")
    assert problem["errors"] == [error]
    assert problem["detail"] == error["message"]


async def test_check_of_a_suspended_own_licence_is_refused(
    client: Client, conn: db.Conn, settings: Settings, auth: TokenFactory
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    async with conn.transaction():
        await licences.transition(conn, licence_id=lic.licence_id, to="suspended", actor="officer:l", reason="inquiry")
    answer = await post_check(client, await customs(auth), check_body("export", licence_number=lic.licence.number))
    assert (answer["verdict"], codes(answer)) == ("refuse", ["licence-suspended"])
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 0


async def test_licence_not_issued(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(status="pending", issued_at=None), state="CZ")
    answer = await post_check(cz, await customs(auth), check_body())
    assert (answer["verdict"], codes(answer)) == ("refuse", ["licence-not-issued"])


async def test_licence_kind_mismatch(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(kind="transit"), state="CZ")
    answer = await post_check(cz, await customs(auth), check_body())
    assert (answer["verdict"], codes(answer)) == ("refuse", ["licence-kind-mismatch"])


async def test_line_not_on_licence(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    answer = await post_check(cz, await customs(auth), check_body(lines=[{"line": 9, "quantity": 1}]))
    assert answer["verdict"] == "refuse"
    assert [(reason["code"], reason["line"]) for reason in answer["reasons"]] == [("line-not-on-licence", 9)]


async def test_firearms_without_serials_are_held(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    answer = await post_check(cz, await customs(auth), check_body(lines=[{"line": 1, "quantity": 2}]))
    assert (answer["verdict"], codes(answer)) == ("hold", ["serials-missing"])
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        # Each line alone fits the 800 cartridges; together they do not.
        ([{"line": 2, "quantity": 500}, {"line": 2, "quantity": 500}], "duplicate-line"),
        (
            [
                {"line": 1, "quantity": 1, "serials": ["SSG08-001"]},
                {"line": 1, "quantity": 1, "serials": ["SSG08-002"]},
            ],
            "duplicate-line",
        ),
        ([{"line": 1, "quantity": 2, "serials": ["SSG08-001", "ssg08 001"]}], "duplicate-serial"),
    ],
)
@pytest.mark.parametrize("movement", ["export", "transit"])
async def test_a_line_or_serial_given_twice_is_422_and_records_nothing(
    movement: str,
    lines: list[dict[str, Any]],
    code: str,
    client: Client,
    cz: Client,
    conn: db.Conn,
    settings: Settings,
    auth: TokenFactory,
) -> None:
    if movement == "export":
        registry = client
        number = (await issued_export(conn, settings, await register_parties(conn))).licence.number
    else:
        registry = cz
        number = (await receive(conn, at_licence(), state="CZ")).licence.number
    body = check_body(movement, lines=lines, licence_number=number)
    response = await registry.post("/api/v1/checks", json=body, headers=await customs(auth))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(f"/{code}")
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"licence_number": f"{NUMBER} "},
        {"licence_number": f" {NUMBER}"},
        {"shipment_id": "SHP-1\u00a0"},
        # the customs document (an MRN) is an identifier too: it names the debit and the receipt confirmation
        {"customs_document": "MRN-26CZ0001 "},
        {"customs_document": "\u202fMRN-26CZ0001"},
    ],
)
async def test_a_padded_licence_number_shipment_id_or_customs_document_is_422_not_a_recorded_refusal(
    changes: dict[str, Any], cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    response = await cz.post("/api/v1/checks", json=check_body(**changes), headers=headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/padded-value")
    assert problem["field"] == next(iter(changes))
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox") == 0
    assert (await post_check(cz, headers, check_body()))["verdict"] == "clear"  # the same, unpadded


@pytest.mark.parametrize("space", [" ", "\u00a0", "\u2007", "\u202f", "\u3000"])
@pytest.mark.parametrize("where", ["licence_number", "serial"])
async def test_a_licence_number_or_serial_padded_with_any_white_space_is_422_padded_value(
    space: str, where: str, cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # The registry's white space (item_rules.SPACE_CHARACTERS) is one definition: a no-break space pasted from
    # a web page pads a serial as a blank does. A padded serial was never refused: one padded with a no-break
    # space was recorded as a hold (serial-not-on-licence), one padded with a blank cleared.
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    if where == "serial":
        lines: list[dict[str, Any]] = [
            {"line": 1, "quantity": 2, "serials": ["SSG08-001", f"SSG08-002{space}"]},
            {"line": 2, "quantity": 800},
        ]
        body = check_body(lines=lines)
    else:
        body = check_body(licence_number=f"{space}{NUMBER}")
    response = await cz.post("/api/v1/checks", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/padded-value")
    assert problem["field"] == where
    if where == "serial":
        assert (problem["line"], problem["serial"]) == (1, f"SSG08-002{space}")
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0
    assert (await post_check(cz, headers, check_body()))["verdict"] == "clear"  # the same, unpadded


@pytest.mark.parametrize("control", ["\x85", "\x9f"])
async def test_a_c1_control_character_in_a_licence_number_is_refused_as_such_not_as_padding(
    control: str, cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # NEL (U+0085) is white space to Python's str.strip() but a control character to the registry: it was
    # padded-value at the end of a licence number and, inside one, a recorded refuse (licence-unknown).
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    for number in (f"{NUMBER}{control}", f"AT-EXP{control}2026-000123"):
        response = await cz.post("/api/v1/checks", json=check_body(licence_number=number), headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["type"].endswith("/invalid-request")
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"licence_number": f"{NUMBER}\n"},
        {"issuing_state": "AT\n"},
        {"crossing_point": "CZ-Dolni Dvoriste\n"},
        {"shipment_id": "SHIP-1\n"},
        {"customs_document": "MRN-26CZ0001\n"},
        {"lines": [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002\n"]}]},
    ],
)
async def test_a_value_ending_in_a_line_feed_is_400_not_recorded(
    changes: dict[str, Any], cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # A "$" in a pattern also matches before a final line feed: "AT\n" passed as a State code and was recorded
    # as a refuse (licence-unknown), a licence number ending in one too; a crossing point kept the control character.
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    response = await cz.post("/api/v1/checks", json=check_body() | changes, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("/invalid-request")
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0


@pytest.mark.parametrize("status", ["suspended", "revoked", "expired"])
async def test_release_fails_when_the_licence_is_no_longer_usable(
    status: LicenceStatus, cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001"]}])
    held = await post_check(cz, headers, body)
    assert held["verdict"] == "hold"
    async with conn.transaction():
        await received.apply_status(
            conn, issuing_state="AT", number=NUMBER, status=status, reason="inquiry", actor="peer:AT"
        )
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "ok"}, headers=headers)
    assert released.status_code == 409, released.text
    assert released.json()["type"].endswith("/licence-not-usable")
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0
    assert await conn.fetchval("SELECT count(*) FROM check_decision") == 0


async def test_serials_on_an_ammunition_line_are_422_and_do_not_take_a_rifles_serial(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 2, "quantity": 10, "serials": ["SSG08-001"]}])
    response = await cz.post("/api/v1/checks", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/serials-not-allowed")
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0
    rifle = await post_check(cz, headers, check_body(lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}]))
    assert (rifle["verdict"], codes(rifle)) == ("clear", [])


async def test_a_component_serial_passing_twice_is_refused_not_a_409(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await receive(conn, at_licence(lines=[*LINES, BARRELS]), state="CZ")
    headers = await customs(auth)
    first = await post_check(cz, headers, check_body(lines=[{"line": 3, "quantity": 1, "serials": ["B-1"]}]))
    assert first["verdict"] == "clear"
    second = await post_check(cz, headers, check_body(lines=[{"line": 3, "quantity": 1, "serials": ["b 1"]}]))
    assert (second["verdict"], codes(second)) == ("refuse", ["serial-already-passed"])
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 1


async def test_more_serials_than_components_is_held_and_marks_no_serial_as_passed(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # One barrel presented with two serials: a clear tallied one barrel and recorded both serials as passed,
    # so the second barrel, when it came, was refused as already passed though it was never counted.
    await receive(conn, at_licence(lines=[*LINES, BARRELS]), state="CZ")
    headers = await customs(auth)
    both = await post_check(cz, headers, check_body(lines=[{"line": 3, "quantity": 1, "serials": ["B-1", "B-2"]}]))
    assert (both["verdict"], codes(both)) == ("hold", ["serial-count-mismatch"])
    assert both["reasons"][0]["line"] == 3
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0
    second = await post_check(cz, headers, check_body(lines=[{"line": 3, "quantity": 1, "serials": ["B-2"]}]))
    assert (second["verdict"], codes(second)) == ("clear", [])


async def test_a_replay_after_the_release_answers_the_first_hold_and_takes_nothing_more(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await receive(conn, at_licence(), state="CZ")
    await register_stolen(conn, "SSG08-001")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}])
    held = await post_check(cz, headers, body)
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "ok"}, headers=headers)
    assert released.status_code == 200
    replayed = await post_check(cz, headers, body)
    assert replayed == held
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 1
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 1


async def test_the_journal_says_what_a_release_took(
    client: Client, conn: db.Conn, settings: Settings, auth: TokenFactory
) -> None:
    # A held check's own entry takes nothing (lines []); the release is the change that debits the ledger,
    # and its entry must say what it took, as a clear's entry does: an auditor rebuilds the ledger from it.
    number = (await issued_export(conn, settings, await register_parties(conn))).licence.number
    await register_stolen(conn, "SSG08-001")
    headers = await customs(auth)
    body = check_body(
        "export",
        licence_number=number,
        crossing_point="AT-Wullowitz",
        lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 300}],
    )
    assert (await post_check(client, headers, body))["verdict"] == "hold"
    released = await client.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "ok"}, headers=headers)
    assert released.status_code == 200, released.text
    payload = await conn.fetchval(
        "SELECT payload FROM journal_entry WHERE action = 'check.released' AND entity_id = $1", body["check_id"]
    )
    assert payload["movement"] == "export"
    assert payload["lines"] == [
        {"line": 1, "quantity": 1, "serials": ["SSG08-001"]},
        {"line": 2, "quantity": 300, "serials": []},
    ]
    assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry") == 301


async def test_the_journal_says_what_a_transit_release_took(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="CZ")
    await register_stolen(conn, "SSG08-002")
    headers = await customs(auth)
    body = check_body()
    assert (await post_check(cz, headers, body))["verdict"] == "hold"
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "ok"}, headers=headers)
    assert released.status_code == 200, released.text
    payloads = await conn.fetch("SELECT payload FROM journal_entry WHERE action = 'check.released'")
    assert [row["payload"]["lines"] for row in payloads] == [
        [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}, {"line": 2, "quantity": 800, "serials": []}]
    ]


async def _trust(conn: db.Conn, *states: str) -> None:
    async with conn.transaction():
        for state in states:
            await trust.add_peer(
                conn,
                own_state="CZ",
                state=state,
                base_url=f"http://{state.lower()}.example",
                public_key=VECTORS["keys"]["DE" if state == "DE" else "OTHER"]["public_key"],
                not_before=None,
                actor="test",
            )


async def _passages(conn: db.Conn) -> list[tuple[str, str, list[str]]]:
    rows = await conn.fetch(
        "SELECT recipient, body FROM notice_outbox WHERE type = 'transit.passage-recorded' ORDER BY recipient, sequence"
    )
    return [(row["recipient"], row["body"]["verdict"], row["body"]["reasons"]) for row in rows]


@pytest.mark.parametrize(("decision", "verdict"), [("release", "clear"), ("refuse", "refuse")])
async def test_the_decision_on_a_held_transit_check_is_reported_to_the_exporting_and_importing_states(
    decision: str, verdict: str, cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await _trust(conn, "AT", "DE")
    await receive(conn, at_licence(), state="CZ")
    await register_stolen(conn, "SSG08-002")
    headers = await customs(auth)
    body = check_body()
    assert (await post_check(cz, headers, body))["verdict"] == "hold"
    held = ["item-reported-lost-or-stolen"]
    assert await _passages(conn) == [("AT", "hold", held), ("DE", "hold", held)]
    decided = await cz.post(f"/api/v1/checks/{body['check_id']}/{decision}", json={"reason": "seen"}, headers=headers)
    assert decided.status_code == 200, decided.text
    told = [] if verdict == "clear" else held  # a refusal says why: the reasons the check was held for
    assert await _passages(conn) == [
        ("AT", "hold", held),
        ("AT", verdict, told),
        ("DE", "hold", held),
        ("DE", verdict, told),
    ]
    assert (await post_check(cz, headers, body))["verdict"] == "hold"  # a replay tells no one again
    assert len(await _passages(conn)) == 4


@pytest.mark.parametrize("placeholder", ["-", "--", "/", "n/a", " . "])
async def test_a_serial_without_letters_or_digits_is_422_and_does_not_pass_for_the_next_one(
    placeholder: str, cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # Every such "serial" is the empty string in normalised form: one written in for a barrel without a
    # readable serial cleared and was recorded as passed, and the next consignment's "-" was refused as a
    # serial that had already passed. A licence refuses such serials too (invalid-serial).
    barrels = LicenceLine(
        line=3, category="component", type="barrel", make="Steyr", model="SSG 08", calibre=".308 Win", quantity=5
    )
    await receive(conn, at_licence(lines=[*LINES, barrels]), state="CZ")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 3, "quantity": 1, "serials": [placeholder]}])
    response = await cz.post("/api/v1/checks", json=body, headers=headers)
    if placeholder == "n/a":  # letters: a serial, not on the licence, judged as such
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 422, response.text
    problem = response.json()
    assert (problem["type"].rsplit("/", 1)[-1], problem["line"], problem["serial"]) == (
        "invalid-serial",
        3,
        placeholder,
    )
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0


async def test_an_exit_is_cleared_only_against_this_states_own_export_licence(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # An export authorisation is issued by the exporting State. A partner's licence that names this
    # State as the exporter (a partner's error, or worse) cleared an exit here: it debited a ledger for a
    # licence this State never issued and announced a dispatch in its name.
    await receive(conn, at_licence(exporting_state="CZ", transit_states=[]), state="CZ")
    answer = await post_check(cz, await customs(auth), check_body("export", crossing_point="CZ-Hatě"))
    assert answer["verdict"] == "refuse"
    assert codes(answer) == ["state-not-on-route"]
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 0
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0


@pytest.mark.parametrize(
    ("lines", "verdict", "code"),
    [
        ([{"line": 9, "quantity": 1}], "refuse", ["line-not-on-licence"]),
        # beyond the line, and beyond DE's authorisation of 800 cartridges too
        ([{"line": 2, "quantity": 801}], "refuse", ["import-not-authorised", "quantity-exceeds-balance"]),
        ([{"line": 1, "quantity": 1, "serials": ["SSG08-999"]}], "hold", ["serial-not-on-licence"]),
    ],
)
async def test_an_entry_check_writes_no_receipt_for_items_not_on_the_licence(
    lines: list[dict[str, Any]], verdict: str, code: list[str], de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # The officer's one way to record a receipt (or, at the exit, a dispatch) is a check that clears or a held
    # one released: items the licence does not hold are refused or held, and such a hold is not released.
    await receive(conn, at_licence(), state="DE")
    headers = await customs(auth)
    body = check_body("import", lines=lines, crossing_point="DE-Passau", shipment_id="SHP-1")
    answer = await post_check(de, headers, body)
    assert (answer["verdict"], codes(answer)) == (verdict, code)
    released = await de.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "ok"}, headers=headers)
    assert released.status_code == 409, released.text
    assert released.json()["type"].rsplit("/", 1)[-1] == (
        "check-not-held" if verdict == "refuse" else "serials-need-correction"
    )
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'receipt.confirmed'") == 0
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0


@pytest.mark.parametrize(("state", "movement"), [("CZ", "transit"), ("DE", "import")])
async def test_a_tally_above_an_amended_quantity_leaves_nothing_not_a_negative_remaining(
    state: str, movement: str, cz: Client, de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # 500 of the 800 cartridges passed here; AT's next version lowers the line to 300 (AT's own ledger allows it:
    # its debits are its own exits, not this State's passages). The answer said remaining -200.
    client = cz if state == "CZ" else de
    await receive(conn, at_licence(), state=state)
    headers = await customs(auth)
    crossing = {"crossing_point": "DE-Passau"} if state == "DE" else {}
    first = await post_check(client, headers, check_body(movement, lines=[{"line": 2, "quantity": 500}], **crossing))
    assert first["verdict"] == "clear"
    fewer = [LINES[0], msgspec.structs.replace(LINES[1], quantity=300)]
    await receive(conn, at_licence(version=2, lines=fewer), state=state, consent=False)  # asks less: consent covers it
    answer = await post_check(client, headers, check_body(movement, lines=[{"line": 2, "quantity": 1}], **crossing))
    assert (answer["verdict"], codes(answer)) == ("refuse", ["quantity-exceeds-balance"])
    assert answer["licence"]["lines"] == [{"line": 1, "remaining": 2}, {"line": 2, "remaining": 0}]
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 500


async def test_a_serial_the_registry_refuses_is_422_on_a_component_line_that_lists_none(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # A component line whose licence line lists no serials compares a serial with nothing: one written in
    # letters of another script cleared and was recorded as passed, and a Cyrillic A typed for the Latin "A"
    # of a barrel reported stolen here passed the look-up (which holds only Latin serials). Registrations and
    # own licences refuse such serials (invalid-serial); so does the check, where nothing vouches for them.
    # A serial the issuing State listed, in whatever letters, is still checked as listed.
    foreign = "\u0417\u041a-002"  # Cyrillic ZE KA -002, as a partner's licence may list it
    rifles = msgspec.structs.replace(LINES[0], serials=["SSG08-001", foreign])
    barrels = msgspec.structs.replace(BARRELS, quantity=5, serials=[])
    await receive(conn, at_licence(lines=[rifles, LINES[1], barrels]), state="CZ")
    headers = await customs(auth)
    for serial in ("\u0410B-7", "\u017fB-7", "\uff22-7", "B\u00df-7"):  # Cyrillic A, long s, full-width B, sharp s
        body = check_body(lines=[{"line": 3, "quantity": 1, "serials": [serial]}])
        response = await cz.post("/api/v1/checks", json=body, headers=headers)
        assert response.status_code == 422, (serial, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert (problem["type"].rsplit("/", 1)[-1], problem["line"], problem["serial"]) == (
            "invalid-serial",
            3,
            serial,
        )
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0
    # the listed foreign serial on the component line: on the licence, but on another line (a person looks)
    misplaced = await post_check(cz, headers, check_body(lines=[{"line": 3, "quantity": 1, "serials": [foreign]}]))
    assert [(reason["code"], reason["serial"]) for reason in misplaced["reasons"]] == [
        ("serial-not-on-licence", foreign)
    ]
    # on its line it clears, as the issuing State listed it; a barrel's Latin serial clears on the barrel line
    listed = await post_check(
        cz, headers, check_body(lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001", foreign]}])
    )
    assert (listed["verdict"], listed["reasons"]) == ("clear", [])
    latin = await post_check(cz, headers, check_body(lines=[{"line": 3, "quantity": 1, "serials": ["AB-7"]}]))
    assert (latin["verdict"], latin["reasons"]) == ("clear", [])


async def test_verify_at_a_transit_or_entry_state_counts_what_passed_there_as_its_checks_do(
    cz: Client, de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # A partner's licence debits nothing here: the issuing State's ledger counts its exits. What remains for this
    # State is what its own checks judge against, its tally for its part on the route; before, verify answered
    # the issued quantities as remaining after the whole consignment had passed.
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    passage = await post_check(cz, headers, check_body(lines=[{"line": 2, "quantity": 300}]))
    assert passage["verdict"] == "clear"
    verified = await cz.get(f"/api/v1/verify/{NUMBER}", params={"issuing_state": "AT"}, headers=headers)
    assert verified.status_code == 200, verified.text
    assert [
        (line["line"], line["issued"], line["debited"], line["remaining"]) for line in verified.json()["lines"]
    ] == [
        (1, 2, 0, 2),
        (2, 800, 300, 500),
    ]
    assert [line["remaining"] for line in passage["licence"]["lines"]] == [2, 500]
    # the importing State's own tally is another: nothing entered there yet
    entered = await de.get(f"/api/v1/verify/{NUMBER}", params={"issuing_state": "AT"}, headers=headers)
    assert [line["remaining"] for line in entered.json()["lines"]] == [2, 800]
    await authorise_import(conn)  # DE's own authorisation, which its entry check judges
    await post_check(de, headers, check_body("import", lines=[{"line": 2, "quantity": 800}]))
    entered = await de.get(f"/api/v1/verify/{NUMBER}", params={"issuing_state": "AT"}, headers=headers)
    assert [line["remaining"] for line in entered.json()["lines"]] == [2, 0]


async def test_verify_of_a_partner_number_without_its_state_says_to_give_it(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # A border officer at a transit post scans AT's barcode: the number alone is looked up as CZ's own.
    await receive(conn, at_licence(), state="CZ")
    answer = await cz.get(f"/api/v1/verify/{NUMBER}", headers=await customs(auth))
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["issuing_state"] == "CZ"
    assert problem["detail"] == (
        f"no licence {NUMBER} of CZ: for a partner's licence give its issuing State (?issuing_state=AT)"
    )


async def test_an_export_check_of_a_firearm_line_issued_without_serials_is_held_and_debits_nothing(
    client: Client, conn: db.Conn, settings: Settings, auth: TokenFactory
) -> None:
    # PROTOCOL §5 lets a licence be issued with its serials unknown; the shipment waits for them: a check holds each
    # serial the line does not list.
    p = await register_parties(conn)
    rifles = msgspec.structs.replace(LINES[0], serials=[])
    lic = await issued_export(conn, settings, p, lines=[rifles, LINES[1]])
    body = check_body("export", licence_number=lic.licence.number, crossing_point="AT-Wullowitz")
    answer = await post_check(client, await customs(auth), body)
    assert answer["verdict"] == "hold"
    assert [(reason["code"], reason["serial"]) for reason in answer["reasons"]] == [
        ("serial-not-on-licence", "SSG08-001"),
        ("serial-not-on-licence", "SSG08-002"),
    ]
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 0
