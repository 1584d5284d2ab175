"""Headers that keep officers' answers out of caches and away from content sniffing (README "Security")."""

from __future__ import annotations

from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory


async def test_an_answer_holding_a_token_or_a_person_is_never_stored(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """A new token's secret and a party's name pass through browsers and proxies: none of them may keep a copy."""
    admin = await auth("admin")
    created = await client.post("/api/v1/tokens", json={"role": "auditor", "name": "Auditor 1"}, headers=admin)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    party = await client.post(
        "/api/v1/parties",
        json={"kind": "exporter", "name": "Anna Huber", "country": "AT", "address": "Ring 1, Wien"},
        headers=admin,
    )
    assert party.status_code == 201, party.text
    read = await client.get(f"/api/v1/parties/{party.json()['party_id']}", headers=admin)
    assert read.status_code == 200, read.text
    assert read.headers["cache-control"] == "no-store"
    assert read.headers["x-content-type-options"] == "nosniff"
    refused = await client.get("/api/v1/parties")
    assert refused.status_code == 401
    assert refused.headers["cache-control"] == "no-store"
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_every_answer_forbids_content_sniffing(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """A problem can quote what the caller sent: it must stay JSON, never be read as a page."""
    for path in ("/health", "/exchange/v1/keys", "/no-such-route", "/api/v1/items/search?serial=%3Cscript%3E"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers.get_list("x-content-type-options") == ["nosniff"], path


async def test_the_only_pages_are_the_printable_documents(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """README "Security": HTML is where a value that slipped past escaping would run. The app's route table is read:
    a new handler answering ``text/html`` fails here until its escaping and headers are tested as the documents' are.
    """
    pages = {
        route.path
        for route in client.app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if str(getattr(handler.media_type, "value", handler.media_type)).startswith("text/html")
    }
    assert pages == {
        "/api/v1/licences/{licence_id:uuid}/versions/{version:int}/document",
        "/api/v1/items/{item_id:int}/deactivation-certificate",
        "/schema/{path:str}",  # Litestar's not-found page, refused before it runs (api/app.py): a problem instead
    }
    refused = await client.get("/schema/%3Cscript%3E")
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
