"""Records benchmark (run by hand, not a test): bulk import vs raw COPY, exact look-up vs a PK SELECT, fuzzy p99.

    uv run python bench/records_bench.py --items 1000000 --duration 15

Everything runs on loopback on this machine: an embedded PostgreSQL (or FIREARMS_BENCH_ADMIN_URI), the
registry app under uvicorn in a separate process, and wrk as the load generator (apt install wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import platform
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadgen import free_port, run_wrk, show, wait_up  # noqa: E402

from firearms import bootstrap, clock, db, imports, tokens  # noqa: E402
from firearms.embedded import database_url, start_embedded, stop_embedded  # noqa: E402
from firearms.import_files import COLUMNS  # noqa: E402
from firearms.settings import Settings  # noqa: E402

MAKERS = [
    ("Glock GmbH", "AT", "Glock", ["17", "19", "26", "34", "45"], "9x19", "pistol", "{L}{L}{L}{D}{D}{D}"),
    (
        "Steyr Mannlicher",
        "AT",
        "Steyr",
        ["SSG 08", "AUG A3", "Pro Hunter"],
        ".308 Win",
        "rifle",
        "{M}-{D}{D}{D}{D}{D}{D}",
    ),
    ("Beretta", "IT", "Beretta", ["92FS", "APX", "A400"], "9x19", "pistol", "PX{D}{D}{D}{D}{D}{L}"),
    ("Ceska zbrojovka", "CZ", "CZ", ["75 B", "P-10 C", "457"], "9x19", "pistol", "{L}{D}{D}{D}{D}{D}{D}"),
    ("SIG Sauer", "DE", "SIG", ["P226", "P320", "MCX"], "9x19", "pistol", "58{L}{D}{D}{D}{D}{D}{D}"),
    ("Heckler & Koch", "DE", "H&K", ["G36", "MP5", "SFP9"], "5.56x45", "rifle", "{D}{D}-{D}{D}{D}{D}{D}{D}"),
    ("FN Herstal", "BE", "FN", ["SCAR", "P90", "Five-seveN"], "5.7x28", "sub-machine-gun", "FN{D}{D}{D}{D}{D}{D}{D}"),
    ("Browning", "BE", "Browning", ["B525", "Maxus", "X-Bolt"], "12/70", "shotgun", "{D}{D}{D}{L}{L}{D}{D}{D}{D}"),
    ("Zastava Arms", "RS", "Zastava", ["M70", "M57", "M48"], "7.62x39", "rifle", "{L}-{D}{D}{D}{D}{D}{D}"),
    ("Sako", "FI", "Sako", ["85", "TRG 42", "S20"], ".308 Win", "rifle", "{D}{D}{D}{D}{D}{D}{D}"),
]
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
CONFUSE = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "O": "0", "I": "1", "S": "5", "B": "8"})


def make_serial(pattern: str, model: str, rng: random.Random) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("{L}", i):
            out.append(rng.choice(LETTERS))
            i += 3
        elif pattern.startswith("{D}", i):
            out.append(str(rng.randrange(10)))
            i += 3
        elif pattern.startswith("{M}", i):
            out.append(re.sub(r"[^A-Z0-9]", "", model.upper())[:5])
            i += 3
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def generate(path: Path, raw_path: Path, count: int, seed: int = 7) -> list[str]:
    """The import file (with markings) and the same rows for raw COPY (item columns only); returns the serials."""
    rng = random.Random(seed)
    seen: set[tuple[str, str, str]] = set()
    serials: list[str] = []
    raw_columns = [
        "kind",
        "firearm_type",
        "component_type",
        "make",
        "model",
        "calibre",
        "year_of_manufacture",
        "country_of_manufacture",
        "category",
        "manufacturer",
        "serial",
        "headstamp",
        "quantity",
        "registered_at",
        "registered_by",
    ]
    with path.open("w", newline="", encoding="utf-8") as out, raw_path.open("w", newline="", encoding="utf-8") as raw:
        writer, raw_writer = csv.writer(out), csv.writer(raw)
        writer.writerow(COLUMNS)
        raw_writer.writerow(raw_columns)
        written = 0
        while written < count:
            maker, country, make, models, calibre, ftype, pattern = rng.choice(MAKERS)
            model = rng.choice(models)
            roll = rng.random()
            kind, component, quantity, headstamp, serial = "firearm", "", "", "", make_serial(pattern, model, rng)
            if roll < 0.05:
                kind, ftype = "component", ""
                component = rng.choice(["barrel", "slide", "frame", "bolt"])
            elif roll < 0.08:
                kind, ftype, model = "ammunition", "", ""
                quantity = str(rng.choice([50, 500, 1000, 5000]))
                headstamp = f"{make[:3].upper()} {rng.randrange(90, 126) % 100:02d}"
                serial = f"LOT-{rng.randrange(2000, 2026)}-{rng.randrange(100000):05d}"
            key = (kind + component, maker, serial)
            if key in seen:
                continue
            seen.add(key)
            year = str(rng.randrange(1950, 2026))
            category = "" if kind == "ammunition" else rng.choice(["A", "B", "B", "C"])
            imported = kind != "ammunition" and country != "AT" and rng.random() < 0.5
            stamped = f"{maker.upper()} {country} {serial}" if kind != "ammunition" else ""
            writer.writerow(
                [
                    kind,
                    ftype,
                    component,
                    make,
                    model,
                    calibre,
                    year,
                    country,
                    category,
                    maker,
                    serial,
                    headstamp,
                    quantity,
                    "manufacture" if stamped else "",
                    stamped,
                    "",
                    "",
                    "AT" if imported else "",
                    year if imported else "",
                    f"AT {year[2:]}" if imported else "",
                ]
            )
            raw_writer.writerow(
                [
                    kind,
                    ftype or None,
                    component or None,
                    make,
                    model or None,
                    calibre,
                    year,
                    country,
                    category or None,
                    maker,
                    serial,
                    headstamp or None,
                    quantity or None,
                    "2026-11-29T00:00:00Z",
                    "bench",
                ]
            )
            serials.append(serial)
            written += 1
    return serials


async def fresh_database(admin_uri: str, name: str) -> str:
    admin = await asyncpg.connect(admin_uri)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url(admin_uri, name)
    conn = await db.connect(url)
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    return url


async def raw_copy(url: str, raw_path: Path) -> float:
    conn = await db.connect(url)
    try:
        with raw_path.open("rb") as handle:
            header = handle.readline().decode().strip().split(",")
            started = time.perf_counter()
            await conn.copy_to_table("item", source=handle, columns=header, format="csv")
            return time.perf_counter() - started
    finally:
        await conn.close()


async def bulk_import(url: str, path: Path) -> tuple[float, imports.ImportResult]:
    conn = await db.connect(url)
    try:
        started = time.perf_counter()
        result = await imports.import_file(
            conn, path, actor="bench", today=clock.today(dt.UTC), report=path.with_suffix(".rejected.csv")
        )
        return time.perf_counter() - started, result
    finally:
        await conn.close()


async def prepare_http(url: str, home: Path) -> tuple[str, list[int]]:
    settings = Settings(state="AT", home=home, database_url=url, run_worker=False)
    await bootstrap.initialise(settings, url)
    conn = await db.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE item")
        await conn.execute("VACUUM ANALYZE marking")
        async with conn.transaction():
            secret, _ = await tokens.create_token(conn, role="records-officer", name="bench", actor="bench")
        ids = [row[0] for row in await conn.fetch("SELECT item_id FROM item ORDER BY random() LIMIT 20000")]
        return secret, ids
    finally:
        await conn.close()


LUA = """
-- Each thread draws its own sequence of paths.
local paths = {}
local threads = 0
setup = function(thread)
  thread:set("thread_number", threads)
  threads = threads + 1
end
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(tonumber(args[2]) + thread_number)
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)], {["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")})
end
"""


def wrk(
    port: int, paths: list[str], work: Path, name: str, connections: int, duration: int, token: str
) -> dict[str, float]:
    listing = work / f"{name}.paths"
    listing.write_text("\n".join(paths) + "\n", encoding="utf-8")
    script = work / "paths.lua"
    script.write_text(LUA, encoding="utf-8")
    return run_wrk(port, script, [str(listing), str(secrets.randbits(31))], name, connections, duration, token)


def fuzz(serial: str, rng: random.Random) -> str:
    chars = list(serial.translate(CONFUSE))
    if len(chars) > 4 and rng.random() < 0.5:
        chars[rng.randrange(len(chars))] = rng.choice("0123456789")
    return "".join(chars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=15, help="seconds per HTTP run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt install wrk)")
    work = Path(tempfile.mkdtemp(prefix="records-bench-"))
    admin_uri = os.environ.get("FIREARMS_BENCH_ADMIN_URI") or start_embedded(work / "pg")
    rng = random.Random(11)
    print(
        f"# records bench: {args.items} items, {platform.node()}, {os.cpu_count()} cores, {platform.python_version()}"
    )
    started = time.perf_counter()
    serials = generate(work / "items.csv", work / "items_raw.csv", args.items)
    size = (work / "items.csv").stat().st_size
    print(f"generated {args.items} rows ({size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")

    copy_url = asyncio.run(fresh_database(admin_uri, "bench_copy"))
    copy_seconds = asyncio.run(raw_copy(copy_url, work / "items_raw.csv"))
    records_url = asyncio.run(fresh_database(admin_uri, "bench_records"))
    import_seconds, result = asyncio.run(bulk_import(records_url, work / "items.csv"))
    copy_rate, import_rate = args.items / copy_seconds, result.inserted / import_seconds
    print(f"raw COPY into item:     {copy_seconds:7.1f} s  {copy_rate:9.0f} rows/s")
    print(
        f"bulk import (+markings): {import_seconds:6.1f} s  {import_rate:9.0f} rows/s  "
        f"(inserted {result.inserted}, rejected {result.rejected})"
    )
    print(f"import / COPY ratio: {import_rate / copy_rate:.2f}x  (target >= 0.35x)")

    token, ids = asyncio.run(prepare_http(records_url, work / "home"))
    port = free_port()
    env = {
        **os.environ,
        "FIREARMS_DATABASE_URL": records_url,
        "FIREARMS_STATE": "AT",
        "FIREARMS_HOME": str(work / "home"),
    }
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "records_app.py"), str(port)], env=env)
    try:
        wait_up(port, time.monotonic() + 60)
        sample = rng.sample(serials, min(20000, len(serials)))
        exact = [f"/api/v1/items?serial={urllib.parse.quote(s)}&limit=10" for s in sample]
        reference = [f"/bench/items/{item_id}" for item_id in ids]
        fuzzy = [f"/api/v1/items/search?q={urllib.parse.quote(fuzz(s, rng))}&limit=10" for s in sample[:5000]]
        wrk(port, exact[:2000], work, "warm", 16, 3, token)
        wrk(port, reference[:2000], work, "warm2", 16, 3, token)
        runs = []
        for _ in range(2):
            ref = wrk(port, reference, work, "reference", 64, args.duration, token)
            look = wrk(port, exact, work, "exact", 64, args.duration, token)
            runs.append((ref, look))
            show("reference PK SELECT c64", ref)
            show("exact serial look-up c64", look, f"  -> {look['rps'] / ref['rps']:.2f}x")
        ratio = sum(look["rps"] for _, look in runs) / sum(ref["rps"] for ref, _ in runs)
        print(f"look-up / reference throughput ratio (both runs): {ratio:.2f}x  (target >= 0.85x)")
        fz1 = wrk(port, fuzzy, work, "fuzzy1", 1, args.duration, token)
        fz8 = wrk(port, fuzzy, work, "fuzzy8", 8, args.duration, token)
        show("fuzzy search c1", fz1, "  (target p99 <= 50 ms)")
        show("fuzzy search c8", fz8)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if "FIREARMS_BENCH_ADMIN_URI" not in os.environ:
            stop_embedded(work / "pg")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
