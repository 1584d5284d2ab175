"""A value outside a field's or parameter's values is answered with the values it takes (README "Security").

``{"role": "boss"}`` answered ``'role' is not one of the values it takes (/schema/openapi.json lists them)``: the
administrator had to open the OpenAPI document to learn the six roles, which the command line lists in its own
refusal. The values are the registry's words, never the caller's: nothing sent is quoted back.
"""

from __future__ import annotations

from typing import Any, get_args

import pytest
from litestar.testing import AsyncTestClient

from firearms.item_types import FirearmType, MarkingKind
from firearms.lifecycle import EventKind, Status
from firearms.tokens import ROLES
from tests.api.test_items_api import TODAY, register, rifle
from tests.conftest import TokenFactory


def _message(name: str, values: tuple[Any, ...]) -> str:
    return f"{name} is not one of the values it takes: {', '.join(sorted(values))}"


@pytest.mark.parametrize(
    ("url", "name", "key", "values"),
    [
        ("/api/v1/items?status=gone", "query parameter 'status'", "status", get_args(Status)),
        ("/api/v1/items?type=%3Cb%3E", "query parameter 'type'", "type", get_args(FirearmType)),
    ],
)
async def test_a_query_value_outside_its_values_lists_them(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    url: str,
    name: str,
    key: str,
    values: tuple[str, ...],
) -> None:
    response = await client.get(url, headers=await auth("admin"))
    assert response.status_code == 400, response.text
    message = _message(name, values)
    assert response.json()["errors"] == [{"message": message, "key": key, "source": "query"}]
    assert "gone" not in response.text
    assert "<b>" not in response.text


async def test_a_body_value_outside_its_values_lists_them(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    admin = await auth("admin")
    role = await client.post("/api/v1/tokens", json={"role": "boss", "name": "x"}, headers=admin)
    assert role.status_code == 400, role.text
    assert role.json()["errors"] == [{"message": _message("'role'", ROLES), "key": "role", "source": "body"}]
    assert "boss" not in role.text

    officer = await auth("records-officer")
    item_id = (await register(client, officer, rifle()))["item_id"]
    event = await client.post(
        f"/api/v1/items/{item_id}/events", json={"event": "exploded", "occurred_on": TODAY}, headers=officer
    )
    assert event.status_code == 400, event.text
    assert event.json()["errors"][0]["message"] == _message("'event'", get_args(EventKind))

    nested = rifle("SSG08-777")
    nested["markings"] = [{**nested["markings"][0], "kind": "laser"}]
    marking = await client.post("/api/v1/items", json=nested, headers=officer)
    assert marking.status_code == 400, marking.text
    assert marking.json()["errors"] == [
        {"message": _message("'markings[0].kind'", get_args(MarkingKind)), "key": "markings[0].kind", "source": "body"}
    ]
