"""An officer's request waits a bounded time for the database: a held lock or a slow statement is a 503 problem.

A border post needs a verdict or a clear problem, not a request that hangs behind a licence amendment's lock
(README "When the database is slow or gone"). The bound is the request transaction's (``api.deps.provide_conn``);
the long jobs that take connections of their own (journal verification, bulk import) are not cut off. Over real
HTTP: Litestar's test client runs the app so that the test cannot act while a request waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from litestar import Litestar

from api import create_app, deps
from firearms import bootstrap, db, journal, keys, tokens
from firearms.embedded import ensure_database, start_embedded, stop_embedded
from firearms.exchange import rotation
from firearms.settings import Settings
from tests.api.test_items_api import event_body, rifle
from tests.check_helpers import NUMBER, at_licence, check_body, receive
from tests.conftest import TokenFactory
from tests.e2e.test_check_race import free_port
from tests.exchange_fixtures import receiver
from tests.exchange_util import AT_KEY, envelope


@contextlib.asynccontextmanager
async def registry(settings: Settings, app: Litestar | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The registry of ``settings`` (its pool size as given), or ``app``, under uvicorn on a loopback port, in this
    event loop (the test may use the app's pools)."""
    port = free_port()
    app = app or create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task


async def waited_longer_than(conn: db.Conn, seconds: float) -> None:
    """Until another session of this database has waited on a lock for more than ``seconds``."""
    query = """SELECT count(*) FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock'
                  AND clock_timestamp() - query_start > make_interval(secs => $1)"""
    deadline = time.monotonic() + 30
    while True:
        await conn.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is read once
        if await conn.fetchval(query, seconds) >= 1:
            return
        assert time.monotonic() < deadline, "no request waited on the lock that long"
        await asyncio.sleep(0.02)


async def check_behind_held_licence(
    client: httpx.AsyncClient, conn: db.Conn, body: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, float]:
    """A check posted while ``conn`` holds the licence's row (8 s at most): its answer and the seconds it took."""
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM licence WHERE number = $1 FOR UPDATE", NUMBER)
        started = time.monotonic()
        response = await asyncio.wait_for(client.post("/api/v1/checks", json=body, headers=headers), timeout=8)
        return response, time.monotonic() - started


@pytest.mark.parametrize(("lock_timeout", "statement_timeout"), [(0.3, 10.0), (10.0, 0.3)])
async def test_a_check_behind_a_held_licence_lock_is_a_prompt_503_and_records_nothing(
    settings: Settings,
    initialised: bootstrap.Initialised,
    conn: db.Conn,
    auth: TokenFactory,
    lock_timeout: float,
    statement_timeout: float,
) -> None:
    """A licence row locked by a long amendment (or a slow disk) held a customs check for as long as it lasted:
    the border post saw nothing. Past the lock or the statement bound it is 503 ``database-timeout`` with a
    ``Retry-After``, nothing is recorded, and the officer's retry with the same ``check_id`` clears once."""
    await receive(conn, at_licence(), state="CZ")
    headers = await auth("customs-officer")
    body = check_body(lines=[{"line": 2, "quantity": 100}])
    bounded = msgspec.structs.replace(
        settings, state="CZ", lock_timeout=lock_timeout, statement_timeout=statement_timeout
    )
    async with registry(bounded) as cz:
        # without a bound the check waited as long as the lock was held: here, for ever
        response, waited = await check_behind_held_licence(cz, conn, body, headers)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
        problem = response.json()
        assert problem["type"].endswith("/database-timeout")
        assert problem["title"] == "The database did not answer in time"
        assert waited < 5, waited
        assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0
        assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0

        first = await cz.post("/api/v1/checks", json=body, headers=headers)
        again = await cz.post("/api/v1/checks", json=body, headers=headers)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["verdict"] == "clear"
    assert first.content == again.content
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 1
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 100


async def test_a_check_that_gets_the_lock_within_the_bound_is_answered(
    settings: Settings, initialised: bootstrap.Initialised, conn: db.Conn, auth: TokenFactory
) -> None:
    """The bound is a wait for one lock, not a deadline a normal check could miss: a lock released within it (a
    short amendment, here about a second) is waited for and the check clears."""
    await receive(conn, at_licence(), state="CZ")
    headers = await auth("customs-officer")
    body = check_body(lines=[{"line": 2, "quantity": 100}])
    async with registry(msgspec.structs.replace(settings, state="CZ")) as cz:
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM licence WHERE number = $1 FOR UPDATE", NUMBER)
            pending = asyncio.create_task(cz.post("/api/v1/checks", json=body, headers=headers))
            await waited_longer_than(conn, 1.0)
        response = await pending
    assert response.status_code == 200, response.text
    assert response.json()["verdict"] == "clear"


async def test_journal_verification_is_not_cut_off_by_the_request_bound(
    settings: Settings, initialised: bootstrap.Initialised, conn: db.Conn, auth: TokenFactory
) -> None:
    """Long jobs take connections of their own (``api.deps.connection``) without the officer bound: a journal
    verification that waits (here on a lock, as long as a journal of decades takes to hash) finishes."""
    headers = await auth("auditor")
    async with registry(msgspec.structs.replace(settings, lock_timeout=0.1, statement_timeout=0.1)) as client:
        async with conn.transaction():
            await conn.execute("LOCK TABLE journal_link IN ACCESS EXCLUSIVE MODE")
            pending = asyncio.create_task(client.get("/api/v1/journal/verify", headers=headers))
            await waited_longer_than(conn, 0.5)
        response = await pending
    assert response.status_code == 200, response.text
    assert response.json()["intact"] is True


@pytest.mark.parametrize(
    ("method", "path", "table"),
    [
        ("POST", "/api/v1/journal/checkpoints", "journal_link"),  # sealing after an import links a million entries
        ("GET", "/api/v1/items/export", "item"),  # the whole registry, streamed
    ],
    ids=["checkpoint", "export"],
)
async def test_the_other_long_jobs_are_not_cut_off_by_the_request_bound(
    settings: Settings,
    initialised: bootstrap.Initialised,
    conn: db.Conn,
    auth: TokenFactory,
    method: str,
    path: str,
    table: str,
) -> None:
    """A checkpoint and an export take their connection from ``long_pool`` too: one that waits (here on a lock)
    finishes. Only the journal verification was shown so; the pools' settings alone did not show which pool a
    handler takes (taken from the API's pool, each was a 503 ``database-timeout`` or a cut stream here)."""
    headers = await auth("admin")
    async with registry(msgspec.structs.replace(settings, lock_timeout=0.1, statement_timeout=0.1)) as client:
        async with conn.transaction():
            await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            pending = asyncio.create_task(client.request(method, path, headers=headers))
            await waited_longer_than(conn, 0.5)
        response = await pending
    assert response.status_code in {200, 201}, response.text
    if table == "item":
        assert response.text.lstrip("\ufeff").endswith("import_stamped\n")  # the header, and the stream ended whole
    else:
        assert response.json()["seq"] >= 1


async def test_a_request_that_finds_every_pooled_connection_busy_is_a_503_database_timeout(
    settings: Settings,
    initialised: bootstrap.Initialised,
    conn: db.Conn,
    auth: TokenFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every connection of the pool taken (here the one of a pool of one, by a check waiting on a licence): the next
    request waits ``ACQUIRE_TIMEOUT`` (10 s; 2 s here) for one, then is told ``database-timeout``. It was told
    ``database-unavailable``, the database being down, which it was not (``TimeoutError`` is an ``OSError``)."""
    monkeypatch.setattr(deps, "ACQUIRE_TIMEOUT", 2.0)
    await receive(conn, at_licence(), state="CZ")
    headers = await auth("customs-officer")
    body = check_body(lines=[{"line": 2, "quantity": 100}])
    one = msgspec.structs.replace(settings, state="CZ", pool_size=1, lock_timeout=60.0, statement_timeout=60.0)
    async with registry(one) as cz:
        await cz.get("/api/v1/me", headers=headers)  # the pool's one connection is open
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM licence WHERE number = $1 FOR UPDATE", NUMBER)
            waiting = asyncio.create_task(cz.post("/api/v1/checks", json=body, headers=headers))
            await waited_longer_than(conn, 0.0)
            started = time.monotonic()
            response = await cz.get("/api/v1/me", headers=headers)
            waited = time.monotonic() - started
        assert (await waiting).status_code == 200
    assert response.status_code == 503, response.text
    assert response.json()["type"].endswith("/database-timeout")
    assert response.headers["retry-after"] == "1"
    assert 1.5 < waited < 9, waited
    assert response.json()["detail"].startswith("no database connection within 2 s;")


async def test_health_answers_within_its_bound_when_the_database_host_freezes(short_tmp: Path) -> None:
    """A server that takes no more packets and closes nothing (a stopped VM, a dead link; here every process of
    the server stopped with SIGSTOP): ``/health`` waited as long as the operating system kept the connection, and
    a load balancer behind it. It is 503 ``database-unavailable`` within its 5 s."""
    home = short_tmp / "home"
    url = await ensure_database(start_embedded(home))
    frozen: list[int] = []
    try:
        settings = Settings(state="AT", home=home, database_url=url, run_worker=False)
        await bootstrap.initialise(settings, url)
        async with registry(settings) as client:
            assert (await client.get("/health")).status_code == 200  # a pooled connection open and idle
            conn = await db.connect(url)
            try:  # the server's processes: the postmaster and every backend and helper it started
                backends = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
            finally:
                await conn.close()
            frozen = [int((home / "pgdata" / "postmaster.pid").read_text().split()[0])]
            frozen += [row["pid"] for row in backends]
            try:  # thawed before the app stops: its shutdown waits for the requests still in flight
                for pid in frozen:
                    os.kill(pid, signal.SIGSTOP)
                started = time.monotonic()
                response = await asyncio.wait_for(client.get("/health"), timeout=15)
                waited = time.monotonic() - started
            finally:
                for pid in frozen:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
            assert response.status_code == 503, response.text
            assert response.json()["type"].endswith("/database-unavailable")
            assert response.headers["retry-after"] == "5"
            assert waited < 8, waited
            assert (await client.get("/health")).status_code == 200  # and healthy again once the host is back
    finally:
        stop_embedded(home)


def _server_processes(home: Path, backends: list[int]) -> list[int]:
    """The embedded server's postmaster and the given backends: what a frozen host stops."""
    return [int((home / "pgdata" / "postmaster.pid").read_text().split()[0]), *backends]


@contextlib.contextmanager
def _frozen(pids: list[int]) -> Iterator[None]:
    """Every one of ``pids`` stopped (SIGSTOP) for the block: no packet answered, no connection closed."""
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@contextlib.asynccontextmanager
async def _server_of_its_own(short_tmp: Path, state: str) -> AsyncIterator[tuple[Settings, db.Conn]]:
    """A registry of ``state`` on an embedded server of its own (frozen whole), bounds of 2 s, and a connection."""
    home = short_tmp / "home"
    url = await ensure_database(start_embedded(home))
    try:
        settings = Settings(
            state=state, home=home, database_url=url, run_worker=False, lock_timeout=2.0, statement_timeout=2.0
        )
        await bootstrap.initialise(settings, url)
        conn = await db.connect(url)
        try:
            yield settings, conn
        finally:
            await conn.close()
    finally:
        stop_embedded(home)


async def _answer_while_frozen(home: Path, conn: db.Conn, pending: asyncio.Task[httpx.Response]) -> httpx.Response:
    """Once ``pending`` waits on the lock ``conn`` holds in its open transaction, the server frozen until it answers.

    ``conn``'s transaction is rolled back after the thaw.
    """
    await waited_longer_than(conn, 0.0)
    backends = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
    with _frozen(_server_processes(home, [row["pid"] for row in backends])):
        response = await asyncio.wait_for(pending, timeout=30)
    await conn.execute("ROLLBACK")
    return response


async def test_a_check_whose_database_host_freezes_mid_request_is_a_503_within_the_command_timeout(
    short_tmp: Path,
) -> None:
    """A request that already held a connection when the database host froze waited until the operating system
    dropped the connection (a quarter of an hour), since a server that is stopped cannot cancel its statement.
    The API's pool gives up on a statement ``COMMAND_GRACE`` past ``statement_timeout`` and closes the connection
    rather than wait as long again for a ``ROLLBACK``: 503 ``database-unavailable``, nothing recorded, and the
    next request, once the host is back, is served."""
    async with _server_of_its_own(short_tmp, "CZ") as (settings, conn):
        await receive(conn, at_licence(), state="CZ")
        secret, _ = await tokens.create_token(conn, role="customs-officer", name="border", actor="test")
        headers = {"Authorization": f"Bearer {secret}"}
        body = check_body(lines=[{"line": 2, "quantity": 100}])
        async with registry(settings) as cz:
            await conn.execute("BEGIN")
            await conn.execute("SELECT 1 FROM licence WHERE number = $1 FOR UPDATE", NUMBER)
            started = time.monotonic()
            pending = asyncio.create_task(cz.post("/api/v1/checks", json=body, headers=headers))
            response = await _answer_while_frozen(settings.home, conn, pending)  # behind the licence's lock
            waited = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["type"].endswith("/database-unavailable")
            assert response.headers["retry-after"] == "5"
            # statement_timeout 2 s + COMMAND_GRACE 2 s; a ROLLBACK waited for would add as much again
            assert deps.command_timeout(settings) == 4.0
            assert 3.5 < waited < 7, waited
            again = await cz.post("/api/v1/checks", json=body, headers=headers)
            assert again.status_code == 200, again.text
            assert again.json()["verdict"] == "clear"
        assert await conn.fetchval("SELECT count(*) FROM customs_check") == 1


async def test_a_check_after_a_long_job_is_still_bounded(
    settings: Settings, initialised: bootstrap.Initialised, conn: db.Conn, auth: TokenFactory
) -> None:
    """The bounds are the API pool's session settings; a long job takes a connection of ``long_pool``, which has
    none. With an API pool of one, the check after a journal verification is still bounded."""
    await receive(conn, at_licence(), state="CZ")
    body = check_body(lines=[{"line": 2, "quantity": 100}])
    one = msgspec.structs.replace(settings, state="CZ", pool_size=1, lock_timeout=0.3, statement_timeout=10.0)
    async with registry(one) as cz:
        verified = await cz.get("/api/v1/journal/verify", headers=await auth("auditor"))
        assert verified.status_code == 200, verified.text
        headers = await auth("customs-officer")
        response, waited = await check_behind_held_licence(cz, conn, body, headers)
    assert response.status_code == 503, response.text
    assert response.json()["type"].endswith("/database-timeout")
    assert waited < 5, waited


async def test_long_jobs_have_a_pool_of_their_own_without_the_request_bounds(
    settings: Settings, initialised: bootstrap.Initialised, auth: TokenFactory
) -> None:
    """A long job (a bulk import, a journal verification, a checkpoint, an export) lifted the bounds on a connection
    of the API's pool and set them back after, and an export in its transaction: two ways, and a connection whose
    reset failed had to be closed to keep it from the border's requests. The jobs now have a pool of their own."""
    bounded = msgspec.structs.replace(settings, lock_timeout=0.3, statement_timeout=7.0)
    app = create_app(bounded)
    async with registry(bounded, app) as client:
        async with app.state.pool.acquire() as conn:
            assert await conn.fetchval("SHOW lock_timeout") == "300ms"
            assert await conn.fetchval("SHOW statement_timeout") == "7s"
        async with app.state.long_pool.acquire() as conn:
            assert await conn.fetchval("SHOW lock_timeout") == "0"
            assert await conn.fetchval("SHOW statement_timeout") == "0"
        verified = await client.get("/api/v1/journal/verify", headers=await auth("auditor"))
        assert verified.status_code == 200, verified.text


_COMMIT = b"Q\x00\x00\x00\x0cCOMMIT;\x00"  # asyncpg's Transaction.commit(): a simple query, its length 12


class _LinkToTheDatabase:
    """A loopback TCP proxy to the test's PostgreSQL (its Unix socket). Once :attr:`armed`, the next ``COMMIT`` a
    client sends reaches the server, and the link then fails: the server's answer on that connection never
    comes back (``"silent"``: a dead link, a host that froze after it took the commit) or the connection is
    closed (``"closed"``). Real packets, real server: the commit happens, the client does not hear of it."""

    def __init__(self, database_url: str, failure: str) -> None:
        base, _, query = database_url.partition("?")
        options = dict(part.split("=", 1) for part in query.split("&"))
        self.socket = f"{options['host']}/.s.PGSQL.{options.get('port', '5432')}"
        self.url = f"postgresql://postgres:@127.0.0.1:{{port}}/{base.rsplit('/', 1)[1]}"
        self.failure = failure
        self.armed = False
        self.skip = 0  # armed: the COMMITs let through before the one that fails
        self.tripped = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._clients: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return self.url.format(port=self._server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._links:
            task.cancel()
        await asyncio.gather(*self._links, return_exceptions=True)

    def cut(self) -> None:
        """Close every client connection now (the server's side stays until it notices)."""
        for writer in self._clients:
            writer.close()

    async def _link(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        self._links.add(asyncio.current_task())  # type: ignore[arg-type]
        self._clients.append(client_out)
        server_in, server_out = await asyncio.open_unix_connection(self.socket)
        silent = False

        async def up() -> None:
            nonlocal silent
            while data := await client_in.read(65536):
                failing = self.armed and _COMMIT in data
                if failing and self.skip:  # a COMMIT before the one the test means
                    self.skip -= 1
                    failing = False
                if failing:  # before the server can answer
                    self.armed = False
                    silent = True
                server_out.write(data)
                await server_out.drain()
                if failing:
                    self.tripped.set()
                    if self.failure == "closed":
                        client_out.close()
                        return
            server_out.close()

        async def down() -> None:
            while data := await server_in.read(65536):
                if not silent:
                    client_out.write(data)
                    await client_out.drain()
            client_out.close()  # the server closed (a Terminate answered): the client hears of it

        try:
            await asyncio.gather(up(), down())
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            client_out.close()
            server_out.close()


@pytest.mark.parametrize("failure", ["silent", "closed"])
async def test_a_check_whose_commit_gets_no_answer_is_told_it_may_have_been_recorded(
    settings: Settings,
    initialised: bootstrap.Initialised,
    database: str,
    conn: db.Conn,
    auth: TokenFactory,
    failure: str,
) -> None:
    """The COMMIT left and no answer came back (a dead link, a host that froze after taking it; or the connection
    closed): the server may have committed, and here it did. It was 503 ``database-unavailable``, said to have
    recorded nothing (after ``command_timeout`` and as long again waiting for a cancellation the server could not
    take), and an officer who sent a creation again without an ``Idempotency-Key`` made it twice. It is 503
    ``database-outcome-unknown`` within ``command_timeout``; the retry with the same ``check_id`` is the first
    answer."""
    await receive(conn, at_licence(), state="CZ")
    headers = await auth("customs-officer")
    body = check_body(lines=[{"line": 2, "quantity": 100}])
    bounded = msgspec.structs.replace(settings, state="CZ", lock_timeout=2.0, statement_timeout=2.0)
    link = _LinkToTheDatabase(database, failure)
    async with link as url:
        app = create_app(bounded, database_url=url)
        async with registry(bounded, app) as cz:
            async with conn.transaction():  # the check waits in its transaction: its token was looked up
                await conn.execute("SELECT 1 FROM licence WHERE number = $1 FOR UPDATE", NUMBER)
                pending = asyncio.create_task(cz.post("/api/v1/checks", json=body, headers=headers))
                await waited_longer_than(conn, 0.0)
                link.armed = True
            started = time.monotonic()
            response = await asyncio.wait_for(pending, timeout=30)
            waited = time.monotonic() - started
            assert link.tripped.is_set()
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "5"
            problem = response.json()
            assert problem["type"].endswith("/database-outcome-unknown")
            assert problem["title"] == "The database did not confirm the change"
            assert "may have been recorded" in problem["detail"]
            # the commit happened: the answer said so could not be true
            assert await conn.fetchval("SELECT count(*) FROM customs_check") == 1
            # command_timeout (4 s) at most, not as long again for a cancellation nobody answers
            assert waited < deps.command_timeout(bounded) + 1.5, waited
            again = await cz.post("/api/v1/checks", json=body, headers=headers)
            assert again.status_code == 200, again.text
            assert again.json()["verdict"] == "clear"
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 1
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 100


@pytest.mark.parametrize("failure", ["silent", "closed"])
async def test_a_rotation_whose_commit_gets_no_answer_keeps_the_new_keys_file(
    settings: Settings, initialised: bootstrap.Initialised, database: str, conn: db.Conn, failure: str
) -> None:
    """A key transaction whose ``COMMIT`` got no answer (the API pool's ``command_timeout``, or the connection lost)
    may have committed, and here did: the new key is recorded and announced. Its private key file was removed all
    the same (``KeyFiles.discard``), and the registry held a key it could never sign with. The file is left beside
    its place, as after a crash: ``signing_key`` puts it in place (a sweep would remove it had nothing committed)."""
    bounded = msgspec.structs.replace(settings, lock_timeout=2.0, statement_timeout=2.0)
    assert initialised.admin_token is not None
    headers = {"Authorization": f"Bearer {initialised.admin_token}"}
    link = _LinkToTheDatabase(database, failure)
    async with link as url:
        app = create_app(bounded, database_url=url)
        async with registry(bounded, app) as client:
            assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
            async with conn.transaction():  # the sweep of left key files waits: the rotation is under way
                await conn.execute("SELECT pg_advisory_xact_lock(7310004)")
                pending = asyncio.create_task(client.post("/api/v1/keys/rotate", headers=headers))
                await waited_longer_than(conn, 0.0)
                link.skip = 1  # the sweep's own COMMIT; then the key transaction's
                link.armed = True
            response = await asyncio.wait_for(pending, timeout=30)
            assert link.tripped.is_set()
            _assert_outcome_unknown(response)  # it was database-unavailable, "nothing recorded"
    recorded = [key.key_id for key in await keys.list_keys(conn)]
    assert len(recorded) == 2  # the rotation committed
    assert keys.signing_key(bounded.home, recorded[-1]).key_id == recorded[-1]


async def test_a_key_transaction_cancelled_at_its_commit_keeps_the_new_keys_file_and_closes_the_connection(
    settings: Settings, initialised: bootstrap.Initialised, database: str, conn: db.Conn
) -> None:
    """A rotation cancelled while its ``COMMIT`` waited for an answer (``firearms keys rotate`` stopped with Ctrl-C,
    a request cut off as the server shut down) may have committed, and here did: the ``COMMIT`` had reached the
    server. The cancellation went by ``CommitUnansweredError``'s case, and the new key's private file was removed
    (``KeyFiles.discard``): a recorded key nothing could sign with. The file is left beside its place, as after a
    crash, and the connection whose ``COMMIT`` never answered is closed, not kept for another statement."""
    new: list[str] = []
    link = _LinkToTheDatabase(database, "silent")
    async with link as url:
        linked = await db.connect(url)  # no command_timeout: only the cancellation ends the wait
        try:

            async def rotate() -> None:
                async with keys.key_transaction(linked, settings.home) as files:
                    new.append((await rotation.rotate(linked, files, actor="test")).key_id)
                    link.armed = True  # the sweep's COMMIT is behind: the next is the key transaction's

            rotating = asyncio.create_task(rotate())
            await asyncio.wait_for(link.tripped.wait(), timeout=30)
            deadline = time.monotonic() + 30
            while await conn.fetchval("SELECT count(*) FROM registry_key") < 2:  # the server took the COMMIT
                assert time.monotonic() < deadline, "the rotation's COMMIT never committed"
                await asyncio.sleep(0.02)
            rotating.cancel()
            with pytest.raises(asyncio.CancelledError):
                await rotating
            assert linked.is_closed()  # its COMMIT's answer is still owed: it serves nothing more
        finally:
            linked.terminate()
    recorded = [key.key_id for key in await keys.list_keys(conn)]
    assert recorded[-1] == new[0]  # the rotation committed
    assert keys.signing_key(settings.home, new[0]).key_id == new[0]  # its private half was kept


def _assert_outcome_unknown(response: httpx.Response) -> None:
    """``response`` is the 503 ``database-outcome-unknown`` problem: the request may have been recorded."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    problem = response.json()
    assert problem["type"] == "tag:firearms-registry,2026:problems/database-outcome-unknown"
    assert problem["title"] == "The database did not confirm the change"
    assert problem["status"] == 503
    assert "may have been recorded" in problem["detail"]


async def _commit_lost(
    settings: Settings, database: str, send: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]], *, skip: int = 0
) -> httpx.Response:
    """``send`` a request whose connection is lost as its ``COMMIT`` leaves (after ``skip`` COMMITs let through): the
    answer, ``database-outcome-unknown``."""
    link = _LinkToTheDatabase(database, "closed")
    async with link as url:
        app = create_app(settings, database_url=url)
        async with registry(settings, app) as client:
            link.skip = skip
            link.armed = True
            response = await send(client)
            assert link.tripped.is_set()
            _assert_outcome_unknown(response)
    return response


async def _committed(conn: db.Conn, query: str) -> Any:
    """``query``'s value once the ``COMMIT`` a lost connection handed the server has committed (neither null nor 0).

    The client hears of the lost connection as the ``COMMIT`` leaves; the server may still be committing it (a loaded
    machine), so its work is awaited, within 30 s.
    """
    deadline = time.monotonic() + 30
    while not (value := await conn.fetchval(query)):
        assert time.monotonic() < deadline, f"the COMMIT never committed: {query}"
        await asyncio.sleep(0.02)
    return value


@pytest.mark.parametrize("failure", ["silent", "closed"])
async def test_a_partner_notice_whose_commit_gets_no_answer_is_told_it_may_have_been_recorded(
    database: str, home: Path, failure: str
) -> None:
    """The partner surface runs its own transaction (``inbox.receive_notice``), not ``provide_conn``'s: a
    ``COMMIT`` without an answer was 503 ``database-unavailable`` there, "nothing recorded", though the notice was
    stored. It is ``database-outcome-unknown``, a problem like any 5xx: the sender retries the same bytes
    (PROTOCOL §4) and gets the first receipt, byte for byte, as a duplicate. Its detail says so: it told the
    partner to send "the same check_id or Idempotency-Key", which speaks to officers."""
    settings, conn = await receiver("DE", database, home)
    try:
        bounded = msgspec.structs.replace(settings, lock_timeout=2.0, statement_timeout=2.0)
        raw = envelope(AT_KEY, sequence=1)
        json_type = {"content-type": "application/json"}
        link = _LinkToTheDatabase(database, failure)
        async with link as url:
            app = create_app(bounded, database_url=url)
            async with registry(bounded, app) as de:
                link.armed = True  # no token to look up: the notice's COMMIT is the first
                started = time.monotonic()
                response = await de.post("/exchange/v1/notices", content=raw, headers=json_type)
                waited = time.monotonic() - started
                assert link.tripped.is_set()
                _assert_outcome_unknown(response)
                # the sender's advice (PROTOCOL §4), not the officer's (check_id, Idempotency-Key): the same bytes
                assert response.json()["detail"] == (
                    "the database did not answer the commit: the notice may have been recorded. Send the same "
                    "notice again, the same bytes: a duplicate is answered with the first receipt"
                )
                assert waited < deps.command_timeout(bounded) + 1.5, waited
                # the commit happened: "nothing recorded" was not true
                first = await _committed(conn, "SELECT receipt FROM notice_inbox")
                again = await de.post("/exchange/v1/notices", content=raw, headers=json_type)
                assert again.status_code == 200, again.text  # a duplicate
                assert again.content == bytes(first)
        assert await conn.fetchval("SELECT count(*) FROM notice_inbox") == 1
        assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.received'") == 1
    finally:
        await conn.close()


async def test_an_import_whose_commit_gets_no_answer_is_told_it_may_have_been_recorded(
    settings: Settings, initialised: bootstrap.Initialised, database: str, conn: db.Conn, auth: TokenFactory
) -> None:
    """A bulk import commits its own transaction on a connection of ``long_pool``: its ``COMMIT`` lost with the
    connection was 503 ``database-unavailable``, "nothing recorded", though the import was stored, and a records
    officer who sent the file again recorded a second import. It is ``database-outcome-unknown``."""
    headers = {**(await auth("records-officer")), "Content-Type": "text/csv"}
    body = b"kind,firearm_type,manufacturer,country_of_manufacture,serial,model,marking_stamped\n"
    body += b"firearm,pistol,Glock GmbH,AT,LOST-1,17,GLOCK LOST-1\n"
    # long_pool has no command_timeout: only a lost connection; the token's look-up commits nothing, so the
    # import's COMMIT is the first
    response = await _commit_lost(
        settings, database, lambda client: client.post("/api/v1/imports", content=body, headers=headers)
    )
    assert "Idempotency-Key" in response.json()["detail"]  # an officer's advice (a partner's: the same bytes)
    assert await _committed(conn, "SELECT count(*) FROM item_import") == 1  # it committed
    assert await conn.fetchval("SELECT count(*) FROM item WHERE serial = 'LOST-1'") == 1


async def test_a_journal_listing_whose_commit_gets_no_answer_is_told_it_may_have_been_recorded(
    settings: Settings, initialised: bootstrap.Initialised, database: str, conn: db.Conn, auth: TokenFactory
) -> None:
    """The journal's listing seals, then lists and journals the read (``journal.read``) in a transaction of its
    own: that ``COMMIT`` lost with the connection was ``database-unavailable``, though the read was journaled."""
    headers = await auth("auditor")
    reads = "SELECT count(*) FROM journal_entry WHERE action = 'journal.read'"
    # the seal's own COMMIT; then the listing's
    await _commit_lost(settings, database, lambda client: client.get("/api/v1/journal/", headers=headers), skip=1)
    assert await _committed(conn, reads) == 1  # it committed


async def test_a_checkpoint_whose_commit_gets_no_answer_is_told_it_may_have_been_recorded(
    settings: Settings, initialised: bootstrap.Initialised, database: str, conn: db.Conn, auth: TokenFactory
) -> None:
    """A checkpoint signed on demand commits its own transaction (``journal.checkpoint``, on ``long_pool``): that
    ``COMMIT`` lost with the connection was ``database-unavailable``, though the checkpoint was stored."""
    headers = await auth("auditor")
    await journal.seal(conn)  # nothing left for the checkpoint's own sealing to link: one COMMIT of its own
    # the seal's COMMIT; then the checkpoint's
    await _commit_lost(
        settings, database, lambda client: client.post("/api/v1/journal/checkpoints", headers=headers), skip=1
    )
    assert await _committed(conn, "SELECT count(*) FROM journal_checkpoint") == 1  # it committed


async def test_a_request_whose_database_host_freezes_inside_a_savepoint_is_a_503_not_a_500(short_tmp: Path) -> None:
    """A lifecycle event is a savepoint inside the request's transaction (``item_events.record_event``). The host
    froze while it waited for the item's row: the savepoint's ``ROLLBACK TO`` waited for the cancellation, and
    asyncpg closed the connection and handed it back to the pool before ``provide_conn`` saw the
    ``TimeoutError``; closing it again there raised ``InterfaceError``, a 500. It is 503
    ``database-unavailable``, nothing recorded."""
    async with _server_of_its_own(short_tmp, "AT") as (settings, conn):
        secret, _ = await tokens.create_token(conn, role="records-officer", name="records", actor="test")
        headers = {"Authorization": f"Bearer {secret}"}
        async with registry(settings) as client:
            created = await client.post("/api/v1/items", json=rifle("FROZEN-1"), headers=headers)
            assert created.status_code == 201, created.text
            events = f"/api/v1/items/{created.json()['item_id']}/events"
            await conn.execute("BEGIN")
            await conn.execute("SELECT 1 FROM item WHERE item_id = $1 FOR UPDATE", created.json()["item_id"])
            started = time.monotonic()
            pending = asyncio.create_task(client.post(events, json=event_body("stolen"), headers=headers))
            response = await _answer_while_frozen(
                settings.home, conn, pending
            )  # behind the item's row, in its savepoint
            waited = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["type"].endswith("/database-unavailable")
            assert response.headers["retry-after"] == "5"
            # the statement's command_timeout (4 s), and as long again for the savepoint's ROLLBACK TO
            assert waited < 2 * deps.command_timeout(settings) + 1.5, waited
            assert await conn.fetchval("SELECT count(*) FROM item_event WHERE event = 'stolen'") == 0
            again = await client.post(events, json=event_body("stolen"), headers=headers)
            assert again.status_code == 201, again.text


async def test_a_handler_whose_own_transaction_meets_a_frozen_host_is_a_503_within_the_command_timeout(
    short_tmp: Path,
) -> None:
    """A handler's own transaction (``firearms.db.transaction``: here a key rotation, behind another rotation's
    lock) whose statement got no answer within ``command_timeout`` (the host froze) waited as long again for a
    ``ROLLBACK`` the frozen server could not answer, as ``provide_conn`` no longer does: the connection is closed
    (the server rolls back a transaction whose connection is gone), 503 ``database-unavailable``, nothing
    recorded, within ``command_timeout``."""
    async with _server_of_its_own(short_tmp, "AT") as (settings, conn):
        secret, _ = await tokens.create_token(conn, role="admin", name="keys", actor="test")
        headers = {"Authorization": f"Bearer {secret}"}
        async with registry(settings) as client:
            assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
            await conn.execute("BEGIN")
            await conn.execute("LOCK TABLE pending_registry_key IN SHARE ROW EXCLUSIVE MODE")  # a rotation under way
            started = time.monotonic()
            pending = asyncio.create_task(client.post("/api/v1/keys/rotate", headers=headers))
            response = await _answer_while_frozen(settings.home, conn, pending)
            waited = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["type"].endswith("/database-unavailable")
            assert waited < deps.command_timeout(settings) + 1.5, waited  # was twice that
            assert len(await keys.list_keys(conn)) == 1  # nothing recorded
            again = await client.post("/api/v1/keys/rotate", headers=headers)
            assert again.status_code == 201, again.text


async def test_a_check_whose_connection_is_lost_mid_transaction_is_a_503_and_records_nothing(
    settings: Settings, initialised: bootstrap.Initialised, database: str, conn: db.Conn, auth: TokenFactory
) -> None:
    """README: a request whose connection is lost mid-transaction is 503 ``database-unavailable`` and its
    transaction never committed (here the link dies while the check waits for the licence's row)."""
    await receive(conn, at_licence(), state="CZ")
    headers = await auth("customs-officer")
    body = check_body(lines=[{"line": 2, "quantity": 100}])
    bounded = msgspec.structs.replace(settings, state="CZ")
    link = _LinkToTheDatabase(database, "closed")
    async with link as url:
        app = create_app(bounded, database_url=url)
        async with registry(bounded, app) as cz:
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM licence WHERE number = $1 FOR UPDATE", NUMBER)
                pending = asyncio.create_task(cz.post("/api/v1/checks", json=body, headers=headers))
                await waited_longer_than(conn, 0.0)
                link.cut()
                response = await asyncio.wait_for(pending, timeout=30)
            assert response.status_code == 503, response.text
            assert response.json()["type"].endswith("/database-unavailable")
            assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0
            again = await cz.post("/api/v1/checks", json=body, headers=headers)
            assert again.status_code == 200, again.text


async def test_a_request_with_transactions_of_its_own_whose_connection_is_lost_is_a_503(
    settings: Settings, initialised: bootstrap.Initialised, database: str, conn: db.Conn, auth: TokenFactory
) -> None:
    """The same for a handler that runs its own transactions (here the journal's listing, which seals first; a
    partner's notice and key rotation alike): leaving ``async with conn.transaction()`` on the lost connection
    raised ``InterfaceError`` over the error that lost it, a 500."""
    headers = await auth("auditor")
    link = _LinkToTheDatabase(database, "closed")
    async with link as url:
        app = create_app(settings, database_url=url)
        async with registry(settings, app) as client:
            async with conn.transaction():
                await conn.execute("LOCK TABLE journal_link IN ACCESS EXCLUSIVE MODE")
                pending = asyncio.create_task(client.get("/api/v1/journal/", headers=headers))
                await waited_longer_than(conn, 0.0)
                link.cut()
                response = await asyncio.wait_for(pending, timeout=30)
            assert response.status_code == 503, response.text
            assert response.json()["type"].endswith("/database-unavailable")
            assert (await client.get("/api/v1/journal/", headers=headers)).status_code == 200


async def test_the_overview_behind_a_held_lock_is_a_prompt_503_and_gives_its_connection_back(
    settings: Settings, initialised: bootstrap.Initialised, conn: db.Conn, auth: TokenFactory
) -> None:
    """``GET /api/v1/status`` reads on a connection it takes itself (one ``REPEATABLE READ READ ONLY`` snapshot), not
    the request's: the API pool's bounds still hold it (a table locked by a migration or an administrator: 503
    ``database-timeout`` within the lock bound), and the connection goes back to the pool (a pool of one: the next
    overview is answered, not a 503 after waiting for a connection that leaked)."""
    headers = await auth("auditor")
    bounded = msgspec.structs.replace(settings, lock_timeout=0.3, statement_timeout=10.0, pool_size=1)
    async with registry(bounded) as client:
        async with conn.transaction():
            await conn.execute("LOCK TABLE peer IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            response = await asyncio.wait_for(client.get("/api/v1/status", headers=headers), timeout=8)
            waited = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/database-timeout")
        assert waited < 5, waited
        started = time.monotonic()
        again = await client.get("/api/v1/status", headers=headers)
        assert again.status_code == 200, again.text
        assert time.monotonic() - started < deps.ACQUIRE_TIMEOUT / 2
        assert again.json()["partners"] == []
