"""``GET /health`` (database round-trip) and ``GET /api/v1/me`` (who am I)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State

from api.deps import OfficerDep, SettingsDep
from api.problems import RETRY_UNAVAILABLE, problem_response
from firearms.db import Pool
from firearms.tokens import ROLES, Officer

__all__ = ["Health", "health", "me"]


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """The service is up and its database answers."""

    status: str
    state: str


@get("/health", summary="Liveness with a database round-trip")
async def health(request: Request[Any, Any, State], settings: SettingsDep) -> Response[Any]:
    """200 when the database answers a query; 503 problem otherwise."""
    pool: Pool = request.app.state.pool
    try:
        async with pool.acquire(timeout=5) as conn:
            await conn.fetchval("SELECT 1")
    except (OSError, TimeoutError, Exception):  # noqa: BLE001  # any failure means "not healthy"
        return problem_response(
            request, 503, "database-unavailable", "the database did not answer", headers=RETRY_UNAVAILABLE
        )
    return Response(Health(status="ok", state=settings.state))


@get("/me", opt={"roles": ROLES}, summary="The officer behind the token")
async def me(officer: OfficerDep) -> Officer:
    """Who the bearer token belongs to, and its role."""
    return officer
