"""A partner's quota counts only go up (README "What one partner can make this registry store").

``peer_quota_window``'s guard (migration 20261201100000) let the service role change only the counts, but in either
direction: ``firearms_app`` could set a partner's ``notices``, ``bytes`` or ``refused`` back to 0 and so lift its
own bound on the partner, or hide its refusals from the overview. The database refuses any UPDATE that lowers a
count, moves ``last_refused_at`` back or changes a ``first_refused_at`` once set (migration 20261201170000); the
rows are not deleted either.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import bootstrap, db, journal
from firearms.canonical import utc_now
from firearms.exchange import trust
from firearms.store import inbox as store
from tests.conftest import _scratch_database
from tests.exchange_fixtures import Client, de
from tests.exchange_util import AT_KEY, add_partner, envelope

THIS_MIGRATION = "20261201170000_keep_partner_quota_counts_rising.sql"
__all__ = ["de"]

MINUTE = dt.timedelta(minutes=1)
ROW = "SELECT notices, bytes, refused, first_refused_at, last_refused_at FROM peer_quota_window WHERE state = $1"


def _hour() -> dt.datetime:
    return utc_now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)


async def _counted(conn: db.Conn, state: str, hour: dt.datetime) -> None:
    """A partner's row of an hour: five notices stored (5,000 bytes), three refused."""
    await conn.execute(
        "INSERT INTO peer_quota_window (state, window_start, notices, bytes, refused, first_refused_at,"
        " last_refused_at) VALUES ($1, $2, 5, 5000, 3, $3, $4)",
        state,
        hour,
        hour + MINUTE,
        hour + 10 * MINUTE,
    )


async def _row(conn: db.Conn, state: str = "DE") -> dict[str, Any]:
    row = await conn.fetchrow(ROW, state)
    assert row is not None
    return dict(row)


LOWERED = [
    "notices = notices - 1",
    "bytes = bytes - 1",
    "refused = refused - 1",
    "notices = 0, bytes = 0",
    "notices = 0, bytes = 0, refused = 0, first_refused_at = NULL, last_refused_at = NULL",
    "last_refused_at = last_refused_at - interval '1 second'",
    "last_refused_at = NULL, first_refused_at = NULL, refused = 0",
    "first_refused_at = first_refused_at + interval '1 second'",
    "first_refused_at = NULL",
    "notices = notices + 10, bytes = bytes - 1",  # one count up does not pay for another down
]


@pytest.mark.parametrize("change", LOWERED)
async def test_the_service_role_cannot_lower_a_partners_quota_counts(
    conn: db.Conn, service: db.Conn, change: str
) -> None:
    await add_partner(conn, "DE")
    await _counted(conn, "DE", _hour())
    before = await _row(conn)
    with pytest.raises(asyncpg.RestrictViolationError, match=r"peer_quota_window: a partner's quota counts only go up"):
        await service.execute(f"UPDATE peer_quota_window SET {change} WHERE state = 'DE'")  # noqa: S608
    assert await _row(conn) == before


async def test_the_owner_cannot_lower_them_either(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    """The guard is the table's trigger, not a privilege: the migrations' role meets it too."""
    del initialised
    await add_partner(conn, "DE")
    await _counted(conn, "DE", _hour())
    before = await _row(conn)
    with pytest.raises(asyncpg.RestrictViolationError, match="only go up"):
        await conn.execute("UPDATE peer_quota_window SET notices = 0 WHERE state = 'DE'")
    assert await _row(conn) == before


async def test_the_service_role_cannot_delete_or_truncate_a_partners_quota_counts(
    conn: db.Conn, service: db.Conn
) -> None:
    await add_partner(conn, "DE")
    await _counted(conn, "DE", _hour())
    before = await _row(conn)
    for statement in ("DELETE FROM peer_quota_window", "TRUNCATE peer_quota_window"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await service.execute(statement)
    # and were it granted, the table's guards refuse it (the owner meets them)
    with pytest.raises(asyncpg.RestrictViolationError, match="peer_quota_window keeps its rows: DELETE refused"):
        await conn.execute("DELETE FROM peer_quota_window")
    with pytest.raises(asyncpg.RestrictViolationError, match="peer_quota_window is append-only: TRUNCATE refused"):
        await conn.execute("TRUNCATE peer_quota_window")
    assert await _row(conn) == before


async def test_the_counts_still_go_up(conn: db.Conn, service: db.Conn) -> None:
    """What the code writes: a count up, the same values written again (an UPDATE changing nothing), a refusal
    whose clock reads earlier than the hour's latest (``record_quota_refusal`` keeps the latest), and a first
    refusal on a row that had only notices."""
    await add_partner(conn, "DE")
    await add_partner(conn, "FR")
    hour = _hour()
    await _counted(conn, "DE", hour)
    await service.execute("UPDATE peer_quota_window SET notices = notices + 1, bytes = bytes + 700 WHERE state = 'DE'")
    await service.execute("UPDATE peer_quota_window SET notices = notices WHERE state = 'DE'")
    assert await _refused(service, "DE", hour + 5 * MINUTE) == 4
    assert await _row(conn) == {
        "notices": 6,
        "bytes": 5700,
        "refused": 4,
        "first_refused_at": hour + MINUTE,
        "last_refused_at": hour + 10 * MINUTE,
    }
    assert await _refused(service, "DE", hour + 11 * MINUTE) == 5
    assert (await _row(conn))["last_refused_at"] == hour + 11 * MINUTE
    await conn.execute(
        "INSERT INTO peer_quota_window (state, window_start, notices, bytes) VALUES ('FR', $1, 1, 9)", hour
    )
    assert await _refused(service, "FR", hour + MINUTE) == 1
    assert await _row(conn, "FR") == {
        "notices": 1,
        "bytes": 9,
        "refused": 1,
        "first_refused_at": hour + MINUTE,
        "last_refused_at": hour + MINUTE,
    }


async def _refused(conn: db.Conn, state: str, at: dt.datetime) -> int:
    async with db.transaction(conn):
        recorded_at, payload = journal.prepare({"window_start": "x"})
        return await store.record_quota_refusal(conn, state, at, recorded_at, payload)


async def _post(client: Client, raw: bytes) -> int:
    answer = await client.post("/exchange/v1/notices", content=raw, headers={"content-type": "application/json"})
    return answer.status_code


async def test_a_stored_notice_and_a_refusal_are_still_counted(de: tuple[Client, db.Conn]) -> None:
    """Through the receiving app (as the service role): the statement that stores a notice adds to the hour's row,
    and a refusal for the quota counts on it."""
    client, conn = de
    async with conn.transaction():
        await trust.set_peer_quota(conn, "AT", notices=2, bytes_=None, actor="test")
    first, second = envelope(AT_KEY, sequence=1), envelope(AT_KEY, sequence=2)
    assert await _post(client, first) == 202
    assert await _post(client, second) == 202
    third = envelope(AT_KEY, sequence=3)
    assert await _post(client, third) == 429
    assert await _post(client, third) == 429
    row = await _row(conn, "AT")
    stored = await conn.fetchval("SELECT sum(octet_length(notice)) FROM notice_inbox")  # canonical bytes
    assert (row["notices"], row["bytes"], row["refused"]) == (2, stored, 2)
    assert row["first_refused_at"] <= row["last_refused_at"]
    assert await conn.fetchval("SELECT count(*) FROM notice_inbox") == 2


def _migrations_before(tmp_path: Path, last: str) -> Path:
    """The migrations before ``last``, in a folder of their own."""
    folder = tmp_path / "before"
    folder.mkdir()
    for path in sorted((db.SQL_DIR / "migrations").glob("*.sql")):
        if path.name < last:
            shutil.copy(path, folder)
    return folder


async def test_a_registry_with_counts_upgrades_and_keeps_them(pg_admin_uri: str, tmp_path: Path) -> None:
    """A database whose partners already have rows of the hour: the migration keeps them as they were, and from
    then on they only go up."""
    hour = _hour()
    async with _scratch_database(pg_admin_uri) as url:
        conn = await db.connect(url)
        try:
            await db.migrate(conn, _migrations_before(tmp_path, THIS_MIGRATION))
            await conn.execute(
                "INSERT INTO peer (state, base_url, enabled, created_at, updated_at)"
                " VALUES ('DE', 'https://registry.example.de', true, now(), now())"
            )
            await _counted(conn, "DE", hour)
            await _counted(conn, "DE", hour - dt.timedelta(hours=1))
            before = [tuple(row) for row in await conn.fetch(f"{ROW} ORDER BY window_start", "DE")]
            assert THIS_MIGRATION in await db.migrate(conn)
            assert [tuple(row) for row in await conn.fetch(f"{ROW} ORDER BY window_start", "DE")] == before
            with pytest.raises(asyncpg.RestrictViolationError, match="only go up"):
                await conn.execute(
                    "UPDATE peer_quota_window SET refused = 0, first_refused_at = NULL, last_refused_at = NULL"
                )
            assert await conn.execute("UPDATE peer_quota_window SET notices = notices + 1") == "UPDATE 2"
        finally:
            await conn.close()
