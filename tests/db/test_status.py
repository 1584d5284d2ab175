"""The operator's overview (``firearms.status``, README "Status"): what it counts, what needs attention."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import msgspec

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import bootstrap, check_decisions, checks, db, journal, keys, outbox, status, traces
from firearms.canonical import utc_now
from firearms.check_rules import CheckRequest
from firearms.exchange import delivery
from firearms.exchange.trace_bodies import TraceRequested, Weapon
from firearms.settings import Settings
from tests.check_helpers import check_body, register_stolen
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import partner, signed_receipt
from tests.licensing_helpers import issued_export, register_parties

__all__ = ["at_de"]

MIGRATIONS = Path(__file__).parents[2] / "sql" / "migrations"


async def _footprint(conn: db.Conn) -> tuple[int, int, int]:
    """What a read that writes would leave: journal entries, the sealer's queue, the chain."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM journal_entry) AS e, (SELECT count(*) FROM journal_pending) AS p,"
        " (SELECT count(*) FROM journal_link) AS l"
    )
    assert row is not None
    return row["e"], row["p"], row["l"]


async def test_an_empty_registrys_status_is_all_well_and_writes_nothing(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    before = await _footprint(conn)
    found = await status.read_status(conn, settings)
    assert await _footprint(conn) == before  # nothing written, not even sealed
    assert found.partners == []
    assert found.service.state == "AT"
    assert found.service.migration == max(path.name for path in MIGRATIONS.glob("*.sql"))
    assert found.service.database_version.split(".")[0] == "18"
    assert found.keys == status.KeyStatus(
        key_id=await keys.current_key_id(conn),
        key_since=found.keys.key_since,
        rotation_key_id=None,
        rotation_announced_at=None,
        rotation_age_seconds=None,
        rotation_awaiting=[],
        rotation_awaiting_count=0,
        revoked=0,
        missing_key_files=[],
        unchecked_key_files=[],
    )
    assert found.keys.key_since is not None
    assert found.journal.unsealed == before[1]
    assert (found.journal.last_checkpoint_seq, found.journal.last_verified_at) == (None, None)
    assert found.waiting == status.WaitingWork(
        held_checks=0,
        oldest_held_check_at=None,
        oldest_held_check_age_seconds=None,
        consent_requests=0,
        oldest_consent_request_at=None,
        oldest_consent_request_age_seconds=None,
        deemed_consent_on=None,
        deemed_consent_near=False,
        trace_requests_open=0,
        trace_requests_overdue=0,
    )
    # a journal younger than 48 hours is not yet due a verification; nothing else waits
    assert found.attention == []


async def test_an_intact_verification_and_a_checkpoint_are_shown(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await journal.seal(conn)
    made = await journal.checkpoint(conn, state=settings.state, home=settings.home)
    result = await journal.verify(conn, state=settings.state)
    await journal.record_verification(conn, actor="test", result=result)
    found = await status.read_status(conn, settings, now=utc_now() + dt.timedelta(hours=47))
    assert made is not None
    assert (found.journal.last_checkpoint_seq, found.journal.last_checkpoint_at) == (made.seq, made.signed_at)
    assert found.journal.last_verified_seq == result.head_seq
    assert found.journal.last_verified_at is not None
    # verified within 48 hours: only the entry the verification journaled waits for the sealer, past 5 minutes
    assert [item.code for item in found.attention] == ["journal-unsealed"]
    later = await status.read_status(conn, settings, now=utc_now() + dt.timedelta(hours=49))
    assert [item.code for item in later.attention] == ["journal-unsealed", "journal-not-verified"]


async def test_a_busy_registrys_status_counts_each_queue_and_names_what_needs_attention(
    at_de: tuple[Registry, Registry],
) -> None:
    at, de = at_de
    # a held check at AT's exit: one of the rifles is reported stolen here
    licence = await issued_export(at.conn, at.settings, await register_parties(at.conn))
    await register_stolen(at.conn, "SSG08-002")
    body = check_body(
        "export",
        lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}],
        licence_number=licence.licence.number,
        crossing_point="AT-Wullowitz",
    )
    async with db.transaction(at.conn):
        held = await checks.perform_check(
            at.conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    assert held.verdict == "hold"
    # a trace request from DE, to be answered within ten days
    async with db.transaction(at.conn):
        await traces.receive_request(
            at.conn,
            TraceRequested(
                weapon=Weapon(kind="firearm", serial="4711", manufacturer="Ceska Zbrojovka"),
                circumstances="seized",
                intended_use="investigation",
                answer_by=utc_now().date() + dt.timedelta(days=10),
            ),
            sender="DE",
            notice_id=str(uuid.uuid4()),
            confidentiality="restricted",
            received_at=utc_now(),
            received_on=utc_now().date(),
        )
    for number in range(2):
        async with db.transaction(at.conn):
            await outbox.enqueue(at.conn, "DE", "test.ping", {"n": number})
    queued = await at.conn.fetchval("SELECT count(*) FROM notice_outbox WHERE recipient = 'DE'")
    # DE accepts the first notice, rejects the second, and then refuses the third with a problem
    de_key = await keys.current_signing_key(de.conn, de.settings.home)
    calls: list[int] = []

    async def answer(envelope: bytes) -> tuple[int, bytes]:
        calls.append(1)
        if len(calls) == 1:
            return 202, signed_receipt(envelope, de_key)
        if len(calls) == 2:
            return 202, signed_receipt(envelope, de_key, status="rejected", reason="invalid-body")
        # a partner's words may quote the notice: a serial, a name
        problem = {"type": "https://registry.example.de/problems/invalid-input", "detail": "serial 'SSG08-002 ' padded"}
        return 422, msgspec.json.encode(problem)

    async with partner(answer) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        await delivery.deliver_due(at.pool, at.settings, client, "w1")
    assert len(calls) >= 3  # the head may have been offered again within the pass (a short back-off)
    before = await _footprint(at.conn)

    found = await status.read_status(at.conn, at.settings)
    assert await _footprint(at.conn) == before
    (de_status,) = found.partners
    delivered_at = await at.conn.fetchval("SELECT max(delivered_at) FROM notice_outbox WHERE status = 'delivered'")
    oldest = await at.conn.fetchval("SELECT min(created_at) FROM notice_outbox WHERE status = 'queued'")
    assert de_status.state == "DE"
    assert de_status.enabled
    assert (de_status.queued, de_status.rejected, de_status.head_attempts) == (queued - 2, 1, len(calls) - 2)
    # the kind of the failure, not the partner's text: the overview names no serial (firearms notices shows it)
    assert de_status.head_last_error == "HTTP 422 invalid-input"
    assert b"SSG08-002" not in msgspec.json.encode(found)
    assert (de_status.last_delivered_at, de_status.oldest_queued_at) == (delivered_at, oldest)
    assert found.journal.unsealed > 0
    assert found.waiting.held_checks == 1
    assert found.waiting.oldest_held_check_at is not None
    assert (found.waiting.trace_requests_open, found.waiting.trace_requests_overdue) == (1, 0)
    # all of it fresh; but the rejected notice never takes effect at DE: flagged (for 72 hours)
    assert [item.code for item in found.attention] == ["notices-rejected"]
    assert de_status.last_rejected_at is not None

    # thirty days on, with nothing done: each threshold crossed is one attention line
    later = await status.read_status(at.conn, at.settings, now=utc_now() + dt.timedelta(days=30))
    assert [item.code for item in later.attention] == [
        "notices-waiting",
        "journal-unsealed",
        "journal-not-verified",
        "trace-requests-overdue",
        "checks-held",
    ]
    assert later.attention[0].reason.startswith("DE: its oldest queued notice has waited since")
    assert later.waiting.trace_requests_overdue == 1
    # refused by an officer, the check waits no more
    async with db.transaction(at.conn):
        await check_decisions.decide(
            at.conn, uuid.UUID(body["check_id"]), "refuse", "stolen", state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    decided = await status.read_status(at.conn, at.settings, now=utc_now() + dt.timedelta(days=30))
    assert (decided.waiting.held_checks, decided.waiting.oldest_held_check_at) == (0, None)
    assert "checks-held" not in [item.code for item in decided.attention]
    assert (later.partners[0].oldest_queued_age_seconds or 0) > 30 * 86400 - 60
