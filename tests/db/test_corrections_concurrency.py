"""Two corrections of one item at once are judged one after the other (the item's row lock)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms import item_corrections, items
from firearms.item_types import Correction, ItemChanges, NewItemCorrection
from tests.db.test_items_store import TODAY, rifle
from tests.races import race

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from firearms import db

ACTOR = "test:race"


async def test_racing_corrections_of_one_field_each_see_the_value_the_other_left(database: str, conn: db.Conn) -> None:
    item = await items.register_item(conn, rifle("RACE-FIX-1"), actor=ACTOR, today=TODAY)

    def correct(model: str) -> Callable[[db.Conn], Awaitable[Correction]]:
        async def work(conn: db.Conn) -> Correction:
            data = NewItemCorrection(changes=ItemChanges(model=model), reason=f"it is the {model}")
            return await item_corrections.correct_item(conn, item.item_id, data, actor=ACTOR, today=TODAY)

        return work

    first, second = await race(database, correct("SSG 69"), correct("SSG 04"))

    assert (first.changes["model"].before, first.changes["model"].after) == (item.model, "SSG 69")
    assert (second.changes["model"].before, second.changes["model"].after) == ("SSG 69", "SSG 04")
    assert await conn.fetchval("SELECT model FROM item WHERE item_id = $1", item.item_id) == "SSG 04"
    actions = [row[0] for row in await conn.fetch("SELECT action FROM journal_entry ORDER BY entry_id")]
    assert actions == ["item.registered", "item.fields-corrected", "item.fields-corrected"]
