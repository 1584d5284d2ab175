"""The pool hands connections back without asyncpg's reset query, yet never with an open transaction."""

from __future__ import annotations

import asyncio
import threading

import asyncpg

from firearms import db


async def test_released_connection_keeps_its_session_but_not_its_transaction(database: str) -> None:
    pool = await db.create_pool(database, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            await conn.execute("SET application_name = 'kept'")  # session state: no reset query wipes it
            transaction = conn.transaction()
            await transaction.start()
            await conn.execute("CREATE TEMP TABLE left_open (x int)")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == pid  # the same session came back
            assert await conn.fetchval("SHOW application_name") == "kept"
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('pg_temp.left_open')") is None  # rolled back
            assert await conn.fetchval("SHOW timezone") == "UTC"
    finally:
        await pool.close()


def _terminate_without_yielding(database: str, pid: int) -> None:
    """End backend ``pid`` from another thread's event loop while this one waits, and let the backend go.

    The test's loop runs nothing meanwhile, so the pool does not yet know its connection is gone.
    """

    async def terminate() -> None:
        other = await asyncpg.connect(database)
        try:
            # pg_terminate_backend(pid, timeout) waits until the backend is gone
            assert await other.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
        finally:
            await other.close()

    thread = threading.Thread(target=asyncio.run, args=(terminate(),))
    thread.start()
    thread.join(timeout=30)


async def test_the_probe_asks_again_after_a_connection_the_server_closed(database: str) -> None:
    """``db.answers`` on a pooled connection the server ended (a restart) while the database answers: ``True``.

    asyncpg hands a connection the server closed back to its pool by itself; ``terminate()`` on it then raised
    ``InterfaceError`` out of the worker's outage handling, and the worker stopped (seen in
    ``tests/e2e/test_database_restart.py`` under load), and out of ``GET /health``, a 500. The probe now asks a
    second connection.
    """
    pool = await db.create_pool(database, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("SELECT pg_backend_pid()")
        _terminate_without_yielding(database, pid)
        assert await db.answers(pool, 5) is True
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") != pid  # a new connection answered
    finally:
        await pool.close()
