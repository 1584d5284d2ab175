"""The outbox and its delivery between two registries (PROTOCOL §4 "Sending")."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from aiohttp import web

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import backup, db, keys, outbox
from firearms.canonical import format_time, utc_now
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.exchange import delivery, trust
from firearms.exchange.protocol import (
    MAX_ENVELOPE_BYTES,
    PROBLEM_BASE,
    Envelope,
    Notice,
    Signature,
    decode_receipt,
)
from firearms.settings import Settings
from tests.exchange_fixtures import Registry, at_de, restored
from tests.exchange_util import OTHER_KEY, partner, signed_receipt

__all__ = ["at_de"]


async def _enqueue(at: Registry, count: int, recipient: str = "DE") -> list[str]:
    ids = []
    async with at.conn.transaction():
        for number in range(count):
            ids.append(str(await outbox.enqueue(at.conn, recipient, "test.ping", {"n": number})))
    return ids


async def _deliver_until(at: Registry, client: httpx.AsyncClient, done: str, worker: str = "w1") -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        await delivery.deliver_due(at.pool, at.settings, client, worker)
        if await at.conn.fetchval(done):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not reached: {done}")


def _one_attempt(settings: Settings) -> Settings:
    """``settings`` whose back-off is a minute: a failed notice is not claimed again within the same call.

    The fixtures' back-off (0.05 s, capped at 0.2 s) lets a loaded machine claim it again before the call ends.
    """
    return msgspec.structs.replace(settings, exchange_retry_base=60.0, exchange_retry_cap=60.0)


async def test_notices_are_numbered_per_recipient_in_queue_order(at_de: tuple[Registry, Registry]) -> None:
    at, _ = at_de
    ids = await _enqueue(at, 3)
    assert await at.conn.fetchval("SELECT count(*) FROM notice_outbox WHERE sequence IS NULL") == 3
    assert await outbox.number_queued(at.conn) == 3
    assert await outbox.number_queued(at.conn) == 0
    in_order = await at.conn.fetch("SELECT notice_id FROM notice_outbox ORDER BY sequence")
    assert [str(row["notice_id"]) for row in in_order] == ids
    rows = await at.conn.fetch("SELECT sequence, status, attempts FROM notice_outbox ORDER BY sequence")
    assert [(row["sequence"], row["status"], row["attempts"]) for row in rows] == [
        (1, "queued", 0),
        (2, "queued", 0),
        (3, "queued", 0),
    ]
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.queued'") == 3
    assert await at.conn.fetchval("SELECT last_sent_sequence FROM peer WHERE state = 'DE'") == 3


async def test_queueing_for_one_partner_does_not_wait_for_another_transaction(at_de: tuple[Registry, Registry]) -> None:
    at, _ = at_de
    holder = await at.pool.acquire()
    open_transaction = holder.transaction()
    await open_transaction.start()
    first = await outbox.enqueue(holder, "DE", "test.ping", {"n": 0})
    # While that transaction is open, another queues for the same partner and commits at once.
    async with at.pool.acquire() as other:
        second = await asyncio.wait_for(_queue_one(other), timeout=5)
    assert await outbox.number_queued(at.conn) == 1  # only the committed one gets a number
    await open_transaction.commit()
    await at.pool.release(holder)
    assert await outbox.number_queued(at.conn) == 1
    numbered = await at.conn.fetch("SELECT notice_id, sequence FROM notice_outbox ORDER BY sequence")
    assert [(row["notice_id"], row["sequence"]) for row in numbered] == [(second, 1), (first, 2)]


async def _queue_one(conn: db.Conn) -> uuid.UUID:
    async with conn.transaction():
        return await outbox.enqueue(conn, "DE", "test.ping", {"n": 1})


async def test_enqueue_refuses_unknown_peer_and_a_body_without_canonical_form(at_de: tuple[Registry, Registry]) -> None:
    at, _ = at_de
    with pytest.raises(InvalidInputError) as unknown:
        await outbox.enqueue(at.conn, "FR", "test.ping", {})
    assert unknown.value.code == "unknown-peer"
    with pytest.raises(InvalidInputError) as floating:
        await outbox.enqueue(at.conn, "DE", "test.ping", {"quantity": 2.0})
    assert floating.value.code == "invalid-notice-body"
    with pytest.raises(InvalidInputError) as beyond_ascii:  # PROTOCOL §2: object keys are ASCII
        await outbox.enqueue(at.conn, "DE", "test.ping", {"items": [{"\u00e9": 1}]})
    assert beyond_ascii.value.code == "invalid-notice-body"
    assert await at.conn.fetchval("SELECT count(*) FROM notice_outbox") == 0


async def test_notices_arrive_in_order_with_verified_receipts(at_de: tuple[Registry, Registry]) -> None:
    at, de = at_de
    ids = await _enqueue(at, 5)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    received = await de.conn.fetch(
        "SELECT notice_id, sequence, status FROM notice_inbox ORDER BY received_at, sequence"
    )
    assert [row["notice_id"] for row in received] == ids
    assert [row["sequence"] for row in received] == [1, 2, 3, 4, 5]
    rows = await at.conn.fetch("SELECT notice_id, receipt, attempts FROM notice_outbox ORDER BY sequence")
    for row in rows:
        receipt = decode_receipt(bytes(row["receipt"])).receipt
        assert receipt.notice_id == str(row["notice_id"])
        assert receipt.status == "accepted"
        assert row["attempts"] == 1
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.delivered'") == 5


async def test_refused_delivery_is_retried_with_the_same_bytes_until_it_passes(
    at_de: tuple[Registry, Registry],
) -> None:
    at, de = at_de
    async with de.conn.transaction():
        await de.conn.execute("UPDATE peer SET enabled = false WHERE state = 'AT'")
    await _enqueue(at, 3)
    await delivery.deliver_due(at.pool, _one_attempt(at.settings), de.client, "w1")
    head = await at.conn.fetchrow("SELECT envelope, attempts, last_error FROM notice_outbox WHERE sequence = 1")
    assert head is not None
    assert head["attempts"] == 1
    assert "unknown-sender" in head["last_error"]
    assert await at.conn.fetchval("SELECT max(attempts) FROM notice_outbox WHERE sequence > 1") == 0
    first_bytes = bytes(head["envelope"])
    await at.conn.execute("UPDATE notice_outbox SET next_attempt_at = now() WHERE sequence = 1")  # due again
    await delivery.deliver_due(at.pool, at.settings, de.client, "w1")
    assert await at.conn.fetchval("SELECT attempts FROM notice_outbox WHERE sequence = 1") >= 2
    async with de.conn.transaction():
        await de.conn.execute("UPDATE peer SET enabled = true WHERE state = 'AT'")
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    assert bytes(await at.conn.fetchval("SELECT envelope FROM notice_outbox WHERE sequence = 1")) == first_bytes
    assert await de.conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_inbox") == [1, 2, 3]
    assert await at.conn.fetchval("SELECT count(*) FROM notice_outbox WHERE last_error IS NOT NULL") == 0


@pytest.mark.parametrize("kind", ["aiohttp", "httpx"])
async def test_network_error_is_recorded_and_retried_later(at_de: tuple[Registry, Registry], kind: str) -> None:
    at, _ = at_de
    await at.conn.execute("UPDATE peer SET base_url = 'http://127.0.0.1:9' WHERE state = 'DE'")
    await _enqueue(at, 1)
    async with delivery.new_client(at.settings) if kind == "aiohttp" else httpx.AsyncClient() as client:
        await delivery.deliver_due(at.pool, _one_attempt(at.settings), client, "w1")
    row = await at.conn.fetchrow(
        "SELECT status, attempts, last_error, next_attempt_at, now() AS now FROM notice_outbox"
    )
    assert row is not None
    assert row["status"] == "queued"
    assert row["attempts"] == 1
    assert row["last_error"].startswith("network:")
    assert row["next_attempt_at"] > row["now"]


async def test_a_wall_clock_set_back_does_not_hold_a_retry_back_for_hours(at_de: tuple[Registry, Registry]) -> None:
    # The back-off is kept as a time of day (next_attempt_at), which every worker reads. A failed attempt scheduled
    # its retry, then the host's clock was set back three hours (an NTP correction, a wrong clock fixed by hand):
    # the retry lay three hours and the back-off ahead, and the partner's whole queue waited that long. A retry is
    # never scheduled more than the back-off cap ahead, so one further ahead is due now.
    at, de = at_de
    await _enqueue(at, 2)
    await at.conn.execute(
        "UPDATE notice_outbox SET attempts = 3, last_error = 'network: refused',"
        " last_attempt_at = now() + interval '3 hours', next_attempt_at = now() + interval '3 hours 1 second'"
    )
    await delivery.deliver_due(at.pool, at.settings, de.client, "w1")
    assert await at.conn.fetchval("SELECT array_agg(status ORDER BY sequence) FROM notice_outbox") == [
        "delivered",
        "delivered",
    ]
    # a retry within the cap still waits its turn
    await _enqueue(at, 1)
    await outbox.number_queued(at.conn)
    await at.conn.execute(
        "UPDATE notice_outbox SET attempts = 1, next_attempt_at = now() + interval '10 seconds' WHERE status = 'queued'"
    )
    slow = msgspec.structs.replace(at.settings, exchange_retry_cap=60.0)
    await delivery.deliver_due(at.pool, slow, de.client, "w1")
    assert await at.conn.fetchval("SELECT status FROM notice_outbox WHERE sequence = 3") == "queued"


async def test_a_clock_set_back_less_than_an_honoured_retry_after_does_not_hold_a_retry_back(
    at_de: tuple[Registry, Registry],
) -> None:
    # A partner's Retry-After is honoured up to an hour (delivery.RETRY_AFTER_MAX), so a retry up to about 66 minutes
    # ahead is no longer a sign of a clock set back: a clock set back half an hour held every queue's retries back
    # that long. A retry whose last attempt lies ahead of the clock was scheduled by a clock since set back (the
    # database's: every worker schedules on it, tests/db/test_outbox_clock.py): it is due now, however near.
    at, de = at_de
    await _enqueue(at, 2)
    await at.conn.execute(
        "UPDATE notice_outbox SET attempts = 3, last_error = 'network: refused',"
        " last_attempt_at = now() + interval '30 minutes', next_attempt_at = now() + interval '30 minutes 1 second'"
    )
    await delivery.deliver_due(at.pool, at.settings, de.client, "w1")
    assert await at.conn.fetchval("SELECT array_agg(status ORDER BY sequence) FROM notice_outbox") == [
        "delivered",
        "delivered",
    ]
    # a partner's Retry-After honoured, its last attempt behind the clock, still waits its time
    await _enqueue(at, 1)
    await outbox.number_queued(at.conn)
    await at.conn.execute(
        "UPDATE notice_outbox SET attempts = 1, last_attempt_at = now() - interval '1 second',"
        " next_attempt_at = now() + interval '30 minutes' WHERE status = 'queued'"
    )
    await delivery.deliver_due(at.pool, at.settings, de.client, "w1")
    assert await at.conn.fetchval("SELECT status FROM notice_outbox WHERE sequence = 3") == "queued"


async def test_sequence_gap_makes_the_sender_resend_from_expected(at_de: tuple[Registry, Registry]) -> None:
    at, de = at_de
    await _enqueue(at, 2)
    # the partner never got 1 and 2 (say it restored a backup) although this side has them as delivered
    await at.conn.execute("UPDATE notice_outbox SET status = 'delivered'")
    await _enqueue(at, 1)
    await _deliver_until(
        at, de.client, "SELECT bool_and(status = 'delivered' AND receipt IS NOT NULL) FROM notice_outbox"
    )
    assert await de.conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_inbox") == [1, 2, 3]
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.resend-requested'") == 1


async def test_two_workers_never_send_one_notice_twice(at_de: tuple[Registry, Registry]) -> None:
    at, de = at_de
    ids = await _enqueue(at, 30)
    sent: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        sent[msgspec.json.decode(request.content)["notice"]["id"]] += 1

    de.client.event_hooks = {"request": [count], "response": []}

    async def worker(name: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            await delivery.deliver_due(at.pool, at.settings, de.client, name)
            # each worker asks on a connection of its own: one connection cannot run two queries at once
            if await at.pool.fetchval("SELECT bool_and(status = 'delivered') FROM notice_outbox"):
                return
            await asyncio.sleep(0.01)

    await asyncio.gather(worker("w1"), worker("w2"))
    assert sorted(sent) == sorted(ids)
    assert set(sent.values()) == {1}
    assert await de.conn.fetchval(
        "SELECT array_agg(sequence ORDER BY received_at, sequence) FROM notice_inbox"
    ) == list(range(1, 31))


async def test_failure_in_the_middle_of_a_run_keeps_the_receipts_before_it_and_releases_the_rest(
    at_de: tuple[Registry, Registry],
) -> None:
    at, de = at_de
    await _enqueue(at, 5)

    async def fail_the_third(request: httpx.Request) -> None:
        if msgspec.json.decode(request.content)["notice"]["sequence"] == 3:
            raise httpx.ConnectError("the line went down", request=request)

    de.client.event_hooks = {"request": [fail_the_third], "response": []}
    # the fixtures' back-off (0.05 s, capped at 0.2 s) lets a loaded machine claim the third again within this call
    settings = msgspec.structs.replace(at.settings, exchange_retry_base=60.0, exchange_retry_cap=60.0)
    assert await delivery.deliver_due(at.pool, settings, de.client, "w1") == 2
    rows = await at.conn.fetch(
        "SELECT sequence, status, attempts, lease_owner, receipt IS NOT NULL AS receipted, last_error"
        " FROM notice_outbox ORDER BY sequence"
    )
    assert [(row["status"], row["attempts"], row["receipted"]) for row in rows] == [
        ("delivered", 1, True),
        ("delivered", 1, True),
        ("queued", 1, False),
        ("queued", 0, False),
        ("queued", 0, False),
    ]
    assert rows[2]["last_error"].startswith("network: ConnectError")
    assert all(row["lease_owner"] is None for row in rows)  # nothing stays leased
    assert await de.conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_inbox") == [1, 2]
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.delivered'") == 2


@pytest.mark.parametrize(
    ("misbehaviour", "error"),
    [
        ("signs with a key it never announced", "bad receipt: signature by"),
        ("names another digest", "bad receipt: it does not name this notice"),
        ("names another notice", "bad receipt: it does not name this notice"),
        ("names another sender", "bad receipt: it does not name this notice"),
        ("names another recipient", "bad receipt: it does not name this notice"),
        ("names another sequence", "bad receipt: it does not name this notice"),
        ("was received before its key was valid", "bad receipt: signature by"),
        ("answers with something that is no receipt", "bad receipt:"),
    ],
)
async def test_a_receipt_that_does_not_verify_or_names_another_notice_is_not_taken(
    at_de: tuple[Registry, Registry], misbehaviour: str, error: str
) -> None:
    """A partner answering 202 with a bad receipt: the notice stays queued, to be sent again (same bytes)."""
    at, de = at_de
    await _enqueue(at, 1)
    de_key = await keys.current_signing_key(de.conn, de.settings.home)

    async def answer(envelope: bytes) -> tuple[int, bytes]:
        if misbehaviour == "answers with something that is no receipt":
            return 202, b'{"receipt": "trust me"}'
        if misbehaviour == "names another digest":
            return 202, signed_receipt(envelope, de_key, digest="A" * 43)
        # PROTOCOL §4: the receipt's own members name the notice; each one is checked
        named: dict[str, dict[str, Any]] = {
            "names another notice": {"notice_id": "0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e11"},
            "names another sender": {"sender": "FR"},
            "names another recipient": {"recipient": "FR"},
            "names another sequence": {"sequence": 2},
            "was received before its key was valid": {"received_at": "1969-12-31T23:59:59Z"},  # entered from 1970
        }
        if misbehaviour in named:
            return 202, signed_receipt(envelope, de_key, **named[misbehaviour])
        return 202, signed_receipt(envelope, OTHER_KEY)  # signs with a key it never announced

    async with partner(answer) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, _one_attempt(at.settings), client, "w1") == 0
    row = await at.conn.fetchrow("SELECT status, attempts, last_error, receipt, lease_owner FROM notice_outbox")
    assert row is not None
    assert (row["status"], row["attempts"], row["receipt"], row["lease_owner"]) == ("queued", 1, None, None)
    assert row["last_error"].startswith(error)
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.delivered'") == 0


async def test_a_notice_that_cannot_be_signed_waits_with_its_error_and_holds_back_the_ones_after_it(
    at_de: tuple[Registry, Registry],
) -> None:
    at, de = at_de
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 0}, signing_key_id="0" * 32)  # no such key file
    await _enqueue(at, 2)
    assert await delivery.deliver_due(at.pool, _one_attempt(at.settings), de.client, "w1") == 0
    rows = await at.conn.fetch(
        "SELECT sequence, attempts, last_error, envelope, lease_owner FROM notice_outbox ORDER BY sequence"
    )
    assert [(row["attempts"], row["envelope"], row["lease_owner"]) for row in rows] == [(1, None, None)] + [
        (0, None, None)
    ] * 2
    assert rows[0]["last_error"].startswith(f"signing: signing key {'0' * 32} is not in")
    assert await de.conn.fetchval("SELECT count(*) FROM notice_inbox") == 0  # strictly in order: nothing jumps ahead


async def _signed_receipt(de: Registry, envelope: bytes, received_at: str) -> bytes:
    """DE's genuine receipt for ``envelope``, with ``received_at`` as given."""
    return signed_receipt(envelope, await keys.current_signing_key(de.conn, de.settings.home), received_at=received_at)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("a receipt received on 30 February", "bad receipt: received_at '2026-02-30T10:00:00Z' is not a time"),
        ("503, a problem that is not UTF-8", "HTTP 503"),
        ("409, a problem nested too deep to decode", "HTTP 409"),
        ("503, a problem whose detail holds a NUL", "HTTP 503 unavailable: down\ufffdfor it"),
        ("500, bytes that hold a NUL", "HTTP 500: oops\ufffd"),
        ("202, more bytes than an envelope may have", "network: ClientPayloadError: the answer is larger than"),
        ("nothing within the exchange timeout", "network: "),
    ],
)
async def test_garbage_from_a_partner_is_a_failed_attempt_not_a_crash(
    at_de: tuple[Registry, Registry], answer: str, error: str
) -> None:
    """Whatever a partner answers, the attempt is recorded, the lease given back and the notice retried later."""
    at, de = at_de
    await _enqueue(at, 2)

    async def answering(envelope: bytes) -> tuple[int, bytes]:
        if answer == "a receipt received on 30 February":
            return 202, await _signed_receipt(de, envelope, "2026-02-30T10:00:00Z")
        if answer == "nothing within the exchange timeout":
            await asyncio.sleep(2)
        return {
            "503, a problem that is not UTF-8": (503, b'{"type":"about:blank","detail":"\xff\xfe"}'),
            "409, a problem nested too deep to decode": (409, b'{"detail":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
            "503, a problem whose detail holds a NUL": (503, b'{"type":"x/unavailable","detail":"down\\u0000for it"}'),
            "500, bytes that hold a NUL": (500, b"oops\x00"),
            "202, more bytes than an envelope may have": (202, b" " * (MAX_ENVELOPE_BYTES + 1)),
            "nothing within the exchange timeout": (202, b"too late"),
        }[answer]

    # the fixtures' back-off (0.05 s, capped at 0.2 s) lets a loaded machine claim the notice again within this call
    settings = msgspec.structs.replace(
        at.settings, exchange_timeout=0.5, exchange_retry_base=60.0, exchange_retry_cap=60.0
    )
    async with partner(answering) as url, delivery.new_client(settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, settings, client, "w1") == 0
    rows = await at.conn.fetch(
        "SELECT status, attempts, last_error, lease_owner, next_attempt_at > last_attempt_at AS backs_off"
        " FROM notice_outbox ORDER BY sequence"
    )
    assert [(row["status"], row["attempts"], row["lease_owner"]) for row in rows] == [
        ("queued", 1, None),
        ("queued", 0, None),
    ]
    assert rows[0]["last_error"].startswith(error)
    assert rows[0]["backs_off"]


async def test_the_lease_outlasts_a_post_that_takes_the_whole_exchange_timeout(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timeout longer than half the lease is allowed (FIREARMS_EXCHANGE_TIMEOUT up to a day): no second sender."""
    at, de = at_de
    # a run starts posts for 2 s (half the lease): a loaded machine may take a second to start the first
    monkeypatch.setattr(delivery, "LEASE", dt.timedelta(seconds=4))
    settings = msgspec.structs.replace(at.settings, exchange_timeout=6.0)
    (notice_id,) = await _enqueue(at, 1)
    posted: Counter[str] = Counter()
    first_posted = asyncio.Event()

    async def slow(envelope: bytes) -> tuple[int, bytes]:  # DE, slow to answer the first time
        posted[msgspec.json.decode(envelope)["notice"]["id"]] += 1
        if not first_posted.is_set():
            first_posted.set()
            await asyncio.sleep(5)  # within the timeout, past the lease as claimed
        response = await de.client.post("/exchange/v1/notices", content=envelope)
        return response.status_code, response.content

    async with partner(slow) as url, delivery.new_client(settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        first = asyncio.create_task(delivery.deliver_due(at.pool, settings, client, "w1"))
        await first_posted.wait()
        await asyncio.sleep(3.5)  # the first post is still waiting for its answer
        assert await delivery.deliver_due(at.pool, settings, client, "w2") == 0  # nothing to claim: it is in flight
        assert await first == 1
    assert posted == {notice_id: 1}
    assert await at.conn.fetchval("SELECT status FROM notice_outbox") == "delivered"


@pytest.mark.parametrize("expected", [0, -1, True], ids=["zero", "negative", "true"])
async def test_a_sequence_gap_naming_no_sequence_is_a_failed_attempt_not_a_resend_of_everything(
    at_de: tuple[Registry, Registry], expected: object
) -> None:
    """Sequences start at 1 (PROTOCOL §3): an ``expected_sequence`` that is not one requeues nothing."""
    at, de = at_de
    await _enqueue(at, 2)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    await _enqueue(at, 1)
    problem = {"type": PROBLEM_BASE + "sequence-gap", "status": 409, "expected_sequence": expected}

    async def confused(_envelope: bytes) -> tuple[int, bytes]:
        return 409, msgspec.json.encode(problem)

    async with partner(confused) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        # it used to requeue everything from there and resend it at once, again and again, in one pass
        assert await asyncio.wait_for(delivery.deliver_due(at.pool, at.settings, client, "w1"), timeout=10) == 0
    rows = await at.conn.fetch("SELECT status, attempts, last_error FROM notice_outbox ORDER BY sequence")
    assert [(row["status"], row["attempts"]) for row in rows] == [("delivered", 1), ("delivered", 1), ("queued", 1)]
    assert rows[2]["last_error"].startswith("HTTP 409 sequence-gap")
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.resend-requested'") == 0


async def test_a_sequence_gap_naming_its_sequence_twice_is_a_failed_attempt_not_a_resend(
    at_de: tuple[Registry, Registry],
) -> None:
    """A partner's problem whose ``expected_sequence`` is given twice says two things: before, the last (1) was
    taken and every notice from there requeued and sent again; the first (3) asks for nothing. Neither is guessed:
    the answer is one the sender cannot read, a failed attempt, retried later."""
    at, de = at_de
    await _enqueue(at, 2)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    await _enqueue(at, 1)
    problem = b'{"type":"' + PROBLEM_BASE.encode() + b'sequence-gap","status":409,"expected_sequence":3,'

    async def confused(_envelope: bytes) -> tuple[int, bytes]:
        return 409, problem + b'"expected_sequence":1}'

    async with partner(confused) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await asyncio.wait_for(delivery.deliver_due(at.pool, at.settings, client, "w1"), timeout=10) == 0
    rows = await at.conn.fetch("SELECT status, attempts, last_error FROM notice_outbox ORDER BY sequence")
    assert [(row["status"], row["attempts"]) for row in rows] == [("delivered", 1), ("delivered", 1), ("queued", 1)]
    assert rows[2]["last_error"].startswith("HTTP 409: {")
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.resend-requested'") == 0


async def test_a_partner_disabled_during_a_run_is_sent_nothing_more(at_de: tuple[Registry, Registry]) -> None:
    """``peers disable`` holds the notices for a partner: a run under way stops within a second, the rest waits."""
    at, de = at_de
    await _enqueue(at, 5)

    async def disable_during_the_second(request: httpx.Request) -> None:
        if msgspec.json.decode(request.content)["notice"]["sequence"] == 2:
            async with at.pool.acquire() as conn, conn.transaction():
                await trust.set_peer_enabled(conn, "DE", enabled=False, actor="test")
            await asyncio.sleep(1.1)  # the partner is slow to answer: the run notices the change before the next

    de.client.event_hooks = {"request": [disable_during_the_second], "response": []}
    assert await delivery.deliver_due(at.pool, at.settings, de.client, "w1") == 2
    rows = await at.conn.fetch("SELECT status, attempts, lease_owner FROM notice_outbox ORDER BY sequence")
    assert [(row["status"], row["attempts"], row["lease_owner"]) for row in rows] == [("delivered", 1, None)] * 2 + [
        ("queued", 0, None)
    ] * 3
    assert await de.conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_inbox") == [1, 2]


async def test_a_receipt_record_lost_in_a_crash_is_made_again_from_the_partners_same_receipt(
    at_de: tuple[Registry, Registry],
) -> None:
    """Receipts are recorded without waiting for the WAL flush: a crash may lose them, and the next delivery
    must get the same receipt, byte for byte, from the partner, which stores the notice once."""
    at, de = at_de
    await _enqueue(at, 2)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    first = {row["notice_id"]: bytes(row["receipt"]) for row in await at.conn.fetch("SELECT * FROM notice_outbox")}
    # the crash: the records of both receipts are gone, the notices and their kept bytes are not
    await at.conn.execute(
        "UPDATE notice_outbox SET status = 'queued', receipt = NULL, receipt_reason = NULL, delivered_at = NULL"
    )
    answers: list[int] = []

    async def status(response: httpx.Response) -> None:
        answers.append(response.status_code)

    de.client.event_hooks = {"request": [], "response": [status]}
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    assert answers == [200, 200]  # duplicates
    again = {row["notice_id"]: bytes(row["receipt"]) for row in await at.conn.fetch("SELECT * FROM notice_outbox")}
    assert again == first
    assert await de.conn.fetchval("SELECT count(*) FROM notice_inbox") == 2


async def _restored_after_notice_1(conn: db.Conn) -> None:
    """What a restore leaves: the outbox and the partner's number as they were after notice 1.

    A restore writes behind the guards (an outgoing notice is never deleted otherwise): so does this.
    """
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("DELETE FROM notice_outbox WHERE sequence > 1")
        await conn.execute("UPDATE peer SET last_sent_sequence = 1 WHERE state = 'DE'")


async def test_after_a_restore_the_partner_ahead_is_reached_by_resequencing(at_de: tuple[Registry, Registry]) -> None:
    """AT restored a backup taken after notice 1: DE holds 2 and 3, which AT no longer has."""
    at, de = at_de
    await _enqueue(at, 3)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    await _restored_after_notice_1(at.conn)
    (new,) = await _enqueue(at, 1)
    await delivery.deliver_due(at.pool, at.settings, de.client, "w1")
    stuck = await outbox.get_notice(at.conn, uuid.UUID(new))
    assert stuck is not None
    assert (stuck.status, stuck.sequence) == ("queued", 2)
    assert "expects 4, ahead of this notice" in (stuck.last_error or "")
    # Numbers the partner holds, or at or below those stored here, are refused; nothing changes.
    with pytest.raises(InvalidInputError) as below:
        async with at.conn.transaction():
            await outbox.resequence(at.conn, "DE", 2, actor="test")
    assert (below.value.code, below.value.facts["highest_sequence"]) == ("sequence-not-ahead", 2)
    with pytest.raises(NotFoundError):
        async with at.conn.transaction():
            await outbox.resequence(at.conn, "PL", 4, actor="test")
    async with at.conn.transaction():
        done = await outbox.resequence(at.conn, "DE", 4, actor="test")
    assert (done.renumbered, done.last_sent_sequence) == (1, 4)
    await _enqueue(at, 1)  # queued after the resequencing: numbered after it
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    assert await de.conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_inbox") == [1, 2, 3, 4, 5]
    assert await de.conn.fetchval("SELECT notice_id::text FROM notice_inbox WHERE sequence = 4") == new
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.resequenced'") == 1


async def test_a_queue_grown_past_the_partners_number_while_stuck_is_resequenced(
    at_de: tuple[Registry, Registry],
) -> None:
    """AT restored a backup taken after notice 1; DE holds 2 and 3; AT queued three more meanwhile (2, 3, 4).

    The queue's own numbers reach the 4 DE expects: they are what is renumbered, so 4 is accepted (only
    numbers DE acknowledged must lie below it), and the renumbering does not trip over the old numbers.
    """
    at, de = at_de
    await _enqueue(at, 3)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    await _restored_after_notice_1(at.conn)
    waiting = await _enqueue(at, 3)
    await delivery.deliver_due(at.pool, at.settings, de.client, "w1")
    assert await at.conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_outbox") == [1, 2, 3, 4]
    async with at.conn.transaction():
        done = await outbox.resequence(at.conn, "DE", 4, actor="test")
    assert (done.renumbered, done.last_sent_sequence) == (3, 6)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    assert (
        await de.conn.fetchval(
            "SELECT array_agg(notice_id::text ORDER BY sequence) FROM notice_inbox WHERE sequence >= 4"
        )
        == waiting
    )


async def test_a_notice_the_partner_took_after_the_backup_keeps_its_number_through_a_resequencing(
    at_de: tuple[Registry, Registry], empty_database: str, tmp_path: Path
) -> None:
    """A real backup holds X queued as 2; X and 3..5 reach DE; AT restores the backup (X queued again as 2).

    DE holds X under 2 with exactly the bytes AT signs again (check 7 comes before check 8: a duplicate,
    answered with its first receipt). Renumbered to 6 and signed again, X would meet notice-id-conflict at
    DE for ever, and every notice after it with it. A resequencing before DE refused a queued notice as behind
    what it expects is refused; the worker offers the queue first, DE takes X as a duplicate and refuses the
    first notice it does not hold, and only that one and those after it are renumbered.
    """
    at, de = at_de
    await _enqueue(at, 1)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    (x,) = await _enqueue(at, 1)
    assert await outbox.number_queued(at.conn) == 1
    path = tmp_path / "at.dump"
    assert at.settings.database_url is not None
    await backup.backup(at.settings.database_url, path, state="AT", actor="test")
    await _enqueue(at, 3)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    first_receipt = await at.conn.fetchval("SELECT receipt FROM notice_outbox WHERE notice_id = $1", uuid.UUID(x))
    assert await de.conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_inbox") == [1, 2, 3, 4, 5]

    async with restored(at, path, empty_database) as again:
        settings, conn, pool = again.settings, again.conn, again.pool
        assert await conn.fetchval("SELECT sequence FROM notice_outbox WHERE notice_id = $1", uuid.UUID(x)) == 2
        (new,) = await _enqueue(again, 1)
        # straight after the restore, before anything was offered to DE: X may be one DE holds
        with pytest.raises(ConflictError) as early:
            async with conn.transaction():
                await outbox.resequence(conn, "DE", 6, actor="test")
        assert early.value.code == "no-sequence-gap"
        assert await conn.fetchval("SELECT sequence FROM notice_outbox WHERE notice_id = $1", uuid.UUID(x)) == 2
        assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.resequenced'") == 0

        await delivery.deliver_due(pool, settings, de.client, "w1")
        delivered = await outbox.get_notice(conn, uuid.UUID(x))
        assert delivered is not None
        assert (delivered.status, delivered.sequence) == ("delivered", 2)
        receipt = await conn.fetchval("SELECT receipt FROM notice_outbox WHERE notice_id = $1", uuid.UUID(x))
        assert receipt == first_receipt  # DE's first receipt, byte for byte
        stuck = await outbox.get_notice(conn, uuid.UUID(new))
        assert stuck is not None
        assert (stuck.status, stuck.sequence) == ("queued", 3)
        assert "expects 6, ahead of this notice" in (stuck.last_error or "")

        async with conn.transaction():
            done = await outbox.resequence(conn, "DE", 6, actor="test")
        assert (done.renumbered, done.last_sent_sequence) == (1, 6)
        await _deliver_until(again, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
        inbox = await de.conn.fetch("SELECT sequence, notice_id::text FROM notice_inbox ORDER BY sequence")
        assert [row["sequence"] for row in inbox] == [1, 2, 3, 4, 5, 6]
        assert (inbox[1]["notice_id"], inbox[5]["notice_id"]) == (x, new)


async def test_a_partner_expecting_a_number_no_notice_here_carries_is_not_sent_the_queue_in_a_loop(
    at_de: tuple[Registry, Registry],
) -> None:
    """DE expects 2, AT's next notice carries 6 and nothing here carries 2 to 5 (numbers lost, say).

    Resending "from 2" sent notice 6 again at once, refused again: ``deliver_due`` never returned, and the
    partner was sent the same refused notice hundreds of times a second. It waits a minute instead.
    """
    at, de = at_de
    await _enqueue(at, 1)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    await at.conn.execute("UPDATE peer SET last_sent_sequence = 5 WHERE state = 'DE'")
    (stranded,) = await _enqueue(at, 1)
    started = dt.datetime.now(dt.UTC)
    await asyncio.wait_for(delivery.deliver_due(at.pool, at.settings, de.client, "w1"), timeout=10)
    row = await at.conn.fetchrow(
        "SELECT sequence, status, attempts, last_error, next_attempt_at FROM notice_outbox WHERE notice_id = $1",
        uuid.UUID(stranded),
    )
    assert row is not None
    assert (row["sequence"], row["status"], row["attempts"]) == (6, "queued", 1)
    assert "expects 2, which no notice here carries" in row["last_error"]
    assert row["next_attempt_at"] >= started + dt.timedelta(seconds=50)
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.resend-requested'") == 0
    assert await de.conn.fetchval("SELECT count(*) FROM notice_inbox") == 1


async def test_a_delivered_notice_forgets_the_number_the_partner_once_expected_ahead_of_it(
    at_de: tuple[Registry, Registry],
) -> None:
    """DE refuses notice 1 expecting 4, then takes it after all (its administrator reconciled on its side).

    The 4 stayed on the delivered notice. When DE later asked for everything from 1 again (it lost notice 1),
    notice 1 headed the queue once more with that 4, and ``peers resequence DE --from 4`` renumbered the queue
    to 4, 5 -- while DE expects 1: refused there as "expects 1, which no notice here carries", for good. A
    receipt ends the refusal: the notice keeps no expected number, and resequencing waits for a new refusal.
    """
    at, de = at_de
    (first,) = await _enqueue(at, 1)
    de_key = await keys.current_signing_key(de.conn, de.settings.home)
    answers = [
        (409, {"expected_sequence": 4}),  # 1: ahead of it
        (202, None),  # 1 again: taken
        (409, {"expected_sequence": 1}),  # 2: DE lost 1, asks for it again
        (503, None),  # 1 once more: DE is down
    ]

    async def scripted(envelope: bytes) -> tuple[int, bytes]:
        status, problem = answers.pop(0)
        if status == 202:
            return 202, signed_receipt(envelope, de_key)
        kind = "sequence-gap" if status == 409 else "unavailable"
        return status, msgspec.json.encode({"type": PROBLEM_BASE + kind, "status": status} | (problem or {}))

    async with partner(scripted) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        await delivery.deliver_due(at.pool, at.settings, client, "w1")
        assert await at.conn.fetchval("SELECT expected_sequence FROM notice_outbox") == 4
        await at.conn.execute("UPDATE notice_outbox SET next_attempt_at = now()")  # not a minute later
        assert await delivery.deliver_due(at.pool, at.settings, client, "w1") == 1
        delivered = await at.conn.fetchrow("SELECT status, expected_sequence FROM notice_outbox")
        assert tuple(delivered or ()) == ("delivered", None)
        (second,) = await _enqueue(at, 1)
        await delivery.deliver_due(at.pool, at.settings, client, "w1")
    assert answers == []
    rows = await at.conn.fetch("SELECT notice_id::text, sequence, status FROM notice_outbox ORDER BY sequence")
    assert [(row["notice_id"], row["sequence"], row["status"]) for row in rows] == [
        (first, 1, "queued"),
        (second, 2, "queued"),
    ]
    with pytest.raises(ConflictError) as stale:
        async with at.conn.transaction():
            await outbox.resequence(at.conn, "DE", 4, actor="test")
    assert stale.value.code == "no-sequence-gap"
    assert await at.conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_outbox") == [1, 2]
    assert await at.conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.resequenced'") == 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_partner_redirecting_elsewhere_is_a_failed_attempt_and_nothing_goes_where_it_points(
    at_de: tuple[Registry, Registry], status: int
) -> None:
    """The trust list names where a partner is: a redirect (another host, this registry, an internal service)
    must not take a confidential notice there, nor a receipt from there count as the partner's."""
    at, de = at_de
    await _enqueue(at, 1)
    de_key = await keys.current_signing_key(de.conn, de.settings.home)
    reached: list[bytes] = []

    async def elsewhere(envelope: bytes) -> tuple[int, bytes]:
        reached.append(envelope)
        return 202, signed_receipt(envelope, de_key)

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": target + "/exchange/v1/notices"})

    app = web.Application()
    app.router.add_post("/exchange/v1/notices", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        async with partner(elsewhere) as target:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            async with delivery.new_client(at.settings) as client:
                await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
                assert await delivery.deliver_due(at.pool, _one_attempt(at.settings), client, "w1") == 0
    finally:
        await runner.cleanup()
    assert reached == []
    row = await at.conn.fetchrow("SELECT status, attempts, last_error FROM notice_outbox")
    assert row is not None
    assert (row["status"], row["attempts"]) == ("queued", 1)
    assert row["last_error"].startswith(f"HTTP {status}")


async def test_a_partners_error_text_is_logged_on_one_line(
    at_de: tuple[Registry, Registry], caplog: pytest.LogCaptureFixture
) -> None:
    """A partner's problem detail goes into the worker's log: its newlines and escapes must not forge lines there."""
    at, _ = at_de
    await _enqueue(at, 1)

    async def forging(envelope: bytes) -> tuple[int, bytes]:
        return 503, b'{"type":"x/unavailable","detail":"down\\nERROR - firearms.exchange - all keys revoked\\u001b[2J"}'

    with caplog.at_level(logging.WARNING, logger="firearms.exchange"):
        async with partner(forging) as url, delivery.new_client(at.settings) as client:
            await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
            assert await delivery.deliver_due(at.pool, _one_attempt(at.settings), client, "w1") == 0
    lines = [record.getMessage() for record in caplog.records if record.name == "firearms.exchange"]
    assert len(lines) == 1
    assert lines[0].isprintable(), lines
    assert lines[0].endswith("HTTP 503 unavailable: down\\nERROR - firearms.exchange - all keys revoked\\x1b[2J")


def _key_named_twice(receipt: bytes) -> bytes:
    """``receipt`` with ``status`` named twice: ``rejected`` first, then the ``accepted`` it was signed with."""
    assert b'"status":"accepted"' in receipt
    return receipt.replace(b'"status":"accepted"', b'"status":"rejected","status":"accepted"')


@pytest.mark.parametrize(
    ("malformed", "error"),
    [
        ("rejected without a reason", "bad receipt: a rejected receipt without a reason code (PROTOCOL §4)"),
        ("rejected with an empty reason", "bad receipt: not a receipt:"),
        ("accepted with a reason", "bad receipt: an accepted receipt with a reason"),
        ("a key named twice", "bad receipt: an object of the receipt names a key twice (PROTOCOL §2)"),
    ],
)
async def test_a_validly_signed_but_malformed_receipt_is_no_proof_and_the_queue_shows_why_it_waits(
    at_de: tuple[Registry, Registry], malformed: str, error: str
) -> None:
    """PROTOCOL §2 and §4: a receipt is the proof of delivery; a malformed one, however well signed, proves nothing.

    The notice stays queued (the partner answers a duplicate with the same receipt, so it waits for the two
    administrators), and the admin's reading of the outbox says why.
    """
    at, de = at_de
    [notice_id] = await _enqueue(at, 1)
    de_key = await keys.current_signing_key(de.conn, de.settings.home)

    async def answer(envelope: bytes) -> tuple[int, bytes]:
        if malformed == "rejected without a reason":
            return 202, signed_receipt(envelope, de_key, status="rejected")
        if malformed == "rejected with an empty reason":
            return 202, signed_receipt(envelope, de_key, status="rejected", reason="")
        if malformed == "accepted with a reason":
            return 202, signed_receipt(envelope, de_key, reason="invalid-body")
        return 202, _key_named_twice(signed_receipt(envelope, de_key))

    async with partner(answer) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, _one_attempt(at.settings), client, "w1") == 0
    row = await at.conn.fetchrow("SELECT status, attempts, receipt, lease_owner FROM notice_outbox")
    assert row is not None
    assert (row["status"], row["attempts"], row["receipt"], row["lease_owner"]) == ("queued", 1, None, None)
    assert (
        await at.conn.fetchval(
            "SELECT count(*) FROM journal_entry WHERE action IN ('notice.delivered', 'notice.rejected')"
        )
        == 0
    )
    [waiting] = await outbox.list_notices(at.conn, status="queued", recipient="DE", limit=10, before=None)
    assert str(waiting.notice_id) == notice_id
    assert waiting.last_error is not None
    assert waiting.last_error.startswith(error)


@pytest.mark.parametrize(
    ("reason", "kept"),
    [
        ("r" * 5000, "r" * 5000),
        ("invalid-body: \x00 in a name", "invalid-body: \ufffd in a name"),
    ],
    ids=["a reason of 5000 characters", "a reason holding U+0000"],
)
async def test_a_partners_signed_rejection_is_taken_whole_and_the_queue_moves_on(
    at_de: tuple[Registry, Registry], reason: str, kept: str
) -> None:
    """PROTOCOL §4 sets no length on a reason: a validly signed rejection is the partner's verdict, kept byte
    for byte, and the next notice goes. Before, a reason over 200 characters was no receipt and the notice was
    posted again for ever (the partner answers a duplicate with the same receipt); a reason holding U+0000
    failed where the run's receipts are recorded, and every run lost them again."""
    at, de = at_de
    await _enqueue(at, 2)
    de_key = await keys.current_signing_key(de.conn, de.settings.home)
    answers: dict[int, bytes] = {}

    async def answer(envelope: bytes) -> tuple[int, bytes]:
        sequence = msgspec.json.decode(envelope)["notice"]["sequence"]
        answers[sequence] = signed_receipt(envelope, de_key, status="rejected", reason=reason)
        return 202, answers[sequence]

    async with partner(answer) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, at.settings, client, "w1") == 2
    rows = await at.conn.fetch(
        "SELECT sequence, status, receipt, receipt_reason, last_error FROM notice_outbox ORDER BY sequence"
    )
    assert [(row["status"], row["receipt_reason"], row["last_error"]) for row in rows] == [("rejected", kept, None)] * 2
    assert [bytes(row["receipt"]) for row in rows] == [answers[1], answers[2]]
    assert decode_receipt(bytes(rows[0]["receipt"])).receipt.reason == reason
    payloads = await at.conn.fetch(
        "SELECT payload FROM journal_entry WHERE action = 'notice.rejected' ORDER BY entry_id"
    )
    assert [row["payload"]["reason"] for row in payloads] == [kept, kept]


async def test_a_notice_the_partner_holds_under_another_number_after_a_restore_is_reached_by_resequencing(
    at_de: tuple[Registry, Registry], empty_database: str, tmp_path: Path
) -> None:
    """X is queued in a transaction still open when Y, queued after it, commits; a real backup holds Y unnumbered.

    X then commits, the worker numbers X 1 and Y 2 (queue order) and both reach DE. The restored AT has no X and
    numbers Y 1: DE holds Y under 2 with other bytes and answers ``notice-id-conflict`` (PROTOCOL §4 check 7) on
    every retry, and every notice queued behind Y waited for ever -- ``peers resequence`` refused to move it
    (``no-sequence-gap``: DE had not refused it as behind). The worker now says what the answer means, and the
    administrators, once DE's has read the number Y has there, renumber the queue from it: Y signed again with
    that number is byte for byte what DE holds (Ed25519 signatures are deterministic), a duplicate answered with
    its first receipt; the notices after it follow.
    """
    at, de = at_de
    holder = await at.pool.acquire()
    open_transaction = holder.transaction()
    await open_transaction.start()
    x = await outbox.enqueue(holder, "DE", "test.ping", {"n": "x"})
    (y,) = await _enqueue(at, 1)
    path = tmp_path / "at.dump"
    assert at.settings.database_url is not None
    await backup.backup(at.settings.database_url, path, state="AT", actor="test")
    await open_transaction.commit()
    await at.pool.release(holder)
    await _deliver_until(at, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
    held = await de.conn.fetch("SELECT sequence, notice_id::text FROM notice_inbox ORDER BY sequence")
    assert [(row["sequence"], row["notice_id"]) for row in held] == [(1, str(x)), (2, y)]
    first_receipt = await at.conn.fetchval("SELECT receipt FROM notice_outbox WHERE notice_id = $1", uuid.UUID(y))

    async with restored(at, path, empty_database) as again:
        settings, conn, pool = again.settings, again.conn, again.pool
        (later,) = await _enqueue(again, 1)
        for _ in range(2):  # the same bytes again: the same answer, nothing stored at DE
            await conn.execute("UPDATE notice_outbox SET next_attempt_at = now() WHERE status = 'queued'")
            await delivery.deliver_due(pool, settings, de.client, "w1")
        conflicted = await outbox.get_notice(conn, uuid.UUID(y))
        assert conflicted is not None
        assert (conflicted.status, conflicted.sequence, conflicted.attempts) == ("queued", 1, 2)
        assert "DE holds this notice under another number" in (conflicted.last_error or "")
        assert await de.conn.fetchval("SELECT count(*) FROM notice_inbox") == 2

        async with conn.transaction():  # a wrong number: refused at DE again, stored nowhere, and corrected
            await outbox.resequence(conn, "DE", 5, actor="test")
        await delivery.deliver_due(pool, settings, de.client, "w1")
        wrong = await outbox.get_notice(conn, uuid.UUID(y))
        assert wrong is not None
        assert (wrong.status, wrong.sequence) == ("queued", 5)
        assert "DE holds this notice under another number" in (wrong.last_error or "")
        assert await de.conn.fetchval("SELECT count(*) FROM notice_inbox") == 2
        async with conn.transaction():  # DE's administrator read Y's number there: 2
            done = await outbox.resequence(conn, "DE", 2, actor="test")
        assert (done.renumbered, done.last_sent_sequence) == (2, 3)
        await _deliver_until(again, de.client, "SELECT bool_and(status = 'delivered') FROM notice_outbox")
        assert await conn.fetchval("SELECT receipt FROM notice_outbox WHERE notice_id = $1", uuid.UUID(y)) == (
            first_receipt  # DE's first receipt, byte for byte: Y is delivered, as it was before the restore
        )
        inbox = await de.conn.fetch("SELECT sequence, notice_id::text FROM notice_inbox ORDER BY sequence")
        assert [(row["sequence"], row["notice_id"]) for row in inbox] == [(1, str(x)), (2, y), (3, later)]
        assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.resequenced'") == 2


async def test_a_notice_is_queued_only_when_its_envelope_fits_256_kib_at_any_sequence(
    at_de: tuple[Registry, Registry],
) -> None:
    """PROTOCOL §3: an envelope is at most 256 KiB. A body one byte too large for that at the longest sequence
    number is refused ``notice-too-large``, nothing queued; the largest one that fits is delivered (202)."""
    at, de = at_de
    longest = Envelope(
        protocol="firearms-exchange/1",
        notice=Notice(
            id=str(uuid.uuid4()),
            type="test.ping",
            sender="AT",
            recipient="DE",
            sequence=2**53 - 1,
            created_at=format_time(utc_now()),
            in_reply_to=None,
            confidentiality="restricted",
            body={"pad": ""},
        ),
        signature=Signature(alg="Ed25519", key_id="f" * 32, value="A" * 86),
    )
    fits = MAX_ENVELOPE_BYTES - len(msgspec.json.encode(longest))
    with pytest.raises(InvalidInputError) as refused:
        async with at.conn.transaction():
            await outbox.enqueue(at.conn, "DE", "test.ping", {"pad": "x" * (fits + 1)})
    assert refused.value.code == "notice-too-large"
    assert refused.value.facts == {"envelope_bytes": MAX_ENVELOPE_BYTES + 1, "max_bytes": MAX_ENVELOPE_BYTES}
    assert await at.conn.fetchval("SELECT count(*) FROM notice_outbox") == 0
    async with at.conn.transaction():  # for no partner on the trust list it is no notice, and refuses nothing
        assert await outbox.enqueue_to(at.conn, ["FR", "IT"], "test.ping", {"pad": "x" * (fits + 1)}) == {}
        await outbox.enqueue(at.conn, "DE", "test.ping", {"pad": "x" * fits})
    assert await delivery.deliver_due(at.pool, at.settings, de.client, "w1") == 1
    assert await de.conn.fetchval("SELECT count(*) FROM notice_inbox") == 1
