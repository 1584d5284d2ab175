"""The pool hands connections back without asyncpg's reset query, yet never with an open transaction."""

from __future__ import annotations

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
