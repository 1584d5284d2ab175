"""A ``COMMIT`` of a failed transaction is an error, never the success asyncpg's transaction block would report.

PostgreSQL answers a ``COMMIT`` after a failed statement with the tag ``ROLLBACK``: nothing was recorded. Code that
caught the statement's error without a savepoint would otherwise answer success (a 201, a receipt) for records
that do not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest
from litestar.datastructures import State

from api.deps import provide_conn
from firearms import db

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


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
    requests = provide_conn(State({"pool": pool}))
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
