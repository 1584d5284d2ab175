"""Identity and lifecycle are enforced in the database, so racing writers cannot both win."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from firearms import db, item_events, items
from firearms.errors import ConflictError
from firearms.item_types import NewEvent
from tests.db.test_items_store import TODAY, rifle

ACTOR = "test:race"


async def blocked_on_lock(observer: db.Conn, pid: int) -> None:
    """Wait (deadline 10 s) until backend ``pid`` waits on a lock held by the other writer."""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        if await observer.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second writer never waited for the first")


async def race(
    database: str, first_work: Callable[[db.Conn], Awaitable[Any]], second_work: Callable[[db.Conn], Awaitable[Any]]
) -> tuple[Any, Any]:
    first, second, observer = await db.connect(database), await db.connect(database), await db.connect(database)
    try:
        transaction = first.transaction()
        await transaction.start()
        first_result = await first_work(first)

        async def in_transaction() -> Any:
            async with second.transaction():
                return await second_work(second)

        pending = asyncio.create_task(in_transaction())
        await blocked_on_lock(observer, second.get_server_pid())
        await transaction.commit()
        return first_result, await pending
    finally:
        for conn in (first, second, observer):
            await conn.close()


async def test_racing_registrations_of_one_identity_give_one_item_and_one_409(database: str, conn: db.Conn) -> None:
    async def register(conn: db.Conn) -> int:
        return (await items.register_item(conn, rifle("RACE-1"), actor=ACTOR, today=TODAY)).item_id

    with pytest.raises(ConflictError) as caught:
        await race(database, register, register)
    assert caught.value.code == "item-already-registered"
    assert caught.value.facts["item_id"] == await conn.fetchval("SELECT item_id FROM item")
    assert await conn.fetchval("SELECT count(*) FROM item") == 1


async def test_racing_events_on_one_item_are_serialised_by_the_row_lock(database: str, conn: db.Conn) -> None:
    item = await items.register_item(conn, rifle("RACE-2"), actor=ACTOR, today=TODAY)

    def report(event: Any) -> Callable[[db.Conn], Awaitable[Any]]:
        async def work(conn: db.Conn) -> Any:
            return await item_events.record_event(
                conn, item.item_id, NewEvent(event=event, occurred_on=TODAY), actor=ACTOR, today=TODAY
            )

        return work

    with pytest.raises(ConflictError) as caught:
        await race(database, report("lost"), report("stolen"))
    assert caught.value.code == "illegal-transition"
    assert caught.value.facts["current_status"] == "lost"
    assert await conn.fetchval("SELECT count(*) FROM item_event") == 1
    assert await conn.fetchval("SELECT status FROM item") == "lost"
    actions = [row[0] for row in await conn.fetch("SELECT action FROM journal_entry ORDER BY entry_id")]
    assert actions == ["item.registered", "item.lost"]
