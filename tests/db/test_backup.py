"""Backups and restores with the wheel's real pg_dump and pg_restore, on the session's server."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import backup, bootstrap, db, journal, keys, restore, tokens
from firearms.backup_archive import Manifest, manifest_path
from firearms.errors import BackupError
from firearms.exchange import rotation, trust
from firearms.settings import Settings
from firearms.signing import SigningKey, b64url_encode
from firearms.store import journal as journal_store
from firearms.store import outbox as outbox_store
from tests.check_helpers import register_firearm
from tests.licensing_helpers import issued_export, register_parties

ACTOR = "test:operator"


async def populate(conn: db.Conn, settings: Settings) -> str:
    """Records of every kind the registry keeps, a sealed journal and a checkpoint; an auditor's token."""
    async with conn.transaction():
        secret, _ = await tokens.create_token(conn, role="auditor", name="Auditor before the backup", actor=ACTOR)
    await register_firearm(conn, "SSG08-001")
    await issued_export(conn, settings, await register_parties(conn))
    assert await journal.checkpoint(conn, state=settings.state, home=settings.home) is not None
    return secret


async def table_digests(url: str) -> dict[str, tuple[int, str]]:
    """Every table of the public schema: its row count and an MD5 over its rows, in a fixed order."""
    conn = await asyncpg.connect(url)
    try:
        names = [
            row["tablename"] for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        digests = {}
        for name in names:
            row = await conn.fetchrow(
                f"SELECT count(*) AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest "  # noqa: S608  # names from pg_tables
                f'FROM "{name}" AS t'
            )
            assert row is not None
            digests[name] = (row["n"], row["digest"])
        return digests
    finally:
        await conn.close()


async def test_restore_brings_back_every_row_a_verified_journal_and_working_tokens(
    settings: Settings,
    initialised: bootstrap.Initialised,
    conn: db.Conn,
    database: str,
    empty_database: str,
    tmp_path: Path,
) -> None:
    secret = await populate(conn, settings)
    before = await table_digests(database)
    last_entry = await conn.fetchval("SELECT max(entry_id) FROM journal_entry")
    head = await journal_store.get_journal_head(conn)
    assert head is not None
    path = tmp_path / "at.dump"

    manifest = await backup.backup(database, path, state="AT", actor=ACTOR)

    assert manifest.journal_seq == head["seq"]
    assert manifest.journal_hash == head["hash"].hex()
    assert manifest.migrations == sorted(file.name for file in (db.SQL_DIR / "migrations").glob("*.sql"))
    current = await keys.current_signing_key(conn, settings.home)
    assert manifest.registry_key_ids == [current.key_id]
    assert manifest.needed_key_files == [f"{current.key_id}.pem"]
    assert manifest.dump_bytes == path.stat().st_size
    assert msgspec.json.decode(manifest_path(path).read_bytes(), type=Manifest) == manifest
    assert all(before[name][0] > 0 for name in ("item", "marking", "party", "licence", "journal_checkpoint"))

    new_home = tmp_path / "new-home"
    restored = await restore.restore(empty_database, path, state="AT", home=new_home)

    assert restored.head_matches
    assert restored.verify_intact
    assert restored.problem is None
    assert restored.journal_entries == head["seq"]
    assert restored.migrations_applied == []
    assert restored.missing_key_files == [f"{current.key_id}.pem"]
    # every row as backed up, and the restore's own verification of the chain recorded after them, queued
    after = await table_digests(empty_database)
    appended = {"journal_entry", "journal_pending"}
    assert {name: digest for name, digest in after.items() if name not in appended} == {
        name: digest for name, digest in before.items() if name not in appended
    }
    assert before["journal_pending"][0] == 0
    restored_conn = await db.connect(empty_database)
    try:
        backed_up = await restored_conn.fetchrow(
            "SELECT count(*) AS n, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS digest"
            "  FROM journal_entry AS t WHERE entry_id <= $1",
            last_entry,
        )
        assert backed_up is not None
        assert (backed_up["n"], backed_up["digest"]) == before["journal_entry"]
        recorded = await restored_conn.fetch(
            "SELECT e.actor, e.action, e.payload FROM journal_entry AS e JOIN journal_pending USING (entry_id)"
        )
        assert [dict(row) for row in recorded] == [
            {
                "actor": "system:restore",
                "action": journal.VERIFIED_ACTION,
                "payload": {
                    "head_seq": head["seq"],
                    "since_checkpoint": None,
                    "entries": head["seq"],
                    "checkpoints": 1,
                },
            }
        ]
    finally:
        await restored_conn.close()

    # serve's first-start work finds the restored key and admin: no second key, no new admin token.
    new_settings = msgspec.structs.replace(settings, home=new_home, database_url=empty_database)
    again = await bootstrap.initialise(new_settings, empty_database)
    assert (again.admin_token, again.key_created, again.migrations) == (None, False, [])
    shutil.copy2(keys.key_path(settings.home, current.key_id), keys.key_path(new_home, current.key_id))
    async with AsyncTestClient(app=create_app(new_settings)) as client:
        verified = await client.get("/api/v1/journal/verify", headers={"Authorization": f"Bearer {secret}"})
        assert verified.status_code == 200, verified.text
        assert verified.json()["intact"] is True
        unknown = await client.get("/api/v1/journal/verify", headers={"Authorization": "Bearer fr_unknown"})
        assert unknown.status_code == 401
    restored_conn = await db.connect(empty_database)
    try:
        made = await journal.checkpoint(restored_conn, state="AT", home=new_home)  # signs with the copied key
        assert made is not None
        assert made.key_id == current.key_id
    finally:
        await restored_conn.close()


async def test_writes_after_the_snapshot_are_not_in_the_backup(
    settings: Settings,
    initialised: bootstrap.Initialised,
    conn: db.Conn,
    database: str,
    empty_database: str,
    tmp_path: Path,
) -> None:
    def write_while_dumping(line: str) -> None:
        # Called once the snapshot is exported and before pg_dump starts: an entry committed now
        # by another connection must not be in the backup.
        if line.startswith("backing up"):

            async def write() -> None:
                other = await db.connect(database)
                try:
                    async with other.transaction():
                        await journal.record(
                            other, actor=ACTOR, action="test.after-snapshot", entity="test", entity_id="1", payload={}
                        )
                finally:
                    await other.close()

            writer = threading.Thread(target=asyncio.run, args=(write(),))
            writer.start()
            writer.join()

    await journal.seal(conn)
    head = await journal_store.get_journal_head(conn)
    assert head is not None
    path = tmp_path / "at.dump"
    manifest = await backup.backup(database, path, state="AT", actor=ACTOR, progress=write_while_dumping)
    assert (manifest.journal_seq, manifest.journal_hash) == (head["seq"], head["hash"].hex())

    await journal.seal(conn)
    actions = [row["action"] for row in await conn.fetch("SELECT action FROM journal_entry ORDER BY entry_id")]
    assert actions[-2:] == ["test.after-snapshot", "registry.backed-up"]
    later = await journal_store.get_journal_head(conn)
    assert later is not None
    assert later["seq"] == manifest.journal_seq + 2

    restored = await restore.restore(empty_database, path, state="AT", home=tmp_path / "new-home")
    assert restored.head_matches
    assert restored.verify_intact
    assert restored.journal_entries == manifest.journal_seq
    other = await asyncpg.connect(empty_database)
    try:
        assert (
            await other.fetchval(
                "SELECT count(*) FROM journal_entry WHERE action IN ('test.after-snapshot', 'registry.backed-up')"
            )
            == 0
        )
        assert await other.fetchval("SELECT max(seq) FROM journal_link") == manifest.journal_seq
    finally:
        await other.close()


async def test_restore_applies_the_migrations_newer_than_the_backup(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    older = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", older)
    newest = sorted(older.glob("*.sql"))[-1]
    newest.unlink()
    source, target = await make_empty_database(), await make_empty_database()
    conn = await db.connect(source)
    try:
        await db.migrate(conn, older)
    finally:
        await conn.close()
    path = tmp_path / "old.dump"
    manifest = await backup.backup(source, path, state="AT", actor=ACTOR)
    assert manifest.migrations == sorted(file.name for file in older.glob("*.sql"))
    assert (manifest.journal_seq, manifest.journal_hash) == (0, journal.GENESIS.hex())  # nothing journaled yet

    restored = await restore.restore(target, path, state="AT", home=tmp_path / "new-home")
    assert restored.migrations_applied == [newest.name]
    assert restored.head_matches
    assert restored.verify_intact
    assert restored.missing_key_files == []


async def test_a_failing_pg_restore_leaves_the_database_empty(
    settings: Settings, initialised: bootstrap.Initialised, database: str, empty_database: str, tmp_path: Path
) -> None:
    path = tmp_path / "at.dump"
    manifest = await backup.backup(database, path, state="AT", actor=ACTOR)
    # A cut archive whose manifest was made to match: the checksum passes, pg_restore meets its end.
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    cut = msgspec.structs.replace(manifest, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    manifest_path(path).write_bytes(msgspec.json.encode(cut))

    with pytest.raises(BackupError, match="pg_restore failed") as failed:
        await restore.restore(empty_database, path, state="AT", home=tmp_path / "new-home")
    assert failed.value.code == "pg_restore-failed"
    assert await table_digests(empty_database) == {}
    # nothing was restored (one transaction): the home is not refused for it
    assert restore.failed_restore(tmp_path / "new-home") is None


async def test_the_keys_a_restored_registry_signs_with(
    settings: Settings, initialised: bootstrap.Initialised, conn: db.Conn
) -> None:
    old = (await keys.current_signing_key(conn, settings.home)).key_id
    assert await keys.needed_key_ids(conn) == [old]
    async with keys.key_transaction(conn, settings.home) as files:
        await trust.add_peer(
            conn,
            own_state="AT",
            state="CZ",
            base_url="http://127.0.0.1:9",
            public_key=b64url_encode(SigningKey.generate().public_key),
            not_before=None,
            actor=ACTOR,
        )
        new = (await rotation.rotate(conn, files, actor=ACTOR)).key_id
    # the new key waits for CZ's acknowledgement: the worker switches to it later
    assert await keys.needed_key_ids(conn) == sorted([old, new])
    async with conn.transaction():
        await rotation.switch_now(conn, actor=ACTOR)
    # in use now, but the announcement still queued for CZ is to be signed with the old key
    assert await keys.needed_key_ids(conn) == sorted([old, new])
    announcement = await conn.fetchval("SELECT notice_id FROM notice_outbox WHERE type = 'registry.key-announced'")
    await outbox_store.set_outbox_envelopes(conn, [announcement], [b"signed"])
    assert await keys.needed_key_ids(conn) == [new]
    assert keys.missing_key_files(settings.home, [old, new, "0" * 32]) == [keys.key_path(settings.home, "0" * 32)]


async def test_a_backup_started_while_a_migration_runs_waits_for_it(
    settings: Settings,
    initialised: bootstrap.Initialised,
    conn: db.Conn,
    database: str,
    empty_database: str,
    tmp_path: Path,
) -> None:
    """A migration that rewrites a table (ADD COLUMN with a volatile default) is not MVCC-safe.

    A snapshot taken before it commits sees the rewritten table empty: the backup must not take its
    snapshot while a migration holds the migrations' lock, or it loses every row of that table.
    """
    await populate(conn, settings)
    parties_before: int = await conn.fetchval("SELECT count(*) FROM party")
    assert parties_before > 0
    migrator = await db.connect(database)
    watcher = await db.connect(database)
    try:
        # What migrate() does for one file: the migrations' lock, then the file in a transaction of its own.
        await migrator.execute("SELECT pg_advisory_lock($1)", db.MIGRATION_LOCK)
        migration = migrator.transaction()
        await migration.start()
        await migrator.execute("ALTER TABLE party ADD COLUMN scratch text DEFAULT gen_random_uuid()::text")
        path = tmp_path / "at.dump"
        dumping = asyncio.create_task(backup.backup(database, path, state="AT", actor=ACTOR))
        deadline = asyncio.get_running_loop().time() + 30
        # The backup is blocked by the migration: on its lock, or pg_dump on the rewritten table.
        while not await watcher.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
            assert not dumping.done(), dumping
            assert asyncio.get_running_loop().time() < deadline, "the backup never waited for the migration"
            await asyncio.sleep(0.05)
        await migration.commit()
        await migrator.execute("SELECT pg_advisory_unlock($1)", db.MIGRATION_LOCK)
        await asyncio.wait_for(dumping, 60)
    finally:
        await watcher.close()
        await migrator.close()

    restored = await restore.restore(empty_database, path, state="AT", home=tmp_path / "new-home")
    assert restored.problem is None
    other = await asyncpg.connect(empty_database)
    try:
        assert await other.fetchval("SELECT count(*) FROM party") == parties_before
    finally:
        await other.close()


DUPLICATES_MIGRATION = "20261129204000_mark_identity_duplicates.sql"
# normalise_manufacturer as before 20261129191200: a no-break space was not white space.
BEFORE_NO_BREAK_SPACES = (
    "CREATE OR REPLACE FUNCTION normalise_manufacturer(manufacturer text) RETURNS text"
    " LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN upper(regexp_replace(manufacturer, '\\s+', ' ', 'g'))"
)
INSERT_FIREARM = (
    "INSERT INTO item (kind, firearm_type, country_of_manufacture, manufacturer, serial, registered_at, registered_by)"
    " VALUES ('firearm', 'rifle', 'AT', $1, $2, now(), 'test:records') RETURNING item_id"
)


async def test_a_registry_holding_the_same_firearm_twice_is_restored_with_both_records(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    """A pair the manufacturer rules made one identity: before, its backup could not be restored.

    pg_dump does not dump generated columns: the later record's stale manufacturer_key was computed again by
    the restore, and the identity constraint refused the pair.
    """
    before = tmp_path / "before"
    before.mkdir()
    for file in sorted((db.SQL_DIR / "migrations").glob("*.sql")):
        if file.name < DUPLICATES_MIGRATION:
            shutil.copy(file, before)
    source, target = await make_empty_database(), await make_empty_database()
    conn = await db.connect(source)
    try:
        await db.migrate(conn, before)
        # The state 20261129191200 and 20261129201000 leave: the same firearm registered under two spellings
        # while they were two identities, the later one keeping its old key.
        current = await conn.fetchval("SELECT pg_get_functiondef('normalise_manufacturer(text)'::regprocedure)")
        await conn.execute(BEFORE_NO_BREAK_SPACES)
        first = await conn.fetchval(INSERT_FIREARM, "Steyr Mannlicher", "SSG-69-001")
        second = await conn.fetchval(INSERT_FIREARM, "Steyr\u00a0Mannlicher", "SSG-69-001")
        third = await conn.fetchval(INSERT_FIREARM, "steyr\u00a0\u00a0mannlicher", "SSG-69-001")
        other = await conn.fetchval(INSERT_FIREARM, "Steyr\u00a0Mannlicher", "SSG-69-002")
        await conn.execute(current)
        await conn.execute("UPDATE item SET manufacturer = manufacturer WHERE item_id = $1", other)
        stale = await conn.fetch(
            "SELECT item_id FROM item WHERE manufacturer_key <> normalise_manufacturer(manufacturer) ORDER BY 1"
        )
        assert [row["item_id"] for row in stale] == [second, third]

        await db.migrate(conn)
        manifest = await backup.backup(source, tmp_path / "pair.dump", state="AT", actor=ACTOR)
    finally:
        await conn.close()

    restored = await restore.restore(target, tmp_path / "pair.dump", state="AT", home=tmp_path / "new-home")

    assert (restored.head_matches, restored.verify_intact, restored.problem) == (True, True, None)
    assert restored.journal_entries == manifest.journal_seq >= 2  # the two duplicates marked, journaled
    after = await db.connect(target)
    try:
        rows = await after.fetch(
            "SELECT item_id, manufacturer_key, identity_duplicate_of FROM item WHERE serial = 'SSG-69-001' ORDER BY 1"
        )
        assert [(row["item_id"], row["identity_duplicate_of"]) for row in rows] == [
            (first, None),
            (second, first),
            (third, first),
        ]
        assert {row["manufacturer_key"] for row in rows} == {"STEYR MANNLICHER"}
        assert await after.fetchval("SELECT identity_duplicate_of FROM item WHERE item_id = $1", other) is None
        entries = await after.fetch(
            "SELECT entity_id, actor, payload FROM journal_entry"
            " WHERE action = 'item.identity-duplicate-marked' ORDER BY entry_id"
        )
        assert [(row["entity_id"], row["actor"]) for row in entries] == [
            (str(second), "system:migration"),
            (str(third), "system:migration"),
        ]
        assert entries[0]["payload"]["identity_duplicate_of"] == first
    finally:
        await after.close()


async def test_a_restore_stopped_before_its_checks_leaves_the_home_refused(
    settings: Settings, initialised: bootstrap.Initialised, database: str, empty_database: str, tmp_path: Path
) -> None:
    """pg_restore commits the archive before the journal is checked: a restore stopped in between (Ctrl-C, a lost
    connection) left restored data no check had passed, and no note, so ``serve`` put it to work."""
    path = tmp_path / "at.dump"
    await backup.backup(database, path, state="AT", actor=ACTOR)
    new_home = tmp_path / "new-home"

    class Stopped(Exception):  # noqa: N818  # an interruption, not an error of the registry's
        """Ctrl-C, a lost connection: the command stops there."""

    def stop_before_the_checks(line: str) -> None:
        if line.startswith("restored in"):
            raise Stopped

    with pytest.raises(Stopped):
        await restore.restore(empty_database, path, state="AT", home=new_home, progress=stop_before_the_checks)
    assert await table_digests(empty_database) != {}
    problem = restore.failed_restore(new_home)
    assert problem is not None
    assert "did not finish its checks" in problem
