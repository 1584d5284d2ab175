"""The database stops taking writes under a running app (README "When the database is slow or gone"): a failover onto a
node that is still a hot standby, ``default_transaction_read_only`` set during an incident, a full disk, a right
revoked by mistake. A request that would write is a clear problem, never a 500 with no guidance; nothing is recorded;
a personal read, which cannot be journaled, is refused; ``/health`` and the status overview say so; the log has one
line per outage; and once the database takes writes again the same requests are answered as normal."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api import create_app
from cli.main import main
from firearms import bootstrap, db, worker
from firearms.settings import Settings
from tests.check_helpers import check_body
from tests.conftest import TokenFactory
from tests.exchange_fixtures import receiver
from tests.exchange_util import AT_KEY, envelope
from tests.roles import database_env
from tests.served import Kept, kept_log

Client = AsyncTestClient[Litestar]
PARTY = {"kind": "exporter", "name": "Jana Novak", "country": "AT", "address": "Hauptplatz 1, Graz"}
PROBLEM = "tag:firearms-registry,2026:problems/"
INTERVAL = 0.05  # the worker's pass interval here


@pytest.fixture
def api_log() -> Iterator[Kept]:
    with kept_log("firearms.api", logging.DEBUG) as kept:
        yield kept


async def _counts(conn: db.Conn) -> tuple[int, int, int]:
    return (
        await conn.fetchval("SELECT count(*) FROM journal_entry"),
        await conn.fetchval("SELECT count(*) FROM customs_check"),
        await conn.fetchval("SELECT count(*) FROM party"),
    )


async def _read_only(conn: db.Conn, client: Client, *, on: bool) -> None:
    """``default_transaction_read_only`` on the registry's database, or reset; the app's pools reconnect to see it
    (a setting of the database reaches only the sessions opened after it, as a failover's new connections do)."""
    name = await conn.fetchval("SELECT current_database()")
    setting = "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    await conn.execute(f'ALTER DATABASE "{name}" {setting}')
    for pool in (client.app.state.pool, client.app.state.long_pool):
        await pool.expire_connections()


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + code, body
    assert body["status"] == status
    return body


async def test_a_read_only_database_is_a_503_that_records_nothing_and_the_same_requests_pass_after(
    client: Client, auth: TokenFactory, conn: db.Conn, api_log: Kept
) -> None:
    customs, officer, admin = await auth("customs-officer"), await auth("licensing-officer"), await auth("admin")
    created = await client.post("/api/v1/parties", json=PARTY, headers=officer)
    assert created.status_code == 201, created.text
    party = f"/api/v1/parties/{created.json()['party_id']}"
    check = check_body(licence_number="AT-EXP-2026-999999")  # unknown: refused, and recorded
    before = await _counts(conn)

    await _read_only(conn, client, on=True)
    try:
        for _ in range(3):  # every request refused, one line in the log for the outage
            refused = _problem(
                await client.post("/api/v1/checks", json=check, headers=customs), 503, "database-read-only"
            )
            assert refused["title"] == "The database takes no write"
            assert "nothing was recorded" in refused["detail"]
            assert "paper" in refused["detail"]
            recorded = await client.post("/api/v1/parties", json=PARTY | {"name": "Petra Horak"}, headers=officer)
            assert _problem(recorded, 503, "database-read-only")
            assert recorded.headers["retry-after"] == "30"
            # a personal read that cannot be journaled (DESIGN §6: who looked at what) is refused, not shown
            _problem(await client.get(party, headers=officer), 503, "database-read-only")
        # the reads that write nothing are answered: who am I, a licence's verification, a serial look-up
        for path in ("/api/v1/me", "/api/v1/verify/AT-EXP-2026-999999", "/api/v1/items/search?q=SSG08-001"):
            read = await client.get(path, headers=customs)
            assert read.status_code in {200, 404}, (path, read.text)
            assert not read.json().get("type", "").startswith(PROBLEM + "database"), read.text
        health = await client.get("/health")
        assert health.status_code == 200, health.text  # the database answers (DESIGN §10)
        assert health.json() == {"status": "read-only", "state": "AT"}
        overview = await client.get("/api/v1/status", headers=admin)
        assert overview.status_code == 200, overview.text
        assert overview.json()["service"]["database_read_only"] is True
        assert "database-read-only" in [line["code"] for line in overview.json()["attention"]]
        assert await _counts(conn) == before  # nothing recorded
    finally:
        await _read_only(conn, client, on=False)

    warnings = [record for record in api_log.records if record.levelno >= logging.WARNING]
    assert not [record for record in api_log.records if record.exc_info], "a traceback in the log"
    assert len(warnings) == 1, [record.getMessage() for record in warnings]
    assert "takes no write" in warnings[0].getMessage()
    assert "read-only" in warnings[0].getMessage()
    assert "\n" not in warnings[0].getMessage()

    answer = await client.post("/api/v1/checks", json=check, headers=customs)  # the same check_id: answered
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"] == "refuse"
    again = await client.post("/api/v1/checks", json=check, headers=customs)
    assert again.json() == answer.json()
    assert (
        await client.post("/api/v1/parties", json=PARTY | {"name": "Petra Horak"}, headers=officer)
    ).status_code == 201
    assert (await client.get(party, headers=officer)).status_code == 200
    health = await client.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "state": "AT"})
    overview = await client.get("/api/v1/status", headers=admin)
    assert overview.json()["service"]["database_read_only"] is False
    assert "database-read-only" not in [line["code"] for line in overview.json()["attention"]]
    messages = [record.getMessage() for record in api_log.records]
    assert len([message for message in messages if "takes writes again" in message]) == 1, messages


async def test_a_revoked_right_is_a_500_database_misconfigured_that_records_nothing(
    client: Client, auth: TokenFactory, conn: db.Conn, api_log: Kept
) -> None:
    """42501: no retry helps until an administrator grants the right again; the answer says so, not a bare 500."""
    officer = await auth("licensing-officer")
    before = await _counts(conn)
    await conn.execute(f"REVOKE INSERT ON party FROM {db.SERVICE_ROLE}")
    try:
        for _ in range(2):
            refused = await client.post("/api/v1/parties", json=PARTY, headers=officer)
            body = _problem(refused, 500, "database-misconfigured")
            assert "retry-after" not in refused.headers
            assert "nothing was recorded" in body["detail"]
            assert "permission denied" not in body["detail"]  # the database's words are the operator's, in the log
        assert await _counts(conn) == before
    finally:
        await conn.execute(f"GRANT INSERT ON party TO {db.SERVICE_ROLE}")
    errors = [record for record in api_log.records if record.levelno >= logging.WARNING]
    assert len(errors) == 1, [record.getMessage() for record in errors]
    assert "permission denied" in errors[0].getMessage()
    assert not errors[0].exc_info
    assert (await client.post("/api/v1/parties", json=PARTY, headers=officer)).status_code == 201


async def test_a_full_disk_is_a_503_database_full_that_records_nothing(
    client: Client, auth: TokenFactory, conn: db.Conn, api_log: Kept
) -> None:
    """53100, raised by the server itself (a trigger stands in for the full disk an insert meets)."""
    officer = await auth("licensing-officer")
    await conn.execute(
        """CREATE FUNCTION test_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'could not extend file "base/1/2": No space left on device'
                 USING ERRCODE = 'disk_full'; END; $$"""
    )
    await conn.execute(
        "CREATE TRIGGER test_disk_full BEFORE INSERT ON party FOR EACH ROW EXECUTE FUNCTION test_disk_full()"
    )
    before = await _counts(conn)
    try:
        refused = await client.post("/api/v1/parties", json=PARTY, headers=officer)
        body = _problem(refused, 503, "database-full")
        assert refused.headers["retry-after"] == "30"
        assert "nothing was recorded" in body["detail"]
        assert await _counts(conn) == before
    finally:
        await conn.execute("DROP TRIGGER test_disk_full ON party")
    warnings = [record for record in api_log.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1, [record.getMessage() for record in warnings]
    assert "No space left on device" in warnings[0].getMessage()
    assert (await client.post("/api/v1/parties", json=PARTY, headers=officer)).status_code == 201


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


async def test_the_worker_says_once_that_the_database_takes_no_write_and_once_that_it_does_again(
    settings: Settings, initialised: bootstrap.Initialised, conn: db.Conn, worker_log: Kept
) -> None:
    """Under ``serve`` its worker seals, runs the timers and delivers every pass: each refused, a traceback a pass
    from each of its three loops filled the log; one warning line when the refusals begin, one when they end."""
    del initialised
    name = await conn.fetchval("SELECT current_database()")
    await conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    pool = await db.create_pool(str(settings.database_url), max_size=4)
    stop = asyncio.Event()
    try:
        task = asyncio.create_task(
            worker.run_worker(pool, msgspec.structs.replace(settings, seal_interval=INTERVAL), stop)
        )
        deadline = time.monotonic() + 20
        while not [record for record in worker_log.records if "takes no write" in record.getMessage()]:
            assert time.monotonic() < deadline, [record.getMessage() for record in worker_log.records]
            await asyncio.sleep(INTERVAL)
        await asyncio.sleep(20 * INTERVAL)  # the outage: twenty of the worker's passes
        await conn.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await pool.expire_connections()
        while not [record for record in worker_log.records if "takes writes again" in record.getMessage()]:
            assert time.monotonic() < deadline, [record.getMessage() for record in worker_log.records]
            await asyncio.sleep(INTERVAL)
        stop.set()
        await task
    finally:
        stop.set()
        await conn.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await pool.close()
    records = worker_log.records
    assert not [record for record in records if record.exc_info], [
        (record.getMessage(), repr(record.exc_info[1])) for record in records if record.exc_info
    ]
    refused = [record.getMessage() for record in records if "takes no write" in record.getMessage()]
    assert len(refused) == 1, [record.getMessage() for record in records]
    assert "read-only" in refused[0]
    assert "\n" not in refused[0]
    assert len([record for record in records if "takes writes again" in record.getMessage()]) == 1


async def test_firearms_status_says_the_database_takes_no_write(
    settings: Settings, initialised: bootstrap.Initialised, conn: db.Conn, database: str
) -> None:
    """The operator's morning command, on the database an incident left read-only: exit 3 and the line saying so."""
    del initialised
    name = await conn.fetchval("SELECT current_database()")
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(settings.home), **database_env(database)}
    await conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    try:
        shown = await asyncio.to_thread(CliRunner().invoke, main, ["status"], env=env)
        as_json = await asyncio.to_thread(CliRunner().invoke, main, ["status", "--json"], env=env)
    finally:
        await conn.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    assert shown.exit_code == 3, shown.output
    assert "database-read-only" in shown.output
    assert "read-only" in shown.output.splitlines()[0]  # the service's line too
    assert json.loads(as_json.stdout)["service"]["database_read_only"] is True
    after = await asyncio.to_thread(CliRunner().invoke, main, ["status", "--json"], env=env)
    assert json.loads(after.stdout)["service"]["database_read_only"] is False
    assert "database-read-only" not in after.output


async def test_a_partner_notice_to_a_read_only_registry_is_a_503_with_the_senders_advice(
    database: str, home: Path
) -> None:
    """PROTOCOL §4: a 5xx is retried by the sender, the same bytes. The detail speaks to the sender, not to an officer
    (no ``check_id``, no paper procedure); nothing is stored, and once the database takes writes the same notice is
    received."""
    settings, conn = await receiver("DE", database, home)
    raw = envelope(AT_KEY, sequence=1)
    json_type = {"content-type": "application/json"}
    try:
        async with AsyncTestClient(app=create_app(settings)) as de:
            await _read_only(conn, de, on=True)
            try:
                refused = await de.post("/exchange/v1/notices", content=raw, headers=json_type)
                body = _problem(refused, 503, "database-read-only")
                assert refused.headers["retry-after"] == "30"
                assert body["detail"] == (
                    "the registry's database takes no write now: the notice was not stored. Send the same notice"
                    " again later, the same bytes"
                )
                assert await conn.fetchval("SELECT count(*) FROM notice_inbox") == 0
            finally:
                await _read_only(conn, de, on=False)
            received = await de.post("/exchange/v1/notices", content=raw, headers=json_type)
            assert received.status_code == 202, received.text
        assert await conn.fetchval("SELECT count(*) FROM notice_inbox") == 1
    finally:
        await conn.close()
