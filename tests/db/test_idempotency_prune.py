"""Pruning old Idempotency-Keys: each deletion journaled, the rest of the table append-only as before."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from firearms import db, idempotency, tokens

ACTOR = "test:operator"
REQUEST = "POST /api/v1/parties"


async def _key(conn: db.Conn, token_id: uuid.UUID, key: str, days_ago: int) -> None:
    """A key as a request stored it ``days_ago`` days ago."""
    await conn.execute(
        "INSERT INTO idempotency_key (token_id, idempotency_key, request, fingerprint, answer, status_code,"
        " created_at) VALUES ($1, $2, $3, $4, '{}', 201, now() - make_interval(days => $5))",
        token_id,
        key,
        REQUEST,
        idempotency.fingerprint(REQUEST, {"key": key}),
        days_ago,
    )


async def test_keys_older_than_the_retention_are_deleted_each_journaled_and_free_again(conn: db.Conn) -> None:
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    for key, days_ago in [("old-1", 40), ("old-2", 35), ("old-3", 31), ("kept-1", 29), ("kept-2", 1)]:
        await _key(conn, token.token_id, key, days_ago)
    shown: list[int] = []
    pruned = await idempotency.prune(
        conn, older_than=dt.timedelta(days=30), actor=ACTOR, batch=2, progress=shown.append
    )
    assert (pruned, shown) == (3, [2, 3])  # two batches, oldest first
    left = await conn.fetch("SELECT idempotency_key FROM idempotency_key ORDER BY idempotency_key")
    assert [row["idempotency_key"] for row in left] == ["kept-1", "kept-2"]
    entries = await conn.fetch(
        "SELECT entry_id, actor, entity, entity_id, payload FROM journal_entry"
        " WHERE action = 'idempotency-key.pruned' ORDER BY entry_id"
    )
    assert [(e["actor"], e["entity"], e["entity_id"]) for e in entries] == [
        (ACTOR, "idempotency_key", f"{token.token_id}/{key}") for key in ("old-1", "old-2", "old-3")
    ]
    assert entries[0]["payload"]["request"] == REQUEST
    assert entries[0]["payload"]["fingerprint"] == idempotency.fingerprint(REQUEST, {"key": "old-1"}).hex()
    assert entries[0]["payload"]["stored_before"].endswith("Z")
    queued = await conn.fetchval(
        "SELECT count(*) FROM journal_pending WHERE entry_id = ANY($1::bigint[])", [e["entry_id"] for e in entries]
    )
    assert queued == 3
    # nothing is left to prune: asked again, nothing more
    assert await idempotency.prune(conn, older_than=dt.timedelta(days=30), actor=ACTOR) == 0
    # a pruned key is free: the same request with it creates anew
    created: list[str] = []

    async def create() -> dict[str, str]:
        created.append("again")
        return {"party_id": "new"}

    answer = await idempotency.once(
        conn,
        token_id=token.token_id,
        key="old-1",
        request=REQUEST,
        body={"key": "old-1"},
        status_code=201,
        create=create,
        actor=ACTOR,
    )
    assert (created, answer.body) == (["again"], b'{"party_id":"new"}')


async def test_outside_the_prune_the_keys_stay_append_only(conn: db.Conn) -> None:
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    await _key(conn, token.token_id, "old-1", 40)
    for statement in ("DELETE FROM idempotency_key", "UPDATE idempotency_key SET answer = '[]'"):
        with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
            await conn.execute(statement)
    # the prune's permission is its transaction's alone
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('firearms.idempotency_prune', 'on', true); UPDATE idempotency_key SET answer = '[]'"
            )
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await conn.execute("DELETE FROM idempotency_key")
    assert await conn.fetchval("SELECT count(*) FROM idempotency_key") == 1
