"""A query parameter no officer endpoint reads is refused, not dropped (README "Problem types").

An auditor's ``GET /api/v1/journal?action=item.read`` answered the whole journal, page after page, as if it were the
reads alone (the journal reads ``action`` since; ``actor`` it does not); a records officer's
``GET /api/v1/items?serial_number=...`` listed every item of the registry. The answer looked filtered and was not.
"""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from firearms import db
from tests.conftest import TokenFactory

PROBLEM = "tag:firearms-registry,2026:problems/invalid-request"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/journal?actor=officer:alice", "actor"),
        ("/api/v1/items?serial_number=ABC123", "serial_number"),
        ("/api/v1/items/search?q=ABC&serial=ABC", "serial"),
        ("/api/v1/tokens?role=auditor", "role"),
        ("/api/v1/checks?serial=ABC&licence=AT-1", "licence"),
    ],
)
async def test_an_unknown_query_parameter_is_refused_naming_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    path: str,
    name: str,
) -> None:
    response = await client.get(path, headers=await auth("admin"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEM
    assert problem["detail"] == f"the query parameter `{name}` is not one this endpoint reads"
    assert problem["errors"] == [{"message": problem["detail"], "key": name, "source": "query"}]
    # refused before the read: nothing journaled (a journal page read is journal.read)
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'journal.read'") == 0


async def test_an_unknown_query_parameter_is_named_only_when_its_name_is_plain(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    response = await client.get("/api/v1/items?%3Cscript%3E=1", headers=await auth("admin"))
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "a query parameter is not one this endpoint reads"
    assert response.json()["errors"][0]["key"] is None
    assert "<" not in response.text


async def test_the_parameters_an_endpoint_reads_are_taken(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """Aliased (``type``), paginated and State parameters pass as before."""
    headers = await auth("admin")
    for path in (
        "/api/v1/items?serial=ABC&type=rifle&status=active&kind=firearm&country=at&limit=5",
        "/api/v1/items/search?q=ABC&type=pistol&limit=5",
        "/api/v1/journal?entity=item&entity_id=1&limit=5",
        "/api/v1/checks?licence_number=AT-EXP-2026-000001&issuing_state=AT",
        "/api/v1/notices?recipient=de&limit=5",
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)


async def test_the_handlers_own_name_of_an_aliased_parameter_is_unknown_as_sent(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """``type`` is the query parameter; ``firearm_type`` is only the handler's name for it."""
    response = await client.get("/api/v1/items?firearm_type=rifle", headers=await auth("admin"))
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["key"] == "firearm_type"
    assert response.json()["detail"] == "the query parameter `firearm_type` is not one this endpoint reads"
