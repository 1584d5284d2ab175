"""The ``firearms`` command through click's runner, on the test's database."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner

from cli import main
from cli.common import actor_for
from firearms import bootstrap, keys
from firearms.embedded import stop_embedded
from firearms.signing import SigningKey, b64url_decode, key_id_of
from tests.roles import database_env


@pytest.fixture
def env(database: str, home: Path, initialised: bootstrap.Initialised) -> dict[str, str]:
    return {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), **database_env(database)}


def test_token_create_prints_the_token_alone(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["token", "create", "--role", "customs-officer", "--name", "Kim"], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("fr_")
    listed = CliRunner().invoke(main, ["token", "list"], env=env)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert any(row["name"] == "Kim" and row["role"] == "customs-officer" for row in rows)
    assert result.stdout.strip() not in listed.stdout


def test_token_create_refuses_unknown_role_and_bad_name(env: dict[str, str]) -> None:
    wrong_role = CliRunner().invoke(main, ["token", "create", "--role", "wizard", "--name", "x"], env=env)
    assert wrong_role.exit_code == 2
    bad_name = CliRunner().invoke(main, ["token", "create", "--role", "auditor", "--name", "  "], env=env)
    assert bad_name.exit_code == 1
    assert "firearms: error:" in bad_name.stderr
    assert bad_name.stdout == ""


def test_token_create_refuses_a_control_character_as_the_api_does(env: dict[str, str], database: str) -> None:
    result = CliRunner().invoke(main, ["token", "create", "--role", "auditor", "--name", "Kim\x7f"], env=env)
    assert result.exit_code == 1
    assert "firearms: error:" in result.stderr
    assert result.stdout == ""
    listed = CliRunner().invoke(main, ["token", "list"], env=env)
    assert "Kim" not in listed.stdout


def _token_actors(database: str, name: str) -> list[tuple[str, str]]:
    """The journal entry's actor and the token's ``created_by`` for the token named ``name``."""

    async def actors() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(database)
        try:
            rows = await conn.fetch(
                "SELECT e.actor, t.created_by FROM journal_entry e"
                " JOIN officer_token t ON t.token_id::text = e.entity_id"
                " WHERE e.action = 'token.created' AND t.name = $1",
                name,
            )
            return [(row["actor"], row["created_by"]) for row in rows]
        finally:
            await conn.close()

    return asyncio.run(actors())


def test_cli_changes_are_journaled_with_the_account_that_ran_them(env: dict[str, str], database: str) -> None:
    """DESIGN §6: every change with its actor. Every command's change was journaled ``cli:operator``, whoever ran it.

    The account is the process's (its uid's name), not ``USER``/``LOGNAME``, which anyone sets for one command.
    """
    account = pwd.getpwuid(os.getuid()).pw_name
    claimed: dict[str, str | None] = {**env, "USER": "mallory", "LOGNAME": "mallory", "LNAME": "mallory"}
    claimed |= {"USERNAME": "mallory", "SUDO_USER": None, "SUDO_UID": None}  # the suite itself may run under sudo
    created = CliRunner().invoke(main, ["token", "create", "--role", "auditor", "--name", "Who"], env=claimed)
    assert created.exit_code == 0, created.output

    assert _token_actors(database, "Who") == [(f"cli:{account}", f"cli:{account}")]


@pytest.mark.parametrize(
    ("name", "uid", "actor"),
    [
        ("kim", 1000, "cli:kim"),
        ("kim.novak_2-a", 1000, "cli:kim.novak_2-a"),
        ("_svc", 998, "cli:_svc"),
        ("a" * 64, 1000, "cli:" + "a" * 64),
        ("a" * 65, 1000, "cli:uid:1000"),
        ("..", 1000, "cli:uid:1000"),
        ("kim\nfirearms: error: forged", 1000, "cli:uid:1000"),  # would start a line of its own
        ("kim\x1b[31m", 1000, "cli:uid:1000"),  # a terminal escape in every read of the journal
        ("kim novak", 1000, "cli:uid:1000"),
        ("system:exchange", 1000, "cli:uid:1000"),  # a colon: would read as another kind of actor
        ("-kim", 1000, "cli:uid:1000"),  # an option to a shell command that greps the journal
        ("kimé", 1000, "cli:uid:1000"),
        ("kim\n", 1000, "cli:uid:1000"),
        ("", 0, "cli:uid:0"),
        (None, 54321, "cli:uid:54321"),  # a uid with no account (a container run with --user 54321)
        (None, None, "cli:unknown"),
    ],
)
def test_an_odd_or_missing_login_name_is_journaled_by_its_uid(name: str | None, uid: int | None, actor: str) -> None:
    """A login name outside the portable set cannot break a journal entry or a log line: the uid names it."""
    assert actor_for(name, uid) == actor


def test_a_command_run_through_sudo_is_journaled_with_the_human_who_invoked_it(
    env: dict[str, str], database: str
) -> None:
    """``sudo -u firearms firearms ...`` was journaled ``cli:firearms`` alone: the journal now names who ran sudo.

    sudo sets ``SUDO_USER`` (and ``SUDO_UID``) for the command; the account stays the process's own.
    """
    account = pwd.getpwuid(os.getuid()).pw_name
    sudo = {**env, "SUDO_USER": "alice", "SUDO_UID": "1001"}
    created = CliRunner().invoke(main, ["token", "create", "--role", "auditor", "--name", "Via sudo"], env=sudo)
    assert created.exit_code == 0, created.output

    actor = f"cli:{account} (sudo by alice)"
    assert _token_actors(database, "Via sudo") == [(actor, actor)]
    verified = CliRunner().invoke(main, ["journal", "verify"], env=env)  # the chain takes the longer actor
    assert verified.exit_code == 0, verified.output


@pytest.mark.parametrize(
    ("sudo_user", "sudo_uid", "actor"),
    [
        ("alice", "1001", "cli:firearms (sudo by alice)"),
        ("alice", None, "cli:firearms (sudo by alice)"),
        ("firearms", "998", "cli:firearms"),  # sudo to oneself names no one else
        ("alice\nfirearms: error: forged", "1001", "cli:firearms (sudo by uid:1001)"),  # an odd name: its uid
        ("al ice", None, "cli:firearms (sudo by unknown)"),
        ("", "1001", "cli:firearms (sudo by uid:1001)"),
        ("alice", "10x1", "cli:firearms (sudo by alice)"),
        (None, "1001", "cli:firearms (sudo by uid:1001)"),
        (None, "not a uid", "cli:firearms"),
        (None, None, "cli:firearms"),
    ],
)
def test_the_human_behind_sudo_is_named_safely(sudo_user: str | None, sudo_uid: str | None, actor: str) -> None:
    """SUDO_USER is named only when it is a safe login name; else by SUDO_UID, as an odd account is by its uid."""
    assert actor_for("firearms", 998, sudo_user=sudo_user, sudo_uid=sudo_uid) == actor


def test_token_revoke(env: dict[str, str]) -> None:
    CliRunner().invoke(main, ["token", "create", "--role", "auditor", "--name", "Out"], env=env)
    listed = CliRunner().invoke(main, ["token", "list"], env=env)
    token_id = next(json.loads(line)["token_id"] for line in listed.stdout.splitlines() if '"Out"' in line)
    revoked = CliRunner().invoke(main, ["token", "revoke", token_id], env=env)
    assert revoked.exit_code == 0
    twice = CliRunner().invoke(main, ["token", "revoke", token_id], env=env)
    assert twice.exit_code == 1
    assert "already revoked" in twice.stderr
    assert "Traceback" not in twice.output


def test_keys_show_gives_state_key_id_and_public_key(env: dict[str, str], home: Path) -> None:
    result = CliRunner().invoke(main, ["keys", "show"], env=env)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["state"] == "AT"
    public = b64url_decode(shown["public_key"])
    assert len(public) == 32
    assert shown["key_id"] == key_id_of(public)
    assert (home / "keys" / f"{shown['key_id']}.pem").exists()


def test_journal_verify_exit_codes(env: dict[str, str], database: str) -> None:
    intact = CliRunner().invoke(main, ["journal", "verify"], env=env)
    assert intact.exit_code == 0, intact.output
    assert "intact" in intact.stdout
    intact_json = CliRunner().invoke(main, ["journal", "verify", "--json"], env=env)
    assert intact_json.exit_code == 0, intact_json.output
    assert json.loads(intact_json.stdout)["intact"] is True

    async def tamper() -> int:
        conn = await asyncpg.connect(database)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute("UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = 2")
            seq: int = await conn.fetchval("SELECT seq FROM journal_link WHERE entry_id = 2")
            return seq
        finally:
            await conn.close()

    seq = asyncio.run(tamper())
    broken = CliRunner().invoke(main, ["journal", "verify"], env=env)
    assert broken.exit_code == 1
    assert f"seq {seq}" in broken.stderr
    assert "entry 2" in broken.stderr
    # a monitoring script reads the verdict as JSON, the members of GET /api/v1/journal/verify, exit code unchanged
    as_json = CliRunner().invoke(main, ["journal", "verify", "--json"], env=env)
    assert as_json.exit_code == 1
    verdict = json.loads(as_json.stdout)
    assert (verdict["intact"], verdict["bad_seq"], verdict["bad_entry_id"]) == (False, seq, 2)
    assert verdict["problem"] == "the entry was changed after it was sealed"


def test_journal_checkpoint_and_migrate(env: dict[str, str], database: str) -> None:
    made = CliRunner().invoke(main, ["journal", "checkpoint"], env=env)
    assert made.exit_code == 0, made.output
    printed = json.loads(made.stdout)

    async def sealed() -> tuple[int, list[dict[str, object]]]:
        conn = await asyncpg.connect(database)
        try:
            entries: int = await conn.fetchval("SELECT count(*) FROM journal_entry")
            rows = await conn.fetch(
                "SELECT c.seq, c.head_hash = l.hash AS at_head, l.entry_id = (SELECT max(entry_id) FROM journal_entry)"
                " AS last_entry FROM journal_checkpoint c JOIN journal_link l USING (seq)"
            )
            return entries, [dict(row) for row in rows]
        finally:
            await conn.close()

    entries, checkpoints = asyncio.run(sealed())
    assert entries >= 2  # the first start's key and admin token
    # sealed first: the one checkpoint signs the link of the last entry, and is what was printed
    assert checkpoints == [{"seq": entries, "at_head": True, "last_entry": True}]
    assert printed["seq"] == entries
    assert made.stderr == f"checkpoint created at seq {entries}\n"
    # nothing journaled since: the stored checkpoint, said to be one ("created" it read, though nothing was)
    again = CliRunner().invoke(main, ["journal", "checkpoint"], env=env)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == printed
    assert again.stderr == f"already checkpointed at seq {entries} (nothing journaled since): the stored checkpoint\n"
    assert asyncio.run(sealed())[1] == checkpoints
    verified = CliRunner().invoke(main, ["journal", "verify"], env=env)
    assert verified.exit_code == 0, verified.output
    # one checkpoint is "1 checkpoint" (it read "1 checkpoints")
    assert verified.stdout == f"journal intact: {entries} entries, 1 checkpoint, 0 pending\n"
    migrated = CliRunner().invoke(main, ["migrate"], env=env)
    assert migrated.exit_code == 0
    assert migrated.stdout.strip() == "nothing to apply"


@pytest.mark.parametrize("state", ["", "XX", "at", "AUT"])
def test_bad_state_is_a_one_line_error(state: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["keys", "show"], env={"FIREARMS_STATE": state, "FIREARMS_HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "FIREARMS_STATE" in result.stderr


def test_an_unknown_time_zone_is_a_one_line_error(tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path), "FIREARMS_TIME_ZONE": "Europe/Vienn"}
    result = CliRunner().invoke(main, ["keys", "show"], env=env)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "FIREARMS_TIME_ZONE='Europe/Vienn'" in result.stderr


def test_every_command_has_help() -> None:
    commands = [
        [],
        ["serve"],
        ["worker"],
        ["migrate"],
        ["token"],
        ["token", "create"],
        ["token", "list"],
        ["token", "revoke"],
        ["keys"],
        ["keys", "show"],
        ["journal"],
        ["journal", "verify"],
        ["journal", "checkpoint"],
        ["backup"],
        ["restore"],
    ]
    for command in commands:
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage:" in result.stdout


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://nobody@127.0.0.1:1/none",
        "not a database url",
        "postgresql://nobody@127.0.0.1:notaport/none",  # a ValueError traceback from asyncpg's DSN parser
        "postgresql://nobody@[::1/none",
    ],
)
@pytest.mark.parametrize("command", [["token", "list"], ["export"]])
def test_a_database_that_cannot_be_reached_is_a_one_line_error(
    url: str, command: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "items.csv"
    args = [*command, str(out)] if command == ["export"] else command
    result = CliRunner().invoke(main, args, env=env | {"FIREARMS_DATABASE_URL": url})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("firearms: error: cannot connect to the database")
    assert "Traceback" not in result.output
    assert not out.exists()


def test_export_into_a_missing_folder_is_a_one_line_error(env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(tmp_path / "missing" / "items.csv")], env=env)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("firearms: error: cannot write")
    assert not (tmp_path / "missing").exists()


def test_export_with_an_unknown_status_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", str(tmp_path / "items.csv"), "--status", "stolne"], env=env)
    assert result.exit_code == 2
    assert "stolne" in result.stderr
    assert not (tmp_path / "items.csv").exists()


def test_a_home_that_is_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    home = tmp_path / "firearms-home"
    home.write_text("not a folder")
    result = CliRunner().invoke(main, ["--home", str(home), "token", "list"], env={"FIREARMS_STATE": "AT"})
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.count("\n") == 1
    assert "FIREARMS_HOME" in result.stderr
    assert home.read_text() == "not a folder"


@pytest.mark.parametrize("command", [["serve", "--no-worker"], ["worker"]])
def test_serve_and_worker_on_a_database_that_cannot_be_reached_are_a_one_line_error(
    command: list[str], env: dict[str, str]
) -> None:
    unreachable = env | {"FIREARMS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = CliRunner().invoke(main, command, env=unreachable)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "firearms: error: cannot connect to the database" in result.stderr


_READERS = [
    ["token", "list"],
    ["token", "create", "--role", "auditor", "--name", "x"],
    ["keys", "show"],
    ["keys", "rotate"],
    ["peers", "list"],
    ["notices"],
    ["journal", "verify"],
    ["journal", "checkpoint"],
    ["export", "{out}"],
]


@pytest.mark.parametrize("command", _READERS)
def test_a_database_without_a_registry_is_a_one_line_error(
    command: list[str], empty_database: str, tmp_path: Path
) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path / "home"), "FIREARMS_DATABASE_URL": empty_database}
    out = tmp_path / "items.csv"
    result = CliRunner().invoke(main, [part.format(out=out) for part in command], env=env)
    assert not out.exists()
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("firearms: error: ")
    assert result.stderr.count("\n") == 1
    assert "firearms migrate" in result.stderr

    async def tables() -> int:
        conn = await asyncpg.connect(empty_database)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
        finally:
            await conn.close()

    assert asyncio.run(tables()) == 0  # nothing written


@pytest.mark.parametrize("command", _READERS)
def test_a_home_without_a_registry_is_a_one_line_error_and_stays_untouched(command: list[str], tmp_path: Path) -> None:
    home = tmp_path / "no-such-home"
    args = ["--home", str(home), *(part.format(out=tmp_path / "items.csv") for part in command)]
    result = CliRunner().invoke(main, args, env={"FIREARMS_STATE": "AT"})
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.count("\n") == 1
    assert "holds no registry" in result.stderr
    assert not home.exists()  # no embedded server was set up in a mistyped home


@pytest.mark.parametrize("command", [["migrate"], ["worker"], ["serve", "--no-worker"]])
def test_a_home_that_cannot_be_created_is_a_one_line_error(command: list[str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["--home", str(blocker / "home"), *command], env={"FIREARMS_STATE": "AT"})
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("firearms: error: FIREARMS_HOME=")
    assert result.stderr.count("\n") == 1
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("content", ["garbage", "another key"])
@pytest.mark.parametrize("command", [["keys", "show"], ["journal", "checkpoint"], ["keys", "rotate"]])
def test_a_key_file_that_holds_no_key_or_another_one_is_a_one_line_error(
    env: dict[str, str], home: Path, content: str, command: list[str]
) -> None:
    keys._loaded.clear()  # this process read the key when the home was initialised
    (path,) = (home / "keys").glob("*.pem")
    if content == "garbage":
        path.write_text("not a PEM key\n")
    else:  # a key file copied back under the wrong name: it would sign what partners refuse as bad-signature
        path.write_bytes(SigningKey.generate().pem())
    before = sorted(item.name for item in (home / "keys").iterdir())
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("firearms: error: ")
    assert result.stderr.count("\n") == 1
    assert path.name.removesuffix(".pem") in result.stderr
    assert sorted(item.name for item in (home / "keys").iterdir()) == before  # rotate wrote no new key


def test_serve_on_a_port_in_use_is_a_one_line_error(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(  # a real process: uvicorn would install its signal handlers here
            [sys.executable, "-m", "cli", "serve", "--no-worker", "--port", str(port)],
            env=os.environ | env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stderr  # was uvicorn's exit 3 after its own log lines, as --workers 2 is not
    assert done.stderr.splitlines()[-1].startswith(f"firearms: error: cannot listen on 127.0.0.1:{port}")
    assert "Started server process" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["token", "create", "--role", "auditor", "--name", "x"],
        ["peers", "disable", "DE"],
        ["journal", "checkpoint"],
        ["serve", "--no-worker"],
        ["worker"],
    ],
)
def test_a_database_that_refuses_writes_is_a_one_line_error(
    command: list[str], env: dict[str, str], database: str
) -> None:
    # a read-only standby, or a user without the right to write: FIREARMS_DATABASE_URL is the operator's to fix
    async def read_only() -> None:
        conn = await asyncpg.connect(database)
        try:
            await conn.execute(
                "INSERT INTO peer (state, base_url, created_at, updated_at) VALUES ('DE', 'http://x', now(), now())"
            )
            name = await conn.fetchval("SELECT current_database()")
            await conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        finally:
            await conn.close()

    asyncio.run(read_only())
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("firearms: error: ")
    assert result.stderr.count("\n") == 1
    assert "read-only" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["journal", "checkpoint"],
        ["keys", "show"],
        ["peers", "add", "AT", "--url", "http://x", "--public-key", "PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw"],
        ["backup", "{out}"],
        ["export", "{out}"],
    ],
)
def test_a_command_under_another_state_than_the_registrys_changes_nothing(
    command: list[str], env: dict[str, str], database: str, tmp_path: Path
) -> None:
    # a shell with another registry's FIREARMS_STATE: a checkpoint signed under it read as a forgery for ever
    # (journal verify: "bad signature"), a backup's manifest named the wrong State, a peer was our own State
    out = tmp_path / "out.csv"
    before = fetch_journal(database)
    result = CliRunner().invoke(main, [part.format(out=out) for part in command], env=env | {"FIREARMS_STATE": "CZ"})
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("firearms: error: ")
    assert result.stderr.count("\n") == 1
    assert "AT" in result.stderr
    assert result.stdout == ""
    assert fetch_journal(database) == before
    assert not out.exists()
    verified = CliRunner().invoke(main, ["journal", "verify"], env=env)
    assert verified.exit_code == 0, verified.output


def fetch_journal(database: str) -> tuple[int, int, int]:
    async def run() -> tuple[int, int, int]:
        conn = await asyncpg.connect(database)
        try:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM journal_entry) AS e, (SELECT count(*) FROM journal_checkpoint) AS c,"
                " (SELECT count(*) FROM peer) AS p"
            )
            assert row is not None
            return int(row["e"]), int(row["c"]), int(row["p"])
        finally:
            await conn.close()

    return asyncio.run(run())


def test_serve_under_another_state_than_the_registrys_is_refused(env: dict[str, str], database: str) -> None:
    before = fetch_journal(database)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run(  # a real process: were it not refused, it would serve until the timeout
        [sys.executable, "-m", "cli", "serve", "--no-worker", "--port", str(port)],
        env=os.environ | env | {"FIREARMS_STATE": "CZ"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1].startswith("firearms: error: this database is the AT registry's, not CZ's")
    assert fetch_journal(database) == before


def test_idempotency_prune_deletes_old_keys_with_progress(env: dict[str, str], database: str) -> None:
    async def keys() -> None:
        conn = await asyncpg.connect(database)
        try:
            token_id = await conn.fetchval("SELECT token_id FROM officer_token LIMIT 1")
            for key, hours_ago in [("old", 40 * 24), ("new", 2 * 24), ("day-and-hour", 25), ("day-less-hour", 23)]:
                await conn.execute(
                    "INSERT INTO idempotency_key (token_id, idempotency_key, request, fingerprint, answer, created_at)"
                    " VALUES ($1, $2, 'POST /api/v1/parties', '\\x00', '{}', now() - make_interval(hours => $3))",
                    token_id,
                    key,
                    hours_ago,
                )
        finally:
            await conn.close()

    def left() -> list[str]:
        async def read() -> list[str]:
            conn = await asyncpg.connect(database)
            try:
                rows = await conn.fetch("SELECT idempotency_key FROM idempotency_key ORDER BY idempotency_key")
            finally:
                await conn.close()
            return [row["idempotency_key"] for row in rows]

        return asyncio.run(read())

    asyncio.run(keys())
    pruned = CliRunner().invoke(main, ["idempotency", "prune", "--older-than", "30"], env=env)  # as the service
    assert pruned.exit_code == 0, pruned.output
    assert pruned.stdout.strip() == "pruned 1 idempotency key stored more than 30 days ago"
    assert "pruned 1 idempotency key so far" in pruned.stderr
    again = CliRunner().invoke(main, ["idempotency", "prune", "--older-than", "30"], env=env)
    assert again.stdout.strip() == "pruned 0 idempotency keys stored more than 30 days ago"
    assert left() == ["day-and-hour", "day-less-hour", "new"]
    # the least the command takes, a day, is the database's own floor: keys younger than a day stay
    day = CliRunner().invoke(main, ["idempotency", "prune", "--older-than", "1"], env=env)
    assert day.exit_code == 0, day.output
    assert day.stdout.strip() == "pruned 2 idempotency keys stored more than 1 day ago"
    assert left() == ["day-less-hour"]
    for wrong in ("0", "-1", "soon", "36501", "800000"):
        refused = CliRunner().invoke(main, ["idempotency", "prune", "--older-than", wrong], env=env)
        assert refused.exit_code == 2, wrong
        assert "--older-than" in refused.stderr


def test_a_home_too_long_for_the_database_socket_is_refused(tmp_path: Path) -> None:
    """The embedded server listens on a Unix socket in FIREARMS_HOME/pgdata (mode 0700), with trust authentication.

    A socket path is at most 107 bytes on Linux: past that, the wheel put the socket in a runtime folder any local
    account may enter (0777 when run as root) -- and every local account connected as the database superuser,
    without a password. A home that long is refused in one line before a server starts.
    """
    home = tmp_path / ("h" * max(1, 100 - len(str(tmp_path)))) / "home"
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home)}
    try:
        result = CliRunner().invoke(main, ["migrate"], env=env)
        assert result.exit_code == 1, result.output
        assert result.stderr.count("firearms: error: ") == 1
        assert "too long for the database's socket" in result.stderr
        assert "Traceback" not in result.output
        assert not (home / "pgdata" / "PG_VERSION").exists()
    finally:
        if (home / "pgdata" / "PG_VERSION").exists():  # the old behaviour started a server: stop it
            stop_embedded(home)


def test_serve_and_worker_warn_when_the_service_would_connect_as_a_superuser(
    database: str, initialised: bootstrap.Initialised, caplog: pytest.LogCaptureFixture
) -> None:
    """One FIREARMS_DATABASE_URL of an earlier version's setup still serves: a warning at start, not a refusal."""
    serve_module = sys.modules["cli.main"]  # the module: cli.main as an attribute is the click group

    with caplog.at_level(logging.WARNING, logger="firearms.serve"):
        serve_module._warn_on_service_role(database_env(database)["FIREARMS_DATABASE_URL"])
        assert not caplog.records  # firearms_app: nothing to say
        serve_module._warn_on_service_role(database)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "a superuser" in record.getMessage()
    assert "FIREARMS_MIGRATION_DATABASE_URL" in record.getMessage()


def test_token_create_refuses_a_name_a_live_token_holds(env: dict[str, str], database: str) -> None:
    """The journal names an officer by the token's name: two live tokens of one name (``Kim`` and ``kim ``) could
    not be told apart in it. Refused, the secret not printed; once the first is revoked, the name is free."""
    first = CliRunner().invoke(main, ["token", "create", "--role", "auditor", "--name", "Kim"], env=env)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["token", "create", "--role", "customs-officer", "--name", "kim "], env=env)
    assert again.exit_code == 1, again.output
    assert again.stderr.startswith("firearms: error: a live token is already named")
    assert again.stdout == ""
    listed = [json.loads(line) for line in CliRunner().invoke(main, ["token", "list"], env=env).stdout.splitlines()]
    assert [row["role"] for row in listed if row["name"].strip().lower() == "kim"] == ["auditor"]
    (kim,) = [row["token_id"] for row in listed if row["name"] == "Kim"]
    assert CliRunner().invoke(main, ["token", "revoke", kim], env=env).exit_code == 0
    later = CliRunner().invoke(main, ["token", "create", "--role", "customs-officer", "--name", "Kim"], env=env)
    assert later.exit_code == 0, later.output
    assert later.stdout.startswith("fr_")
