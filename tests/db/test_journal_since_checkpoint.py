"""Verifying the journal from a signed checkpoint on: bounded by the entries since it, and what it does not prove."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from firearms import bootstrap, db, journal
from firearms.embedded import with_user
from tests.db.test_journal import behind_the_back, entry_at, write_entries


async def verified_and_recorded(conn: db.Conn, *, since_checkpoint: bool) -> journal.Verification:
    """What ``firearms journal verify [--since-checkpoint]`` does: verify, and record an intact verdict."""
    result = await journal.verify(conn, state="AT", since_checkpoint=since_checkpoint)
    if result.intact:
        await journal.record_verification(conn, actor="test", result=result)
    return result


async def checkpointed(conn: db.Conn, home: Path) -> journal.Checkpoint:
    made = await journal.checkpoint(conn, state="AT", home=home)
    assert made is not None
    return made


async def rewrite_from(conn: db.Conn, seq: int, victim: int) -> None:
    """Change the entry ``victim`` and recompute every link's hashes from ``seq`` on: a self-consistent chain."""
    await behind_the_back(conn, "UPDATE journal_entry SET payload = '{\"n\": 42}' WHERE entry_id = $1", victim)
    rows = await conn.fetch(
        "SELECT l.seq, l.prev_hash, e.recorded_at, e.actor, e.action, e.entity, e.entity_id, e.payload"
        " FROM journal_link l JOIN journal_entry e USING (entry_id) WHERE l.seq >= $1 ORDER BY l.seq",
        seq,
    )
    prev: bytes = rows[0]["prev_hash"]
    for row in rows:
        digest = journal.entry_hash(prev, row)
        await behind_the_back(
            conn, "UPDATE journal_link SET prev_hash = $1, hash = $2 WHERE seq = $3", prev, digest, row["seq"]
        )
        prev = digest


async def test_an_intact_chain_verifies_from_the_checkpoint_the_last_verification_reached(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    await write_entries(conn, 6)
    first = await checkpointed(conn, home)
    full = await verified_and_recorded(conn, since_checkpoint=False)
    assert (full.intact, full.since_checkpoint, full.head_seq) == (True, None, first.seq)
    await write_entries(conn, 5)  # the verification's own entry is linked among these
    second = await checkpointed(conn, home)
    await write_entries(conn, 4)
    # The last verification reached the first checkpoint: the walk starts there, not at the newest, so no entry
    # sealed since that verification goes unchecked.
    result = await verified_and_recorded(conn, since_checkpoint=True)
    head = await conn.fetchval("SELECT max(seq) FROM journal_link")
    assert (result.intact, result.since_checkpoint, result.head_seq) == (True, first.seq, head)
    assert result.entries == head - first.seq + 1
    assert result.checkpoints == 2
    # The next starts at the newest checkpoint at or before where this one ended.
    await write_entries(conn, 3)
    again = await verified_and_recorded(conn, since_checkpoint=True)
    assert (again.intact, again.since_checkpoint, again.checkpoints) == (True, second.seq, 1)
    assert again.entries == again.head_seq - second.seq + 1
    recorded = await conn.fetch(
        "SELECT entity_id, payload FROM journal_entry WHERE action = 'journal.verified' ORDER BY entry_id"
    )
    assert [row["entity_id"] for row in recorded] == [str(first.seq), str(head), str(again.head_seq)]
    assert recorded[1]["payload"] == {
        "head_seq": head,
        "since_checkpoint": first.seq,
        "entries": result.entries,
        "checkpoints": 2,
    }


async def test_a_changed_entry_after_the_checkpoint_is_named(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    await write_entries(conn, 4)
    made = await checkpointed(conn, home)
    assert (await verified_and_recorded(conn, since_checkpoint=False)).intact
    await write_entries(conn, 6)
    await journal.seal(conn)
    victim = await entry_at(conn, made.seq + 4)
    await behind_the_back(conn, "UPDATE journal_entry SET payload = '{\"n\": 999}' WHERE entry_id = $1", victim)
    result = await journal.verify(conn, state="AT", since_checkpoint=True)
    assert (result.intact, result.since_checkpoint, result.bad_seq, result.bad_entry_id) == (
        False,
        made.seq,
        made.seq + 4,
        victim,
    )
    assert result.problem == "the entry was changed after it was sealed"
    assert result.entries == 4  # the checkpoint's own entry and the three after it


async def test_the_checkpoints_own_entry_is_recomputed(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    await write_entries(conn, 4)
    made = await checkpointed(conn, home)
    assert (await verified_and_recorded(conn, since_checkpoint=False)).intact
    victim = await entry_at(conn, made.seq)
    await behind_the_back(conn, "UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", victim)
    result = await journal.verify(conn, state="AT", since_checkpoint=True)
    assert (result.intact, result.bad_seq, result.bad_entry_id) == (False, made.seq, victim)


async def test_a_changed_entry_before_the_checkpoint_is_found_only_by_the_full_verification(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    """The incremental walk trusts the stored hashes up to its checkpoint: what it does not prove, proven."""
    await write_entries(conn, 8)
    made = await checkpointed(conn, home)
    assert (await verified_and_recorded(conn, since_checkpoint=False)).intact
    await write_entries(conn, 3)
    victim = await entry_at(conn, made.seq - 3)
    await behind_the_back(conn, "UPDATE journal_entry SET payload = '{\"n\": 999}' WHERE entry_id = $1", victim)
    incremental = await journal.verify(conn, state="AT", since_checkpoint=True)
    assert (incremental.intact, incremental.since_checkpoint) == (True, made.seq)
    full = await journal.verify(conn, state="AT")
    assert (full.intact, full.bad_seq, full.bad_entry_id) == (False, made.seq - 3, victim)


async def test_a_chain_rewritten_from_the_checkpoint_on_no_longer_matches_its_signature(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    """The stored hash at the checkpoint must be the signed head hash: a rewrite that recomputed it is found."""
    await write_entries(conn, 4)
    made = await checkpointed(conn, home)
    assert (await verified_and_recorded(conn, since_checkpoint=False)).intact
    await write_entries(conn, 3)
    await journal.seal(conn)
    await rewrite_from(conn, made.seq, await entry_at(conn, made.seq))
    result = await journal.verify(conn, state="AT", since_checkpoint=True)
    assert (result.intact, result.bad_seq) == (False, made.seq)
    assert result.problem == f"the chain no longer matches checkpoint {made.seq}"


async def test_a_forged_or_missing_checkpoint_signature_is_refused(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    await write_entries(conn, 4)
    made = await checkpointed(conn, home)
    assert (await verified_and_recorded(conn, since_checkpoint=False)).intact
    await write_entries(conn, 2)
    for signature in (bytes(64), b""):
        await behind_the_back(conn, "UPDATE journal_checkpoint SET signature = $1 WHERE seq = $2", signature, made.seq)
        result = await journal.verify(conn, state="AT", since_checkpoint=True)
        assert (result.intact, result.since_checkpoint, result.bad_seq, result.problem) == (
            False,
            made.seq,
            made.seq,
            f"checkpoint at {made.seq} has a bad signature",
        )


async def test_a_checkpoint_whose_key_was_deleted_is_refused_not_skipped(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    """Verification joined each checkpoint to its key: one whose key row was deleted was silently left out."""
    await write_entries(conn, 3)
    made = await checkpointed(conn, home)
    assert (await verified_and_recorded(conn, since_checkpoint=False)).intact
    await journal.seal(conn)
    await behind_the_back(conn, "DELETE FROM registry_key WHERE key_id = $1", made.key_id)
    problem = f"checkpoint at {made.seq} names key {made.key_id}, which the registry does not hold"
    for since_checkpoint in (True, False):
        result = await journal.verify(conn, state="AT", since_checkpoint=since_checkpoint)
        assert (result.intact, result.bad_seq, result.problem) == (False, made.seq, problem), since_checkpoint


async def test_without_a_recorded_verification_or_a_checkpoint_the_whole_chain_is_verified(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    """Nothing yet proves the chain before a checkpoint: the first incremental verification is a full one."""
    no_checkpoint = await journal.verify(conn, state="AT", since_checkpoint=True)
    assert (no_checkpoint.intact, no_checkpoint.since_checkpoint, no_checkpoint.entries) == (True, None, 2)
    await write_entries(conn, 3)
    await checkpointed(conn, home)  # a checkpoint, but no verification has reached it
    victim = await entry_at(conn, 2)
    await behind_the_back(conn, "UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", victim)
    result = await journal.verify(conn, state="AT", since_checkpoint=True)
    assert (result.intact, result.since_checkpoint, result.bad_seq, result.bad_entry_id) == (False, None, 2, victim)


async def test_an_entry_taken_off_the_sealers_queue_after_the_checkpoint_is_found(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    await write_entries(conn, 3)
    await checkpointed(conn, home)
    assert (await verified_and_recorded(conn, since_checkpoint=False)).intact
    await journal.seal(conn)
    await write_entries(conn, 2)
    hidden: int = await conn.fetchval("SELECT max(entry_id) FROM journal_pending")
    await behind_the_back(conn, "DELETE FROM journal_pending WHERE entry_id = $1", hidden)
    result = await journal.verify(conn, state="AT", since_checkpoint=True)
    assert (result.intact, result.bad_entry_id) == (False, hidden)


async def test_a_failed_verification_is_not_recorded(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    await write_entries(conn, 2)
    await journal.seal(conn)
    await behind_the_back(
        conn, "UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", await entry_at(conn, 2)
    )
    result = await journal.verify(conn, state="AT")
    assert not result.intact
    await journal.record_verification(conn, actor="test", result=result)
    recorded: asyncpg.Record | None = await conn.fetchrow(
        "SELECT entry_id FROM journal_entry WHERE action = 'journal.verified'"
    )
    assert recorded is None


async def test_a_recorded_verification_without_a_usable_head_walks_the_whole_chain(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    """A ``journal.verified`` entry appended behind the back with a head that is no position is not a start."""
    await write_entries(conn, 3)
    await checkpointed(conn, home)
    for head in ("the head", -3, 10**12, True, None, [7]):
        async with conn.transaction():
            await conn.execute(
                "WITH e AS (INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)"
                " VALUES (now(), 'mallory', 'journal.verified', 'journal', '0',"
                " jsonb_build_object('head_seq', $1::jsonb))"
                " RETURNING entry_id) INSERT INTO journal_pending (entry_id) SELECT entry_id FROM e",
                head,
            )
        result = await journal.verify(conn, state="AT", since_checkpoint=True)
        assert (result.intact, result.since_checkpoint, result.entries) == (True, None, result.head_seq), head
    stored = await conn.fetch("SELECT payload -> 'head_seq' AS head FROM journal_entry WHERE actor = 'mallory'")
    assert [row["head"] for row in stored] == ["the head", -3, 10**12, True, None, [7]]


async def test_a_verification_appended_by_the_service_role_moves_the_start_and_only_the_full_walk_finds_the_rest(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path, database: str
) -> None:
    """What ``--since-checkpoint`` does not prove, as README "The journal" says: its start is a journal entry.

    The service's role may no longer INSERT a ``journal.verified`` entry (migration 20261201030100): it records a
    verification through ``record_journal_verification()``, which holds the record to the chain but cannot know
    that a walk ran. It may no longer take an entry off the sealer's queue unlinked (refused at commit, migration
    20261130181100); the owner or a superuser still can, with the guards off. Such an entry, then a verification's
    record the service's role made without walking, reaching a later checkpoint, moves the next
    ``--since-checkpoint`` past the entry: it reports the chain intact. The full walk names the entry. (Not
    prevented: the start would have to be signed with a key the database cannot add to, and the service's role may
    add registry keys, as a rotation does.)
    """
    await write_entries(conn, 3)
    await checkpointed(conn, home)
    assert (await verified_and_recorded(conn, since_checkpoint=False)).intact
    insider = await db.connect(with_user(database, db.SERVICE_ROLE))
    try:
        async with insider.transaction():
            hidden = await journal.record(
                insider, actor="insider", action="thing.made", entity="thing", entity_id="x", payload={}
            )
        with pytest.raises(asyncpg.RestrictViolationError, match=f"journal entry {hidden} left the sealer's queue"):
            async with insider.transaction():
                await insider.execute("DELETE FROM journal_pending WHERE entry_id = $1", hidden)
        await behind_the_back(conn, "DELETE FROM journal_pending WHERE entry_id = $1", hidden)  # the owner, guards off
        await write_entries(conn, 2)
        later = await checkpointed(conn, home)
        found = await journal.verify(conn, state="AT", since_checkpoint=True)
        assert (found.intact, found.bad_entry_id) == (False, hidden)  # from the checkpoint the last one reached
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="record_journal_verification"):
            async with insider.transaction():
                await journal.record(
                    insider,
                    actor="insider",
                    action=journal.VERIFIED_ACTION,
                    entity="journal",
                    entity_id=str(later.seq),
                    payload={"head_seq": later.seq},
                )
        unwalked = journal.Verification(intact=True, entries=later.seq, checkpoints=0, pending=0, head_seq=later.seq)
        await journal.record_verification(insider, actor="insider", result=unwalked)
    finally:
        await insider.close()
    moved = await journal.verify(conn, state="AT", since_checkpoint=True)
    assert (moved.intact, moved.since_checkpoint) == (True, later.seq)
    full = await journal.verify(conn, state="AT")
    assert (full.intact, full.bad_entry_id, full.problem) == (
        False,
        hidden,
        "the entry was taken off the sealer's queue unlinked",
    )
