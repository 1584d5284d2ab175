"""A parameter or member refused by its pattern says the rule in words, not the pattern that holds it (README).

``POST /api/v1/imports?file_name=2026/11.csv`` answered ``expected `str` matching regex
'^[^\\x00-\\x1f\\x7f-\\x9f/\\\\]+$(?!\\n)'``: a records officer learned nothing from it.
"""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from firearms import db
from tests.conftest import TokenFactory

CSV = b"kind,manufacturer,country_of_manufacture,serial,quantity\nammunition,RWS,DE,LOT-FN-1,100\n"
RULE = (
    "query parameter 'file_name' must be 1-200 characters without '/', '\\' or a control character"
    " (a file's name, not its folder)"
)


@pytest.mark.parametrize("name", ["2026/11.csv", "C%3A%5Cimports%5Cat.csv", "at%0A.csv"])
async def test_a_refused_file_name_says_the_rule(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    name: str,
) -> None:
    response = await client.post(
        f"/api/v1/imports?file_name={name}",
        content=CSV,
        headers=await auth("records-officer") | {"Content-Type": "text/csv"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "tag:firearms-registry,2026:problems/invalid-request"
    assert problem["errors"] == [{"message": RULE, "key": "file_name", "source": "query"}]
    assert "regex" not in response.text
    assert await conn.fetchval("SELECT count(*) FROM item_import") == 0


@pytest.mark.parametrize(
    ("role", "path", "body", "key", "message"),
    [
        (
            "licensing-officer",
            "/api/v1/licences/00000000-0000-0000-0000-000000000001/submit",
            {"reason": "   "},
            "reason",
            "'reason' must say why in 1-2,000 characters: no control character (a line break included), no white space"
            " before or after it",
        ),
        (  # every officer's reason is held to one rule: a licence's took control characters and padding
            "licensing-officer",
            "/api/v1/licences/00000000-0000-0000-0000-000000000001/suspend",
            {"reason": "fraud\nsee file"},
            "reason",
            "'reason' must say why in 1-2,000 characters: no control character (a line break included), no white space"
            " before or after it",
        ),
        (
            "licensing-officer",
            "/api/v1/licences/00000000-0000-0000-0000-000000000001/revoke",
            {"reason": "fraud\u00a0"},
            "reason",
            "'reason' must say why in 1-2,000 characters: no control character (a line break included), no white space"
            " before or after it",
        ),
        (
            "licensing-officer",
            "/api/v1/licences/00000000-0000-0000-0000-000000000001/transit-consents",
            {"transit_state": "CZ", "decision": "objection", "decided_on": "2026-11-30", "reason": "\u001b[2J"},
            "reason",
            "'reason' must say why in 1-2,000 characters: no control character (a line break included), no white space"
            " before or after it",
        ),
        (
            "licensing-officer",
            "/api/v1/parties/00000000-0000-0000-0000-000000000001/status",
            {"status": "suspended", "reason": " struck off"},
            "reason",
            "'reason' must say why in 1-2,000 characters: no control character (a line break included), no white space"
            " before or after it",
        ),
        (
            "customs-officer",
            "/api/v1/checks/00000000-0000-0000-0000-000000000001/release",
            {"reason": "\t"},
            "reason",
            "'reason' must say why in 1-2,000 characters: no control character (a line break included), no white space"
            " before or after it",
        ),
        (
            "customs-officer",
            "/api/v1/checks/00000000-0000-0000-0000-000000000001/refuse",
            {"reason": "seen "},
            "reason",
            "'reason' must say why in 1-2,000 characters: no control character (a line break included), no white space"
            " before or after it",
        ),
        (
            "licensing-officer",
            "/api/v1/shipments/confirmation-requests",
            {"licence_number": "AT-EXP-2026-000001", "shipment_id": "SHP\n1"},
            "shipment_id",
            "'shipment_id' must be 1-200 characters without a control character",
        ),
    ],
)
async def test_a_body_member_refused_by_its_pattern_says_the_rule(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    role: str,
    path: str,
    body: dict[str, str],
    key: str,
    message: str,
) -> None:
    """A blank reason answered ``Expected `str` matching regex '\\S'``; a shipment id the same with its pattern. Every
    officer's reason is held to one rule (``text_rules.REASON``): no control character, no padding."""
    response = await client.post(path, json=body, headers=await auth(role))  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"message": message, "key": key, "source": "body"}]
    assert "regex" not in response.text
