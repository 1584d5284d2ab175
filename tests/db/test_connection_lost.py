"""One list of the exceptions that mean "the connection to the database is lost" (``firearms.db.connection_lost``).

The worker's outage probe and the API's problems listed them apart, and the lists differed: a connection refused
or reset, and the embedded server's Unix socket gone, were an outage to the worker but a 500 to the API.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

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
