"""Two writers meeting on one row: the first holds its work in an open transaction while the second runs into it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from firearms import db

Work = Callable[[db.Conn], Awaitable[Any]]


async def blocked_on_lock(observer: db.Conn, pid: int, *, or_done: asyncio.Task[Any] | None = None) -> None:
    """Wait (deadline 10 s) until backend ``pid`` waits on a lock, or until ``or_done`` finished without waiting."""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        if (or_done is not None and or_done.done()) or await observer.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second writer never waited for the first" + (" nor finished" if or_done else ""))


async def race(database: str, first_work: Work, second_work: Work, *, may_pass: bool = False) -> tuple[Any, Any]:
    """``first_work`` in an open transaction; ``second_work`` in its own, which must wait on the first; then the first
    commits. Returns both results; the second's exception is raised.

    ``may_pass``: the second need not wait (the bug under test may let it through) and its exception is returned
    in place of its result, so that the test can tell which writer won.
    """
    first, second, observer = await db.connect(database), await db.connect(database), await db.connect(database)
    try:
        transaction = first.transaction()
        await transaction.start()
        first_result = await first_work(first)

        async def in_transaction() -> Any:
            async with second.transaction():
                return await second_work(second)

        pending = asyncio.create_task(in_transaction())
        await blocked_on_lock(observer, second.get_server_pid(), or_done=pending if may_pass else None)
        await transaction.commit()
        if may_pass:
            return first_result, (await asyncio.gather(pending, return_exceptions=True))[0]
        return first_result, await pending
    finally:
        for conn in (first, second, observer):
            await conn.close()
