"""Sealing benchmark (run by hand, not a test): the sealer with the database's check of its links off and on.

    uv run python bench/seal_bench.py [--entries 50000] [--runs 5]

An embedded PostgreSQL (or FIREARMS_BENCH_ADMIN_URI) and a registry initialised in a temporary home. Each run writes
and queues ``entries`` entries shaped as ``bench/journal_bench.py`` writes them and times ``journal.seal`` three
times, alternating in one database so that all see the same moment of the machine: with the trigger
``journal_link_follows_chain`` disabled; enabled with the check's functions as migration 20261201030100 (and
20261130181100) wrote them; enabled with them as they are now. Then the parts of the check alone, both ways, over the
last run's entries: the hash of each entry, and the no-canonical-form check.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.journal_bench import fresh_registry, write  # noqa: E402
from firearms import db, journal  # noqa: E402
from firearms.embedded import start_embedded, stop_embedded  # noqa: E402

MIGRATIONS = ROOT / "sql" / "migrations"
# the check's functions as first written, and as now (only these were replaced since)
CHANGED = {
    "journal_link_follows_chain": "20261201030100_check_journal_links_and_verifications.sql",
    "journal_entry_hash": "20261201030100_check_journal_links_and_verifications.sql",
    "journal_payload_has_no_canonical_form": "20261130181100_keep_queued_journal_entries_until_linked.sql",
}
NOCANON = (
    "SELECT count(*) FILTER (WHERE journal_payload_has_no_canonical_form(payload))"
    "  FROM journal_entry WHERE entry_id > $1"
)
PARTS = {
    "as first written": {
        "entry hash": "SELECT count(journal_entry_hash(l.prev_hash, e)) FROM journal_entry AS e"
        " JOIN journal_link AS l USING (entry_id) WHERE e.entry_id > $1",
        "no-canonical-form check": NOCANON,
    },
    "now": {
        "entry hash": "SELECT count(sha256(l.prev_hash || convert_to(c.canonical, 'UTF8'))) FROM journal_entry AS e"
        " JOIN journal_link AS l USING (entry_id) CROSS JOIN LATERAL journal_entry_canonical(e) AS c"
        " WHERE e.entry_id > $1",
        "no-canonical-form check": NOCANON,
    },
}


def first_written(name: str) -> str:
    """The ``CREATE FUNCTION`` of ``name`` in the migration that made it, as a ``CREATE OR REPLACE``."""
    text = (MIGRATIONS / CHANGED[name]).read_text()
    start = text.index(f"CREATE FUNCTION {name}(")
    end = text.index("$$;", text.index("$$", text.index("AS $$", start) + 5)) + 3
    return "CREATE OR REPLACE" + text[start + len("CREATE") : end]


async def functions(conn: db.Conn, version: dict[str, str]) -> None:
    for definition in version.values():
        await conn.execute(definition)


async def sealed(conn: db.Conn, first: int, count: int, *, checked: bool) -> float:
    await conn.execute(
        f"ALTER TABLE journal_link {'ENABLE' if checked else 'DISABLE'} TRIGGER journal_link_follows_chain"
    )
    await write(conn, first, count)
    await conn.execute("VACUUM ANALYZE journal_entry, journal_pending")
    started = time.perf_counter()
    linked = await journal.seal(conn)
    seconds = time.perf_counter() - started
    if linked != count:
        raise SystemExit(f"sealed {linked} of {count}")
    return seconds


async def run(url: str, entries: int, runs: int) -> None:
    conn = await db.connect(url)
    try:
        await journal.seal(conn)  # the registry's first entries
        now = {name: await conn.fetchval("SELECT pg_get_functiondef(to_regproc($1))", name) for name in CHANGED}
        then = {name: first_written(name) for name in CHANGED}
        first = 1
        for number in range(1, runs + 1):
            off = await sealed(conn, first, entries, checked=False)
            timed: dict[str, float] = {}
            # the two versions in turn first and second, run by run: neither always follows the other
            for version in ("then", "now") if number % 2 else ("now", "then"):
                await functions(conn, then if version == "then" else now)
                first += entries
                timed[version] = await sealed(conn, first, entries, checked=True)
            before, after = timed["then"], timed["now"]
            first += entries
            print(
                f"run {number}: {entries} entries sealed, check off {off:.2f} s, as first written {before:.2f} s"
                f" (+{(before - off) / entries * 1e6:.1f} us an entry), now {after:.2f} s"
                f" (+{(after - off) / entries * 1e6:.1f} us an entry)"
            )
        since: int = await conn.fetchval("SELECT max(entry_id) FROM journal_entry") - entries
        for version, definitions in (("as first written", then), ("now", now)):
            await functions(conn, definitions)
            for part, sql in PARTS[version].items():
                started = time.perf_counter()
                await conn.fetchval(sql, since)
                print(f"{part} {version}: {(time.perf_counter() - started) / entries * 1e6:.1f} us an entry")
        result = await journal.verify(conn, state="AT")
        if not result.intact:
            raise SystemExit(f"the bench's journal does not verify: {result}")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="seal-bench-"))
    embedded = "FIREARMS_BENCH_ADMIN_URI" not in os.environ
    admin_uri = start_embedded(work / "pg") if embedded else os.environ["FIREARMS_BENCH_ADMIN_URI"]
    print(
        f"# seal bench: {args.entries} entries a run, {platform.node()}, {os.cpu_count()} cores,"
        f" load {os.getloadavg()[0]:.1f}"
    )
    try:
        url = asyncio.run(fresh_registry(admin_uri, work / "home"))
        asyncio.run(run(url, args.entries, args.runs))
    finally:
        if embedded:
            stop_embedded(work / "pg")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
