"""Private key files and their folder open to other users are refused, in one line naming the chmod to run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from cli import main
from firearms import keys
from tests.roles import database_env

if TYPE_CHECKING:
    from pathlib import Path

    from firearms import bootstrap

# every command that loads the registry's private key
_LOADING = [["keys", "show"], ["journal", "checkpoint"], ["keys", "rotate"]]


@pytest.fixture
def env(database: str, home: Path, initialised: bootstrap.Initialised) -> dict[str, str]:
    keys._loaded.clear()  # this process read the key when the home was initialised
    return {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), **database_env(database)}


def _key_file(home: Path) -> Path:
    (path,) = keys.keys_folder(home).glob("*.pem")
    return path


def _listing(home: Path) -> list[str]:
    return sorted(item.name for item in keys.keys_folder(home).iterdir())


def test_the_registry_writes_its_key_0600_in_a_folder_0700(env: dict[str, str], home: Path) -> None:
    assert keys.keys_folder(home).stat().st_mode & 0o777 == 0o700
    assert _key_file(home).stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604, 0o620])
@pytest.mark.parametrize("command", _LOADING)
def test_a_key_file_open_to_group_or_others_is_refused_with_the_chmod_to_run(
    env: dict[str, str], home: Path, command: list[str], mode: int
) -> None:
    path = _key_file(home)
    path.chmod(mode)
    before = _listing(home)
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"firearms: error: signing key file {path} is open to group or others")
    assert f"(mode {mode:04o})" in result.stderr
    assert result.stderr.rstrip().endswith(f"run 'chmod 600 {path}'")
    assert result.stdout == ""
    assert _listing(home) == before  # rotate wrote no new key

    path.chmod(0o600)  # what the line says to do
    assert CliRunner().invoke(main, command, env=env).exit_code == 0


@pytest.mark.parametrize("command", _LOADING)
def test_a_keys_folder_open_to_group_or_others_is_refused_with_the_chmod_to_run(
    env: dict[str, str], home: Path, command: list[str]
) -> None:
    folder = keys.keys_folder(home)
    folder.chmod(0o755)
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"the signing keys folder {folder} is open to group or others (mode 0755)" in result.stderr
    assert result.stderr.rstrip().endswith(f"run 'chmod 700 {folder}'")

    folder.chmod(0o700)
    assert CliRunner().invoke(main, command, env=env).exit_code == 0


def test_a_key_file_of_another_user_is_refused(env: dict[str, str], home: Path) -> None:
    path = _key_file(home)
    if os.geteuid() != 0:  # only root can give a file away: another user's 0600 file cannot be read at all
        with pytest.raises(PermissionError):
            os.chown(path, os.geteuid() + 1, -1)
        return
    os.chown(path, 65534, -1)  # nobody
    result = CliRunner().invoke(main, ["keys", "show"], env=env)
    assert result.exit_code == 1, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"signing key file {path} belongs to another user (uid 65534)" in result.stderr
    assert f"run 'chown 0 {path}' and 'chmod 600 {path}'" in result.stderr


@pytest.mark.parametrize("opened", ["file", "folder"])
def test_serve_refuses_to_start_on_a_key_open_to_others(env: dict[str, str], home: Path, opened: str) -> None:
    path = _key_file(home) if opened == "file" else keys.keys_folder(home)
    path.chmod(0o644 if opened == "file" else 0o755)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run(  # a real process: were it not refused, it would serve until the timeout
        [sys.executable, "-m", "cli", "serve", "--no-worker", "--port", str(port)],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("firearms: error: "), done.stderr
    assert last.endswith(f"run 'chmod {'600' if opened == 'file' else '700'} {path}'"), done.stderr
    assert "Started server process" not in done.stderr
