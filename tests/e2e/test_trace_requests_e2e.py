"""AT asks CZ to trace a serial CZ holds, over real HTTP between two ``firearms serve`` processes (ITI Section V)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.registries import Node, trusting, wait_for


@pytest.fixture
async def nodes(pg_admin_uri: str, template_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Node]]:
    """AT and CZ running, each trusting the other (peers added with the real CLI)."""
    del template_url
    async with trusting(("AT", "CZ"), pg_admin_uri, tmp_path, roles=("admin", "records-officer")) as started:
        yield started


async def test_at_asks_cz_to_trace_a_serial_cz_holds_and_gets_the_record(nodes: dict[str, Node]) -> None:
    at, cz = nodes["AT"], nodes["CZ"]
    item = {
        "kind": "firearm",
        "firearm_type": "pistol",
        "manufacturer": "Ceska zbrojovka",
        "country_of_manufacture": "CZ",
        "serial": "CZ75-88123",
        "make": "CZ",
        "model": "75 B",
        "calibre": "9x19",
        "markings": [{"kind": "manufacture", "stamped": "CZ UHERSKY BROD 88123", "serial": "CZ75-88123"}],
    }
    registered = await cz.post("/api/v1/items", item, "records-officer")
    assert registered.status_code == 201, registered.text
    item_id = registered.json()["item_id"]
    sold = {"event": "transferred", "occurred_on": "2022-03-04", "from_party": "Zbrojnice Brno", "to_party": "J. Novak"}
    assert (await cz.post(f"/api/v1/items/{item_id}/events", sold, "records-officer")).status_code == 201

    # AT's records officer asks CZ about a pistol seized in Vienna, its serial read as "cz75 88123"
    asked = await at.post(
        "/api/v1/trace-requests",
        {
            "recipient": "CZ",
            "weapon": {
                "kind": "firearm",
                "firearm_type": "pistol",
                "manufacturer": "Ceska zbrojovka",
                "serial": "cz75 88123",
            },
            "circumstances": "seized in Wien-Favoriten on 2026-11-28",
            "intended_use": "criminal proceedings",
        },
        "records-officer",
    )
    assert asked.status_code == 201, asked.text
    own_id = asked.json()["trace_request_id"]

    # CZ receives it, with its findings, and acknowledges by itself; AT records the acknowledgement
    async def incoming() -> Any:
        page = await cz.get("/api/v1/trace-requests?direction=incoming", "records-officer")
        return page["items"] if page and page["items"] else None

    received = (await wait_for(incoming, "CZ holds AT's trace request"))[0]
    assert (received["partner_state"], received["notice_id"]) == ("AT", asked.json()["notice_id"])
    assert [(f["item_id"], f["status"], f["manufacturer_matches"]) for f in received["findings"]] == [
        (item_id, "active", True)
    ]

    async def acknowledged() -> Any:
        request = await at.get(f"/api/v1/trace-requests/{own_id}", "records-officer")
        return request if request and request["status"] == "acknowledged" else None

    seen = await wait_for(acknowledged, "AT holds CZ's acknowledgement")
    assert seen["acknowledgement"]["acknowledged_by"] == "partner:CZ"
    assert [(n["type"], n["status"]) for n in seen["notices"]] == [("trace.requested", "delivered")]

    # CZ's officer answers found, naming the item; AT's request shows the answer with the record
    answered = await cz.post(
        f"/api/v1/trace-requests/{received['trace_request_id']}/answer",
        {"outcome": "found", "item_id": item_id},
        "records-officer",
    )
    assert answered.status_code == 200, answered.text

    async def answer() -> Any:
        request = await at.get(f"/api/v1/trace-requests/{own_id}", "records-officer")
        return request if request and request["status"] == "answered" else None

    done = await wait_for(answer, "AT holds CZ's answer")
    record = done["answer"]["record"]
    assert (done["answer"]["outcome"], done["answer"]["answered_by"]) == ("found", "partner:CZ")
    assert (record["item"]["serial"], record["item"]["status"]) == ("CZ75-88123", "active")
    assert record["manufacture"]["stamped"] == "CZ UHERSKY BROD 88123"
    assert (record["last_transfer"]["to_party"], record["last_transfer"]["occurred_on"]) == ("J. Novak", "2022-03-04")

    async def delivered() -> Any:
        request = await cz.get(f"/api/v1/trace-requests/{received['trace_request_id']}", "records-officer")
        states = [(n["type"], n["status"]) for n in request["notices"]] if request else []
        return states if states == [("trace.acknowledged", "delivered"), ("trace.answered", "delivered")] else None

    await wait_for(delivered, "CZ's acknowledgement and answer delivered")
