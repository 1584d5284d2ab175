from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from firearms import db
from firearms.errors import MigrationError


async def test_migrate_twice_applies_nothing_new(conn: db.Conn) -> None:
    assert await db.migrate(conn) == []


async def test_changed_applied_migration_is_refused(conn: db.Conn, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", folder)
    extra = folder / "29991231000000_create_extra.sql"
    extra.write_text("CREATE TABLE extra (extra_id int);\n")
    assert await db.migrate(conn, folder) == [extra.name]
    extra.write_text("CREATE TABLE extra (extra_id bigint);\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await db.migrate(conn, folder)


async def test_failing_migration_leaves_nothing_behind(conn: db.Conn, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", folder)
    (folder / "29991231000000_create_half.sql").write_text("CREATE TABLE half (x int);\nSELECT no_such_function();\n")
    with pytest.raises(MigrationError, match="failed"):
        await db.migrate(conn, folder)
    assert await conn.fetchval("SELECT to_regclass('half')") is None
    assert await conn.fetchval("SELECT count(*) FROM schema_migration WHERE name LIKE '2999%'") == 0


async def test_every_named_query_prepares_against_the_schema(conn: db.Conn) -> None:
    assert db.QUERIES
    async with conn.transaction():
        # Queries over a session's temporary tables (the bulk import's staging) need them first.
        for sql in db.QUERIES.values():
            if "CREATE TEMP TABLE" in sql.upper():
                await conn.execute(sql)
        for name, sql in db.QUERIES.items():
            try:
                await conn.prepare(sql)
            except Exception as exc:  # noqa: BLE001  # name the query that drifted from the schema
                pytest.fail(f"query {name} does not prepare: {exc}")


def test_duplicate_query_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- name: get_thing\nSELECT 1;\n")
    (tmp_path / "b.sql").write_text("-- name: get_thing\nSELECT 2;\n")
    with pytest.raises(ValueError, match="defined twice"):
        db.load_queries(tmp_path)
