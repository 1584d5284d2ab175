"""Export benchmark (run by hand, not a test): the NDJSON and CSV exports of a registry, timed.

    uv run python bench/export_bench.py --items 100000

The items and markings of ``records_bench.py`` (bulk-imported), and a ``transferred`` event on every fifth item,
in an embedded PostgreSQL (or FIREARMS_BENCH_ADMIN_URI); :func:`firearms.exports.export_items` is read to its end
through a pool, as the API's long pool reads it, and timed.
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

from records_bench import bulk_import, fresh_database, generate  # noqa: E402

from firearms import db, exports  # noqa: E402
from firearms.embedded import start_embedded, stop_embedded  # noqa: E402

_EVENTS = """
INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, from_party, to_party, document,
                        recorded_at, recorded_by)
SELECT item_id, 'transferred', 'active', 'active', DATE '2026-01-15', 'Dealer ' || item_id, 'Owner ' || item_id,
       'TR-' || item_id, now(), 'bench'
  FROM item
 WHERE item_id % 5 = 0
"""


async def _export(url: str, fmt: exports.ExportFormat) -> tuple[float, int, int]:
    pool = await db.create_pool(url, max_size=1)
    try:
        started = time.perf_counter()
        size = lines = 0
        async for chunk in exports.export_items(pool, fmt, (None,) * 8):
            size += len(chunk)
            lines += chunk.count(b"\n")
        return time.perf_counter() - started, size, lines
    finally:
        await pool.close()


async def _add_events(url: str) -> int:
    conn = await db.connect(url)
    try:
        status = await conn.execute(_EVENTS)
        await conn.execute("ANALYZE")
        return int(status.split()[-1])
    finally:
        await conn.close()


def main() -> None:
    """Generate, import, add events, then time each export twice."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="export-bench-"))
    admin_uri = os.environ.get("FIREARMS_BENCH_ADMIN_URI") or start_embedded(work / "pg")
    print(f"# export bench: {args.items} items, {platform.node()}, {os.cpu_count()} cores")
    try:
        generate(work / "items.csv", work / "items_raw.csv", args.items)
        url = asyncio.run(fresh_database(admin_uri, "bench_export"))
        seconds, result = asyncio.run(bulk_import(url, work / "items.csv"))
        print(f"imported {result.inserted} items in {seconds:.1f} s; {asyncio.run(_add_events(url))} events added")
        for fmt in ("ndjson", "csv", "ndjson", "csv"):
            seconds, size, lines = asyncio.run(_export(url, fmt))  # type: ignore[arg-type]
            print(f"{fmt:6} export: {seconds:6.2f} s  {lines / seconds:9.0f} lines/s  {size / 1e6:6.1f} MB")
    finally:
        if "FIREARMS_BENCH_ADMIN_URI" not in os.environ:
            stop_embedded(work / "pg")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
