"""The journal finds a row changed, deleted or reordered behind the application's back (DESIGN §6)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from firearms import bootstrap, db, journal


async def write_entries(conn: db.Conn, count: int) -> None:
    for number in range(count):
        async with conn.transaction():
            await journal.record(
                conn, actor="test", action="thing.made", entity="thing", entity_id=str(number), payload={"n": number}
            )


async def behind_the_back(conn: db.Conn, sql: str, *args: object) -> None:
    """Run SQL as someone with database access would: triggers (append-only guards) off."""
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(sql, *args)


async def entry_at(conn: db.Conn, seq: int) -> int:
    entry_id: int = await conn.fetchval("SELECT entry_id FROM journal_link WHERE seq = $1", seq)
    return entry_id


async def test_fresh_registry_journal_verifies(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    result = await journal.verify(conn, state="AT")
    assert result.intact
    assert result.entries == 2  # first key and first admin token
    assert result.pending == 0


async def test_changed_entry_is_named(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    await write_entries(conn, 10)
    await journal.seal(conn)
    victim = await entry_at(conn, 7)
    await behind_the_back(conn, "UPDATE journal_entry SET payload = '{\"n\": 999}' WHERE entry_id = $1", victim)
    result = await journal.verify(conn, state="AT")
    assert not result.intact
    assert result.bad_seq == 7
    assert result.bad_entry_id == victim
    assert result.entries == 6


async def test_changed_actor_is_named(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    await write_entries(conn, 5)
    await journal.seal(conn)
    victim = await entry_at(conn, 3)
    await behind_the_back(conn, "UPDATE journal_entry SET actor = 'someone else' WHERE entry_id = $1", victim)
    result = await journal.verify(conn, state="AT")
    assert (result.intact, result.bad_seq, result.bad_entry_id) == (False, 3, victim)


async def test_deleted_entry_is_named(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    await write_entries(conn, 10)
    await journal.seal(conn)
    victim = await entry_at(conn, 5)
    await behind_the_back(conn, "DELETE FROM journal_entry WHERE entry_id = $1", victim)
    result = await journal.verify(conn, state="AT")
    assert (result.intact, result.bad_seq, result.bad_entry_id) == (False, 5, victim)


async def test_deleted_entry_and_link_is_found_as_a_gap(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    await write_entries(conn, 10)
    await journal.seal(conn)
    victim = await entry_at(conn, 4)
    await behind_the_back(conn, "DELETE FROM journal_link WHERE seq = 4")
    await behind_the_back(conn, "DELETE FROM journal_entry WHERE entry_id = $1", victim)
    result = await journal.verify(conn, state="AT")
    assert (result.intact, result.bad_seq) == (False, 4)


async def test_reordered_entries_are_found_at_the_first_moved(
    conn: db.Conn, initialised: bootstrap.Initialised
) -> None:
    await write_entries(conn, 10)
    await journal.seal(conn)
    first, second = await entry_at(conn, 5), await entry_at(conn, 8)
    # Swap which entry each position points to.
    await behind_the_back(conn, "UPDATE journal_link SET entry_id = -1 WHERE seq = 5")
    await behind_the_back(conn, "UPDATE journal_link SET entry_id = $1 WHERE seq = 8", first)
    await behind_the_back(conn, "UPDATE journal_link SET entry_id = $1 WHERE seq = 5", second)
    result = await journal.verify(conn, state="AT")
    assert (result.intact, result.bad_seq, result.bad_entry_id) == (False, 5, second)


async def test_rewritten_chain_is_caught_by_the_signed_checkpoint(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    await write_entries(conn, 6)
    made = await journal.checkpoint(conn, state="AT", home=home)
    assert made is not None
    # Someone changes an entry and recomputes every later hash: the chain is self-consistent again...
    victim = await entry_at(conn, 3)
    await behind_the_back(conn, "UPDATE journal_entry SET payload = '{\"n\": 42}' WHERE entry_id = $1", victim)
    rows = await conn.fetch(
        "SELECT l.seq, l.entry_id, e.recorded_at, e.actor, e.action, e.entity, e.entity_id, e.payload"
        " FROM journal_link l JOIN journal_entry e USING (entry_id) ORDER BY l.seq"
    )
    prev = journal.GENESIS
    for row in rows:
        digest = journal.entry_hash(prev, row)
        await behind_the_back(
            conn, "UPDATE journal_link SET prev_hash = $1, hash = $2 WHERE seq = $3", prev, digest, row["seq"]
        )
        prev = digest
    # ...but no longer matches what the registry signed.
    result = await journal.verify(conn, state="AT")
    assert not result.intact
    assert result.bad_seq == made.seq
    assert "checkpoint" in (result.problem or "")


async def test_a_chain_cut_short_behind_a_checkpoint_is_caught_by_it(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    await write_entries(conn, 6)
    made = await journal.checkpoint(conn, state="AT", home=home)
    assert made is not None
    # Someone removes the last two entries and their links: what is left is a consistent, shorter chain...
    for seq in (made.seq, made.seq - 1):
        victim = await entry_at(conn, seq)
        await behind_the_back(conn, "DELETE FROM journal_link WHERE seq = $1", seq)
        await behind_the_back(conn, "DELETE FROM journal_entry WHERE entry_id = $1", victim)
    # ...that ends before the position the registry signed.
    result = await journal.verify(conn, state="AT")
    assert (result.intact, result.bad_seq) == (False, made.seq)
    assert "checkpoint" in (result.problem or "")


async def test_a_second_checkpoint_of_the_same_head_returns_the_stored_one(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    """Nothing journaled between two checkpoints: the second is the one kept, not a statement never stored."""
    await write_entries(conn, 2)
    first = await journal.checkpoint(conn, state="AT", home=home)
    await asyncio.sleep(1.1)  # signed_at has whole seconds: the second signature differs
    second = await journal.checkpoint(conn, state="AT", home=home)
    assert first is not None
    assert second == first
    stored = await conn.fetchrow("SELECT signed_at, signature FROM journal_checkpoint WHERE seq = $1", second.seq)
    assert stored is not None
    assert (stored["signed_at"], stored["signature"].hex()) == (second.signed_at, second.signature)


async def test_forged_checkpoint_signature_is_found(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    await write_entries(conn, 3)
    made = await journal.checkpoint(conn, state="AT", home=home)
    assert made is not None
    await behind_the_back(conn, "UPDATE journal_checkpoint SET signature = $1 WHERE seq = $2", bytes(64), made.seq)
    result = await journal.verify(conn, state="AT")
    assert not result.intact
    assert "signature" in (result.problem or "")


async def test_a_checkpoint_signed_with_a_key_after_its_revocation_is_found(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    """Whoever holds a revoked key can still sign with it: such a checkpoint is not the registry's word."""
    await write_entries(conn, 3)
    made = await journal.checkpoint(conn, state="AT", home=home)
    assert made is not None
    assert (await journal.verify(conn, state="AT")).intact
    await behind_the_back(
        conn,
        "UPDATE registry_key SET revoked_at = $1::timestamptz - interval '1 second' WHERE key_id = $2",
        made.signed_at,
        made.key_id,
    )
    result = await journal.verify(conn, state="AT")
    assert (result.intact, result.bad_seq) == (False, made.seq)
    assert "after it was revoked" in (result.problem or "")
    # Revoked in the same second (times are kept to the second: which came first is unknown) or later,
    # the key was good when it signed: the checkpoint stands.
    for seconds_later in (0, 1):
        await behind_the_back(
            conn,
            "UPDATE registry_key SET revoked_at = $1::timestamptz + make_interval(secs => $3) WHERE key_id = $2",
            made.signed_at,
            made.key_id,
            seconds_later,
        )
        assert (await journal.verify(conn, state="AT")).intact, seconds_later
    # A key that only became valid after the checkpoint's time did not sign it then.
    await behind_the_back(
        conn,
        "UPDATE registry_key SET not_before = $1::timestamptz + interval '1 second' WHERE key_id = $2",
        made.signed_at,
        made.key_id,
    )
    result = await journal.verify(conn, state="AT")
    assert (result.intact, result.problem) == (
        False,
        f"checkpoint at {made.seq} was signed with key {made.key_id} outside its validity",
    )


async def test_entry_removed_from_the_sealers_queue_is_found(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    await write_entries(conn, 3)
    hidden: int = await conn.fetchval("SELECT max(entry_id) FROM journal_pending")
    await behind_the_back(conn, "DELETE FROM journal_pending WHERE entry_id = $1", hidden)
    result = await journal.verify(conn, state="AT")
    assert (result.intact, result.bad_entry_id) == (False, hidden)


async def test_journal_tables_refuse_update_and_delete(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    await journal.seal(conn)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE journal_entry SET actor = 'x'")
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("DELETE FROM journal_link")
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("TRUNCATE journal_entry CASCADE")


@pytest.mark.parametrize("table", ["journal_link", "journal_checkpoint"])
async def test_journal_links_and_checkpoints_refuse_truncate(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path, table: str
) -> None:
    # TRUNCATE fires no row trigger: the chain and its signed checkpoints went in one statement.
    await write_entries(conn, 2)
    await journal.checkpoint(conn, state="AT", home=home)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute(f"TRUNCATE {table} CASCADE")
    assert await conn.fetchval(f"SELECT count(*) FROM {table}") > 0  # noqa: S608  # a table name from the parameters


async def test_concurrent_writers_do_not_wait_on_the_chain_and_all_get_linked(
    database: str, initialised: bootstrap.Initialised
) -> None:
    pool = await db.create_pool(database, max_size=10)
    try:
        holder = await pool.acquire()
        # One transaction journals and stays open: others must still commit their entries.
        blocker = holder.transaction()
        await blocker.start()
        await journal.record(holder, actor="t", action="slow", entity="x", entity_id="0", payload={})

        async def writer(number: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                await journal.record(conn, actor="t", action="fast", entity="x", entity_id=str(number), payload={})

        await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(40))), timeout=10)
        async with pool.acquire() as conn:
            # The open transaction's entry is not visible yet: it is linked later, in commit order.
            assert await journal.seal(conn) == 42
            await blocker.commit()
            await pool.release(holder)
            assert await journal.seal(conn) == 1
            last = await conn.fetchrow(
                "SELECT e.action FROM journal_link l JOIN journal_entry e USING (entry_id) ORDER BY seq DESC LIMIT 1"
            )
            assert last is not None
            assert last["action"] == "slow"
            result = await journal.verify(conn, state="AT")
        assert result.intact
        assert result.entries == 43
    finally:
        await pool.close()


async def test_verify_reads_the_chain_in_batches_of_short_transactions_and_finds_a_change_in_a_later_one(
    conn: db.Conn, initialised: bootstrap.Initialised, home: Path
) -> None:
    """Scale over decades: the walk is bounded by its batch, and no transaction stays open for all of it.

    Verification read the whole chain in one repeatable-read transaction: a journal of decades (tens of millions
    of entries, about 13 s per million here) held back vacuum on every table for as long as that took.
    """
    await write_entries(conn, 12)  # 14 links with the first key's and the first token's
    made = await journal.checkpoint(conn, state="AT", home=home)
    assert made is not None
    assert made.seq == 14
    queries: list[str] = []
    conn.add_query_logger(lambda record: queries.append(record.query))
    intact = await journal.verify(conn, state="AT", batch=3)
    assert (intact.intact, intact.entries, intact.checkpoints) == (True, 14, 1)
    reads = [number for number, query in enumerate(queries) if "FROM journal_link AS l" in query]
    assert len(reads) == 5  # ceil(14 / 3) batches of at most 3 links
    ends = [*reads[1:], len(queries)]
    for number, end in zip(reads, ends, strict=True):  # each batch in a transaction of its own, ended before the next
        assert queries[number - 1].startswith("BEGIN"), queries[number - 1]
        assert any(query.startswith("COMMIT") for query in queries[number:end]), queries[number:end]

    victim = await entry_at(conn, 11)  # in the fourth batch
    await behind_the_back(conn, "UPDATE journal_entry SET payload = '{\"n\": 999}' WHERE entry_id = $1", victim)
    result = await journal.verify(conn, state="AT", batch=3)
    assert (result.intact, result.bad_seq, result.bad_entry_id, result.entries) == (False, 11, victim, 10)


async def test_seal_stops_after_the_batches_asked_for(conn: db.Conn, initialised: bootstrap.Initialised) -> None:
    # The journal list seals before it reads: a backlog of any size (a worker stopped for days) must not all be
    # linked inside one request.
    await journal.seal(conn)
    await write_entries(conn, 7)
    assert await journal.seal(conn, batch=3, batches=1) == 3
    assert await conn.fetchval("SELECT count(*) FROM journal_pending") == 4
    assert await journal.seal(conn, batch=3) == 4
    assert (await journal.verify(conn, state="AT")).intact


async def test_a_seal_refused_midway_leaves_the_rest_counted_and_says_it(conn: db.Conn) -> None:
    """The seal runs a transaction a batch: one committed, the next refused as "cannot write here" (here a right taken
    back between two batches, as a trigger on the links beyond the first batch refuses; a database set read-only
    refuses alike). The walk covers what was sealed, ``pending`` counts exactly the entries left, the verdict says
    the seal was refused, and the connection is usable afterwards (no transaction left aborted)."""
    waiting = journal.SEAL_BATCH + 3
    async with conn.transaction():
        for number in range(waiting):
            await journal.record(
                conn, actor="test", action="thing.made", entity="thing", entity_id=str(number), payload={}
            )
    await conn.execute(
        f"""
        CREATE FUNCTION refuse_second_batch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'permission denied for table journal_link' USING ERRCODE = '42501';
        END $$;
        CREATE TRIGGER refuse_second_batch BEFORE INSERT ON journal_link
            FOR EACH ROW WHEN (NEW.seq > {journal.SEAL_BATCH}) EXECUTE FUNCTION refuse_second_batch();
        """
    )
    result = await journal.verify(conn, state="AT")
    assert (result.intact, result.entries, result.pending, result.seal_refused) == (True, journal.SEAL_BATCH, 3, True)
    assert await conn.fetchval("SELECT count(*) FROM journal_pending") == 3
    assert await conn.fetchval("SELECT count(*) FROM journal_link") == journal.SEAL_BATCH
