"""One list of the exceptions that mean "the connection to the database is lost" (``firearms.db.connection_lost``).

The worker's outage probe and the API's problems listed them apart, and the lists differed: a connection refused
or reset, and the embedded server's Unix socket gone, were an outage to the worker but a 500 to the API.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import asyncpg
import pytest
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.testing import AsyncTestClient

from api.deps import provide_conn
from api.problems import exception_handlers
from firearms import db
from firearms.settings import Settings
from firearms.worker import _Outage

# Each kind of lost connection, written out here (not read from the list under test): dropping one from the
# list fails its case for the worker and for the API alike.
LOST: list[BaseException] = [
    ConnectionRefusedError(111, "Connection refused"),  # the server is not listening (stopped, restarting)
    ConnectionResetError(104, "Connection reset by peer"),
    BrokenPipeError(32, "Broken pipe"),
    FileNotFoundError(2, "No such file or directory"),  # the embedded server's Unix socket, removed when it stopped
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),  # class 08
    asyncpg.CannotConnectNowError("the database system is starting up"),  # 57P03
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),  # 57P01
    asyncpg.CrashShutdownError("terminating connection because of crash of another server process"),  # 57P02
]

# A request without an officer, as the partner surface makes: provide_conn looks no token up for it.
_NO_OFFICER: Request[Any, Any, Any] = Request(cast("Any", {"type": "http", "state": {}}))


def _raising(exc: BaseException) -> Litestar:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise exc

    return Litestar(route_handlers=[boom], exception_handlers=exception_handlers)


async def _answer(exc: BaseException) -> Any:
    async with AsyncTestClient(app=_raising(exc)) as client:
        return await client.get("/boom")


async def _worker_down_after(settings: Settings, database: str, exc: Exception) -> bool:
    """Whether the worker holds the database down after a pass failed with ``exc``, the database answering its probe.

    Only the exception can say so then (a pass that failed as the server went down, probed once it was back).
    """
    pool = await db.create_pool(database, max_size=1, min_size=0)
    try:
        outage = _Outage(settings)
        await outage.failed(pool, "worker pass", exc)
        return outage.down
    finally:
        await pool.close()


@pytest.mark.parametrize("exc", LOST, ids=lambda exc: type(exc).__name__)
async def test_each_kind_of_lost_connection_is_an_outage_to_the_worker_and_the_api(
    settings: Settings, database: str, exc: BaseException
) -> None:
    assert isinstance(exc, Exception)
    assert await _worker_down_after(settings, database, exc)
    response = await _answer(exc)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.json()["type"] == "tag:firearms-registry,2026:problems/database-unavailable"


async def test_a_missing_file_that_names_itself_is_no_outage(settings: Settings, database: str) -> None:
    """A file the code reads (a key file, an import) that is not there is an error of its own, not the database."""
    exc = FileNotFoundError(2, "No such file or directory", "/home/keys/0123.pem")
    assert not await _worker_down_after(settings, database, exc)
    response = await _answer(exc)
    assert response.status_code == 500, response.text
    assert response.json()["type"] == "tag:firearms-registry,2026:problems/internal-error"
    assert "0123" not in response.text


def _unanswered(cause: Exception) -> db.CommitUnansweredError:
    try:
        raise db.CommitUnansweredError("no answer to the commit") from cause
    except db.CommitUnansweredError as exc:
        return exc


async def test_a_commit_whose_connection_was_lost_is_an_outage_to_the_worker(settings: Settings, database: str) -> None:
    """A checkpoint of the worker's whose ``COMMIT`` went unanswered as the server went down is the outage (its
    cause says so); one that timed out is not, by itself (the probe decides)."""
    lost = _unanswered(asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"))
    assert await _worker_down_after(settings, database, lost)
    assert not await _worker_down_after(settings, database, _unanswered(TimeoutError()))


async def _lose(victim: db.Conn, conn: db.Conn) -> None:
    """Terminate ``victim``'s backend (a server restart, an administrator) and wait until asyncpg has closed it."""
    assert await conn.fetchval("SELECT pg_terminate_backend($1)", victim.get_server_pid())
    deadline = time.monotonic() + 10
    while True:
        try:
            if victim.is_closed():
                return
        except asyncpg.InterfaceError:  # a pool's connection: asyncpg took it back as it closed it
            return
        assert time.monotonic() < deadline, "asyncpg never noticed its backend was terminated"
        await asyncio.sleep(0.02)


async def _assert_nothing_recorded(exc: BaseException, conn: db.Conn) -> None:
    """``exc`` is a lost connection, told as one (503 ``database-unavailable``), and nothing was recorded."""
    assert db.connection_lost(exc), repr(exc)
    assert not isinstance(exc, db.CommitUnansweredError)  # no COMMIT was sent: nothing "may have been recorded"
    response = await _answer(exc)
    assert response.status_code == 503, response.text  # was a 500: a bare InterfaceError ("connection is closed")
    assert response.json()["type"] == "tag:firearms-registry,2026:problems/database-unavailable"
    assert await conn.fetchval("SELECT to_regclass('lost_before_commit')") is None


@pytest.mark.parametrize("then", ["commit", "statement"])
async def test_a_transaction_whose_connection_is_lost_between_statements_is_a_lost_connection(
    database: str, conn: db.Conn, then: str
) -> None:
    """A handler's own transaction (``db.transaction``) whose connection was lost while it did something else (a
    key file written, a report, a signature): its ``COMMIT``, or its next statement, met a connection asyncpg had
    already closed, and raised ``InterfaceError`` with nothing under it: a 500, a traceback from a command. It is
    the lost connection it is: nothing was sent, nothing committed."""
    victim = await db.connect(database)

    async def work() -> None:
        async with db.transaction(victim):
            await victim.execute("CREATE TABLE lost_before_commit (a int)")
            await _lose(victim, conn)
            if then == "statement":
                await victim.execute("INSERT INTO lost_before_commit VALUES (1)")

    try:
        with pytest.raises(Exception) as raised:  # noqa: PT011  # which one is what the test looks at
            await work()
    finally:
        victim.terminate()
    await _assert_nothing_recorded(raised.value, conn)


@pytest.mark.parametrize("then", ["commit", "statement"])
async def test_a_request_whose_connection_is_lost_between_statements_is_a_503(
    database: str, conn: db.Conn, then: str
) -> None:
    """The same for a request's transaction (``api.deps.provide_conn``): the handler's next statement, or the
    request's ``COMMIT``, on a connection asyncpg had closed (the server restarted while the handler worked)."""
    pool = await db.create_pool(database, max_size=1, min_size=0)
    try:
        request = provide_conn(State({"pool": pool}), _NO_OFFICER)
        victim = await anext(request)
        await victim.execute("CREATE TABLE lost_before_commit (a int)")
        await _lose(victim, conn)

        async def finish() -> None:
            if then == "statement":
                try:
                    await victim.execute("INSERT INTO lost_before_commit VALUES (1)")
                except asyncpg.InterfaceError as exc:  # the handler's error goes into the dependency, as Litestar's
                    await request.athrow(exc)
            else:
                await anext(request, None)

        with pytest.raises(Exception) as raised:  # noqa: PT011  # which one is what the test looks at
            await finish()
    finally:
        await pool.close()
    await _assert_nothing_recorded(raised.value, conn)
