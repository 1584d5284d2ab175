"""A ``COMMIT`` of a failed transaction is an error, never the success asyncpg's transaction block would report.

PostgreSQL answers a ``COMMIT`` after a failed statement with the tag ``ROLLBACK``: nothing was recorded. Code that
caught the statement's error without a savepoint would otherwise answer success (a 201, a receipt) for records
that do not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any, cast

import asyncpg
import msgspec
import pytest
from litestar import Request
from litestar.datastructures import State

from api.deps import provide_conn
from firearms import bootstrap, db, journal
from firearms.settings import Settings
from firearms.worker import run_worker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

# A request without an officer, as the partner surface makes: provide_conn looks no token up for it.
_NO_OFFICER: Request[Any, Any, Any] = Request(cast("Any", {"type": "http", "state": {}}))


@pytest.fixture
async def pool(database: str) -> AsyncIterator[db.Pool]:
    pool = await db.create_pool(database, max_size=1)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE scratch (x int PRIMARY KEY)")
    yield pool
    await pool.close()


async def _swallowed_error(conn: db.Conn) -> None:
    """One row written, then a statement whose error is caught without a savepoint: the transaction is failed."""
    await conn.execute("INSERT INTO scratch VALUES (1)")
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute("INSERT INTO scratch VALUES (1)")


async def _rows(pool: db.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM scratch")
    return count


async def test_the_service_transaction_raises_and_records_nothing(pool: db.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(db.TransactionAbortedError, match="nothing of it was recorded"):
            async with db.transaction(conn):
                await _swallowed_error(conn)
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT 1") == 1  # the connection goes on
    assert await _rows(pool) == 0


async def test_asyncpg_own_transaction_block_raises_too(pool: db.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(db.TransactionAbortedError):
            async with conn.transaction():
                await _swallowed_error(conn)
    assert await _rows(pool) == 0


async def test_a_request_transaction_raises_rather_than_answer_success(pool: db.Pool) -> None:
    requests = provide_conn(State({"pool": pool}), _NO_OFFICER)
    conn = await anext(requests)
    await _swallowed_error(conn)
    with pytest.raises(db.TransactionAbortedError):
        await anext(requests)  # the handler returned: the dependency commits
    assert await _rows(pool) == 0


async def test_a_single_connection_raises(database: str, pool: db.Pool) -> None:
    conn = await db.connect(database)
    try:
        assert isinstance(conn, db.Connection)
        await conn.execute("BEGIN")
        await _swallowed_error(conn)
        with pytest.raises(db.TransactionAbortedError):
            await conn.execute("commit ;")
    finally:
        await conn.close()
    assert await _rows(pool) == 0


async def test_a_healthy_transaction_and_other_tags_are_untouched(pool: db.Pool) -> None:
    async with pool.acquire() as conn:
        async with db.transaction(conn):
            await conn.execute("INSERT INTO scratch VALUES (1)")
            with pytest.raises(asyncpg.UniqueViolationError):
                async with db.transaction(conn):  # a savepoint: its failure is only a failure
                    await conn.execute("INSERT INTO scratch VALUES (1)")
            await conn.execute("INSERT INTO scratch VALUES (2)")
        await conn.execute("BEGIN")
        await conn.execute("INSERT INTO scratch VALUES (3)")
        assert await conn.execute("ROLLBACK") == "ROLLBACK"  # a rollback asked for is no error
    assert await _rows(pool) == 2


async def test_the_worker_logs_a_pass_whose_transaction_failed_and_seals_on_the_next(
    settings: Settings,
    initialised: bootstrap.Initialised,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed COMMIT in a pass is an error of that pass, not an outage: logged with its traceback, retried."""
    del initialised
    real_seal = journal.seal
    calls: list[int] = []

    async def seal_failing_once(conn: db.Conn) -> int:
        calls.append(1)
        if len(calls) == 1:
            async with db.transaction(conn):
                await _swallowed_journal_error(conn)
        return await real_seal(conn)

    monkeypatch.setattr(journal, "seal", seal_failing_once)
    pool = await db.create_pool(settings.database_url or "", max_size=4)
    conn = await db.connect(settings.database_url or "")
    try:
        async with db.transaction(conn):
            entry_id = await journal.record(
                conn, actor="test", action="thing.made", entity="thing", entity_id="x", payload={}
            )
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(pool, msgspec.structs.replace(settings, seal_interval=0.05), stop))
        try:
            deadline = time.monotonic() + 20
            while not await conn.fetchval("SELECT count(*) FROM journal_link WHERE entry_id = $1", entry_id):
                assert time.monotonic() < deadline, "the worker did not seal after the failed pass"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await worker
        assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'thing.lost'") == 0
    finally:
        await conn.close()
        await pool.close()
    failed = [record for record in caplog.records if record.getMessage() == "worker pass failed; retrying"]
    assert failed
    assert failed[0].exc_info is not None
    assert isinstance(failed[0].exc_info[1], db.TransactionAbortedError)
    assert len(calls) >= 2


async def _swallowed_journal_error(conn: db.Conn) -> None:
    """A journal entry, then an error caught without a savepoint: the transaction is failed and records nothing."""
    await journal.record(conn, actor="test", action="thing.lost", entity="thing", entity_id="y", payload={})
    with contextlib.suppress(asyncpg.DivisionByZeroError):
        await conn.execute("SELECT 1 / 0")
