"""Two corrections of one item at once, or a correction and an event, are judged one after the other (the item's row
lock)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from firearms import item_corrections, item_events, items
from firearms.errors import InvalidInputError
from firearms.item_types import Correction, ItemChanges, NewEvent, NewItemCorrection
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


async def test_a_year_correction_and_an_event_before_that_year_at_once_do_not_both_pass(
    database: str, conn: db.Conn
) -> None:
    """A year of manufacture corrected to 2018 while a transfer dated 2016 is recorded: the event waits for the item's
    row lock, then reads the year the correction left and is refused; the record never holds both."""
    item = await items.register_item(conn, rifle("RACE-FIX-2", year_of_manufacture=2010), actor=ACTOR, today=TODAY)

    async def correct(other: db.Conn) -> Correction:
        data = NewItemCorrection(changes=ItemChanges(year_of_manufacture=2018), reason="the proof mark says 2018")
        return await item_corrections.correct_item(other, item.item_id, data, actor=ACTOR, today=TODAY)

    async def transfer(other: db.Conn) -> object:
        event = NewEvent(event="transferred", occurred_on=dt.date(2016, 5, 1), to_party="Jane Doe")
        return await item_events.record_event(other, item.item_id, event, actor=ACTOR, today=TODAY)

    with pytest.raises(InvalidInputError) as refused:
        await race(database, correct, transfer)  # the event waits on the correction's lock
    assert refused.value.code == "date-before-manufacture"
    assert await conn.fetchval("SELECT year_of_manufacture FROM item WHERE item_id = $1", item.item_id) == 2018
    assert await conn.fetchval("SELECT count(*) FROM item_event WHERE item_id = $1", item.item_id) == 0
