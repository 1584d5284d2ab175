from __future__ import annotations

from litestar.testing import AsyncTestClient


async def test_openapi_documents_the_records_endpoints(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/items",
        "/api/v1/items/search",
        "/api/v1/items/export",
        "/api/v1/items/{item_id}",
        "/api/v1/items/{item_id}/markings",
        "/api/v1/items/{item_id}/events",
        "/api/v1/items/{item_id}/history",
        "/api/v1/imports",
    ):
        assert path in paths, path
