"""200 concurrent customs checks over real HTTP against one licence line with a balance of 50 (DESIGN §5)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from api import create_app
from firearms import bootstrap, db, tokens
from firearms.errors import ConflictError
from firearms.licence_object import LicenceLine
from firearms.settings import Settings
from tests.check_helpers import at_licence, check_body, receive, register_stolen
from tests.db.test_licence_races import amend_line_2, move
from tests.licensing_helpers import issued_export, register_parties


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def serve(settings: Settings) -> AsyncIterator[str]:
    """A registry's app under uvicorn on a loopback port, in this event loop."""
    port = free_port()
    app = create_app(msgspec.structs.replace(settings, pool_size=20))
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(uv.serve())
    for _ in range(200):
        if uv.started:
            break
        await asyncio.sleep(0.05)
    assert uv.started
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    await task


async def waiting_on_locks(conn: db.Conn, count: int) -> None:
    """Until ``count`` sessions of this database wait on a lock (each request as far as it can go)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    deadline = time.monotonic() + 20
    while True:
        await conn.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is read once
        if await conn.fetchval(query) >= count:
            return
        assert time.monotonic() < deadline, "the requests never reached the database"
        await asyncio.sleep(0.01)


@pytest.fixture
async def server(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[str]:
    """AT's registry over real HTTP."""
    async for url in serve(settings):
        yield url


@pytest.fixture
async def cz_server(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[str]:
    """CZ's registry (a transit State) over real HTTP."""
    async for url in serve(msgspec.structs.replace(settings, state="CZ")):
        yield url


async def test_200_concurrent_checks_never_pass_a_balance_of_50(server: str, conn: db.Conn, settings: Settings) -> None:
    ammunition = LicenceLine(
        line=1, category="ammunition", type="cartridge", make="Hirtenberger", model="", calibre=".308 Win", quantity=50
    )
    licence = await issued_export(conn, settings, await register_parties(conn), lines=[ammunition])
    async with conn.transaction():
        secret, _ = await tokens.create_token(conn, role="customs-officer", name="race", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}

    async def check(client: httpx.AsyncClient) -> httpx.Response:
        body = check_body(
            "export", [{"line": 1, "quantity": 1}], licence_number=licence.licence.number, crossing_point="AT-Wullowitz"
        )
        return await client.post(f"{server}/api/v1/checks", json=body, headers=headers)

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        responses = await asyncio.gather(*(check(client) for _ in range(200)))
    assert {response.status_code for response in responses} == {200}
    answers = [response.json() for response in responses]
    assert Counter(answer["verdict"] for answer in answers) == {"clear": 50, "refuse": 150}
    for answer in answers:
        if answer["verdict"] == "refuse":
            assert "quantity-exceeds-balance" in [reason["code"] for reason in answer["reasons"]]
    assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry WHERE licence_id = $1", licence.licence_id) == 50
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 200
    assert await conn.fetchval("SELECT status FROM licence WHERE licence_id = $1", licence.licence_id) == "exhausted"


async def test_one_serial_clears_once_however_many_checks_race(cz_server: str, conn: db.Conn) -> None:
    await receive(conn, at_licence(), state="CZ")
    async with conn.transaction():
        secret, _ = await tokens.create_token(conn, role="customs-officer", name="race", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}

    async def check(client: httpx.AsyncClient, spelling: str) -> httpx.Response:
        body = check_body(lines=[{"line": 1, "quantity": 1, "serials": [spelling]}])
        return await client.post(f"{cz_server}/api/v1/checks", json=body, headers=headers)

    spellings = ["SSG08-001", "ssg08 001", "SSG08.001", "ssg08001"] * 10
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(*(check(client, spelling) for spelling in spellings))
    verdicts = Counter(response.json()["verdict"] for response in responses)
    assert verdicts == {"clear": 1, "refuse": 39}
    for response in responses:
        if response.json()["verdict"] == "refuse":
            assert [reason["code"] for reason in response.json()["reasons"]] == ["serial-already-passed"]
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial WHERE movement = 'transit'") == 1
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 1


async def test_concurrent_transit_checks_never_pass_this_states_tally_beyond_a_line(
    cz_server: str, conn: db.Conn
) -> None:
    """DESIGN §5 in transit: CZ's own tally of a received licence, not AT's ledger, is what concurrent checks share.

    60 checks of 20 cartridges race for line 2 (800): exactly 40 clear. The export race and the serial race were
    tested; a transit tally has no constraint of its own, only the licence row's lock.
    """
    await receive(conn, at_licence(), state="CZ")
    async with conn.transaction():
        secret, _ = await tokens.create_token(conn, role="customs-officer", name="race", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}

    async def check(client: httpx.AsyncClient) -> httpx.Response:
        body = check_body(check_id=str(uuid.uuid4()), lines=[{"line": 2, "quantity": 20}])
        return await client.post(f"{cz_server}/api/v1/checks", json=body, headers=headers)

    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(*(check(client) for _ in range(60)))
    assert {response.status_code for response in responses} == {200}
    verdicts = Counter(response.json()["verdict"] for response in responses)
    assert verdicts == {"clear": 40, "refuse": 20}
    for response in responses:
        if response.json()["verdict"] == "refuse":
            codes = [reason["code"] for reason in response.json()["reasons"]]
            assert "quantity-exceeds-balance" in codes
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally WHERE movement = 'transit'") == 800


async def test_a_held_check_released_by_many_officers_at_once_is_released_once(cz_server: str, conn: db.Conn) -> None:
    await receive(conn, at_licence(), state="CZ")
    async with conn.transaction():
        secret, _ = await tokens.create_token(conn, role="customs-officer", name="race", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}
    await register_stolen(conn, "SSG08-001")
    body = check_body(lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}])  # held: reported stolen
    async with httpx.AsyncClient(timeout=60) as client:
        held = await client.post(f"{cz_server}/api/v1/checks", json=body, headers=headers)
        assert held.json()["verdict"] == "hold"
        url = f"{cz_server}/api/v1/checks/{body['check_id']}/release"
        # Hold the licence's lock, which a release takes after reading the check: all ten read it still
        # undecided and wait here, so only the database (check_decision_pkey) can stop a second release.
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM licence FOR UPDATE")
            racing = [
                asyncio.create_task(client.post(url, json={"reason": "seen"}, headers=headers)) for _ in range(10)
            ]
            await waiting_on_locks(conn, 10)
        responses = await asyncio.gather(*racing)
    assert Counter(response.status_code for response in responses) == {200: 1, 409: 9}
    for response in responses:
        if response.status_code == 409:
            assert response.json()["type"].endswith("/check-not-held")
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 1


async def test_a_release_and_a_refusal_of_one_held_check_at_once_one_wins_the_other_is_told_which(
    cz_server: str, conn: db.Conn
) -> None:
    await receive(conn, at_licence(), state="CZ")
    headers = {}
    for name in ("first", "second"):  # two officers, each with a token of their own
        async with conn.transaction():
            secret, _ = await tokens.create_token(conn, role="customs-officer", name=name, actor="test")
        headers[name] = {"Authorization": f"Bearer {secret}"}
    await register_stolen(conn, "SSG08-001")
    body = check_body(lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 100}])
    async with httpx.AsyncClient(timeout=60) as client:
        held = await client.post(f"{cz_server}/api/v1/checks", json=body, headers=headers["first"])
        assert held.json()["verdict"] == "hold"
        url = f"{cz_server}/api/v1/checks/{body['check_id']}"
        # Both read the check undecided, then wait for the licence's lock: only check_decision_pkey decides.
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM licence FOR UPDATE")
            release = asyncio.create_task(
                client.post(f"{url}/release", json={"reason": "report withdrawn"}, headers=headers["first"])
            )
            refuse = asyncio.create_task(
                client.post(f"{url}/refuse", json={"reason": "rifle stays"}, headers=headers["second"])
            )
            await waiting_on_locks(conn, 2)
        responses = {"release": await release, "refuse": await refuse}
    assert sorted(response.status_code for response in responses.values()) == [200, 409]
    won = next(decision for decision, response in responses.items() if response.status_code == 200)
    lost = responses["refuse" if won == "release" else "release"]
    assert lost.headers["content-type"] == "application/problem+json"
    assert (lost.json()["type"].rsplit("/", 1)[-1], lost.json()["verdict"], lost.json()["decision"]) == (
        "check-not-held",
        "hold",
        won,
    )
    assert await conn.fetchval("SELECT count(*) FROM check_decision") == 1
    assert await conn.fetchval("SELECT decision FROM check_decision") == won
    journaled = await conn.fetchval(
        "SELECT count(*) FROM journal_entry WHERE action IN ('check.released', 'check.refused')"
    )
    assert journaled == 1
    tallied = await conn.fetchval("SELECT coalesce(sum(quantity), 0) FROM passage_tally")
    assert tallied == (101 if won == "release" else 0)
    record = await conn.fetchval("SELECT count(*) FROM cleared_serial")
    assert record == (1 if won == "release" else 0)


async def test_200_concurrent_checks_half_with_serials_some_the_same_never_pass_a_balance_of_50(
    server: str, conn: db.Conn, settings: Settings
) -> None:
    """DESIGN §5 with serials: the balance and the serials are guarded together (the licence's lock, then the key).

    A component line of 50 barrels that lists no serials: 100 checks give none, 100 give one, 40 of those a serial
    another of them gives too. Exactly 50 clear, no serial clears twice, and every other is refused saying why.
    """
    barrels = LicenceLine(
        line=1, category="component", type="barrel", make="Steyr", model="SSG 08", calibre=".308 Win", quantity=50
    )
    licence = await issued_export(conn, settings, await register_parties(conn), lines=[barrels])
    async with conn.transaction():
        secret, _ = await tokens.create_token(conn, role="customs-officer", name="race", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}
    serials: list[list[str]] = [[] for _ in range(100)]
    serials += [[f"B-{n:03}"] for n in range(60)]  # 60 serials given once
    serials += [[f"B-{n % 20:03}"] for n in range(40)]  # 20 of them given twice more

    async def check(client: httpx.AsyncClient, given: list[str]) -> tuple[list[str], dict[str, object]]:
        body = check_body(
            "export",
            [{"line": 1, "quantity": 1, "serials": given}],
            licence_number=licence.licence.number,
            crossing_point="AT-Wullowitz",
        )
        response = await client.post(f"{server}/api/v1/checks", json=body, headers=headers)
        assert response.status_code == 200, response.text
        answer: dict[str, object] = response.json()
        return given, answer

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        results = await asyncio.gather(*(check(client, given) for given in serials))
    assert Counter(answer["verdict"] for _, answer in results) == {"clear": 50, "refuse": 150}
    cleared = Counter(serial for given, answer in results if answer["verdict"] == "clear" for serial in given)
    assert set(cleared.values()) <= {1}
    for _, answer in results:
        if answer["verdict"] == "refuse":
            codes = {reason["code"] for reason in answer["reasons"]}  # type: ignore[attr-defined]
            assert codes & {"quantity-exceeds-balance", "serial-already-passed"}, codes
    assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry WHERE licence_id = $1", licence.licence_id) == 50
    assert await conn.fetchval("SELECT count(*) FROM ledger_serial") == sum(cleared.values())
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial WHERE movement = 'export'") == sum(cleared.values())
    assert await conn.fetchval("SELECT status FROM licence WHERE licence_id = $1", licence.licence_id) == "exhausted"


@pytest.mark.parametrize("change", ["amend", "suspend"])
async def test_checks_racing_a_licence_change_each_see_one_version(
    change: str, server: str, conn: db.Conn, settings: Settings, database: str
) -> None:
    """60 exit checks of 10 cartridges (line 2: 800, never all used) over HTTP while the licence is amended to 400, or
    suspended.

    Each check judges the licence as it was before the change or as it is after it, never a mix: taken in the order
    they were dated (under the licence's lock), the clears' remaining balances run down from one line quantity and
    then, after the amendment, from the other; no check clears after one refused for the suspension.
    """
    p = await register_parties(conn)
    licence = await issued_export(conn, settings, p)
    async with conn.transaction():
        secret, _ = await tokens.create_token(conn, role="customs-officer", name="race", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}
    changer = await db.connect(database)

    async def check(client: httpx.AsyncClient) -> dict[str, Any]:
        body = check_body(
            "export", [{"line": 2, "quantity": 10}], licence_number=licence.licence.number, crossing_point="AT-W"
        )
        response = await client.post(f"{server}/api/v1/checks", json=body, headers=headers)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def change_licence() -> object:
        work = (
            amend_line_2(licence.licence_id, p, settings, 400)
            if change == "amend"
            else move(licence.licence_id, "suspended", settings)
        )
        try:
            async with changer.transaction():
                return await work(changer)
        except ConflictError as exc:
            return exc

    try:
        async with httpx.AsyncClient(timeout=60) as client:
            # Queued on the licence's lock in this order (PostgreSQL grants a row's waiters in turn): 15 checks,
            # the change, then as many checks as the pool of 20 lets in (the others follow them). The assertions
            # hold whatever the order; the queue puts the change mid-way.
            async with conn.transaction():
                await conn.execute("SELECT 1 FROM licence FOR UPDATE")
                first = [asyncio.create_task(check(client)) for _ in range(15)]
                await waiting_on_locks(conn, 15)
                changed = asyncio.create_task(change_licence())
                await waiting_on_locks(conn, 16)
                rest = [asyncio.create_task(check(client)) for _ in range(45)]
                await waiting_on_locks(conn, 21)
            answers = await asyncio.gather(*first, *rest)
            outcome = await changed
    finally:
        await changer.close()
    dated = await conn.fetch("SELECT check_id FROM customs_check ORDER BY checked_at, check_id")
    by_id = {answer["check_id"]: answer for answer in answers}
    ordered = [by_id[str(row["check_id"])] for row in dated]
    clears = [answer for answer in ordered if answer["verdict"] == "clear"]
    assert await conn.fetchval("SELECT coalesce(sum(quantity), 0) FROM ledger_entry") == 10 * len(clears)
    if change == "amend":
        # the version each clear saw: what remained after it, plus all that the clears up to it took
        seen = [answer["licence"]["lines"][1]["remaining"] + 10 * (n + 1) for n, answer in enumerate(clears)]
        assert seen == sorted(seen, reverse=True)
        assert set(seen) <= {800, 400}
        if isinstance(outcome, ConflictError):  # the amendment came after more than 400 had left
            assert outcome.code == "quantity-below-debited"
            assert (set(seen), len(clears)) == ({800}, 60)
        else:
            assert len(clears) == 40
        for answer in ordered:
            if answer["verdict"] == "refuse":
                assert [reason["code"] for reason in answer["reasons"]] == ["quantity-exceeds-balance"]
    else:
        assert not isinstance(outcome, ConflictError)
        verdicts = [(answer["verdict"], answer["licence"]["status"]) for answer in ordered]
        assert set(verdicts) <= {("clear", "issued"), ("refuse", "suspended")}
        suspended = [verdict for verdict, _ in verdicts].index("refuse") if ("refuse", "suspended") in verdicts else 60
        assert all(verdict == "clear" for verdict, _ in verdicts[:suspended])
        assert all(verdict == "refuse" for verdict, _ in verdicts[suspended:])
        for answer in ordered[suspended:]:
            assert [reason["code"] for reason in answer["reasons"]] == ["licence-suspended"]
