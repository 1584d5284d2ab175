"""Reads of personal data are journaled (DESIGN §6: who looked at what), enumerated from the app's route table.

Every GET route is either in :data:`PERSONAL` (it shows a person's data and journals the read, with the
action written) or in :data:`NOT_PERSONAL` with why not. A new GET route fails
:func:`test_every_read_route_is_classified` until someone decides. A page counts as a read of every record
on it: one entry per request, the ids shown in its payload (``firearms.journal.record_read``); an empty
page journals nothing (nobody looked at anything).
"""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import db, journal
from firearms.settings import Settings
from tests.conftest import TokenFactory

# Route -> the journal action its read writes. Proved below, or by the test named.
PERSONAL = {
    "/api/v1/parties": "party.read",  # below
    "/api/v1/parties/{party_id:uuid}": "party.read",  # below
    "/api/v1/journal": "journal.read",  # below: entries hold a party's name and address as registered
    "/api/v1/licences": "licence.read",  # a licence names its parties (test_consents_api, test_licences_api)
    "/api/v1/licences/{licence_id:uuid}": "licence.read",
    "/api/v1/licences/by-number/{issuing_state:str}/{number:str}": "licence.read",
    "/api/v1/licences/by-number": "licence.read",  # test_exchange_effects
    "/api/v1/licences/{licence_id:uuid}/versions": "licence.read",
    "/api/v1/licences/{licence_id:uuid}/versions/{version:int}": "licence.read",
    "/api/v1/licences/{licence_id:uuid}/versions/{version:int}/document": "licence.read",
    "/api/v1/items/{item_id:int}/history": "item.read",  # events name who an item went to (test_items_api)
    # names the deactivator and the verifier (test_documents_api)
    "/api/v1/items/{item_id:int}/deactivation-certificate": "item.read",
    # names the verifier of each certificate found (test_deactivation_certificate_lookup)
    "/api/v1/items/deactivation-certificates": "item.read",
    "/api/v1/items/export": "items.exported",  # test_records_io_api
    "/api/v1/foreign-licences": "foreign-licence.read",  # test_exchange_effects
    "/api/v1/foreign-licences/{issuing_state:str}/{number:str}": "foreign-licence.read",
    "/api/v1/foreign-licences/by-number": "foreign-licence.read",  # test_exchange_effects
    "/api/v1/consent-requests": "consent-request.read",  # test_exchange_effects
    "/api/v1/consent-requests/{requesting_state:str}/{notice_id:str}": "consent-request.read",
    # where a weapon was found, and its holders once answered (test_trace_requests)
    "/api/v1/trace-requests": "trace-request.read",
    "/api/v1/trace-requests/{trace_request_id:int}": "trace-request.read",
}

NOT_PERSONAL = {
    "/health": "liveness only",
    "/api/v1/me": "the caller's own token",
    "/api/v1/tokens": "the registry's officers' tokens (names and roles), for the admin who manages them",
    "/api/v1/journal/verify": "counts and the id of the first bad entry, no entry's content",
    "/api/v1/licences/{licence_id:uuid}/balances": "quantities per line",
    "/api/v1/licences/{licence_id:uuid}/ledger": "debits: quantities, serials, customs documents, officers",
    "/api/v1/licences/{licence_id:uuid}/transit-consent-requests": "States, dates and the version asked about",
    "/api/v1/licences/{licence_id:uuid}/transit-consents": "States' decisions and dates",
    "/api/v1/licences/{licence_id:uuid}/events": "status changes, their reasons and officers",
    "/api/v1/licences/{licence_id:uuid}/gates": "which rules a licence meets",
    "/api/v1/verify/{number:str}": "status, validity and balances of a number (README: Verification)",
    "/api/v1/items": "items and markings: no holder (who an item went to is in its history)",
    "/api/v1/items/{item_id:int}": "the item and its markings: no holder (see its history)",
    "/api/v1/items/search": "candidate items by serial: no holder",
    "/api/v1/imports": "bulk-import batches: file name, digest, counts, the officer who imported",
    "/api/v1/imports/{import_id:int}": "one bulk-import batch: file name, digest, counts, the officer",
    "/api/v1/checks": "customs checks: licence number, serials, answer, officers",
    "/api/v1/checks/{check_id:uuid}": "one customs check: licence number, serials, answer, officers",
    "/api/v1/peers": "the trust list",
    "/api/v1/status": "counts, dates and ids of partners, keys and the journal: no name, no serial (README: Status)",
    "/api/v1/peers/{peer_state:str}": "one partner on the trust list",
    "/api/v1/notices": "outgoing notices' delivery state, not their bodies",
    "/api/v1/notices/{notice_id:uuid}": "one outgoing notice's delivery state, not its body",
    "/api/v1/notices/received": "received notices' facts, not their content",
    "/api/v1/shipments": "shipments: licence number, items and serials, dates, the confirming State",
    "/api/v1/shipments/{exporting_state:str}/{shipment_id:str}": "one shipment: items, receipts, passages",
    "/api/v1/shipments/by-id": "one shipment, its id in the query",
    "/api/v1/foreign-item-reports": "partners' lost and stolen reports: a weapon's identity, no holder",
    "/exchange/v1/keys": "this registry's public keys",
    "/schema": "the OpenAPI document",
    "/schema/openapi.json": "the OpenAPI document",
    "/schema/{path:str}": "the not-found of any other page under /schema",
}

PARTY = {"kind": "exporter", "name": "Jana Novak", "country": "AT", "address": "Hauptplatz 1, Graz"}


def read_routes(app: Litestar) -> set[str]:
    return {
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if "GET" in handler.http_methods
    }


def test_every_read_route_is_classified() -> None:
    settings = Settings(state="AT", home=Path("/nonexistent"), database_url="postgresql://unused/unused")
    routes = read_routes(create_app(settings))
    assert not set(PERSONAL) & set(NOT_PERSONAL)
    assert routes - set(PERSONAL) - set(NOT_PERSONAL) == set(), "a GET route nobody decided about"
    assert set(PERSONAL) | set(NOT_PERSONAL) == routes, "a classified route that no longer exists"


async def _reads(conn: db.Conn, action: str) -> list[tuple[str, str, object]]:
    rows = await conn.fetch(
        "SELECT actor, entity_id, payload FROM journal_entry WHERE action = $1 ORDER BY entry_id", action
    )
    return [(row["actor"], row["entity_id"], row["payload"]) for row in rows]


async def test_reading_the_journal_is_journaled_with_the_entries_shown(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    created = await client.post("/api/v1/parties", json=PARTY, headers=officer)
    assert created.status_code == 201, created.text
    auditor = await auth("auditor")
    page = await client.get("/api/v1/journal", params={"entity": "party"}, headers=auditor)
    assert page.status_code == 200
    shown = [item["entry_id"] for item in page.json()["items"]]
    assert any(item["payload"].get("name") == PARTY["name"] for item in page.json()["items"]), page.json()
    assert await _reads(conn, "journal.read") == [
        ("officer:test auditor", str(shown[0]) if len(shown) == 1 else "*", {"ids": [str(i) for i in shown]})
    ]
    # Nothing shown, nothing looked at.
    empty = await client.get("/api/v1/journal", params={"entity": "no-such-entity"}, headers=auditor)
    assert (empty.status_code, empty.json()["items"]) == (200, [])
    assert len(await _reads(conn, "journal.read")) == 1
    assert (await journal.verify(conn, state="AT")).intact


async def test_reading_parties_is_journaled_page_by_page(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    ids = []
    for name in ("Jana Novak", "Petra Huber"):
        created = await client.post("/api/v1/parties", json=PARTY | {"name": name}, headers=officer)
        assert created.status_code == 201, created.text
        ids.append(created.json()["party_id"])
    auditor = await auth("auditor")
    first = await client.get("/api/v1/parties", params={"limit": 1}, headers=auditor)
    second = await client.get("/api/v1/parties", params={"limit": 1, "after": first.json()["next"]}, headers=auditor)
    one = await client.get(f"/api/v1/parties/{ids[1]}", headers=auditor)
    assert (first.status_code, second.status_code, one.status_code) == (200, 200, 200)
    shown = [first.json()["items"][0]["party_id"], second.json()["items"][0]["party_id"]]
    assert sorted(shown) == sorted(ids)
    assert await _reads(conn, "party.read") == [
        ("officer:test auditor", shown[0], {"ids": [shown[0]]}),
        ("officer:test auditor", shown[1], {"ids": [shown[1]]}),
        ("officer:test auditor", ids[1], {"ids": [ids[1]]}),
    ]
