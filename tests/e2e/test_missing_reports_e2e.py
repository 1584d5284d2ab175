"""A rifle stolen in AT is held at CZ's border, and passes once AT recovered it (three ``firearms serve`` processes)."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from tests.e2e.registries import Node, wait_for
from tests.e2e.test_three_registries import _check, _issued_through_cz, nodes

__all__ = ["nodes"]

TODAY = dt.datetime.now(dt.UTC).date()
LINES = [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}]


async def _reports(node: Node, status: str) -> Any:
    rows = await node.fetch(
        "SELECT r.report_id FROM foreign_item_report AS r WHERE r.status = $1"
        " AND NOT EXISTS (SELECT 1 FROM foreign_item_report_withdrawal AS w"
        "                  WHERE w.sender_state = r.sender_state AND w.report_id = r.report_id"
        "                    AND w.sequence > r.sequence)",
        status,
    )
    return rows or None


async def _withdrawn(node: Node) -> bool:
    return bool(await node.fetch("SELECT 1 FROM foreign_item_report_withdrawal WHERE reason = 'recovered'"))


async def test_a_rifle_stolen_in_at_is_held_at_czs_border_until_at_recovers_it(nodes: dict[str, Node]) -> None:
    at, cz, de = nodes["AT"], nodes["CZ"], nodes["DE"]
    registered = await at.post(
        "/api/v1/items",
        {
            "kind": "firearm",
            "manufacturer": "Steyr Mannlicher",
            "country_of_manufacture": "AT",
            "serial": "SSG08-001",
            "firearm_type": "rifle",
            "make": "Steyr Mannlicher",
            "model": "SSG 08",
            "calibre": ".308 Win",
            "markings": [{"kind": "manufacture", "stamped": "STEYR AUSTRIA SSG08-001", "serial": "SSG08-001"}],
        },
        "records-officer",
    )
    assert registered.status_code == 201, registered.text
    item_id = registered.json()["item_id"]
    _, number = await _issued_through_cz(at, cz, de)

    stolen = await at.post(
        f"/api/v1/items/{item_id}/events", {"event": "stolen", "occurred_on": TODAY.isoformat()}, "records-officer"
    )
    assert stolen.status_code == 201, stolen.text
    (report,) = await wait_for(functools.partial(_reports, cz, "stolen"), "CZ has AT's theft report")
    assert report["report_id"] == str(stolen.json()["event_id"])
    await wait_for(functools.partial(_reports, de, "stolen"), "DE has AT's theft report")

    held = await _check(cz, "transit", number, "CZ-Dolni Dvoriste", LINES)
    assert held["verdict"] == "hold", held
    assert [(r["code"], r["serial"]) for r in held["reasons"]] == [("reported-missing-by-partner", "SSG08-001")]
    assert "reported stolen by AT" in held["reasons"][0]["detail"]

    recovered = await at.post(
        f"/api/v1/items/{item_id}/events", {"event": "recovered", "occurred_on": TODAY.isoformat()}, "records-officer"
    )
    assert recovered.status_code == 201, recovered.text
    await wait_for(functools.partial(_withdrawn, cz), "CZ has AT's withdrawal")
    cleared = await _check(cz, "transit", number, "CZ-Dolni Dvoriste", LINES)
    assert cleared["verdict"] == "clear", cleared
