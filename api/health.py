"""``GET /health`` (database round-trip) and ``GET /api/v1/me`` (who am I)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.datastructures import State

from api.deps import OfficerDep, SettingsDep
from api.problems import RETRY_UNAVAILABLE, problem_response
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
    if not await _answers(pool):
        return problem_response(
            request, 503, "database-unavailable", "the database did not answer", headers=RETRY_UNAVAILABLE
        )
    return Response(Health(status="ok", state=settings.state))


async def _answers(pool: Pool) -> bool:
    """A connection and its ``SELECT 1`` within :data:`HEALTH_TIMEOUT`, the whole round trip bounded.

    A frozen server (a stopped host, a dead link) held ``/health`` for as long as the operating system kept the
    connection, and a load balancer with it. A connection that did not answer in time is closed, not given back:
    the pool would wait on it for the server to take the cancellation.
    """
    conn = None
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            conn = await pool.acquire()
            await conn.fetchval("SELECT 1")
    except Exception:  # noqa: BLE001  # any failure means "not healthy"
        if conn is not None:
            conn.terminate()
            await pool.release(conn)
        return False
    await pool.release(conn)
    return True


@get("/me", opt={"roles": ROLES}, summary="The officer behind the token")
async def me(officer: OfficerDep) -> Officer:
    """Who the bearer token belongs to, and its role."""
    return officer
