"""A partner's quota on the notices stored from it (README "What one partner can make this registry store").

Beyond its bound of the UTC hour a validly signed notice is refused 429 ``quota-exceeded`` with ``Retry-After``, and
nothing of it is stored; the sender's retry of the same bytes arrives once, in order, when the bound lets it in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

import tests.exchange_util  # noqa: F401  # registers test.ping
from api import create_app
from firearms import backup, bootstrap, db, outbox, restore, status
from firearms.canonical import format_time, utc_now
from firearms.embedded import with_user
from firearms.errors import InvalidInputError, NotFoundError
from firearms.exchange import delivery, inbox, trust
from firearms.exchange.protocol import PROBLEM_BASE
from firearms.exchange.quota import QuotaExceededError
from firearms.settings import Settings
from firearms.signing import b64url_decode, key_id_of
from tests.exchange_fixtures import Client, Registry, at_de, de
from tests.exchange_util import AT_KEY, OTHER_KEY, VECTORS, envelope

__all__ = ["at_de", "de"]


async def _post(client: Client, raw: bytes) -> Any:
    return await client.post("/exchange/v1/notices", content=raw, headers={"content-type": "application/json"})


async def _quota(conn: db.Conn, state: str = "AT", *, notices: int | None = None, bytes_: int | None = None) -> None:
    async with conn.transaction():
        await trust.set_peer_quota(conn, state, notices=notices, bytes_=bytes_, actor="test")


async def _stored(conn: db.Conn) -> tuple[int, int]:
    inbox_rows = await conn.fetchval("SELECT count(*) FROM notice_inbox")
    journaled = await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.received'")
    return inbox_rows, journaled


async def _window(conn: db.Conn, state: str = "AT") -> list[tuple[int, int, int]]:
    rows = await conn.fetch(
        "SELECT notices, bytes, refused FROM peer_quota_window WHERE state = $1 ORDER BY window_start", state
    )
    return [(row["notices"], row["bytes"], row["refused"]) for row in rows]


async def test_a_notice_beyond_the_partners_quota_is_refused_429_with_retry_after_and_nothing_stored(
    de: tuple[Client, db.Conn],
) -> None:
    client, conn = de
    await _quota(conn, notices=2)
    first, second = envelope(AT_KEY, sequence=1), envelope(AT_KEY, sequence=2)
    assert (await _post(client, first)).status_code == 202
    assert (await _post(client, second)).status_code == 202
    third = envelope(AT_KEY, sequence=3)
    started = utc_now()
    refused = await _post(client, third)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"] == PROBLEM_BASE + "quota-exceeded"
    assert (problem["quota_notices"], problem["used_notices"]) == (2, 2)
    hour_end = started.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    assert problem["window_end"] == format_time(hour_end)
    retry_after = int(refused.headers["retry-after"])
    assert retry_after == problem["retry_after"]
    assert 1 <= retry_after <= 3600
    assert abs(retry_after - (hour_end - started).total_seconds()) <= 2
    # nothing stored, the sequence expected unchanged: the same bytes again are refused again, not a gap
    assert await _stored(conn) == (2, 2)
    assert (await _post(client, third)).status_code == 429
    gap = await _post(client, envelope(AT_KEY, sequence=4))
    assert (gap.status_code, gap.json()["expected_sequence"]) == (409, 3)
    # a duplicate is answered with its first receipt (nothing stored), over the quota or not
    assert (await _post(client, first)).status_code == 200
    notices, _, refusals = (await _window(conn))[0]
    assert (notices, refusals) == (2, 2)
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.quota-exceeded'") == 1
    # the operator raises the bound: the same bytes arrive, once, in order
    await _quota(conn, notices=3)
    assert (await _post(client, third)).status_code == 202
    assert await conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_inbox") == [1, 2, 3]


async def test_the_bytes_of_an_hour_are_bounded_too(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    await _quota(conn, bytes_=262_144)
    big = {"text": "x" * 200_000}
    assert (await _post(client, envelope(AT_KEY, sequence=1, body=big))).status_code == 202
    ((notices, stored_bytes, _),) = await _window(conn)
    assert notices == 1
    assert stored_bytes == await conn.fetchval("SELECT octet_length(notice) FROM notice_inbox")
    refused = await _post(client, envelope(AT_KEY, sequence=2, body=big))
    assert refused.status_code == 429
    assert refused.json()["used_bytes"] == stored_bytes
    assert (await _post(client, envelope(AT_KEY, sequence=2, body={"text": "small"}))).status_code == 202


async def test_a_forger_cannot_use_up_a_real_partners_quota(de: tuple[Client, db.Conn]) -> None:
    """Anyone may post naming AT: a notice that fails the signature is refused before it counts."""
    client, conn = de
    await _quota(conn, notices=2)
    for sequence in (1, 1, 2, 3, 1):
        forged = await _post(client, envelope(OTHER_KEY, sequence=sequence))
        assert forged.status_code == 403
    assert await _window(conn) == []
    assert (await _post(client, envelope(AT_KEY, sequence=1))).status_code == 202
    assert (await _post(client, envelope(AT_KEY, sequence=2))).status_code == 202
    assert (await _post(client, envelope(OTHER_KEY, sequence=3))).status_code == 403  # not 429: not AT's
    assert [refused for *_, refused in await _window(conn)] == [0]


async def test_concurrent_receivers_in_two_processes_never_store_past_the_quota(
    de: tuple[Client, db.Conn], database: str
) -> None:
    """Two apps (two API processes, each its own pool) take AT's notices at once: the count is not beaten."""
    client, conn = de
    await _quota(conn, notices=5)
    settings: Settings = client.app.state.settings
    envelopes = [envelope(AT_KEY, sequence=n) for n in range(1, 13)]
    statuses: list[int] = []
    async with AsyncTestClient(app=create_app(settings)) as second:
        for _ in range(12):  # each round, every copy of every notice not yet stored, at once, on both
            stored = await conn.fetchval("SELECT count(*) FROM notice_inbox")
            answers = await asyncio.gather(
                *(_post(target, raw) for raw in envelopes[stored:] for target in (client, second))
            )
            statuses.extend(answer.status_code for answer in answers)
            if all(answer.status_code in (409, 429) for answer in answers):
                break
    assert await _stored(conn) == (5, 5)
    assert await conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_inbox") == [1, 2, 3, 4, 5]
    ((notices, stored_bytes, refused),) = await _window(conn)
    assert notices == 5
    assert stored_bytes == await conn.fetchval("SELECT sum(octet_length(notice)) FROM notice_inbox")
    assert refused == statuses.count(429) > 0


async def test_the_quota_counts_the_utc_hour_and_the_next_hour_lets_the_notice_in(
    de: tuple[Client, db.Conn],
) -> None:
    client, conn = de
    await _quota(conn, notices=1)
    settings: Settings = client.app.state.settings
    hour = utc_now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=2)
    created = format_time(hour - dt.timedelta(hours=1))
    first, second = envelope(AT_KEY, sequence=1, created_at=created), envelope(AT_KEY, sequence=2, created_at=created)

    async def receive(raw: bytes, at: dt.datetime) -> inbox.Delivered:
        async with conn.transaction():
            return await inbox.receive(conn, raw, state="DE", home=settings.home, time_zone=dt.UTC, now=at)

    assert (await receive(first, hour - dt.timedelta(minutes=30))).status == "accepted"
    with pytest.raises(QuotaExceededError) as refused:
        await receive(second, hour - dt.timedelta(microseconds=1))
    assert refused.value.retry_after == 1
    assert refused.value.facts["window_end"] == format_time(hour)
    delivered = await receive(second, hour)
    assert (delivered.status, delivered.duplicate) == ("accepted", False)
    assert [(n, r) for n, _, r in await _window(conn)] == [(1, 0), (1, 0)]


async def test_the_settings_bound_applies_where_the_partner_has_none(de: tuple[Client, db.Conn], database: str) -> None:
    client, conn = de
    settings: Settings = client.app.state.settings
    bounded = Settings(**{**{f: getattr(settings, f) for f in settings.__struct_fields__}, "partner_quota_notices": 1})
    async with AsyncTestClient(app=create_app(bounded)) as bounded_client:
        assert (await _post(bounded_client, envelope(AT_KEY, sequence=1))).status_code == 202
        assert (await _post(bounded_client, envelope(AT_KEY, sequence=2))).status_code == 429
        await _quota(conn, notices=2)  # the partner's own bound replaces the default
        assert (await _post(bounded_client, envelope(AT_KEY, sequence=2))).status_code == 202


async def test_peers_quota_is_journaled_shown_and_refuses_a_bound_no_notice_could_meet(
    de: tuple[Client, db.Conn],
) -> None:
    _, conn = de
    async with conn.transaction():
        peer = await trust.set_peer_quota(conn, "AT", notices=500, bytes_=1_048_576, actor="test")
    assert (peer.quota_notices, peer.quota_bytes) == (500, 1_048_576)
    assert [(p.state, p.quota_notices) for p in await trust.list_peers(conn, after="", limit=10)] == [("AT", 500)]
    entry = await conn.fetchrow("SELECT actor, payload FROM journal_entry WHERE action = 'peer.quota-set'")
    assert entry is not None
    assert entry["actor"] == "test"
    for notices, bytes_ in ((0, None), (None, 262_143), (2**31, None)):
        with pytest.raises(InvalidInputError):
            await trust.set_peer_quota(conn, "AT", notices=notices, bytes_=bytes_, actor="test")
    with pytest.raises(NotFoundError):
        async with conn.transaction():
            await trust.set_peer_quota(conn, "FR", notices=5, bytes_=None, actor="test")
    async with conn.transaction():
        peer = await trust.set_peer_quota(conn, "AT", notices=None, bytes_=None, actor="test")
    assert (peer.quota_notices, peer.quota_bytes) == (None, None)
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.quota-set'") == 2


async def test_a_bound_not_given_stays_as_it_is(de: tuple[Client, db.Conn]) -> None:
    _, conn = de
    async with conn.transaction():
        await trust.set_peer_quota(conn, "AT", notices=500, bytes_=1_048_576, actor="test")
    async with conn.transaction():
        peer = await trust.set_peer_quota(conn, "AT", notices=600, actor="test")
    assert (peer.quota_notices, peer.quota_bytes) == (600, 1_048_576)
    async with conn.transaction():
        peer = await trust.set_peer_quota(conn, "AT", bytes_=None, actor="test")
    assert (peer.quota_notices, peer.quota_bytes) == (600, None)
    payload = await conn.fetchval(
        "SELECT payload FROM journal_entry WHERE action = 'peer.quota-set' ORDER BY entry_id DESC LIMIT 1"
    )
    assert payload == {
        "quota_notices": 600,
        "quota_bytes": None,
        "before": {"quota_notices": 600, "quota_bytes": 1_048_576},
    }
    journaled = await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.quota-set'")
    with pytest.raises(InvalidInputError, match="neither"):
        async with conn.transaction():
            await trust.set_peer_quota(conn, "AT", actor="test")
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.quota-set'") == journaled


async def test_the_senders_retry_arrives_once_in_order_when_the_quota_lets_it_in(
    at_de: tuple[Registry, Registry],
) -> None:
    """Two registries: AT's worker meets DE's quota (429), keeps the notices queued, and delivers them later."""
    at, de_registry = at_de
    await _quota(de_registry.conn, notices=3)
    async with at.conn.transaction():
        ids = [str(await outbox.enqueue(at.conn, "DE", "test.ping", {"n": n})) for n in range(5)]
    client = de_registry.client
    await _deliver_until(
        at, client, "SELECT last_error LIKE 'HTTP 429 quota-exceeded%' FROM notice_outbox WHERE sequence = 4"
    )
    statuses = await at.conn.fetch("SELECT sequence, status FROM notice_outbox ORDER BY sequence")
    assert [row["status"] for row in statuses] == ["delivered"] * 3 + ["queued"] * 2
    assert await de_registry.conn.fetchval("SELECT count(*) FROM notice_inbox") == 3
    # AT's operator sees the kind of the refusal (a known problem type), DE's that AT met its quota
    (de_seen,) = (await status.read_status(at.conn, at.settings)).partners
    assert de_seen.head_last_error == "HTTP 429 quota-exceeded"
    seen = await status.read_status(de_registry.conn, de_registry.settings)
    assert [(p.state, p.quota_refused > 0) for p in seen.partners] == [("AT", True)]
    assert [item.code for item in seen.attention if item.code == "partner-over-quota"] == ["partner-over-quota"]
    # AT's worker honours DE's Retry-After: nothing is sent again before DE's hour ends (up to an hour away)
    waits = await at.conn.fetchrow(
        "SELECT next_attempt_at - last_attempt_at AS ahead,"
        " date_trunc('hour', last_attempt_at AT TIME ZONE 'UTC') + interval '1 hour'"
        " - (last_attempt_at AT TIME ZONE 'UTC') AS hour_left FROM notice_outbox WHERE sequence = 4"
    )
    assert waits is not None
    assert waits["hour_left"] - dt.timedelta(seconds=2) <= waits["ahead"] <= dt.timedelta(seconds=3600 * 1.1 + 1)
    await _quota(de_registry.conn)  # back to the default: as the next hour would
    await at.conn.execute("UPDATE notice_outbox SET next_attempt_at = now() WHERE status = 'queued'")  # its hour ends
    await _deliver_until(at, client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    received = await de_registry.conn.fetch(
        "SELECT notice_id, sequence FROM notice_inbox ORDER BY received_at, sequence"
    )
    assert [row["notice_id"] for row in received] == ids
    assert [row["sequence"] for row in received] == [1, 2, 3, 4, 5]


async def _deliver_until(at: Registry, client: httpx.AsyncClient, done: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        await delivery.deliver_due(at.pool, at.settings, client, "w1")
        if await at.conn.fetchval(done):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not reached: {done}")


async def test_a_notice_stored_rejected_counts_and_its_duplicate_is_answered_over_the_quota(
    de: tuple[Client, db.Conn],
) -> None:
    """A notice whose effect rejects it is stored (its sequence consumed, its bytes kept): it counts as any other."""
    client, conn = de
    await _quota(conn, notices=1)
    unknown = envelope(AT_KEY, sequence=1, type_="test.no-such-type", body={"text": "x" * 1000})
    stored = await _post(client, unknown)
    assert (stored.status_code, stored.json()["receipt"]["reason"]) == (202, "unsupported-type")
    assert await _window(conn) == [(1, await conn.fetchval("SELECT octet_length(notice) FROM notice_inbox"), 0)]
    assert (await _post(client, envelope(AT_KEY, sequence=2))).status_code == 429
    again = await _post(client, unknown)  # a duplicate: its first receipt, counted and refused neither
    assert (again.status_code, again.content) == (200, stored.content)
    assert [(notices, refused) for notices, _, refused in await _window(conn)] == [(1, 1)]


_LOWERED: list[str] = []  # the database the effect below lowers AT's bound in


async def _lowers_the_quota_then_fails(conn: Any, received: Any) -> None:
    """Test-only: the operator lowers AT's bound (committed, on a connection of its own), then the database refuses
    the effect's values: the notice is to be stored ``cannot-apply`` in a second transaction, under the new bound."""
    other = await db.connect(_LOWERED[-1])
    try:
        await _quota(other, notices=1)
    finally:
        await other.close()
    await conn.execute("SELECT 1 / 0")  # a data exception: stored rejected, cannot-apply


if "test.quota-lowered" not in inbox.EFFECTS:
    inbox.EFFECTS["test.quota-lowered"] = _lowers_the_quota_then_fails


async def test_a_refusal_for_the_quota_when_storing_a_notice_rejected_is_counted_and_journaled(
    de: tuple[Client, db.Conn], database: str
) -> None:
    """The second transaction of a notice whose effect the database refused meets the quota: counted as the first."""
    client, conn = de
    _LOWERED.append(database)
    assert (await _post(client, envelope(AT_KEY, sequence=1))).status_code == 202
    refused = await _post(client, envelope(AT_KEY, sequence=2, type_="test.quota-lowered"))
    assert (refused.status_code, refused.json()["type"]) == (429, PROBLEM_BASE + "quota-exceeded")
    assert refused.headers["retry-after"] == str(refused.json()["retry_after"])
    assert await _stored(conn) == (1, 1)
    assert await _window(conn) == [(1, await conn.fetchval("SELECT octet_length(notice) FROM notice_inbox"), 1)]
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.quota-exceeded'") == 1


async def test_an_upgraded_registry_with_partners_and_received_notices_counts_from_the_upgrade(
    empty_database: str, home: Path, tmp_path: Path
) -> None:
    """Migration 20261201100000 on a database holding a partner and its notices: nothing lost, nothing counted before.

    The notices received before the upgrade are not counted in its hour (the table starts empty), the next one is.
    """
    quota_migration = "20261201100000_bound_partner_notices.sql"
    older = tmp_path / "migrations"
    shutil.copytree(db.SQL_DIR / "migrations", older)
    for later in older.glob("*.sql"):
        if later.name >= quota_migration:
            later.unlink()
    conn = await db.connect(empty_database)
    try:
        await db.migrate(conn, older)
        public_key = b64url_decode(VECTORS["keys"]["AT"]["public_key"])
        await conn.execute(
            "INSERT INTO peer (state, base_url, created_at, updated_at)"
            " VALUES ('AT', 'http://127.0.0.1:9', now(), now())"
        )
        await conn.execute(
            "INSERT INTO peer_key (state, key_id, public_key, not_before, provenance, created_at)"
            " VALUES ('AT', $1, $2, '2026-01-01T00:00:00Z', 'test', now())",
            key_id_of(public_key),
            public_key,
        )
        for sequence in (1, 2):
            await conn.execute(
                "INSERT INTO notice_inbox (sender, notice_id, type, sequence, created_at, confidentiality, key_id,"
                " notice, signature, digest, status, received_at, receipt)"
                " VALUES ('AT', gen_random_uuid()::text, 'test.ping', $1, now(), 'restricted', $2, '\\x7b7d', 'x',"
                " 'x', 'accepted', now(), '\\x7b7d')",
                sequence,
                key_id_of(public_key),
            )
        settings = Settings(
            state="DE",
            home=home,
            database_url=with_user(empty_database, db.SERVICE_ROLE),
            migration_database_url=empty_database,
            run_worker=False,
        )
        assert quota_migration in (await bootstrap.initialise(settings, empty_database)).migrations
        (peer,) = await trust.list_peers(conn, after="", limit=10)
        assert (peer.state, peer.enabled, peer.quota_notices, peer.quota_bytes) == ("AT", True, None, None)
        assert await _window(conn) == []
        await _quota(conn, notices=1)  # the partner's own bound, on the upgraded row
        async with AsyncTestClient(app=create_app(settings)) as client:
            assert (await _post(client, envelope(AT_KEY, sequence=3))).status_code == 202
            refused = await _post(client, envelope(AT_KEY, sequence=4))
            assert (refused.status_code, refused.json()["used_notices"]) == (429, 1)
        assert [(notices, refused) for notices, _, refused in await _window(conn)] == [(1, 1)]
        assert await conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_inbox") == [1, 2, 3]
    finally:
        await conn.close()


async def test_a_restored_backup_keeps_the_hours_counts_and_goes_on_counting_from_them(
    de: tuple[Client, db.Conn], database: str, empty_database: str, tmp_path: Path
) -> None:
    client, conn = de
    await _quota(conn, notices=2)
    assert (await _post(client, envelope(AT_KEY, sequence=1))).status_code == 202
    assert (await _post(client, envelope(AT_KEY, sequence=2))).status_code == 202
    third = envelope(AT_KEY, sequence=3)
    assert (await _post(client, third)).status_code == 429
    counted = await conn.fetch("SELECT * FROM peer_quota_window")
    path = tmp_path / "de.dump"
    await backup.backup(database, path, state="DE", actor="test")
    settings: Settings = client.app.state.settings
    new_home = tmp_path / "new-home"
    restored = await restore.restore(empty_database, path, state="DE", home=new_home)
    assert (restored.head_matches, restored.verify_intact, restored.problem) == (True, True, None)
    for name in restored.missing_key_files:
        shutil.copy2(settings.home / "keys" / name, new_home / "keys" / name)
    restored_conn = await db.connect(empty_database)
    try:
        assert [dict(row) for row in await restored_conn.fetch("SELECT * FROM peer_quota_window")] == [
            dict(row) for row in counted
        ]
        moved = msgspec.structs.replace(
            settings, home=new_home, database_url=with_user(empty_database, db.SERVICE_ROLE)
        )
        async with AsyncTestClient(app=create_app(moved)) as restored_client:
            assert (await _post(restored_client, third)).status_code == 429  # the hour's count came back with it
            await _quota(restored_conn, notices=3)
            assert (await _post(restored_client, third)).status_code == 202
        assert [(n, r) for n, _, r in await _window(restored_conn)] == [(3, 2)]
    finally:
        await restored_conn.close()


async def test_the_bytes_counted_are_the_canonical_notice_stored_not_the_body_as_sent(
    de: tuple[Client, db.Conn],
) -> None:
    """White space and escapes the canonical form drops (PROTOCOL §2) are neither stored nor counted."""
    client, conn = de
    canonical = envelope(AT_KEY, sequence=1, body={"text": "é/" * 2000})
    padded = json.dumps(json.loads(canonical), indent=8, ensure_ascii=True).replace("/", "\\/").encode()
    assert len(padded) > 2 * len(canonical)
    assert (await _post(client, padded)).status_code == 202
    ((notices, counted, _),) = await _window(conn)
    stored = await conn.fetchval("SELECT octet_length(notice) FROM notice_inbox")
    assert (notices, counted) == (1, stored)
    assert stored < len(canonical) < len(padded)


async def test_the_least_bytes_bound_takes_the_largest_envelope_in_an_hour_of_its_own(
    de: tuple[Client, db.Conn],
) -> None:
    """``peers quota --bytes 262144``: an envelope of PROTOCOL §3's 256 KiB, to the byte, is never refused for ever."""
    client, conn = de
    await _quota(conn, bytes_=262_144)
    notice_id, created = str(uuid.uuid4()), format_time(utc_now())
    base = len(envelope(AT_KEY, sequence=1, body={"text": ""}, notice_id=notice_id, created_at=created))
    largest = envelope(
        AT_KEY, sequence=1, body={"text": "x" * (262_144 - base)}, notice_id=notice_id, created_at=created
    )
    assert len(largest) == 262_144
    assert (await _post(client, largest)).status_code == 202
    ((notices, counted, _),) = await _window(conn)
    assert notices == 1
    assert counted < 262_144
    assert (
        await _post(client, envelope(AT_KEY, sequence=2, body={"text": "x" * (262_144 - counted)}))
    ).status_code == 429
