"""Key rotation against partners (PROTOCOL §6): the new key is used only once every partner has taken it."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import asyncpg
import httpx
import msgspec
import pytest

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import bootstrap, db, keys, outbox
from firearms.canonical import format_time
from firearms.errors import ConfigError, ConflictError, InvalidInputError, NotFoundError
from firearms.exchange import delivery, rotation, trust
from firearms.exchange.protocol import (
    decode_receipt,
)
from firearms.signing import b64url_encode
from firearms.store import keys as key_store
from firearms.store import rotation as rotation_store
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import OTHER_KEY, partner, signed_receipt

if TYPE_CHECKING:
    from pathlib import Path

    from firearms.settings import Settings

__all__ = ["at_de"]


async def _deliver(sender: Registry, recipient: Registry) -> None:
    """Deliver the sender's queue for the recipient to the recipient's app until none is left."""
    deadline = time.monotonic() + 15
    done = "SELECT count(*) = 0 FROM notice_outbox WHERE recipient = $1 AND status = 'queued'"
    while not await sender.conn.fetchval(done, recipient.state):
        assert time.monotonic() < deadline, f"{sender.state}'s notices for {recipient.state} were not all delivered"
        await delivery.deliver_due(sender.pool, sender.settings, recipient.client, f"{sender.state}-worker")
        await asyncio.sleep(0.02)


async def _enqueue(at: Registry, count: int) -> None:
    async with at.conn.transaction():
        for number in range(count):
            await outbox.enqueue(at.conn, "DE", "test.ping", {"n": number})


async def test_an_announcement_the_partner_rejected_is_not_an_acknowledgement(
    at_de: tuple[Registry, Registry],
) -> None:
    """A partner that stored the announcement ``rejected`` does not trust the new key: do not sign with it."""
    at, de = at_de
    old = (await keys.current_signing_key(at.conn, at.settings.home)).key_id
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        new = (await rotation.rotate(at.conn, files, actor="test")).key_id
    de_key = await keys.current_signing_key(de.conn, de.settings.home)

    async def rejecting(raw: bytes) -> tuple[int, bytes]:  # a partner that does not implement key announcements
        return 202, signed_receipt(raw, de_key, status="rejected", reason="unsupported-type")

    async with partner(rejecting) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, at.settings, client, "w1") == 1
    assert await at.conn.fetchval("SELECT status FROM notice_outbox") == "rejected"
    assert await rotation.switch_announced_keys(at.conn) == []
    assert (await keys.current_signing_key(at.conn, at.settings.home)).key_id == old
    async with at.conn.transaction():
        switch = await rotation.switch_now(at.conn, actor="test")
    assert (switch.key_id, switch.unacknowledged) == (new, ["DE"])


async def test_a_partner_added_while_a_new_key_waits_is_told_about_it_before_the_switch(
    at_de: tuple[Registry, Registry],
) -> None:
    """Its administrator entered the key in use (the waiting one is not published yet); it must learn the new one."""
    at, de = at_de
    old = (await keys.current_signing_key(at.conn, at.settings.home)).key_id
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        new = await rotation.rotate(at.conn, files, actor="test")
        await trust.add_peer(
            at.conn,
            own_state="AT",
            state="CZ",
            base_url="http://127.0.0.1:9",
            public_key=b64url_encode(OTHER_KEY.public_key),
            not_before=None,
            actor="test",
        )
    announcements = await at.conn.fetch(
        "SELECT recipient, body, signing_key_id, confidentiality FROM notice_outbox"
        " WHERE type = 'registry.key-announced' ORDER BY recipient"
    )
    assert [row["recipient"] for row in announcements] == ["CZ", "DE"]
    assert announcements[0]["body"] == announcements[1]["body"]
    assert announcements[0]["body"]["key_id"] == new.key_id
    assert {(row["signing_key_id"], row["confidentiality"]) for row in announcements} == {(old, "public")}
    await _deliver(at, de)
    assert await rotation.switch_announced_keys(at.conn) == []  # CZ has not acknowledged it yet
    assert (await keys.current_signing_key(at.conn, at.settings.home)).key_id == old


async def test_a_receipt_signed_by_a_key_the_partner_announced_during_the_run_is_taken(
    at_de: tuple[Registry, Registry],
) -> None:
    """DE rotates while AT's run to DE is under way: AT takes DE's announcement and DE signs with the new key."""
    at, de = at_de
    await _enqueue(at, 3)
    new_keys: list[str] = []

    async def rotate_de_before_the_second(request: httpx.Request) -> None:
        if msgspec.json.decode(request.content)["notice"]["sequence"] != 2:
            return
        async with keys.key_transaction(de.conn, de.settings.home) as files:
            new_keys.append((await rotation.rotate(de.conn, files, actor="test")).key_id)
        await _deliver(de, at)  # AT's inbox stores the announcement and acknowledges it
        assert await rotation.switch_announced_keys(de.conn) == new_keys

    de.client.event_hooks = {"request": [rotate_de_before_the_second], "response": []}
    assert await delivery.deliver_due(at.pool, at.settings, de.client, "w1") == 3
    rows = await at.conn.fetch("SELECT status, attempts, last_error, receipt FROM notice_outbox ORDER BY sequence")
    assert [(row["status"], row["attempts"], row["last_error"]) for row in rows] == [("delivered", 1, None)] * 3
    assert [decode_receipt(bytes(row["receipt"])).signature.key_id for row in rows][1:] == new_keys * 2


async def test_a_second_rotation_is_refused_while_the_worker_looks_at_the_waiting_key(
    at_de: tuple[Registry, Registry],
) -> None:
    """The worker's switch pass locks the waiting key (SKIP LOCKED for other workers): rotate must still see it."""
    at, _ = at_de
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        await rotation.rotate(at.conn, files, actor="test")  # DE has not acknowledged it: it waits
    async with at.pool.acquire() as worker, worker.transaction():
        assert len(await rotation_store.list_unswitched_keys(worker)) == 1  # what switch_announced_keys holds
        with pytest.raises(ConflictError) as refused:
            async with keys.key_transaction(at.conn, at.settings.home) as files:
                await rotation.rotate(at.conn, files, actor="test")
    assert refused.value.code == "rotation-pending"
    assert await at.conn.fetchval("SELECT count(*) FROM pending_registry_key") == 1


async def test_two_rotations_at_once_make_one_new_key(at_de: tuple[Registry, Registry]) -> None:
    at, _ = at_de
    first = await at.pool.acquire()
    transaction = first.transaction()
    await transaction.start()
    await key_store.lock_key_files_shared(first)  # as keys.key_transaction does, before it writes a key file
    first_files = keys.KeyFiles(at.settings.home)
    await rotation.rotate(first, first_files, actor="first admin")

    async def second_admin() -> None:
        async with keys.key_transaction(at.conn, at.settings.home) as files:
            await rotation.rotate(at.conn, files, actor="second admin")

    second = asyncio.create_task(second_admin())
    deadline = time.monotonic() + 10
    waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted"
    while not second.done() and not await at.pool.fetchval(waiting):
        assert time.monotonic() < deadline, "the second rotation neither ended nor waited"
        await asyncio.sleep(0.01)
    await transaction.commit()
    first_files.install()
    await at.pool.release(first)
    with pytest.raises(ConflictError) as refused:
        await second
    assert refused.value.code == "rotation-pending"
    assert await at.conn.fetchval("SELECT count(*) FROM pending_registry_key") == 1


async def test_switch_now_waits_for_the_workers_pass_instead_of_finding_no_waiting_key(
    at_de: tuple[Registry, Registry],
) -> None:
    at, _ = at_de
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        new = await rotation.rotate(at.conn, files, actor="test")
    worker = await at.pool.acquire()
    transaction = worker.transaction()
    await transaction.start()
    assert len(await rotation_store.list_unswitched_keys(worker)) == 1  # the worker's pass looks at the key

    async def admin() -> rotation.Switch:
        async with at.conn.transaction():
            return await rotation.switch_now(at.conn, actor="test")

    switching = asyncio.create_task(admin())
    deadline = time.monotonic() + 10
    while not switching.done() and not await at.pool.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
        assert time.monotonic() < deadline, "switch_now neither ended nor waited"
        await asyncio.sleep(0.01)
    await transaction.rollback()  # DE has not acknowledged it: the worker leaves it waiting
    await at.pool.release(worker)
    switch = await switching
    assert (switch.key_id, switch.unacknowledged) == (new.key_id, ["DE"])
    assert (await keys.current_signing_key(at.conn, at.settings.home)).key_id == new.key_id


async def test_a_key_file_left_beside_its_place_by_a_crash_after_the_commit_is_put_in_place(
    at_de: tuple[Registry, Registry],
) -> None:
    """The rotation committed, then the process died before the new key's file was renamed into place."""
    at, _ = at_de
    home = at.settings.home
    files = keys.KeyFiles(home)
    async with at.conn.transaction():
        new = (await rotation.rotate(at.conn, files, actor="test")).key_id
    # no files.install(): the crash
    final = keys.key_path(home, new)
    assert not final.exists()
    (partial,) = keys.keys_folder(home).glob(f".{new}.pem.*.partial")
    async with at.conn.transaction():
        await rotation.switch_now(at.conn, actor="test")
    key = await keys.current_signing_key(at.conn, home)  # the next start finds its key
    assert key.key_id == new
    assert final.stat().st_mode & 0o777 == 0o600
    assert not partial.exists()

    # a file lost altogether is named, with the folder it is missing from
    lost = keys.KeyFiles(home)
    async with at.conn.transaction():
        newer = (await rotation.rotate(at.conn, lost, actor="test")).key_id
    lost.discard()
    async with at.conn.transaction():
        await rotation.switch_now(at.conn, actor="test")
    with pytest.raises(ConfigError) as missing:
        await keys.current_signing_key(at.conn, home)
    assert newer in missing.value.detail
    assert str(keys.keys_folder(home)) in missing.value.detail


async def _cancel(at: Registry, key_id: str, reason: str = "started by mistake") -> rotation.Cancellation:
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        return await rotation.cancel(at.conn, files, key_id, reason=reason, actor="test")


async def test_a_cancelled_rotation_is_never_used_and_revoked_where_its_key_was_taken(
    at_de: tuple[Registry, Registry],
) -> None:
    """DE took the announced key; AT cancels before the switch: DE is told to revoke it, AT never signs with it."""
    at, de = at_de
    home = at.settings.home
    old = (await keys.current_signing_key(at.conn, home)).key_id
    async with keys.key_transaction(at.conn, home) as files:
        new = (await rotation.rotate(at.conn, files, actor="test")).key_id
    await _deliver(at, de)
    trusted = "SELECT revoked_at FROM peer_key WHERE state = 'AT' AND key_id = $1"
    assert await de.conn.fetchval("SELECT count(*) FROM peer_key WHERE state = 'AT' AND key_id = $1", new) == 1
    assert await de.conn.fetchval(trusted, new) is None

    done = await _cancel(at, new)
    assert (done.key_id, done.replaces, done.revoked_to) == (new, old, ["DE"])
    assert not keys.key_path(home, new).exists()  # a key abandoned before any use: its private half goes
    assert await rotation.switch_announced_keys(at.conn) == []  # DE acknowledged it, but it was cancelled
    assert (await keys.current_signing_key(at.conn, home)).key_id == old
    assert await keys.needed_key_ids(at.conn) == [old]
    revocation = await at.conn.fetchrow(
        "SELECT body, confidentiality, sequence FROM notice_outbox WHERE type = 'registry.key-revoked'"
    )
    assert revocation is not None
    assert revocation["body"] == {
        "key_id": new,
        "revoked_at": format_time(done.cancelled_at),
        "reason": "started by mistake",
    }
    assert revocation["confidentiality"] == "public"
    await _deliver(at, de)
    assert await at.conn.fetchval("SELECT status FROM notice_outbox WHERE type = 'registry.key-revoked'") == "delivered"
    assert await de.conn.fetchval(trusted, new) == done.cancelled_at
    entry = await at.conn.fetchrow("SELECT actor, payload FROM journal_entry WHERE action = 'key.rotation-cancelled'")
    assert entry is not None
    assert (entry["actor"], entry["payload"]["revoked_to"], entry["payload"]["replaces"]) == ("test", ["DE"], old)

    # asked again: the same answer, nothing queued or journaled again
    counts = "SELECT (SELECT count(*) FROM notice_outbox), (SELECT count(*) FROM journal_entry)"
    before = tuple(await at.conn.fetchrow(counts) or ())
    assert await _cancel(at, new, reason="another reason") == done
    assert tuple(await at.conn.fetchrow(counts) or ()) == before

    with pytest.raises(ConflictError) as nothing:
        async with at.conn.transaction():
            await rotation.switch_now(at.conn, actor="test")
    assert nothing.value.code == "no-rotation-pending"
    # a new rotation may start; once switched to, it is too late to cancel it
    async with keys.key_transaction(at.conn, home) as files:
        newer = (await rotation.rotate(at.conn, files, actor="test")).key_id
    async with at.conn.transaction():
        await rotation.switch_now(at.conn, actor="test")
    for in_use in (newer, old):
        with pytest.raises(ConflictError) as late:
            await _cancel(at, in_use)
        assert (late.value.code, late.value.facts["key_id"]) == ("key-already-switched", in_use)
    assert keys.key_path(home, newer).exists()
    with pytest.raises(NotFoundError):
        await _cancel(at, "0" * 32)
    with pytest.raises(InvalidInputError) as blank:
        await _cancel(at, newer, reason=" \n")
    assert blank.value.code == "reason-required"


async def test_a_rotation_cancelled_before_its_announcement_arrived_is_revoked_right_after_it(
    at_de: tuple[Registry, Registry],
) -> None:
    """The announcement still queued is not dropped (nothing is): the revocation follows it, and the
    acknowledgement that then comes back switches nothing."""
    at, de = at_de
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        new = (await rotation.rotate(at.conn, files, actor="test")).key_id
    done = await _cancel(at, new)
    assert done.revoked_to == ["DE"]
    await _deliver(at, de)
    rows = await at.conn.fetch("SELECT type, status FROM notice_outbox ORDER BY sequence")
    assert [(row["type"], row["status"]) for row in rows] == [
        ("registry.key-announced", "delivered"),
        ("registry.key-revoked", "delivered"),
    ]
    assert await rotation.switch_announced_keys(at.conn) == []
    assert await de.conn.fetchval("SELECT revoked_at FROM peer_key WHERE key_id = $1", new) == done.cancelled_at


async def test_a_cancellation_waits_for_the_workers_pass_and_refuses_the_key_it_switched(
    at_de: tuple[Registry, Registry],
) -> None:
    at, _ = at_de
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        new = (await rotation.rotate(at.conn, files, actor="test")).key_id
    worker = await at.pool.acquire()
    transaction = worker.transaction()
    await transaction.start()
    assert len(await rotation_store.list_unswitched_keys(worker)) == 1  # the worker's pass holds the key
    cancelling = asyncio.create_task(_cancel(at, new))
    deadline = time.monotonic() + 10
    while not cancelling.done() and not await at.pool.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
        assert time.monotonic() < deadline, "the cancellation neither ended nor waited"
        await asyncio.sleep(0.01)
    assert not cancelling.done()
    await rotation.switch_now(worker, actor="system:exchange")  # the pass switches it
    await transaction.commit()
    await at.pool.release(worker)
    with pytest.raises(ConflictError) as late:
        await cancelling
    assert late.value.code == "key-already-switched"
    assert (await keys.current_signing_key(at.conn, at.settings.home)).key_id == new
    assert await at.conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'registry.key-revoked'") == 0


async def test_two_cancellations_at_once_revoke_the_key_once(at_de: tuple[Registry, Registry]) -> None:
    at, _ = at_de
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        new = (await rotation.rotate(at.conn, files, actor="test")).key_id

    async def admin() -> rotation.Cancellation:
        async with at.pool.acquire() as conn, keys.key_transaction(conn, at.settings.home) as files:
            return await rotation.cancel(conn, files, new, reason="mistake", actor="test")

    first, second = await asyncio.gather(admin(), admin())
    assert first == second
    assert await at.conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'registry.key-revoked'") == 1
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'key.rotation-cancelled'") == 1


async def test_a_key_file_left_by_a_crash_before_the_commit_is_removed_at_the_next_start(
    at_de: tuple[Registry, Registry],
) -> None:
    """A rotation died before its commit: its private key file stayed beside its place, named by no record.

    The next start (any key transaction) removes it and journals that; the file of a rotation that did commit
    before its crash stays, and is put in place by the first signature with its key.
    """
    at, _ = at_de
    home = at.settings.home
    assert at.settings.migration_database_url is not None  # the owner's: a start migrates
    folder = keys.keys_folder(home)
    crashed = keys.KeyFiles(home)
    transaction = at.conn.transaction()
    await transaction.start()
    orphan = (await rotation.rotate(at.conn, crashed, actor="test")).key_id
    await transaction.rollback()  # the process died before its commit: nothing discarded the file
    (left,) = folder.glob(f".{orphan}.pem.*.partial")
    interrupted = keys.KeyFiles(home)
    async with at.conn.transaction():
        committed = (await rotation.rotate(at.conn, interrupted, actor="test")).key_id
    # no interrupted.install(): the process died after this commit
    (kept,) = folder.glob(f".{committed}.pem.*.partial")

    await bootstrap.initialise(at.settings, at.settings.migration_database_url)  # the next start
    assert not left.exists()
    assert kept.exists()
    entry = await at.conn.fetchrow(
        "SELECT actor, entity_id, payload FROM journal_entry WHERE action = 'key.file-removed'"
    )
    assert entry is not None
    assert (entry["actor"], entry["entity_id"], entry["payload"]) == (
        "system:keys",
        orphan,
        {
            "key_id": orphan,
            "file": left.name,
            "reason": "names no key: its transaction did not commit, or its rotation was cancelled",
        },
    )
    async with at.conn.transaction():
        await rotation.switch_now(at.conn, actor="test")
    assert (await keys.current_signing_key(at.conn, home)).key_id == committed
    assert keys.key_path(home, committed).exists()
    assert not keys.key_path(home, orphan).exists()
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        keys.key_file(row["key_id"]) for row in await at.conn.fetch("SELECT key_id FROM registry_key")
    )


async def test_a_key_file_of_a_transaction_under_way_is_not_taken_for_one_left_by_a_crash(
    at_de: tuple[Registry, Registry],
) -> None:
    """A sweep at a start while an administrator's rotation runs waits for it, and leaves its file alone."""
    at, _ = at_de
    home = at.settings.home
    writer = await at.pool.acquire()
    try:
        async with keys.key_transaction(writer, home) as files:
            new = (await rotation.rotate(writer, files, actor="test")).key_id
            (partial,) = keys.keys_folder(home).glob(f".{new}.pem.*.partial")
            sweeping = asyncio.create_task(keys.remove_orphan_key_files(at.conn, home))
            deadline = time.monotonic() + 10
            while not sweeping.done() and not await at.pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ):
                assert time.monotonic() < deadline, "the sweep neither ended nor waited"
                await asyncio.sleep(0.01)
            assert not sweeping.done()
            assert partial.exists()
    finally:
        await at.pool.release(writer)
    assert await sweeping == []
    assert keys.signing_key(home, new).key_id == new
    assert not partial.exists()


async def _orphan_key_file(conn: db.Conn, home: Path) -> Path:
    """The file of a key whose transaction never committed (the process died: nothing discarded it)."""
    crashed = keys.KeyFiles(home)
    transaction = conn.transaction()
    await transaction.start()
    orphan = (await keys.create_registry_key(conn, crashed, actor="test")).key_id
    await transaction.rollback()
    (left,) = keys.keys_folder(home).glob(f".{orphan}.pem.*.partial")
    return left


async def _removals(conn: db.Conn) -> list[str]:
    return [row["file"] for row in await conn.fetch(_REMOVALS)]


_REMOVALS = "SELECT payload ->> 'file' AS file FROM journal_entry WHERE action = 'key.file-removed' ORDER BY entry_id"


async def test_a_sweep_whose_commit_fails_removes_no_file(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """The sweep removed an orphan key file, then journaled it: a commit that failed after that lost the entry
    (the file gone, nothing saying so). The removal is now journaled and committed first, the file removed after.
    """
    left = await _orphan_key_file(conn, settings.home)
    # a real failure of the sweep's commit, after its journal insert: a deferred constraint trigger
    await conn.execute(
        """CREATE FUNCTION test_refuse_removal() RETURNS trigger LANGUAGE plpgsql AS
           $$BEGIN RAISE EXCEPTION 'the commit fails'; END$$;
           CREATE CONSTRAINT TRIGGER test_refuse_removal AFTER INSERT ON journal_entry
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.action = 'key.file-removed')
           EXECUTE FUNCTION test_refuse_removal()"""
    )
    with pytest.raises(asyncpg.RaiseError, match="the commit fails"):
        await keys.remove_orphan_key_files(conn, settings.home)
    assert left.exists()  # still there to be removed, and journaled, by the next sweep
    assert await _removals(conn) == []

    await conn.execute("DROP TRIGGER test_refuse_removal ON journal_entry; DROP FUNCTION test_refuse_removal()")
    assert await keys.remove_orphan_key_files(conn, settings.home) == [left]
    assert not left.exists()
    assert await _removals(conn) == [left.name]


async def test_a_file_whose_removal_is_journaled_is_removed_by_the_next_sweep_without_a_second_entry(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """A sweep journaled a removal and committed, then could not remove the file (a crash; here a real
    IsADirectoryError): the next sweep removes it and recognises the entry."""
    left = await _orphan_key_file(conn, settings.home)
    left.unlink()
    left.mkdir()  # unlink() refuses it, whoever runs the test (root included)
    assert await keys.remove_orphan_key_files(conn, settings.home) == []
    assert left.is_dir()
    assert await _removals(conn) == [left.name]  # journaled before the attempt

    left.rmdir()
    left.write_bytes(b"a key")
    assert await keys.remove_orphan_key_files(conn, settings.home) == [left]
    assert not left.exists()
    assert await _removals(conn) == [left.name]  # no second entry
