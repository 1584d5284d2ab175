"""The exporting State's view of its own shipments: the shipment records hold what partners reported."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from firearms import bootstrap, db
from firearms.settings import Settings
from tests.check_helpers import check_body
from tests.conftest import TokenFactory
from tests.licensing_helpers import issued_export, register_parties

PROBLEM = "tag:firearms-registry,2026:problems/"


async def test_an_own_shipment_no_partner_reported_on_points_to_the_exit_checks(
    client: AsyncTestClient[Litestar],
    conn: db.Conn,
    settings: Settings,
    auth: TokenFactory,
    initialised: bootstrap.Initialised,
) -> None:
    # AT's exit post dispatched SHP-1; before DE confirms it, AT's operator looks the shipment up and learns
    # where AT's own dispatch is (before: "no shipment SHP-1 of AT is recorded", and nothing to act on).
    licence = await issued_export(conn, settings, await register_parties(conn))
    number = licence.licence.number
    customs = await auth("customs-officer")
    body = check_body("export", licence_number=number, shipment_id="SHP-1", crossing_point="AT-Wullowitz")
    exit_check = await client.post("/api/v1/checks", json=body, headers=customs)
    assert exit_check.json()["verdict"] == "clear", exit_check.text
    for path in ("/api/v1/shipments/AT/SHP-1", "/api/v1/shipments/by-id?exporting_state=at&shipment_id=SHP-1"):
        answer = await client.get(path, headers=customs)
        assert answer.status_code == 404, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["type"] == PROBLEM + "not-found"
        assert problem["detail"] == (
            "no shipment SHP-1 of AT is recorded: a shipment record holds what partners reported (passages,"
            " receipts); AT's own dispatches are its exit checks (GET /api/v1/checks?licence_number=&issuing_state=AT)"
        )
    # a partner's shipment nobody reported keeps the plain answer
    other = await client.get("/api/v1/shipments/DE/SHP-1", headers=customs)
    assert other.status_code == 404
    assert other.json()["detail"] == "no shipment SHP-1 of DE is recorded"
