"""``firearms`` and its commands (DESIGN §10)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import click
import msgspec

from cli import common
from firearms import bootstrap, db, idempotency, journal, keys, restore, tokens
from firearms.errors import FirearmsError
from firearms.exchange import trust
from firearms.signing import b64url_encode
from firearms.text_rules import counted, printable
from firearms.worker import POOL_SIZE as WORKER_POOL_SIZE
from firearms.worker import run_worker

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    import uvicorn

    from firearms.settings import Settings

__all__ = ["main"]

T = TypeVar("T")


def _announce_first_admin(done: bootstrap.Initialised) -> None:
    """On the first start of a home (by ``serve`` or ``worker``), show the first admin token, once."""
    if done.admin_token:
        click.echo(
            f"First start: an admin token was created. It is shown only this once:\n{done.admin_token}", err=True
        )


def _warn_on_service_role(url: str) -> None:
    """Warn, in the log, when the service connects as a superuser or the tables' owner (README "Database roles").

    A single ``FIREARMS_DATABASE_URL`` made by an earlier version still works: it is warned about, not refused.
    """

    async def check() -> str | None:
        conn = await common.connect(url)
        try:
            return await bootstrap.service_role_problem(conn)
        finally:
            await conn.close()

    problem = common.run(check())
    if problem is not None:
        logging.getLogger("firearms.serve").warning("%s", problem)


def _run_on_uvloop(work: Coroutine[Any, Any, T]) -> T:
    """Run the worker on uvloop, the loop ``serve`` runs on (asyncio's where uvloop is not installed)."""
    try:
        import uvloop  # noqa: PLC0415  # not installed on Windows
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


class _Registry(click.Group):
    """The ``firearms`` group: every argument is text, checked before any command reads it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Refuse an argument that is not UTF-8 (a usage error, exit 2), whichever command it is for.

        Python hands a byte that is not UTF-8 (a Latin-1 terminal's ``ü``) over as a lone surrogate (PEP 383):
        it would reach the database or a file and fail there with a traceback.
        """
        for arg in args:
            if any("\ud800" <= char <= "\udfff" for char in arg):
                raise click.UsageError(
                    f"the argument '{printable(arg)}' is not UTF-8 text: set the terminal to UTF-8", ctx
                )
        return super().parse_args(ctx, args)


@click.group(cls=_Registry, context_settings={"help_option_names": ["-h", "--help"]})
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
            # No "Server: uvicorn": naming the software and so its known flaws helps no client (README "Security").
            # Date stays: RFC 9110 §6.6.1 asks an origin server with a clock for it, and caches read it.
            server_header=False,
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
        common.fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")


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
    settings = common.settings_from(ctx, host=host, port=port, workers=workers, run_worker=False if no_worker else None)
    common.refuse_failed_restore(settings, "serve it")
    common.log_setup()
    if settings.workers > 1:
        from cli.supervisor import check_port, supervise  # noqa: PLC0415

        check_port(settings)  # before the database starts: a port in use is a one-line error
    else:
        _check_port(settings)
    urls = common.database_urls(settings, new_home=True)
    done = common.run(bootstrap.initialise(settings, urls.owner, common.connect))
    _announce_first_admin(done)
    _warn_on_service_role(urls.service)
    url = urls.service
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
    settings = common.settings_from(ctx)
    common.refuse_failed_restore(settings, "serve it")
    common.log_setup()
    urls = common.database_urls(settings, new_home=True)
    _announce_first_admin(
        common.run(bootstrap.initialise(settings, urls.owner, common.connect))
    )  # as serve: its errors in one line
    _warn_on_service_role(urls.service)
    url = urls.service

    async def run() -> None:
        pool = await common.open_pool(url, max_size=WORKER_POOL_SIZE)
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
        common.fail(exc.detail)


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply pending migrations."""
    # restore applied this version's migrations: a later version's would change the data under inspection
    applied = common.with_database(common.settings_for_change(ctx), db.migrate, new_home=True, owner=True)
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
    settings = common.settings_for_change(ctx)
    name = name.strip()
    try:
        msgspec.convert(name, tokens.TokenName)  # the rule the API applies to a token's name
    except msgspec.ValidationError:
        common.fail("--name must be 1-200 printable characters")

    async def work(conn: db.Conn) -> str:
        async with conn.transaction():
            secret, _ = await tokens.issue_token(conn, role=role, name=name, actor=common.cli_actor())
        return secret

    click.echo(common.with_database(settings, work))


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

    for info in common.with_database(common.settings_from(ctx), work):
        click.echo(msgspec.json.encode(info).decode())


@token.command("revoke")
@click.argument("token_id", type=click.UUID)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: Any) -> None:
    """Revoke a token by its id (from 'token list')."""

    async def work(conn: db.Conn) -> tokens.TokenInfo:
        async with conn.transaction():
            return await tokens.revoke_token(conn, token_id, actor=common.cli_actor())

    info = common.with_database(common.settings_for_change(ctx), work)
    click.echo(f"revoked {info.token_id} ({info.name}, {info.role})")


@main.group("keys")
def keys_group() -> None:
    """This registry's signing keys."""


@keys_group.command("show")
@click.pass_context
def keys_show(ctx: click.Context) -> None:
    """JSON on stdout: state, key_id and public_key of the current key, and every key ever used."""
    settings = common.settings_from(ctx)

    async def work(conn: db.Conn) -> dict[str, Any]:
        current = await keys.current_signing_key(conn, settings.home)
        return {
            "state": settings.state,
            "key_id": current.key_id,
            "public_key": b64url_encode(current.public_key),
            "keys": msgspec.to_builtins(await keys.list_keys(conn)),
        }

    click.echo(msgspec.json.encode(common.with_database(settings, work)).decode())


@main.group("journal")
def journal_group() -> None:
    """The tamper-evident journal."""


@journal_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="the verdict as one JSON line on stdout (exit code unchanged)")
@click.option(
    "--since-checkpoint",
    is_flag=True,
    help="walk only from the latest signed checkpoint at or before where the last verification reached: its"
    " signature, the stored hash there against the signed head hash, and every entry and checkpoint after it."
    " An entry changed before that checkpoint with the stored hashes left alone is found only by the full"
    " verification. The whole chain is walked when no verification has reached a checkpoint yet.",
)
@click.pass_context
def journal_verify(ctx: click.Context, *, as_json: bool, since_checkpoint: bool) -> None:
    """Recompute the chain: exit 0 when intact, else 1 naming the first bad entry.

    The whole chain by default (about 17 s a million entries). An intact verification is journaled
    (journal.verified, with the head it reached), and so is a broken one (journal.verification-failed, where it
    broke: 'firearms status' flags it). Run --since-checkpoint daily and the full verification
    monthly: the incremental one takes time in the entries since the last verification, not in the journal's age.
    On a database that takes no write (a standby, one set read-only) what is sealed is walked, the verdict printed
    and nothing written: exit 1, naming the entries left unsealed.
    """
    settings = common.settings_from(ctx)
    # a failed restore's journal stays as the archive holds it (restore does not seal): verified, not linked on
    failed = restore.failed_restore(settings.home) is not None

    def show(line: str) -> None:  # a journal of decades takes minutes: how far, on stderr, now and then
        click.echo(f"firearms: {line}", err=True)

    async def work(conn: db.Conn) -> tuple[journal.Verification, journal.Unrecorded | None]:
        # a read-only copy (a standby, a database set read-only) or a role that may not write refuses the seal: what is
        # sealed is still walked, and nothing is written (README "The journal")
        refused = None if failed else await journal.seal_or_why_not(conn)
        result = await journal.verify(
            conn,
            state=settings.state,
            seal_first=False,
            progress=journal.progress_lines(show),
            since_checkpoint=since_checkpoint,
        )
        # intact: the next --since-checkpoint starts from what it reached; broken: the overview flags it. A failed
        # restore's home takes no write. The verdict is what the operator needs: its record failing must not hide it
        if failed:
            return result, None
        if refused is not None:
            verdict = msgspec.structs.replace(result, seal_refused=True)
            return verdict, journal.Unrecorded(why=refused, unsealed=result.pending)
        return result, await journal.record_verification_or_why_not(conn, actor=common.cli_actor(), result=result)

    result, unrecorded = common.with_database(settings, work)
    if unrecorded is not None and not result.intact:
        show(unrecorded.line("the broken verification", common.UNFLAGGED_BREAK))
    _verdict(result, as_json=as_json, since_checkpoint=since_checkpoint, show=show)
    if unrecorded is not None:  # intact, said; not recorded: not a clean run (as backup --verify)
        common.fail(unrecorded.line("the journal verification", common.UNCOUNTED_VERIFICATION))


def _verdict(
    result: journal.Verification, *, as_json: bool, since_checkpoint: bool, show: Callable[[str], None]
) -> None:
    """``journal verify``'s verdict: intact on stdout; broken on stderr, exit 1."""
    if since_checkpoint and result.since_checkpoint is None:
        show("no verification recorded at a checkpoint yet: verifying the whole chain")
    if as_json:  # for monitoring: the members of GET /api/v1/journal/verify
        click.echo(msgspec.json.encode(result).decode())
        if not result.intact:
            sys.exit(1)
        return
    since = f" since checkpoint {result.since_checkpoint}" if result.since_checkpoint is not None else ""
    if result.intact:  # about what is sealed: the line alone must not read as the whole journal when that fell short
        unsealed = (
            " (not sealed: the database takes no write here; the pending entries are not verified)"
            if result.seal_refused
            else ""
        )
        click.echo(
            f"journal intact{since}: {counted(result.entries, 'entry', 'entries')}, "
            f"{counted(result.checkpoints, 'checkpoint')}, {result.pending} pending{unsealed}"
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
    walked = f"walked from checkpoint {result.since_checkpoint}; " if result.since_checkpoint is not None else ""
    click.echo(f"journal BROKEN at {where}: {result.problem} ({walked}{verified} verified before it)", err=True)
    sys.exit(1)


@journal_group.command("checkpoint")
@click.pass_context
def journal_checkpoint(ctx: click.Context) -> None:
    """Seal the journal and sign a checkpoint of its head now."""
    settings = common.settings_for_change(ctx)  # a failed restore's head is not to be signed

    async def work(conn: db.Conn) -> tuple[journal.Checkpoint | None, bool]:
        return await journal.checkpoint_made(conn, state=settings.state, home=settings.home)

    made, created = common.with_database(settings, work)
    if made is None:
        click.echo("journal is empty: nothing to sign")
        return
    click.echo(msgspec.json.encode(made).decode())
    # stdout is the checkpoint either way (kept outside as it is); whether it is new is for the operator
    if created:
        click.echo(f"checkpoint created at seq {made.seq}", err=True)
    else:
        click.echo(f"already checkpointed at seq {made.seq} (nothing journaled since): the stored checkpoint", err=True)


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
        return await idempotency.prune(
            conn, older_than=dt.timedelta(days=days), actor=common.cli_actor(), progress=show
        )

    pruned = common.with_database(common.settings_for_change(ctx), work)
    click.echo(f"pruned {counted(pruned, 'idempotency key')} stored more than {counted(days, 'day')} ago")


import cli.backup  # noqa: E402  # backup and restore: registers itself on main
import cli.exchange  # noqa: E402  # peers, notices, keys rotate/revoke: registers itself on main
import cli.records  # noqa: E402  # import and export: registers itself on main
import cli.status  # noqa: E402  # status: registers itself on main
import cli.supervisor  # noqa: E402  # the API processes of serve --workers N: registers itself on main
import cli.traces  # noqa: E402, F401  # trace-requests: registers itself on main
