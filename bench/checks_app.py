"""The product app plus a reference endpoint (bench only): one SELECT + one INSERT in a transaction.

Run: ``python bench/checks_app.py PORT`` with FIREARMS_DATABASE_URL, FIREARMS_STATE, FIREARMS_HOME set.
The reference goes through the same guard (bearer token), the same per-request transaction and the
same JSON decoding as ``POST /api/v1/checks``; only the work inside differs.
"""

from __future__ import annotations

import msgspec
from litestar import post
from litestar.params import JSONBody
from reference import serve_with_reference

from api.deps import ConnDep


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
    serve_with_reference(reference)


if __name__ == "__main__":
    main()
