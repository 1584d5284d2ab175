from __future__ import annotations

import re

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from firearms.tokens import ROLES
from tests.conftest import TokenFactory

MINE = ("/api/v1/parties", "/api/v1/licences", "/api/v1/verify")
PLACEHOLDERS = {
    "licence_id": "00000000-0000-0000-0000-000000000000",
    "party_id": "00000000-0000-0000-0000-000000000000",
}


def _endpoints(app: Litestar) -> list[tuple[str, str, frozenset[str]]]:
    found: list[tuple[str, str, frozenset[str]]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith(MINE):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                path = re.sub(
                    r"\{(\w+)(?::\w+)?\}",
                    lambda m: PLACEHOLDERS.get(m.group(1), "1" if m.group(1) == "version" else "AT"),
                    route.path_format if hasattr(route, "path_format") else route.path,
                )
                found.append((str(getattr(method, "value", method)), path, frozenset(handler.opt["roles"])))
    return found


async def test_role_endpoint_matrix_of_licensing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    endpoints = _endpoints(client.app)
    assert len(endpoints) >= 25
    headers = {role: await auth(role) for role in ROLES}
    for method, path, allowed in endpoints:
        anonymous = await client.request(method, path, json={} if method == "POST" else None)
        assert anonymous.status_code == 401, (method, path)
        for role in ROLES:
            response = await client.request(method, path, headers=headers[role], json={} if method == "POST" else None)
            if role in allowed:
                assert response.status_code not in {401, 403}, (method, path, role, response.status_code)
            else:
                assert response.status_code == 403, (method, path, role, response.status_code)
