"""PROTOCOL §4 "Sending" where no test pinned it: a 429 is retried with the same bytes after a back-off, and the
notice after it waits for the receipt of the one before."""

from __future__ import annotations

import msgspec

from firearms import keys
from firearms.exchange import delivery
from firearms.exchange.protocol import PROBLEM_BASE
from tests.db.test_outbox_delivery import _enqueue
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import partner, signed_receipt

__all__ = ["at_de"]


async def test_a_429_is_retried_with_the_same_bytes_after_a_back_off(at_de: tuple[Registry, Registry]) -> None:
    at, de = at_de
    await _enqueue(at, 2)
    de_key = await keys.current_signing_key(de.conn, de.settings.home)
    seen: list[bytes] = []

    async def busy_once(envelope: bytes) -> tuple[int, bytes]:
        seen.append(envelope)
        if len(seen) == 1:
            return 429, msgspec.json.encode({"type": PROBLEM_BASE + "too-many-requests", "status": 429})
        return 202, signed_receipt(envelope, de_key)

    async with partner(busy_once) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, at.settings, client, "w1") == 0
        head = await at.conn.fetchrow(
            "SELECT status, attempts, last_error, next_attempt_at > last_attempt_at AS backs_off"
            " FROM notice_outbox WHERE sequence = 1"
        )
        assert head is not None
        assert (head["status"], head["attempts"], head["backs_off"]) == ("queued", 1, True)
        assert "429" in head["last_error"]
        assert len(seen) == 1  # notice 2 waits for notice 1's receipt
        await at.conn.execute("UPDATE notice_outbox SET next_attempt_at = now()")  # not after the back-off
        assert await delivery.deliver_due(at.pool, at.settings, client, "w1") == 2
    assert seen[1] == seen[0]  # the same bytes
    sent = [msgspec.json.decode(raw)["notice"]["sequence"] for raw in seen]
    assert sent == [1, 1, 2]
    assert await at.conn.fetchval("SELECT bool_and(status = 'delivered') FROM notice_outbox")
