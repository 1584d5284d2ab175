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


async def test_verify_on_a_database_that_takes_no_write_walks_what_is_sealed(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """As ``firearms journal verify``: the service's role may not write (its ``DELETE`` on the sealer's queue taken
    back; a read-only database refuses the seal the same way) and the seal the walk begins with is refused. The answer
    was a 500; it is the verdict on what is sealed, ``pending`` counting the entries left unsealed and not verified,
    and ``seal_refused`` saying so (without it, the answer read as the whole journal intact)."""
    auditor = await auth("auditor")
    sealed = (await client.get("/api/v1/journal/verify", headers=auditor)).json()
    await auth("auditor")  # one more entry, waiting for the sealer
    await conn.execute(f"REVOKE DELETE ON journal_pending FROM {db.SERVICE_ROLE}")
    waiting = await conn.fetchval("SELECT count(*) FROM journal_pending")
    assert waiting >= 1
    verified = await client.get("/api/v1/journal/verify", headers=auditor)
    assert verified.status_code == 200, verified.text
    verdict = verified.json()
    assert (verdict["intact"], verdict["head_seq"], verdict["pending"]) == (True, sealed["head_seq"], waiting)
    # said in the answer, not only in the count: an auditor reading "intact" knows the walk stopped short of them
    assert (sealed["seal_refused"], verdict["seal_refused"]) == (False, True)
    assert await conn.fetchval("SELECT count(*) FROM journal_pending") == waiting
