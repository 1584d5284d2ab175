"""``GET /health`` (database round-trip) and ``GET /api/v1/me`` (who am I)."""

from __future__ import annotations

from typing import Any, Literal

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
    """The service is up and its database answers: ``ok``, or ``read-only`` when it takes no write here.

    Still 200 when read-only (DESIGN §10: 200 when the database answers; the lookups that write nothing are answered),
    but a monitor reads that the registry cannot record: checks and records are 503 ``database-read-only`` meanwhile.
    """

    status: Literal["ok", "read-only"]
    state: str


@get("/health", summary="Liveness with a database round-trip")
async def health(request: Request[Any, Any, State], settings: SettingsDep) -> Response[Any]:
    """200 when the database answers a query (``status`` ``read-only`` when it takes no write here); 503 otherwise."""
    pool: Pool = request.app.state.pool
    # the whole round trip bounded: a frozen database host held /health, and a load balancer behind it
    read_only = await db.read_only(pool, HEALTH_TIMEOUT)
    if read_only is None:
        return unavailable_problem(request)
    return Response(Health(status="read-only" if read_only else "ok", state=settings.state))


@get("/me", opt={"roles": ROLES}, summary="The officer behind the token")
async def me(officer: OfficerDep) -> Officer:
    """Who the bearer token belongs to, and its role."""
    return officer
