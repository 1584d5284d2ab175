"""Partners' lost and stolen reports are read on indexes with 100,000 of them stored (README "Notice types beyond
PROTOCOL §5"): the customs check's look-up and the transit-consent pre-check by normalised serial, the officer's list
newest first by receipt (a page reads the reports on it, not every report ever received).
"""

from __future__ import annotations

from typing import Any

import pytest

from firearms import db
from firearms.store import foreign_item_reports as store
from tests.check_helpers import at_licence, receive

REPORTS = 100_000


@pytest.fixture
async def stored(conn: db.Conn) -> db.Conn:
    """100,000 reports from four States, one in three withdrawn, half stolen and half lost, analysed."""
    await conn.execute(
        """
        INSERT INTO foreign_item_report (sender_state, report_id, notice_id, sequence, status, occurred_on, kind,
                                         item_type, make, model, calibre, manufacturer, country_of_manufacture, serial,
                                         markings, confidentiality, received_at)
        SELECT (ARRAY['AT', 'DE', 'FR', 'IT'])[1 + g % 4], (g / 4)::text, 'n-' || g, g / 4 + 1,
               (ARRAY['stolen', 'lost'])[1 + (g / 7) % 2], current_date, 'firearm', 'rifle', 'Make ' || (g % 50),
               NULL, NULL, 'Make ' || (g % 50), 'AT', 'SER-' || g, '[]', 'restricted',
               now() - make_interval(secs => g)
          FROM generate_series(1, $1) AS g
        """,
        REPORTS,
    )
    await conn.execute(
        """
        INSERT INTO foreign_item_report_withdrawal (sender_state, report_id, notice_id, sequence, reason, occurred_on,
                                                    received_at)
        SELECT (ARRAY['AT', 'DE', 'FR', 'IT'])[1 + g % 4], (g / 4)::text, 'w-' || g, $1 + g, 'recovered',
               current_date, now()
          FROM generate_series(1, $1, 3) AS g
        """,
        REPORTS,
    )
    await conn.execute("ANALYZE foreign_item_report; ANALYZE foreign_item_report_withdrawal")
    return conn


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def _plan(conn: db.Conn, query: str, *args: Any) -> list[dict[str, Any]]:
    (explained,) = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {db.QUERIES[query]}", *args)  # json, decoded
    return _nodes(explained["Plan"])


def _reads(nodes: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    return {(node["Node Type"], node.get("Index Name")) for node in nodes if node.get("Relation Name")}


def _indexes(nodes: list[dict[str, Any]]) -> set[str]:
    return {node["Index Name"] for node in nodes if "Index Name" in node}


def _read_in_full(nodes: list[dict[str, Any]]) -> list[str]:
    return [node["Relation Name"] for node in nodes if node["Node Type"] == "Seq Scan"]


async def test_the_checks_look_up_of_two_serials_reads_the_serial_index(stored: db.Conn) -> None:
    """The customs check's look-up and the consent pre-check's: on the index (plain or bitmap), nothing read in full."""
    await receive(stored, at_licence(), state="CZ")
    licence_id = await stored.fetchval("SELECT licence_id FROM licence")
    check = await _plan(stored, "find_partner_reported_serials", licence_id, [1, 1], ["SSG08001", "SSG08002"])
    goods = await _plan(
        stored,
        "find_partner_reported_goods",
        ["SSG08001", "SSG08002"],
        ["firearm", "firearm"],
        ["Steyr", "Steyr"],
        [0, 0],
    )
    for nodes in (check, goods):
        assert "foreign_item_report_serial_idx" in _indexes(nodes)
        assert not _read_in_full(nodes)


async def test_a_page_of_the_officers_list_reads_the_receipt_index(stored: db.Conn) -> None:
    """Newest received first, a page of 50 walks the index and stops: no report read in full, nothing sorted."""
    for status in (None, "stolen", "lost", "withdrawn"):
        query = "list_open_foreign_item_reports" if status in {"lost", "stolen"} else "list_foreign_item_reports"
        nodes = await _plan(stored, query, None, status, None, None, None, None, 51)
        assert ("Index Scan", "foreign_item_report_received_idx") in _reads(nodes), (status, nodes[0])
        assert not [node["Node Type"] for node in nodes if node["Node Type"] in {"Seq Scan", "Sort"}], status
        page = await store.list_foreign_item_reports(stored, None, status, None, None, 50)
        assert len(page) == 50
        assert [row["received_at"] for row in page] == sorted((row["received_at"] for row in page), reverse=True)


async def test_the_pages_of_each_filter_follow_one_another(stored: db.Conn) -> None:
    """Two pages after a cursor are the first 100 reports of the filter, as the rule computes them here in Python."""
    reports = await stored.fetch(
        "SELECT sender_state, report_id, sequence, status, received_at FROM foreign_item_report"
    )
    withdrawn = {
        (row["sender_state"], row["report_id"]): row["sequence"]
        for row in await stored.fetch("SELECT sender_state, report_id, sequence FROM foreign_item_report_withdrawal")
    }
    latest: dict[tuple[str, str], Any] = {}
    for row in reports:
        key = (row["sender_state"], row["report_id"])
        if key not in latest or latest[key]["sequence"] < row["sequence"]:
            latest[key] = row
    newest_first = sorted(
        latest.values(), key=lambda r: (r["received_at"], r["sender_state"], r["sequence"]), reverse=True
    )
    for status in (None, "stolen", "lost", "withdrawn"):
        expected = [
            (row["sender_state"], row["sequence"])
            for row in newest_first
            if status is None
            or (
                (status == "withdrawn") == (withdrawn.get((row["sender_state"], row["report_id"]), 0) > row["sequence"])
                and status in {"withdrawn", row["status"]}
            )
        ][:100]
        first = await store.list_foreign_item_reports(stored, None, status, None, None, 50)
        last = first[-1]
        cursor = (last["received_at"], last["sender_state"], last["sequence"])
        second = await store.list_foreign_item_reports(stored, None, status, None, cursor, 50)
        assert [(row["sender_state"], row["sequence"]) for row in first + second] == expected, status
