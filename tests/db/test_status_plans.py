"""The operator's overview reads on indexes (README "Status"): with a large journal, outbox and check table stored,
no part of it reads a whole table of records, and the whole of it is quick."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

import pytest

from firearms import db, status
from firearms.journal import FAILED_ACTION, VERIFIED_ACTION
from firearms.settings import Settings

# the README's figures were measured with FIREARMS_STATUS_PLAN_ROWS=1000000 (500,000 notices); the suite stores fewer
ENTRIES = int(os.environ.get("FIREARMS_STATUS_PLAN_ROWS", "100000"))
NOTICES = ENTRIES // 2
CHECKS = ENTRIES // 10
BIG = {"journal_entry", "notice_outbox", "customs_check"}
WASTE = 1000  # rows a part of the overview may read and drop


@pytest.fixture
async def stored(conn: db.Conn) -> db.Conn:
    """Journal entries (a broken verification and a later intact one among them), notices to four partners nearly
    all delivered, checks, analysed."""
    await conn.execute(
        """
        INSERT INTO peer (state, base_url, enabled, last_sent_sequence, created_at, updated_at)
        SELECT s, 'https://' || lower(s) || '.example', true, $1, now(), now()
          FROM unnest(ARRAY['CZ', 'DE', 'FR', 'IT']) AS s
        """,
        NOTICES,
    )
    await conn.execute(
        """
        INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
        SELECT now() - make_interval(secs => $1 - g), 'test',
               CASE g % 100000 WHEN 0 THEN 'journal.verified' WHEN 50000 THEN 'journal.verification-failed'
                               ELSE 'item.registered' END, 'item', g::text,
               CASE g % 100000 WHEN 0 THEN jsonb_build_object('head_seq', g, 'since_checkpoint', null)
                               WHEN 50000 THEN jsonb_build_object('head_seq', g, 'bad_seq', g - 10)
                               ELSE jsonb_build_object('head_seq', g) END
          FROM generate_series(1, $1) AS g
        """,
        ENTRIES,
    )
    # the worker stopped a while ago: the last tenth of the journal waits for the sealer; the rest is linked (a
    # failure is covered only by a walk whose head reached the failure's own link). Hashes are not read here: the
    # links are written behind the trigger that recomputes them.
    await conn.execute(
        "INSERT INTO journal_pending (entry_id) SELECT entry_id FROM journal_entry WHERE entry_id > $1",
        ENTRIES - ENTRIES // 10,
    )
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at)"
            " SELECT entry_id, entry_id, sha256(''), sha256(''), now() FROM journal_entry WHERE entry_id <= $1",
            ENTRIES - ENTRIES // 10,
        )
    await conn.execute(
        """
        INSERT INTO notice_outbox (notice_id, recipient, sequence, type, created_at, confidentiality, body, status,
                                   attempts, next_attempt_at, delivered_at)
        SELECT gen_random_uuid(), (ARRAY['CZ', 'DE', 'FR', 'IT'])[1 + g % 4], g / 4 + 1, 'test.ping',
               now() - make_interval(secs => $1 - g), 'restricted', '{}',
               CASE WHEN g > $1 - 100 THEN 'queued' WHEN g % 500 = 0 THEN 'rejected' ELSE 'delivered' END,
               1, now(), CASE WHEN g <= $1 - 100 THEN now() - make_interval(secs => $1 - g) END
          FROM generate_series(0, $1 - 1) AS g
        """,
        NOTICES,
    )
    await conn.execute(
        """
        INSERT INTO customs_check (check_id, fingerprint, movement, issuing_state, licence_number, crossing_point,
                                   request, verdict, answer, checked_at, checked_by)
        SELECT gen_random_uuid(), sha256(g::text::bytea), 'transit', 'AT', 'AT-' || g, 'CZ-1', '{}',
               CASE WHEN g % 1000 = 0 THEN 'hold' ELSE 'clear' END, '{}', now() - make_interval(secs => $1 - g), 'c'
          FROM generate_series(1, $1) AS g
        """,
        CHECKS,
    )
    await conn.execute(
        "ANALYZE journal_entry; ANALYZE journal_pending; ANALYZE journal_link; ANALYZE notice_outbox;"
        " ANALYZE customs_check; ANALYZE peer"
    )
    return conn


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def _whole_reads(conn: db.Conn, query: str, *args: Any) -> set[str]:
    """The big tables a query reads whole, or nearly: a sequential scan, or an index scan that reads a thousand rows
    or more only to drop them (counting a partner's rejected notices on the index of all its notices)."""
    (explained,) = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {db.QUERIES[query]}", *args)  # json, decoded
    return {
        node["Relation Name"]
        for node in _nodes(explained["Plan"])
        if node.get("Relation Name") in BIG
        and (node["Node Type"] == "Seq Scan" or node.get("Rows Removed by Filter", 0) * node["Actual Loops"] >= WASTE)
    }


async def _rows_read(conn: db.Conn, query: str, table: str, *args: Any) -> int:
    """How many rows of ``table`` a query read, over all its loops."""
    (explained,) = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {db.QUERIES[query]}", *args)
    return sum(
        int(node["Actual Rows"] * node["Actual Loops"])
        for node in _nodes(explained["Plan"])
        if node.get("Relation Name") == table
    )


async def test_a_backlog_for_the_sealer_is_not_looked_up_entry_by_entry(stored: db.Conn) -> None:
    """The worker down for a day leaves a backlog of entries waiting for the sealer, which the overview is read to
    find: the oldest's time was looked up in the journal for every one (90 ms at 100,000, a second at a million)."""
    assert await stored.fetchval("SELECT count(*) FROM journal_pending") >= ENTRIES // 10
    assert await _rows_read(stored, "get_journal_status", "journal_entry", VERIFIED_ACTION, FAILED_ACTION) < WASTE


async def test_the_overview_reads_no_big_table_whole(stored: db.Conn, settings: Settings) -> None:
    now = dt.datetime.now(dt.UTC)
    assert await _whole_reads(stored, "list_partner_status", now - status.QUOTA_REFUSED_WINDOW) == set()
    assert await _whole_reads(stored, "get_journal_status", VERIFIED_ACTION, FAILED_ACTION) == set()
    assert await _whole_reads(stored, "get_key_status", now) == set()
    assert await _whole_reads(stored, "get_waiting_work", now.date()) == set()
    assert await _whole_reads(stored, "get_service_status") == set()
    started = time.perf_counter()
    found = await status.read_status(stored, settings)
    took = time.perf_counter() - started
    counted = await stored.fetch(
        "SELECT recipient, count(*) FILTER (WHERE status = 'queued') AS queued,"
        " count(*) FILTER (WHERE status = 'rejected') AS rejected FROM notice_outbox GROUP BY recipient ORDER BY 1"
    )
    assert [(p.state, p.queued, p.rejected) for p in found.partners] == [tuple(row) for row in counted]
    assert sum(p.queued for p in found.partners) == 99
    assert found.waiting.held_checks == CHECKS // 1000
    assert found.journal.last_verified_seq == ENTRIES // 100000 * 100000
    assert found.journal.broken_at is None  # the intact walk after the broken one walked over it
    assert took < 0.5, took  # well under 100 ms when measured alone; the bound leaves room for a busy machine


async def test_the_latest_rejection_is_read_from_the_end_of_an_index_not_from_every_rejected_notice(
    stored: db.Conn,
) -> None:
    """A partner's latest rejection (``notices-rejected``): its time was not in notice_outbox_rejected_idx, and was
    read from the table for every rejected notice of the partner (8 ms at 63,000 rejected, 2 ms on this index)."""
    (explained,) = await stored.fetchval(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {db.QUERIES['list_partner_status']}", dt.datetime.now(dt.UTC)
    )
    latest = [
        node
        for node in _nodes(explained["Plan"])
        if node.get("Index Name") == "notice_outbox_rejected_at_idx" and node.get("Scan Direction") == "Backward"
    ]
    assert len(latest) == 1
    assert latest[0]["Actual Rows"] <= 1


async def test_a_break_no_walk_covered_is_read_from_the_end_of_the_actions_index(
    stored: db.Conn, settings: Settings
) -> None:
    """The failures are read newest first, each against the intact verifications after it: a handful of entries,
    not the journal, whether the latest failure is flagged or covered (the 100 waiting entries' times aside)."""
    covered = await _rows_read(stored, "get_journal_status", "journal_entry", VERIFIED_ACTION, FAILED_ACTION)
    await stored.execute(
        "INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)"
        " VALUES (now(), 'test', $1, 'journal', '7', jsonb_build_object('head_seq', $2::int, 'bad_seq', 7))",
        FAILED_ACTION,
        ENTRIES,
    )
    flagged = await _rows_read(stored, "get_journal_status", "journal_entry", VERIFIED_ACTION, FAILED_ACTION)
    assert covered < 110, covered  # the oldest waiting entry's hundred, the first entry, a failure, a verification
    assert flagged <= covered + 2, (covered, flagged)  # the newest failure, no verification after it
    assert await _whole_reads(stored, "get_journal_status", VERIFIED_ACTION, FAILED_ACTION) == set()
    assert (await status.read_status(stored, settings)).journal.broken_seq == 7


async def test_a_waiting_rotations_partners_are_read_on_the_queue_and_the_rejections_not_the_outbox(
    stored: db.Conn,
) -> None:
    """While a rotation waits, the overview names the partners it waits for (``keys.rotation_awaiting``) by the
    switch's own query, which the worker runs at every pass too: it read the whole outbox for the announcements
    (``status <> 'delivered'``), now the partners' queued and rejected notices on their partial indexes."""
    key_id = "0" * 32
    await stored.execute(
        """
        INSERT INTO notice_outbox (notice_id, recipient, sequence, type, created_at, confidentiality, body, status,
                                   attempts, next_attempt_at, delivered_at)
        SELECT gen_random_uuid(), s, $2 + 1, 'registry.key-announced', now(), 'public',
               jsonb_build_object('key_id', $1::text), CASE s WHEN 'CZ' THEN 'delivered' WHEN 'DE' THEN 'rejected'
                                                             ELSE 'queued' END, 1, now(), now()
          FROM unnest(ARRAY['CZ', 'DE', 'FR']) AS s
        """,
        key_id,
        NOTICES,
    )
    await stored.execute("ANALYZE notice_outbox")
    assert await _whole_reads(stored, "list_unannounced_states", key_id) == set()
    assert [row["recipient"] for row in await stored.fetch(db.QUERIES["list_unannounced_states"], key_id)] == [
        "DE",
        "FR",
    ]


async def test_a_partners_quota_refusals_are_read_on_the_primary_key_from_the_last_25_hours(conn: db.Conn) -> None:
    """``quota_refused``: the partner's rows of the hours since a day and an hour ago, on peer_quota_window_pkey
    (state, window_start). An index of refusals (on last_refused_at, refused in its predicate) made every refusal
    rewrite the row outside HOT, and a flood of refused requests grew it (tests/db/test_status_quota.py)."""
    await conn.execute(
        "INSERT INTO peer (state, base_url, enabled, last_sent_sequence, created_at, updated_at)"
        " SELECT s, 'https://' || lower(s) || '.example', true, 0, now(), now()"
        " FROM unnest(ARRAY['CZ', 'DE', 'FR', 'IT']) AS s"
    )
    # a year of hours a partner, each with notices stored, a refusal in every fifth
    await conn.execute(
        """
        INSERT INTO peer_quota_window (state, window_start, notices, bytes, refused, first_refused_at, last_refused_at)
        SELECT s, h, 10, 40960, CASE WHEN g % 5 = 0 THEN 3 ELSE 0 END, CASE WHEN g % 5 = 0 THEN h END,
               CASE WHEN g % 5 = 0 THEN h + interval '59 minutes' END
          FROM unnest(ARRAY['CZ', 'DE', 'FR', 'IT']) AS s,
               generate_series(0, 8759) AS g,
               LATERAL (SELECT date_trunc('hour', now(), 'UTC') - make_interval(hours => g) AS h) AS w
        """
    )
    await conn.execute("ANALYZE peer; ANALYZE peer_quota_window")
    now = dt.datetime.now(dt.UTC)
    (explained,) = await conn.fetchval(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {db.QUERIES['list_partner_status']}", now - status.QUOTA_REFUSED_WINDOW
    )
    (window,) = [node for node in _nodes(explained["Plan"]) if node.get("Relation Name") == "peer_quota_window"]
    assert window.get("Index Name") == "peer_quota_window_pkey", window
    assert "window_start" in window["Index Cond"]
    read = (window["Actual Rows"] + window.get("Rows Removed by Filter", 0)) * window["Actual Loops"]
    assert read <= 4 * 26, window  # at most 25 hours a partner (26: the hour turning while the query runs)
    rows = await conn.fetch(
        "SELECT state, sum(refused) AS refused, max(last_refused_at) AS latest FROM peer_quota_window"
        " WHERE refused > 0 AND last_refused_at >= $1 GROUP BY state ORDER BY state",
        now - status.QUOTA_REFUSED_WINDOW,
    )
    found = await conn.fetch(db.QUERIES["list_partner_status"], now - status.QUOTA_REFUSED_WINDOW)
    assert [(r["state"], r["quota_refused"], r["last_quota_refused_at"]) for r in found] == [tuple(row) for row in rows]
