"""A deactivation certificate looked up by its number (README "Deactivation certificate"; Reg. 2015/2403 Art. 3, 7).

A border or police officer holding a paper certificate had only the number printed on it, and the registry answered
by item id alone: ``GET /api/v1/items/deactivation-certificates?certificate_number=`` names the item(s) whose
deactivation in effect records that number, with the verifier, and the read is journaled as ``item.read``.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from firearms import db
from firearms.db import QUERIES
from firearms.tokens import ROLES
from tests.api.test_items_api import DEACTIVATION, DEACTIVATION_MARK, event_body, rifle
from tests.conftest import TokenFactory

PROBLEM = "tag:firearms-registry,2026:problems/"
URL = "/api/v1/items/deactivation-certificates"
NUMBER = DEACTIVATION["certificate_number"]


@pytest.fixture
async def officer(auth: TokenFactory) -> dict[str, str]:
    return await auth("records-officer")


async def _deactivated(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    serial: str,
    **deactivation: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An item registered, marked and deactivated through the API: the item and the deactivated event."""
    created = await client.post("/api/v1/items", json=rifle(serial), headers=officer)
    assert created.status_code == 201, created.text
    item = created.json()
    marked = await client.post(f"/api/v1/items/{item['item_id']}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert marked.status_code == 201, marked.text
    event = await client.post(
        f"/api/v1/items/{item['item_id']}/events", json=event_body("deactivated", **deactivation), headers=officer
    )
    assert event.status_code == 201, event.text
    return item, event.json()


async def _reads(conn: db.Conn) -> list[tuple[str, str, Any]]:
    rows = await conn.fetch(
        "SELECT actor, entity_id, payload FROM journal_entry WHERE action = 'item.read' ORDER BY entry_id"
    )
    return [(row["actor"], row["entity_id"], row["payload"]) for row in rows]


async def test_a_certificate_number_finds_the_item_deactivated_under_it_with_the_verifier(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    item, event = await _deactivated(client, officer, "SSG08-001")
    await _deactivated(client, officer, "SSG08-002", certificate_number="AT-DEAC-2026-18")
    customs = await auth("customs-officer")  # the officer at the border, the paper in hand
    response = await client.get(URL, params={"certificate_number": NUMBER}, headers=customs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["next"] is None
    (found,) = body["items"]
    assert {name: found[name] for name in ("item_id", "serial", "manufacturer", "status", "category")} == {
        "item_id": item["item_id"],
        "serial": "SSG08-001",
        "manufacturer": "Steyr Mannlicher",
        "status": "deactivated",
        "category": "C",
    }
    assert {
        name: found[name]
        for name in ("event_id", "deactivated_on", "certificate_number", "certificate_date", "verifier")
    } == {
        "event_id": event["event_id"],
        "deactivated_on": event["occurred_on"],
        "certificate_number": NUMBER,
        "certificate_date": DEACTIVATION["certificate_date"],
        "verifier": DEACTIVATION["verifier"],
    }
    # who looked at the names on it (DESIGN §6), as for the printed certificate
    assert await _reads(conn) == [
        ("officer:test customs-officer", str(item["item_id"]), {"ids": [str(item["item_id"])]})
    ]


async def test_a_number_no_deactivation_in_effect_records_finds_nothing_and_journals_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """Unknown, another case of a recorded number (the number is the verifier's, compared as issued), or corrected."""
    item, event = await _deactivated(client, officer, "SSG08-001")
    for number in ("AT-DEAC-2026-99", NUMBER.lower(), NUMBER + "-1"):
        response = await client.get(URL, params={"certificate_number": number}, headers=officer)
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "next": None}, number
    corrected = await client.post(
        f"/api/v1/items/{item['item_id']}/events",
        json=event_body("corrected", corrects_event_id=event["event_id"]),
        headers=officer,
    )
    assert corrected.status_code == 201, corrected.text
    gone = await client.get(URL, params={"certificate_number": NUMBER}, headers=officer)
    assert (gone.status_code, gone.json()) == (200, {"items": [], "next": None})
    assert await _reads(conn) == []  # nothing shown, nothing looked at
    # the firearm deactivated again under the number (a correction freed it): found with the new event
    again = await client.post(
        f"/api/v1/items/{item['item_id']}/events", json=event_body("deactivated"), headers=officer
    )
    assert again.status_code == 201, again.text
    found = await client.get(URL, params={"certificate_number": NUMBER}, headers=officer)
    assert [(row["item_id"], row["event_id"]) for row in found.json()["items"]] == [
        (item["item_id"], again.json()["event_id"])
    ]


async def test_one_number_of_two_verifiers_or_of_one_firearm_recorded_twice_is_listed_page_by_page(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    """Another verifier's numbers are its own; a recorded identity duplicate takes its certificate on both records."""
    first, _ = await _deactivated(client, officer, "SSG08-001")
    other, _ = await _deactivated(client, officer, "SSG08-002", verifier="Beschussamt Ferlach")
    duplicate = await conn.fetchval(
        "INSERT INTO item (kind, firearm_type, country_of_manufacture, manufacturer, serial, registered_at,"
        " registered_by, identity_duplicate_of) VALUES ('firearm', 'rifle', 'AT', 'Steyr\u00a0Mannlicher',"
        " 'SSG08-001', now(), 'test:records', $1) RETURNING item_id",
        first["item_id"],
    )
    marked = await client.post(f"/api/v1/items/{duplicate}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert marked.status_code == 201, marked.text
    both = await client.post(f"/api/v1/items/{duplicate}/events", json=event_body("deactivated"), headers=officer)
    assert both.status_code == 201, both.text
    seen: list[tuple[int, str]] = []
    after: str | None = None
    for _ in range(4):
        params: dict[str, Any] = {"certificate_number": NUMBER, "limit": 1} | ({"after": after} if after else {})
        page = await client.get(URL, params=params, headers=officer)
        assert page.status_code == 200, page.text
        seen += [(row["item_id"], row["verifier"]) for row in page.json()["items"]]
        after = page.json()["next"]
        if after is None:
            break
    assert seen == [
        (first["item_id"], "Beschussamt Wien"),
        (other["item_id"], "Beschussamt Ferlach"),
        (duplicate, "Beschussamt Wien"),
    ]
    assert [payload for _, _, payload in await _reads(conn)] == [{"ids": [str(item_id)]} for item_id, _ in seen]


async def test_every_officer_role_may_look_a_certificate_up_and_no_one_else(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    officer: dict[str, str],
) -> None:
    """The roles of the item reads (README "Roles"): every officer role; without a token 401."""
    item, _ = await _deactivated(client, officer, "SSG08-001")
    for role in ROLES:
        response = await client.get(URL, params={"certificate_number": NUMBER}, headers=await auth(role))
        assert response.status_code == 200, (role, response.text)
        assert [row["item_id"] for row in response.json()["items"]] == [item["item_id"]], role
    anonymous = await client.get(URL, params={"certificate_number": NUMBER})
    assert anonymous.status_code == 401
    assert anonymous.json()["type"] == PROBLEM + "unauthenticated"


@pytest.mark.parametrize(
    "number",
    [
        " AT-DEAC-2026-17",
        "AT-DEAC-2026-17 ",
        "AT-DEAC-2026-17\u00a0",
        "\u2003AT-DEAC-2026-17",
        "AT-DEAC\n2026-17",
        "AT-DEAC-2026-17\n",
        "AT\x1b[31mDEAC",
        "AT\x85DEAC",
        "AT\x00DEAC",
        "A" * 201,
        "",
        " ",
    ],
)
async def test_a_padded_long_or_control_character_number_is_400_and_nothing_is_read(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
    conn: db.Conn,
    number: str,
) -> None:
    """No recorded number has them (README "Records": 1-200 characters, unpadded, no control character)."""
    await _deactivated(client, officer, "SSG08-001")
    response = await client.get(URL, params={"certificate_number": number}, headers=officer)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == PROBLEM + "invalid-request"
    assert [(error["key"], error["source"]) for error in problem["errors"]] == [("certificate_number", "query")]
    assert number.strip() == "" or number.strip() not in response.text  # the value is not handed back
    assert "certificate_number" in problem["detail"]
    assert "regex" not in problem["detail"]
    assert await _reads(conn) == []


async def test_a_number_of_200_characters_is_looked_up_and_a_missing_one_is_400(
    client: AsyncTestClient,  # type: ignore[type-arg]
    officer: dict[str, str],
) -> None:
    longest = "A" * 200
    item, _ = await _deactivated(client, officer, "SSG08-001", certificate_number=longest)
    found = await client.get(URL, params={"certificate_number": longest}, headers=officer)
    assert [row["item_id"] for row in found.json()["items"]] == [item["item_id"]]
    missing = await client.get(URL, headers=officer)
    assert missing.status_code == 400
    assert [error["key"] for error in missing.json()["errors"]] == ["certificate_number"]


async def test_the_look_up_reads_the_certificate_number_index(conn: db.Conn) -> None:
    """item_event_certificate_number_idx (migration 20261130150000), not every event of the registry."""
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0] for row in await conn.fetch("EXPLAIN " + QUERIES["find_items_by_certificate"], NUMBER, 0, 51)
        )
    assert "item_event_certificate_number_idx" in plan, plan
