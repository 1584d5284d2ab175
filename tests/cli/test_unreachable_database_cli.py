"""Every ``firearms`` command that opens the database, on a real port nobody listens on: one line, exit 1."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import click
import pytest
from click.testing import CliRunner

from cli import main
from firearms.signing import SigningKey, b64url_encode

if TYPE_CHECKING:
    from pathlib import Path

    from firearms import bootstrap

# Every command the CLI has, with the arguments it needs to get as far as opening the database. {out} is a
# file the command may write, {csv} a file to import, {backup} a real backup of a registry (restore reads it
# before it opens the database).
_KEY = b64url_encode(SigningKey.generate().public_key)
_OPENING: dict[str, list[str]] = {
    "serve": ["serve", "--no-worker"],
    "worker": ["worker"],
    "migrate": ["migrate"],
    "token create": ["token", "create", "--role", "auditor", "--name", "Kim"],
    "token list": ["token", "list"],
    "token revoke": ["token", "revoke", "6f1c5b8e-0000-4000-8000-000000000000"],
    "keys show": ["keys", "show"],
    "keys rotate": ["keys", "rotate"],
    "keys switch": ["keys", "switch"],
    "keys revoke": ["keys", "revoke", "k1", "--reason", "lost"],
    "keys cancel": ["keys", "cancel", "k1", "--reason", "lost"],
    "keys replace": ["keys", "replace", "--reason", "restored"],
    "journal verify": ["journal", "verify"],
    "journal checkpoint": ["journal", "checkpoint"],
    "idempotency prune": ["idempotency", "prune", "--older-than", "30"],
    "backup": ["backup", "--unjournaled", "{out}"],
    "restore": ["restore", "{backup}"],
    "peers add": ["peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", _KEY],
    "peers add-key": ["peers", "add-key", "DE", "--public-key", _KEY],
    "peers list": ["peers", "list"],
    "peers disable": ["peers", "disable", "DE"],
    "peers enable": ["peers", "enable", "DE"],
    "peers resequence": ["peers", "resequence", "DE", "--from", "1"],
    "peers quota": ["peers", "quota", "DE", "--notices", "500"],
    "notices": ["notices"],
    "trace-requests": ["trace-requests"],
    "status": ["status"],
    "import": ["import", "{csv}"],
    "export": ["export", "{out}"],
}
# Commands left out, each with its reason.
_NOT_OPENING = {
    # started only by 'serve --workers N' once serve reached the database; its app opens the pool at start
    "serve-process": "internal: started by serve after serve opened the database",
}


@pytest.fixture
def made(database: str, home: Path, initialised: bootstrap.Initialised, tmp_path: Path) -> Path:
    """A backup of the test's registry, made with the CLI (restore checks it before it opens the database)."""
    path = tmp_path / "at.dump"
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), "FIREARMS_DATABASE_URL": database}
    result = CliRunner().invoke(main, ["backup", str(path)], env=env)
    assert result.exit_code == 0, result.output
    return path


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> set[str]:
    found: set[str] = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= _commands(command, (*prefix, name))
        else:
            found.add(" ".join((*prefix, name)))
    return found


def _closed_port() -> int:
    """A loopback port nobody listens on: bound by the system for an instant, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_sweep_names_every_command() -> None:
    assert _commands(main) == set(_OPENING) | set(_NOT_OPENING)


@pytest.mark.parametrize("command", sorted(_OPENING))
def test_a_database_nobody_listens_for_is_one_line_and_exit_1(
    command: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    out = tmp_path / "out.csv"
    csv = tmp_path / "items.csv"
    csv.write_text("kind,serial\n", encoding="utf-8")
    backup = request.getfixturevalue("made") if command == "restore" else tmp_path / "none.dump"
    args = [part.format(out=out, csv=csv, backup=backup) for part in _OPENING[command]]
    env = {
        "FIREARMS_STATE": "AT",
        "FIREARMS_HOME": str(tmp_path / "home"),
        "FIREARMS_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{_closed_port()}/registry",
        "FIREARMS_PORT": str(_closed_port()),  # serve binds it before it opens the database
    }
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    *progress, last = result.stderr.splitlines()  # restore names the archive it checked first
    assert last.startswith("firearms: error: cannot connect to the database"), result.stderr
    assert not any("error" in line for line in progress), result.stderr
    assert len(progress) == (1 if command == "restore" else 0), result.stderr
    assert result.stdout == ""
    assert not out.exists()
