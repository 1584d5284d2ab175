"""A registry restored from a backup older than its key's revocation, and ``keys replace`` (README, Backups).

AT is backed up; then it rotates its key and revokes the old one, and DE takes the revocation. AT is restored
from the backup: it signs with the key DE holds as revoked, and DE refuses everything it sends, a new rotation's
announcement included (signed by that key), and every receipt it signs.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import TYPE_CHECKING

import pytest
from litestar.testing import AsyncTestClient

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import backup, journal, keys, outbox
from firearms.errors import ConflictError, InvalidInputError
from firearms.exchange import delivery, rotation, trust
from tests.exchange_fixtures import Registry, at_de, restored

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

__all__ = ["at_de"]


async def _deliver(sender: Registry, client: AsyncTestClient, recipient: str) -> None:  # type: ignore[type-arg]
    """Deliver the sender's queue for ``recipient`` until none is left."""
    deadline = time.monotonic() + 15
    done = "SELECT count(*) = 0 FROM notice_outbox WHERE recipient = $1 AND status = 'queued'"
    while not await sender.conn.fetchval(done, recipient):
        assert time.monotonic() < deadline, await sender.conn.fetch("SELECT * FROM notice_outbox WHERE status='queued'")
        await sender.conn.execute("UPDATE notice_outbox SET next_attempt_at = now() WHERE status = 'queued'")
        await delivery.deliver_due(sender.pool, sender.settings, client, "w1")


async def _attempt(sender: Registry, client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """One delivery pass over whatever is due now."""
    await sender.conn.execute("UPDATE notice_outbox SET next_attempt_at = now() WHERE status = 'queued'")
    await delivery.deliver_due(sender.pool, sender.settings, client, "w1")


async def _enqueue(registry: Registry, recipient: str) -> uuid.UUID:
    async with registry.conn.transaction():
        return await outbox.enqueue(registry.conn, recipient, "test.ping", {"n": 1})


async def _head(registry: Registry) -> outbox.OutboxNotice:
    """The first notice still queued, by number."""
    notice_id = await registry.conn.fetchval(
        "SELECT notice_id FROM notice_outbox WHERE status = 'queued' ORDER BY sequence LIMIT 1"
    )
    head = await outbox.get_notice(registry.conn, notice_id)
    assert head is not None
    return head


@contextlib.asynccontextmanager
async def _restored_after_revocation(
    at: Registry, de: Registry, empty_database: str, tmp_path: Path
) -> AsyncIterator[tuple[Registry, AsyncTestClient, str, uuid.UUID, bytes]]:  # type: ignore[type-arg]
    """AT sends 1; queues X (numbered 2) and is backed up; X reaches DE; AT rotates and revokes its old key; restore.

    Yields the restored AT (same home: the old key's file is there), a client on its app, the revoked key id, X's
    id and DE's first receipt for X.
    """
    await _enqueue(at, "DE")
    await _deliver(at, de.client, "DE")
    x = await _enqueue(at, "DE")
    assert await outbox.number_queued(at.conn) == 1
    assert await journal.checkpoint(at.conn, state="AT", home=at.settings.home) is not None  # by the old key
    path = tmp_path / "at.dump"
    assert at.settings.database_url is not None
    await backup.backup(at.settings.database_url, path, state="AT", actor="test")
    await _deliver(at, de.client, "DE")
    first_receipt = await at.conn.fetchval("SELECT receipt FROM notice_outbox WHERE notice_id = $1", x)
    old = await keys.current_key_id(at.conn)
    assert old is not None
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        await rotation.rotate(at.conn, files, actor="test")
    await _deliver(at, de.client, "DE")
    assert await rotation.switch_announced_keys(at.conn)
    async with at.conn.transaction():
        await rotation.revoke(at.conn, old, reason="retired", actor="test")
    await _deliver(at, de.client, "DE")
    revoked = await de.conn.fetchval("SELECT revoked_at FROM peer_key WHERE state = 'AT' AND key_id = $1", old)
    assert revoked is not None  # DE took the revocation
    assert await de.conn.fetchval("SELECT max(sequence) FROM notice_inbox WHERE sender = 'AT'") == 4

    async with restored(at, path, empty_database, own_app=True) as again:
        assert await keys.current_key_id(again.conn) == old  # the backup's key, which DE holds as revoked
        yield again, again.client, old, x, first_receipt


async def test_a_registry_restored_from_before_its_keys_revocation_is_refused_everything_it_signs(
    at_de: tuple[Registry, Registry], empty_database: str, tmp_path: Path
) -> None:
    """Without keys replace: every notice waits for ever, key-revoked, a rotation's announcement first of all."""
    at, de = at_de
    async with _restored_after_revocation(at, de, empty_database, tmp_path) as (again, client, old, _, _):
        await _attempt(again, de.client)  # X goes first; whatever DE says of it, the queue then stops below
        async with keys.key_transaction(again.conn, again.settings.home) as files:
            rotated = await rotation.rotate(again.conn, files, actor="test")  # signed by the revoked key
        later = await _enqueue(again, "DE")
        for _ in range(3):
            await _attempt(again, de.client)
        head = await _head(again)
        assert head.status == "queued"
        assert (head.last_error or "").startswith(f"HTTP 403 key-revoked: key {old} of AT was revoked")
        waiting = await outbox.get_notice(again.conn, later)
        assert waiting is not None
        assert waiting.status == "queued"
        assert rotated.awaiting == ["DE"]  # and it waits for ever: its announcement is refused like the rest
        assert await rotation.switch_announced_keys(again.conn) == []
        assert await de.conn.fetchval("SELECT max(sequence) FROM notice_inbox WHERE sender = 'AT'") == 4

        # DE's notice reaches AT, but AT's receipt is signed by the revoked key: DE cannot take it as proof
        await _enqueue(de, "AT")
        await _attempt(de, client)
        refused = await _head(de)
        assert (refused.last_error or "").startswith(f"bad receipt: signature by {old} does not verify")


async def test_keys_replace_lets_a_restored_registry_reach_its_partner_again(
    at_de: tuple[Registry, Registry], empty_database: str, tmp_path: Path
) -> None:
    """The procedure: keys replace, DE's administrator enters the new key, the queue drains (resequenced as usual).

    X, which DE took after the backup, is signed again with the new key and is still a duplicate there (PROTOCOL
    §4 check 7 compares the notice, not its signature): DE answers with its first receipt.
    """
    at, de = at_de
    async with _restored_after_revocation(at, de, empty_database, tmp_path) as (again, client, old, x, first_receipt):
        later = await _enqueue(again, "DE")
        await _attempt(again, de.client)
        stuck = await _head(again)
        assert (stuck.last_error or "").startswith("HTTP 403 key-revoked")
        assert await again.conn.fetchval("SELECT envelope IS NOT NULL FROM notice_outbox WHERE notice_id = $1", later)

        async with keys.key_transaction(again.conn, again.settings.home) as files:
            done = await rotation.replace(again.conn, files, reason="restored from a backup", actor="test")
        assert done.replaces == old
        assert await keys.current_key_id(again.conn) == done.key_id
        assert [(row.recipient, row.notices) for row in done.resigned] == [("DE", 2 if stuck.notice_id == x else 1)]
        assert done.not_before == min(row.earliest_created_at for row in done.resigned)
        assert await again.conn.fetchval(
            "SELECT bool_and(signing_key_id = $1 AND envelope IS NULL) FROM notice_outbox WHERE status = 'queued'",
            done.key_id,
        )
        entry = await again.conn.fetchval(
            "SELECT payload FROM journal_entry WHERE action = 'key.replaced' AND entity_id = $1", done.key_id
        )
        assert entry["replaces"] == old
        assert entry["reason"] == "restored from a backup"
        assert keys.key_path(again.settings.home, done.key_id).exists()

        # DE's administrator enters the key given out of band (POST /api/v1/peers/AT/keys, no not_before)
        async with de.conn.transaction():
            await trust.add_peer_key(de.conn, state="AT", public_key=done.public_key, not_before=None, actor="test")
        for _ in range(2):
            await _attempt(again, de.client)
        resent = await outbox.get_notice(again.conn, x)
        assert resent is not None
        assert resent.status == "delivered"
        assert await again.conn.fetchval("SELECT receipt FROM notice_outbox WHERE notice_id = $1", x) == first_receipt
        behind = await outbox.get_notice(again.conn, later)
        assert behind is not None
        assert "expects 5, ahead of this notice" in (behind.last_error or "")
        async with again.conn.transaction():
            await outbox.resequence(again.conn, "DE", 5, actor="test")
        await _deliver(again, de.client, "DE")
        inbox = await de.conn.fetch(
            "SELECT sequence, notice_id FROM notice_inbox WHERE sender = 'AT' ORDER BY sequence"
        )
        assert [row["sequence"] for row in inbox] == [1, 2, 3, 4, 5]
        assert (inbox[1]["notice_id"], inbox[4]["notice_id"]) == (str(x), str(later))

        # and AT's receipts, signed with the new key, are proof at DE again
        await _enqueue(de, "AT")
        await _deliver(de, client, "AT")
        assert await de.conn.fetchval("SELECT bool_and(status = 'delivered') FROM notice_outbox")

        # checkpoints signed by the old key before and by the new one after both verify
        assert await journal.checkpoint(again.conn, state="AT", home=again.settings.home) is not None
        verdict = await journal.verify(again.conn, state="AT")
        assert verdict.intact, verdict


async def test_keys_replace_refuses_a_waiting_rotation_and_a_blank_reason(at_de: tuple[Registry, Registry]) -> None:
    """A rotated key waiting for its switch is cancelled first; a replacement gives its reason. Nothing changes."""
    at, _ = at_de
    before = await keys.current_key_id(at.conn)
    with pytest.raises(InvalidInputError) as blank:
        async with keys.key_transaction(at.conn, at.settings.home) as files:
            await rotation.replace(at.conn, files, reason="  ", actor="test")
    assert blank.value.code == "reason-required"
    async with keys.key_transaction(at.conn, at.settings.home) as files:
        rotated = await rotation.rotate(at.conn, files, actor="test")
    with pytest.raises(ConflictError) as waiting:
        async with keys.key_transaction(at.conn, at.settings.home) as files:
            await rotation.replace(at.conn, files, reason="restored", actor="test")
    assert waiting.value.code == "rotation-pending"
    assert rotated.key_id in waiting.value.detail
    assert await keys.current_key_id(at.conn) == before
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'key.replaced'") == 0
