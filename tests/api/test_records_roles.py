from __future__ import annotations

import datetime as dt
from typing import Any

from litestar.testing import AsyncTestClient

from firearms.tokens import ROLES
from tests.api.test_items_api import rifle
from tests.conftest import TokenFactory

READERS: set[str] = set(ROLES)
WRITERS: set[str] = {"records-officer", "admin"}
TODAY = dt.datetime.now(dt.UTC).date().isoformat()


async def test_role_by_endpoint_matrix_for_records(client: AsyncTestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    officer = await auth("records-officer")
    created = await client.post("/api/v1/items", json=rifle("ROLE-0"), headers=officer)
    item_id = created.json()["item_id"]
    endpoints: list[tuple[str, str, Any, bytes | None, set[str]]] = [
        ("GET", "/api/v1/items", None, None, READERS),
        ("GET", "/api/v1/items/search?q=ROLE", None, None, READERS),
        ("GET", f"/api/v1/items/{item_id}", None, None, READERS),
        ("GET", f"/api/v1/items/{item_id}/history", None, None, READERS),
        ("GET", "/api/v1/items/export", None, None, READERS),
        ("GET", "/api/v1/items/deactivation-certificates?certificate_number=ROLE-1", None, None, READERS),
        ("POST", "/api/v1/items", "register", None, WRITERS),
        ("POST", f"/api/v1/items/{item_id}/markings", {"kind": "proof", "stamped": "BP"}, None, WRITERS),
        (
            "POST",
            f"/api/v1/items/{item_id}/events",
            {"event": "transferred", "occurred_on": TODAY, "to_party": "X"},
            None,
            WRITERS,
        ),
        (
            "POST",
            "/api/v1/imports",
            None,
            b"kind,manufacturer,country_of_manufacture,serial,quantity\nammunition,Hirtenberger,AT,ROLE-LOT,5\n",
            WRITERS,
        ),
    ]
    for role in ROLES:
        headers = await auth(role)
        for number, (method, url, body, content, allowed) in enumerate(endpoints):
            json_body = rifle(f"ROLE-{role}-{number}") if body == "register" else body
            response = await client.request(
                method,
                url,
                json=json_body,
                content=content,
                headers={**headers, "Content-Type": "text/csv"} if content else headers,
            )
            if role in allowed:
                assert response.status_code < 300, (role, method, url, response.text)
            else:
                assert response.status_code == 403, (role, method, url, response.status_code)
                assert response.json()["type"].endswith("/forbidden")
    anonymous = await client.get("/api/v1/items")
    assert anonymous.status_code == 401
