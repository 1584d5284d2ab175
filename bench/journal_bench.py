"""Journal verification benchmark (run by hand, not a test): the full walk vs ``--since-checkpoint``.

    uv run python bench/journal_bench.py --entries 200000 --tail 2000 [--runs 3]

An embedded PostgreSQL (or FIREARMS_BENCH_ADMIN_URI) and a registry initialised in a temporary home. The journal
gets ``entries - tail`` entries, sealed and checkpointed; a verification reaching that checkpoint is recorded
(yesterday's run); then ``tail`` more entries (today's), sealed. Each full and incremental verification is timed
``runs`` times, none of them recorded, so every run walks the same links.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from firearms import bootstrap, db, journal  # noqa: E402
from firearms.embedded import database_url, start_embedded, stop_embedded  # noqa: E402
from firearms.settings import Settings  # noqa: E402

WRITE = """
WITH entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT now(), 'officer:bench', 'item.registered', 'item', g::text,
           jsonb_build_object('item_id', g, 'serial', 'SN' || g, 'manufacturer', 'Steyr Mannlicher', 'kind', 'rifle')
      FROM generate_series($1::bigint, $2::bigint) AS g
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry
"""


async def fresh_registry(admin_uri: str, home: Path) -> str:
    admin = await asyncpg.connect(admin_uri)
    try:
        await admin.execute('DROP DATABASE IF EXISTS "bench_journal" WITH (FORCE)')
        await admin.execute('CREATE DATABASE "bench_journal"')
    finally:
        await admin.close()
    url = database_url(admin_uri, "bench_journal")
    await bootstrap.initialise(Settings(state="AT", home=home, database_url=url, run_worker=False), url)
    return url


async def write(conn: db.Conn, first: int, count: int) -> None:
    step = 50_000
    for start in range(first, first + count, step):
        await conn.execute(WRITE, start, min(start + step, first + count) - 1)


async def timed(conn: db.Conn, *, since_checkpoint: bool) -> tuple[float, journal.Verification]:
    started = time.perf_counter()
    result = await journal.verify(conn, state="AT", since_checkpoint=since_checkpoint)
    return time.perf_counter() - started, result


async def run(url: str, home: Path, entries: int, tail: int, runs: int) -> None:
    conn = await db.connect(url)
    try:
        started = time.perf_counter()
        await write(conn, 1, entries - tail)
        await journal.seal(conn)
        made = await journal.checkpoint(conn, state="AT", home=home)
        assert made is not None
        seconds = time.perf_counter() - started
        print(f"wrote and sealed {entries - tail} entries, checkpoint at {made.seq}: {seconds:.1f} s")
        yesterday = await journal.verify(conn, state="AT")
        await journal.record_verification(conn, actor="cli:bench", result=yesterday)
        await write(conn, entries - tail + 1, tail)
        await journal.seal(conn)
        await conn.execute("VACUUM ANALYZE journal_entry")
        await conn.execute("VACUUM ANALYZE journal_link")
        head = await conn.fetchval("SELECT max(seq) FROM journal_link")
        print(f"head at {head}, {head - made.seq} links after the checkpoint")
        for _ in range(runs):
            full_s, full = await timed(conn, since_checkpoint=False)
            inc_s, inc = await timed(conn, since_checkpoint=True)
            if not (full.intact and inc.intact):
                raise SystemExit(f"the bench's journal does not verify: {full}, {inc}")
            print(
                f"full: {full.entries:8d} links {full_s:7.2f} s   "
                f"since checkpoint {inc.since_checkpoint}: {inc.entries:6d} links {inc_s:6.3f} s   "
                f"-> {full_s / inc_s:.0f}x"
            )
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--tail", type=int, default=2_000, help="entries after the checkpoint")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="journal-bench-"))
    embedded = "FIREARMS_BENCH_ADMIN_URI" not in os.environ
    admin_uri = start_embedded(work / "pg") if embedded else os.environ["FIREARMS_BENCH_ADMIN_URI"]
    print(f"# journal bench: {args.entries} entries, {platform.node()}, {os.cpu_count()} cores")
    try:
        url = asyncio.run(fresh_registry(admin_uri, work / "home"))
        asyncio.run(run(url, work / "home", args.entries, args.tail, args.runs))
    finally:
        if embedded:
            stop_embedded(work / "pg")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
