from __future__ import annotations

import json
import shutil
from collections.abc import Awaitable, Callable
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


async def test_dispatches_received_before_are_kept_and_their_shipment_summed(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    # Two trucks of shipment SHP-1 arrived before dispatches were kept one by one: the record held only the
    # second truck's items. The migration takes both again from the notices in the inbox.
    older = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", older)
    (older / "20261129200000_keep_every_dispatch.sql").unlink()
    conn = await db.connect(await make_empty_database())
    try:
        await db.migrate(conn, older)
        trucks = [
            (
                1,
                "2026-11-29T08:00:00Z",
                [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 5}],
            ),
            (2, "2026-11-29T10:00:00Z", [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}]),
        ]
        for sequence, dispatched_at, items in trucks:
            body = {
                "licence_number": "AT-EXP-1",
                "shipment_id": "SHP-1",
                "dispatched_at": dispatched_at,
                "items": items,
            }
            notice = {"id": f"n{sequence}", "type": "shipment.dispatched", "sequence": sequence, "body": body}
            await conn.execute(
                "INSERT INTO notice_inbox (sender, notice_id, type, sequence, created_at, confidentiality, key_id,"
                " notice, signature, digest, status, received_at, receipt)"
                " VALUES ('AT', $1, 'shipment.dispatched', $2, now(), 'restricted', 'k', $3, 's', 'd', 'accepted',"
                " now(), '')",
                f"n{sequence}",
                sequence,
                json.dumps(notice).encode(),
            )
        await conn.execute(
            "INSERT INTO shipment_record (exporting_state, shipment_id, licence_number, issuing_state, dispatched_at,"
            " items, confidentiality, updated_at)"
            " VALUES ('AT', 'SHP-1', 'AT-EXP-1', 'AT', '2026-11-29T10:00:00Z', $1, 'restricted', now())",
            trucks[1][2],
        )
        assert await db.migrate(conn) == ["20261129200000_keep_every_dispatch.sql"]
        parts = await conn.fetch("SELECT notice_id, items FROM shipment_dispatch ORDER BY sequence")
        assert [(row["notice_id"], row["items"]) for row in parts] == [
            ("n1", [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 5, "serials": []}]),
            ("n2", [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}]),
        ]
        assert await conn.fetchval("SELECT items FROM shipment_record") == [
            {"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]},
            {"line": 2, "quantity": 5, "serials": []},
        ]
    finally:
        await conn.close()
