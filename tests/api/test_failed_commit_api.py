"""A request whose transaction failed is a 500 ``internal-error``, never the success its handler returned.

A handler that catches a database error without a savepoint leaves the request's transaction failed; its ``COMMIT``
is answered ``ROLLBACK`` (``firearms.db.TransactionAbortedError``). The route here is the test's own, on the real
app and its ``conn`` dependency (``api.deps.provide_conn``): the answer is the problem, nothing of the request is
recorded (no journal entry, no idempotency key: the retry runs again, it is not answered the lost success), and
the pool's connection serves the next request.
"""

from __future__ import annotations

import contextlib
import uuid

import asyncpg
import msgspec
from litestar import post
from litestar.params import FromQuery
from litestar.testing import AsyncTestClient

from api import create_app
from api.deps import ConnDep
from firearms import bootstrap, db, idempotency, journal, tokens
from firearms.settings import Settings

ROUTE = "/test-only/swallowed"


async def test_a_request_whose_transaction_failed_is_a_500_and_records_nothing(
    settings: Settings, initialised: bootstrap.Initialised, conn: db.Conn
) -> None:
    del initialised
    _, token = await tokens.create_token(conn, role="admin", name="test", actor="test")
    runs: list[int] = []

    @post(ROUTE, status_code=201)
    async def swallowed(conn: ConnDep, swallow: FromQuery[bool] = True) -> bytes:

        async def create() -> dict[str, int]:
            entry_id = await journal.record(
                conn, actor="test", action="thing.made", entity="thing", entity_id="x", payload={}
            )
            runs.append(entry_id)
            return {"entry_id": entry_id}

        answer = await idempotency.once(
            conn,
            token_id=token.token_id,
            key="retry-me",
            request=f"POST {ROUTE}",
            body={},
            status_code=201,
            create=create,
            actor="test",
        )
        if swallow:  # the handler's mistake: an error caught without a savepoint
            with contextlib.suppress(asyncpg.DivisionByZeroError):
                await conn.execute("SELECT 1 / 0")
        return answer.body

    entries = await conn.fetchval("SELECT count(*) FROM journal_entry")
    app = create_app(msgspec.structs.replace(settings, pool_size=1))  # the next request gets the same connection
    app.register(swallowed)
    async with AsyncTestClient(app=app) as client:
        response = await client.post(ROUTE)
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"].endswith("/internal-error")
        assert problem["status"] == 500
        assert "entry_id" not in response.text
        assert await conn.fetchval("SELECT count(*) FROM journal_entry") == entries
        assert await conn.fetchval("SELECT count(*) FROM idempotency_key") == 0
        # the key was never stored: the retry runs the creation again, on the pool's (one) connection, and commits
        retry = await client.post(ROUTE, params={"swallow": "false"})
        assert retry.status_code == 201
        assert retry.json() == {"entry_id": runs[1]}
        assert len(runs) == 2
        assert await conn.fetchval("SELECT count(*) FROM idempotency_key") == 1
        assert await conn.fetchval("SELECT count(*) FROM journal_entry") == entries + 2  # thing.made, key recorded
    assert isinstance(token.token_id, uuid.UUID)
