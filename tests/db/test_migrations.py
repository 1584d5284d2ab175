from __future__ import annotations

import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from firearms import db, journal, tokens
from firearms.errors import MigrationError


def _migrations_before(tmp_path: Path, first: str) -> Path:
    """A copy of the migrations without ``first`` and every one after it (which may build on it)."""
    older = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", older)
    for later in older.glob("*.sql"):
        if later.name >= first:
            later.unlink()
    return older


async def test_migrate_twice_applies_nothing_new(conn: db.Conn) -> None:
    assert await db.migrate(conn) == []


async def test_changed_applied_migration_is_refused(conn: db.Conn, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", folder)
    extra = folder / "29991231000000_create_extra.sql"
    extra.write_text("CREATE TABLE extra (extra_id int);\n")
    assert await db.migrate(conn, folder) == [extra.name]
    extra.write_text("CREATE TABLE extra (extra_id bigint);\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await db.migrate(conn, folder)


async def test_failing_migration_leaves_nothing_behind(conn: db.Conn, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", folder)
    (folder / "29991231000000_create_half.sql").write_text("CREATE TABLE half (x int);\nSELECT no_such_function();\n")
    with pytest.raises(MigrationError, match="failed"):
        await db.migrate(conn, folder)
    assert await conn.fetchval("SELECT to_regclass('half')") is None
    assert await conn.fetchval("SELECT count(*) FROM schema_migration WHERE name LIKE '2999%'") == 0


async def test_every_named_query_prepares_against_the_schema(conn: db.Conn) -> None:
    assert db.QUERIES
    async with conn.transaction():
        # Queries over a session's temporary tables (the bulk import's staging) need them first.
        for sql in db.QUERIES.values():
            if "CREATE TEMP TABLE" in sql.upper():
                await conn.execute(sql)
        for name, sql in db.QUERIES.items():
            try:
                await conn.prepare(sql)
            except Exception as exc:  # noqa: BLE001  # name the query that drifted from the schema
                pytest.fail(f"query {name} does not prepare: {exc}")


def test_duplicate_query_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- name: get_thing\nSELECT 1;\n")
    (tmp_path / "b.sql").write_text("-- name: get_thing\nSELECT 2;\n")
    with pytest.raises(ValueError, match="defined twice"):
        db.load_queries(tmp_path)


_STRICTEST = "20261130002000_keep_the_strictest_shipment_confidentiality.sql"


async def _inbox(conn: db.Conn, sender: str, recipient: str, sequence: int, type_: str, body: dict[str, Any]) -> None:
    notice = {"id": f"n{sequence}", "type": type_, "sender": sender, "recipient": recipient, "sequence": sequence}
    await conn.execute(
        "INSERT INTO notice_inbox (sender, notice_id, type, sequence, created_at, confidentiality, key_id, notice,"
        " signature, digest, status, received_at, receipt)"
        " VALUES ($1, $2, $3, $4, now(), 'restricted', 'k', $5, 's', 'd', 'accepted',"
        " now() + make_interval(secs => $4::bigint), '')",
        sender,
        f"n{sequence}",
        type_,
        sequence,
        json.dumps(notice | {"body": body}).encode(),
    )


async def test_dispatches_and_receipts_received_before_are_kept_and_their_shipment_summed(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    # Two trucks of shipment SHP-1, before every dispatch and receipt notice was kept: the record held only
    # the last notice's items. The migrations take every part again from the notices in the inbox.
    mine = ["20261129200000_keep_every_dispatch.sql", "20261129200200_keep_every_receipt.sql"]
    older = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", older)
    # and 20261129210100, which rebuilds what 20261129200000 made, and 20261130002000, which reads the
    # dispatches and receipts these keep: they come after them
    for name in [*mine, "20261129210100_count_dispatches_under_the_shipment_licence.sql", _STRICTEST]:
        (older / name).unlink()
    conn = await db.connect(await make_empty_database())
    try:
        await db.migrate(conn, older)
        trucks = [
            ("2026-11-29", [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 5}]),
            ("2026-11-30", [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}]),
        ]
        for sequence, (day, items) in enumerate(trucks, start=1):
            shipment = {"licence_number": "AT-EXP-1", "shipment_id": "SHP-1", "items": items}
            await _inbox(
                conn, "AT", "DE", sequence, "shipment.dispatched", shipment | {"dispatched_at": f"{day}T08:00:00Z"}
            )
            document = {"received_on": day, "customs_document": f"ATB-{sequence}"}
            await _inbox(conn, "DE", "AT", sequence, "receipt.confirmed", shipment | document)
        await _inbox(conn, "DE", "AT", 3, "receipt.confirmed", shipment | document)  # the second part again
        await conn.execute(
            "INSERT INTO shipment_record (exporting_state, shipment_id, licence_number, issuing_state, dispatched_at,"
            " items, received_on, customs_document, received_items, confirmed_by, confidentiality, updated_at)"
            " VALUES ('AT', 'SHP-1', 'AT-EXP-1', 'AT', '2026-11-30T08:00:00Z', $1, '2026-11-30', 'ATB-2', $1, 'DE',"
            " 'restricted', now())",
            trucks[1][1],
        )
        assert [name for name in await db.migrate(conn) if name in mine] == mine
        parts = await conn.fetch("SELECT notice_id, items FROM shipment_dispatch ORDER BY sequence")
        first = [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 5, "serials": []}]
        second = [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}]
        assert [(row["notice_id"], row["items"]) for row in parts] == [("n1", first), ("n2", second)]
        receipts = await conn.fetch("SELECT notice_id, customs_document FROM shipment_receipt ORDER BY sequence")
        assert [tuple(row) for row in receipts] == [("n1", "ATB-1"), ("n2", "ATB-2"), ("n3", "ATB-2")]
        summed = [
            {"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]},
            {"line": 2, "quantity": 5, "serials": []},
        ]
        record = await conn.fetchrow("SELECT items, received_items FROM shipment_record")
        assert record is not None
        assert (record["items"], record["received_items"]) == (summed, summed)
    finally:
        await conn.close()


async def test_notices_acknowledged_before_forget_the_number_their_partner_expected(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    # Notice 1 was refused by DE expecting 4, then delivered: the 4 stayed on it. Notice 2, still refused, keeps its.
    mine = "20261129210000_forget_expected_sequence_of_acknowledged_notices.sql"
    older = _migrations_before(tmp_path, mine)
    conn = await db.connect(await make_empty_database())
    try:
        await db.migrate(conn, older)
        await conn.execute(
            "INSERT INTO peer (state, base_url, last_sent_sequence, created_at, updated_at)"
            " VALUES ('DE', 'http://127.0.0.1:9', 2, now(), now())"
        )
        await conn.execute(
            "INSERT INTO notice_outbox (notice_id, recipient, sequence, type, created_at, confidentiality, body,"
            " status, next_attempt_at, expected_sequence)"
            " VALUES (gen_random_uuid(), 'DE', 1, 'test.ping', now(), 'restricted', '{}', 'delivered', now(), 4),"
            " (gen_random_uuid(), 'DE', 2, 'test.ping', now(), 'restricted', '{}', 'queued', now(), 4)"
        )
        assert mine in await db.migrate(conn)
        rows = await conn.fetch("SELECT sequence, expected_sequence FROM notice_outbox ORDER BY sequence")
        assert [tuple(row) for row in rows] == [(1, None), (2, 4)]
    finally:
        await conn.close()


async def test_a_shipment_counts_again_only_the_dispatches_under_its_licence(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    # Before every dispatch was kept, AT's dispatch n2 of SHP-1 under another licence was accepted and replaced
    # the items before it. 20261129200000 summed n1, n2 and n3; the runtime now refuses n2, so only n1 and n3
    # count. SHP-2 has no dispatch under another licence and stays as it is; SHP-3 is recorded under AT-EXP-1
    # (by a confirmation request) and was dispatched only under AT-EXP-2: nothing of it counts.
    mine = "20261129210100_count_dispatches_under_the_shipment_licence.sql"
    older = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", older)
    # 20261130002000 reads the dispatches and receipts the first two keep: it comes after them
    for name in ["20261129200000_keep_every_dispatch.sql", "20261129200200_keep_every_receipt.sql", mine, _STRICTEST]:
        (older / name).unlink()
    conn = await db.connect(await make_empty_database())
    try:
        await db.migrate(conn, older)
        parts = [
            ("SHP-1", "AT-EXP-1", "2026-11-28", [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}]),
            (
                "SHP-1",
                "AT-EXP-2",
                "2026-11-30",
                [{"line": 1, "quantity": 7, "serials": []}, {"line": 2, "quantity": 3}],
            ),
            ("SHP-1", "AT-EXP-1", "2026-11-29", [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}]),
            ("SHP-2", "AT-EXP-1", "2026-11-29", [{"line": 1, "quantity": 2, "serials": []}]),
            ("SHP-3", "AT-EXP-2", "2026-11-29", [{"line": 1, "quantity": 4, "serials": []}]),
        ]
        for sequence, (shipment_id, licence, day, items) in enumerate(parts, start=1):
            body = {"licence_number": licence, "shipment_id": shipment_id, "items": items}
            await _inbox(
                conn, "AT", "DE", sequence, "shipment.dispatched", body | {"dispatched_at": f"{day}T08:00:00Z"}
            )
        # what the old runtime left: the first writer's licence, the last dispatch's items and time
        for shipment_id, dispatched_at, items in [
            ("SHP-1", "2026-11-29T08:00:00Z", parts[2][3]),
            ("SHP-2", "2026-11-29T08:00:00Z", parts[3][3]),
            ("SHP-3", "2026-11-29T08:00:00Z", parts[4][3]),
        ]:
            await conn.execute(
                "INSERT INTO shipment_record (exporting_state, shipment_id, licence_number, issuing_state,"
                " dispatched_at, items, confidentiality, updated_at)"
                " VALUES ('AT', $1, 'AT-EXP-1', 'AT', $2::text::timestamptz, $3, 'restricted', now())",
                shipment_id,
                dispatched_at,
                items,
            )
        assert mine in await db.migrate(conn)
        records = await conn.fetch(
            "SELECT shipment_id, items, to_char(dispatched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day"
            " FROM shipment_record ORDER BY shipment_id"
        )
        assert [tuple(row) for row in records] == [
            ("SHP-1", [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}], "2026-11-29"),
            ("SHP-2", [{"line": 1, "quantity": 2, "serials": []}], "2026-11-29"),
            ("SHP-3", None, None),
        ]
        entries = await conn.fetch(
            "SELECT entity_id, actor, payload -> 'left_out' AS left_out FROM journal_entry"
            " WHERE action = 'shipment.dispatches-recounted' ORDER BY entity_id"
        )
        assert [tuple(row) for row in entries] == [
            ("AT/SHP-1", "system:migration", ["n2"]),
            ("AT/SHP-3", "system:migration", ["n5"]),
        ]
        assert await conn.fetchval("SELECT count(*) FROM shipment_dispatch") == 5  # append-only: all kept
        assert (await journal.verify(conn, state="DE")).intact  # the entries take their place in the chain
    finally:
        await conn.close()


async def test_shipment_records_made_before_take_the_strictest_confidentiality_of_their_notices(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    # The runtime kept the level of a record's first notice: SHP-1's public first truck, then a confidential
    # second one; SHP-2 public, then a restricted confirmation request; SHP-3 restricted throughout.
    mine = _STRICTEST
    older = _migrations_before(tmp_path, mine)
    conn = await db.connect(await make_empty_database())
    try:
        await db.migrate(conn, older)
        dispatches = [("SHP-1", "public"), ("SHP-1", "confidential"), ("SHP-2", "public"), ("SHP-3", "restricted")]
        for sequence, (shipment_id, level) in enumerate(dispatches, start=1):
            await conn.execute(
                "INSERT INTO shipment_dispatch (exporting_state, notice_id, sequence, shipment_id, licence_number,"
                " dispatched_at, items, confidentiality, received_at)"
                " VALUES ('AT', $1, $2, $3, 'AT-EXP-1', now(), '[]', $4, now())",
                f"d{sequence}",
                sequence,
                shipment_id,
                level,
            )
        await _inbox(
            conn,
            "AT",
            "DE",
            5,
            "receipt.confirmation-requested",
            {"licence_number": "AT-EXP-1", "shipment_id": "SHP-2"},
        )  # restricted
        for shipment_id, level in [("SHP-1", "public"), ("SHP-2", "public"), ("SHP-3", "restricted")]:
            await conn.execute(
                "INSERT INTO shipment_record (exporting_state, shipment_id, licence_number, issuing_state,"
                " items, confidentiality, updated_at) VALUES ('AT', $1, 'AT-EXP-1', 'AT', '[]', $2, now())",
                shipment_id,
                level,
            )
        assert mine in await db.migrate(conn)
        records = await conn.fetch("SELECT shipment_id, confidentiality FROM shipment_record ORDER BY shipment_id")
        assert [tuple(row) for row in records] == [
            ("SHP-1", "confidential"),
            ("SHP-2", "restricted"),
            ("SHP-3", "restricted"),
        ]
        entries = await conn.fetch(
            "SELECT entity_id, actor, payload ->> 'from' AS was, payload ->> 'to' AS now FROM journal_entry"
            " WHERE action = 'shipment.confidentiality-raised' ORDER BY entity_id"
        )
        assert [tuple(row) for row in entries] == [
            ("AT/SHP-1", "system:migration", "public", "confidential"),
            ("AT/SHP-2", "system:migration", "public", "restricted"),
        ]
    finally:
        await conn.close()


async def test_decisions_received_before_take_the_confidentiality_of_their_notice(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    mine = "20261130002100_keep_consent_decision_confidentiality.sql"
    older = _migrations_before(tmp_path, mine)
    conn = await db.connect(await make_empty_database())
    try:
        await db.migrate(conn, older)
        await conn.execute(
            "INSERT INTO notice_inbox (sender, notice_id, type, sequence, created_at, confidentiality, key_id, notice,"
            " signature, digest, status, received_at, receipt)"
            " VALUES ('CZ', 'n1', 'transit-consent.decided', 1, now(), 'confidential', 'k', '\\x7b7d', 's', 'd',"
            " 'accepted', now(), '')"
        )
        for notice_id in ("n1", "n2"):  # n2: no notice in the inbox (it cannot happen; the default level then)
            await conn.execute(
                "INSERT INTO consent_decision_received (transit_state, notice_id, licence_number, decision, reason,"
                " received_at) VALUES ('CZ', $1, 'AT-EXP-1', 'objection', 'why', now())",
                notice_id,
            )
        assert mine in await db.migrate(conn)
        rows = await conn.fetch("SELECT notice_id, confidentiality FROM consent_decision_received ORDER BY notice_id")
        assert [tuple(row) for row in rows] == [("n1", "confidential"), ("n2", "restricted")]
        entries = await conn.fetch(
            "SELECT entity_id, payload ->> 'confidentiality' FROM journal_entry"
            " WHERE action = 'consent-decision.confidentiality-kept' ORDER BY entity_id"
        )
        assert [tuple(row) for row in entries] == [("CZ/n1", "confidential"), ("CZ/n2", "restricted")]
        with pytest.raises(asyncpg.RestrictViolationError):  # append-only again
            await conn.execute("UPDATE consent_decision_received SET reason = 'changed'")
    finally:
        await conn.close()


async def test_transit_consents_received_before_take_the_confidentiality_of_their_notice(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    """The licensing side's copy of a received decision (transit_consent, source notice) takes the level of the
    received copy written in the same transaction; an officer's own record takes none."""
    mine = "20261130010000_keep_transit_consent_confidentiality.sql"
    older = _migrations_before(tmp_path, mine)
    conn = await db.connect(await make_empty_database())
    try:
        await db.migrate(conn, older)
        licence_id = await conn.fetchval(
            "INSERT INTO licence (licence_id, issuing_state, number, kind, status, version, valid_from, expires_on,"
            " exporting_state, importing_state, transit_states, created_at, created_by, updated_at)"
            " VALUES (gen_random_uuid(), 'AT', 'AT-EXP-1', 'export', 'pending', 1, '2026-11-29', '2027-11-28',"
            " 'AT', 'DE', '{CZ,SK}', now(), 'test', now()) RETURNING licence_id"
        )
        received = [  # (transit State, notice id, reason, received this long after the licensing record, level)
            ("CZ", "n-cz-old", "embargo", "-3 days", "public"),  # an earlier, same decision: not this record's
            ("CZ", "n-cz", "embargo", "1 second", "confidential"),
            ("SK", "n-sk-other", "another reason", "0 seconds", "public"),  # not the same decision
        ]
        for state, notice_id, reason, after, level in received:
            await conn.execute(
                "INSERT INTO consent_decision_received (transit_state, notice_id, licence_number, decision, reason,"
                " received_at, confidentiality) VALUES ($1, $2, 'AT-EXP-1', 'objection', $3,"
                " '2026-11-29T10:00:00Z'::timestamptz + $4::text::interval, $5)",
                state,
                notice_id,
                reason,
                after,
                level,
            )
        recorded: list[tuple[str, str | None, str]] = [
            ("CZ", "embargo", "notice"),
            ("SK", "embargo", "notice"),
            ("CZ", None, "officer"),
        ]
        for state, said, source in recorded:
            await conn.execute(
                "INSERT INTO transit_consent (licence_id, transit_state, decision, decided_on, reason, source,"
                " recorded_at, recorded_by, licence_version)"
                " VALUES ($1, $2, 'objection', '2026-11-29', $3, $4, '2026-11-29T10:00:00Z', 'test', 1)",
                licence_id,
                state,
                said,
                source,
            )
        assert mine in await db.migrate(conn)
        rows = await conn.fetch(
            "SELECT transit_state, source, confidentiality FROM transit_consent ORDER BY transit_consent_id"
        )
        assert [tuple(row) for row in rows] == [
            ("CZ", "notice", "confidential"),
            ("SK", "notice", "restricted"),  # no received copy of that decision: the default level
            ("CZ", "officer", None),
        ]
        entries = await conn.fetch(
            "SELECT entity_id, actor, payload ->> 'confidentiality', payload ->> 'notice_id' FROM journal_entry"
            " WHERE action = 'transit-consent.confidentiality-kept' ORDER BY (payload ->> 'transit_consent_id')::int"
        )
        assert [tuple(row) for row in entries] == [
            (str(licence_id), "system:migration", "confidential", "n-cz"),
            (str(licence_id), "system:migration", "restricted", None),
        ]
        with pytest.raises(asyncpg.RestrictViolationError):  # append-only again
            await conn.execute("UPDATE transit_consent SET reason = 'changed'")
        with pytest.raises(asyncpg.CheckViolationError):  # a decision received by notice carries its level
            await conn.execute(
                "INSERT INTO transit_consent (licence_id, transit_state, decision, decided_on, source, recorded_at,"
                " recorded_by, licence_version) VALUES ($1, 'CZ', 'objection', '2026-11-29', 'notice', now(), 't', 1)",
                licence_id,
            )
    finally:
        await conn.close()


async def test_a_journal_and_tokens_written_under_the_oldest_schema_still_verify_and_work_after_every_migration(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    # Records are kept for decades across many upgrades: the chain sealed under the first schema must verify after
    # every later migration (none may change what an entry's canonical form reads), and an officer's token still
    # work. The migrations are applied one at a time, each on the data the ones before left.
    first = sorted(path.name for path in (db.SQL_DIR / "migrations").glob("*.sql"))[1]
    older = _migrations_before(tmp_path, first)
    conn = await db.connect(await make_empty_database())
    try:
        assert len(await db.migrate(conn, older)) == 1
        await conn.execute(
            "INSERT INTO officer_token (token_id, name, role, token_hash, created_at, created_by)"
            " VALUES (gen_random_uuid(), 'auditor 1', 'auditor', $1, '2026-01-01T00:00:00Z', 'cli:test')",
            tokens.hash_token("fr_kept-for-decades"),
        )
        for number in range(30):
            await journal.record(
                conn,
                actor="officer:auditor 1",
                action="thing.made",
                entity="thing",
                entity_id=str(number),
                payload={"n": number, "text": "Müller, 9999-12-31", "nested": {"list": [1, None, True]}},
            )
        assert await journal.seal(conn) == 30
        head = await conn.fetchrow("SELECT seq, hash FROM journal_link ORDER BY seq DESC LIMIT 1")
        assert head is not None
        every = sorted((db.SQL_DIR / "migrations").glob("*.sql"))
        for upto in range(2, len(every) + 1):
            step = tmp_path / f"step-{upto}"
            step.mkdir()
            for path in every[:upto]:
                shutil.copy(path, step / path.name)
            assert await db.migrate(conn, step) == [every[upto - 1].name]
        verified = await journal.verify(conn, state="AT")
        assert (verified.intact, verified.problem) == (True, None)
        assert verified.entries >= 30
        assert await conn.fetchval("SELECT hash FROM journal_link WHERE seq = $1", head["seq"]) == head["hash"]
        officer = await tokens.authenticate(conn, "Bearer fr_kept-for-decades")
        assert (officer.role, officer.actor) == ("auditor", "officer:auditor 1")
    finally:
        await conn.close()


async def test_trace_answers_before_take_the_confidentiality_of_their_notice(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    """A received answer takes its notice's level from the inbox, a sent one from the outbox, none found the
    request's; each filled row journaled, and the table append-only again."""
    mine = "20261130192000_keep_trace_answer_confidentiality.sql"
    older = _migrations_before(tmp_path, mine)
    conn = await db.connect(await make_empty_database())
    try:
        await db.migrate(conn, older)
        await conn.execute(
            "INSERT INTO peer (state, base_url, last_sent_sequence, created_at, updated_at)"
            " VALUES ('CZ', 'http://127.0.0.1:9', 0, now(), now())"
        )
        sent = await conn.fetchval(
            "INSERT INTO notice_outbox (notice_id, recipient, sequence, type, created_at, confidentiality, body,"
            " status, next_attempt_at) VALUES (gen_random_uuid(), 'CZ', 1, 'trace.answered', now(), 'restricted',"
            " '{}', 'queued', now()) RETURNING notice_id::text"
        )
        await conn.execute(
            "INSERT INTO notice_inbox (sender, notice_id, type, sequence, created_at, confidentiality, key_id, notice,"
            " signature, digest, status, received_at, receipt)"
            " VALUES ('CZ', 'answer-1', 'trace.answered', 1, now(), 'confidential', 'k', '\\x7b7d', 's', 'd',"
            " 'accepted', now(), '')"
        )
        answers = [  # (direction, request's level, the answer's notice id)
            ("outgoing", "restricted", "answer-1"),  # received confidential: the inbox's level
            ("incoming", "public", sent),  # sent restricted: the outbox's level
            ("outgoing", "public", "answer-missing"),  # no notice found: the request's level
        ]
        for number, (direction, level, notice_id) in enumerate(answers, start=1):
            request_id = await conn.fetchval(
                "INSERT INTO trace_request (direction, partner_state, notice_id, weapon, circumstances, intended_use,"
                " confidentiality, answer_by, acknowledge_by, findings, created_at, created_by)"
                " VALUES ($1, 'CZ', $2, '{\"kind\": \"firearm\"}', 'c', 'u', $3, '2099-01-01',"
                " CASE WHEN $1 = 'incoming' THEN date '2026-11-30' END,"
                " CASE WHEN $1 = 'incoming' THEN '[]'::jsonb END, now(), 'test') RETURNING trace_request_id",
                direction,
                f"request-{number}",
                level,
            )
            await conn.execute(
                "INSERT INTO trace_answer (trace_request_id, notice_id, outcome, answered_at, answered_by)"
                " VALUES ($1, $2, 'not-found', now(), 'test')",
                request_id,
                notice_id,
            )
        assert mine in await db.migrate(conn)
        rows = await conn.fetch("SELECT trace_request_id, confidentiality FROM trace_answer ORDER BY 1")
        assert [tuple(row) for row in rows] == [(1, "confidential"), (2, "restricted"), (3, "public")]
        entries = await conn.fetch(
            "SELECT entity_id, actor, payload ->> 'confidentiality' FROM journal_entry"
            " WHERE action = 'trace-answer.confidentiality-kept' ORDER BY entity_id"
        )
        assert [tuple(row) for row in entries] == [
            ("1", "system:migration", "confidential"),
            ("2", "system:migration", "restricted"),
            ("3", "system:migration", "public"),
        ]
        with pytest.raises(asyncpg.RestrictViolationError):  # append-only again
            await conn.execute("UPDATE trace_answer SET note = 'changed'")
        unanswered = await conn.fetchval(
            "INSERT INTO trace_request (direction, partner_state, notice_id, weapon, circumstances, intended_use,"
            " confidentiality, answer_by, created_at, created_by)"
            " VALUES ('outgoing', 'CZ', 'request-4', '{}', 'c', 'u', 'restricted', '2099-01-01', now(), 'test')"
            " RETURNING trace_request_id"
        )
        with pytest.raises(asyncpg.NotNullViolationError):  # an answer is kept with its level from now on
            await conn.execute(
                "INSERT INTO trace_answer (trace_request_id, notice_id, outcome, answered_at, answered_by)"
                " VALUES ($1, 'n', 'not-found', now(), 'test')",
                unanswered,
            )
    finally:
        await conn.close()


async def test_requests_deemed_before_keep_the_day_their_journal_entry_names(
    make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    mine = "20261201020000_keep_consent_request_deemed_day.sql"
    older = _migrations_before(tmp_path, mine)
    conn = await db.connect(await make_empty_database())
    try:
        await db.migrate(conn, older)
        for notice_id in ("n1", "n2"):
            await conn.execute(
                "INSERT INTO consent_request_received (requesting_state, notice_id, licence_number, licence,"
                " window_from, window_to, findings, confidentiality, received_at)"
                " VALUES ('AT', $1, 'AT-EXP-1', '{}', '2026-12-01', '2026-12-20', '[]', 'restricted', now())",
                notice_id,
            )
        async with conn.transaction():  # n1 deemed by the timer as it did before; n2 still pending
            await conn.execute(
                "UPDATE consent_request_received SET status = 'deemed', reason = 'silent', decided_by = 'timer',"
                " decided_at = '2026-10-30T00:05:00Z' WHERE notice_id = 'n1'"
            )
            await journal.record(
                conn,
                actor="system:consent-timer",
                action="transit-consent.deemed",
                entity="consent_request_received",
                entity_id="AT/n1",
                payload={"licence_number": "AT-EXP-1", "received_on": "2026-10-01", "deemed_on": "2026-10-29"},
            )
        assert mine in await db.migrate(conn)
        rows = await conn.fetch("SELECT notice_id, silent_period_end FROM consent_request_deemed")
        assert [(row["notice_id"], row["silent_period_end"].isoformat()) for row in rows] == [("n1", "2026-10-29")]
        entries = await conn.fetch(
            "SELECT entity_id, payload ->> 'silent_period_end' FROM journal_entry"
            " WHERE action = 'transit-consent.deemed-day-kept'"
        )
        assert [tuple(row) for row in entries] == [("AT/n1", "2026-10-29")]
        with pytest.raises(asyncpg.RestrictViolationError):  # append-only
            await conn.execute("UPDATE consent_request_deemed SET silent_period_end = '2026-10-30'")
    finally:
        await conn.close()
