"""Two requests with one Idempotency-Key at the same moment, over real HTTP: one licence is drafted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from firearms import bootstrap, db, tokens
from firearms.settings import Settings
from tests.api.test_licences_api import _setup
from tests.e2e.test_check_race import serve, waiting_on_locks


@pytest.fixture
async def server(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[str]:
    """AT's registry over real HTTP."""
    async for url in serve(settings):
        yield url


async def test_two_simultaneous_drafts_with_one_key_draft_one_licence(server: str, conn: db.Conn) -> None:
    secret, _ = await tokens.create_token(conn, role="licensing-officer", name="race", actor="test")
    officer = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        body = await _setup(client, officer)  # type: ignore[arg-type]  # the same calls over real HTTP
        first = await client.post("/api/v1/licences", json=body, headers=officer)
        assert first.status_code == 201, first.text  # the counter row of the year's numbers exists
        keyed = {**officer, "Idempotency-Key": "retry-after-timeout"}
        # Hold the number counter: both requests get as far into the database as they can before either
        # may finish, so neither can have committed before the other looked.
        async with conn.transaction():
            await conn.execute("SELECT last FROM licence_counter FOR UPDATE")
            racing = [asyncio.create_task(client.post("/api/v1/licences", json=body, headers=keyed)) for _ in range(2)]
            await waiting_on_locks(conn, 2)
        one, other = await asyncio.gather(*racing)
    assert (one.status_code, other.status_code) == (201, 201), (one.text, other.text)
    assert one.content == other.content
    assert await conn.fetchval("SELECT count(*) FROM licence") == 2  # the first, unkeyed one and one more
    assert await conn.fetchval("SELECT count(*) FROM idempotency_key") == 1
