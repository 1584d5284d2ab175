"""The complete export reads each batch's markings, events and corrections in the snapshot its items come from."""

from __future__ import annotations

import json

import pytest

from firearms import db, exports, item_events, items
from firearms.item_types import NewEvent
from tests.db.test_items_store import ACTOR, TODAY, rifle


async def test_an_event_recorded_while_the_export_runs_is_in_neither_the_status_nor_the_events(
    conn: db.Conn, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One REPEATABLE READ snapshot: a batch read after an event committed shows the item as it was at the start.

    Read in a snapshot of their own (READ COMMITTED, or another connection), the lists disagreed with the item row
    the cursor had read: ``status`` active and an ``events`` list ending in its theft.
    """
    first = await items.register_item(conn, rifle("SNAP-1"), actor=ACTOR, today=TODAY)
    second = await items.register_item(conn, rifle("SNAP-2"), actor=ACTOR, today=TODAY)
    monkeypatch.setattr(exports, "_BATCH", 1)  # one item a batch: the second is read after the theft commits
    pool = await db.create_pool(database, max_size=1, min_size=0)
    try:
        chunks = exports.export_items(pool, "ndjson", (None,) * 8)
        lines = [json.loads(await anext(chunks))]
        stolen = NewEvent(event="stolen", occurred_on=TODAY)
        await item_events.record_event(conn, second.item_id, stolen, actor=ACTOR, today=TODAY)
        lines += [json.loads(line) for chunk in [c async for c in chunks] for line in chunk.splitlines()]
    finally:
        await pool.close()
    assert [(line["item_id"], line["status"], line["events"]) for line in lines] == [
        (first.item_id, "active", []),
        (second.item_id, "active", []),
    ]
    assert await conn.fetchval("SELECT status FROM item WHERE item_id = $1", second.item_id) == "stolen"
