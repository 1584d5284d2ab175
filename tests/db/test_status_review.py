"""The operator's overview at its edges (README "Status"): each threshold's boundary, a journal never verified, a
partner's words in a last error, partners disabled or with nothing queued."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import msgspec
import pytest

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import bootstrap, checks, db, journal, keys, outbox, status, traces
from firearms.canonical import utc_now
from firearms.check_rules import CheckRequest
from firearms.exchange import rotation
from firearms.exchange.trace_bodies import TraceRequested, Weapon
from firearms.settings import Settings
from tests.check_helpers import check_body, register_stolen
from tests.exchange_util import add_partner
from tests.licensing_helpers import issued_export, register_parties

SECOND = dt.timedelta(seconds=1)


def _codes(found: status.Status) -> list[str]:
    return [item.code for item in found.attention]


async def _head_failed(conn: db.Conn, error: str) -> None:
    """The head of DE's queue failed once with ``error`` (as the worker records it)."""
    async with db.transaction(conn):
        await outbox.enqueue(conn, "DE", "test.ping", {"n": 1})
        await conn.execute(
            "UPDATE notice_outbox SET attempts = 1, last_error = $1 WHERE recipient = 'DE' AND status = 'queued'",
            error,
        )


async def _first_entry_at(conn: db.Conn) -> dt.datetime:
    first = await conn.fetchval("SELECT recorded_at FROM journal_entry ORDER BY entry_id LIMIT 1")
    assert isinstance(first, dt.datetime)
    return first


async def _sealed(conn: db.Conn) -> None:
    """Nothing waits for the sealer (so that the journal-unsealed threshold stays out of the way)."""
    await journal.seal(conn)
    assert await conn.fetchval("SELECT count(*) FROM journal_pending") == 0


# -- 1. a journal never verified --------------------------------------------------------------------------------


async def test_a_journal_never_verified_is_flagged_once_its_first_entry_is_older_than_48_hours_not_before(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await _sealed(conn)
    first = await _first_entry_at(conn)
    # installed an hour ago, or 48 hours ago to the second: not yet due a verification
    for now in (
        first + dt.timedelta(hours=1),
        first + status.VERIFICATION_AGE - SECOND,
        first + status.VERIFICATION_AGE,
    ):
        found = await status.read_status(conn, settings, now=now)
        assert found.journal.last_verified_at is None
        assert "journal-not-verified" not in _codes(found), now
    # a second later the journal holds an entry older than 48 hours that no verification ever covered
    found = await status.read_status(conn, settings, now=first + status.VERIFICATION_AGE + SECOND)
    (item,) = [item for item in found.attention if item.code == "journal-not-verified"]
    assert item.reason.startswith("no intact journal verification ever, over 48 hours")


async def test_an_intact_verification_counts_for_48_hours_to_the_second(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await _sealed(conn)
    result = await journal.verify(conn, state=settings.state)
    await journal.record_verification(conn, actor="test", result=result)
    await _sealed(conn)
    verified = await status.read_status(conn, settings)
    at = verified.journal.last_verified_at
    assert at is not None
    for now in (at + status.VERIFICATION_AGE - SECOND, at + status.VERIFICATION_AGE):
        assert "journal-not-verified" not in _codes(await status.read_status(conn, settings, now=now))
    late = await status.read_status(conn, settings, now=at + status.VERIFICATION_AGE + SECOND)
    assert "journal-not-verified" in _codes(late)


# -- 2. each threshold's boundary -------------------------------------------------------------------------------


async def test_an_unsealed_entry_is_flagged_after_5_minutes_not_at_them(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    found = await status.read_status(conn, settings)
    oldest = found.journal.oldest_unsealed_at
    assert oldest is not None
    for now in (oldest + status.UNSEALED_AGE - SECOND, oldest + status.UNSEALED_AGE):
        assert "journal-unsealed" not in _codes(await status.read_status(conn, settings, now=now))
    late = await status.read_status(conn, settings, now=oldest + status.UNSEALED_AGE + SECOND)
    assert "journal-unsealed" in _codes(late)
    assert late.journal.oldest_unsealed_age_seconds == 301


async def test_a_queued_notice_is_flagged_after_an_hour_for_an_enabled_or_disabled_partner_not_at_it(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await add_partner(conn)
    await add_partner(conn, "FR")  # a partner with nothing queued: counted as such, never flagged
    async with db.transaction(conn):
        await outbox.enqueue(conn, "DE", "test.ping", {"n": 1})
    await _sealed(conn)
    found = await status.read_status(conn, settings)
    de, fr = found.partners
    assert (de.state, de.queued, fr.state, fr.queued) == ("DE", 1, "FR", 0)
    assert (fr.oldest_queued_at, fr.oldest_queued_age_seconds, fr.head_attempts, fr.head_last_error) == (
        None,
        None,
        None,
        None,
    )
    assert (fr.last_delivered_at, fr.rejected) == (None, 0)
    oldest = de.oldest_queued_at
    assert oldest is not None
    for now in (oldest + status.QUEUED_NOTICE_AGE - SECOND, oldest + status.QUEUED_NOTICE_AGE):
        assert "notices-waiting" not in _codes(await status.read_status(conn, settings, now=now))
    late = await status.read_status(conn, settings, now=oldest + status.QUEUED_NOTICE_AGE + SECOND)
    assert [item.reason.split(":")[0] for item in late.attention if item.code == "notices-waiting"] == ["DE"]
    await conn.execute("UPDATE peer SET enabled = false WHERE state = 'DE'")
    disabled = await status.read_status(conn, settings, now=oldest + status.QUEUED_NOTICE_AGE + SECOND)
    assert not disabled.partners[0].enabled
    assert [item.reason.split(":")[0] for item in disabled.attention if item.code == "notices-waiting"] == [
        "DE (disabled)"
    ]


async def test_a_received_trace_request_is_overdue_from_the_day_after_its_due_day_in_the_registrys_zone(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """README "Dates and the time zone": the day is the State's. In Auckland (UTC+13 in December) the due day ends
    at 11:00 UTC, while it is still that day in UTC."""
    await add_partner(conn)  # the acknowledgement goes to DE
    auckland = msgspec.structs.replace(settings, time_zone=ZoneInfo("Pacific/Auckland"))
    due = utc_now().date() + dt.timedelta(days=10)
    async with db.transaction(conn):
        await traces.receive_request(
            conn,
            TraceRequested(
                weapon=Weapon(kind="firearm", serial="4711", manufacturer="Ceska Zbrojovka"),
                circumstances="seized",
                intended_use="investigation",
                answer_by=due,
            ),
            sender="DE",
            notice_id=str(uuid.uuid4()),
            confidentiality="restricted",
            received_at=utc_now(),
            received_on=utc_now().date(),
        )
    day_ends = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(), ZoneInfo("Pacific/Auckland"))
    last_second = await status.read_status(conn, auckland, now=(day_ends - SECOND).astimezone(dt.UTC))
    assert (last_second.waiting.trace_requests_open, last_second.waiting.trace_requests_overdue) == (1, 0)
    assert "trace-requests-overdue" not in _codes(last_second)
    next_day = await status.read_status(conn, auckland, now=day_ends.astimezone(dt.UTC))
    assert next_day.waiting.trace_requests_overdue == 1
    assert "trace-requests-overdue" in _codes(next_day)
    # the same instant in UTC is still the due day: not overdue there
    assert (
        await status.read_status(conn, settings, now=day_ends.astimezone(dt.UTC))
    ).waiting.trace_requests_overdue == 0


# -- 2. confidentiality: the kind of a partner's error, never its words ------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        # the worker's own words before the partner's: kept
        ("HTTP 409 sequence-gap: expected 4", "HTTP 409 sequence-gap"),
        ("HTTP 503 database-unavailable: the database did not answer", "HTTP 503 database-unavailable"),
        ("HTTP 502: <html>bad gateway</html>", "HTTP 502"),
        # an answer with no body and no detail: the worker's own words end in a colon
        ("HTTP 502:", "HTTP 502"),
        ("HTTP 422 invalid-input:", "HTTP 422 invalid-input"),
        ("network: ConnectError: All connection attempts failed", "network: ConnectError"),
        ("bad receipt: signature by de-2026 does not verify", "bad receipt"),
        ("signing: no key", "signing"),
        ("notice-id-conflict: DE holds this notice under another number", "notice-id-conflict"),
        # a problem type is the partner's choice of words: one that is no problem type of PROTOCOL §4 or of
        # this software (a serial, a name, an escape sequence) is dropped, the status kept
        ("HTTP 422 SSG08-002: padded", "HTTP 422"),
        ("HTTP 422 max-mustermann: owner", "HTTP 422"),
        ("HTTP 400 \x1b[2J\x1b]0;pwned\x07: x", "HTTP 400"),
        ("HTTP 422 Max Mustermann owns SSG08-002", "HTTP 422"),
        # a text the worker never writes: nothing of it
        ("SSG08-002 belongs to Max Mustermann", "other"),
        ("\x1b[31mred\x1b[0m", "other"),
        ("network: Connect\x1bError: x", "other"),
    ],
)
async def test_the_head_of_a_queue_shows_the_kind_of_its_error_never_the_partners_words(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised, error: str, kind: str
) -> None:
    await add_partner(conn)
    await _head_failed(conn, error)
    found = await status.read_status(conn, settings, now=utc_now() + dt.timedelta(days=1))
    assert found.partners[0].head_attempts == 1
    assert found.partners[0].head_last_error == kind
    encoded = msgspec.json.encode(found)
    for word in (b"SSG08-002", b"Mustermann", b"mustermann", b"pwned", b"\\u001b", b"31mred"):
        assert word not in encoded


async def test_a_held_check_is_flagged_after_a_day_not_at_it(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    await register_stolen(conn, "SSG08-002")
    body = check_body(
        "export",
        lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}],
        licence_number=licence.licence.number,
        crossing_point="AT-Wullowitz",
    )
    async with db.transaction(conn):
        held = await checks.perform_check(
            conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    assert held.verdict == "hold"
    found = await status.read_status(conn, settings)
    oldest = found.waiting.oldest_held_check_at
    assert (found.waiting.held_checks, oldest is not None) == (1, True)
    assert oldest is not None
    for now in (oldest + status.HELD_CHECK_AGE - SECOND, oldest + status.HELD_CHECK_AGE):
        assert "checks-held" not in _codes(await status.read_status(conn, settings, now=now))
    assert "checks-held" in _codes(
        await status.read_status(conn, settings, now=oldest + status.HELD_CHECK_AGE + SECOND)
    )


async def test_the_keys_show_a_rotation_under_way_its_switch_and_the_old_key_revoked(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await add_partner(conn)  # with no partner to tell, a rotation switches at once
    old = await keys.current_key_id(conn)
    async with keys.key_transaction(conn, settings.home) as files:
        new = (await rotation.rotate(conn, files, actor="test")).key_id
    waiting = (await status.read_status(conn, settings)).keys
    assert (waiting.key_id, waiting.rotation_key_id, waiting.revoked) == (old, new, 0)
    assert waiting.rotation_announced_at is not None
    async with conn.transaction():
        await rotation.switch_now(conn, actor="test")
    switched = (await status.read_status(conn, settings)).keys
    assert (switched.key_id, switched.rotation_key_id, switched.rotation_announced_at) == (new, None, None)
    assert old is not None
    async with conn.transaction():
        await rotation.revoke(conn, old, reason="leaked", actor="test")
    revoked = await status.read_status(conn, settings)
    assert (revoked.keys.key_id, revoked.keys.revoked) == (new, 1)
    assert [code for code in _codes(revoked) if code.startswith("key")] == []
