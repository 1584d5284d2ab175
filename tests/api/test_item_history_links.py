"""An item's history names the licence lines and customs checks that carry its serial (issue 3, History)."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from firearms import db
from firearms.settings import Settings
from tests.check_helpers import check_body, register_firearm
from tests.conftest import TokenFactory
from tests.licensing_helpers import issued_export, register_parties


async def test_history_lists_licence_lines_and_checks_naming_the_serial(
    client: AsyncTestClient[Litestar], conn: db.Conn, settings: Settings, auth: TokenFactory
) -> None:
    item_id = await register_firearm(conn, "SSG08-001")
    other_id = await register_firearm(conn, "OTHER-9")
    licence = await issued_export(conn, settings, await register_parties(conn))
    body = check_body(
        "export",
        licence_number=licence.licence.number,
        lines=[{"line": 1, "quantity": 1, "serials": ["ssg08 001"]}],
        crossing_point="AT-Wullowitz",
    )
    checked = await client.post("/api/v1/checks", json=body, headers=await auth("customs-officer"))
    assert checked.json()["verdict"] == "clear"

    officer = await auth("records-officer")
    history = (await client.get(f"/api/v1/items/{item_id}/history", headers=officer)).json()["items"]
    sources = [entry["source"] for entry in history]
    assert sources == ["registration", "marking", "licence-line", "check"]
    assert history[2]["detail"]["licence_number"] == licence.licence.number
    assert history[2]["detail"]["line"] == 1
    assert history[3]["detail"]["check_id"] == body["check_id"]
    assert history[3]["detail"]["verdict"] == "clear"
    times = [entry["at"] for entry in history]
    assert times == sorted(times)

    unrelated = (await client.get(f"/api/v1/items/{other_id}/history", headers=officer)).json()["items"]
    assert [entry["source"] for entry in unrelated] == ["registration", "marking"]
