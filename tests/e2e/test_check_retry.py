"""An officer's client that gave up on a customs check and sends it again with the same ``check_id`` (DESIGN §5).

Over real HTTP (uvicorn, as ``serve`` runs it): the first attempt still waiting for the licence when the retry
arrives, and a first attempt whose client hung up before the answer. Either way one check is recorded, the
licence is debited once, and both answers are the same bytes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from firearms import bootstrap, db, tokens
from firearms.licence_object import LicenceLine
from firearms.settings import Settings
from tests.check_helpers import check_body
from tests.e2e.test_check_race import serve, waiting_on_locks
from tests.licensing_helpers import issued_export, register_parties

CARTRIDGES = LicenceLine(
    line=1, category="ammunition", type="cartridge", make="Hirtenberger", model="", calibre=".308 Win", quantity=50
)


@pytest.fixture
async def server(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[str]:
    """AT's registry over real HTTP."""
    async for url in serve(settings):
        yield url


async def _export(conn: db.Conn, settings: Settings) -> tuple[uuid.UUID, dict[str, Any], dict[str, str]]:
    """An issued export licence of 50 cartridges, a check of 10 of them, a customs officer's header."""
    licence = await issued_export(conn, settings, await register_parties(conn), lines=[CARTRIDGES])
    async with conn.transaction():
        secret, _ = await tokens.create_token(conn, role="customs-officer", name="Border post 7", actor="test")
    body = check_body(
        "export", [{"line": 1, "quantity": 10}], licence_number=licence.licence.number, crossing_point="AT-Wullowitz"
    )
    return licence.licence_id, body, {"Authorization": f"Bearer {secret}"}


async def _recorded_once(conn: db.Conn, licence_id: uuid.UUID, check_id: str) -> None:
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 1
    assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry WHERE licence_id = $1", licence_id) == 10
    recorded = "SELECT count(*) FROM journal_entry WHERE action = 'check.recorded' AND entity_id = $1"
    assert await conn.fetchval(recorded, check_id) == 1


async def test_a_retry_while_the_first_attempt_still_waits_is_recorded_and_debited_once(
    server: str, conn: db.Conn, settings: Settings
) -> None:
    licence_id, body, headers = await _export(conn, settings)
    async with (
        httpx.AsyncClient(base_url=server, timeout=30) as first,
        httpx.AsyncClient(base_url=server, timeout=30) as retry,
    ):
        async with conn.transaction():  # a long amendment holds the licence
            await conn.execute("SELECT 1 FROM licence WHERE licence_id = $1 FOR UPDATE", licence_id)
            one = asyncio.create_task(first.post("/api/v1/checks", json=body, headers=headers))
            await waiting_on_locks(conn, 1)
            other = asyncio.create_task(retry.post("/api/v1/checks", json=body, headers=headers))
            await waiting_on_locks(conn, 2)
        answers = await asyncio.gather(one, other)
    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    assert answers[0].content == answers[1].content
    assert answers[0].json()["verdict"] == "clear"
    assert answers[0].json()["licence"]["lines"] == [{"line": 1, "remaining": 40}]
    await _recorded_once(conn, licence_id, body["check_id"])


async def test_a_check_whose_client_hung_up_is_answered_to_the_retry_and_recorded_once(
    server: str, conn: db.Conn, settings: Settings
) -> None:
    """The first attempt's client gives up (a timeout, a dropped link) while the check waits for the licence: the
    attempt goes on and commits, and the retry with the same ``check_id`` answers what it recorded."""
    licence_id, body, headers = await _export(conn, settings)
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM licence WHERE licence_id = $1 FOR UPDATE", licence_id)
        async with httpx.AsyncClient(base_url=server, timeout=30) as impatient:
            pending = asyncio.create_task(impatient.post("/api/v1/checks", json=body, headers=headers))
            await waiting_on_locks(conn, 1)
            pending.cancel()  # the client hangs up: its connection is closed with the client
            with pytest.raises(asyncio.CancelledError):
                await pending
        await waiting_on_locks(conn, 1)  # the abandoned attempt still waits in the database
    deadline = time.monotonic() + 20
    while not await conn.fetchval("SELECT count(*) FROM customs_check"):
        assert time.monotonic() < deadline, "the abandoned attempt was never recorded"
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        again = await client.post("/api/v1/checks", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["verdict"] == "clear"
    assert again.json()["licence"]["lines"] == [{"line": 1, "remaining": 40}]
    await _recorded_once(conn, licence_id, body["check_id"])
