"""A home whose restore failed its checks (README "Backups"): every command that writes refuses it, in one line.

``serve`` and ``worker`` refused it; ``token create``, ``keys rotate``, ``peers add``, ``import``, ``journal
checkpoint`` ... wrote new records into the failed data, signed its head, or queued notices for partners from it.
The commands are enumerated from the click group: a new command fails
:func:`test_every_command_refuses_a_failed_restore_home_or_says_why_it_may_run` until it is put in one of the lists.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from firearms import bootstrap, restore
from tests.changes import changes_at
from tests.cli.test_bad_input_cli import commands_of
from tests.roles import database_env

KEY = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

# Each command that writes into the registry (or serves it), with arguments click accepts; "{tmp}" the test's folder.
REFUSES: dict[str, list[str]] = {
    "serve": ["serve", "--port", "8080"],
    "serve-process": ["serve-process"],
    "worker": ["worker"],
    "migrate": ["migrate"],  # restore applied this version's migrations; a later one's would change the data
    "token create": ["token", "create", "--role", "auditor", "--name", "Ann Auditor"],
    "token revoke": ["token", "revoke", str(uuid.uuid4())],
    "keys rotate": ["keys", "rotate"],
    "keys switch": ["keys", "switch"],
    "keys revoke": ["keys", "revoke", "no-such-key", "--reason", "leaked"],
    "keys cancel": ["keys", "cancel", "no-such-key", "--reason", "by mistake"],
    "keys replace": ["keys", "replace", "--reason", "restored from an old backup"],
    "journal checkpoint": ["journal", "checkpoint"],  # would sign the failed journal's head
    "idempotency prune": ["idempotency", "prune", "--older-than", "1"],
    "peers add": ["peers", "add", "DE", "--url", "https://registry.example.de", "--public-key", KEY],
    "peers add-key": ["peers", "add-key", "DE", "--public-key", KEY],
    "peers disable": ["peers", "disable", "DE"],
    "peers enable": ["peers", "enable", "DE"],
    "peers resequence": ["peers", "resequence", "DE", "--from", "1"],
    "peers quota": ["peers", "quota", "DE", "--notices", "500"],
    "import": ["import", "{tmp}/records.csv"],
}

# Each command that may run on such a home, and why. RUNS: the arguments that run it there (restore: see below).
MAY_RUN: dict[str, str] = {
    "restore": "a restore that passes its checks clears the note; refused, only deleting the note would go on",
    "journal verify": "the investigation's first question; there it does not seal (the journal stays)",
    "export": "the records handed to the investigator; journaled as items.exported, as anywhere",
    "backup": "a copy of the failed data for the investigation; journaled (registry.backed-up); there it does not seal",
    "notices": "reads the outbox",
    "trace-requests": "reads the trace requests; with --json journaled as a read, as anywhere",
    "status": "reads counts and dates; writes nothing, does not seal; says the restore failed (exit 3)",
    "peers list": "reads the trust list",
    "keys show": "reads the keys",
    "token list": "reads the tokens (never their secrets)",
}
RUNS: dict[str, list[str]] = {
    "journal verify": ["journal", "verify"],
    "export": ["export", "{tmp}/records.ndjson"],
    "backup": ["backup", "--unjournaled", "{tmp}/backups/at.dump"],  # the flag changes nothing where writes are taken
    "notices": ["notices"],
    "trace-requests": ["trace-requests"],
    "status": ["status"],
    "peers list": ["peers", "list"],
    "keys show": ["keys", "show"],
    "token list": ["token", "list"],
}
# what a command that may run exits with there, when not 0
EXITS = {"status": 3}
PROBLEM = "the restored journal does not verify at seq 3 (entry 2): the entry was changed after it was sealed"


def test_every_command_refuses_a_failed_restore_home_or_says_why_it_may_run() -> None:
    commands = {path for path, _ in commands_of(main)}
    assert {"serve", "token create", "journal verify"} <= commands
    assert not set(REFUSES) & set(MAY_RUN)
    assert commands == set(REFUSES) | set(MAY_RUN)
    assert set(RUNS) == set(MAY_RUN) - {"restore"}


@pytest.fixture
def env(database: str, home: Path, initialised: bootstrap.Initialised) -> dict[str, str]:
    """A home whose restore failed its checks: the note written as ``firearms restore`` writes it."""
    restore.note_failed_restore(
        home,
        restore.Restored(
            restored="/backups/at.dump",
            state="AT",
            journal_seq=3,
            journal_entries=2,
            head_matches=True,
            verify_intact=False,
            migrations_applied=[],
            missing_key_files=[],
            problem=PROBLEM,
        ),
    )
    assert restore.failed_restore(home) == PROBLEM
    return {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), **database_env(database)}


@pytest.mark.parametrize("command", sorted(REFUSES))
def test_a_command_that_writes_refuses_a_failed_restore_home_in_one_line_and_changes_nothing(
    command: str, env: dict[str, str], database: str, home: Path, tmp_path: Path
) -> None:
    (tmp_path / "records.csv").write_text("serial_number\nX1\n")
    files = sorted(tmp_path.rglob("*"))
    before = changes_at(database)
    result = CliRunner().invoke(main, [arg.replace("{tmp}", str(tmp_path)) for arg in REFUSES[command]], env=env)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    doing = "serve it" if command in {"serve", "serve-process", "worker"} else f"run 'firearms {command}' on it"
    assert result.stderr == (
        f"firearms: error: the restore into this home failed its checks ({PROBLEM}): its data is for inspection "
        f"only; once investigated, delete {home / restore.FAILED_RESTORE_FILE} to {doing} anyway\n"
    )
    assert changes_at(database) == before
    assert sorted(tmp_path.rglob("*")) == files


@pytest.mark.parametrize("command", sorted(RUNS))
def test_a_command_the_investigator_needs_runs_on_a_failed_restore_home(
    command: str, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "backups").mkdir(mode=0o700)
    result = CliRunner().invoke(main, [arg.replace("{tmp}", str(tmp_path)) for arg in RUNS[command]], env=env)
    assert result.exit_code == EXITS.get(command, 0), result.output
    assert "failed its checks" not in result.stderr


def test_status_on_a_failed_restore_home_says_so_and_exits_3(env: dict[str, str], database: str) -> None:
    """It said 'all is well' and exited 0 there: an operator's morning check passed a home every writing command
    refuses. An attention line, the note's problem in it, in the table and in ``--json``; nothing written."""
    before = changes_at(database)
    table = CliRunner().invoke(main, ["status"], env=env)
    assert table.exit_code == 3, table.output
    assert "all is well" not in table.stdout
    (line,) = [line for line in table.stdout.splitlines() if line.startswith("attention: restore-failed: ")]
    assert PROBLEM in line
    printed = CliRunner().invoke(main, ["status", "--json"], env=env)
    assert printed.exit_code == 3, printed.output
    attention = json.loads(printed.stdout)["attention"]
    assert attention[0]["code"] == "restore-failed"
    assert PROBLEM in attention[0]["reason"]
    assert changes_at(database) == before


def test_restore_is_not_refused_on_a_failed_restore_home(env: dict[str, str], tmp_path: Path) -> None:
    """The way on from a failed restore is another restore (its own checks refuse this file, not the note)."""
    (tmp_path / "at.dump").write_bytes(b"not a backup")
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "at.dump")], env=env)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("firearms: error: ")
    assert "failed its checks" not in result.stderr


def test_journal_verify_and_backup_leave_a_failed_restores_journal_unsealed(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Restore does not seal: the journal stays as the archive holds it. ``journal verify`` and ``backup`` (and its
    ``--verify``) sealed first, linking the entries queued after the failed head (the export's own) onto it; there
    they leave them pending."""
    exported = CliRunner().invoke(main, ["export", str(tmp_path / "records.ndjson")], env=env)
    assert exported.exit_code == 0, exported.output
    (tmp_path / "backups").mkdir(mode=0o700)
    backed_up = CliRunner().invoke(main, ["backup", "--verify", str(tmp_path / "backups" / "at.dump")], env=env)
    assert backed_up.exit_code == 0, backed_up.output
    pending = []
    for _ in range(2):
        verified = CliRunner().invoke(main, ["journal", "verify", "--json"], env=env)
        assert verified.exit_code == 0, verified.output
        pending.append(json.loads(verified.stdout)["pending"])
    assert pending[0] >= 2  # the export's entry and the backup's
    assert pending[1] == pending[0]
