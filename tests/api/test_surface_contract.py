"""DESIGN §10 (contract) where no test pinned it: an unknown token is a 401 on every officer endpoint, the
verification answer carries status, validity, remaining balance and version, ``/health`` and the public keys
document answer without a token."""

from __future__ import annotations

import datetime as dt

from litestar.testing import AsyncTestClient

from firearms import db
from firearms.settings import Settings
from tests.api.test_roles import officer_endpoints
from tests.conftest import TokenFactory
from tests.licensing_helpers import issued_export, register_parties

PROBLEM = "tag:firearms-registry,2026:problems/"


async def test_an_unknown_token_is_401_on_every_officer_endpoint(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """ "A missing or unknown token is a 401 problem": a well-formed token nobody issued, on every endpoint."""
    unknown = {"Authorization": "Bearer fr_" + "A" * 43}
    endpoints = officer_endpoints(client.app)
    assert endpoints
    for method, path, _roles in endpoints:
        response = await client.request(method, path, headers=unknown)
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == PROBLEM + "unauthenticated"


async def test_verify_answers_status_validity_balance_and_version(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
) -> None:
    """DESIGN §8/§10: ``GET /api/v1/verify/{number}``: status, validity (both ends), remaining balance, version."""
    lic = await issued_export(conn, settings, await register_parties(conn))
    response = await client.get(f"/api/v1/verify/{lic.licence.number}", headers=await auth("customs-officer"))
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "issued"
    assert answer["version"] == 1
    assert dt.date.fromisoformat(answer["valid_from"]) == lic.licence.valid_from
    assert dt.date.fromisoformat(answer["expires_on"]) == lic.licence.expires_on
    assert [(line["line"], line["remaining"]) for line in answer["lines"]] == [
        (line.line, line.quantity) for line in lic.licence.lines
    ]


async def test_health_and_the_keys_document_need_no_token(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """``GET /health`` is 200 while the database answers; ``GET /exchange/v1/keys`` is unauthenticated and gives
    the State and every key with its validity (PROTOCOL §4: ``not_before``, ``not_after``, ``revoked_at``)."""
    health = await client.get("/health")
    assert health.status_code == 200
    keys = await client.get("/exchange/v1/keys")
    assert keys.status_code == 200
    document = keys.json()
    assert document["state"] == "AT"
    assert document["keys"]
    for key in document["keys"]:
        assert {"key_id", "public_key", "not_before", "not_after", "revoked_at"} <= set(key)
