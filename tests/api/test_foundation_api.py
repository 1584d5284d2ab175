from __future__ import annotations

from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory


async def test_health_answers_when_database_answers(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "state": "AT"}
    assert response.headers["x-request-id"]


async def test_missing_token_is_401_problem(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/unauthenticated")


async def test_wrong_role_is_403_problem(client: AsyncTestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    headers = await auth("customs-officer")
    response = await client.get("/api/v1/tokens", headers=headers)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")
    assert response.json()["allowed_roles"] == ["admin"]
