"""Every worker schedules the outbox on the database's clock, whatever its host's clock reads (PROTOCOL §4 "Sending").

A registry may run its worker on two hosts (or the service's processes on several) against one database. When
their clocks differ by minutes, a worker whose clock runs ahead sent at once a retry another had put off (one that
honoured a partner's ``Retry-After``, say, knocking on its quota again) and took a lease another worker still held;
one whose clock runs behind read every retry the other scheduled as set by a clock since set back, and sent it at
once. The worker's clock is moved here as another host's would be: the delivery module reads a clock minutes off
the database's, while the database's reads now.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import types
import uuid

import httpx
import msgspec
import pytest

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import canonical, keys, outbox
from firearms.exchange import delivery
from firearms.settings import Settings
from tests.db.test_outbox_delivery import _restored_after_notice_1
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import partner, signed_receipt

__all__ = ["at_de"]

QUOTA = b'{"type":"tag:firearms-exchange,2026:problems/quota-exceeded","title":"Quota exceeded","detail":"over"}'


def _host_clock(monkeypatch: pytest.MonkeyPatch, offset: dt.timedelta) -> None:
    """The worker's host clock (what the delivery module reads) ``offset`` off the database's."""

    class Skewed(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Skewed:
            real = dt.datetime.now(tz) + offset
            return cls.combine(real.date(), real.timetz())

    skewed = types.SimpleNamespace(**{name: getattr(dt, name) for name in dir(dt) if not name.startswith("__")})
    skewed.datetime = Skewed
    monkeypatch.setattr(delivery, "dt", skewed)


def _slow(settings: Settings) -> Settings:
    """A back-off of a minute: a failed notice is not due again within the test, whatever the machine's load."""
    return msgspec.structs.replace(settings, exchange_retry_base=60.0, exchange_retry_cap=60.0)


@pytest.mark.parametrize("offset", [dt.timedelta(minutes=15), dt.timedelta(minutes=-5)])
async def test_a_worker_whose_clock_differs_does_not_send_a_retry_another_put_off(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch, offset: dt.timedelta
) -> None:
    # One worker met a partner over its quota, which asked for 10 minutes (Retry-After: 600). A second worker
    # whose host clock reads 15 minutes ahead sent the retry at once (due by its clock); one whose clock reads 5
    # minutes behind did too (the last attempt lay ahead of its clock: "a clock set back").
    at, de = at_de
    settings = _slow(at.settings)
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 1})
    de_key = await keys.current_signing_key(de.conn, de.settings.home)
    received: list[bytes] = []

    async def answering(envelope: bytes) -> tuple[int, bytes] | tuple[int, bytes, dict[str, str]]:
        received.append(envelope)
        if len(received) == 1:
            return 429, QUOTA, {"Retry-After": "600"}
        return 202, signed_receipt(envelope, de_key)

    async with partner(answering) as url, delivery.new_client(settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, settings, client, "w1") == 0
        ahead = await at.conn.fetchval("SELECT next_attempt_at - now() FROM notice_outbox")
        assert dt.timedelta(seconds=590) <= ahead <= dt.timedelta(seconds=600 * (1 + delivery.RETRY_AFTER_JITTER))
        _host_clock(monkeypatch, offset)
        assert await delivery.deliver_due(at.pool, settings, client, "w2") == 0
        assert len(received) == 1
        row = await at.conn.fetchrow("SELECT status, attempts, lease_owner FROM notice_outbox")
        assert row is not None
        assert (row["status"], row["attempts"], row["lease_owner"]) == ("queued", 1, None)
        # once the database's clock reaches the retry, the worker whose clock differs sends it
        await at.conn.execute("UPDATE notice_outbox SET next_attempt_at = now()")
        assert await delivery.deliver_due(at.pool, settings, client, "w2") == 1
    assert len(received) == 2
    assert received[0] == received[1]


async def test_a_worker_whose_clock_runs_ahead_does_not_take_a_run_another_holds(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lease lasts two minutes and the exchange timeout: a worker whose clock read five minutes ahead judged it
    # run out at once, and sent the notice at the same time as the worker holding it.
    at, _ = at_de
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 1})
    (held,) = await delivery.claim(at.pool, at.settings, "w1")
    assert len(held.notices) == 1
    _host_clock(monkeypatch, dt.timedelta(minutes=5))
    assert await delivery.claim(at.pool, at.settings, "w2") == []
    assert await at.conn.fetchval("SELECT lease_owner FROM notice_outbox") == "w1"
    # its own lease runs out on the database's clock, not its host's
    await at.conn.execute("UPDATE notice_outbox SET lease_owner = NULL, lease_until = NULL")
    (taken,) = await delivery.claim(at.pool, at.settings, "w2")
    assert len(taken.notices) == 1
    lease = await at.conn.fetchval("SELECT lease_until - now() FROM notice_outbox")
    longest = delivery.LEASE + dt.timedelta(seconds=at.settings.exchange_timeout)
    assert longest - dt.timedelta(seconds=30) <= lease <= longest


async def test_a_failed_attempt_is_recorded_on_the_database_clock(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `firearms notices` shows and every worker compares: when the attempt was made and when the next is due.
    at, _ = at_de
    await at.conn.execute("UPDATE peer SET base_url = 'http://127.0.0.1:9' WHERE state = 'DE'")
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 1})
    _host_clock(monkeypatch, dt.timedelta(hours=1))
    async with delivery.new_client(at.settings) as client:
        # a retry scheduled or attempted on the host's clock is due at once on the database's: it would loop
        await asyncio.wait_for(delivery.deliver_due(at.pool, _slow(at.settings), client, "w1"), timeout=30)
    row = await at.conn.fetchrow(
        "SELECT attempts, last_error, now() - last_attempt_at AS since, next_attempt_at - now() AS until"
        " FROM notice_outbox"
    )
    assert row is not None
    assert row["attempts"] == 1
    assert row["last_error"].startswith("network:")
    assert dt.timedelta(0) <= row["since"] <= dt.timedelta(seconds=30)
    assert dt.timedelta(seconds=0) < row["until"] <= dt.timedelta(seconds=60)


async def test_a_notice_queued_by_a_host_whose_clock_runs_ahead_is_due_at_once(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service's process that queued it reads four minutes ahead (within the 300 s a partner allows a notice's
    # created_at): its notice waited four minutes for a worker on the database's clock.
    at, de = at_de
    monkeypatch.setattr(outbox, "utc_now", lambda: canonical.utc_now() + dt.timedelta(minutes=4))
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 1})
    assert await delivery.deliver_due(at.pool, _slow(at.settings), de.client, "w1") == 1
    assert await at.conn.fetchval("SELECT status FROM notice_outbox") == "delivered"


def _host_slept(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The worker's host slept ``seconds`` and the clock the delivery module keeps time by did not count them.

    Linux's CLOCK_MONOTONIC stops while the host is suspended (the module keeps time by CLOCK_BOOTTIME, which does
    not, where there is one; a VM paused by its hypervisor may not be counted either): from here on the module's
    clock reads ``seconds`` less than the time the database's clock has moved on since the run was claimed.
    """
    real = delivery._ticks  # the clock the module keeps time by
    monkeypatch.setattr(delivery, "_ticks", lambda: real() - seconds)


async def test_a_retry_put_off_after_the_host_slept_is_timed_on_the_database_clock(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The partner asked for 10 minutes (Retry-After: 600) while the host slept 10 minutes: the run's clock, carried
    # on by the monotonic clock from the claim, read 10 minutes behind the database's, and the retry was scheduled
    # for about now -- sent again at once, knocking on the partner's quota.
    at, de = at_de
    settings = _slow(at.settings)
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 1})
    de_key = await keys.current_signing_key(de.conn, de.settings.home)
    received: list[bytes] = []

    async def answering(envelope: bytes) -> tuple[int, bytes] | tuple[int, bytes, dict[str, str]]:
        received.append(envelope)
        if len(received) == 1:
            _host_slept(monkeypatch, 600)
            return 429, QUOTA, {"Retry-After": "600"}
        return 202, signed_receipt(envelope, de_key)

    async with partner(answering) as url, delivery.new_client(settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, settings, client, "w1") == 0
    assert len(received) == 1
    ahead = await at.conn.fetchval("SELECT next_attempt_at - now() FROM notice_outbox")
    assert dt.timedelta(seconds=590) <= ahead <= dt.timedelta(seconds=600 * (1 + delivery.RETRY_AFTER_JITTER))


async def test_a_receipt_after_the_host_slept_is_recorded_on_the_database_clock(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `firearms notices` and the status overview show as the notice's delivery: not 10 minutes in the past.
    at, de = at_de
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 1})

    async def sleeps(_request: object) -> None:
        _host_slept(monkeypatch, 600)

    de.client.event_hooks = {"request": [sleeps], "response": []}
    assert await delivery.deliver_due(at.pool, at.settings, de.client, "w1") == 1
    since = await at.conn.fetchval("SELECT now() - delivered_at FROM notice_outbox WHERE status = 'delivered'")
    assert dt.timedelta(seconds=-1) <= since <= dt.timedelta(seconds=30)


@pytest.mark.parametrize("taken_over", [True, False], ids=["taken-over", "running-out"])
async def test_a_run_whose_lease_ran_out_while_its_host_slept_sends_nothing_more(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch, *, taken_over: bool
) -> None:
    # The host slept while the run was under way, past the run's lease on the database's clock; a worker on
    # another host took the run over. The monotonic clock the run's time was kept on did not count the sleep (its
    # half lease not spent): the resumed run went on posting the notices the other worker now sends, each sent
    # twice at once. Here the lease runs out on the database's clock while the host's monotonic clock stands still;
    # a lease with less left than a post may take is as good as run out (another worker takes it mid-post). Every
    # post is made under the poster's own lease with more than half of it left.
    at, de = at_de
    monkeypatch.setattr(delivery, "RECHECK", 0.0)  # the run looks again before each notice
    async with at.conn.transaction():
        for number in range(3):
            await outbox.enqueue(at.conn, "DE", "test.ping", {"n": number})
    posted: list[tuple[int, str, dt.timedelta]] = []
    taken: list[delivery.Run] = []

    async def sleeps_during_the_first(request: httpx.Request) -> None:
        notice = msgspec.json.decode(request.content)["notice"]
        lease = await at.conn.fetchrow(
            "SELECT lease_owner, lease_until - now() AS left FROM notice_outbox WHERE notice_id = $1",
            uuid.UUID(notice["id"]),
        )
        assert lease is not None
        posted.append((notice["sequence"], lease["lease_owner"], lease["left"]))
        if len(posted) == 1 and taken_over:
            await at.conn.execute("UPDATE notice_outbox SET lease_until = now() - interval '1 second'")
            taken.extend(await delivery.claim(at.pool, at.settings, "w2"))
        elif len(posted) == 1:
            await at.conn.execute("UPDATE notice_outbox SET lease_until = now() + interval '5 seconds'")

    de.client.event_hooks = {"request": [sleeps_during_the_first], "response": []}
    await delivery.deliver_due(at.pool, at.settings, de.client, "w1")
    assert [(owner, left > delivery.LEASE / 2) for _, owner, left in posted] == [("w1", True)] * len(posted)
    rows = await at.conn.fetch("SELECT status, lease_owner FROM notice_outbox ORDER BY sequence")
    if taken_over:
        assert [sequence for sequence, *_ in posted] == [1]
        assert [len(run.notices) for run in taken] == [3]
        assert [(row["status"], row["lease_owner"]) for row in rows] == [("queued", "w2")] * 3
    else:  # the rest was given back and sent under a new lease
        assert [sequence for sequence, *_ in posted] == [1, 2, 3]
        assert [(row["status"], row["lease_owner"]) for row in rows] == [("delivered", None)] * 3


async def test_notices_resequenced_on_a_host_whose_clock_runs_ahead_are_due_at_once(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `peers resequence` run on a host four minutes ahead: the renumbered notices waited four minutes for a worker
    # on the database's clock. AT restored a backup taken after notice 1; DE holds 2 and 3.
    at, de = at_de
    for number in range(3):
        async with at.conn.transaction():
            await outbox.enqueue(at.conn, "DE", "test.ping", {"n": number})
        assert await delivery.deliver_due(at.pool, at.settings, de.client, "w1") == 1
    await _restored_after_notice_1(at.conn)
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 3})
    assert await delivery.deliver_due(at.pool, _slow(at.settings), de.client, "w1") == 0  # DE expects 4
    monkeypatch.setattr(outbox, "utc_now", lambda: canonical.utc_now() + dt.timedelta(minutes=4))
    async with at.conn.transaction():
        await outbox.resequence(at.conn, "DE", 4, actor="test")
    assert await delivery.deliver_due(at.pool, _slow(at.settings), de.client, "w1") == 1
    assert await de.conn.fetchval("SELECT max(sequence) FROM notice_inbox") == 4


async def test_a_run_resumed_after_a_suspend_posts_nothing_before_it_looks_at_its_lease(
    at_de: tuple[Registry, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run looks at its lease every RECHECK s; kept by the monotonic clock, which does not count a suspend (Linux's
    # CLOCK_MONOTONIC; CLOCK_BOOTTIME does), a run resumed after its lease ran out went on posting for up to a
    # second before it looked: a whole run, to a partner that answers in milliseconds, each notice sent twice at once.
    at, de = at_de
    async with at.conn.transaction():
        for number in range(3):
            await outbox.enqueue(at.conn, "DE", "test.ping", {"n": number})
    posted: list[int] = []
    taken: list[delivery.Run] = []
    real = time.clock_gettime
    slept = 0.0
    suspended = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
    suspended.clock_gettime = lambda clock: real(clock) + (slept if clock == time.CLOCK_BOOTTIME else 0.0)
    monkeypatch.setattr(delivery, "time", suspended)

    async def suspended_during_the_first(request: httpx.Request) -> None:
        nonlocal slept
        posted.append(msgspec.json.decode(request.content)["notice"]["sequence"])
        if len(posted) == 1:  # ten minutes asleep: the run's lease ran out, another worker took the run
            slept = 600.0
            await at.conn.execute("UPDATE notice_outbox SET lease_until = now() - interval '1 second'")
            taken.extend(await delivery.claim(at.pool, at.settings, "w2"))

    de.client.event_hooks = {"request": [suspended_during_the_first], "response": []}
    await delivery.deliver_due(at.pool, at.settings, de.client, "w1")
    assert posted == [1]
    assert [len(run.notices) for run in taken] == [3]
    rows = await at.conn.fetch("SELECT status, lease_owner FROM notice_outbox ORDER BY sequence")
    assert [(row["status"], row["lease_owner"]) for row in rows] == [("queued", "w2")] * 3
