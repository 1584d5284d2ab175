"""The database's own rule that a new deactivation records the category it moves the item to (migration 20261130081000).

Deactivations recorded before migration 20261130070000 have no category: they stay as they are, in the database
and in a backup restored from it.
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from firearms import backup, db, restore

RULE = "20261130081000_require_category_on_new_deactivation.sql"
INSERT_RIFLE = (
    "INSERT INTO item (kind, firearm_type, country_of_manufacture, manufacturer, serial, category, registered_at,"
    " registered_by) VALUES ('firearm', 'rifle', 'AT', 'Steyr Mannlicher', $1, 'B', now(), 'test:records')"
    " RETURNING item_id"
)
# A deactivation as it was written before 20261130063000 and 20261130070000: no certificate, no category.
INSERT_BARE_DEACTIVATION = (
    "INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, recorded_at, recorded_by)"
    " VALUES ($1, 'deactivated', 'active', 'deactivated', current_date, now(), 'test:records') RETURNING event_id"
)


async def _bare_deactivation(conn: db.Conn, serial: str) -> tuple[int, int]:
    """A rifle and a deactivation of it without a category, the item moved as its events say; their ids."""
    async with conn.transaction():
        item_id = await conn.fetchval(INSERT_RIFLE, serial)
        event_id = await conn.fetchval(INSERT_BARE_DEACTIVATION, item_id)
        await conn.execute("UPDATE item SET status = 'deactivated' WHERE item_id = $1", item_id)
    return item_id, event_id


async def test_the_database_refuses_a_new_deactivation_without_its_category(conn: db.Conn) -> None:
    """Any writer, not only item_events.record_event: the rule is the database's, by its constraint name."""
    with pytest.raises(asyncpg.CheckViolationError) as refused:
        await _bare_deactivation(conn, "DB-0001")
    assert refused.value.constraint_name == "item_event_deactivation_category_check"
    assert await conn.fetchval("SELECT count(*) FROM item WHERE serial = 'DB-0001'") == 0
    # with its category it is taken (the category before may be none: an item registered without one)
    async with conn.transaction():
        item_id = await conn.fetchval(INSERT_RIFLE, "DB-0002")
        await conn.execute(
            "INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, recorded_at,"
            " recorded_by, category_before, category_after)"
            " VALUES ($1, 'deactivated', 'active', 'deactivated', current_date, now(), 'x', NULL, 'C')",
            item_id,
        )
        await conn.execute("UPDATE item SET status = 'deactivated', category = 'C' WHERE item_id = $1", item_id)
    assert await conn.fetchval("SELECT category FROM item WHERE item_id = $1", item_id) == "C"


async def test_deactivations_recorded_before_the_rule_stay_and_restore_from_a_backup(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    older = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", older)
    for later in older.glob("*.sql"):
        if later.name >= RULE:
            later.unlink()
    source, target = await make_empty_database(), await make_empty_database()
    conn = await db.connect(source)
    try:
        await db.migrate(conn, older)
        item_id, event_id = await _bare_deactivation(conn, "DB-0003")
        assert RULE in await db.migrate(conn)  # the rule does not look at the rows already there
        with pytest.raises(asyncpg.CheckViolationError):
            await _bare_deactivation(conn, "DB-0004")
        await backup.backup(source, tmp_path / "old.dump", state="AT", actor="test:operator")
    finally:
        await conn.close()

    restored = await restore.restore(target, tmp_path / "old.dump", state="AT", home=tmp_path / "new-home")

    assert (restored.problem, restored.migrations_applied) == (None, [])
    after = await db.connect(target)
    try:
        row = await after.fetchrow(
            "SELECT item_id, category_before, category_after FROM item_event WHERE event_id = $1", event_id
        )
        assert row is not None
        assert tuple(row) == (item_id, None, None)
        # the restored database still refuses a new one
        with pytest.raises(asyncpg.CheckViolationError):
            await _bare_deactivation(after, "DB-0005")
    finally:
        await after.close()
