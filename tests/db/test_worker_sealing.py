"""The sealer keeps its promise while the outbox is busy (DESIGN §6; README "The journal": about 0.5 s)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import msgspec

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import bootstrap, db, journal, licence_reads, outbox
from firearms.settings import Settings
from firearms.worker import run_worker
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import partner
from tests.licensing_helpers import TODAY, issued_export, register_parties

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


async def _sealed_within(conn: db.Conn, entry_id: int, seconds: float, why: str) -> None:
    deadline = time.monotonic() + seconds
    while not await conn.fetchval("SELECT count(*) FROM journal_link WHERE entry_id = $1", entry_id):
        assert time.monotonic() < deadline, why
        await asyncio.sleep(0.02)


async def test_the_worker_seals_while_a_licence_timer_waits_for_a_lock(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """The expiry timer waits for a licence row another transaction holds (an amendment, a command); the sealer not.

    Before, the timers ran in the sealer's pass, and an entry stayed unsealed for as long as the lock was held.
    """
    lic = await issued_export(conn, settings, await register_parties(conn))
    await conn.execute(  # its last day has passed: the expiry timer will take its row
        "UPDATE licence SET valid_from = $1, expires_on = $1 WHERE licence_id = $2",
        TODAY - dt.timedelta(days=2),
        lic.licence_id,
    )
    pool = await db.create_pool(database, max_size=4)
    holder = await db.connect(database)
    hold = holder.transaction()
    await hold.start()
    held = True
    await holder.execute("SELECT 1 FROM licence WHERE licence_id = $1 FOR UPDATE", lic.licence_id)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(pool, msgspec.structs.replace(settings, seal_interval=0.05), stop))
    try:
        deadline = time.monotonic() + 10
        while not await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ):
            assert time.monotonic() < deadline, "the expiry timer never waited for the licence"
            await asyncio.sleep(0.02)
        async with conn.transaction():
            entry_id = await journal.record(
                conn, actor="test", action="test.sealed", entity="test", entity_id="1", payload={}
            )
        await _sealed_within(conn, entry_id, 2, "the entry stayed unsealed while a licence timer waited for a lock")
        await hold.rollback()
        held = False
        deadline = time.monotonic() + 10
        while (await licence_reads.get_licence(conn, lic.licence_id)).status != "expired":
            assert time.monotonic() < deadline, "the worker did not expire the licence once the lock was let go"
            await asyncio.sleep(0.05)
    finally:
        if held:
            await hold.rollback()
        await holder.close()
        stop.set()
        await worker
        await pool.close()


async def test_the_worker_signs_checkpoints_by_itself(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """DESIGN §6: "periodically ... the registry signs a checkpoint": the worker, every ``checkpoint_interval``.

    Every checkpoint so far was signed on demand in the tests; none showed the worker doing it by itself.
    """
    async with conn.transaction():
        entry_id = await journal.record(
            conn, actor="test", action="test.sealed", entity="test", entity_id="1", payload={}
        )
    pool = await db.create_pool(database, max_size=4)
    stop = asyncio.Event()
    quick = msgspec.structs.replace(settings, seal_interval=0.05, checkpoint_interval=0.2)
    worker = asyncio.create_task(run_worker(pool, quick, stop))
    try:
        await _sealed_within(conn, entry_id, 5, "the worker did not seal the entry")
        seq = await conn.fetchval("SELECT seq FROM journal_link WHERE entry_id = $1", entry_id)
        deadline = time.monotonic() + 10
        while not await conn.fetchval("SELECT count(*) FROM journal_checkpoint WHERE seq >= $1", seq):
            assert time.monotonic() < deadline, "the worker signed no checkpoint of the head"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await worker
        await pool.close()
    verified = await journal.verify(conn, state=settings.state)
    assert verified.intact
    assert verified.checkpoints >= 1
