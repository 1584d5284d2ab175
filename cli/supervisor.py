"""``firearms serve --workers N``: N API processes on one port, each listening on its own socket.

The ``serve`` process becomes the supervisor. It keeps what only one process may do: it owns the
embedded PostgreSQL (started or joined once, stopped by its exit hook), initialises the home once,
and runs the background worker once, in its own event loop. The API processes
(``python -m cli serve-process``, settings from the environment, the resolved database URL among
them) only connect to the database. Each binds ``host:port`` with ``SO_REUSEPORT``, so Linux spreads
incoming connections over the processes by a hash of the connection. uvicorn's ``workers=`` shares
one socket instead, and one process then tends to accept every keep-alive connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

import click

from api.app import LONG_POOL_SIZE
from cli import common
from cli.main import _api_server, _check_port, main
from firearms import db
from firearms.worker import POOL_SIZE as WORKER_POOL_SIZE
from firearms.worker import run_worker

if TYPE_CHECKING:
    import uvicorn

    from firearms.settings import Settings

__all__ = ["check_port", "reuseport_sockets", "serve_process", "supervise"]

log = logging.getLogger("firearms.serve")

_COMMAND = "serve-process"
_BACKLOG = 2048  # uvicorn's default
_GRACE = 30.0  # seconds an API process has to finish its requests after SIGTERM, before SIGKILL
_RESTARTS = 5  # unexpected exits replaced within _RESTART_WINDOW; one more and everything stops
_RESTART_WINDOW = 60.0


def reuseport_sockets(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to every address of ``host:port`` with ``SO_REUSEPORT``, not yet listening.

    Each API process binds its own: Linux lets processes of one user bind the same port this way and
    hands every new connection to one of their listening sockets by a hash of the connection.

    Raises:
        OSError: the address cannot be bound (in use without ``SO_REUSEPORT``, not local, ...).
    """
    bound: list[socket.socket] = []
    seen: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        ):
            if (family, address) in seen:
                continue
            seen.add((family, address))
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:  # as asyncio does: "::" must not also claim the IPv4 port
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound


def check_port(settings: Settings) -> None:
    """Exit with a one-line error when ``host:port`` cannot be bound (the supervisor checks once, up front).

    First without ``SO_REUSEPORT``, as ``serve`` alone binds: with it, a port another ``serve --workers``
    listens on would bind too, and Linux spread the connections over the two registries.
    """
    _check_port(settings)
    try:
        sockets = reuseport_sockets(settings.host, settings.port)
    except OSError as exc:
        common.fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
        return
    for sock in sockets:  # bound but never listening: no connection is ever handed to them
        sock.close()


@main.command(_COMMAND, hidden=True)
@click.pass_context
def serve_process(ctx: click.Context) -> None:
    """One API process of 'firearms serve --workers N', which starts it (settings from the environment)."""
    settings = common.settings_from(ctx, run_worker=False)
    common.refuse_failed_restore(settings, "serve it")  # serve refused it before starting this; a note made since
    url = settings.database_url
    if url is None:
        common.fail(f"{_COMMAND} is started by 'firearms serve --workers N', which sets FIREARMS_DATABASE_URL", 2)
        return
    common.log_setup()
    try:
        sockets = reuseport_sockets(settings.host, settings.port)
        for sock in sockets:
            sock.listen(_BACKLOG)
    except OSError as exc:
        common.fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
        return
    server = _api_server(settings, url)
    threading.Thread(target=_stop_with_supervisor, args=(server,), name="supervisor-watch", daemon=True).start()
    log.info("API process %d on http://%s:%d", os.getpid(), settings.host, settings.port)
    server.run(sockets=sockets)


def _stop_with_supervisor(server: uvicorn.Server) -> None:
    """Shut the API process down when the supervisor's end of its stdin closes: the supervisor is gone.

    The supervisor never writes to that pipe; the kernel closes it when the supervisor exits in any
    way, SIGKILL included, so no API process outlives it holding the port.
    """
    with contextlib.suppress(OSError):
        while os.read(0, 4096):
            pass
    server.should_exit = True


def supervise(settings: Settings, url: str) -> int:
    """Run ``settings.workers`` API processes, and the worker, until SIGTERM or SIGINT.

    Returns:
        The exit status: 0 after a signal, 1 when API processes died more than ``_RESTARTS`` times
        within a minute.
    """
    return asyncio.run(_Supervisor(settings, url).run())  # uvloop cannot start a process in a new process group


class _Supervisor:
    """The API processes of one ``serve``: started, replaced when they die, stopped on a signal."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.url = url
        self.stop = asyncio.Event()
        self.failed = False
        self.exits: collections.deque[float] = collections.deque()
        self.environment = {
            # not the owner's login: the API processes connect as the service (README "Database roles")
            **{name: value for name, value in os.environ.items() if name != "FIREARMS_MIGRATION_DATABASE_URL"},
            "FIREARMS_STATE": settings.state,
            "FIREARMS_HOME": str(settings.home),
            "FIREARMS_HOST": settings.host,
            "FIREARMS_PORT": str(settings.port),
            "FIREARMS_DATABASE_URL": url,  # the API processes join the database, never start or stop it
            "FIREARMS_WORKERS": "1",
        }

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        await self._warn_on_connection_budget()
        pool = await db.create_pool(self.url, max_size=WORKER_POOL_SIZE) if self.settings.run_worker else None
        worker = asyncio.create_task(run_worker(pool, self.settings, self.stop)) if pool is not None else None
        log.info("supervising %d API processes on port %d", self.settings.workers, self.settings.port)
        try:
            # every slot runs to its end (an error in one stops the others in order), then the first error
            ended = await asyncio.gather(
                *(self._keep_one() for _ in range(self.settings.workers)), return_exceptions=True
            )
        finally:
            self.stop.set()
            if worker is not None:
                await worker
            if pool is not None:
                await pool.close()
        for outcome in ended:
            if isinstance(outcome, BaseException):
                raise outcome
        return 1 if self.failed else 0

    async def _warn_on_connection_budget(self) -> None:
        conn = await db.connect(self.url)
        try:
            limit = int(await conn.fetchval("SHOW max_connections"))
        finally:
            await conn.close()
        worker = WORKER_POOL_SIZE if self.settings.run_worker else 0
        needed = self.settings.workers * (self.settings.pool_size + LONG_POOL_SIZE) + worker
        if needed > limit:
            log.warning(
                "%d API processes x (%d connections + %d for long jobs) (+ the worker's %d) may open %d connections;"
                " PostgreSQL allows %d (max_connections)",
                self.settings.workers,
                self.settings.pool_size,
                LONG_POOL_SIZE,
                worker,
                needed,
                limit,
            )

    async def _keep_one(self) -> None:
        """Keep one API process running until the supervisor stops; any error here stops them all."""
        try:
            while not self.stop.is_set():
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "cli",
                    _COMMAND,
                    env=self.environment,
                    stdin=asyncio.subprocess.PIPE,  # its closing tells the process the supervisor is gone
                    process_group=0,  # a terminal's Ctrl-C reaches the supervisor only, which stops them in order
                )
                log.info("started API process %d", process.pid)
                if not await self._watch(process):
                    return
        except BaseException:
            self.stop.set()
            raise

    async def _watch(self, process: asyncio.subprocess.Process) -> bool:
        """Wait until ``process`` exits or the supervisor stops; whether to start another one."""
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if exited.done():
            return not self.stop.is_set() and self._replaceable(process.pid, exited.result())
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)  # uvicorn's graceful shutdown
        _, pending = await asyncio.wait({exited}, timeout=_GRACE)
        if pending:
            log.warning("API process %d did not stop within %.0f s: killing it", process.pid, _GRACE)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await exited
        return False

    def _replaceable(self, pid: int, status: int) -> bool:
        """Record an unexpected exit; ``False`` (and stop everything) when there were too many lately."""
        now = time.monotonic()
        self.exits.append(now)
        while self.exits[0] <= now - _RESTART_WINDOW:
            self.exits.popleft()
        how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        with contextlib.suppress(ValueError):
            how = f"killed by {signal.Signals(-status).name}" if status < 0 else how
        if len(self.exits) > _RESTARTS:
            log.error(
                "API process %d ended (%s): more than %d ends in %.0f s, shutting down",
                pid,
                how,
                _RESTARTS,
                _RESTART_WINDOW,
            )
            self.failed = True
            self.stop.set()
            return False
        log.warning("API process %d ended unexpectedly (%s): starting another", pid, how)
        return True
