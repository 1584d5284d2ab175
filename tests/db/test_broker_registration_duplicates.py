"""Broker registration numbers that differ only in case or surrounding spaces, left by an older version.

20261129160200 made the number unique per country whatever its case and spaces, by a unique index that a
registry already holding such a pair could not build: ``firearms migrate`` stopped with a database error,
and nothing the registry offers could merge the two records. Now the pair migrates, the later registered
marked a duplicate of the first (20261129211100), journaled, both kept.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from firearms import db, parties
from firearms.errors import ConflictError, MigrationError
from firearms.parties import NewParty
from tests.conftest import _scratch_database

ACTOR = "test:licensing"
THIS_MIGRATION = "20261129160200_broker_registration_once.sql"
MARKING_MIGRATION = "20261129211100_mark_broker_registration_duplicates.sql"
# The index 20261129160200 built before this change, as PostgreSQL describes it.
INDEX_BEFORE = (
    "CREATE UNIQUE INDEX party_broker_registration_key ON public.party USING btree (country, "
    "translate(btrim(registration), 'abcdefghijklmnopqrstuvwxyz'::text, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'::text)) "
    "WHERE (kind = 'broker'::text)"
)
# The SHA-256 of 20261129160200 as registries applied it before this change.
DIGEST_BEFORE = "b5d780447309ecb865d3006eaa568477bc2c3adf8d71cde90b47817fcb9983d5"


def _migrations_before(tmp_path: Path, last: str) -> Path:
    """The migrations up to ``last`` (excluded), in a folder of their own."""
    folder = tmp_path / "before"
    folder.mkdir()
    for path in sorted((db.SQL_DIR / "migrations").glob("*.sql")):
        if path.name < last:
            shutil.copy(path, folder)
    return folder


async def _party(conn: db.Conn, kind: str, country: str, registration: str, minutes: int) -> uuid.UUID:
    """A party written as an older version wrote it (today's code cannot run on that schema)."""
    party_id = uuid.uuid4()
    at = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    await conn.execute(
        "INSERT INTO party (party_id, kind, name, country, address, registration, valid_from, expires_on,"
        " created_at, created_by, updated_at) VALUES ($1, $2, $3, $4, 'Wien', $5, '2026-01-01', '2030-12-31',"
        " $6, $7, $6)",
        party_id,
        kind,
        f"Broker {minutes}",
        country,
        registration,
        at,
        ACTOR,
    )
    return party_id


async def test_case_duplicate_broker_numbers_migrate_and_the_later_are_marked(
    pg_admin_uri: str, tmp_path: Path
) -> None:
    async with _scratch_database(pg_admin_uri) as url:
        conn = await db.connect(url)
        try:
            await db.migrate(conn, _migrations_before(tmp_path, THIS_MIGRATION))
            first = await _party(conn, "broker", "AT", "AT-BR-7", 0)
            copy = await _party(conn, "broker", "AT", " at-br-7", 1)
            another_copy = await _party(conn, "broker", "AT", "At-Br-7 ", 2)
            alone = await _party(conn, "broker", "AT", "AT-BR-8", 3)
            elsewhere = await _party(conn, "broker", "DE", "at-br-7", 4)  # another country's register
            dealer = await _party(conn, "dealer", "AT", "at-br-7", 5)  # not a broker
            await db.migrate(conn)
            marks = {
                row["party_id"]: row["registration_duplicate_of"]
                for row in await conn.fetch("SELECT party_id, registration_duplicate_of FROM party")
            }
            assert marks == {
                first: None,
                copy: first,
                another_copy: first,
                alone: None,
                elsewhere: None,
                dealer: None,
            }
            entries = await conn.fetch(
                "SELECT actor, entity, entity_id, payload FROM journal_entry"
                " WHERE action = 'party.registration-duplicate-marked' ORDER BY entry_id"
            )
            assert [(e["actor"], e["entity"], e["entity_id"], e["payload"]) for e in entries] == [
                (
                    "system:migration",
                    "party",
                    str(marked),
                    {"registration_duplicate_of": str(first), "migration": MARKING_MIGRATION},
                )
                for marked in (copy, another_copy)
            ]
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM journal_pending WHERE entry_id IN"
                    " (SELECT entry_id FROM journal_entry WHERE action = 'party.registration-duplicate-marked')"
                )
                == 2
            )
            # an officer reading the broker register sees which entry is whose copy
            assert (await parties.get_party(conn, copy)).registration_duplicate_of == first
            assert (await parties.get_party(conn, first)).registration_duplicate_of is None
            # the number is still in the register once: a new registration is refused as before
            new = NewParty(
                kind="broker",
                name="Broker again",
                country="AT",
                address="Graz",
                registration=" AT-br-7 ",
                valid_from=dt.date(2026, 1, 1),
                expires_on=dt.date(2030, 12, 31),
            )
            with pytest.raises(ConflictError) as caught:
                await parties.create_party(conn, new, actor=ACTOR)
            assert caught.value.code == "broker-already-registered"
            # a mark is a fact: never moved, never cleared
            for moved_to in (None, alone):
                with pytest.raises(asyncpg.RestrictViolationError, match="registration_duplicate_of"):
                    await conn.execute(
                        "UPDATE party SET registration_duplicate_of = $1 WHERE party_id = $2", moved_to, copy
                    )
            with pytest.raises(asyncpg.RestrictViolationError, match="registration_duplicate_of"):
                await conn.execute("UPDATE party SET registration_duplicate_of = $1 WHERE party_id = $2", first, alone)
            assert await conn.fetchval("SELECT count(*) FROM party") == 6  # nothing deleted
        finally:
            await conn.close()


async def test_without_duplicates_the_migration_builds_the_index_it_always_built(
    pg_admin_uri: str, tmp_path: Path
) -> None:
    """On data it succeeded on before, 20261129160200 leaves what it left; applied before, it is not refused."""
    async with _scratch_database(pg_admin_uri) as url:
        conn = await db.connect(url)
        try:
            folder = _migrations_before(tmp_path, THIS_MIGRATION)
            await db.migrate(conn, folder)
            await _party(conn, "broker", "AT", "AT-BR-7", 0)
            await _party(conn, "broker", "AT", "AT-BR-8", 1)
            await _party(conn, "broker", "DE", "at-br-7", 2)
            shutil.copy(db.SQL_DIR / "migrations" / THIS_MIGRATION, folder)
            assert await db.migrate(conn, folder) == [THIS_MIGRATION]
            assert await conn.fetchval("SELECT pg_get_indexdef('party_broker_registration_key'::regclass)") == (
                INDEX_BEFORE
            )
            # a registry that applied the file as it was before this change migrates on
            await conn.execute("UPDATE schema_migration SET sha256 = $1 WHERE name = $2", DIGEST_BEFORE, THIS_MIGRATION)
            assert MARKING_MIGRATION in await db.migrate(conn)
            # any other change of an applied file is refused as ever
            await conn.execute("UPDATE schema_migration SET sha256 = $1 WHERE name = $2", "0" * 64, THIS_MIGRATION)
            with pytest.raises(MigrationError, match="was changed after it was applied"):
                await db.migrate(conn)
        finally:
            await conn.close()
