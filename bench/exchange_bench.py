"""Exchange throughput, run by hand: ``uv run python bench/exchange_bench.py [N]``.

1. Sequential delivery: AT's outbox -> DE (a real ``firearms serve`` on loopback), one notice at a time
   with verified receipts, as the worker does it. Target >= 300 notices/s.
2. Receiving: several senders posting concurrently to DE (each in its own sequence), verify + store +
   receipt. Target >= 1,000 notices/s.

Everything runs on one embedded PostgreSQL in a temporary folder; DE is a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import uvloop
from loadgen import KeepAlive, cpu_seconds, free_port

from firearms import bootstrap, db, keys, outbox
from firearms.canonical import format_time, utc_now
from firearms.embedded import database_url, start_embedded, stop_embedded
from firearms.exchange import delivery, trust
from firearms.exchange.protocol import Notice, encode, sign_notice
from firearms.settings import PARTNER_QUOTA_BYTES, PARTNER_QUOTA_NOTICES, Settings
from firearms.signing import SigningKey, b64url_encode, verify

FIREARMS = str(Path(sys.executable).parent / "firearms")
SENDERS = ["AT", "CZ", "FR", "PL", "SK", "HU", "SI", "IT", "BE", "NL", "LU", "DK", "SE", "FI", "PT", "ES"]
# DE's own export licence to each sender, with a line of firearms whose serials are not listed: a receipt is
# confirmed only by the importing State of one, and only for what its lines hold.
EXPORT_LICENCES = """
WITH licence_made AS (
    INSERT INTO licence (licence_id, issuing_state, number, kind, origin, status, version, valid_from, expires_on,
                         exporting_state, importing_state, transit_states, issued_at, created_at, created_by,
                         updated_at)
    SELECT gen_random_uuid(), 'DE', 'DE-EXP-2026-' || s, 'export', 'local', 'issued', 1, current_date - 1,
           current_date + 300, 'DE', s, ARRAY[]::text[], now(), now(), 'bench', now()
      FROM unnest($1::text[]) AS s
    RETURNING licence_id
)
INSERT INTO licence_line (licence_id, line, category, quantity)
SELECT licence_id, 1, 'firearm', 1000000 FROM licence_made;
"""


async def _database(admin_uri: str, name: str) -> str:
    admin = await asyncpg.connect(admin_uri)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url(admin_uri, name)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _calibration() -> str:
    """How fast this machine is right now, in the work every notice does twice: Ed25519 sign and verify.

    A shared VM's speed moves between runs; this figure lets runs taken at different times be compared.
    """
    key = SigningKey.generate()
    message = bytes(600)
    signature = key.sign(message)
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        key.sign(message)
    signing = (time.perf_counter() - started) / rounds * 1000
    started = time.perf_counter()
    for _ in range(rounds):
        verify(key.public_key, message, signature)
    verifying = (time.perf_counter() - started) / rounds * 1000
    return f"machine now: Ed25519 signature {signing:.3f} ms, verification {verifying:.3f} ms"


async def main(count: int, workers: int) -> None:
    print(_calibration())
    tmp = Path(tempfile.mkdtemp(prefix="exchange-bench-"))
    admin_uri = start_embedded(tmp / "pg")
    at_url = await _database(admin_uri, "at")
    de_url = await _database(admin_uri, "de")
    at = Settings(state="AT", home=tmp / "at", database_url=at_url, run_worker=False)
    de = Settings(state="DE", home=tmp / "de", database_url=de_url, run_worker=False)
    await bootstrap.initialise(at, at_url)
    await bootstrap.initialise(de, de_url)
    port = free_port()
    env = {
        **os.environ,
        "FIREARMS_STATE": "DE",
        "FIREARMS_HOME": str(de.home),
        "FIREARMS_DATABASE_URL": de_url,
        "FIREARMS_PORT": str(port),
        # AT sends `count` notices in seconds: DE's quota a partner an hour above twice that, so that the bench
        # measures what counting costs without meeting the bound (README "What one partner can make this registry
        # store"); the defaults are kept when higher
        "FIREARMS_PARTNER_QUOTA_NOTICES": str(max(PARTNER_QUOTA_NOTICES, 2 * count)),
        "FIREARMS_PARTNER_QUOTA_BYTES": str(max(PARTNER_QUOTA_BYTES, 2 * count * 4096)),
    }
    command = [FIREARMS, "serve", "--no-worker", "--workers", str(workers)]
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    if (await client.get(base + "/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        at_conn = await db.connect(at_url)
        de_conn = await db.connect(de_url)
        at_key = await keys.current_signing_key(at_conn, at.home)
        de_key = await keys.current_signing_key(de_conn, de.home)
        async with at_conn.transaction():
            await trust.add_peer(
                at_conn,
                own_state="AT",
                state="DE",
                base_url=base,
                public_key=b64url_encode(de_key.public_key),
                not_before=None,
                actor="bench",
            )
        async with de_conn.transaction():
            await trust.add_peer(
                de_conn,
                own_state="DE",
                state="AT",
                base_url="http://127.0.0.1:9",
                public_key=b64url_encode(at_key.public_key),
                not_before=None,
                actor="bench",
            )

        # 0. The ceiling in the same run: one HTTP round trip with one SELECT (GET /health), sequential.
        async with delivery.new_client(at) as session:
            started = time.perf_counter()
            for _ in range(count):
                async with session.get(base + "/health") as answer:
                    await answer.read()
            elapsed = time.perf_counter() - started
        print(f"ceiling GET /health sequential: {count / elapsed:.0f} requests/s")

        # 1. Sequential delivery through the outbox. Each sender confirms receipt of shipments under one of
        # DE's own export licences that names it as the importing State (else DE rejects the notice).
        await de_conn.execute(EXPORT_LICENCES, list(SENDERS))
        licence_body = {
            "licence_number": "DE-EXP-2026-AT",
            "shipment_id": "S",
            "received_on": "2026-11-29",
            "customs_document": "X",
            "items": [{"line": 1, "quantity": 2, "serials": ["A", "B"]}],
        }
        async with at_conn.transaction():
            for n in range(count):
                await outbox.enqueue(at_conn, "DE", "receipt.confirmed", {**licence_body, "shipment_id": f"S-{n}"})
        pool = await db.create_pool(at_url, max_size=4)
        async with delivery.new_client(at) as client:
            receiver_before, sender_before = cpu_seconds(server.pid), _own_cpu_seconds()
            started = time.perf_counter()
            delivered = await delivery.deliver_due(pool, at, client, "bench")
            elapsed = time.perf_counter() - started
            receiver, sender = cpu_seconds(server.pid) - receiver_before, _own_cpu_seconds() - sender_before
        await pool.close()
        print(
            f"sequential delivery AT->DE: {delivered} notices in {elapsed:.2f} s = "
            f"{delivered / elapsed:.0f} notices/s; "
            f"CPU a notice: sender {sender / delivered * 1000:.2f} ms, receiver {receiver / delivered * 1000:.2f} ms"
        )

        # 2. Concurrent senders to DE.
        per_sender = max(1, count // len(SENDERS[1:]))
        envelopes: dict[str, list[tuple[str, bytes]]] = {}
        for state in SENDERS[1:]:
            key = SigningKey.generate()
            async with de_conn.transaction():
                await trust.add_peer(
                    de_conn,
                    own_state="DE",
                    state=state,
                    base_url="http://127.0.0.1:9",
                    public_key=b64url_encode(key.public_key),
                    not_before=None,
                    actor="bench",
                )
            now = format_time(utc_now())
            ids = [str(uuid.uuid4()) for _ in range(per_sender)]
            envelopes[state] = [
                (
                    ids[n - 1],
                    encode(
                        sign_notice(
                            Notice(
                                id=ids[n - 1],
                                type="receipt.confirmed",
                                sender=state,
                                recipient="DE",
                                sequence=n,
                                created_at=now,
                                in_reply_to=None,
                                confidentiality="restricted",
                                body={
                                    **licence_body,
                                    "licence_number": f"DE-EXP-2026-{state}",
                                    "shipment_id": f"{state}-{n}",
                                },
                            ),
                            key,
                        )
                    ),
                )
                for n in range(1, per_sender + 1)
            ]

        async def send(state: str) -> int:
            sender = KeepAlive(port)
            try:
                for notice_id, raw in envelopes[state]:
                    status, answer = await sender.post("/exchange/v1/notices", raw, notice_id)
                    assert status == 202, answer
            finally:
                await sender.close()
            return len(envelopes[state])

        cpu_before = cpu_seconds(server.pid)
        started = time.perf_counter()
        total = sum(await asyncio.gather(*(send(state) for state in envelopes)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(server.pid) - cpu_before
        print(
            f"receiving, {len(envelopes)} concurrent senders: {total} notices in {elapsed:.2f} s = "
            f"{total / elapsed:.0f} notices/s; the receiver's processes used {cpu / total * 1000:.2f} ms CPU a notice"
        )
        outcome = await de_conn.fetch("SELECT status, reason, count(*) AS n FROM notice_inbox GROUP BY 1, 2")
        assert [tuple(row) for row in outcome] == [("accepted", None, delivered + total)], outcome  # effects ran
        await at_conn.close()
        await de_conn.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
        stop_embedded(tmp / "pg")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=1000, help="notices per measurement")
    parser.add_argument("--workers", type=int, default=1, help="API processes of the receiver (serve --workers)")
    options = parser.parse_args()
    uvloop.run(main(options.count, options.workers))  # the loop serve and the worker run on
