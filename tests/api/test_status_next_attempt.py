"""The overview shows when the sender tries a failing partner again (README "Status", ``head_next_attempt_at``).

``firearms notices`` showed each notice's ``next_attempt_at``, but the overview -- where an operator looks first when
a partner is failing -- showed the head's error and attempts only: with a partner's ``Retry-After`` honoured up to an
hour, "it will retry at 07:00" was a guess. The head's next attempt is read by the partners' query, in the overview's
one snapshot, and shown in ``GET /api/v1/status``, ``firearms status --json`` and the table.
"""

from __future__ import annotations

import datetime as dt
import json
import types

import msgspec
import pytest

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import bootstrap, db, outbox, status, tokens
from firearms.canonical import utc_now
from firearms.exchange import delivery
from firearms.settings import Settings
from tests.api.test_status_api import _cli
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import add_partner, partner

__all__ = ["at_de"]

UNAVAILABLE = b'{"type":"tag:firearms-exchange,2026:problems/database-unavailable","title":"Unavailable","detail":"x"}'


def _shown(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


async def test_a_partner_answering_503_with_retry_after_shows_the_retrys_time_in_the_api_and_the_table(
    at_de: tuple[Registry, Registry], database: str
) -> None:
    at, _ = at_de  # AT on the test's database
    settings = msgspec.structs.replace(at.settings, exchange_retry_base=60.0, exchange_retry_cap=60.0)
    async with at.conn.transaction():
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 1})
        await outbox.enqueue(at.conn, "DE", "test.ping", {"n": 2})
    received: list[bytes] = []

    async def unavailable(envelope: bytes) -> tuple[int, bytes, dict[str, str]]:
        received.append(envelope)
        return 503, UNAVAILABLE, {"Retry-After": "1800"}

    async with partner(unavailable) as url, delivery.new_client(settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, settings, client, "w1") == 0
    assert len(received) == 1  # the head alone: the rest of the run waits behind it
    head = await at.conn.fetchrow(
        "SELECT attempts, last_attempt_at, next_attempt_at FROM notice_outbox WHERE sequence = 1"
    )
    assert head is not None
    retry_at: dt.datetime = head["next_attempt_at"]
    assert retry_at - head["last_attempt_at"] >= dt.timedelta(seconds=1800)  # the partner's half hour, honoured

    found = await status.read_status(at.conn, at.settings)
    (de,) = found.partners
    assert (de.queued, de.head_attempts, de.head_last_error) == (2, 1, "HTTP 503 database-unavailable")
    assert de.head_next_attempt_at == retry_at

    secret, _ = await tokens.create_token(at.conn, role="auditor", name="test auditor", actor="test")
    answer = await at.client.get("/api/v1/status", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200, answer.text
    (shown,) = answer.json()["partners"]
    assert dt.datetime.fromisoformat(shown["head_next_attempt_at"]) == retry_at
    assert shown["head_last_error"] == "HTTP 503 database-unavailable"

    table = await _cli(database, at.settings.home)
    (line,) = [line for line in table.stdout.splitlines() if line.startswith("DE ")]
    assert line.endswith(f"attempts 1: HTTP 503 database-unavailable, next attempt {_shown(retry_at)}"), line
    printed = await _cli(database, at.settings.home, "--json")
    (as_json,) = json.loads(printed.stdout)["partners"]
    assert dt.datetime.fromisoformat(as_json["head_next_attempt_at"]) == retry_at


async def test_the_next_attempt_is_the_heads_and_none_without_a_queue(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """An outbox row with failed attempts: its ``next_attempt_at`` exactly, not a later notice's; ``None`` for a
    partner with nothing queued."""
    del initialised
    await add_partner(conn, "DE")
    await add_partner(conn, "FR")
    async with db.transaction(conn):
        for n in range(3):
            await outbox.enqueue(conn, "DE", "test.ping", {"n": n})
    await conn.execute(
        "UPDATE notice_outbox SET sequence = s.n FROM (SELECT notice_id, row_number() OVER (ORDER BY queued_order) AS n"
        " FROM notice_outbox) AS s WHERE notice_outbox.notice_id = s.notice_id"
    )
    retry_at = utc_now().replace(microsecond=123456) + dt.timedelta(minutes=47)
    await conn.execute(
        "UPDATE notice_outbox SET attempts = 4, last_error = 'HTTP 429 quota-exceeded: later', last_attempt_at = now(),"
        " next_attempt_at = $1 WHERE sequence = 1",
        retry_at,
    )
    await conn.execute(
        "UPDATE notice_outbox SET next_attempt_at = $1 WHERE sequence > 1", retry_at - dt.timedelta(hours=1)
    )
    de, fr = (await status.read_status(conn, settings)).partners
    assert (de.head_attempts, de.head_last_error, de.head_next_attempt_at) == (4, "HTTP 429 quota-exceeded", retry_at)
    assert (fr.queued, fr.head_attempts, fr.head_next_attempt_at) == (0, None, None)


async def test_a_stalled_queues_attention_line_says_when_the_sender_tries_again(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """``notices-waiting``: the head's next attempt ahead, due now (the worker's next pass takes it), or due since a
    time past by more than a pass may take (the worker does not run); a disabled partner is sent nothing."""
    del initialised
    await add_partner(conn, "DE")
    async with db.transaction(conn):
        await outbox.enqueue(conn, "DE", "test.ping", {"n": 1})
    oldest = (await status.read_status(conn, settings)).partners[0].oldest_queued_at
    assert oldest is not None
    now = oldest + status.QUEUED_NOTICE_AGE + dt.timedelta(minutes=10)
    retry_at = now + dt.timedelta(minutes=25)
    await conn.execute(
        "UPDATE notice_outbox SET attempts = 3, last_error = 'HTTP 503:', next_attempt_at = $1", retry_at
    )

    def waiting(found: status.Status) -> str:
        (reason,) = [item.reason for item in found.attention if item.code == "notices-waiting"]
        return reason

    ahead = waiting(await status.read_status(conn, settings, now=now))
    assert ahead.endswith(f"(1 queued; the next attempt at {_shown(retry_at)})"), ahead
    due = waiting(await status.read_status(conn, settings, now=retry_at + status.NEXT_ATTEMPT_LATE))
    assert due.endswith(f"(1 queued; the next attempt due now (at {_shown(retry_at)}))"), due
    late_by = status.NEXT_ATTEMPT_LATE + dt.timedelta(seconds=1)
    late = waiting(await status.read_status(conn, settings, now=retry_at + late_by))
    assert late.endswith(f"(1 queued; the next attempt due since {_shown(retry_at)}: is the worker running?)"), late
    await conn.execute("UPDATE peer SET enabled = false WHERE state = 'DE'")
    disabled = waiting(await status.read_status(conn, settings, now=now))
    assert disabled.endswith("(1 queued; none is sent while it is disabled)"), disabled


async def test_the_next_attempt_is_judged_on_the_database_clock_the_worker_schedules_on(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The overview's host reads ten minutes ahead of the database's clock: a head whose retry the worker takes in a
    minute (on the database's clock) read as 'due since ...: is the worker running?' on the overview's."""
    del initialised
    await add_partner(conn, "DE")
    # queued two hours ago: notices-waiting says when the head is tried again
    monkeypatch.setattr(outbox, "utc_now", lambda: utc_now() - dt.timedelta(hours=2))
    async with db.transaction(conn):
        await outbox.enqueue(conn, "DE", "test.ping", {"n": 1})
    retry_at = await conn.fetchval(
        "UPDATE notice_outbox SET attempts = 3, last_error = 'HTTP 503:', next_attempt_at = now() + interval '1 minute'"
        " RETURNING next_attempt_at"
    )

    class Ahead(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Ahead:
            real = dt.datetime.now(tz) + dt.timedelta(minutes=10)
            return cls.combine(real.date(), real.timetz())

    ahead = types.SimpleNamespace(**{name: getattr(dt, name) for name in dir(dt) if not name.startswith("__")})
    ahead.datetime = Ahead
    monkeypatch.setattr(status, "dt", ahead)
    found = await status.read_status(conn, settings)
    (reason,) = [item.reason for item in found.attention if item.code == "notices-waiting"]
    assert reason.endswith(f"(1 queued; the next attempt at {_shown(retry_at)})"), reason
