"""Identity and lifecycle are enforced in the database, so racing writers cannot both win."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from firearms import db, imports, item_events, items
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


async def test_racing_imports_of_one_serial_store_it_once_and_name_the_winner(
    database: str, conn: db.Conn, tmp_path: Path
) -> None:
    """Two files holding the same firearms, imported at once and listing them in opposite orders: the second waits
    for the first, then finds its rows registered (with their ids); nothing twice, no deadlock.
    """
    header = "kind,firearm_type,manufacturer,country_of_manufacture,serial,marking_stamped\n"
    first_file, second_file = tmp_path / "first.csv", tmp_path / "second.csv"
    first_file.write_text(
        header + "firearm,rifle,Steyr Mannlicher,AT,RC-1,S RC-1\nfirearm,rifle,Steyr Mannlicher,AT,RC-2,S RC-2\n",
        encoding="utf-8",
    )
    # the same two in the other order and another spelling of their serials, and one of its own
    second_file.write_text(
        header
        + "firearm,rifle,STEYR  MANNLICHER,AT,rc 2,S RC-2\nfirearm,rifle,Steyr Mannlicher,AT,RC.1,S RC-1\n"
        + "firearm,rifle,Steyr Mannlicher,AT,RC-3,S RC-3\n",
        encoding="utf-8",
    )

    def load(path: Path) -> Callable[[db.Conn], Awaitable[Any]]:
        async def work(conn: db.Conn) -> Any:
            return await imports.import_file(conn, path, actor=ACTOR, today=TODAY, report=tmp_path / f"{path.stem}.r")

        return work

    first, second = await race(database, load(first_file), load(second_file))
    assert (first.inserted, first.already_registered) == (2, 0)
    assert (second.inserted, second.already_registered) == (1, 2)
    ids = {row["serial_normalised"]: row["item_id"] for row in await conn.fetch("SELECT * FROM item")}
    assert sorted(ids) == ["RC1", "RC2", "RC3"]
    assert [(r.line, r.reason, r.item_id) for r in second.rejections] == [
        (2, "already-registered", ids["RC2"]),
        (3, "already-registered", ids["RC1"]),
    ]
    batches = await conn.fetch("SELECT import_id, inserted FROM item_import ORDER BY import_id")
    assert sorted(row["inserted"] for row in batches) == [1, 2]
