"""``firearms backup`` and ``firearms restore`` through click's runner, with the wheel's pg_dump and pg_restore."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from click.testing import CliRunner, Result

from cli import main
from firearms import bootstrap, db, embedded, journal, restore
from tests.roles import database_env
from tests.unanswered_commit import HOLD_VERIFICATION_COMMIT, standby_awaited, terminate_held_commit


@pytest.fixture
def env(database: str, home: Path, initialised: bootstrap.Initialised) -> dict[str, str]:
    return {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), **database_env(database)}


@pytest.fixture
def made(env: dict[str, str], tmp_path: Path) -> Path:
    """A backup of the test's registry, made with the CLI."""
    path = tmp_path / "backups" / "at.dump"
    path.parent.mkdir(mode=0o700)  # restore refuses a folder others may write, whatever the umask
    result = CliRunner().invoke(main, ["backup", str(path)], env=env)
    assert result.exit_code == 0, result.output
    return path


def restore_env(database: str, tmp_path: Path, state: str = "AT") -> dict[str, str]:
    return {"FIREARMS_STATE": state, "FIREARMS_HOME": str(tmp_path / "new-home"), "FIREARMS_DATABASE_URL": database}


def fetch(url: str, sql: str) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


def relations(url: str) -> int:
    found: int = fetch(url, db.QUERIES["count_public_relations"])
    return found


WHAT_A_REGISTRY_HOLDS = "SELECT md5(string_agg(t::text, ',' ORDER BY entry_id)) FROM journal_entry AS t"


def refused(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert result.stderr.count("firearms: error: ") == 1
    assert message in result.stderr.split("firearms: error: ")[1]
    assert "Traceback" not in result.output


def test_backup_prints_its_manifest_and_names_the_key_files_to_keep(
    env: dict[str, str], home: Path, tmp_path: Path, database: str
) -> None:
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    manifest = json.loads(result.stdout)
    assert json.loads((tmp_path / "at.dump.manifest.json").read_text()) == manifest
    assert manifest["format"] == "firearms-backup/1"
    assert manifest["state"] == "AT"
    assert manifest["created_at"].endswith("Z")
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["dump_bytes"] == path.stat().st_size
    assert manifest["database_bytes"] > 0
    # the head of the sealed chain (the first start's key and admin token), which nothing has moved since
    head = fetch(database, "SELECT ARRAY[seq::text, encode(hash, 'hex')] FROM journal_link ORDER BY seq DESC LIMIT 1")
    assert [str(manifest["journal_seq"]), manifest["journal_hash"]] == head
    assert manifest["journal_seq"] >= 2
    [key_file] = [file.name for file in (home / "keys").iterdir()]
    assert manifest["needed_key_files"] == [key_file]
    assert "backing up the AT registry" in result.stderr
    assert f"{path}: " in result.stderr
    assert f"no private keys: keep {key_file} from {home / 'keys'}" in result.stderr
    assert sorted(file.name for file in tmp_path.iterdir()) == ["at.dump", "at.dump.manifest.json", "home"]
    assert path.stat().st_mode & 0o077 == 0  # personal data: readable by its owner only


def test_backup_never_overwrites_a_file(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "at.dump"
    path.write_bytes(b"yesterday's backup")
    result = CliRunner().invoke(main, ["backup", str(path)], env=env)
    refused(result, f"{path} already exists")
    assert path.read_bytes() == b"yesterday's backup"
    assert sorted(file.name for file in tmp_path.iterdir()) == ["at.dump", "home"]


def test_a_backup_into_a_folder_that_cannot_be_written_is_refused_and_journals_nothing(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """``backup-unwritable``: the path named, with the system's reason, and no ``registry.backed-up``."""
    path = tmp_path / "missing" / "at.dump"
    result = CliRunner().invoke(main, ["backup", str(path)], env=env)
    refused(result, f"cannot write {path}: No such file or directory")
    assert not (tmp_path / "missing").exists()
    assert fetch(database, "SELECT count(*) FROM journal_entry WHERE action = 'registry.backed-up'") == 0


def test_backup_of_a_database_without_a_registry_is_refused(empty_database: str, tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path / "home"), "FIREARMS_DATABASE_URL": empty_database}
    result = CliRunner().invoke(main, ["backup", str(tmp_path / "at.dump")], env=env)
    refused(result, "the database holds no registry yet")
    assert sorted(file.name for file in tmp_path.iterdir()) == []


def test_restore_reports_the_key_files_to_copy(made: Path, empty_database: str, home: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    [key_file] = [file.name for file in (home / "keys").iterdir()]
    assert outcome["missing_key_files"] == [key_file]
    assert outcome["head_matches"] is True
    assert outcome["verify_intact"] is True
    assert outcome["journal_entries"] == json.loads(made.with_name("at.dump.manifest.json").read_text())["journal_seq"]
    assert f"copy {key_file} into {tmp_path / 'new-home' / 'keys'}/" in result.stderr
    assert (tmp_path / "new-home" / "keys").stat().st_mode & 0o777 == 0o700


def test_restore_with_the_key_files_copied_reports_none_missing(
    made: Path, empty_database: str, home: Path, tmp_path: Path
) -> None:
    shutil.copytree(home / "keys", tmp_path / "new-home" / "keys")
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["missing_key_files"] == []
    assert "copy" not in result.stderr
    verified = CliRunner().invoke(main, ["journal", "verify"], env=restore_env(empty_database, tmp_path))
    assert verified.exit_code == 0, verified.output
    signed = CliRunner().invoke(main, ["journal", "checkpoint"], env=restore_env(empty_database, tmp_path))
    assert signed.exit_code == 0, signed.output


def test_restore_into_a_database_that_holds_a_registry_changes_nothing(
    made: Path, env: dict[str, str], database: str
) -> None:
    before = relations(database), fetch(database, WHAT_A_REGISTRY_HOLDS)
    result = CliRunner().invoke(main, ["restore", str(made)], env=env)
    refused(result, "the database already holds tables: restore into a new FIREARMS_HOME or an empty database")
    assert (relations(database), fetch(database, WHAT_A_REGISTRY_HOLDS)) == before


def test_restore_into_a_database_with_one_table_is_refused(made: Path, empty_database: str, tmp_path: Path) -> None:
    fetch(empty_database, "CREATE TABLE someone_elses (x int)")
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    refused(result, "the database already holds tables")
    assert relations(empty_database) == 1


def test_restore_refuses_a_changed_archive(made: Path, empty_database: str, tmp_path: Path) -> None:
    data = bytearray(made.read_bytes())
    data[len(data) // 2] ^= 0x01
    made.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    refused(result, f"{made} does not match its manifest (SHA-256 differs)")
    assert relations(empty_database) == 0


def test_restore_refuses_another_states_backup(made: Path, empty_database: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path, state="CZ"))
    refused(result, f"{made} is a backup of the AT registry, not of CZ")
    assert relations(empty_database) == 0


def test_restore_refuses_an_archive_without_its_manifest(made: Path, empty_database: str, tmp_path: Path) -> None:
    made.with_name("at.dump.manifest.json").unlink()
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    refused(result, f"{made}.manifest.json is missing")
    assert relations(empty_database) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "firearms-backup/2"}, "is not a firearms-backup/1 manifest"),
        ({"journal_hash": "not hex"}, "is not a firearms-backup/1 manifest"),
        ({"migrations": ["29991231000000_from_the_future.sql"]}, "was made by a newer version of the registry"),
    ],
)
def test_restore_refuses_a_manifest_it_cannot_honour(
    change: dict[str, Any], message: str, made: Path, empty_database: str, tmp_path: Path
) -> None:
    manifest_file = made.with_name("at.dump.manifest.json")
    manifest_file.write_text(json.dumps(json.loads(manifest_file.read_text()) | change))
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    refused(result, message)
    assert relations(empty_database) == 0


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        # the State's check passed on the last of the two; another reader of the manifest takes the first
        (b'{"format"', b'{"state":"CZ","format"', "names the key 'state' twice"),
        (b'"sha256"', b'"sha\\u0032\\u0035\\u0036":"' + b"0" * 64 + b'","sha256"', "names the key 'sha256' twice"),
        (b'"state":"AT"', b'"state":"A\xc3"', "is not UTF-8"),  # was a traceback (UnicodeDecodeError)
    ],
    ids=["state", "sha256 escaped", "not UTF-8"],
)
def test_restore_refuses_a_manifest_naming_a_key_twice_or_not_utf8(
    before: bytes, after: bytes, message: str, made: Path, empty_database: str, tmp_path: Path
) -> None:
    manifest_file = made.with_name("at.dump.manifest.json")
    raw = manifest_file.read_bytes()
    assert before in raw
    manifest_file.write_bytes(raw.replace(before, after, 1))
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    refused(result, "is not a firearms-backup/1 manifest")
    assert message in result.stderr
    assert relations(empty_database) == 0


def test_restore_whose_journal_does_not_match_the_manifest_fails(
    made: Path, empty_database: str, tmp_path: Path
) -> None:
    manifest_file = made.with_name("at.dump.manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest_file.write_text(json.dumps(manifest | {"journal_hash": "00" * 32}))
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    assert result.exit_code == 1
    outcome = json.loads(result.stdout)
    assert outcome["head_matches"] is False
    assert outcome["verify_intact"] is True
    assert (
        f"firearms: error: the restored journal does not hold the manifest's hash at seq {manifest['journal_seq']}"
        in (result.stderr)
    )
    assert outcome["missing_key_files"]  # still listed in the outcome, but not as a step towards serving it
    assert "before 'firearms serve'" not in result.stderr
    assert "for inspection only: do not serve it" in result.stderr
    # every command that writes refuses the home now, not only serve and worker: the line says so
    assert "'firearms serve', 'worker' and every command that writes refuse this home" in result.stderr


def test_a_backup_to_a_relative_path_is_journaled_with_its_whole_path(
    env: dict[str, str], database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["backup", "relative.dump"], env=env)
    assert result.exit_code == 0, result.output
    journaled = fetch(database, "SELECT payload ->> 'path' FROM journal_entry WHERE action = 'registry.backed-up'")
    assert journaled == str(tmp_path / "relative.dump")
    assert (tmp_path / "relative.dump").exists()


@pytest.mark.parametrize("damage", ["truncated", "no-manifest", "other-state"])
def test_a_refused_restore_into_a_new_home_leaves_no_home_behind(made: Path, tmp_path: Path, damage: str) -> None:
    new_home = tmp_path / "new-home"
    state = "CZ" if damage == "other-state" else "AT"
    if damage == "truncated":
        made.write_bytes(made.read_bytes()[:1000])
    if damage == "no-manifest":
        made.with_name(made.name + ".manifest.json").unlink()
    result = CliRunner().invoke(main, ["--home", str(new_home), "restore", str(made)], env={"FIREARMS_STATE": state})
    refused(result, "")
    assert not new_home.exists()  # the archive is checked before an embedded server is set up there


def test_restore_into_a_home_that_cannot_be_created_is_a_one_line_error(made: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(
        main, ["--home", str(blocker / "home"), "restore", str(made)], env={"FIREARMS_STATE": "AT"}
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.count("firearms: error: FIREARMS_HOME=") == 1
    assert "Traceback" not in result.output


OTHER_USER = 65534  # nobody


@pytest.mark.parametrize(
    ("target", "change"),
    [
        ("archive", "group-writable"),
        ("archive", "world-writable"),
        ("manifest", "world-writable"),
        ("archive", "owned-by-another-user"),
        ("manifest", "owned-by-another-user"),
        ("folder", "world-writable"),
        ("folder", "owned-by-another-user"),
    ],
)
def test_restore_refuses_a_backup_someone_else_can_write(
    target: str, change: str, made: Path, empty_database: str, tmp_path: Path
) -> None:
    """pg_restore runs what the archive says as the database's owner: an archive (or a manifest, whose hash
    vouches for it, or a folder where either can be swapped) that another account may write is not restored.

    Its hash proves nothing then: whoever can write the archive can write the manifest beside it.
    """
    path = {"archive": made, "manifest": made.with_name("at.dump.manifest.json"), "folder": made.parent}[target]
    if change == "owned-by-another-user":
        os.chown(path, OTHER_USER, -1)
    else:
        path.chmod(path.stat().st_mode | (stat.S_IWGRP if change == "group-writable" else stat.S_IWOTH))
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    refused(result, "someone else can write")
    assert str(path) in result.stderr
    assert relations(empty_database) == 0
    assert not (tmp_path / "new-home").exists()


def test_restore_takes_a_backup_in_a_shared_folder_with_the_sticky_bit(
    made: Path, empty_database: str, tmp_path: Path
) -> None:
    """A shared folder such as the system temporary one: others may write it but not rename or remove our files."""
    made.parent.chmod(0o1777)
    result = CliRunner().invoke(main, ["restore", str(made)], env=restore_env(empty_database, tmp_path))
    assert result.exit_code == 0, result.output


def tamper(url: str, entry_id: int = 2) -> int:
    """Change a sealed journal entry behind the guards (their triggers off), as someone with the database's files
    could; the chain position of that entry."""

    async def run() -> int:
        conn = await db.connect(url)
        try:
            await journal.seal(conn)  # the first start's entries, linked as the worker would
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute("UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", entry_id)
            seq: int = await conn.fetchval("SELECT seq FROM journal_link WHERE entry_id = $1", entry_id)
            return seq
        finally:
            await conn.close()

    return asyncio.run(run())


def test_restore_of_a_backup_whose_journal_was_tampered_with_fails_and_keeps_the_data_as_it_was(
    env: dict[str, str], database: str, empty_database: str, tmp_path: Path
) -> None:
    """A registry whose journal no longer verifies backs up (the copy comes first); its restore says so, exit 1.

    The restored rows stay as the archive holds them, the changed one included, for whoever investigates.
    """
    seq = tamper(database)
    backed_up = fetch(database, WHAT_A_REGISTRY_HOLDS)
    path = tmp_path / "backups" / "at.dump"
    path.parent.mkdir(mode=0o700)
    made = CliRunner().invoke(main, ["backup", str(path)], env=env)
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(main, ["restore", str(path)], env=restore_env(empty_database, tmp_path))
    assert result.exit_code == 1, result.output
    outcome = json.loads(result.stdout)
    assert (outcome["head_matches"], outcome["verify_intact"]) == (True, False)
    assert outcome["journal_entries"] == seq - 1  # verified before the changed one
    problem = f"the restored journal does not verify at seq {seq} (entry 2): the entry was changed after it was sealed"
    assert outcome["problem"] == problem
    assert f"firearms: error: {problem}" in result.stderr
    assert "for inspection only: do not serve it" in result.stderr
    assert fetch(empty_database, "SELECT actor FROM journal_entry WHERE entry_id = 2") == "mallory"
    assert fetch(empty_database, WHAT_A_REGISTRY_HOLDS) == backed_up


def test_backup_verify_of_an_intact_registry_says_so(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", "--verify", str(path)], env=env)
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)  # stdout is the manifest alone, as without --verify
    assert result.stdout.count("\n") == 1
    assert path.exists()
    assert (
        f"firearms: journal intact: the backup's head (seq {manifest['journal_seq']}) is on the verified chain"
        in result.stderr
    )


def test_backup_verify_of_a_tampered_registry_keeps_the_backup_and_exits_1(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """``backup --verify`` copies first (a broken chain never stops the copy), then verifies: exit 1, in one line."""
    seq = tamper(database)
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", "--verify", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.exists()
    assert path.with_name("at.dump.manifest.json").exists()
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert errors == [
        f"firearms: error: {path} was written, but the journal does not verify at seq {seq} (entry 2): the entry "
        "was changed after it was sealed; the backup holds the registry as it is, for inspection"
    ]
    assert "Traceback" not in result.output


def test_journal_verification_shows_its_progress_on_stderr(
    env: dict[str, str], empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verifying decades of entries takes minutes: ``journal verify``, ``backup --verify``, ``restore`` say how far."""
    monkeypatch.setattr(journal, "VERIFY_PROGRESS_INTERVAL", 0.0)  # a line after every batch
    verified = CliRunner().invoke(main, ["journal", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    [line] = [line for line in verified.stderr.splitlines() if "verifying the journal" in line]
    entries = int(verified.stdout.split("journal intact: ")[1].split(" ")[0])
    assert line == f"firearms: verifying the journal: {entries} of {entries} links (100%)"
    path = tmp_path / "backups" / "at.dump"
    path.parent.mkdir(mode=0o700)
    backed_up = CliRunner().invoke(main, ["backup", "--verify", str(path)], env=env)
    assert backed_up.exit_code == 0, backed_up.output
    assert "firearms: verifying the journal: " in backed_up.stderr
    restored = CliRunner().invoke(main, ["restore", str(path)], env=restore_env(empty_database, tmp_path))
    assert restored.exit_code == 0, restored.output
    assert "firearms: verifying the journal: " in restored.stderr


def test_a_home_whose_restore_failed_its_checks_is_not_served(
    env: dict[str, str], database: str, empty_database: str, tmp_path: Path
) -> None:
    """ "Do not serve it" was a line on stderr: a recovery script that went on to ``serve`` put a tampered registry
    back into service. The failed restore is noted in the home, and ``serve`` and ``worker`` refuse it until
    the operator removes the note."""
    tamper(database)
    path = tmp_path / "backups" / "at.dump"
    path.parent.mkdir(mode=0o700)
    assert CliRunner().invoke(main, ["backup", str(path)], env=env).exit_code == 0
    new = restore_env(empty_database, tmp_path)
    restored = CliRunner().invoke(main, ["restore", str(path)], env=new)
    assert restored.exit_code == 1, restored.output
    note = tmp_path / "new-home" / "restore-failed.json"
    assert json.loads(note.read_text()) == json.loads(restored.stdout)
    assert note.stat().st_mode & 0o077 == 0
    assert f"delete {note}" in restored.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for command in (["serve", "--port", str(port)], ["worker"]):
        refused = subprocess.run(
            [sys.executable, "-m", "cli", *command],
            env={**os.environ, **new},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode == 1, (command, refused.stderr)
        assert refused.stderr.startswith(
            f"firearms: error: the restore into this home failed its checks "
            f"({json.loads(restored.stdout)['problem']}): its data is for inspection only"
        ), refused.stderr
        assert f"delete {note} to serve it" in refused.stderr
    verified = CliRunner().invoke(main, ["journal", "verify"], env=new)  # the investigator's commands still run
    assert verified.exit_code == 1
    assert "journal BROKEN" in verified.stderr


def test_a_restore_that_passes_its_checks_clears_the_note_of_one_that_failed_in_that_home(
    env: dict[str, str], database: str, empty_database: str, pg_admin_uri: str, tmp_path: Path
) -> None:
    """The note speaks of the data a failed restore left; a later restore into the home that verifies replaces it.

    Kept, the note made ``serve`` refuse the sound registry "the restore into this home failed its checks (...)",
    naming a journal that was no longer there.
    """
    good = tmp_path / "backups" / "good.dump"
    good.parent.mkdir(mode=0o700)
    assert CliRunner().invoke(main, ["backup", str(good)], env=env).exit_code == 0
    tamper(database)
    bad = tmp_path / "backups" / "bad.dump"
    assert CliRunner().invoke(main, ["backup", str(bad)], env=env).exit_code == 0
    failed = CliRunner().invoke(main, ["restore", str(bad)], env=restore_env(empty_database, tmp_path))
    assert failed.exit_code == 1, failed.output
    home = tmp_path / "new-home"
    assert restore.failed_restore(home) == json.loads(failed.stdout)["problem"]

    name = "firearms_second_restore"

    async def as_admin(sql: str) -> None:
        admin = await asyncpg.connect(pg_admin_uri)
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    asyncio.run(as_admin(f'CREATE DATABASE "{name}"'))
    try:
        again = restore_env(embedded.database_url(pg_admin_uri, name), tmp_path)  # the same home, a new database
        restored = CliRunner().invoke(main, ["restore", str(good)], env=again)
        assert restored.exit_code == 0, restored.output
        assert json.loads(restored.stdout)["problem"] is None
        assert restore.failed_restore(home) is None
        assert not (home / restore.FAILED_RESTORE_FILE).exists()
    finally:
        asyncio.run(as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_a_restored_registrys_overview_counts_the_restores_verification(
    env: dict[str, str], database: str, empty_database: str, home: Path, tmp_path: Path
) -> None:
    """The restore walks the whole restored chain: that is an intact verification, recorded as one.

    Before, ``firearms status`` on the restored registry said ``journal-not-verified`` (its journal older than 48
    hours, no verification recorded in it since the backup's), though the restore had just verified every link.
    """

    async def installed_three_days_ago() -> None:
        conn = await asyncpg.connect(database)
        try:  # the first entry, not yet sealed (backup seals): as if the registry had been installed days ago
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute(
                    "UPDATE journal_entry SET recorded_at = recorded_at - interval '3 days'"
                    " WHERE entry_id = (SELECT min(entry_id) FROM journal_entry)"
                    "   AND entry_id NOT IN (SELECT entry_id FROM journal_link)"
                )
        finally:
            await conn.close()

    asyncio.run(installed_three_days_ago())
    path = tmp_path / "backups" / "at.dump"
    path.parent.mkdir(mode=0o700)
    assert CliRunner().invoke(main, ["backup", str(path)], env=env).exit_code == 0
    source = CliRunner().invoke(main, ["status", "--json"], env=env)
    assert "journal-not-verified" in [item["code"] for item in json.loads(source.stdout)["attention"]]
    shutil.copytree(home / "keys", tmp_path / "new-home" / "keys")
    result = CliRunner().invoke(main, ["restore", str(path)], env=restore_env(empty_database, tmp_path))
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    overview = CliRunner().invoke(main, ["status", "--json"], env=restore_env(empty_database, tmp_path))
    assert overview.exit_code == 0, overview.output
    restored = json.loads(overview.stdout)
    assert restored["attention"] == []
    assert restored["journal"]["last_verified_seq"] == outcome["journal_seq"]
    recorded = fetch(
        empty_database, "SELECT payload FROM journal_entry WHERE action = 'journal.verified' ORDER BY entry_id DESC"
    )
    assert json.loads(recorded) == {
        "head_seq": outcome["journal_seq"],
        "since_checkpoint": None,
        "entries": outcome["journal_entries"],
        "checkpoints": 0,
    }


def test_backup_verify_records_its_verification_for_the_overview(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """``backup --verify`` may be the nightly check (README "Backups"): its walk counts as ``journal verify``'s does,
    intact (``journal.verified``) or broken (``journal.verification-failed``, then ``journal-broken``)."""
    path = tmp_path / "at.dump"
    assert CliRunner().invoke(main, ["backup", "--verify", str(path)], env=env).exit_code == 0
    overview = json.loads(CliRunner().invoke(main, ["status", "--json"], env=env).stdout)
    assert overview["journal"]["last_verified_at"] is not None
    assert overview["journal"]["broken_at"] is None
    seq = tamper(database)
    broken = CliRunner().invoke(main, ["backup", "--verify", str(tmp_path / "again.dump")], env=env)
    assert broken.exit_code == 1, broken.output
    flagged = CliRunner().invoke(main, ["status", "--json"], env=env)
    assert flagged.exit_code == 3, flagged.output
    overview = json.loads(flagged.stdout)
    assert [item["code"] for item in overview["attention"]] == ["journal-broken"]
    assert (overview["journal"]["broken_seq"], overview["journal"]["broken_kind"]) == (seq, "entry-changed")


def behind_the_back(url: str, sql: str) -> None:
    """A change a database administrator might make (as the owner): a right taken back, a constraint added."""

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


RECORDER = "record_journal_verification(timestamptz, text, bigint, bigint, bigint, bigint)"


def test_backup_verify_whose_intact_verification_cannot_be_recorded_says_intact_and_exits_1_saying_so(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """The walk's record is written after it, in a transaction of its own; the service's role lost its right to
    write it: the backup is in place, its manifest printed, the verdict ("journal intact") said, and the exit is 1
    with a line saying the verification was not recorded. Before, the write's error was the command's one line:
    no verdict."""
    behind_the_back(database, f"REVOKE EXECUTE ON FUNCTION {RECORDER} FROM {db.SERVICE_ROLE}")
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", "--verify", str(path)], env=env)
    assert result.exit_code == 1, result.output
    manifest = json.loads(result.stdout)
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (
        f"firearms: journal intact: the backup's head (seq {manifest['journal_seq']}) is on the verified chain"
        in result.stderr
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert errors == [
        "firearms: error: the journal verification could not be recorded (permission denied for function"
        " record_journal_verification): 'firearms status' will not count it, and the next 'journal verify"
        " --since-checkpoint' does not start from it"
    ]
    assert "Traceback" not in result.output
    assert fetch(database, "SELECT count(*) FROM journal_entry WHERE action = 'journal.verified'") == 0


def test_backup_verify_whose_broken_verification_cannot_be_recorded_says_broken_and_exits_1_saying_so(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """As ``journal verify`` does: the broken verdict in its line, exit 1, and a line that the failure was not
    recorded (so ``firearms status`` will not flag it)."""
    seq = tamper(database)
    behind_the_back(database, f"REVOKE INSERT ON journal_entry FROM {db.SERVICE_ROLE}")
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", "--verify", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (
        "firearms: the broken verification could not be recorded (permission denied for table journal_entry):"
        " 'firearms status' will not flag it"
    ) in result.stderr.splitlines()
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert errors == [
        f"firearms: error: {path} was written, but the journal does not verify at seq {seq} (entry 2): the entry "
        "was changed after it was sealed; the backup holds the registry as it is, for inspection"
    ]
    assert "Traceback" not in result.output


def test_a_restore_whose_verification_cannot_be_recorded_prints_its_outcome_and_exits_1_saying_so(
    env: dict[str, str], database: str, empty_database: str, tmp_path: Path
) -> None:
    """The restore passed its checks; the database refuses its record of the walk. A restore runs as the tables'
    owner (the superuser on the embedded server: no right to take back) and its migration step writes (a read-only
    session fails there first), so the refusal is a constraint the archive carries, added behind the application
    (``NOT VALID``: the rows there are not checked), against any ``journal.verified`` entry. The outcome line is
    printed (``problem`` null: the data passed its checks, and the home is not refused), ``verification_unrecorded``
    says why, and the exit is 1 with a line saying so. Before, the write's error was the command's one line, no
    outcome, and the home kept the note of a restore that "did not finish its checks"."""
    behind_the_back(
        database,
        "ALTER TABLE journal_entry ADD CONSTRAINT no_verification_recorded CHECK (action <> 'journal.verified')"
        " NOT VALID",
    )
    path = tmp_path / "backups" / "at.dump"
    path.parent.mkdir(mode=0o700)
    assert CliRunner().invoke(main, ["backup", str(path)], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["restore", str(path)], env=restore_env(empty_database, tmp_path))
    assert result.exit_code == 1, result.output
    outcome = json.loads(result.stdout)
    assert (outcome["head_matches"], outcome["verify_intact"], outcome["problem"]) == (True, True, None)
    why = 'new row for relation "journal_entry" violates check constraint "no_verification_recorded"'
    assert outcome["verification_unrecorded"] == why
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert errors == [
        f"firearms: error: the restore passed its checks, but its journal verification could not be recorded ({why}):"
        " 'firearms status' of the restored registry will not count it; run 'firearms journal verify'"
    ]
    assert "Traceback" not in result.output
    assert restore.failed_restore(tmp_path / "new-home") is None
    assert fetch(empty_database, "SELECT count(*) FROM journal_entry WHERE action = 'journal.verified'") == 0


async def test_a_restore_whose_verification_record_got_no_answer_at_commit_gives_its_outcome(
    env: dict[str, str], database: str, empty_database: str, tmp_path: Path, conn: db.Conn
) -> None:
    """The restore passed its checks; the record's ``COMMIT`` was taken by the server and its answer lost with the
    connection (the archive carries a trigger that makes that transaction wait for a standby that never comes, and
    its backend is terminated there). The record is in the restored database. The restore ended on an
    ``InterfaceError`` traceback (its next read, the key ids it needs, on the connection asyncpg had closed), no
    outcome, and the home refused as one that "did not finish its checks"; with the old words it would have said the
    verification "could not be recorded". It gives its outcome, the home not refused, and says it may have been
    recorded."""
    await conn.execute(HOLD_VERIFICATION_COMMIT)
    path = tmp_path / "backups" / "at.dump"
    path.parent.mkdir(mode=0o700)
    made = await asyncio.to_thread(CliRunner().invoke, main, ["backup", str(path)], env=env)
    assert made.exit_code == 0, made.output
    target = urlsplit(empty_database).path.lstrip("/")
    async with standby_awaited(conn):
        command = asyncio.ensure_future(
            asyncio.to_thread(
                CliRunner().invoke, main, ["restore", str(path)], env=restore_env(empty_database, tmp_path)
            )
        )
        await terminate_held_commit(conn, target, command)
        result = await command
    verified = await asyncio.to_thread(
        fetch, empty_database, "SELECT count(*) FROM journal_entry WHERE action = 'journal.verified'"
    )
    assert verified == 1  # the server took the COMMIT
    assert "Traceback" not in result.output, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    outcome = json.loads(result.stdout)
    assert (outcome["head_matches"], outcome["verify_intact"], outcome["problem"]) == (True, True, None)
    assert outcome["verification_unrecorded"] is not None
    assert outcome["verification_unconfirmed"] is True
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert len(errors) == 1, result.stderr
    assert "may have been recorded" in errors[0], errors
    assert "could not be recorded" not in result.stderr
    assert restore.failed_restore(tmp_path / "new-home") is None


async def test_backup_verify_whose_record_got_no_answer_at_commit_says_intact_and_that_it_may_be_recorded(
    env: dict[str, str], database: str, tmp_path: Path, conn: db.Conn
) -> None:
    """As ``journal verify``: the record's ``COMMIT`` taken by the server, its answer lost with the connection. The
    command said the verification "could not be recorded (connection was closed in the middle of operation):
    'firearms status' will not count it" while the record was there."""
    await conn.execute(HOLD_VERIFICATION_COMMIT)
    path = tmp_path / "at.dump"
    async with standby_awaited(conn):
        command = asyncio.ensure_future(
            asyncio.to_thread(CliRunner().invoke, main, ["backup", "--verify", str(path)], env=env)
        )
        await terminate_held_commit(conn, await conn.fetchval("SELECT current_database()"), command)
        result = await command
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'journal.verified'") == 1
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert json.loads(result.stdout)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "firearms: journal intact: the backup's head" in result.stderr
    assert "could not be recorded" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert errors == [
        "firearms: error: the database did not answer the COMMIT of the journal verification's record (no answer to"
        " the commit: ConnectionDoesNotExistError): it may have been recorded; 'firearms status' shows whether it"
        " counts"
    ]


def seal_journal(url: str) -> None:
    async def run() -> None:
        conn = await db.connect(url)
        try:
            await journal.seal(conn)
        finally:
            await conn.close()

    asyncio.run(run())


def read_only(url: str) -> None:
    """The database set read-only for every role, as during an incident or an audit (or a hot standby): new
    connections begin read-only transactions."""
    name = fetch(url, "SELECT current_database()")
    behind_the_back(url, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')


def journal_rows(url: str) -> tuple[int, ...]:
    """What a command could have written to the journal: entries, links, the sealer's queue."""
    return tuple(
        fetch(url, f"SELECT count(*) FROM {table}")  # noqa: S608  # the table names are ours
        for table in ("journal_entry", "journal_link", "journal_pending")
    )


SEAL_REFUSED = "cannot execute SELECT in a read-only transaction"
UNJOURNALED = (
    "firearms: {path} was written, but the backup could not be journaled (cannot execute INSERT in a read-only"
    " transaction): the journal does not show that this copy of the registry was made"
)


def test_backup_verify_unjournaled_on_a_read_only_database_keeps_the_backup_and_gives_the_verdict(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """A read-only copy (``default_transaction_read_only = on``, a hot standby): the seal before the snapshot and the
    walk, and the backup's own journal entry, are refused. With ``--unjournaled`` the backup is made and kept (a line
    says it could not be journaled), what is sealed is walked and the verdict said, the entries left unsealed counted,
    nothing written, exit 1."""
    seal_journal(database)  # the first start's entries, linked as the worker would
    assert CliRunner().invoke(main, ["token", "create", "--role", "auditor", "--name", "late"], env=env).exit_code == 0
    read_only(database)
    before = journal_rows(database)
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", "--verify", "--unjournaled", str(path)], env=env)
    assert result.exit_code == 1, result.output
    manifest = json.loads(result.stdout)
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    lines = result.stderr.splitlines()
    assert UNJOURNALED.format(path=path) in lines, result.stderr
    assert (
        f"firearms: journal intact: the backup's head (seq {manifest['journal_seq']}) is on the verified chain"
        " (2 entries, 0 checkpoints)"
    ) in lines, result.stderr
    errors = [line for line in lines if line.startswith("firearms: error:")]
    assert errors == [
        f"firearms: error: the journal could not be sealed ({SEAL_REFUSED}): 1 entry waiting for the sealer was left"
        " unsealed and not verified, and the journal verification was not recorded: 'firearms status' will not count"
        " it, and the next 'journal verify --since-checkpoint' does not start from it"
    ], result.stderr
    assert "Traceback" not in result.output
    assert journal_rows(database) == before


def test_backup_verify_unjournaled_on_a_read_only_database_with_a_tampered_entry_says_broken(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """``--unjournaled``: the break wins: its error line, exit 1, the backup kept; before it, the lines that the backup
    was not journaled and that the broken verification was not recorded (the seal refused)."""
    seq = tamper(database)
    read_only(database)
    before = journal_rows(database)
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", "--verify", "--unjournaled", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    lines = result.stderr.splitlines()
    assert UNJOURNALED.format(path=path) in lines, result.stderr
    assert (
        f"firearms: the journal could not be sealed ({SEAL_REFUSED}): no entry was waiting for the sealer, and the"
        " broken verification was not recorded: 'firearms status' will not flag it"
    ) in lines, result.stderr
    errors = [line for line in lines if line.startswith("firearms: error:")]
    assert errors == [
        f"firearms: error: {path} was written, but the journal does not verify at seq {seq} (entry 2): the entry "
        "was changed after it was sealed; the backup holds the registry as it is, for inspection"
    ]
    assert "Traceback" not in result.output
    assert journal_rows(database) == before


def test_an_unjournaled_backup_of_a_read_only_database_is_kept_and_says_it_was_not_journaled(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """Asked for (``--unjournaled``), without ``--verify``: the backup (one snapshot, read only) is made and kept, its
    manifest printed; the entry that journals it (``registry.backed-up``) is refused, and the exit is 1 saying so."""
    read_only(database)
    before = journal_rows(database)
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", "--unjournaled", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert errors == [UNJOURNALED.format(path=path).replace("firearms: ", "firearms: error: ", 1)], result.stderr
    assert "Traceback" not in result.output
    assert journal_rows(database) == before


UNJOURNALED_REFUSED = (
    "firearms: error: the database takes no write here ({why}): the backup could not be journaled, so {what}; a copy"
    ' of every record must be journaled (README "Backups"): give --unjournaled to make and keep one the journal'
    " will not show"
)


@pytest.mark.parametrize("verify", [False, True], ids=["plain", "verify"])
def test_a_backup_of_a_read_only_database_is_refused_before_any_copy_is_made(
    env: dict[str, str], database: str, tmp_path: Path, *, verify: bool
) -> None:
    """A copy of every record leaving the registry is journaled, as an export of records is (which a read-only
    database refuses): the seal before the snapshot is refused, so no archive is written, nothing is journaled, and
    the line says how to make one anyway. Before, the backup was made and kept unjournaled unless asked."""
    assert CliRunner().invoke(main, ["token", "create", "--role", "auditor", "--name", "late"], env=env).exit_code == 0
    read_only(database)
    before = journal_rows(database)
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", *(["--verify"] if verify else []), str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert errors == [UNJOURNALED_REFUSED.format(why=SEAL_REFUSED, what="none was made")], result.stderr
    assert "Traceback" not in result.output
    assert sorted(file.name for file in tmp_path.iterdir()) == ["home"]
    assert journal_rows(database) == before


REFUSE_BACKED_UP = """
CREATE FUNCTION refuse_backed_up() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{message}' USING ERRCODE = '{sqlstate}';
END $$;
CREATE TRIGGER refuse_backed_up BEFORE INSERT ON journal_entry
    FOR EACH ROW WHEN (NEW.action = 'registry.backed-up') EXECUTE FUNCTION refuse_backed_up();
"""


@pytest.mark.parametrize(
    ("sqlstate", "message", "error"),
    [
        (
            "25006",
            "cannot execute INSERT in a read-only transaction",
            UNJOURNALED_REFUSED.format(
                why="cannot execute INSERT in a read-only transaction", what="{path} was removed: no copy is kept"
            ),
        ),
        (
            "P0001",
            "the journal is full",
            "firearms: error: the backup could not be journaled (the journal is full), so {path} was removed: no copy"
            " is kept",
        ),
    ],
    ids=["write refused", "other error"],
)
def test_a_backup_whose_journal_entry_is_refused_leaves_no_archive(
    env: dict[str, str], database: str, tmp_path: Path, sqlstate: str, message: str, error: str
) -> None:
    """The seal went through, the snapshot was dumped, and then the backup's own entry (``registry.backed-up``) is
    refused: the database set read-only meanwhile, or any other error. The command fails, so the archive and its
    manifest it put in place are removed (an unjournaled copy of every record is not left behind by a command that
    says it failed). Before, both stayed, and another error was a traceback."""
    behind_the_back(database, REFUSE_BACKED_UP.format(message=message, sqlstate=sqlstate))
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert errors == [error.format(path=path)], result.stderr
    assert "Traceback" not in result.output
    assert sorted(file.name for file in tmp_path.iterdir()) == ["home"]
    assert fetch(database, "SELECT count(*) FROM journal_entry WHERE action = 'registry.backed-up'") == 0


def test_an_unjournaled_backup_whose_entry_is_refused_for_another_reason_leaves_no_archive(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """``--unjournaled`` keeps a backup only when the database takes no write: another error at its entry still
    fails the command, and removes the archive."""
    behind_the_back(database, REFUSE_BACKED_UP.format(message="the journal is full", sqlstate="P0001"))
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", "--unjournaled", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert errors == [
        f"firearms: error: the backup could not be journaled (the journal is full), so {path} was removed: no copy"
        " is kept"
    ], result.stderr
    assert sorted(file.name for file in tmp_path.iterdir()) == ["home"]


def test_an_unjournaled_backup_of_a_database_that_takes_writes_is_journaled(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """``--unjournaled`` only allows the entry to be refused: where it is written, the backup is journaled as ever,
    exit 0."""
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", "--unjournaled", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert fetch(database, "SELECT count(*) FROM journal_entry WHERE action = 'registry.backed-up'") == 1


def test_a_backup_whose_connection_is_lost_at_its_journal_entry_leaves_no_archive(
    env: dict[str, str], database: str, tmp_path: Path
) -> None:
    """The connection ends under the backup's entry (an administrator ends the session; a restarted server alike):
    nothing was journaled, so the archive and its manifest are removed and the line says so, no traceback."""
    behind_the_back(
        database,
        """
        CREATE FUNCTION end_session() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_terminate_backend(pg_backend_pid());
            PERFORM pg_sleep(5);
            RETURN NEW;
        END $$;
        CREATE TRIGGER end_session BEFORE INSERT ON journal_entry
            FOR EACH ROW WHEN (NEW.action = 'registry.backed-up') EXECUTE FUNCTION end_session();
        """,
    )
    path = tmp_path / "at.dump"
    result = CliRunner().invoke(main, ["backup", str(path)], env=env)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("firearms: error:")]
    assert f"firearms: {path} was removed: its journal entry was not written, or not confirmed" in lines
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("firearms: error: the connection to the database was lost ("), errors
    assert "Traceback" not in result.output
    assert sorted(file.name for file in tmp_path.iterdir()) == ["home"]
    assert fetch(database, "SELECT count(*) FROM journal_entry WHERE action = 'registry.backed-up'") == 0
