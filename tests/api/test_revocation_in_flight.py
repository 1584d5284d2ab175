"""A token revoked while a request of its holder is on its way (README "Security"): the request stores nothing.

The guard looks the token up before the body is read and before the request waits for a database connection. An
upload sent slowly (a bulk import of a large file, or a body trickled on purpose) or a wait for a busy pool let a
request authenticated before its token was revoked write after it: a revoked administrator's queued request made a
new token. A request whose connection comes later than :data:`api.deps.RECHECK_AFTER` after the look-up now looks
the token up again on that connection. Over real HTTP: the test client reads a body whole before the app runs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

import api.deps
from firearms import db, tokens
from firearms.settings import Settings
from tests.changes import changes
from tests.conftest import TokenFactory
from tests.e2e.registries import wait_for
from tests.served import served as _served

CSV = b"kind,firearm_type,manufacturer,country_of_manufacture,serial,model,marking_stamped\n"
ROW = b"firearm,pistol,Glock GmbH,AT,REV-1,17,GLOCK REV-1\n"


async def _send(
    port: int, path: str, headers: dict[str, str], parts: tuple[bytes, bytes], between: Callable[[], Awaitable[None]]
) -> tuple[int, Any]:
    """A POST whose body comes in two parts, ``between()`` run once the first is sent and the guard has answered it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    length = len(parts[0]) + len(parts[1])
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + parts[0])
    await writer.drain()
    await between()
    writer.write(parts[1])
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), msgspec.json.decode(body)


async def _token_id(conn: db.Conn, headers: dict[str, str]) -> uuid.UUID:
    token_id: uuid.UUID = await conn.fetchval(
        "SELECT token_id FROM officer_token WHERE token_hash = $1", tokens.hash_token(headers["Authorization"][7:])
    )
    return token_id


def _guard_passed(conn: db.Conn, token_id: uuid.UUID) -> Callable[[], Awaitable[None]]:
    """Wait until the guard has looked the token up (its body not all there yet), then revoke it."""

    async def revoke() -> None:
        async def looked_up() -> bool:
            return bool(await conn.fetchval(_GUARD_LOOKED_UP))

        await wait_for(looked_up, "the guard's look-up")
        await tokens.revoke_token(conn, token_id, actor="test")

    return revoke


# The guard's look-up, as the server shows it on the app's connection (the last statement of an idle one).
_GUARD_LOOKED_UP = """
SELECT count(*) > 0 FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%FROM officer_token%token_hash = $1%'
"""


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request counts as one whose connection came late: the look-up is made again whatever the delay."""
    monkeypatch.setattr(api.deps, "RECHECK_AFTER", 0.0)


@pytest.mark.usefixtures("slow")
async def test_a_revoked_admins_request_on_its_way_makes_no_token(
    settings: Settings, auth: TokenFactory, conn: db.Conn
) -> None:
    admin = await auth("admin")
    token_id = await _token_id(conn, admin)
    before = await changes(conn)
    async with _served(settings) as port:
        status, problem = await _send(
            port,
            "/api/v1/tokens",
            {**admin, "Content-Type": "application/json"},
            (b'{"role": "admin", ', b'"name": "backdoor"}'),
            _guard_passed(conn, token_id),
        )
    assert status == 401, problem
    assert problem["type"].endswith("/unauthenticated")
    assert problem["detail"] == "the token is unknown or revoked"
    assert admin["Authorization"][7:] not in msgspec.json.encode(problem).decode()
    assert await conn.fetchval("SELECT count(*) FROM officer_token WHERE name = 'backdoor'") == 0
    after = await changes(conn)
    assert after[0] == before[0] + 1  # the revocation's entry alone: no token.created
    assert after[-1] == before[-1] + 1


@pytest.mark.usefixtures("slow")
async def test_an_import_uploaded_after_its_token_was_revoked_stores_nothing(
    settings: Settings, auth: TokenFactory, conn: db.Conn
) -> None:
    officer = await auth("records-officer")
    token_id = await _token_id(conn, officer)
    async with _served(settings) as port:
        status, problem = await _send(
            port, "/api/v1/imports", {**officer, "Content-Type": "text/csv"}, (CSV, ROW), _guard_passed(conn, token_id)
        )
    assert status == 401, problem
    assert problem["type"].endswith("/unauthenticated")
    assert await conn.fetchval("SELECT count(*) FROM item") == 0
    assert await conn.fetchval("SELECT count(*) FROM item_import") == 0


@pytest.mark.usefixtures("slow")
async def test_a_live_token_passes_the_second_look_up(settings: Settings, auth: TokenFactory, conn: db.Conn) -> None:
    """The look-up made again finds a live token: the request is done as before (the import, a token made)."""
    officer, admin = await auth("records-officer"), await auth("admin")

    async def nothing() -> None:
        return None

    async with _served(settings) as port:
        imported = await _send(port, "/api/v1/imports", {**officer, "Content-Type": "text/csv"}, (CSV, ROW), nothing)
        assert imported[0] == 201, imported
        made = await _send(
            port,
            "/api/v1/tokens",
            {**admin, "Content-Type": "application/json"},
            (b'{"role": "verifier", ', b'"name": "Vera"}'),
            nothing,
        )
        assert made[0] == 201, made
    assert await conn.fetchval("SELECT count(*) FROM item") == 1


async def test_a_request_whose_connection_comes_at_once_is_not_looked_up_twice(
    client: AsyncTestClient[Litestar], auth: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second look-up costs a round trip: a request that reaches its connection within RECHECK_AFTER of the
    guard's (every request of a registry that is not overloaded) makes only the guard's."""
    looked_up: list[uuid.UUID] = []
    original = tokens.confirm_live

    async def counted(conn: db.Conn, token_id: uuid.UUID) -> None:
        looked_up.append(token_id)
        await original(conn, token_id)

    monkeypatch.setattr(tokens, "confirm_live", counted)
    monkeypatch.setattr(api.deps, "RECHECK_AFTER", 3600.0)
    response = await client.get("/api/v1/parties", headers=await auth("licensing-officer"))
    assert response.status_code == 200, response.text
    assert looked_up == []
    monkeypatch.setattr(api.deps, "RECHECK_AFTER", 0.0)
    response = await client.get("/api/v1/parties", headers=await auth("licensing-officer"))
    assert response.status_code == 200, response.text
    assert len(looked_up) == 1
