"""``list_unannounced_states``, the key-rotation switch's rule: the partners it still waits for.

The worker switches to a new signing key when the query returns no partner; a partner it leaves out is switched
past before it has the announcement, and refuses every later notice. Its text changed (it read the whole outbox,
``status <> 'delivered'``; it reads each enabled partner's queued and rejected notices on their partial indexes):
the old text is kept here as the oracle, and both are asked the same questions on the same data, over every
outbox status (``notice_outbox_status_check``: queued, delivered, rejected), enabled, disabled and re-enabled
partners, partners with nothing queued, notices of other types and other keys.
"""

from __future__ import annotations

import itertools
import string
from typing import Any

import pytest

from firearms import db

OLD = """
SELECT DISTINCT o.recipient
  FROM notice_outbox AS o
  JOIN peer AS p ON p.state = o.recipient
 WHERE o.type = 'registry.key-announced' AND o.body ->> 'key_id' = $1 AND o.status <> 'delivered' AND p.enabled
 ORDER BY o.recipient
"""
"""``list_unannounced_states`` before merge a189a28 (commit 47925e3 replaced it)."""

KEY = "a" * 32
OTHER_KEY = "b" * 32
STATUSES = ("queued", "delivered", "rejected")
STANDINGS = ("enabled", "disabled", "re-enabled")
# (type, key_id in the body) of the notices besides the key's announcements: another key's announcement, the key's
# revocation (another type naming the same key), a notice without a key
NOISE = (("registry.key-announced", OTHER_KEY), ("registry.key-revoked", KEY), ("test.ping", None))


def _states() -> list[str]:
    return [a + b for a, b in itertools.product(string.ascii_uppercase, repeat=2) if a + b != "AT"]


async def _answers(conn: db.Conn, key_id: str) -> tuple[list[str], list[str]]:
    new = [row["recipient"] for row in await conn.fetch(db.QUERIES["list_unannounced_states"], key_id)]
    old = [row["recipient"] for row in await conn.fetch(OLD, key_id)]
    return new, old


@pytest.fixture
async def outbox(conn: db.Conn) -> list[dict[str, Any]]:
    """One partner for each standing, each set of statuses its announcements of the key are in (none too) and each
    set of other notices it has (none too): 3 x 8 x 8 partners, each case's expected answer by hand."""
    cases: list[dict[str, Any]] = []
    states = iter(_states())
    sequence = itertools.count(1)
    statuses_sets = [set(c) for n in range(4) for c in itertools.combinations(STATUSES, n)]
    noise_sets = [list(c) for n in range(4) for c in itertools.combinations(NOISE, n)]
    for standing, announced, noise in itertools.product(STANDINGS, statuses_sets, noise_sets):
        state = next(states)
        await conn.execute(
            "INSERT INTO peer (state, base_url, enabled, created_at, updated_at)"
            " VALUES ($1, 'https://' || lower($1) || '.example', $2, now(), now())",
            state,
            standing != "disabled",
        )
        if standing == "re-enabled":
            await conn.execute("UPDATE peer SET enabled = false, updated_at = now() WHERE state = $1", state)
            await conn.execute("UPDATE peer SET enabled = true, updated_at = now() WHERE state = $1", state)
        rows: list[tuple[str, str | None, str]] = [("registry.key-announced", KEY, s) for s in sorted(announced)]
        # every other notice in every status: only the key's own announcements may count
        rows += [(kind, key_id, status) for kind, key_id in noise for status in STATUSES]
        for kind, key_id, status in rows:
            await conn.execute(
                """
                INSERT INTO notice_outbox (notice_id, recipient, sequence, type, created_at, confidentiality, body,
                                           status, attempts, next_attempt_at, delivered_at)
                VALUES (gen_random_uuid(), $1, $2, $3, now(), 'public',
                        CASE WHEN $4::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('key_id', $4::text) END,
                        $5, 1, now(), CASE WHEN $5 <> 'queued' THEN now() END)
                """,
                state,
                next(sequence),
                kind,
                key_id,
                status,
            )
        awaited = standing != "disabled" and bool(announced & {"queued", "rejected"})
        cases.append({"state": state, "standing": standing, "announced": announced, "awaited": awaited})
    await conn.execute("ANALYZE peer; ANALYZE notice_outbox")
    return cases


async def test_the_switch_waits_for_the_same_partners_as_before_in_every_case(
    conn: db.Conn, outbox: list[dict[str, Any]]
) -> None:
    new, old = await _answers(conn, KEY)
    assert new == old
    assert new == sorted(case["state"] for case in outbox if case["awaited"])
    # the cases the switch's safety rests on are among them
    assert any(case["awaited"] and case["announced"] == {"rejected"} for case in outbox)
    assert any(case["awaited"] and case["standing"] == "re-enabled" for case in outbox)
    for key_id in (OTHER_KEY, "c" * 32):  # another key: its own partners (another key's queued ones), or none
        assert (await _answers(conn, key_id))[0] == (await _answers(conn, key_id))[1]
    assert (await _answers(conn, "c" * 32))[0] == []


async def test_the_answer_follows_each_change_of_status_and_standing_as_before(
    conn: db.Conn, outbox: list[dict[str, Any]]
) -> None:
    """Each announcement's status moved through every other (behind the outbox's guards: the test's owner connection),
    each partner disabled and enabled again: both texts agree after every step."""
    announcements = await conn.fetch(
        "SELECT notice_id, status FROM notice_outbox WHERE type = 'registry.key-announced' AND body ->> 'key_id' = $1"
        " ORDER BY queued_order LIMIT 40",
        KEY,
    )
    for row in announcements:
        for status in STATUSES:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute(
                    "UPDATE notice_outbox SET status = $2 WHERE notice_id = $1", row["notice_id"], status
                )
            new, old = await _answers(conn, KEY)
            assert new == old, (row["notice_id"], status)
    for case in outbox[:: len(outbox) // 12]:
        for enabled in (False, True):
            await conn.execute("UPDATE peer SET enabled = $2 WHERE state = $1", case["state"], enabled)
            new, old = await _answers(conn, KEY)
            assert new == old, (case["state"], enabled)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def test_its_plan_reads_the_partial_indexes_not_the_delivered_outbox(
    conn: db.Conn, outbox: list[dict[str, Any]]
) -> None:
    """With 100,000 delivered notices (and the key's delivered announcements among them), the queued and rejected
    notices are read on ``notice_outbox_queued_idx`` and ``notice_outbox_rejected_at_idx``: no scan of the outbox,
    no index over delivered notices, and a few hundred outbox rows read, not the outbox."""
    await conn.execute(
        """
        INSERT INTO notice_outbox (notice_id, recipient, sequence, type, created_at, confidentiality, body, status,
                                   attempts, next_attempt_at, delivered_at)
        SELECT gen_random_uuid(), p.state, 1000000 + g, CASE WHEN g % 7 = 0 THEN 'registry.key-announced'
                                                            ELSE 'test.ping' END,
               now(), 'public', jsonb_build_object('key_id', $1::text), 'delivered', 1, now(), now()
          FROM generate_series(1, 100000) AS g
          JOIN LATERAL (SELECT state FROM peer ORDER BY state OFFSET g % 192 LIMIT 1) AS p ON true
        """,
        KEY,
    )
    await conn.execute("ANALYZE notice_outbox")
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE status = 'delivered'") > 100000
    (explained,) = await conn.fetchval(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {db.QUERIES['list_unannounced_states']}", KEY
    )  # json, decoded
    outbox_nodes = [node for node in _nodes(explained["Plan"]) if node.get("Relation Name") == "notice_outbox"]
    assert {node["Node Type"] for node in outbox_nodes} <= {"Index Scan", "Bitmap Heap Scan", "Bitmap Index Scan"}
    used = {node.get("Index Name") for node in _nodes(explained["Plan"]) if node.get("Index Name")}
    assert {"notice_outbox_queued_idx", "notice_outbox_rejected_at_idx"} <= used, used
    assert used <= {"notice_outbox_queued_idx", "notice_outbox_rejected_at_idx", "peer_pkey"}, used
    read = sum(int(node["Actual Rows"] * node["Actual Loops"]) for node in outbox_nodes)
    removed = sum(int(node.get("Rows Removed by Filter", 0) * node["Actual Loops"]) for node in outbox_nodes)
    assert read + removed < 2000, (read, removed)
    new, old = await _answers(conn, KEY)
    assert new == old
