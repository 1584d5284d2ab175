"""``firearms serve`` on a home where the embedded PostgreSQL cannot be set up or started: one line, exit 1.

What a full disk or a damaged ``pgdata`` does to ``initdb`` or ``pg_ctl start`` (README "When the database is
slow or gone"): the operator gets the program's own reason in one line, not a traceback and the wheel's log.
A full disk cannot be made here without privileges; a ``pgdata`` that ``initdb`` refuses, and one the server
refuses to start on, take the same two ways out.
"""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING

import pytest

from firearms.embedded import client_program
from tests.e2e.test_serve import clean_env, free_port, run_cli

if TYPE_CHECKING:
    from pathlib import Path


# the wheel's PostgreSQL major version, as its ``postgres --version`` says it
SERVER_MAJOR = re.sub(
    r"^.*PostgreSQL\) (\d+).*$",
    r"\1",
    subprocess.run(
        [client_program("postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip(),
)


def _one_line(short_tmp: Path, home: Path) -> str:
    done = run_cli(clean_env(STATE="AT", HOME=str(home), PORT=str(free_port())), "serve")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("firearms: error: the embedded PostgreSQL in "), lines[0]
    assert str(home / "pgdata") in lines[0]
    return lines[0]


def test_a_pgdata_initdb_cannot_set_up_is_one_line_with_initdbs_reason(short_tmp: Path) -> None:
    """A ``pgdata`` folder that holds files but no database (a copy cut short, a disk that filled up during
    initdb): initdb refuses it, and its reason is the line."""
    home = short_tmp / "home"
    (home / "pgdata").mkdir(parents=True, mode=0o700)
    (home / "pgdata" / "half-copied").write_text("not a database")
    line = _one_line(short_tmp, home)
    assert "could not be set up" in line
    assert "initdb: error:" in line
    assert "not empty" in line


def test_a_pgdata_the_server_will_not_start_on_is_one_line_with_the_servers_reason(short_tmp: Path) -> None:
    """A ``pgdata`` the server refuses (here: a damaged control file; a full disk is another ``FATAL``):
    ``pg_ctl`` only says "could not start server"; the line is the server log's ``FATAL``."""
    home = short_tmp / "home"
    done = run_cli(clean_env(STATE="AT", HOME=str(home), PORT=str(free_port())), "migrate")
    assert done.returncode == 0, done.stderr
    (home / "pgdata" / "global" / "pg_control").write_bytes(b"\0" * 8192)
    line = _one_line(short_tmp, home)
    assert "did not start" in line
    assert "FATAL:" in line


@pytest.mark.parametrize(
    ("made_by", "way"),
    [
        (
            "17",
            "run 'firearms backup PATH' with an installation whose embedded PostgreSQL is 17, then 'firearms "
            "restore PATH' with this one into a new FIREARMS_HOME",
        ),
        (
            "9.6",
            "run 'firearms backup PATH' with an installation whose embedded PostgreSQL is 9.6, then 'firearms "
            "restore PATH' with this one into a new FIREARMS_HOME",
        ),
        ("19", "run this home with an installation whose embedded PostgreSQL is 19 or later"),
    ],
)
def test_a_pgdata_of_another_major_version_is_refused_saying_how_to_move_its_records(
    short_tmp: Path, made_by: str, way: str
) -> None:
    """Records outlive a PostgreSQL major version (ten to thirty years): a home made by another major version than
    the installed wheel's cannot be opened by its server. The line names both versions and the way over (a backup
    made by the old version restores into a new home under the new one), and the home is left as it was."""
    home = short_tmp / "home"
    done = run_cli(clean_env(STATE="AT", HOME=str(home), PORT=str(free_port())), "migrate")
    assert done.returncode == 0, done.stderr
    (home / "pgdata" / "PG_VERSION").write_text(f"{made_by}\n")
    before = _listing(home / "pgdata")
    line = _one_line(short_tmp, home)
    assert line == (
        f"firearms: error: the embedded PostgreSQL in {home / 'pgdata'} was made by PostgreSQL {made_by}, and this"
        f" installation's is PostgreSQL {SERVER_MAJOR}, which cannot open it (nothing was changed): {way}"
    )
    assert _listing(home / "pgdata") == before


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` with its size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_pgdata_on_a_disk_that_is_not_mounted_is_one_line(short_tmp: Path) -> None:
    """``pgdata`` a link to a data disk that is not mounted (a read-only file system fails the same way, with
    the system's reason): the wheel's own error, in one line."""
    home = short_tmp / "home"
    home.mkdir(mode=0o700)
    disk = short_tmp / "d"  # short: the socket's path through the link must fit 107 bytes under xdist's popen-gwN/
    (home / "pgdata").symlink_to(disk / "pgdata")
    line = _one_line(short_tmp, home)
    assert "could not be started" in line
    assert str(disk) in line
