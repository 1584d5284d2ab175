"""Bad input on every ``firearms`` command that takes any: a clear one-line error, no traceback, nothing changed.

The commands are enumerated from the click group itself: a new command with an argument or an option
fails :func:`test_every_command_with_input_has_a_bad_input_case` until it is given a case here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import main
from firearms import bootstrap
from tests.changes import changes_at
from tests.roles import database_env

# One malformed value a command, "{tmp}" a folder of the test's own. "" is the group's own options.
CASES: dict[str, list[str]] = {
    "": ["--state", "Austria", "token", "list"],
    "serve": ["serve", "--port", "0"],
    "token create": ["token", "create", "--role", "auditor", "--name", " "],
    "token revoke": ["token", "revoke", "not-a-uuid"],
    "keys revoke": ["keys", "revoke", "no-such-key", "--reason", "leaked"],
    "keys cancel": ["keys", "cancel", "no-such-key", "--reason", "by mistake"],
    "keys replace": ["keys", "replace", "--reason", "  "],
    "backup": ["backup", "--unjournaled", "{tmp}/no/such/folder/at.dump"],  # the flag: a folder missing still refused
    "restore": ["restore", "{tmp}/no-such.dump"],
    "peers add": [
        "peers",
        "add",
        "DE",
        "--url",
        "ftp://registry.example.de",
        "--public-key",
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
    ],
    "peers add-key": ["peers", "add-key", "DE", "--public-key", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo="],
    "peers disable": ["peers", "disable", "Germany"],
    "peers enable": ["peers", "enable", "D E"],
    "peers resequence": ["peers", "resequence", "DE", "--from", "0"],
    "peers quota": ["peers", "quota", "DE", "--bytes", "262143"],  # below one envelope: a notice refused for ever
    "notices": ["notices", "--recipient", "Germany"],
    "trace-requests": ["trace-requests", "--direction", "sideways"],
    "status": ["status", "--json=yes"],  # a flag takes no value
    "import": ["import", "{tmp}/records.csv"],  # a file of binary garbage, written by the test
    "export": ["export", "{tmp}/records.csv", "--country", "Austria"],
    "idempotency prune": ["idempotency", "prune", "--older-than", "0"],
    "journal verify": ["journal", "verify", "--json=yes"],  # a flag takes no value
}


def commands_of(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    """Every command of ``group`` and its subgroups, by its path (``keys rotate``)."""
    for name, command in group.commands.items():
        path = f"{prefix} {name}".strip()
        if isinstance(command, click.Group):
            yield from commands_of(command, path)
        else:
            yield path, command


def _takes_input(command: click.Command) -> bool:
    return any(param.name != "help" for param in command.params)


def test_every_command_with_input_has_a_bad_input_case() -> None:
    commands = {path for path, command in commands_of(main) if _takes_input(command)}
    assert commands
    assert commands == set(CASES) - {""}


@pytest.fixture
def env(database: str, home: Path, initialised: bootstrap.Initialised) -> dict[str, str]:
    return {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), **database_env(database)}


@pytest.mark.parametrize("command", sorted(CASES), ids=lambda command: command or "firearms")
def test_bad_input_is_one_line_and_changes_nothing(
    command: str, env: dict[str, str], database: str, tmp_path: Path
) -> None:
    (tmp_path / "records.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in CASES[command]]
    files = sorted(tmp_path.rglob("*"))
    before = changes_at(database)
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # click's or _fail's exit, not a crash
    assert "Traceback" not in result.output
    assert result.stdout == ""
    # One line says what is wrong: ours ("firearms: error: ...") or click's usage error ("Error: ..."); the
    # others are click's usage and hint lines, or progress ("importing records.csv").
    errors = [line for line in result.stderr.splitlines() if line.startswith(("firearms: error:", "Error:"))]
    assert len(errors) == 1, result.stderr
    assert changes_at(database) == before
    assert sorted(tmp_path.rglob("*")) == files


# An argument that is not UTF-8 text: Python hands a byte that is not UTF-8 (a Latin-1 terminal's "ü", 0xFC) to
# the program as a lone surrogate (PEP 383). It reached the database, which failed with a traceback.
NOT_UTF8 = "M\udcfcller"


@pytest.mark.parametrize(
    "args",
    [
        ["token", "create", "--role", "auditor", "--name", NOT_UTF8],
        ["token", "revoke", NOT_UTF8],
        ["keys", "revoke", NOT_UTF8, "--reason", "leaked"],
        ["keys", "cancel", NOT_UTF8, "--reason", "by mistake"],
        ["keys", "replace", "--reason", NOT_UTF8],
        ["peers", "disable", NOT_UTF8],
        ["peers", "add-key", NOT_UTF8, "--public-key", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"],
        ["--state", NOT_UTF8, "token", "list"],
    ],
    ids=lambda args: " ".join(arg for arg in args if arg != NOT_UTF8),
)
def test_an_argument_that_is_not_utf8_is_one_line_and_changes_nothing(
    args: list[str], env: dict[str, str], database: str
) -> None:
    before = changes_at(database)
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, (result.exception, result.output)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "UTF-8" in errors[0]
    assert "\\udcfc" in errors[0]  # shown escaped, as the terminal cannot print it
    assert changes_at(database) == before
