"""``GET /health`` (database round-trip) and ``GET /api/v1/me`` (who am I)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State

from api.deps import OfficerDep, SettingsDep
from api.problems import unavailable_problem
from firearms import db
from firearms.db import Pool
from firearms.tokens import ROLES, Officer

__all__ = ["HEALTH_TIMEOUT", "Health", "health", "me"]

HEALTH_TIMEOUT = 5.0  # seconds /health waits for a connection and its SELECT 1


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """The service is up and its database answers."""

    status: str
    state: str


@get("/health", summary="Liveness with a database round-trip")
async def health(request: Request[Any, Any, State], settings: SettingsDep) -> Response[Any]:
    """200 when the database answers a query; 503 problem otherwise."""
    pool: Pool = request.app.state.pool
    # the whole round trip bounded: a frozen database host held /health, and a load balancer behind it
    if not await db.answers(pool, HEALTH_TIMEOUT):
        return unavailable_problem(request)
    return Response(Health(status="ok", state=settings.state))


@get("/me", opt={"roles": ROLES}, summary="The officer behind the token")
async def me(officer: OfficerDep) -> Officer:
    """Who the bearer token belongs to, and its role."""
    return officer
