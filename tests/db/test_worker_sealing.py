"""The sealer keeps its promise while the outbox is busy (DESIGN §6; README "The journal": about 0.5 s)."""

from __future__ import annotations

import asyncio
import time

import msgspec

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import journal, outbox
from firearms.worker import run_worker
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import partner

__all__ = ["at_de"]


async def test_the_worker_seals_while_a_partner_is_slow_to_answer(at_de: tuple[Registry, Registry]) -> None:
    """A delivery waiting on a partner (a slow link, a black hole up to the exchange timeout) does not hold the sealer.

    Before, one pass sealed and then delivered until nothing was due: an entry written while a partner took its
    time stayed unsealed for as long as the run lasted (up to half a delivery lease, a minute), not about 0.5 s.
    """
    at, _ = at_de
    posted = asyncio.Event()
    answer = asyncio.Event()

    async def slow(_: bytes) -> tuple[int, bytes]:  # DE holds every post until the test lets it answer
        posted.set()
        await asyncio.wait_for(answer.wait(), timeout=30)
        return 503, b"{}"

    settings = msgspec.structs.replace(at.settings, seal_interval=0.05, exchange_timeout=30.0)
    async with partner(slow) as url:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        async with at.conn.transaction():
            await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 1})
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(at.pool, settings, stop))
        try:
            await asyncio.wait_for(posted.wait(), timeout=10)
            async with at.conn.transaction():
                entry_id = await journal.record(
                    at.conn, actor="test", action="test.sealed", entity="test", entity_id="1", payload={}
                )
            deadline = time.monotonic() + 2  # four times the promise, far below the partner's hold
            while not await at.conn.fetchval("SELECT count(*) FROM journal_link WHERE entry_id = $1", entry_id):
                assert time.monotonic() < deadline, "the entry stayed unsealed while a delivery was in flight"
                await asyncio.sleep(0.02)
            assert not answer.is_set()  # the delivery is still waiting for the partner
        finally:
            answer.set()
            stop.set()
            await worker
