"""Identity and lifecycle are enforced in the database, so racing writers cannot both win."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from firearms import db, item_events, items
from firearms.errors import ConflictError
from firearms.item_types import NewEvent, NewMarking
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


async def test_racing_deactivations_citing_one_certificate_record_it_once(database: str, conn: db.Conn) -> None:
    """Two firearms deactivated at once under one verifier's certificate: the second waits and is refused."""
    mark = NewMarking(kind="deactivation", stamped="AT BMI 2026", country="AT", symbol_code="BMI", year=TODAY.year)
    item_ids = []
    for serial in ("RACE-CERT-1", "RACE-CERT-2"):
        item = await items.register_item(conn, rifle(serial), actor=ACTOR, today=TODAY)
        await items.add_marking(conn, item.item_id, mark, actor=ACTOR, today=TODAY)
        item_ids.append(item.item_id)

    def deactivate(item_id: int) -> Callable[[db.Conn], Awaitable[Any]]:
        async def work(conn: db.Conn) -> Any:
            event = NewEvent(
                event="deactivated",
                occurred_on=TODAY,
                deactivator="Büchsenmacher Huber",
                verifier="Beschussamt Wien",
                certificate_number="AT-DEAC-RACE",
                certificate_date=TODAY,
            )
            return await item_events.record_event(conn, item_id, event, actor=ACTOR, today=TODAY)

        return work

    with pytest.raises(ConflictError) as caught:
        await race(database, deactivate(item_ids[0]), deactivate(item_ids[1]))
    assert caught.value.code == "certificate-already-recorded"
    assert caught.value.facts["item_id"] == item_ids[0]
    rows = await conn.fetch("SELECT item_id, status FROM item ORDER BY item_id")
    assert [tuple(row) for row in rows] == [(item_ids[0], "deactivated"), (item_ids[1], "active")]
    assert await conn.fetchval("SELECT count(*) FROM item_event") == 1
