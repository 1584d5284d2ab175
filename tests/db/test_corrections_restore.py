"""A registry holding corrections is backed up and restored as it is (README "Correcting data and markings").

pg_dump writes the data before the triggers that judge a correction (its "before" against the row) and the rows
against their corrections: the restored rows are not judged again, and come back with the values after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms import backup, bootstrap, db, item_corrections, restore
from firearms.item_types import ItemChanges, MarkingChanges, NewItemCorrection, NewMarkingCorrection
from tests.check_helpers import register_firearm
from tests.db.test_backup import ACTOR, table_digests
from tests.licensing_helpers import TODAY

if TYPE_CHECKING:
    from pathlib import Path

    from firearms.settings import Settings


async def test_a_registry_with_corrections_restores_with_the_values_after(
    settings: Settings,
    initialised: bootstrap.Initialised,
    conn: db.Conn,
    database: str,
    empty_database: str,
    tmp_path: Path,
) -> None:
    item_id = await register_firearm(conn, "SSG08-001", import_marking="CZ")
    marking_id = await conn.fetchval("SELECT marking_id FROM marking WHERE item_id = $1 AND kind = 'import'", item_id)
    async with conn.transaction():
        await item_corrections.correct_item(
            conn,
            item_id,
            NewItemCorrection(changes=ItemChanges(model="SSG 69", year_of_manufacture=2010), reason="typo"),
            actor=ACTOR,
            today=TODAY,
        )
        await item_corrections.correct_item(
            conn,
            item_id,
            NewItemCorrection(changes=ItemChanges(model="SSG 04"), reason="typo again"),
            actor=ACTOR,
            today=TODAY,
        )
        await item_corrections.correct_marking(
            conn,
            item_id,
            marking_id,
            NewMarkingCorrection(changes=MarkingChanges(country="SK"), reason="misread"),
            actor=ACTOR,
            today=TODAY,
        )
    records = ("item", "marking", "item_event", "item_correction")
    before = {name: digest for name, digest in (await table_digests(database)).items() if name in records}
    assert before["item_correction"][0] == 3
    path = tmp_path / "corrected.dump"
    await backup.backup(database, path, state=settings.state, actor=ACTOR)

    restored = await restore.restore(empty_database, path, state=settings.state, home=tmp_path / "new-home")

    assert (restored.head_matches, restored.verify_intact, restored.problem) == (True, True, None)
    assert {name: digest for name, digest in (await table_digests(empty_database)).items() if name in records} == before
    after = await db.connect(empty_database)
    try:
        row = await after.fetchrow("SELECT model, year_of_manufacture FROM item WHERE item_id = $1", item_id)
        assert row is not None
        assert (row["model"], row["year_of_manufacture"]) == ("SSG 04", 2010)
        assert await after.fetchval("SELECT country FROM marking WHERE marking_id = $1", marking_id) == "SK"
    finally:
        await after.close()
