from __future__ import annotations

from pathlib import Path

from firearms import db

LICENSING_FILES = ("parties.sql", "licences.sql", "ledger.sql", "consents.sql")


async def test_every_licensing_query_prepares_against_the_schema(conn: db.Conn) -> None:
    prepared = 0
    for file in LICENSING_FILES:
        folder = db.SQL_DIR / "queries"
        for name in db.load_queries(folder).keys() & _names(folder / file):
            await conn.prepare(db.QUERIES[name])
            prepared += 1
    assert prepared >= 35


def _names(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("-- name:")}
