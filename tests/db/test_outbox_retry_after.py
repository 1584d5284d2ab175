"""The sender honours a partner's ``Retry-After`` on a 429 or a 503 (RFC 9110 §10.2.3), within a bound."""

from __future__ import annotations

import datetime as dt
import email.utils

import msgspec
import pytest

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import keys, outbox
from firearms.exchange import delivery
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import partner, signed_receipt

__all__ = ["at_de"]

QUOTA = b'{"type":"tag:firearms-exchange,2026:problems/quota-exceeded","title":"Quota exceeded","detail":"over"}'


async def _refused_then_accepted(
    at: Registry, de: Registry, status: int, header: str | None
) -> tuple[dt.timedelta, list[bytes]]:
    """AT sends one notice to a partner answering ``status`` with ``header`` once, then a receipt.

    Returns how far ahead of the failed attempt the retry was scheduled, and the bytes the partner received.
    The back-off is a minute (not the fixtures' 0.05 s, which a loaded machine could meet within one call): a retry
    later than that is the header's doing. Time is moved by setting ``next_attempt_at``, as the other delivery tests
    do.
    """
    settings = msgspec.structs.replace(at.settings, exchange_retry_base=60.0, exchange_retry_cap=60.0)
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 1})
    de_key = await keys.current_signing_key(de.conn, de.settings.home)
    received: list[bytes] = []

    async def answering(envelope: bytes) -> tuple[int, bytes] | tuple[int, bytes, dict[str, str]]:
        received.append(envelope)
        if len(received) == 1:
            return status, QUOTA, ({} if header is None else {"Retry-After": header})
        return 202, signed_receipt(envelope, de_key)

    async with partner(answering) as url, delivery.new_client(settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, settings, client, "w1") == 0
        row = await at.conn.fetchrow(
            "SELECT status, attempts, last_error, next_attempt_at - last_attempt_at AS ahead FROM notice_outbox"
        )
        assert row is not None
        assert (row["status"], row["attempts"]) == ("queued", 1)
        assert row["last_error"].startswith(f"HTTP {status}")
        # what `firearms notices` (and GET /api/v1/notices) shows: the error's kind and the time of the next attempt
        (shown,) = await outbox.list_notices(at.conn, before=None, status="queued", recipient="DE", limit=10)
        assert shown.last_error == row["last_error"]
        assert shown.last_attempt_at is not None
        assert shown.next_attempt_at - shown.last_attempt_at == row["ahead"]
        # nothing more is sent before then: the worker finds nothing due
        assert await delivery.deliver_due(at.pool, settings, client, "w1") == 0
        assert len(received) == 1
        await at.conn.execute("UPDATE notice_outbox SET next_attempt_at = now()")  # the time has come
        assert await delivery.deliver_due(at.pool, settings, client, "w1") == 1
    assert await at.conn.fetchval("SELECT status FROM notice_outbox") == "delivered"
    return row["ahead"], received


@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_in_seconds_is_waited_for_then_the_same_bytes_are_sent(
    at_de: tuple[Registry, Registry], status: int
) -> None:
    at, de = at_de
    ahead, received = await _refused_then_accepted(at, de, status, "120")
    assert dt.timedelta(seconds=120) <= ahead <= dt.timedelta(seconds=120 * (1 + delivery.RETRY_AFTER_JITTER) + 1)
    assert len(received) == 2
    assert received[0] == received[1]


async def test_a_retry_after_as_an_http_date_is_waited_for(at_de: tuple[Registry, Registry]) -> None:
    at, de = at_de
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600), usegmt=True)
    ahead, received = await _refused_then_accepted(at, de, 429, when)
    # the date has whole seconds: up to one less than asked from the moment it was written
    assert dt.timedelta(seconds=598) <= ahead <= dt.timedelta(seconds=600 * (1 + delivery.RETRY_AFTER_JITTER) + 1)
    assert received[0] == received[1]


@pytest.mark.parametrize("header", ["86400", "31536000", "9" * 5000])
async def test_a_retry_after_of_a_day_or_a_year_is_honoured_only_up_to_the_bound(
    at_de: tuple[Registry, Registry], header: str
) -> None:
    at, de = at_de
    ahead, received = await _refused_then_accepted(at, de, 429, header)
    bound = delivery.RETRY_AFTER_MAX
    assert dt.timedelta(seconds=bound) <= ahead <= dt.timedelta(seconds=bound * (1 + delivery.RETRY_AFTER_JITTER) + 1)
    assert received[0] == received[1]


@pytest.mark.parametrize("header", [None, "soon", "-5", "0", "1.5", "Tue, 01 Dec 2020 10:00:00 GMT"])
async def test_a_retry_after_absent_malformed_negative_or_past_falls_back_to_the_back_off(
    at_de: tuple[Registry, Registry], header: str | None
) -> None:
    at, de = at_de
    ahead, received = await _refused_then_accepted(at, de, 429, header)
    assert dt.timedelta(seconds=30) <= ahead <= dt.timedelta(seconds=60)  # the back-off's minute, jitter below it
    assert received[0] == received[1]


async def test_a_retry_after_on_another_status_is_not_read(at_de: tuple[Registry, Registry]) -> None:
    at, de = at_de
    ahead, _ = await _refused_then_accepted(at, de, 500, "120")
    assert ahead <= dt.timedelta(seconds=60)


def test_retry_after_parses_seconds_and_dates_within_the_bound() -> None:
    now = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    assert delivery.retry_after("120", now) == 120.0
    assert delivery.retry_after(" 7 ", now) == 7.0
    assert delivery.retry_after("Tue, 01 Dec 2026 10:02:00 GMT", now) == 120.0
    assert delivery.retry_after("Tuesday, 01-Dec-26 10:02:00 GMT", now) == 120.0
    assert delivery.retry_after("Tue Dec  1 10:02:00 2026", now) == 120.0
    assert delivery.retry_after("100000", now) == delivery.RETRY_AFTER_MAX
    assert delivery.retry_after("Fri, 01 Dec 2028 10:00:00 GMT", now) == delivery.RETRY_AFTER_MAX
    for bad in (None, "", "soon", "-1", "0", "1e3", "١٢٠", "Tue, 01 Dec 2026 09:59:00 GMT", "Tue, 32 Dec 2026"):
        assert delivery.retry_after(bad, now) is None, bad
