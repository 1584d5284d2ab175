"""The overview run by an account that may not look into the home's keys folder (README "Status").

``firearms status`` looks whether the key files are in ``FIREARMS_HOME/keys``; an operator may run it as an account
other than the service's (the folder is the service's, mode 0700). ``Path.exists()`` in Python 3.11 raises
``PermissionError`` where the folder may not be searched: the command ended in a traceback. The tests run as root,
whom no mode stops, so the overview is read in a child process that connects first and then gives up root for
``nobody`` (the folder stays root's, 0700).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firearms import bootstrap, keys
from firearms.settings import Settings

NOBODY = 65534
READ_AS_NOBODY = """
import asyncio, json, os, sys
from pathlib import Path
import msgspec
from firearms import db, status
from firearms.settings import Settings

async def main() -> None:
    conn = await db.connect(sys.argv[1])
    os.setgid(65534)
    os.setuid(65534)
    found = await status.read_status(conn, Settings(state="AT", home=Path(sys.argv[2]), database_url=sys.argv[1]))
    print(msgspec.json.encode(found).decode())

asyncio.run(main())
"""


@pytest.fixture
def searchable_home() -> Iterator[Path]:
    """A home in a folder anyone may pass through (0711), beside the system's temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="fh-"))
    folder.chmod(0o711)
    home = folder / "home"
    home.mkdir(mode=0o711)
    yield home
    shutil.rmtree(folder, ignore_errors=True)


def _read_as_nobody(database: str, home: Path) -> dict[str, Any]:
    done = subprocess.run(  # our own interpreter and script, one short child
        [sys.executable, "-c", READ_AS_NOBODY, database, str(home)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[2],
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


async def test_an_account_that_may_not_search_the_keys_folder_gets_cannot_tell_not_a_traceback(
    settings: Settings, database: str, searchable_home: Path
) -> None:
    """The files it cannot look for are named as such, never as missing, and the overview still comes."""
    assert os.geteuid() == 0  # the suite runs as root: the child gives root up
    own = msgspec.structs.replace(settings, home=searchable_home)
    await bootstrap.initialise(own, database)
    folder = keys.keys_folder(searchable_home)
    assert folder.stat().st_mode & 0o777 == 0o700
    found = _read_as_nobody(database, searchable_home)
    key_id = found["keys"]["key_id"]
    assert found["keys"]["missing_key_files"] == []
    assert found["keys"]["unchecked_key_files"] == [keys.key_file(key_id)]
    (item,) = [item for item in found["attention"] if item["code"] == "signing-key-unchecked"]
    assert item["reason"].startswith(f"cannot tell whether the private key file {key_id}.pem (the key in use) is in")
    assert "Permission denied" in item["reason"]


async def test_an_account_that_may_not_search_the_home_gets_cannot_tell_for_the_restore_and_the_keys(
    settings: Settings, database: str, searchable_home: Path
) -> None:
    """The home itself the service's alone (0700, as a restore makes it): whether a restore failed cannot be told."""
    own = msgspec.structs.replace(settings, home=searchable_home)
    await bootstrap.initialise(own, database)
    searchable_home.chmod(0o700)  # noqa: ASYNC240  # one call, before the child runs
    found = _read_as_nobody(database, searchable_home)
    assert found["keys"]["unchecked_key_files"] == [keys.key_file(found["keys"]["key_id"])]
    codes = [item["code"] for item in found["attention"]]
    assert codes[:2] == ["restore-unchecked", "signing-key-unchecked"]
    assert found["attention"][0]["reason"].startswith("cannot tell whether a restore into this home failed its checks")
