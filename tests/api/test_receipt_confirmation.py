"""Art. 10(4): the importing registry answers a receipt-confirmation request by itself from its customs records."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from firearms import checks, clock, db, licence_versions
from firearms.check_rules import CheckRequest
from firearms.exchange import trust
from firearms.settings import Settings
from tests.api.test_exchange_effects import LICENCE, _send, _token
from tests.check_helpers import authorise_import, register_firearm
from tests.exchange_fixtures import Client, de
from tests.licensing_helpers import export_draft, issued_export, register_parties

__all__ = ["de"]


async def _confirmations(conn: db.Conn) -> list[dict[str, object]]:
    rows = await conn.fetch(
        "SELECT recipient, body FROM notice_outbox WHERE type = 'receipt.confirmed' ORDER BY sequence"
    )
    return [{"recipient": row["recipient"], **row["body"]} for row in rows]


def _entry(shipment_id: str | None) -> dict[str, object]:
    return {
        "check_id": str(uuid.uuid4()),
        "movement": "import",
        "licence_number": LICENCE["number"],
        "issuing_state": "AT",
        "crossing_point": "DE-Passau",
        "shipment_id": shipment_id,
        "customs_document": "ATB-2026-77",
        "lines": [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}, {"line": 2, "quantity": 800}],
    }


async def test_request_after_entry_is_answered_at_once(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    await authorise_import(conn, LICENCE["import_authorisation"]["number"])  # DE gave the authorisation it names
    entry = await client.post("/api/v1/checks", json=_entry("SHP-7"), headers=await _token(conn, "customs-officer"))
    assert entry.json()["verdict"] == "clear"
    assert len(await _confirmations(conn)) == 1  # the entry check confirmed by itself

    asked = {"licence_number": LICENCE["number"], "shipment_id": "SHP-7"}
    assert await _send(client, 2, "receipt.confirmation-requested", asked) == ("accepted", None)
    confirmations = await _confirmations(conn)
    assert len(confirmations) == 2
    answer = confirmations[1]
    assert answer["recipient"] == "AT"
    assert answer["shipment_id"] == "SHP-7"
    assert answer["customs_document"] == "ATB-2026-77"
    assert answer["items"] == [
        {"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]},
        {"line": 2, "quantity": 800, "serials": []},
    ]


async def test_request_before_entry_waits_for_the_entry_check(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    await authorise_import(conn, LICENCE["import_authorisation"]["number"])  # DE gave the authorisation it names
    asked = {"licence_number": LICENCE["number"], "shipment_id": "SHP-8"}
    assert await _send(client, 2, "receipt.confirmation-requested", asked) == ("accepted", None)
    assert await _confirmations(conn) == []
    # Another shipment's entry does not answer it.
    await client.post("/api/v1/checks", json=_entry("SHP-OTHER") | {"lines": [{"line": 2, "quantity": 100}]},
                      headers=await _token(conn, "customs-officer"))  # fmt: skip
    assert [item["shipment_id"] for item in await _confirmations(conn)] == ["SHP-OTHER"]
    entry = await client.post(
        "/api/v1/checks",
        json=_entry("SHP-8") | {"lines": [{"line": 2, "quantity": 100}]},
        headers=await _token(conn, "customs-officer"),
    )
    assert entry.json()["verdict"] == "clear"
    assert [item["shipment_id"] for item in await _confirmations(conn)] == ["SHP-OTHER", "SHP-8"]


async def test_exporting_state_asks_for_confirmation(client: Client, conn: db.Conn, settings: Settings) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    headers = await _token(conn, "customs-officer")
    body = {"licence_number": licence.licence.number, "shipment_id": "SHP-1"}
    # DE is not a partner yet: nothing can be sent, and the answer says so.
    alone = await client.post("/api/v1/shipments/confirmation-requests", json=body, headers=headers)
    assert alone.status_code == 202
    assert alone.json()["sent_to"] == []
    async with conn.transaction():
        await trust.add_peer(
            conn,
            own_state="AT",
            state="DE",
            base_url="http://127.0.0.1:9",
            public_key="PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw",
            not_before=None,
            actor="test",
        )
    keyed = headers | {"Idempotency-Key": "ask-SHP-1"}
    sent = await client.post("/api/v1/shipments/confirmation-requests", json=body, headers=keyed)
    assert sent.json()["sent_to"] == ["DE"]
    # the officer's client retries (it never heard the answer): the first answer, nothing queued twice
    again = await client.post("/api/v1/shipments/confirmation-requests", json=body, headers=keyed)
    assert (again.status_code, again.content) == (202, sent.content)
    queued = await conn.fetch("SELECT body FROM notice_outbox WHERE type = 'receipt.confirmation-requested'")
    assert [row["body"] for row in queued] == [body]
    unknown = await client.post(
        "/api/v1/shipments/confirmation-requests", json=body | {"licence_number": "AT-EXP-2026-999999"}, headers=headers
    )
    assert unknown.status_code == 404


async def test_a_confirmation_request_under_an_import_licence_is_422_not_an_export_licence(
    client: Client, conn: db.Conn, settings: Settings
) -> None:
    """README "Shipments": 422 ``not-an-export-licence`` when the number is not one of this State's export licences;
    nothing is queued. No test asked it of a number that names this State's import licence."""
    parties = await register_parties(conn)
    imported = msgspec.structs.replace(
        export_draft(parties, kind="import", exporting_state="DE", importing_state="AT", route=["DE", "AT"]),
        import_authorisation=None,
    )
    async with conn.transaction():
        authorisation = await licence_versions.create_draft(conn, imported, settings=settings, actor="test")
    body = {"licence_number": authorisation.licence.number, "shipment_id": "SHP-1"}
    refused = await client.post(
        "/api/v1/shipments/confirmation-requests", json=body, headers=await _token(conn, "licensing-officer")
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].rsplit("/", 1)[-1] == "not-an-export-licence"
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox") == 0


async def test_a_released_entry_is_confirmed_with_the_day_of_its_release_when_asked_again(
    de: tuple[Client, db.Conn],
) -> None:
    # DE's entry check held the rifles yesterday (one was registered in DE without DE's import marking);
    # the officer released them today. The release confirmed receipt on today's date; asked again, the
    # registry answered with the day of the hold, and AT's record of the receipt changed to it.
    client, conn = de
    licence = LICENCE | {"valid_from": (clock.today(dt.UTC) - dt.timedelta(days=30)).isoformat()}
    assert await _send(client, 1, "export-licence.issued", {"licence": licence}) == ("accepted", None)
    await authorise_import(conn, LICENCE["import_authorisation"]["number"])  # DE gave the authorisation it names
    await register_firearm(conn, "SSG08-001")
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    request = msgspec.convert(_entry("SHP-9"), CheckRequest)
    async with conn.transaction():
        held = await checks.perform_check(
            conn, request, state="DE", time_zone=dt.UTC, actor="officer:customs", now=yesterday
        )
    assert held.verdict == "hold", held.reasons
    headers = await _token(conn, "customs-officer")
    released = await client.post(f"/api/v1/checks/{request.check_id}/release", json={"reason": "seen"}, headers=headers)
    assert released.status_code == 200, released.text
    today = clock.today(dt.UTC).isoformat()
    assert [item["received_on"] for item in await _confirmations(conn)] == [today]
    asked = {"licence_number": LICENCE["number"], "shipment_id": "SHP-9"}
    assert await _send(client, 2, "receipt.confirmation-requested", asked) == ("accepted", None)
    assert [item["received_on"] for item in await _confirmations(conn)] == [today, today]


async def test_a_padded_or_controlled_shipment_id_is_refused_not_sent(
    client: Client, conn: db.Conn, settings: Settings
) -> None:
    # An entry check refuses a shipment id with white space around it (422 padded-value) or a control character
    # (400), so the importing registry could never answer a request for "SHP-1 ": it was sent, and waited for good.
    licence = await issued_export(conn, settings, await register_parties(conn))
    async with conn.transaction():
        await trust.add_peer(
            conn,
            own_state="AT",
            state="DE",
            base_url="http://127.0.0.1:9",
            public_key="PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw",
            not_before=None,
            actor="test",
        )
    headers = await _token(conn, "customs-officer")
    for shipment_id, status, code in (
        ("SHP-1 ", 422, "padded-value"),
        ("\u00a0SHP-1", 422, "padded-value"),
        ("SHP-1\n", 400, "invalid-request"),
        ("SHP-1\x85", 400, "invalid-request"),
    ):
        body = {"licence_number": licence.licence.number, "shipment_id": shipment_id}
        refused = await client.post("/api/v1/shipments/confirmation-requests", json=body, headers=headers)
        assert (refused.status_code, refused.json()["type"].rsplit("/", 1)[-1]) == (status, code), shipment_id
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'receipt.confirmation-requested'") == 0
    body = {"licence_number": licence.licence.number, "shipment_id": "SHP-1"}
    sent = await client.post("/api/v1/shipments/confirmation-requests", json=body, headers=headers)
    assert (sent.status_code, sent.json()["sent_to"]) == (202, ["DE"])
