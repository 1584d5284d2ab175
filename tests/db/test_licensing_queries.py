from __future__ import annotations

from pathlib import Path

from firearms import db

LICENSING_FILES = ("parties.sql", "licences.sql", "ledger.sql", "consents.sql")


async def test_every_licensing_query_prepares_against_the_schema(conn: db.Conn) -> None:
    folder = db.SQL_DIR / "queries"
    loaded = db.load_queries(folder)
    named = {file: _names(folder / file) for file in LICENSING_FILES}
    # every block the files name is loaded (an intersection would drop a block the loader missed)
    for file, names in named.items():
        assert names, f"{file} names no query"
        assert names <= loaded.keys(), (file, sorted(names - loaded.keys()))
    prepared = 0
    for names in named.values():
        for name in sorted(names):
            await conn.prepare(db.QUERIES[name])
            prepared += 1
    assert prepared == sum(len(names) for names in named.values())


def _names(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("-- name:")}
