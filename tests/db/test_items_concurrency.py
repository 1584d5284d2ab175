"""Identity and lifecycle are enforced in the database, so racing writers cannot both win."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from firearms import db, item_events, items
from firearms.errors import ConflictError
from firearms.item_types import NewEvent
from tests.db.test_items_store import TODAY, rifle
from tests.races import race

ACTOR = "test:race"


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
