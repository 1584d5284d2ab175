"""The whole role x endpoint matrix (DESIGN §7): every officer endpoint, every role, no token."""

from __future__ import annotations

import re
import uuid

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from firearms.tokens import ROLES
from tests.conftest import TokenFactory

_SAMPLES = {"uuid": str(uuid.UUID(int=0)), "int": "1", "str": "X-1", "path": "x"}


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
