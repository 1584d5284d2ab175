"""A partner refused for its quota (README "What one partner can make this registry store"): the refusals are counted
on one row a partner an hour, the first of the hour journaled, and the operator's overview flags the partner for
24 hours after the latest (README "Status", ``partner-over-quota``)."""

from __future__ import annotations

import datetime as dt

from firearms import bootstrap, db, journal, status
from firearms.canonical import utc_now
from firearms.exchange import trust
from firearms.settings import Settings
from firearms.store import inbox as store
from tests.exchange_util import add_partner

SECOND = dt.timedelta(seconds=1)


def _codes(found: status.Status) -> list[str]:
    return [item.code for item in found.attention]


async def _refused(conn: db.Conn, state: str, at: dt.datetime) -> int:
    async with db.transaction(conn):
        recorded_at, payload = journal.prepare({"window_start": "x"})
        return await store.record_quota_refusal(conn, state, at, recorded_at, payload)


async def test_a_flood_of_refusals_is_one_row_an_hour_and_one_journal_entry(
    conn: db.Conn, initialised: bootstrap.Initialised
) -> None:
    await add_partner(conn, "DE")
    hour = utc_now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)
    counts = [await _refused(conn, "DE", hour + n * SECOND) for n in range(200)]
    assert counts == list(range(1, 201))
    assert await _refused(conn, "DE", hour + dt.timedelta(hours=1)) == 1  # the next hour: its own row
    rows = await conn.fetch(
        "SELECT window_start, notices, refused, first_refused_at, last_refused_at FROM peer_quota_window"
        " ORDER BY window_start"
    )
    assert [tuple(row) for row in rows] == [
        (hour, 0, 200, hour, hour + 199 * SECOND),
        (hour + dt.timedelta(hours=1), 0, 1, hour + dt.timedelta(hours=1), hour + dt.timedelta(hours=1)),
    ]
    entries = await conn.fetch(
        "SELECT actor, entity, entity_id FROM journal_entry WHERE action = 'notice.quota-exceeded'"
    )
    assert [tuple(row) for row in entries] == [("partner:DE", "peer", "DE")] * 2
    pending = await conn.fetchval(
        "SELECT count(*) FROM journal_pending JOIN journal_entry USING (entry_id)"
        " WHERE action = 'notice.quota-exceeded'"
    )
    assert pending == 2  # queued for the sealer with the refusal: linked into the chain like any entry
    await journal.seal(conn)
    assert (await journal.verify(conn, state="AT")).intact


async def test_a_partner_refused_for_its_quota_is_flagged_for_24_hours_to_the_second_then_no_more(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await add_partner(conn, "DE")
    await add_partner(conn, "FR")
    await journal.seal(conn)
    assert "partner-over-quota" not in _codes(await status.read_status(conn, settings))
    last = utc_now().replace(microsecond=0) - dt.timedelta(hours=30)
    await _refused(conn, "DE", last - dt.timedelta(hours=2))  # an hour before: counted while within 24 hours
    await _refused(conn, "DE", last - SECOND)
    await _refused(conn, "DE", last)
    await journal.seal(conn)
    found = await status.read_status(conn, settings, now=last + dt.timedelta(hours=1))
    de, fr = found.partners
    assert (de.quota_refused, de.last_quota_refused_at, fr.quota_refused, fr.last_quota_refused_at) == (
        3,
        last,
        0,
        None,
    )
    (item,) = [item for item in found.attention if item.code == "partner-over-quota"]
    assert item.reason.startswith(
        f"DE: 3 of its notices refused for its quota within a day, the latest at {last:%Y-%m-%dT%H:%M:%SZ}"
    )
    assert "firearms peers quota DE" in item.reason
    for now in (last + status.QUOTA_REFUSED_WINDOW - SECOND, last + status.QUOTA_REFUSED_WINDOW):
        assert "partner-over-quota" in _codes(await status.read_status(conn, settings, now=now)), now
    late = await status.read_status(conn, settings, now=last + status.QUOTA_REFUSED_WINDOW + SECOND)
    assert "partner-over-quota" not in _codes(late)
    assert late.partners[0].last_quota_refused_at is None


async def test_a_disabled_partners_quota_refusals_are_flagged_and_marked(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await add_partner(conn, "DE")
    at = utc_now().replace(microsecond=0) - dt.timedelta(minutes=5)
    await _refused(conn, "DE", at)
    async with db.transaction(conn):
        await trust.set_peer_enabled(conn, "DE", enabled=False, actor="test")
    await journal.seal(conn)
    found = await status.read_status(conn, settings)
    (item,) = [item for item in found.attention if item.code == "partner-over-quota"]
    assert item.reason.startswith("DE (disabled): 1 of its notices refused for its quota")


async def test_the_refusals_counted_are_those_of_the_hours_whose_latest_refusal_is_within_24_hours(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """A row an hour: an hour whose latest refusal is within the 24 hours counts whole (README "Status")."""
    await add_partner(conn, "DE")
    hour = utc_now().replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=30)
    await _refused(conn, "DE", hour + dt.timedelta(minutes=1))
    await _refused(conn, "DE", hour + dt.timedelta(minutes=59))
    await journal.seal(conn)
    now = hour + dt.timedelta(minutes=30) + status.QUOTA_REFUSED_WINDOW  # the first 24.5 hours old, the second 23.5
    (de,) = (await status.read_status(conn, settings, now=now)).partners
    assert (de.quota_refused, de.last_quota_refused_at) == (2, hour + dt.timedelta(minutes=59))
    later = now + dt.timedelta(minutes=30)  # past the hour's latest: none
    (de,) = (await status.read_status(conn, settings, now=later)).partners
    assert (de.quota_refused, de.last_quota_refused_at) == (0, None)


async def _table_updates(conn: db.Conn) -> tuple[int, int]:
    """peer_quota_window's updates and HOT updates so far, this backend's counts flushed to the statistics."""
    await conn.execute("SELECT pg_stat_force_next_flush()")  # flushed as the backend goes idle after it
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    row = await conn.fetchrow(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'peer_quota_window'"
    )
    assert row is not None
    return row["n_tup_upd"], row["n_tup_hot_upd"]


async def test_a_flood_of_refusals_rewrites_the_hours_row_in_place_hot_not_in_an_index(
    conn: db.Conn, initialised: bootstrap.Initialised
) -> None:
    """Each refusal rewrites the partner's row of the hour: while an index held last_refused_at (and refused, in its
    predicate) none of these updates was HOT, and a flood of refused requests added an index entry each."""
    await add_partner(conn, "DE")
    hour = utc_now().replace(minute=0, second=0, microsecond=0)
    await _refused(conn, "DE", hour)  # the hour's row inserted
    updates, hot = await _table_updates(conn)
    for n in range(1, 301):
        await _refused(conn, "DE", hour + n * dt.timedelta(milliseconds=10))
    after_updates, after_hot = await _table_updates(conn)
    assert after_updates - updates == 300
    assert after_hot - hot == 300
