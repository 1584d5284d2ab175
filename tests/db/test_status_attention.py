"""Four conditions the operator's overview flags (README "Status"): a notice a partner rejected, no signing key in
use (or its private key file missing from the home), a key rotation that never completes, a list of holidays that
runs out. Each at its boundary."""

from __future__ import annotations

import datetime as dt

import asyncpg
import msgspec
import pytest

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import bootstrap, clock, consents, db, journal, keys, outbox, status
from firearms.canonical import utc_now
from firearms.exchange import rotation
from firearms.files import partial_beside
from firearms.settings import Settings
from tests.exchange_util import add_partner

SECOND = dt.timedelta(seconds=1)


def _codes(found: status.Status) -> list[str]:
    return [item.code for item in found.attention]


async def _rejected(conn: db.Conn, state: str, at: dt.datetime) -> None:
    """A notice to ``state`` that it stored rejected, its receipt recorded at ``at`` (as the worker records it)."""
    async with db.transaction(conn):
        await outbox.enqueue(conn, state, "test.ping", {"n": 1})
        await conn.execute(
            "UPDATE notice_outbox SET status = 'rejected', receipt_reason = 'invalid-body', delivered_at = $1,"
            " attempts = 1 WHERE recipient = $2 AND status = 'queued'",
            at,
            state,
        )


# -- 1. a notice a partner rejected ------------------------------------------------------------------------------


async def test_a_rejected_notice_is_flagged_for_72_hours_after_its_receipt_to_the_second_then_no_more(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await add_partner(conn)
    await add_partner(conn, "FR")
    await journal.seal(conn)
    assert "notices-rejected" not in _codes(await status.read_status(conn, settings))
    first = utc_now().replace(microsecond=0) - dt.timedelta(days=10)
    await _rejected(conn, "DE", first)  # an old one, dealt with long ago
    last = first + dt.timedelta(days=5)
    await _rejected(conn, "DE", last)
    await journal.seal(conn)
    found = await status.read_status(conn, settings, now=last + dt.timedelta(hours=8))
    de, fr = found.partners
    assert (de.rejected, de.last_rejected_at, fr.rejected, fr.last_rejected_at) == (2, last, 0, None)
    (item,) = [item for item in found.attention if item.code == "notices-rejected"]
    assert item.reason.startswith(f"DE rejected a notice at {last:%Y-%m-%dT%H:%M:%SZ}, within 72 hours")
    assert "firearms notices --status rejected --recipient DE" in item.reason
    for now in (last + status.REJECTED_NOTICE_WINDOW - SECOND, last + status.REJECTED_NOTICE_WINDOW):
        assert "notices-rejected" in _codes(await status.read_status(conn, settings, now=now)), now
    late = await status.read_status(conn, settings, now=last + status.REJECTED_NOTICE_WINDOW + SECOND)
    assert "notices-rejected" not in _codes(late)
    assert late.partners[0].rejected == 2  # still counted, no longer flagged


async def test_a_disabled_partners_rejection_is_flagged_and_marked(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await add_partner(conn)
    at = utc_now().replace(microsecond=0)
    await _rejected(conn, "DE", at)
    await conn.execute("UPDATE peer SET enabled = false WHERE state = 'DE'")
    found = await status.read_status(conn, settings, now=at + dt.timedelta(hours=1))
    (item,) = [item for item in found.attention if item.code == "notices-rejected"]
    assert item.reason.startswith("DE (disabled) rejected a notice at")


# -- 2. no signing key in use, or its file missing -------------------------------------------------------------


async def test_a_registry_migrated_but_never_served_has_no_signing_key_and_is_flagged(
    conn: db.Conn, settings: Settings
) -> None:
    """The template database is migrated; nothing made its first key (``serve``'s first start does)."""
    assert await conn.fetchval("SELECT count(*) FROM registry_key") == 0
    found = await status.read_status(conn, settings)
    assert (found.keys.key_id, found.keys.missing_key_files) == (None, [])
    assert _codes(found)[0] == "no-signing-key"
    assert "'firearms serve'" in found.attention[0].reason


async def test_a_key_valid_only_later_is_no_key_in_use_now(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """A clock set back before the first key's ``not_before``: nothing is signed until then."""
    since = (await status.read_status(conn, settings)).keys.key_since
    assert since is not None
    before = await status.read_status(conn, settings, now=since - SECOND)
    assert before.keys.key_id is None
    assert "no-signing-key" in _codes(before)
    assert "1 key recorded, none valid now" in before.attention[0].reason
    assert "no-signing-key" not in _codes(await status.read_status(conn, settings, now=since))


async def test_the_key_in_use_whose_file_is_missing_from_the_home_is_flagged(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """A restore whose key files were not copied back: nothing can be signed, and nothing said so."""
    key_id = await keys.current_key_id(conn)
    assert key_id is not None
    path = keys.key_path(settings.home, key_id)
    assert (await status.read_status(conn, settings)).keys.missing_key_files == []
    content = path.read_bytes()
    path.unlink()
    found = await status.read_status(conn, settings)
    assert found.keys.missing_key_files == [path.name]
    (item,) = [item for item in found.attention if item.code == "signing-key-missing"]
    assert item.reason.startswith(f"the private key file {path.name} (the key in use) is not in {path.parent}")
    # a file left beside its place by a crash after its commit: the signer puts it in place, nothing is missing
    partial = partial_beside(path)
    partial.write_bytes(content)
    assert (await status.read_status(conn, settings)).keys.missing_key_files == []
    partial.unlink()
    # the home's keys folder gone altogether
    path.parent.rmdir()
    assert "signing-key-missing" in _codes(await status.read_status(conn, settings))


async def test_a_waiting_rotation_keys_missing_file_is_flagged(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await add_partner(conn)
    async with keys.key_transaction(conn, settings.home) as files:
        new = (await rotation.rotate(conn, files, actor="test")).key_id
    keys.key_path(settings.home, new).unlink()
    found = await status.read_status(conn, settings)
    assert found.keys.missing_key_files == [keys.key_file(new)]
    (item,) = [item for item in found.attention if item.code == "signing-key-missing"]
    assert "(the key the rotation waits to switch to)" in item.reason


async def test_a_waiting_key_id_that_names_no_file_of_the_keys_folder_is_never_looked_for_outside_it(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """A rotation's key id is a file name in the home's keys folder: one that is no key id is never looked for.

    ``pending_registry_key.key_id`` had no check (``registry_key``'s has one): a row written behind the application,
    or before migration 20261201060000 made the check, ``../escaped`` made the overview look for ``escaped.pem`` in
    the home, outside the keys folder, and say whether it was there; an escape sequence in it went to the operator's
    terminal in the table and the reasons. Now such an id is shown escaped and its file is missing: no file of the
    keys folder can be its.
    """
    current = await keys.current_key_id(conn)
    await conn.execute("ALTER TABLE pending_registry_key DROP CONSTRAINT IF EXISTS pending_registry_key_key_id_check")
    (settings.home / "escaped.pem").write_bytes(b"outside the keys folder")
    for key_id, shown in (("../escaped", "../escaped"), ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07")):
        async with conn.transaction():
            await conn.execute("DELETE FROM pending_registry_key")
            await conn.execute(
                "INSERT INTO pending_registry_key (key_id, public_key, not_before, replaces, created_at)"
                " VALUES ($1, $2, now(), $3, now() - interval '2 days')",
                key_id,
                bytes(32),
                current,
            )
        found = await status.read_status(conn, settings)
        assert found.keys.rotation_key_id == shown
        assert found.keys.missing_key_files == [f"{shown}.pem"]
        (missing,) = [item for item in found.attention if item.code == "signing-key-missing"]
        assert missing.reason.startswith(f"the private key file {shown}.pem (the key the rotation waits to switch")
        (stalled,) = [item for item in found.attention if item.code == "key-rotation-stalled"]
        assert stalled.reason.startswith(f"key {shown} has waited since")
        assert all("\x1b" not in item.reason and "\x07" not in item.reason for item in found.attention)


async def test_a_waiting_key_id_is_a_key_id(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    """Migration 20261201060000: ``pending_registry_key`` takes only what ``registry_key`` takes as a key id."""
    current = await keys.current_key_id(conn)
    with pytest.raises(asyncpg.CheckViolationError, match="pending_registry_key_key_id_check"):
        await conn.execute(
            "INSERT INTO pending_registry_key (key_id, public_key, not_before, replaces, created_at)"
            " VALUES ('../escaped', $1, now(), $2, now())",
            bytes(32),
            current,
        )
    assert await conn.fetchval("SELECT count(*) FROM pending_registry_key") == 0


# -- 3. a rotation that never completes ------------------------------------------------------------------------


async def test_a_rotation_under_way_is_flagged_after_a_day_not_at_it(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    await add_partner(conn)  # it never acknowledges the announcement: the switch waits
    async with keys.key_transaction(conn, settings.home) as files:
        new = (await rotation.rotate(conn, files, actor="test")).key_id
    found = await status.read_status(conn, settings)
    announced = found.keys.rotation_announced_at
    assert (found.keys.rotation_key_id, announced is not None) == (new, True)
    assert announced is not None
    for now in (announced + status.ROTATION_AGE - SECOND, announced + status.ROTATION_AGE):
        assert "key-rotation-stalled" not in _codes(await status.read_status(conn, settings, now=now))
    late = await status.read_status(conn, settings, now=announced + status.ROTATION_AGE + SECOND)
    assert late.keys.rotation_age_seconds == 86401
    (item,) = [item for item in late.attention if item.code == "key-rotation-stalled"]
    assert item.reason.startswith(f"key {new} has waited since {announced:%Y-%m-%dT%H:%M:%SZ}")
    assert f"'firearms keys cancel {new}" in item.reason
    # switched: nothing waits
    async with conn.transaction():
        await rotation.switch_now(conn, actor="test")
    switched = await status.read_status(conn, settings, now=announced + status.ROTATION_AGE + SECOND)
    assert (switched.keys.rotation_key_id, switched.keys.rotation_age_seconds) == (None, None)
    assert "key-rotation-stalled" not in _codes(switched)


async def test_a_stalled_rotation_names_the_partners_it_waits_for_the_first_twenty_and_how_many(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """``key-rotation-stalled`` said "a partner's acknowledgement": which, the operator found with ``notices``. It
    names the enabled partners whose receipt for the announcement the switch waits for (queued or rejected), as the
    switch counts them, the first 20 in State order and how many, in the reason and in ``keys.rotation_awaiting``."""
    states = [f"{first}{second}" for first in "QRS" for second in "ABCDEFGH"]  # 24 partners
    await conn.execute(
        "INSERT INTO peer (state, base_url, enabled, created_at, updated_at)"
        " SELECT s, 'http://127.0.0.1:9/' || lower(s), true, now(), now() FROM unnest($1::text[]) AS s",
        states,
    )
    async with keys.key_transaction(conn, settings.home) as files:
        new = (await rotation.rotate(conn, files, actor="test")).key_id
    async with db.transaction(conn):  # two acknowledged it, one rejected it, one was disabled since
        await conn.execute(
            "UPDATE notice_outbox SET status = 'delivered', delivered_at = now(), attempts = 1"
            " WHERE recipient IN ('QA', 'QC')"
        )
        await conn.execute(
            "UPDATE notice_outbox SET status = 'rejected', receipt_reason = 'unknown-key', delivered_at = now(),"
            " attempts = 1 WHERE recipient = 'QB'"
        )
        await conn.execute("UPDATE peer SET enabled = false WHERE state = 'QD'")
    waiting = [state for state in states if state not in {"QA", "QC", "QD"}]  # 21
    found = await status.read_status(conn, settings)
    assert (found.keys.rotation_awaiting, found.keys.rotation_awaiting_count) == (waiting[:20], 21)
    announced = found.keys.rotation_announced_at
    assert announced is not None
    late = await status.read_status(conn, settings, now=announced + status.ROTATION_AGE + SECOND)
    (item,) = [item for item in late.attention if item.code == "key-rotation-stalled"]
    assert f"for the acknowledgement of its announcement by {', '.join(waiting[:20])} and 1 more (21 partners;" in (
        item.reason
    )
    assert "SH" not in item.reason
    # none left to wait for (the last disabled): the switch is the worker's next pass
    await conn.execute("UPDATE peer SET enabled = false")
    idle = await status.read_status(conn, settings, now=announced + status.ROTATION_AGE + SECOND)
    assert (idle.keys.rotation_awaiting, idle.keys.rotation_awaiting_count) == ([], 0)
    (item,) = [item for item in idle.attention if item.code == "key-rotation-stalled"]
    assert "no enabled partner still has to acknowledge it: is the worker running?" in item.reason
    del new


async def test_a_stalled_rotations_partner_that_is_no_state_code_is_shown_escaped(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """The trust list holds two capital letters (``peer_state_check``); one written behind that check (dropped, as a
    database administrator might) is shown escaped, as the overview shows a waiting key id that is no key id: no
    control character reaches the operator's terminal."""
    await add_partner(conn)
    async with keys.key_transaction(conn, settings.home) as files:
        await rotation.rotate(conn, files, actor="test")
    async with db.transaction(conn):
        await conn.execute("SET LOCAL session_replication_role = replica")  # the outbox's guards and foreign keys
        await conn.execute("ALTER TABLE peer DROP CONSTRAINT peer_state_check")
        await conn.execute("UPDATE peer SET state = E'D\\x1b[2J' WHERE state = 'DE'")
        await conn.execute("UPDATE notice_outbox SET recipient = E'D\\x1b[2J' WHERE recipient = 'DE'")
    found = await status.read_status(conn, settings, now=utc_now() + status.ROTATION_AGE + SECOND)
    assert found.keys.rotation_awaiting == ["D\\x1b[2J"]
    (item,) = [item for item in found.attention if item.code == "key-rotation-stalled"]
    assert "by D\\x1b[2J (1 partner;" in item.reason
    assert "\x1b" not in item.reason


# -- 4. a list of holidays that runs out -------------------------------------------------------------------------


async def test_holidays_that_end_before_a_silent_period_from_today_would_are_flagged(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """``FIREARMS_HOLIDAYS`` is a list of dates: a registry kept for years outlives the years it lists.

    Past its last day every public holiday counts as a working day, and a silent period counted from then ends early
    (Reg. 258/2012 Art. 7(2)): this State's consent deemed, or a transit State's, before the period is over. Flagged
    from the day a silent period starting that day would end after the last day listed; an empty list (no holidays,
    the default) is this State's choice and not flagged. Counted from the day the overview is read (``now``).
    """
    today = clock.today(settings.time_zone)
    assert "holidays-run-out" not in _codes(await status.read_status(conn, settings))
    # the last holiday listed is the day after a silent period starting today ends (its next working day): that
    # period is counted with the list, the one starting on the next working day is not
    last = consents.add_working_days(today, settings.tacit_consent_days + 1)
    listed = msgspec.structs.replace(settings, holidays=(today - dt.timedelta(days=400), last))
    noon = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)  # the day read above, whenever the test ends
    assert "holidays-run-out" not in _codes(await status.read_status(conn, listed, now=noon))
    next_day = dt.datetime.combine(consents.add_working_days(today, 1), dt.time(12), tzinfo=dt.UTC)
    later = await status.read_status(conn, listed, now=next_day)
    (item,) = [item for item in later.attention if item.code == "holidays-run-out"]
    assert item.reason.startswith(f"FIREARMS_HOLIDAYS lists no day after {last.isoformat()}:")
    # ten years on, with the list as it was
    ten_years = dt.datetime.combine(today + dt.timedelta(days=3653), dt.time(12), tzinfo=dt.UTC)
    assert "holidays-run-out" in _codes(await status.read_status(conn, listed, now=ten_years))
    # the coming year's days added: no more
    added = msgspec.structs.replace(listed, holidays=(*listed.holidays, last + dt.timedelta(days=366)))
    assert "holidays-run-out" not in _codes(await status.read_status(conn, added, now=next_day))
