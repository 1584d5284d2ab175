"""Dates far ahead: a licence valid until the end of the century is issued, checked and verified like any other.

Records are kept ten to thirty years; licences and import authorisations valid for decades must not meet a
date, counter or integer that runs out first.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from pathlib import Path

import msgspec

from firearms import backup, bootstrap, checks, db, documents, item_events, journal, licence_timers, restore
from firearms.check_records import CheckAnswer
from firearms.check_rules import CheckRequest
from firearms.item_types import NewEvent
from firearms.settings import Settings
from firearms.store import received as received_store
from tests.check_helpers import at_licence, authorise_import, check_body, register_firearm
from tests.licensing_helpers import TODAY, export_draft, issued_export, register_parties

LAST_DAY = dt.date(2099, 12, 31)
TODAY_NOW = dt.datetime.now(dt.UTC)


async def test_a_licence_valid_until_2099_clears_on_its_last_day_and_is_expired_the_day_after(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    parties = await register_parties(conn)
    authorisation = export_draft(parties).import_authorisation
    assert authorisation is not None
    lic = await issued_export(
        conn,
        settings,
        parties,
        expires_on=LAST_DAY,
        import_authorisation=msgspec.structs.replace(authorisation, expires_on=LAST_DAY),
    )
    assert (lic.status, lic.licence.expires_on) == ("issued", LAST_DAY)
    number = lic.licence.number

    async def check(moment: dt.datetime, serial: str) -> CheckAnswer:
        lines = [{"line": 1, "quantity": 1, "serials": [serial]}]
        body = check_body("export", lines=lines, licence_number=number, crossing_point="AT-Wullowitz")
        async with conn.transaction():
            return await checks.perform_check(
                conn,
                msgspec.convert(body | {"check_id": str(uuid.uuid4())}, CheckRequest),
                state="AT",
                time_zone=dt.UTC,
                actor="customs:at",
                now=moment,
            )

    last = await check(dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=dt.UTC), "SSG08-001")
    assert (last.verdict, last.reasons) == ("clear", [])
    assert last.checked_at.year == 2099
    after = await check(dt.datetime(2100, 1, 1, 0, 0, 1, tzinfo=dt.UTC), "SSG08-002")
    assert after.verdict == "refuse"
    assert [reason.code for reason in after.reasons] == ["licence-expired"]
    verified = await documents.verify(conn, state="AT", today=LAST_DAY, issuing_state=None, number=number)
    assert (verified.expires_on, [line.remaining for line in verified.lines]) == (LAST_DAY, [1, 800])
    assert verified.in_validity_period
    after_it = await documents.verify(conn, state="AT", today=dt.date(2100, 1, 1), issuing_state=None, number=number)
    assert (after_it.status, after_it.in_validity_period) == ("issued", False)
    chain = await journal.verify(conn, state="AT")
    assert (chain.intact, chain.problem) == (True, None)


async def test_a_registry_holding_the_first_and_last_days_python_has_is_checked_timed_backed_up_and_restored(
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
    database: str,
    empty_database: str,
    tmp_path: Path,
) -> None:
    """A licence valid from 0001-01-01 to 9999-12-31 and an item lost on 0001-01-01 (its year of making unknown).

    Legitimate values (no rule refuses them), stored as the dates they are (asyncpg's own codec wrote them as
    -infinity and infinity, which SQL then wrote into JSON as such: ``firearms.db``): the last second of 9999 clears
    at the exit; the timers, run on the last day there is in the zones at both ends of the calendar, add no day to it
    (Python's ``date`` would overflow); the journal verifies, and a backup restores every row with the chain intact.
    """
    first, last = dt.date.min, dt.date.max
    parties = await register_parties(conn)
    authorisation = export_draft(parties).import_authorisation
    assert authorisation is not None
    lic = await issued_export(
        conn,
        settings,
        parties,
        valid_from=first,
        expires_on=last,
        import_authorisation=msgspec.structs.replace(authorisation, issued_on=first, expires_on=last),
    )
    assert (lic.status, lic.licence.valid_from, lic.licence.expires_on) == ("issued", first, last)
    body = check_body(
        "export",
        lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}],
        licence_number=lic.licence.number,
        crossing_point="AT-Wullowitz",
    )
    async with conn.transaction():
        answer = await checks.perform_check(
            conn,
            msgspec.convert(body | {"check_id": str(uuid.uuid4())}, CheckRequest),
            state="AT",
            time_zone=dt.UTC,
            actor="customs:at",
            now=dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        )
    assert (answer.verdict, answer.reasons) == ("clear", [])
    item_id = await register_firearm(conn, "OLD-0001")
    async with conn.transaction():
        lost = await item_events.record_event(
            conn, item_id, NewEvent(event="lost", occurred_on=first), actor="officer:records", today=TODAY
        )
    assert lost.occurred_on == first
    for zone in ("UTC", "Pacific/Kiritimati", "Etc/GMT+12"):  # UTC, UTC+14, UTC-12
        zoned = msgspec.structs.replace(settings, time_zone=zoneinfo.ZoneInfo(zone))
        assert await licence_timers.run_licence_timers(conn, zoned, today=last) == (0, 0), zone
    assert await conn.fetchval("SELECT status FROM licence WHERE licence_id = $1", lic.licence_id) == "issued"
    chain = await journal.verify(conn, state="AT")
    assert (chain.intact, chain.problem) == (True, None)

    path = tmp_path / "far.dump"
    manifest = await backup.backup(database, path, state="AT", actor="test:operator")
    restored = await restore.restore(empty_database, path, state="AT", home=tmp_path / "restored-home")
    assert (restored.head_matches, restored.verify_intact, restored.problem) == (True, True, None)
    assert restored.journal_entries == manifest.journal_seq
    again = await db.connect(empty_database)
    try:
        row = await again.fetchrow("SELECT valid_from, expires_on FROM licence WHERE licence_id = $1", lic.licence_id)
        assert row is not None
        assert (row["valid_from"], row["expires_on"]) == (first, last)
        assert await again.fetchval("SELECT occurred_on FROM item_event WHERE event_id = $1", lost.event_id) == first
        # kept as the dates they are, not as asyncpg's -infinity and infinity: SQL writes them into JSON as dates
        stored = await again.fetchval(
            "SELECT jsonb_build_array(l.valid_from, l.expires_on, e.occurred_on)"
            "  FROM licence AS l, item_event AS e WHERE l.licence_id = $1 AND e.event_id = $2",
            lic.licence_id,
            lost.event_id,
        )
        assert stored == ["0001-01-01", "9999-12-31", "0001-01-01"]
    finally:
        await again.close()


async def test_the_migration_puts_back_the_licence_dates_and_status_time_asyncpg_kept_as_infinity(
    conn: db.Conn,
) -> None:
    """``20261201200000_finite_licence_dates.sql``: rows written before the date codec (``firearms.db``) are repaired.

    Written here as asyncpg's codec wrote them (``-infinity``, ``infinity``), the migration's statements run again
    (idempotent: a finite row is not touched) make them the dates and the moment the officer or the partner gave.
    """
    licence_id = await authorise_import(conn, valid_from=dt.date(2026, 1, 1), expires_on=dt.date(2027, 1, 1))
    await conn.execute(
        "UPDATE licence SET valid_from = '-infinity', expires_on = 'infinity' WHERE licence_id = $1", licence_id
    )
    lic = at_licence()
    await received_store.upsert_foreign_licence(
        conn, "AT", lic.number, "export", 1, "issued", msgspec.to_builtins(lic), "restricted", "n-1", TODAY_NOW
    )
    await conn.execute("UPDATE foreign_licence SET status = 'expired', status_effective_at = '-infinity'")
    migration = db.SQL_DIR / "migrations" / "20261201200000_finite_licence_dates.sql"
    await conn.execute(migration.read_text())
    dates = await conn.fetchval(
        "SELECT valid_from::text || ' ' || expires_on::text FROM licence WHERE licence_id = $1", licence_id
    )
    assert dates == "0001-01-01 9999-12-31"
    assert (
        await conn.fetchval("SELECT count(*) FROM licence WHERE NOT isfinite(valid_from) OR NOT isfinite(expires_on)")
        == 0
    )
    effective = await conn.fetchval("SELECT status_effective_at FROM foreign_licence")
    assert effective == dt.datetime(1, 1, 1, tzinfo=dt.UTC)
