from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import clock, db
from firearms.lifecycle import EVENTS, STATUSES, TRANSITIONS
from firearms.settings import Settings
from tests.conftest import TokenFactory
from tests.db.test_local_dates import zone_on_another_date

PROBLEM = "tag:firearms-registry,2026:problems/"
TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def rifle(serial: str = "SSG08-001", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "firearm",
        "firearm_type": "rifle",
        "manufacturer": "Steyr Mannlicher",
        "country_of_manufacture": "AT",
        "serial": serial,
        "make": "Steyr",
        "model": "SSG 08",
        "calibre": ".308 Win",
        "year_of_manufacture": 2019,
        "markings": [{"kind": "manufacture", "stamped": f"STEYR AUSTRIA {serial}", "serial": serial}],
    }
    body.update(changes)
    return body


async def row_counts(conn: db.Conn) -> tuple[int, int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM item), (SELECT count(*) FROM marking), (SELECT count(*) FROM item_event)"
    )
    assert row is not None
    return (row[0], row[1], row[2])


@pytest.fixture
async def officer(auth: TokenFactory) -> dict[str, str]:
    return await auth("records-officer")


async def register(client: AsyncTestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:  # type: ignore[type-arg]
    response = await client.post("/api/v1/items", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_register_then_read_with_markings(client: AsyncTestClient, officer: dict[str, str]) -> None:  # type: ignore[type-arg]
    created = await register(client, officer, rifle())
    assert created["serial_normalised"] == "SSG08001"
    response = await client.get(f"/api/v1/items/{created['item_id']}", headers=officer)
    assert response.status_code == 200
    assert response.json()["markings"][0]["stamped"] == "STEYR AUSTRIA SSG08-001"


async def test_duplicate_registration_is_409_with_existing_item_id(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    created = await register(client, officer, rifle("ab 12"))
    before = await row_counts(conn)
    response = await client.post("/api/v1/items", json=rifle("AB-12"), headers=officer)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == PROBLEM + "item-already-registered"
    assert response.json()["item_id"] == created["item_id"]
    assert await row_counts(conn) == before


async def test_a_recorded_identity_duplicate_is_shown_on_the_item_and_found_by_its_serial(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    first = await register(client, officer, rifle("SSG69-7"))
    assert first["identity_duplicate_of"] is None
    # as 20261129204000 leaves a pair registered under two spellings that a later rule made one identity
    later = await conn.fetchval(
        "INSERT INTO item (kind, firearm_type, country_of_manufacture, manufacturer, serial, registered_at,"
        " registered_by, identity_duplicate_of) VALUES ('firearm', 'rifle', 'AT', 'Steyr\u00a0Mannlicher',"
        " 'SSG69-7', now(), 'test:records', $1) RETURNING item_id",
        first["item_id"],
    )
    shown = await client.get(f"/api/v1/items/{later}", headers=officer)
    assert shown.status_code == 200
    assert shown.json()["identity_duplicate_of"] == first["item_id"]
    found = await client.get("/api/v1/items", params={"serial": "ssg 69 7"}, headers=officer)
    assert found.status_code == 200
    assert [(item["item_id"], item["identity_duplicate_of"]) for item in found.json()["items"]] == [
        (first["item_id"], None),
        (later, first["item_id"]),
    ]
    again = await client.post("/api/v1/items", json=rifle("SSG69-7"), headers=officer)
    assert again.status_code == 409
    assert (again.json()["type"], again.json()["item_id"]) == (PROBLEM + "item-already-registered", first["item_id"])


BAD_INPUT = [
    ("unknown country", rifle(country_of_manufacture="XX"), 422, "invalid-country"),
    ("lower-case country", rifle(country_of_manufacture="at"), 422, "invalid-country"),
    ("year in future", rifle(year_of_manufacture=dt.datetime.now(dt.UTC).year + 1), 422, "year-in-future"),
    ("empty serial", rifle(""), 422, "invalid-serial"),
    ("control character serial", rifle("AB\x0712"), 422, "invalid-serial"),
    ("NUL in serial", rifle("AB\x0012"), 422, "invalid-serial"),
    ("padded serial", rifle(" AB12"), 422, "invalid-serial"),
    ("non-Latin serial", rifle("\u0410\u041112"), 422, "invalid-serial"),
    ("padded make", rifle(make="Steyr "), 422, "padded-value"),
    ("control character model", rifle(model="SSG\n08"), 422, "invalid-text"),
    ("empty calibre", rifle(calibre=""), 422, "invalid-text"),
    ("no identifying marking", rifle(markings=[{"kind": "proof", "stamped": "BP"}]), 422, "marking-required"),
    ("no marking at all", rifle(markings=[]), 422, "marking-required"),
    ("antique after 1900", rifle(category="antique", year_of_manufacture=1950), 422, "antique-too-recent"),
    (
        "geometric marking without codes",
        rifle(markings=[{"kind": "geometric", "stamped": "<>"}]),
        422,
        "invalid-marking",
    ),
    ("firearm with quantity", rifle(quantity=3), 422, "invalid-kind-fields"),
    ("unknown field", rifle(colour="red"), 400, "invalid-request"),
    ("unknown firearm type", rifle(firearm_type="cannon"), 400, "invalid-request"),
    ("year before 1300", rifle(year_of_manufacture=1200), 400, "invalid-request"),
    ("parent that does not exist", {**rifle(), "parent_item_id": 12345}, 422, "invalid-kind-fields"),
    (
        "parent id beyond bigint",
        {
            "kind": "component",
            "component_type": "barrel",
            "manufacturer": "Steyr Mannlicher",
            "country_of_manufacture": "AT",
            "serial": "B-1",
            "parent_item_id": 2**63,
        },
        400,
        "invalid-request",
    ),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_INPUT, ids=[case[0] for case in BAD_INPUT])
async def test_bad_registration_is_a_problem_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
    case: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    before = await row_counts(conn)
    journal_before = await conn.fetchval("SELECT count(*) FROM journal_entry")
    response = await client.post("/api/v1/items", json=body, headers=officer)
    assert response.status_code == status, (case, response.text)
    assert response.json()["type"] == PROBLEM + code
    assert await row_counts(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == journal_before


async def test_component_with_missing_parent_is_invalid_parent(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    body = {
        "kind": "component",
        "component_type": "barrel",
        "manufacturer": "Steyr Mannlicher",
        "country_of_manufacture": "AT",
        "serial": "B-1",
        "parent_item_id": 999,
    }
    response = await client.post("/api/v1/items", json=body, headers=officer)
    assert response.status_code == 422
    assert response.json()["type"] == PROBLEM + "invalid-parent"
    assert await row_counts(conn) == (0, 0, 0)


async def test_marking_for_missing_item_is_404_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    response = await client.post(
        "/api/v1/items/4242/markings", json={"kind": "proof", "stamped": "BP"}, headers=officer
    )
    assert response.status_code == 404
    assert response.json()["type"] == PROBLEM + "not-found"
    assert await row_counts(conn) == (0, 0, 0)


DEACTIVATION_MARK = {
    "kind": "deactivation",
    "stamped": "AT BMI 2026",
    "country": "AT",
    "symbol_code": "BMI",
    "year": 2026,
}


# Who deactivated, who verified, and the certificate (Art. 9; Reg. 2015/2403 Art. 3).
DEACTIVATION = {
    "deactivator": "Büchsenmacher Huber, Steyr",
    "verifier": "Beschussamt Wien",
    "certificate_number": "AT-DEAC-2026-17",
    "certificate_date": TODAY,
}


# The events that put a fresh (active) item into each status.
PATH_TO: dict[str, list[str]] = {
    "active": [],
    "lost": ["lost"],
    "stolen": ["stolen"],
    "seized": ["seized"],
    "destroyed": ["destroyed"],
    "exported": ["exported"],
    "deactivated": ["deactivated"],
}
ILLEGAL = [(status, event) for status in STATUSES for event in EVENTS if status not in TRANSITIONS[event]]


def event_body(event: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"event": event, "occurred_on": TODAY}
    if event == "imported":
        body.update(temporary=True, purpose="exhibition")
    if event == "corrected":
        body["reason"] = "typing error"
    if event == "transferred":
        body["to_party"] = "Waffen Huber KG"
    if event == "exported":
        body["country"] = "DE"
    if event == "deactivated":
        body.update(DEACTIVATION)
    body.update(changes)
    return body


async def test_every_illegal_transition_is_409_naming_status_and_allowed_events(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    assert len(ILLEGAL) > 30
    item_of: dict[str, int] = {}
    for status, events in PATH_TO.items():
        created = await register(client, officer, rifle(f"ST-{status}"))
        if "deactivated" in events:
            mark = await client.post(
                f"/api/v1/items/{created['item_id']}/markings", json=DEACTIVATION_MARK, headers=officer
            )
            assert mark.status_code == 201, mark.text
        for event in events:
            response = await client.post(
                f"/api/v1/items/{created['item_id']}/events", json=event_body(event), headers=officer
            )
            assert response.status_code == 201, response.text
        item_of[status] = created["item_id"]
    before = await row_counts(conn)
    for status, event in ILLEGAL:
        response = await client.post(f"/api/v1/items/{item_of[status]}/events", json=event_body(event), headers=officer)
        assert response.status_code == 409, (status, event)
        problem = response.json()
        assert problem["type"] == PROBLEM + "illegal-transition"
        assert problem["current_status"] == status
        assert problem["event"] == event
        assert problem["allowed_events"] == [e for e in EVENTS if status in TRANSITIONS[e]]
        assert "corrected" in problem["allowed_events"]
    assert await row_counts(conn) == before
    destroyed = await client.get(f"/api/v1/items/{item_of['destroyed']}", headers=officer)
    assert destroyed.json()["status"] == "destroyed"


async def test_import_event_needs_import_marking_unless_temporary(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    item_id = (await register(client, officer, rifle()))["item_id"]
    url = f"/api/v1/items/{item_id}/events"
    before = await row_counts(conn)
    refused = await client.post(url, json={"event": "imported", "occurred_on": TODAY}, headers=officer)
    assert refused.status_code == 409
    assert refused.json()["type"] == PROBLEM + "import-marking-missing"
    assert await row_counts(conn) == before
    no_purpose = await client.post(
        url, json={"event": "imported", "occurred_on": TODAY, "temporary": True}, headers=officer
    )
    assert no_purpose.status_code == 422
    assert no_purpose.json()["type"] == PROBLEM + "invalid-event-fields"
    temporary = await client.post(url, json=event_body("imported"), headers=officer)
    assert temporary.status_code == 201
    mark = {"kind": "import", "stamped": "AT 26", "country": "AT", "year": 2026}
    assert (await client.post(f"/api/v1/items/{item_id}/markings", json=mark, headers=officer)).status_code == 201
    permanent = await client.post(url, json={"event": "imported", "occurred_on": TODAY}, headers=officer)
    assert permanent.status_code == 201


async def test_release_from_state_stocks_needs_state_to_civilian_marking(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
) -> None:
    item_id = (await register(client, officer, rifle()))["item_id"]
    url = f"/api/v1/items/{item_id}/events"
    body = {"event": "transferred", "occurred_on": TODAY, "from_state_stocks": True, "to_party": "Dealer X"}
    refused = await client.post(url, json=body, headers=officer)
    assert refused.status_code == 409
    assert refused.json()["type"] == PROBLEM + "state-to-civilian-marking-missing"
    mark = {"kind": "state-to-civilian", "stamped": "AT-S", "country": "AT"}
    assert (await client.post(f"/api/v1/items/{item_id}/markings", json=mark, headers=officer)).status_code == 201
    assert (await client.post(url, json=body, headers=officer)).status_code == 201


async def test_an_event_is_in_the_future_only_after_today_in_the_registry_zone(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    settings: Settings,
    conn: db.Conn,
) -> None:
    zone = zone_on_another_date()
    local, utc = clock.today(zone), clock.today(dt.UTC)
    url = f"/api/v1/items/{(await register(client, officer, rifle()))['item_id']}/events"
    event = {
        "event": "lost",
        "occurred_on": max(local, utc).isoformat(),
    }  # tomorrow for one registry, today for the other
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, time_zone=zone))) as zoned:
        ahead, behind = (zoned, client) if local > utc else (client, zoned)
        refused = await behind.post(url, json=event, headers=officer)
        assert refused.status_code == 422
        assert refused.json()["type"] == PROBLEM + "date-in-future"
        accepted = await ahead.post(url, json=event, headers=officer)
        assert accepted.status_code == 201, accepted.text
    assert await conn.fetchval("SELECT occurred_on FROM item_event") == max(local, utc)


BAD_EVENTS = [
    ("future date", {"event": "lost", "occurred_on": "2999-01-01"}, 422, "date-in-future"),
    ("unknown country", {"event": "exported", "occurred_on": TODAY, "country": "ZZ"}, 422, "invalid-country"),
    ("padded party", {"event": "transferred", "occurred_on": TODAY, "to_party": "X "}, 422, "padded-value"),
    ("padded document", event_body("transferred", document=" D-1"), 422, "padded-value"),
    (
        "correction without reason",
        {"event": "corrected", "occurred_on": TODAY, "corrects_event_id": None},
        422,
        "invalid-event-fields",
    ),
    ("correction of unknown event", event_body("corrected", corrects_event_id=999999), 422, "invalid-correction"),
    (
        "correction of an event id beyond bigint",
        event_body("corrected", corrects_event_id=2**63),
        400,
        "invalid-request",
    ),
    ("unknown event", {"event": "vanished", "occurred_on": TODAY}, 400, "invalid-request"),
    ("transfer without recipient", {"event": "transferred", "occurred_on": TODAY}, 422, "invalid-event-fields"),
    ("export without destination", {"event": "exported", "occurred_on": TODAY}, 422, "invalid-event-fields"),
]


@pytest.mark.parametrize(("case", "body", "status", "code"), BAD_EVENTS, ids=[case[0] for case in BAD_EVENTS])
async def test_bad_event_is_a_problem_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
    case: str,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    item_id = (await register(client, officer, rifle()))["item_id"]
    before = await row_counts(conn)
    response = await client.post(f"/api/v1/items/{item_id}/events", json=body, headers=officer)
    assert response.status_code == status, (case, response.text)
    assert response.json()["type"] == PROBLEM + code
    assert await row_counts(conn) == before


async def test_event_on_missing_item_is_404(client: AsyncTestClient, officer: dict[str, str]) -> None:  # type: ignore[type-arg]
    response = await client.post("/api/v1/items/777/events", json=event_body("lost"), headers=officer)
    assert response.status_code == 404
    for url in ("/api/v1/items/777", "/api/v1/items/777/history"):
        missing = await client.get(url, headers=officer)
        assert missing.status_code == 404
        assert missing.json()["type"] == PROBLEM + "not-found"
        assert missing.json()["item_id"] == 777


async def test_correction_of_latest_event_restores_status_and_history_is_in_time_order(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
) -> None:
    item_id = (await register(client, officer, rifle()))["item_id"]
    url = f"/api/v1/items/{item_id}/events"
    stolen = (await client.post(url, json=event_body("stolen"), headers=officer)).json()
    assert stolen["status_after"] == "stolen"
    corrected = await client.post(
        url, json=event_body("corrected", corrects_event_id=stolen["event_id"]), headers=officer
    )
    assert corrected.status_code == 201
    assert corrected.json()["status_after"] == "active"
    again = await client.post(url, json=event_body("corrected", corrects_event_id=stolen["event_id"]), headers=officer)
    assert again.json()["status_after"] == "active"
    first = await client.get(f"/api/v1/items/{item_id}/history", params={"limit": 2}, headers=officer)
    assert first.status_code == 200
    rest = await client.get(f"/api/v1/items/{item_id}/history", params={"after": first.json()["next"]}, headers=officer)
    entries = first.json()["items"] + rest.json()["items"]
    assert [entry["source"] for entry in entries] == ["registration", "marking", "event", "event", "event"]
    assert [entry["detail"].get("event") for entry in entries[2:]] == ["stolen", "corrected", "corrected"]
    assert [entry["at"] for entry in entries] == sorted(entry["at"] for entry in entries)
    assert rest.json()["next"] is None


async def test_exact_search_filters_and_pagination(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
) -> None:
    for n in range(5):
        await register(client, officer, rifle(f"PG-{n}", model="A" if n % 2 else "B"))
    exact = await client.get("/api/v1/items", params={"serial": "pg 3"}, headers=officer)
    assert [item["serial"] for item in exact.json()["items"]] == ["PG-3"]
    folded = await client.get("/api/v1/items", params={"serial": "P6-3"}, headers=officer)
    assert folded.json()["items"] == []
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, Any] = {"model": "B", "limit": 2, **({"after": after} if after else {})}
        response = await client.get("/api/v1/items", params=params, headers=officer)
        seen += [item["serial"] for item in response.json()["items"]]
        after = response.json()["next"]
        if after is None:
            break
    assert seen == ["PG-0", "PG-2", "PG-4"]
    bad_cursor = await client.get("/api/v1/items", params={"after": "nonsense"}, headers=officer)
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["type"] == PROBLEM + "invalid-cursor"


async def test_fuzzy_search_ranks_candidates_with_scores(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
) -> None:
    await register(client, officer, rifle("SB0Z-12345"))
    await register(client, officer, rifle("SB0Z-12399"))
    await register(client, officer, rifle("QQQ-777"))
    response = await client.get("/api/v1/items/search", params={"q": "5BOZ 12345", "limit": 1}, headers=officer)
    assert response.status_code == 200
    page = response.json()
    assert page["items"][0]["serial"] == "SB0Z-12345"
    assert page["items"][0]["score"] == pytest.approx(1.0)
    assert page["items"][0]["exact"] is False
    second = await client.get(
        "/api/v1/items/search", params={"q": "5BOZ 12345", "after": page["next"]}, headers=officer
    )
    assert [item["serial"] for item in second.json()["items"]] == ["SB0Z-12399"]
    assert 0 < second.json()["items"][0]["score"] < 1


async def test_customs_officer_reads_but_cannot_write(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    officer: dict[str, str],
) -> None:
    customs = await auth("customs-officer")
    assert (await client.get("/api/v1/items", headers=customs)).status_code == 200
    response = await client.post("/api/v1/items", json=rifle(), headers=customs)
    assert response.status_code == 403
    assert (await client.post("/api/v1/imports", content=b"", headers=customs)).status_code == 403


async def test_reading_an_items_history_is_journaled_with_who_looked(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    # The history names the parties a firearm went to (often private persons): DESIGN §6, who looked at what.
    item_id = (await register(client, officer, rifle()))["item_id"]
    transfer = {"event": "transferred", "occurred_on": TODAY, "to_party": "Jane Doe, Graz"}
    moved = await client.post(f"/api/v1/items/{item_id}/events", json=transfer, headers=officer)
    assert moved.status_code == 201, moved.text
    customs = await auth("customs-officer")
    history = await client.get(f"/api/v1/items/{item_id}/history", headers=customs)
    assert history.status_code == 200
    assert any(entry["detail"].get("to_party") == "Jane Doe, Graz" for entry in history.json()["items"])
    entry = await conn.fetchrow(
        "SELECT actor, action, entity, entity_id, payload FROM journal_entry ORDER BY entry_id DESC LIMIT 1"
    )
    assert entry is not None
    assert (entry["action"], entry["entity"], entry["entity_id"]) == ("item.read", "item", str(item_id))
    # the customs officer who looked (the auth fixture names a token "test <role>"), not the registering one
    assert entry["actor"] == "officer:test customs-officer"
    assert await conn.fetchval("SELECT registered_by FROM item WHERE item_id = $1", item_id) == (
        "officer:test records-officer"
    )
    assert entry["payload"] == {"ids": [str(item_id)]}


async def test_fuzzy_search_ranks_the_exact_serial_before_its_confusables(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
) -> None:
    # Three serials fold alike (score 1.0 each); the one read exactly is the best candidate, whatever
    # was registered first, and paging on shows each candidate once.
    await register(client, officer, rifle("I2345-0", manufacturer="Ceska zbrojovka"))
    await register(client, officer, rifle("L2345-0", manufacturer="Zastava"))
    await register(client, officer, rifle("12345-0", manufacturer="Steyr Mannlicher"))
    first = await client.get("/api/v1/items/search", params={"q": "12345 0", "limit": 1}, headers=officer)
    assert first.status_code == 200
    assert [(item["serial"], item["exact"]) for item in first.json()["items"]] == [("12345-0", True)]
    rest = await client.get(
        "/api/v1/items/search", params={"q": "12345 0", "after": first.json()["next"]}, headers=officer
    )
    assert [(item["serial"], item["exact"]) for item in rest.json()["items"]] == [
        ("I2345-0", False),
        ("L2345-0", False),
    ]


async def test_an_event_dated_before_the_manufacture_or_the_event_it_follows_is_422_naming_both_dates(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    item_id = (await register(client, officer, rifle(year_of_manufacture=2019)))["item_id"]
    url = f"/api/v1/items/{item_id}/events"

    async def refused(body: dict[str, Any], code: str) -> dict[str, Any]:
        before = await row_counts(conn)
        response = await client.post(url, json=body, headers=officer)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem: dict[str, Any] = response.json()
        assert problem["type"] == PROBLEM + code
        assert problem["field"] == "occurred_on"
        assert problem["occurred_on"] == body["occurred_on"]
        assert await row_counts(conn) == before
        return problem

    async def recorded(body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(url, json=body, headers=officer)
        assert response.status_code == 201, response.text
        event: dict[str, Any] = response.json()
        return event

    made = await refused(event_body("lost", occurred_on="2018-12-31"), "date-before-manufacture")
    assert (made["year_of_manufacture"], made["not_before"]) == (2019, "2019-01-01")
    stolen = await recorded(event_body("stolen", occurred_on="2025-06-01"))
    early = await refused(event_body("recovered", occurred_on="2025-05-31"), "date-before-previous-event")
    assert (early["previous_event_id"], early["previous_event"], early["not_before"]) == (
        stolen["event_id"],
        "stolen",
        "2025-06-01",
    )
    recovered = await recorded(event_body("recovered", occurred_on="2025-06-01"))  # the same day is fine
    # a correction is not dated before the event it corrects
    await refused(
        event_body("corrected", occurred_on="2025-05-01", corrects_event_id=recovered["event_id"]),
        "date-before-previous-event",
    )
    # the theft was in 2024: corrections are new entries, and a corrected event no longer bounds the dates
    for event in (recovered, stolen):
        await recorded(event_body("corrected", corrects_event_id=event["event_id"]))
    assert (await recorded(event_body("stolen", occurred_on="2024-01-10")))["status_after"] == "stolen"
    assert (await recorded(event_body("recovered", occurred_on="2024-02-01")))["status_after"] == "active"
    # the year of manufacture was mistyped (2019 for 2015): once the registration record is corrected, it no
    # longer bounds the dates (the item row never changes)
    await recorded(event_body("corrected", corrects_event_id=None, reason="made in 2015, not 2019"))
    assert (await recorded(event_body("transferred", occurred_on="2024-02-01")))["status_after"] == "active"
    other = (await register(client, officer, rifle("SSG08-002", year_of_manufacture=2019)))["item_id"]
    other_url = f"/api/v1/items/{other}/events"
    assert (
        await client.post(other_url, json=event_body("lost", occurred_on="2018-12-31"), headers=officer)
    ).status_code == 422
    fixed = await client.post(
        other_url, json=event_body("corrected", corrects_event_id=None, reason="made in 2015"), headers=officer
    )
    assert fixed.status_code == 201, fixed.text
    assert (
        await client.post(other_url, json=event_body("lost", occurred_on="2018-12-31"), headers=officer)
    ).status_code == 201


async def test_a_late_registered_historical_firearm_takes_its_old_events(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
) -> None:
    # Registered today, made in 1938: its past is dated before its registration, and that is no error.
    item_id = (await register(client, officer, rifle("K98-1938", year_of_manufacture=1938)))["item_id"]
    url = f"/api/v1/items/{item_id}/events"
    for body in (
        event_body("transferred", occurred_on="1950-03-01"),
        event_body("exported", occurred_on="1961-07-14"),
        event_body("imported", occurred_on="1975-01-02"),
        event_body("seized", occurred_on="1975-01-02"),
    ):
        response = await client.post(url, json=body, headers=officer)
        assert response.status_code == 201, response.text
    unknown_year = (await register(client, officer, rifle("NO-YEAR-1", year_of_manufacture=None)))["item_id"]
    response = await client.post(
        f"/api/v1/items/{unknown_year}/events", json=event_body("lost", occurred_on="1901-01-01"), headers=officer
    )
    assert response.status_code == 201, response.text


async def test_a_marking_dated_before_the_item_was_made_is_422_in_the_api_and_the_bulk_import(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    # An import marking stamped in 2015 on a rifle made in 2019: one of the two years is wrong.
    early = {"kind": "import", "stamped": "AT 15", "country": "AT", "year": 2015}
    body = rifle(markings=[*rifle()["markings"], early])
    response = await client.post("/api/v1/items", json=body, headers=officer)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM + "year-before-manufacture"
    assert (problem["field"], problem["year"], problem["year_of_manufacture"]) == ("markings[1].year", 2015, 2019)
    assert await row_counts(conn) == (0, 0, 0)
    item_id = (await register(client, officer, rifle()))["item_id"]
    added = await client.post(f"/api/v1/items/{item_id}/markings", json=early, headers=officer)
    assert added.status_code == 422, added.text
    assert added.json()["type"] == PROBLEM + "year-before-manufacture"
    assert await row_counts(conn) == (1, 1, 0)
    on_time = await client.post(f"/api/v1/items/{item_id}/markings", json={**early, "year": 2019}, headers=officer)
    assert on_time.status_code == 201, on_time.text
    # a mistyped year of manufacture, once the registration record is corrected, no longer bounds the markings
    fixed = await client.post(
        f"/api/v1/items/{item_id}/events",
        json=event_body("corrected", corrects_event_id=None, reason="made in 2014"),
        headers=officer,
    )
    assert fixed.status_code == 201, fixed.text
    assert (await client.post(f"/api/v1/items/{item_id}/markings", json=early, headers=officer)).status_code == 201
    csv_body = (
        "kind,firearm_type,manufacturer,country_of_manufacture,serial,year_of_manufacture,marking_stamped,"
        "import_country,import_year,import_stamped\n"
        "firearm,rifle,Steyr,AT,YB-1,2019,STEYR YB-1,AT,2015,AT 15\n"
        "firearm,rifle,Steyr,AT,YB-2,2019,STEYR YB-2,AT,2020,AT 20\n"
    )
    imported = await client.post(
        "/api/v1/imports", content=csv_body.encode(), headers={**officer, "Content-Type": "text/csv"}
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["rejections"] == [
        {
            "line": 2,
            "reason": "year-before-manufacture",
            "serial": "YB-1",
            "item_id": None,
            "reasons": ["year-before-manufacture"],
        }
    ]


@pytest.mark.parametrize("missing", ["country", "symbol_code", "year"])
async def test_a_deactivation_mark_names_country_verifier_symbol_and_year(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
    missing: str,
) -> None:
    """DESIGN §3 and Reg. 2015/2403 Annex II: the mark is the country, the verifying entity's symbol and the year."""
    item_id = (await register(client, officer, rifle()))["item_id"]
    url = f"/api/v1/items/{item_id}/markings"
    before = await row_counts(conn)
    partial = {name: value for name, value in DEACTIVATION_MARK.items() if name != missing}
    refused = await client.post(url, json=partial, headers=officer)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == PROBLEM + "invalid-marking"
    assert await row_counts(conn) == before
    at_registration = await client.post(
        "/api/v1/items", json=rifle("SSG08-DM", markings=[*rifle("SSG08-DM")["markings"], partial]), headers=officer
    )
    assert at_registration.status_code == 422
    assert at_registration.json()["type"] == PROBLEM + "invalid-marking"
    assert await row_counts(conn) == before
    assert (await client.post(url, json=DEACTIVATION_MARK, headers=officer)).status_code == 201


async def test_deactivation_needs_the_deactivation_mark_first(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """Reg. 2015/2403 Art. 3: a deactivated firearm carries the deactivation mark; none recorded, no deactivation."""
    item_id = (await register(client, officer, rifle()))["item_id"]
    url = f"/api/v1/items/{item_id}/events"
    before = await row_counts(conn)
    refused = await client.post(url, json=event_body("deactivated"), headers=officer)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == PROBLEM + "deactivation-marking-missing"
    assert refused.json()["item_id"] == item_id
    assert await row_counts(conn) == before
    assert (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()["status"] == "active"
    mark = await client.post(f"/api/v1/items/{item_id}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert mark.status_code == 201
    accepted = await client.post(url, json=event_body("deactivated"), headers=officer)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["status_after"] == "deactivated"


async def test_a_deactivation_names_deactivator_verifier_and_certificate_and_they_are_two_people(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """DESIGN §3, Reg. 2015/2403 Art. 3: verified and certified by an entity that is never the deactivator."""
    item_id = (await register(client, officer, rifle()))["item_id"]
    mark = await client.post(f"/api/v1/items/{item_id}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert mark.status_code == 201
    url = f"/api/v1/items/{item_id}/events"
    before = await row_counts(conn)
    plain = {"event": "deactivated", "occurred_on": TODAY}
    cases: list[tuple[dict[str, Any], str]] = [
        *(({**plain, **DEACTIVATION, name: None}, "invalid-event-fields") for name in DEACTIVATION),
        ({**plain, **DEACTIVATION, "verifier": "büchsenmacher  HUBER, steyr"}, "verifier-is-deactivator"),
        ({**plain, **DEACTIVATION, "certificate_date": "2999-01-01"}, "date-in-future"),
        ({**event_body("lost"), "verifier": "Beschussamt Wien"}, "invalid-event-fields"),
    ]
    for body, code in cases:
        response = await client.post(url, json=body, headers=officer)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == PROBLEM + code, body
        assert await row_counts(conn) == before
    accepted = await client.post(url, json={**plain, **DEACTIVATION}, headers=officer)
    assert accepted.status_code == 201, accepted.text
    assert {name: accepted.json()[name] for name in DEACTIVATION} == DEACTIVATION
    history = (await client.get(f"/api/v1/items/{item_id}/history", headers=officer)).json()["items"]
    assert [entry["detail"]["verifier"] for entry in history if entry["source"] == "event"] == ["Beschussamt Wien"]
    journaled = await conn.fetchrow(
        "SELECT payload->>'deactivator', payload->>'verifier', payload->>'certificate_number',"
        " payload->>'certificate_date' FROM journal_entry WHERE action = 'item.deactivated'"
    )
    assert journaled is not None
    assert tuple(journaled) == tuple(DEACTIVATION.values())


async def test_an_item_imported_for_good_is_not_imported_again_before_it_leaves(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """Two imports without an export between them cannot happen: the second one is refused, naming the first."""
    item_id = (await register(client, officer, rifle()))["item_id"]
    url = f"/api/v1/items/{item_id}/events"
    mark = {"kind": "import", "stamped": "AT 26", "country": "AT", "year": 2026}
    assert (await client.post(f"/api/v1/items/{item_id}/markings", json=mark, headers=officer)).status_code == 201
    # a temporary import turned permanent is one arrival (the existing rule allows it)
    assert (await client.post(url, json=event_body("imported"), headers=officer)).status_code == 201
    first = await client.post(url, json={"event": "imported", "occurred_on": TODAY}, headers=officer)
    assert first.status_code == 201
    before = await row_counts(conn)
    for body in ({"event": "imported", "occurred_on": TODAY}, event_body("imported")):
        again = await client.post(url, json=body, headers=officer)
        assert again.status_code == 409, again.text
        assert again.headers["content-type"].startswith("application/problem+json")
        assert (again.json()["type"], again.json()["event_id"]) == (
            PROBLEM + "already-imported",
            first.json()["event_id"],
        )
        assert await row_counts(conn) == before
    # once it has left, it may come back
    left = await client.post(url, json=event_body("exported"), headers=officer)
    assert left.status_code == 201
    back = await client.post(url, json={"event": "imported", "occurred_on": TODAY}, headers=officer)
    assert back.status_code == 201, back.text
    # taking the departure out of its history would leave two arrivals in a row
    before = await row_counts(conn)
    breaks = await client.post(
        url, json=event_body("corrected", corrects_event_id=left.json()["event_id"]), headers=officer
    )
    assert breaks.status_code == 409, breaks.text
    assert (breaks.json()["type"], breaks.json()["event_id"]) == (
        PROBLEM + "correction-breaks-history",
        back.json()["event_id"],
    )
    assert await row_counts(conn) == before
    # a correction of the import it was refused for lets it be recorded again
    corrected = await client.post(
        url, json=event_body("corrected", corrects_event_id=back.json()["event_id"]), headers=officer
    )
    assert corrected.status_code == 201, corrected.text
    assert (
        await client.post(url, json={"event": "imported", "occurred_on": TODAY}, headers=officer)
    ).status_code == 201


async def _deactivate(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    item_id: int,
    **changes: Any,
) -> Any:
    mark = await client.post(f"/api/v1/items/{item_id}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert mark.status_code == 201, mark.text
    return await client.post(
        f"/api/v1/items/{item_id}/events", json=event_body("deactivated", **changes), headers=officer
    )


async def test_a_deactivation_moves_the_item_to_category_c_and_its_correction_moves_it_back(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """Dir. 2021/555 Annex I: a firearm deactivated under Reg. 2015/2403 is category C (DESIGN §3).

    The deactivated event left the item's category as it was: a category B rifle deactivated stayed B in every
    read, list, search and export.
    """
    item_id = (await register(client, officer, rifle(category="B")))["item_id"]
    deactivated = await _deactivate(client, officer, item_id)
    assert deactivated.status_code == 201, deactivated.text
    assert (deactivated.json()["category_before"], deactivated.json()["category_after"]) == ("B", "C")
    assert (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()["category"] == "C"
    listed = await client.get("/api/v1/items", params={"serial": "SSG08-001"}, headers=officer)
    assert [item["category"] for item in listed.json()["items"]] == ["C"]
    found = await client.get("/api/v1/items/search", params={"q": "SSG08-001"}, headers=officer)
    assert [item["category"] for item in found.json()["items"]] == ["C"]
    exported = await client.get("/api/v1/items/export", params={"format": "ndjson"}, headers=officer)
    assert [msgspec.json.decode(line)["category"] for line in exported.text.splitlines()] == ["C"]
    journaled = await conn.fetchrow(
        "SELECT payload->>'category_before', payload->>'category_after' FROM journal_entry"
        " WHERE action = 'item.deactivated'"
    )
    assert journaled is not None
    assert tuple(journaled) == ("B", "C")

    corrected = await client.post(
        f"/api/v1/items/{item_id}/events",
        json=event_body("corrected", corrects_event_id=deactivated.json()["event_id"]),
        headers=officer,
    )
    assert corrected.status_code == 201, corrected.text
    assert (corrected.json()["category_before"], corrected.json()["category_after"]) == ("C", "B")
    item = (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()
    assert (item["status"], item["category"]) == ("active", "B")
    history = (await client.get(f"/api/v1/items/{item_id}/history", headers=officer)).json()["items"]
    assert [
        (entry["detail"]["event"], entry["detail"]["category_before"], entry["detail"]["category_after"])
        for entry in history
        if entry["source"] == "event"
    ] == [("deactivated", "B", "C"), ("corrected", "C", "B")]
    journaled = await conn.fetchrow(
        "SELECT payload->>'category_before', payload->>'category_after' FROM journal_entry"
        " WHERE action = 'item.corrected'"
    )
    assert journaled is not None
    assert tuple(journaled) == ("C", "B")


async def test_a_deactivated_firearm_keeps_its_category_through_theft_seizure_and_recovery(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """The category is what the deactivation made it (Dir. 2021/555 Annex I): a loss, theft or recovery moves none.

    Seized while deactivated, the firearm is not deactivated again (it already is): refused, nothing recorded.
    """
    item_id = (await register(client, officer, rifle(category="B")))["item_id"]
    assert (await _deactivate(client, officer, item_id)).status_code == 201
    url = f"/api/v1/items/{item_id}/events"
    for event, status in [("stolen", "stolen"), ("seized", "seized")]:
        recorded = await client.post(url, json=event_body(event), headers=officer)
        assert recorded.status_code == 201, recorded.text
        assert (recorded.json()["status_after"], recorded.json()["category_after"]) == (status, None)
        assert (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()["category"] == "C"
    before = await row_counts(conn)
    again = await client.post(
        url, json=event_body("deactivated", certificate_number="AT-DEAC-2026-18"), headers=officer
    )
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    problem = again.json()
    assert (problem["type"], problem["current_status"], problem["event"]) == (
        PROBLEM + "illegal-transition",
        "seized",
        "deactivated",
    )
    assert problem["allowed_events"] == ["recovered", "destroyed", "corrected"]
    assert await row_counts(conn) == before
    recovered = await client.post(url, json=event_body("recovered"), headers=officer)
    assert recovered.status_code == 201, recovered.text
    item = (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()
    assert (item["status"], item["category"]) == ("deactivated", "C")
    history = (await client.get(f"/api/v1/items/{item_id}/history", headers=officer)).json()["items"]
    assert [
        (entry["detail"]["event"], entry["detail"]["status_after"], entry["detail"].get("category_after"))
        for entry in history
        if entry["source"] == "event"
    ] == [
        ("deactivated", "deactivated", "C"),
        ("stolen", "stolen", None),
        ("seized", "seized", None),
        ("recovered", "deactivated", None),
    ]
    certificate = await client.get(f"/api/v1/items/{item_id}/deactivation-certificate", headers=officer)
    assert certificate.status_code == 200, certificate.text


async def test_the_category_after_a_deactivation_is_the_officers_and_only_on_a_deactivation(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """A State's stricter law (Dir. 2021/555 Art. 3) may keep a deactivated firearm in B; never 'antique'."""
    item_id = (await register(client, officer, rifle()))["item_id"]  # registered without a category
    mark = await client.post(f"/api/v1/items/{item_id}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert mark.status_code == 201
    url = f"/api/v1/items/{item_id}/events"
    before = await row_counts(conn)
    for body, status, code in [
        (event_body("deactivated", category_after="antique"), 400, "invalid-request"),
        (event_body("lost", category_after="C"), 422, "invalid-event-fields"),
    ]:
        refused = await client.post(url, json=body, headers=officer)
        assert refused.status_code == status, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"] == PROBLEM + code
        assert await row_counts(conn) == before
    accepted = await client.post(url, json=event_body("deactivated", category_after="B"), headers=officer)
    assert accepted.status_code == 201, accepted.text
    assert (accepted.json()["category_before"], accepted.json()["category_after"]) == (None, "B")
    assert (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()["category"] == "B"
    corrected = await client.post(
        url, json=event_body("corrected", corrects_event_id=accepted.json()["event_id"]), headers=officer
    )
    assert corrected.status_code == 201, corrected.text
    assert (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()["category"] is None


async def test_a_verifiers_certificate_is_recorded_for_one_firearm_only(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """Reg. 2015/2403 Art. 3: the verifier issues one certificate per firearm deactivated.

    The same verifier's certificate number was taken for a second firearm: two items showed one certificate.
    """
    first = (await register(client, officer, rifle("SSG08-001")))["item_id"]
    second = (await register(client, officer, rifle("SSG08-002")))["item_id"]
    recorded = await _deactivate(client, officer, first)
    assert recorded.status_code == 201, recorded.text
    before = await row_counts(conn)
    journaled = await conn.fetchval("SELECT count(*) FROM journal_entry")
    again = await _deactivate(client, officer, second, verifier="BESCHUSSAMT  wien")  # one verifier, as names compare
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    problem = again.json()
    assert problem["type"] == PROBLEM + "certificate-already-recorded"
    assert (problem["item_id"], problem["event_id"]) == (first, recorded.json()["event_id"])
    assert await row_counts(conn) == (before[0], before[1] + 1, before[2])  # the mark stays, no event
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == journaled + 1
    assert (await client.get(f"/api/v1/items/{second}", headers=officer)).json()["status"] == "active"

    # another verifier's numbers are its own; and once the first is corrected, its number is free again
    other = await client.post(
        f"/api/v1/items/{second}/events",
        json=event_body("deactivated", verifier="Beschussamt Ferlach"),
        headers=officer,
    )
    assert other.status_code == 201, other.text
    corrected = await client.post(
        f"/api/v1/items/{first}/events",
        json=event_body("corrected", corrects_event_id=recorded.json()["event_id"]),
        headers=officer,
    )
    assert corrected.status_code == 201, corrected.text
    third = (await register(client, officer, rifle("SSG08-003")))["item_id"]
    freed = await _deactivate(client, officer, third)
    assert freed.status_code == 201, freed.text


def ammunition_lot(lot: str = "LOT-2026-01") -> dict[str, Any]:
    return {
        "kind": "ammunition",
        "manufacturer": "Hirtenberger",
        "country_of_manufacture": "AT",
        "serial": lot,
        "calibre": "9x19",
        "headstamp": "HP 9mm",
        "quantity": 5000,
        "category": "B",
        "markings": [{"kind": "manufacture", "stamped": f"HP 9mm {lot}", "serial": lot}],
    }


async def test_an_ammunition_lot_is_never_deactivated(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """Art. 9 and Reg. 2015/2403 deactivate firearms and their parts: a lot of cartridges is destroyed, not deactivated.

    A lot was recorded deactivated, with a verifier's certificate printed for it and its category moved to C.
    """
    lot = (await register(client, officer, ammunition_lot()))["item_id"]
    # a lot takes no deactivation mark either (below); one recorded before that rule held nothing back
    await conn.execute(
        "INSERT INTO marking (item_id, kind, stamped, country, symbol_code, year, recorded_at, recorded_by)"
        " VALUES ($1, 'deactivation', 'AT BMI 2026', 'AT', 'BMI', 2026, now(), 'test')",
        lot,
    )
    before = await row_counts(conn)
    journaled = await conn.fetchval("SELECT count(*) FROM journal_entry")
    refused = await client.post(f"/api/v1/items/{lot}/events", json=event_body("deactivated"), headers=officer)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"] == PROBLEM + "event-not-for-kind"
    assert (problem["item_id"], problem["kind"], problem["event"]) == (lot, "ammunition", "deactivated")
    assert await row_counts(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == journaled
    item = (await client.get(f"/api/v1/items/{lot}", headers=officer)).json()
    assert (item["status"], item["category"]) == ("active", "B")
    certificate = await client.get(f"/api/v1/items/{lot}/deactivation-certificate", headers=officer)
    assert certificate.status_code == 404
    destroyed = await client.post(f"/api/v1/items/{lot}/events", json=event_body("destroyed"), headers=officer)
    assert destroyed.status_code == 201, destroyed.text


async def test_an_ammunition_lot_is_imported_for_good_without_an_import_marking(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """Art. 8(1)(b) marks each imported firearm: a lot of cartridges takes no import marking.

    A permanent import of a lot was 409 import-marking-missing: a lot could only be recorded as imported temporarily.
    """
    lot = (await register(client, officer, ammunition_lot()))["item_id"]
    imported = await client.post(
        f"/api/v1/items/{lot}/events", json=event_body("imported", temporary=False, purpose=None), headers=officer
    )
    assert imported.status_code == 201, imported.text
    assert (imported.json()["temporary"], imported.json()["status_after"]) == (False, "active")
    actions = [row[0] for row in await conn.fetch("SELECT action FROM journal_entry ORDER BY entry_id")]
    assert actions[-1] == "item.imported"
    # a firearm still needs its mark
    rifle_id = (await register(client, officer, rifle()))["item_id"]
    refused = await client.post(
        f"/api/v1/items/{rifle_id}/events", json=event_body("imported", temporary=False, purpose=None), headers=officer
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == PROBLEM + "import-marking-missing"


async def test_an_ammunition_lot_leaves_state_stocks_without_a_state_to_civilian_marking(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
) -> None:
    """Art. 8(1)(c) marks a firearm transferred from State stocks to civilian use: a lot of cartridges takes none.

    A lot released from State stocks was 409 state-to-civilian-marking-missing: it could not be recorded at all.
    """
    lot = (await register(client, officer, ammunition_lot()))["item_id"]
    released = await client.post(
        f"/api/v1/items/{lot}/events", json=event_body("transferred", from_state_stocks=True), headers=officer
    )
    assert released.status_code == 201, released.text
    assert released.json()["from_state_stocks"] is True
    rifle_id = (await register(client, officer, rifle()))["item_id"]
    refused = await client.post(
        f"/api/v1/items/{rifle_id}/events", json=event_body("transferred", from_state_stocks=True), headers=officer
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == PROBLEM + "state-to-civilian-marking-missing"


async def test_a_deactivation_certificate_dated_before_the_firearm_was_made_is_422(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """A verifier certifies a firearm that exists: a certificate dated before its year of manufacture is a typing error.

    The event's own date was held to the year of manufacture, its certificate's date was not (1919 for a 2019 rifle).
    """
    item_id = (await register(client, officer, rifle()))["item_id"]
    mark = await client.post(f"/api/v1/items/{item_id}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert mark.status_code == 201, mark.text
    before = await row_counts(conn)
    journaled = await conn.fetchval("SELECT count(*) FROM journal_entry")
    refused = await client.post(
        f"/api/v1/items/{item_id}/events",
        json=event_body("deactivated", certificate_date="1919-06-30"),
        headers=officer,
    )
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == PROBLEM + "date-before-manufacture"
    assert (problem["field"], problem["certificate_date"], problem["not_before"], problem["year_of_manufacture"]) == (
        "certificate_date",
        "1919-06-30",
        "2019-01-01",
        2019,
    )
    assert await row_counts(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == journaled
    made = await client.post(
        f"/api/v1/items/{item_id}/events",
        json=event_body("deactivated", certificate_date="2019-01-01"),
        headers=officer,
    )
    assert made.status_code == 201, made.text


async def test_an_ammunition_lot_takes_no_deactivation_mark(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """A lot is never deactivated (event-not-for-kind), so a deactivation mark on it records work never done."""
    lot = (await register(client, officer, ammunition_lot()))["item_id"]
    before = await row_counts(conn)
    journaled = await conn.fetchval("SELECT count(*) FROM journal_entry")
    added = await client.post(f"/api/v1/items/{lot}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert added.status_code == 422, added.text
    assert (added.json()["type"], added.json()["field"]) == (PROBLEM + "invalid-marking", "marking")
    body = ammunition_lot("LOT-2026-02")
    body["markings"] = [*body["markings"], DEACTIVATION_MARK]
    registered = await client.post("/api/v1/items", json=body, headers=officer)
    assert registered.status_code == 422, registered.text
    assert (registered.json()["type"], registered.json()["field"]) == (PROBLEM + "invalid-marking", "markings[1]")
    assert await row_counts(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == journaled


async def test_one_firearm_recorded_twice_takes_its_certificate_on_both_records(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """A recorded identity duplicate is the same firearm: its one certificate is recorded on both of its records."""
    first = (await register(client, officer, rifle("SSG08-001")))["item_id"]
    # as 20261129204000 leaves a pair registered under two spellings that a later rule made one identity (before,
    # the test registered "Steyr-Mannlicher", another identity, and marked it: the database now refuses that mark)
    later = await conn.fetchval(
        "INSERT INTO item (kind, firearm_type, country_of_manufacture, manufacturer, serial, registered_at,"
        " registered_by, identity_duplicate_of) VALUES ('firearm', 'rifle', 'AT', 'Steyr\u00a0Mannlicher',"
        " 'SSG08-001', now(), 'test:records', $1) RETURNING item_id",
        first,
    )
    assert (await _deactivate(client, officer, first)).status_code == 201
    both = await _deactivate(client, officer, later)
    assert both.status_code == 201, both.text
    other = (await register(client, officer, rifle("SSG08-009")))["item_id"]
    refused = await _deactivate(client, officer, other)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == PROBLEM + "certificate-already-recorded"
