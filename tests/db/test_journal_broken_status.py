"""A verification that finds the chain broken is journaled, and the overview flags it (README "Status", "The journal").

Before, only an intact verification was recorded: ``firearms status`` went on saying when the last intact one was,
and said nothing of the break until 48 hours after it (``journal-not-verified``). Now ``journal verify``'s failure is
a ``journal.verification-failed`` entry (positions and a kind, no content), and the overview says ``journal-broken``,
ahead of its other journal lines, until an intact verification walks over where it broke.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from firearms import db, journal, status
from firearms.canonical import utc_now
from firearms.settings import Settings
from tests.db.test_journal import behind_the_back, entry_at, write_entries


def _codes(found: status.Status) -> list[str]:
    return [item.code for item in found.attention]


async def _changed(conn: db.Conn, seq: int) -> tuple[int, str]:
    """Change the entry at ``seq`` behind the guards (as someone with the database's files): its id and the actor
    it was sealed with."""
    entry_id = await entry_at(conn, seq)
    sealed: str = await conn.fetchval("SELECT actor FROM journal_entry WHERE entry_id = $1", entry_id)
    await behind_the_back(conn, "UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", entry_id)
    return entry_id, sealed


async def _mended(conn: db.Conn, changed: tuple[int, str]) -> None:
    """The changed entry put back as it was sealed."""
    entry_id, sealed = changed
    await behind_the_back(conn, "UPDATE journal_entry SET actor = $1 WHERE entry_id = $2", sealed, entry_id)


async def _verified(service: db.Conn, *, since_checkpoint: bool = False) -> journal.Verification:
    """``firearms journal verify``: the walk, then its record."""
    result = await journal.verify(service, state="AT", since_checkpoint=since_checkpoint)
    await journal.record_verification(service, actor="cli:alice", result=result)
    return result


async def test_a_broken_verification_is_journaled_with_positions_and_a_kind_and_flagged_until_an_intact_one(
    service: db.Conn, conn: db.Conn, settings: Settings
) -> None:
    await write_entries(service, 3)
    await journal.seal(service)
    seq = 2
    changed = await _changed(conn, seq)
    entry_id = changed[0]
    broken = await _verified(service)
    assert (broken.intact, broken.bad_seq, broken.bad_entry_id, broken.kind) == (False, seq, entry_id, "entry-changed")
    stored = await conn.fetchrow(
        "SELECT e.actor, e.entity, e.entity_id, e.payload, p.entry_id IS NOT NULL AS queued"
        "  FROM journal_entry AS e LEFT JOIN journal_pending AS p USING (entry_id)"
        " WHERE e.action = 'journal.verification-failed'"
    )
    assert stored is not None
    assert dict(stored) == {
        "actor": "cli:alice",
        "entity": "journal",
        "entity_id": str(broken.head_seq),
        "payload": {
            "head_seq": broken.head_seq,
            "since_checkpoint": None,
            "entries": seq - 1,
            "bad_seq": seq,
            "bad_entry_id": entry_id,
            "kind": "entry-changed",
        },
        "queued": True,
    }
    # the record is sealed after the break as any entry, and the next walk finds the same break, nothing more
    await journal.seal(service)
    assert await conn.fetchval("SELECT count(*) FROM journal_pending") == 0
    again = await journal.verify(service, state="AT")
    assert (again.bad_seq, again.kind, again.head_seq) == (seq, "entry-changed", broken.head_seq + 1)

    found = await status.read_status(conn, settings)
    assert _codes(found) == ["journal-broken"]
    (line,) = found.attention
    assert line.reason.startswith(f"the journal verification at {found.journal.broken_at:%Y-%m-%dT%H:%M:%SZ} found")
    assert f"the chain broken at seq {seq} (entry {entry_id}): entry-changed" in line.reason
    assert "mallory" not in line.reason
    assert (found.journal.broken_seq, found.journal.broken_entry_id, found.journal.broken_kind) == (
        seq,
        entry_id,
        "entry-changed",
    )
    assert found.journal.broken_at is not None
    assert found.journal.last_verified_at is None  # a broken walk is no intact verification

    # mended (the entry as it was sealed): the next intact verification clears the line
    await _mended(conn, changed)
    assert (await _verified(service)).intact
    await journal.seal(service)
    mended = await status.read_status(conn, settings)
    assert _codes(mended) == []
    assert (mended.journal.broken_at, mended.journal.broken_seq, mended.journal.broken_kind) == (None, None, None)


async def test_the_broken_line_comes_before_the_other_journal_lines(
    service: db.Conn, conn: db.Conn, settings: Settings
) -> None:
    await write_entries(service, 2)
    await journal.seal(service)
    await _changed(conn, 1)
    await _verified(service)  # its record waits for the sealer: unsealed; and no intact verification ever
    first = await conn.fetchval("SELECT recorded_at FROM journal_entry ORDER BY entry_id LIMIT 1")
    found = await status.read_status(conn, settings, now=first + status.VERIFICATION_AGE + dt.timedelta(hours=1))
    assert _codes(found) == ["journal-broken", "journal-unsealed", "journal-not-verified"]


async def test_an_incremental_walk_from_after_the_break_does_not_clear_it_a_full_one_does(
    service: db.Conn, conn: db.Conn, settings: Settings, home: Path
) -> None:
    """The monthly full walk finds a change before the checkpoint the daily walk starts at: the daily one, intact,
    never looked there, so the line stays until a full walk is intact."""
    await write_entries(service, 3)
    made = await journal.checkpoint(service, state="AT", home=home)
    assert made is not None
    assert (await _verified(service)).intact  # the daily walks start at the checkpoint from now on
    await write_entries(service, 2)
    changed = await _changed(conn, made.seq - 1)
    full = await _verified(service)
    assert (full.intact, full.bad_seq) == (False, made.seq - 1)
    daily = await _verified(service, since_checkpoint=True)
    assert (daily.intact, daily.since_checkpoint) == (True, made.seq)
    found = await status.read_status(conn, settings)
    assert "journal-broken" in _codes(found)
    assert found.journal.broken_seq == made.seq - 1
    await _mended(conn, changed)
    assert (await _verified(service)).intact
    assert "journal-broken" not in _codes(await status.read_status(conn, settings))


async def test_an_incremental_walk_over_the_break_clears_it(
    service: db.Conn, conn: db.Conn, settings: Settings, home: Path
) -> None:
    await write_entries(service, 2)
    made = await journal.checkpoint(service, state="AT", home=home)
    assert made is not None
    assert (await _verified(service)).intact
    await write_entries(service, 2)
    await journal.seal(service)
    after = made.seq + 1
    changed = await _changed(conn, after)
    daily = await _verified(service, since_checkpoint=True)
    assert (daily.intact, daily.bad_seq, daily.since_checkpoint) == (False, after, made.seq)
    assert "journal-broken" in _codes(await status.read_status(conn, settings))
    await _mended(conn, changed)
    assert (await _verified(service, since_checkpoint=True)).intact
    assert "journal-broken" not in _codes(await status.read_status(conn, settings))


async def test_a_forged_failure_is_a_false_alarm_with_no_words_of_its_writer_cleared_by_a_full_walk(
    service: db.Conn, conn: db.Conn, settings: Settings
) -> None:
    """The service's role may write the entry itself: what it says is kept to positions and a known kind."""
    async with service.transaction():
        await journal.record(
            service,
            actor="mallory",
            action=journal.FAILED_ACTION,
            entity="journal",
            entity_id="1",
            payload={"bad_seq": "Erika Mustermann", "bad_entry_id": True, "kind": "\u001b[31mserial 4711"},
        )
    found = await status.read_status(conn, settings)
    (line,) = [item for item in found.attention if item.code == "journal-broken"]
    assert (found.journal.broken_seq, found.journal.broken_entry_id, found.journal.broken_kind) == (None, None, "other")
    assert "Erika" not in line.reason
    assert "4711" not in line.reason
    assert "\u001b" not in line.reason
    assert (await _verified(service)).intact
    assert "journal-broken" not in _codes(await status.read_status(conn, settings))


async def test_a_failure_after_an_intact_walk_is_flagged_and_the_intact_one_still_shown(
    service: db.Conn, conn: db.Conn, settings: Settings
) -> None:
    await write_entries(service, 2)
    assert (await _verified(service)).intact
    await _changed(conn, 1)
    assert not (await _verified(service)).intact
    found = await status.read_status(conn, settings, now=utc_now())
    assert "journal-broken" in _codes(found)
    assert found.journal.last_verified_at is not None  # the intact one before the break is still shown


async def test_a_link_outside_the_chain_is_flagged_at_its_position_0_or_below(
    service: db.Conn, conn: db.Conn, settings: Settings
) -> None:
    await journal.seal(service)
    await write_entries(service, 1)
    queued: int = await service.fetchval("SELECT entry_id FROM journal_pending")
    async with conn.transaction():  # as a registry that held it before migration 20261130170200
        await conn.execute("ALTER TABLE journal_link DROP CONSTRAINT journal_link_seq_check")
        await conn.execute(
            "INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at) VALUES (-1, $1, $2, $2, now())",
            queued,
            bytes(32),
        )
        await conn.execute("DELETE FROM journal_pending WHERE entry_id = $1", queued)
        await conn.execute("ALTER TABLE journal_link ADD CONSTRAINT journal_link_seq_check CHECK (seq > 0) NOT VALID")
    result = await _verified(service, since_checkpoint=True)
    assert (result.intact, result.kind) == (False, "link-outside-chain")
    found = await status.read_status(conn, settings)
    assert (found.journal.broken_seq, found.journal.broken_entry_id, found.journal.broken_kind) == (
        -1,
        queued,
        "link-outside-chain",
    )
    (line,) = [item for item in found.attention if item.code == "journal-broken"]
    assert f"broken at seq -1 (entry {queued}): link-outside-chain" in line.reason


async def test_an_intact_walk_that_began_before_the_failure_was_recorded_does_not_clear_it(
    service: db.Conn, conn: db.Conn, settings: Settings
) -> None:
    """A full walk began, walked over an entry, the entry was changed, a daily walk found it and recorded the failure,
    then the full walk finished intact and recorded that: recorded after the failure, it walked over the position
    before the break. Only an intact walk that began at or after the failure's own position in the chain (it reached
    it: it began once the failure was sealed) clears it; the order in which they were recorded does not."""
    await write_entries(service, 3)
    await journal.seal(service)
    earlier = await journal.verify(service, state="AT")  # walked, not yet recorded
    assert earlier.intact
    changed = await _changed(conn, 2)
    assert not (await _verified(service)).intact
    await journal.record_verification(service, actor="cli:alice", result=earlier)  # recorded after the failure
    found = await status.read_status(conn, settings)
    assert "journal-broken" in _codes(found)
    assert found.journal.broken_seq == 2
    assert found.journal.last_verified_seq == earlier.head_seq
    await _mended(conn, changed)
    assert (await _verified(service)).intact  # it seals first: its head is past the failure's record
    assert "journal-broken" not in _codes(await status.read_status(conn, settings))
