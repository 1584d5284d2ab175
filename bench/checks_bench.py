"""Customs-check benchmark (run by hand, not a test): checks/s and p50/p99 vs a SELECT + INSERT reference.

    uv run python bench/checks_bench.py --licences 100000 --duration 15

Everything runs on loopback on this machine: an embedded PostgreSQL (or FIREARMS_BENCH_ADMIN_URI), the
registry app under uvicorn in a separate process (bench/checks_app.py), and wrk as the load generator
(apt install wrk). Each check is an export check of one cartridge against a random licence of the
100,000, so every check clears, debits the ledger and queues shipment.dispatched to the two partners
CZ and DE (the heaviest verdict).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadgen import cpu_seconds, free_port, postgres_cpu_seconds, run_wrk, show, wait_up  # noqa: E402

from firearms import bootstrap, db, tokens  # noqa: E402
from firearms.embedded import database_url, start_embedded, stop_embedded  # noqa: E402
from firearms.exchange import trust  # noqa: E402
from firearms.settings import Settings  # noqa: E402
from firearms.signing import SigningKey, b64url_encode  # noqa: E402

SEED = """
INSERT INTO licence (licence_id, issuing_state, number, kind, origin, status, version, valid_from, expires_on,
                     exporting_state, importing_state, transit_states, issued_at, created_at, created_by, updated_at)
SELECT gen_random_uuid(), 'AT', 'AT-EXP-2026-' || lpad(g::text, 6, '0'), 'export', 'local', 'issued', 1,
       current_date - 1, current_date + 300, 'AT', 'DE', ARRAY['CZ'], now(), now(), 'bench', now()
  FROM generate_series(1, $1::int) AS g;
"""
SEED_VERSIONS = """
INSERT INTO licence_version (licence_id, version, content, broker_ids, created_at, created_by)
SELECT l.licence_id, 1, jsonb_build_object(
           'number', l.number, 'issuing_state', 'AT', 'kind', 'export', 'place_of_issue', 'Wien',
           'issuing_authority', 'Bundesministerium fur Inneres', 'valid_from', l.valid_from, 'expires_on', l.expires_on,
           'exporting_state', 'AT', 'importing_state', 'DE', 'transit_states', jsonb_build_array('CZ'),
           'exporter', jsonb_build_object('name', 'Waffen Huber GmbH', 'country', 'AT', 'address', 'Steyr'),
           'consignee', jsonb_build_object('name', 'Jagdbedarf Muller KG', 'country', 'DE', 'address', 'Passau'),
           'final_recipient', jsonb_build_object('name', 'Jagdbedarf Muller KG', 'country', 'DE', 'address', 'Passau'),
           'brokers', jsonb_build_array(),
           'import_authorisation', jsonb_build_object('number', 'DE-IMP-2026-42', 'state', 'DE',
               'issued_on', l.valid_from, 'expires_on', l.expires_on + 30),
           'purpose', 'commercial',
           'lines', jsonb_build_array(
               jsonb_build_object('line', 1, 'category', 'firearm', 'type', 'rifle', 'make', 'Steyr Mannlicher',
                   'model', 'SSG 08', 'calibre', '.308 Win', 'quantity', 2,
                   'serials', jsonb_build_array(l.number || '-A', l.number || '-B'), 'description', ''),
               jsonb_build_object('line', 2, 'category', 'ammunition', 'type', 'cartridge', 'make', 'Hirtenberger',
                   'model', '', 'calibre', '.308 Win', 'quantity', 1000000, 'serials', jsonb_build_array(),
                   'description', ''))),
       '{}', now(), 'bench'
  FROM licence AS l;
"""
SEED_LINES = """
INSERT INTO licence_line (licence_id, line, category, quantity, serials)
SELECT licence_id, 1, 'firearm', 2, ARRAY[number || '-A', number || '-B'] FROM licence
UNION ALL
SELECT licence_id, 2, 'ammunition', 1000000, '{}' FROM licence;
"""

LUA = """
-- Every thread of every run draws its own licences and names its own checks: the run's nonce (args[4])
-- and the thread's number make the check ids unique, so no check is an idempotent replay of another.
local threads = 0
local counter = 0
setup = function(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end
init = function(args)
  count = tonumber(args[1])
  path = args[2]
  kind = args[3]
  nonce = tonumber(args[4])
  math.randomseed(nonce + thread_number)
end
request = function()
  counter = counter + 1
  local number = string.format("AT-EXP-2026-%06d", math.random(count))
  local body
  if kind == "check" then
    local check_id = string.format("%08x-%04x-4000-8000-%012x", nonce, thread_number, counter)
    body = '{"check_id":"' .. check_id .. '","movement":"export","licence_number":"' .. number ..
      '","issuing_state":"AT","crossing_point":"AT-Wullowitz","lines":[{"line":2,"quantity":1}]}'
  else
    body = '{"licence_number":"' .. number .. '"}'
  end
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
    ["Content-Type"] = "application/json"}, body)
end
"""


async def prepare(admin_uri: str, name: str, home: Path, count: int) -> tuple[str, str]:
    admin = await asyncpg.connect(admin_uri)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url(admin_uri, name)
    settings = Settings(state="AT", home=home, database_url=url, run_worker=False)
    await bootstrap.initialise(settings, url)
    conn = await db.connect(url)
    try:
        started = time.perf_counter()
        await conn.execute(SEED, count)
        await conn.execute(SEED_VERSIONS)
        await conn.execute(SEED_LINES)
        await conn.execute(
            "CREATE TABLE bench_reference (reference_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " licence_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute("VACUUM ANALYZE")
        print(f"seeded {count} licences (one version, two lines each) in {time.perf_counter() - started:.1f} s")
        async with conn.transaction():
            secret, _ = await tokens.create_token(conn, role="customs-officer", name="bench", actor="bench")
            # CZ and DE are partners: every clear export check queues shipment.dispatched to both, as in
            # production (the worker is off, so the notices stay queued).
            for partner in ("CZ", "DE"):
                await trust.add_peer(
                    conn,
                    own_state="AT",
                    state=partner,
                    base_url="http://127.0.0.1:9",
                    public_key=b64url_encode(SigningKey.generate().public_key),
                    not_before=None,
                    actor="bench",
                )
        return url, secret
    finally:
        await conn.close()


def machine_cpu_seconds() -> float:
    """CPU time used so far by the whole machine, every core (Linux /proc/stat: all but idle and iowait)."""
    fields = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wrk(
    port: int, work: Path, kind: str, path: str, count: int, connections: int, duration: int, token: str
) -> dict[str, float]:
    script = work / "checks.lua"
    script.write_text(LUA, encoding="utf-8")
    nonce = str(secrets.randbits(31))
    return run_wrk(port, script, [str(count), path, kind, nonce], kind, connections, duration, token)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--licences", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="reference/check pairs, run back to back")
    parser.add_argument("--workers", type=int, default=1, help="app processes on the port (like serve --workers)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (database included)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt install wrk)")
    work = Path(tempfile.mkdtemp(prefix="firearms-checks-bench-"))
    embedded = "FIREARMS_BENCH_ADMIN_URI" not in os.environ
    admin_uri = start_embedded(work / "pg") if embedded else os.environ["FIREARMS_BENCH_ADMIN_URI"]
    try:
        run(args, work, admin_uri)
    finally:
        if embedded:
            stop_embedded(work / "pg")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)  # a 100,000-licence database is most of a gigabyte


def run(args: argparse.Namespace, work: Path, admin_uri: str) -> None:
    """Prepare the database, start the app and measure reference and check rounds."""
    url, token = asyncio.run(prepare(admin_uri, "checks_bench", work / "home", args.licences))
    port = free_port()
    env = {**os.environ, "FIREARMS_DATABASE_URL": url, "FIREARMS_STATE": "AT", "FIREARMS_HOME": str(work / "home")}
    servers = [
        subprocess.Popen([sys.executable, str(ROOT / "bench" / "checks_app.py"), str(port)], env=env)
        for _ in range(args.workers)
    ]
    try:
        wait_up(port, time.monotonic() + 60)
        time.sleep(5 if args.workers > 1 else 0)  # the first process answering is not all of them
        print(
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()},"
            f" {args.workers} app process(es)"
        )
        wrk(port, work, "reference", "/bench/reference", args.licences, 16, 3, token)
        wrk(port, work, "check", "/api/v1/checks", args.licences, 16, 3, token)

        def measured(path: str, kind: str) -> tuple[dict[str, float], str]:
            """One wrk run, and the CPU each part of the machine spent per request during it."""
            before = cpu()
            run = wrk(port, work, kind, path, args.licences, args.connections, args.duration, token)
            app, postgres, machine = (after - earlier for after, earlier in zip(cpu(), before, strict=True))
            done = run["rps"] * args.duration / 1000  # per request, in ms
            return (
                run,
                f"  CPU: app {app / done:.2f} ms, PostgreSQL {postgres / done:.2f} ms, all {machine / done:.2f} ms",
            )

        def cpu() -> tuple[float, float, float]:
            return sum(cpu_seconds(server.pid) for server in servers), postgres_cpu_seconds(), machine_cpu_seconds()

        ratios = []
        for round_number in range(1, args.rounds + 1):
            ref, ref_cpu = measured("/bench/reference", "reference")
            chk, chk_cpu = measured("/api/v1/checks", "check")
            show(f"reference SELECT+INSERT (round {round_number})", ref, ref_cpu, width=34)
            show(f"customs check, clear (round {round_number})", chk, chk_cpu, width=34)
            ratios.append(chk["rps"] / ref["rps"])
            print(
                f"check / reference throughput: {ratios[-1]:.2f}x (target >= 0.8x);"
                f" check p99 {chk['p99']:.1f} ms (target <= 100 ms)"
            )
        print(f"ratios: {', '.join(f'{ratio:.2f}x' for ratio in ratios)}")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
