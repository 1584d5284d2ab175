"""``GET /api/v1/journal/verify?since_checkpoint=true``: the CLI's bounded verification, same roles."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from firearms import db, journal
from tests.conftest import TokenFactory


async def test_verify_since_checkpoint_starts_where_the_last_recorded_verification_reached(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    auditor = await auth("auditor")
    whole = await client.get("/api/v1/journal/verify", params={"since_checkpoint": "true"}, headers=auditor)
    assert whole.status_code == 200
    assert (whole.json()["intact"], whole.json()["since_checkpoint"]) == (True, None)  # nothing recorded yet
    made = await client.post("/api/v1/journal/checkpoints", headers=auditor)
    seq = made.json()["seq"]
    full = await journal.verify(conn, state="AT")
    await journal.record_verification(conn, actor="test", result=full)  # as 'firearms journal verify' does
    await auth("auditor")  # one more entry after the checkpoint
    verified = await client.get("/api/v1/journal/verify", params={"since_checkpoint": "true"}, headers=auditor)
    assert verified.status_code == 200
    verdict = verified.json()
    assert (verdict["intact"], verdict["since_checkpoint"]) == (True, seq)
    assert verdict["entries"] == verdict["head_seq"] - seq + 1
    plain = await client.get("/api/v1/journal/verify", headers=auditor)
    assert (plain.json()["since_checkpoint"], plain.json()["entries"]) == (None, plain.json()["head_seq"])


async def test_verify_since_checkpoint_refuses_a_value_that_is_not_a_boolean(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    refused = await client.get(
        "/api/v1/journal/verify", params={"since_checkpoint": "maybe"}, headers=await auth("auditor")
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["status"] == 400


async def test_verify_since_checkpoint_keeps_the_roles(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    denied = await client.get(
        "/api/v1/journal/verify", params={"since_checkpoint": "true"}, headers=await auth("customs-officer")
    )
    assert denied.status_code == 403
