"""A State given in the query: one rule for every such parameter, the rule of the command line's options.

Two letters in either case (``de`` is ``DE``, as ``firearms notices --recipient de`` takes it); anything else is
a 400 ``invalid-request`` naming the parameter and the expected form. Before, ``?recipient=de`` was refused
with ``Expected `str` matching regex '^[A-Z]{2}$(?!\\n)'``, and ``/items?country=at`` matched nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from firearms import db, outbox
from tests.api.test_items_api import register, rifle
from tests.conftest import TokenFactory
from tests.exchange_util import VECTORS

PROBLEM = "tag:firearms-registry,2026:problems/"

# (path and query with {} for the State, the parameter, a role that may read it)
STATE_QUERIES = [
    ("/api/v1/notices?recipient={}", "recipient", "admin"),
    ("/api/v1/items?country={}", "country", "records-officer"),
    ("/api/v1/items/export?format=ndjson&country={}", "country", "records-officer"),
    ("/api/v1/checks?licence_number=AT-EXP-1&issuing_state={}", "issuing_state", "auditor"),
    ("/api/v1/licences/by-number?number=AT-EXP-1&issuing_state={}", "issuing_state", "auditor"),
    ("/api/v1/foreign-licences/by-number?number=DE-EXP-1&issuing_state={}", "issuing_state", "auditor"),
    ("/api/v1/shipments?licence_number=AT-EXP-1&issuing_state={}", "issuing_state", "auditor"),
    ("/api/v1/shipments/by-id?shipment_id=S-1&exporting_state={}", "exporting_state", "auditor"),
    ("/api/v1/verify/AT-EXP-1?issuing_state={}", "issuing_state", "auditor"),
]


def _without_request_id(answer: Any) -> Any:
    kind = answer.headers.get("content-type", "")
    body = answer.json() if kind.startswith(("application/json", "application/problem+json")) else answer.text
    if isinstance(body, dict):
        body.pop("request_id", None)
    return answer.status_code, body


@pytest.mark.parametrize(("url", "parameter", "role"), STATE_QUERIES)
async def test_a_state_in_the_query_is_taken_in_either_case(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    url: str,
    parameter: str,
    role: str,
) -> None:
    headers = await auth(role)  # type: ignore[arg-type]
    upper = await client.get(url.format("AT"), headers=headers)
    lower = await client.get(url.format("at"), headers=headers)
    assert upper.status_code != 400, upper.text
    assert _without_request_id(lower) == _without_request_id(upper), parameter


@pytest.mark.parametrize(("url", "parameter", "role"), STATE_QUERIES)
@pytest.mark.parametrize("given", ["Germany", "D", "d3", "DE%0A", "%C3%84T", ""])
async def test_a_state_in_the_query_that_is_no_two_letters_names_the_parameter(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    url: str,
    parameter: str,
    role: str,
    given: str,
) -> None:
    answer = await client.get(url.format(given), headers=await auth(role))  # type: ignore[arg-type]
    assert_no_state(answer, parameter, "query")


def assert_no_state(answer: Any, parameter: str, source: str) -> None:
    """``answer`` is the 400 that says the ``source`` (query or path) parameter must be a State's code."""
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    expected = (
        f"{source} parameter '{parameter}' must be a State's ISO 3166-1 alpha-2 code: two letters, such as DE or de"
    )
    assert problem["type"] == PROBLEM + "invalid-request"
    assert problem["detail"] == expected
    assert problem["errors"] == [{"message": expected, "key": parameter, "source": source}]


async def test_notices_for_a_recipient_in_lower_case_are_that_recipients(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """``?recipient=de`` lists DE's notices, as ``firearms notices --recipient de`` does."""
    admin = await auth("admin")
    for state, key in (("DE", "DE"), ("CZ", "OTHER")):
        peer = {"state": state, "base_url": "http://127.0.0.1:9", "public_key": VECTORS["keys"][key]["public_key"]}
        assert (await client.post("/api/v1/peers", json=peer, headers=admin)).status_code == 201
    async with conn.transaction():
        to_de = str(await outbox.enqueue(conn, "DE", "test.ping", {"n": 1}))
        await outbox.enqueue(conn, "CZ", "test.ping", {"n": 2})
    listed = await client.get("/api/v1/notices?recipient=de", headers=admin)
    assert listed.status_code == 200, listed.text
    assert [(item["notice_id"], item["recipient"]) for item in listed.json()["items"]] == [(to_de, "DE")]


async def test_items_made_in_a_country_given_in_lower_case_are_found(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """``?country=at`` matched nothing (the codes are stored upper-cased), with no word that it was the case."""
    officer = await auth("records-officer")
    created = await register(client, officer, rifle("CASE-1"))
    found = await client.get("/api/v1/items?country=at", headers=officer)
    assert found.status_code == 200, found.text
    assert [item["item_id"] for item in found.json()["items"]] == [created["item_id"]]
    exported = await client.get("/api/v1/items/export?format=ndjson&country=at", headers=officer)
    assert exported.status_code == 200
    assert "CASE-1" in exported.text
