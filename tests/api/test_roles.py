"""The whole role x endpoint matrix (DESIGN §7): every officer endpoint, every role, no token."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from firearms.tokens import ROLES
from tests.conftest import TokenFactory

_SAMPLES = {"uuid": str(uuid.UUID(int=0)), "int": "1", "str": "X-1", "path": "x"}


A, REC, LIC, CUS, VER, AUD = "admin", "records-officer", "licensing-officer", "customs-officer", "verifier", "auditor"
EVERY = {A, REC, LIC, CUS, VER, AUD}
U = _SAMPLES["uuid"]
MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/checks"): {A, CUS, AUD},
    ("POST", "/checks"): {CUS},
    ("GET", f"/checks/{U}"): {A, CUS, AUD},
    ("POST", f"/checks/{U}/refuse"): {CUS},
    ("POST", f"/checks/{U}/release"): {CUS},
    ("GET", "/consent-requests"): {A, LIC, AUD},
    ("GET", "/consent-requests/X-1/X-1"): {A, LIC, AUD},
    ("POST", "/consent-requests/X-1/X-1/decision"): {LIC},
    ("GET", "/foreign-licences"): {A, LIC, CUS, AUD},
    ("GET", "/foreign-item-reports"): {A, REC, LIC, CUS, AUD},
    ("GET", "/foreign-licences/X-1/X-1"): {A, LIC, CUS, AUD},
    ("GET", "/foreign-licences/by-number"): {A, LIC, CUS, AUD},
    ("GET", "/imports"): {A, REC, AUD},
    ("POST", "/imports"): {A, REC},
    ("GET", "/imports/1"): {A, REC, AUD},
    ("GET", "/items"): EVERY,
    ("POST", "/items"): {A, REC},
    ("GET", "/items/1"): EVERY,
    ("POST", "/items/1/events"): {A, REC},
    ("GET", "/items/1/history"): EVERY,
    ("GET", "/items/1/deactivation-certificate"): EVERY,
    ("GET", "/items/deactivation-certificates"): EVERY,
    ("POST", "/items/1/markings"): {A, REC},
    ("POST", "/items/1/corrections"): {A, REC},
    ("POST", "/items/1/markings/1/corrections"): {A, REC},
    ("GET", "/items/export"): EVERY,
    ("GET", "/items/search"): EVERY,
    ("GET", "/journal"): {A, AUD},
    ("POST", "/journal/checkpoints"): {A, AUD},
    ("GET", "/journal/verify"): {A, AUD},
    ("POST", "/keys/X-1/cancel"): {A},
    ("POST", "/keys/X-1/revoke"): {A},
    ("POST", "/keys/replace"): {A},
    ("POST", "/keys/rotate"): {A},
    ("POST", "/keys/switch"): {A},
    ("GET", "/licences"): {A, REC, LIC, AUD},
    ("POST", "/licences"): {A, LIC},
    ("GET", f"/licences/{U}"): {A, REC, LIC, AUD},
    ("GET", f"/licences/{U}/balances"): {A, REC, LIC, CUS, AUD},
    ("GET", f"/licences/{U}/events"): {A, REC, LIC, AUD},
    ("GET", f"/licences/{U}/gates"): {A, REC, LIC, AUD},
    ("POST", f"/licences/{U}/issue"): {A, LIC},
    ("GET", f"/licences/{U}/ledger"): {A, REC, LIC, CUS, AUD},
    ("POST", f"/licences/{U}/reinstate"): {A, LIC},
    ("POST", f"/licences/{U}/revoke"): {A, LIC},
    ("POST", f"/licences/{U}/submit"): {A, LIC},
    ("POST", f"/licences/{U}/suspend"): {A, LIC},
    ("GET", f"/licences/{U}/transit-consent-requests"): {A, REC, LIC, AUD},
    ("POST", f"/licences/{U}/transit-consent-requests"): {A, LIC},
    ("GET", f"/licences/{U}/transit-consents"): {A, REC, LIC, AUD},
    ("POST", f"/licences/{U}/transit-consents"): {A, LIC},
    ("GET", f"/licences/{U}/versions"): {A, REC, LIC, AUD},
    ("POST", f"/licences/{U}/versions"): {A, LIC},
    ("GET", f"/licences/{U}/versions/1"): {A, REC, LIC, AUD},
    ("GET", f"/licences/{U}/versions/1/document"): {A, LIC, AUD},  # not the records officer: the page carries the code
    ("GET", "/licences/by-number/X-1/X-1"): {A, REC, LIC, AUD},
    ("GET", "/licences/by-number"): {A, REC, LIC, AUD},
    ("GET", "/me"): EVERY,
    ("GET", "/notices"): {A},
    ("GET", f"/notices/{U}"): {A},
    ("GET", "/notices/received"): {A},
    ("GET", "/parties"): {A, REC, LIC, AUD},
    ("POST", "/parties"): {A, LIC},
    ("GET", f"/parties/{U}"): {A, REC, LIC, AUD},
    ("POST", f"/parties/{U}/status"): {A, LIC},
    ("GET", "/peers"): {A},
    ("GET", "/status"): {A, AUD},
    ("POST", "/peers"): {A},
    ("GET", "/peers/X-1"): {A},
    ("POST", "/peers/X-1/disable"): {A},
    ("POST", "/peers/X-1/enable"): {A},
    ("POST", "/peers/X-1/keys"): {A},
    ("POST", "/peers/X-1/resequence"): {A},
    ("GET", "/shipments"): {A, LIC, CUS, AUD},
    ("GET", "/shipments/X-1/X-1"): {A, LIC, CUS, AUD},
    ("GET", "/shipments/by-id"): {A, LIC, CUS, AUD},
    ("POST", "/shipments/confirmation-requests"): {LIC, CUS},
    ("GET", "/tokens"): {A},
    ("POST", "/tokens"): {A},
    ("POST", f"/tokens/{U}/revoke"): {A},
    ("GET", "/trace-requests"): {A, REC, AUD},
    ("POST", "/trace-requests"): {A, REC},
    ("GET", "/trace-requests/1"): {A, REC, AUD},
    ("POST", "/trace-requests/1/answer"): {A, REC},
    ("GET", "/verify/X-1"): {A, REC, LIC, CUS, AUD},
}
"""Who may call each officer endpoint, written out (README "Roles"): the handlers' declared roles must be these.

Without it the matrix below would test each handler against its own declaration, and a role wrongly
granted (an auditor allowed to issue a licence) would pass.
"""


def officer_endpoints(app: Litestar) -> list[tuple[str, str, frozenset[str]]]:
    found: list[tuple[str, str, frozenset[str]]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/v1"):
            continue
        path = re.sub(r"\{(\w+):(\w+)\}", lambda match: _SAMPLES.get(match.group(2), "x"), route.path)
        for handler in route.route_handlers:
            roles = frozenset(handler.opt.get("roles", ()))
            for method in handler.http_methods:
                if method not in {"HEAD", "OPTIONS"}:
                    found.append((method, path, roles))
    return found


async def test_every_officer_endpoint_declares_roles(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    endpoints = officer_endpoints(client.app)
    assert endpoints
    for method, path, roles in endpoints:
        assert roles, f"{method} {path} declares no roles"
        assert roles <= set(ROLES), f"{method} {path} names an unknown role"


async def test_declared_roles_are_the_written_matrix(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    declared = {
        (method, path.removeprefix("/api/v1")): set(roles) for method, path, roles in officer_endpoints(client.app)
    }
    assert declared.keys() == MATRIX.keys(), (
        sorted(declared.keys() - MATRIX.keys()),
        sorted(MATRIX.keys() - declared.keys()),
    )
    wrong = {endpoint: (roles, MATRIX[endpoint]) for endpoint, roles in declared.items() if roles != MATRIX[endpoint]}
    assert not wrong, wrong


async def test_role_matrix(client: AsyncTestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    headers = {role: await auth(role) for role in ROLES}
    for method, path, roles in officer_endpoints(client.app):
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401, f"{method} {path} without a token"
        assert anonymous.json()["type"].endswith("/unauthenticated")
        for role in ROLES:
            response = await client.request(method, path, headers=headers[role])
            if role in roles:
                assert response.status_code not in {401, 403}, f"{role} refused on {method} {path}"
            else:
                assert response.status_code == 403, f"{role} allowed on {method} {path}: {response.status_code}"
                assert response.json()["type"].endswith("/forbidden")


PUBLIC: dict[str, set[str]] = {
    "/health": {"GET"},
    "/exchange/v1/notices": {"POST"},  # a partner: the signature is the authentication (PROTOCOL §4)
    "/exchange/v1/keys": {"GET"},
    "/schema": {"GET"},  # the OpenAPI document: the shape of the API, no record
    "/schema/openapi.json": {"GET"},
    "/schema/{path:str}": {"GET"},
}
"""Every route outside ``/api/v1``, written out: none takes a token, so a new one must be decided here."""


async def test_every_route_outside_the_officer_api_is_a_known_public_one(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """The matrix above covers /api/v1 (behind the router's guard); a handler mounted anywhere else has no
    guard at all, and would pass every test of the matrix: it fails here until someone lists it."""
    public = {
        route.path: set(route.methods) - {"HEAD", "OPTIONS"}
        for route in client.app.routes
        if isinstance(route, HTTPRoute) and not route.path.startswith("/api/v1")
    }
    assert public == PUBLIC
    assert not [route.path for route in client.app.routes if not isinstance(route, HTTPRoute)]


async def test_head_and_options_on_officer_routes_need_a_token_too(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """Litestar answers OPTIONS on every route by itself and HEAD nowhere: neither may pass the guard."""
    verifier = await auth("verifier")
    paths = sorted({path for _, path, _ in officer_endpoints(client.app)})
    for path in paths:
        options = await client.options(path)
        assert options.status_code == 401, path
        assert "allow" not in options.headers, path
        head = await client.head(path, headers=verifier)
        assert head.status_code in {401, 403, 405}, (path, head.status_code)
    for path in PUBLIC:
        assert (await client.head(path.replace("{path:str}", "x"))).status_code in {404, 405}


async def test_a_revoked_token_is_refused_on_every_officer_endpoint(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """Revocation is at once and everywhere: the admin token, revoked by another admin, opens no route."""
    revoked, other = await auth("admin"), await auth("admin")
    me = await client.get("/api/v1/me", headers=revoked)
    assert me.status_code == 200
    done = await client.post(f"/api/v1/tokens/{me.json()['token_id']}/revoke", headers=other)
    assert done.status_code == 200, done.text
    for method, path, _ in officer_endpoints(client.app):
        response = await client.request(method, path, headers=revoked)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["detail"] == "the token is unknown or revoked"


AUDITOR_EXCLUDED = {"/tokens": "tokens", "/peers": "the trust list", "/notices/received": "the notices received"}
"""README "Roles" names what an auditor may not read; ``/notices`` (the outbox) is the catch-all below."""


def test_readme_names_every_reading_the_auditor_may_not_do() -> None:
    """The auditor "reads everything but ...": each GET route the matrix denies it is named in that row.

    Before, the row named tokens, the trust list and the outbox, and not ``GET /notices/received`` (the admin's).
    """
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (row,) = re.findall(r"^\| `auditor` \| (.*) \|$", readme, flags=re.MULTILINE)
    denied = sorted(path for (method, path), roles in MATRIX.items() if method == "GET" and AUD not in roles)
    assert denied
    unnamed = []
    for path in denied:
        prefix = next((p for p in AUDITOR_EXCLUDED if path.startswith(p)), None)
        words = AUDITOR_EXCLUDED[prefix] if prefix else ("the outbox" if path.startswith("/notices") else None)
        if words is None or words not in row:
            unnamed.append(path)
    assert not unnamed, f"README's auditor row does not name: {unnamed}"
