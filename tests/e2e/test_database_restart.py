"""PostgreSQL stopped and started again under a running app and its worker (README "When the database is slow or
gone"): prompt 503 problems during the outage, answers again after it without a restart of ``serve``, and a worker
that says so in one line and carries on, rather than a traceback every pass."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, db
from firearms.embedded import ensure_database, start_embedded, stop_embedded
from firearms.settings import Settings

INTERVAL = 0.05  # the worker's pass interval here: an outage of a second is twenty passes


class Kept(logging.Handler):
    """The worker's records, kept on its own logger: the app's logging configuration replaces the root's handlers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def worker_log() -> Iterator[Kept]:
    logger = logging.getLogger("firearms.worker")
    kept = Kept()
    level = logger.level
    logger.addHandler(kept)
    logger.setLevel(logging.INFO)
    yield kept
    logger.removeHandler(kept)
    logger.setLevel(level)


async def test_the_app_and_its_worker_ride_out_a_database_restart(tmp_path: Path, worker_log: Kept) -> None:
    home = tmp_path / "home"
    url = await ensure_database(start_embedded(home))
    running = True
    try:
        settings = Settings(state="AT", home=home, database_url=url, seal_interval=INTERVAL)
        done = await bootstrap.initialise(settings, url)
        admin = {"Authorization": f"Bearer {done.admin_token}"}
        async with AsyncTestClient(app=create_app(settings)) as client:
            # several pooled connections open before the outage: each is dead after it
            answers = await asyncio.gather(*(client.get("/api/v1/me", headers=admin) for _ in range(5)))
            assert {answer.status_code for answer in answers} == {200}

            await asyncio.to_thread(stop_embedded, home)
            running = False
            for path in ("/api/v1/me", "/api/v1/tokens", "/health"):
                started = time.monotonic()
                response = await client.get(path, headers=admin)
                assert time.monotonic() - started < 5, path
                assert response.status_code == 503, (path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["retry-after"] == "5"
                assert response.json()["type"].endswith("/database-unavailable")
            await asyncio.sleep(20 * INTERVAL)  # the outage: twenty of the worker's passes

            await asyncio.to_thread(start_embedded, home)
            running = True
            response = await client.get("/api/v1/me", headers=admin)  # the first request after: no restart of serve
            assert response.status_code == 200, response.text
            created = await client.post(
                "/api/v1/tokens", json={"role": "auditor", "name": "after the restart"}, headers=admin
            )
            assert created.status_code == 201, created.text
            conn = await db.connect(url)
            try:  # the worker seals the journal again: the token's entry is linked into the chain
                deadline = time.monotonic() + 20
                while await conn.fetchval("SELECT count(*) FROM journal_pending"):
                    assert time.monotonic() < deadline, "the worker never sealed the journal again"
                    await asyncio.sleep(INTERVAL)
            finally:
                await conn.close()
    finally:
        if running:
            stop_embedded(home)
    lines = worker_log.records
    assert not [record for record in lines if record.exc_info], "a traceback per failed pass"
    down = [record for record in lines if "does not answer" in record.getMessage()]
    back = [record for record in lines if "answers again" in record.getMessage()]
    assert len(down) == 1, [record.getMessage() for record in lines]
    assert len(back) == 1, [record.getMessage() for record in lines]
    assert down[0].levelno == logging.WARNING
    assert "\n" not in down[0].getMessage()


async def test_a_worker_pass_that_fails_for_another_reason_is_still_logged_with_its_cause(
    settings: Settings, initialised: bootstrap.Initialised, worker_log: Kept
) -> None:
    """Only a database that does not answer is told in one line: any other failure keeps its traceback."""
    from firearms import worker  # noqa: PLC0415

    # a checkpoint every pass, signed with a key from a home that is not there
    failing = msgspec.structs.replace(
        settings, seal_interval=INTERVAL, checkpoint_interval=0.0, home=settings.home / "missing" / "home"
    )
    pool = await db.create_pool(str(settings.database_url), max_size=2)
    stop = asyncio.Event()
    try:
        task = asyncio.create_task(worker.run_worker(pool, failing, stop))
        deadline = time.monotonic() + 20
        while not any(record.exc_info for record in worker_log.records):
            assert time.monotonic() < deadline, "the failing pass was never logged"
            await asyncio.sleep(INTERVAL)
        stop.set()
        await task
    finally:
        await pool.close()
    lines = [record.getMessage() for record in worker_log.records]
    assert not [line for line in lines if "does not answer" in line], lines
