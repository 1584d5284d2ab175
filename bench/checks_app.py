"""The product app plus a reference endpoint (bench only): one SELECT + one INSERT in a transaction.

Run: ``python bench/checks_app.py PORT`` with FIREARMS_DATABASE_URL, FIREARMS_STATE, FIREARMS_HOME set.
The reference goes through the same guard (bearer token), the same per-request transaction and the
same JSON decoding as ``POST /api/v1/checks``; only the work inside differs.
"""

from __future__ import annotations

import logging
import sys

import msgspec
import uvicorn
from litestar import Router, post
from litestar.di import Provide
from litestar.params import JSONBody

from api import create_app
from api.deps import ConnDep, provide_officer, require_role
from firearms.settings import load_settings


class ReferenceRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A licence number to look up."""

    licence_number: str


class ReferenceAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What the reference found and wrote."""

    status: str
    reference_id: int


@post("/reference", opt={"roles": ("customs-officer",)}, status_code=200)
async def reference(conn: ConnDep, data: JSONBody[ReferenceRequest]) -> ReferenceAnswer:
    """One indexed SELECT of a licence and one INSERT: the ceiling a customs check is compared with."""
    row = await conn.fetchrow(
        "SELECT licence_id, status FROM licence WHERE issuing_state = 'AT' AND number = $1", data.licence_number
    )
    assert row is not None
    reference_id = await conn.fetchval(
        "INSERT INTO bench_reference (licence_id) VALUES ($1) RETURNING reference_id", row["licence_id"]
    )
    return ReferenceAnswer(status=row["status"], reference_id=reference_id)


def main() -> None:
    port = int(sys.argv[1])
    logging.getLogger("firearms.access").setLevel(logging.WARNING)
    settings = load_settings(run_worker=False, port=port)
    app = create_app(settings)
    app.register(
        Router(
            path="/bench",
            route_handlers=[reference],
            guards=[require_role],
            dependencies={"officer": Provide(provide_officer, sync_to_thread=False)},
        )
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
