"""An export whose client stops reading gives its database connection back (README "Security": denial of service).

``GET /api/v1/items/export`` streams from a connection of the long jobs' pool (four a process) in one snapshot.
A client that stopped reading held that connection and that snapshot for as long as it kept the socket open:
four such requests from the least of the roles (a verifier) made every import, journal verification and
checkpoint of the process the 503 ``database-timeout``, and the snapshot held back vacuum. The export now waits
at most :data:`api.streams.STALL` for the client to take a chunk; then it ends, its connection released. And at
most :data:`api.items.EXPORT_SLOTS` exports run at once in a process, so that exports read to their end leave
the other long jobs connections of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import httpx
import pytest

import api.items
import api.streams
from api.app import LONG_POOL_SIZE
from api.items import EXPORT_SLOTS
from firearms import db
from firearms.settings import Settings
from tests.conftest import TokenFactory
from tests.e2e.registries import wait_for
from tests.served import served as _served

ITEMS = 200_000  # a CSV export of some 10 MB: more than the sockets of a stalled client and the server take in


@contextlib.contextmanager
def _stalled_exports(port: int, authorization: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` exports asked for by clients that read nothing of them (a small receive buffer, never read)."""
    clients = []
    try:
        for _ in range(count):
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.connect(("127.0.0.1", port))
            head = f"GET /api/v1/items/export HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\n\r\n"
            client.sendall(head.encode())
            clients.append(client)
        yield clients
    finally:
        for client in clients:
            client.close()


# an export's connection is in its transaction, idle (waiting for its client) or active (reading the next batch):
# counting only the idle ones, a loaded machine's export still reading looked given back
_EXPORTING = """
SELECT count(*) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
   AND state IN ('idle in transaction', 'active')
"""


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stall bound of a second, not a minute: the test waits for the connections to come back."""
    monkeypatch.setattr(api.streams, "STALL", 1.0)


@pytest.mark.usefixtures("quick")
async def test_exports_nobody_reads_give_the_long_jobs_their_connections_back(
    settings: Settings, auth: TokenFactory, conn: db.Conn
) -> None:
    await conn.execute(
        "INSERT INTO item (kind, firearm_type, make, model, calibre, country_of_manufacture, manufacturer, serial,"
        " status, registered_at, registered_by)"
        " SELECT 'firearm', 'pistol', 'Glock', '17', '9mm', 'AT', 'Glock GmbH', 'X' || g, 'active', now(), 'test'"
        " FROM generate_series(1, $1::int) AS g",
        ITEMS,
    )
    verifier, auditor = await auth("verifier"), await auth("auditor")
    async with _served(settings) as port:
        with _stalled_exports(port, verifier["Authorization"], EXPORT_SLOTS) as clients:

            async def exporting() -> bool:
                return bool(await conn.fetchval(_EXPORTING) == EXPORT_SLOTS)

            async def given_back() -> bool:
                return bool(await conn.fetchval(_EXPORTING) == 0)

            await wait_for(exporting, "every connection of the long jobs held by an export")
            await wait_for(given_back, "the stalled exports' connections given back", timeout=20)
            async with httpx.AsyncClient(timeout=30) as client:
                verified = await client.get(f"http://127.0.0.1:{port}/api/v1/journal/verify", headers=auditor)
            assert verified.status_code == 200, verified.text
            assert verified.json()["intact"] is True
            # read at last, the export is cut short: the chunked answer's last chunk never comes
            received = await asyncio.to_thread(_read_to_the_end, clients[0])
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"transfer-encoding: chunked" in head.lower()
    assert body
    assert not body.endswith(b"0\r\n\r\n"), "a stalled export ended as a whole one would"


def _read_to_the_end(client: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    client.settimeout(30)
    received = bytearray()
    while chunk := client.recv(65536):
        received += chunk
    return bytes(received)


async def test_an_export_read_to_its_end_is_whole(settings: Settings, auth: TokenFactory, conn: db.Conn) -> None:
    """Read as it comes, the export is every item, once, the CSV's last line whole."""
    await conn.execute(
        "INSERT INTO item (kind, firearm_type, make, model, calibre, country_of_manufacture, manufacturer, serial,"
        " status, registered_at, registered_by)"
        " SELECT 'firearm', 'pistol', 'Glock', '17', '9mm', 'AT', 'Glock GmbH', 'W' || g, 'active', now(), 'test'"
        " FROM generate_series(1, 2500) AS g"
    )
    verifier = await auth("verifier")
    async with _served(settings) as port, httpx.AsyncClient(timeout=30) as client:
        exported = await client.get(f"http://127.0.0.1:{port}/api/v1/items/export", headers=verifier)
    assert exported.status_code == 200, exported.text
    lines = exported.text.removeprefix("\ufeff").splitlines()
    assert len(lines) == 1 + 2500
    assert {line.split(",")[lines[0].split(",").index("serial")] for line in lines[1:]} == {
        f"W{number}" for number in range(1, 2501)
    }


async def test_an_export_whose_client_goes_away_gives_its_connection_back_at_once(
    settings: Settings, auth: TokenFactory, conn: db.Conn
) -> None:
    """A client that read part of the export and closed its connection: the reading stops then, not after
    :data:`api.streams.STALL` (a minute here)."""
    await conn.execute(
        "INSERT INTO item (kind, firearm_type, make, model, calibre, country_of_manufacture, manufacturer, serial,"
        " status, registered_at, registered_by)"
        " SELECT 'firearm', 'pistol', 'Glock', '17', '9mm', 'AT', 'Glock GmbH', 'X' || g, 'active', now(), 'test'"
        " FROM generate_series(1, $1::int) AS g",
        ITEMS,
    )
    verifier = await auth("verifier")
    assert api.streams.STALL >= 60
    async with _served(settings) as port:
        with _stalled_exports(port, verifier["Authorization"], 1) as clients:

            async def exporting() -> bool:
                return bool(await conn.fetchval(_EXPORTING) == 1)

            await wait_for(exporting, "the export under way")
            assert await asyncio.to_thread(clients[0].recv, 65536)
            clients[0].close()

            async def given_back() -> bool:
                return bool(await conn.fetchval(_EXPORTING) == 0)

            await wait_for(given_back, "the export's connection given back", timeout=20)


async def test_exports_leave_the_long_jobs_connections_of_their_own(
    settings: Settings, auth: TokenFactory, conn: db.Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four exports at once (read or not) held every connection of the long jobs' pool: an import, a journal
    verification or a checkpoint waited 10 s and was a 503 for as long as they ran. At most EXPORT_SLOTS run at once
    in a process; a further one waits as a request waits for a connection, then is the 503 ``database-timeout``,
    journaling nothing."""
    await conn.execute(
        "INSERT INTO item (kind, firearm_type, make, model, calibre, country_of_manufacture, manufacturer, serial,"
        " status, registered_at, registered_by)"
        " SELECT 'firearm', 'pistol', 'Glock', '17', '9mm', 'AT', 'Glock GmbH', 'X' || g, 'active', now(), 'test'"
        " FROM generate_series(1, $1::int) AS g",
        ITEMS,
    )
    verifier, auditor = await auth("verifier"), await auth("auditor")
    assert api.streams.STALL >= 60  # the stalled exports hold their connections for the whole test
    monkeypatch.setattr(api.items, "ACQUIRE_TIMEOUT", 1.0)  # the further export's wait, as for a connection
    assert EXPORT_SLOTS < LONG_POOL_SIZE
    async with _served(settings) as port:
        with _stalled_exports(port, verifier["Authorization"], EXPORT_SLOTS):

            async def exporting() -> bool:
                return bool(await conn.fetchval(_EXPORTING) == EXPORT_SLOTS)

            await wait_for(exporting, "the exports under way")
            exported = await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'items.exported'")
            async with httpx.AsyncClient(timeout=30) as client:
                verified = client.get(f"http://127.0.0.1:{port}/api/v1/journal/verify", headers=auditor)
                further = client.get(f"http://127.0.0.1:{port}/api/v1/items/export", headers=verifier)
                verified_answer, further_answer = await asyncio.gather(verified, further)
            assert verified_answer.status_code == 200, verified_answer.text
            assert verified_answer.json()["intact"] is True
            assert further_answer.status_code == 503, further_answer.text
            assert further_answer.json()["type"].endswith("/database-timeout")
            assert f"runs {EXPORT_SLOTS} at once" in further_answer.json()["detail"]
            assert await conn.fetchval(_EXPORTING) == EXPORT_SLOTS
            assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'items.exported'") == exported
