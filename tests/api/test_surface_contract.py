"""DESIGN §10 (contract) where no test pinned it: an unknown token is a 401 on every officer endpoint, the
verification answer carries status, validity, remaining balance and version, ``/health`` and the public keys
document answer without a token."""

from __future__ import annotations

import datetime as dt
import re

from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from firearms import db, keys
from firearms.exchange import rotation
from firearms.exchange.protocol import is_time
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


async def test_the_keys_document_keeps_every_key_ever_used(
    client: AsyncTestClient,  # type: ignore[type-arg]
    conn: db.Conn,
    settings: Settings,
) -> None:
    """PROTOCOL §6: a registry keeps every public key it ever used in ``GET /exchange/v1/keys``, a revoked one
    with its ``revoked_at``; the key it names current is the one it signs with."""
    (old,) = (await client.get("/exchange/v1/keys")).json()["keys"]
    async with keys.key_transaction(conn, settings.home) as files:
        new = (await rotation.rotate(conn, files, actor="test")).key_id  # no partner to wait for: in use at once
    assert (await keys.current_signing_key(conn, settings.home)).key_id == new
    document = (await client.get("/exchange/v1/keys")).json()
    assert document["current_key_id"] == new
    listed = {key["key_id"]: key for key in document["keys"]}
    assert set(listed) == {old["key_id"], new}
    assert listed[old["key_id"]]["public_key"] == old["public_key"]
    async with conn.transaction():
        await rotation.revoke(conn, old["key_id"], reason="retired", actor="test")
    revoked = {key["key_id"]: key for key in (await client.get("/exchange/v1/keys")).json()["keys"]}
    assert set(revoked) == {old["key_id"], new}
    assert revoked[old["key_id"]]["revoked_at"] is not None
    for key in revoked.values():  # PROTOCOL §2: every time UTC to the second with a Z
        assert all(is_time(key[name]) for name in ("not_before", "revoked_at") if key[name] is not None), key


async def test_the_keys_document_names_current_the_key_the_registry_signs_with(
    client: AsyncTestClient,  # type: ignore[type-arg]
    conn: db.Conn,
    settings: Settings,
) -> None:
    """A rotation in the same second as the key it replaces came into use: both keys have one ``not_before``.

    The registry signs with the later one (``current_registry_key_id``: newest ``not_before``, then newest
    ``created_at``); the document named the first one listed, the old key, so an administrator checking it
    out of band was shown a key the registry no longer signed with.
    """
    (old,) = (await client.get("/exchange/v1/keys")).json()["keys"]
    async with keys.key_transaction(conn, settings.home) as files:
        new = (await rotation.rotate(conn, files, actor="test")).key_id
    async with conn.transaction():  # behind the guards: the old key came into use in the rotation's second
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "UPDATE registry_key SET not_before = (SELECT not_before FROM registry_key WHERE key_id = $2)"
            " WHERE key_id = $1",
            old["key_id"],
            new,
        )
    assert (await keys.current_signing_key(conn, settings.home)).key_id == new
    document = (await client.get("/exchange/v1/keys")).json()
    assert document["current_key_id"] == new


async def test_the_openapi_document_has_every_endpoint(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """DESIGN §10: ``/schema/openapi.json`` is OpenAPI 3.1 "of every endpoint": each route of the app's own
    table with each of its methods (the schema pages themselves aside)."""
    document = (await client.get("/schema/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    missing = []
    for route in client.app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in route.route_handlers:
            for method in handler.http_methods - {"HEAD", "OPTIONS"}:
                if method.lower() not in document["paths"].get(path, {}):
                    missing.append(f"{method} {path}")
    assert missing == []
    assert len(document["paths"]) > 50
