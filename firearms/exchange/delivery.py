"""Delivering the outbox (PROTOCOL §4 "Sending"): per recipient, strictly in sequence, one at a time.

A worker leases a *run* of every recipient's queue -- its lowest queued notice and up to
:data:`RUN` - 1 after it (``FOR UPDATE SKIP LOCKED`` in :func:`claim`, so two workers never hold the
same notice) -- and signs each notice once (the bytes are kept, so a retry sends exactly the same
bytes). It then posts the run's notices one at a time, outside any transaction: the next only after
the previous one's receipt has verified. Verified receipts are recorded together when the run ends
(``delivered``, or ``rejected`` when the partner stored the notice as such); losing them in a crash
only repeats deliveries, which the partner answers with the same receipts. The first notice that
fails ends the run: a network error, a 5xx or a 429 -- or any other refusal -- schedules its retry
with capped exponential back-off and jitter (no earlier than a 429's or 503's ``Retry-After`` asks, up to
:data:`RETRY_AFTER_MAX`), ``/sequence-gap`` queues everything from
``expected_sequence`` again, ``/notice-id-conflict`` is kept on the notice for ``peers resequence``, and the rest
of the run is released unsent. So is the rest of a run whose
recipient an administrator disabled while it was under way (the run looks again every :data:`RECHECK` s).

Every time the outbox's scheduling stores or compares -- when a retry is due, when a lease ends, when an attempt
was made, when the next one is -- is the database's clock (:class:`DatabaseClock`, read at each claim and again as a
run looks at its lease; a retry's time and ``delivered_at`` read by the statement that records them), never the
host's: workers on hosts whose clocks differ by minutes (or the service's processes on several) agree on them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import aiohttp
import httpx
import msgspec

from firearms import journal, keys, outbox
from firearms.canonical import format_time, key_named_twice, parse_time
from firearms.errors import ConfigError
from firearms.exchange import trust
from firearms.exchange.checks import TrustedKey, key_validity
from firearms.exchange.protocol import (
    MAX_ENVELOPE_BYTES,
    Envelope,
    Notice,
    decode_receipt,
    digest_of,
    encode,
    notice_signing_input,
    sign_notice,
    verify_receipt_signature,
)
from firearms.store import outbox as store
from firearms.text_rules import printable

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn, Pool
    from firearms.settings import Settings

__all__ = [
    "LEASE",
    "PARKED",
    "RECHECK",
    "RETRY_AFTER_JITTER",
    "RETRY_AFTER_MAX",
    "RUN",
    "Client",
    "DatabaseClock",
    "backoff",
    "claim",
    "database_clock",
    "deliver_due",
    "new_client",
    "new_worker_id",
    "retry_after",
]

log = logging.getLogger("firearms.exchange")
LEASE = dt.timedelta(seconds=120)  # a run starts no post after half of it; its lease lasts the exchange timeout longer
RUN = 64  # notices leased at once per recipient
RECHECK = 1.0  # seconds a run sends before it looks again whether the recipient is still enabled
PARKED = dt.timedelta(seconds=60)  # a notice only an administrator can unblock is tried again this often
# The longest a partner's Retry-After (on a 429 or a 503) is honoured: a partner's quota window is an hour, and one
# asking for a day or a year must not stall its queue for ever. The retry comes up to a tenth later (jitter above it).
RETRY_AFTER_MAX = 3600.0
RETRY_AFTER_JITTER = 0.1

# The worker posts with aiohttp (its client costs half of httpx's per request: bench/RESULTS.md); an
# httpx client is accepted too, which lets tests deliver to an app in the same process.
Client: TypeAlias = "aiohttp.ClientSession | httpx.AsyncClient"


def new_client(settings: Settings) -> aiohttp.ClientSession:
    """The worker's HTTP client: keep-alive connections to partners, the exchange timeout on every request."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.exchange_timeout))


def new_worker_id() -> str:
    """A name for this worker in leases: host, process, random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff(attempts: int, *, base: float, cap: float) -> float:
    """Seconds before the next attempt: ``base * 2^(attempts-1)``, capped, with full jitter in its upper half."""
    delay: float = min(cap, base * float(2 ** min(attempts - 1, 30)))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not cryptography


def retry_after(value: str | None, now: dt.datetime) -> float | None:
    """The seconds a ``Retry-After`` header asks to wait (RFC 9110 §10.2.3), at most :data:`RETRY_AFTER_MAX`.

    A number of seconds or an HTTP-date; ``None`` when the header is absent, malformed, negative or a date not
    after ``now``: the sender then keeps its own back-off.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # more digits than an hour has are over the bound (and int() of thousands of digits is refused)
        seconds = RETRY_AFTER_MAX if len(value) > 10 else float(int(value))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": RFC 5322's unknown zone; an HTTP-date is always GMT
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - now).total_seconds()
    if seconds <= 0:
        return None
    return min(seconds, RETRY_AFTER_MAX)


def _ticks() -> float:
    """Seconds on this host's boot clock: monotonic, and counting the time the host was suspended.

    ``time.monotonic()`` (Linux's CLOCK_MONOTONIC) stands still while the host is suspended: a run resumed after a
    sleep past its lease would go on posting until it next looks at the lease (:data:`RECHECK`). CLOCK_BOOTTIME
    counts the sleep; the monotonic clock where there is none.
    """
    boot: int | None = getattr(time, "CLOCK_BOOTTIME", None)
    return time.monotonic() if boot is None else time.clock_gettime(boot)


@dataclass(frozen=True)
class DatabaseClock:
    """The database's clock, read once (:func:`database_clock`), carried on by the host's boot clock (:func:`_ticks`).

    The outbox is scheduled on it, not on the host's wall clock: a worker whose host clock ran minutes ahead sent
    at once a retry another worker had put off (a partner's Retry-After among them) and took leases still held;
    one whose clock ran behind took every retry the other scheduled for one set by a clock since set back. One
    read per claim: no round trip per notice. A run lasts at most a lease, so the boot clock's drift from
    the database's over it is nothing. Where the host's clock does not count a suspend (a VM paused by its
    hypervisor, a system without CLOCK_BOOTTIME), the run reads it again with its lease (every :data:`RECHECK` s),
    and what is recorded after an answer (a retry's time, ``delivered_at``) is read from the database's clock by
    the recording statement.
    """

    read: dt.datetime  # the database's clock_timestamp()
    at: float  # _ticks() just after it was read

    def now(self) -> dt.datetime:
        """The database's time now."""
        return self.read + dt.timedelta(seconds=_ticks() - self.at)


async def database_clock(conn: Conn) -> DatabaseClock:
    """Read the database's clock (one round trip): the clock every worker schedules the outbox on."""
    read = await store.get_database_clock(conn)
    return DatabaseClock(read, _ticks())


@dataclass
class Run:
    """Consecutive notices of one recipient leased to this worker, signed, with the recipient's keys."""

    recipient: str
    notices: list[tuple[asyncpg.Record, bytes, str]]  # the row, the signed bytes, the digest a receipt names
    trusted: list[TrustedKey]
    clock: DatabaseClock  # read when the run was claimed, again as it looks at its lease: its attempts' times
    receipts: list[tuple[asyncpg.Record, str, bytes, str | None, dt.datetime, dict[str, Any]]] = field(
        default_factory=list
    )


async def claim(pool: Pool, settings: Settings, worker: str) -> list[Run]:
    """Lease a run of every enabled recipient's due notices to ``worker`` and sign those not yet signed.

    Numbering first, in its own transaction; then one short transaction for the leases, the signed
    bytes and the recipients' keys. The part of a run that does not start at the recipient's head
    without a hole (another worker took some of it) is released at once.
    """
    async with pool.acquire() as conn:
        await outbox.number_queued(conn)
        async with conn.transaction():
            clock = await database_clock(conn)
            now = clock.now()
            await store.relax_commit(conn)
            by_recipient: dict[str, list[asyncpg.Record]] = {}
            # the last post may start at LEASE / 2 and take the whole timeout, which may exceed LEASE / 2
            lease_until = now + LEASE + dt.timedelta(seconds=settings.exchange_timeout)
            # No retry is scheduled further ahead than this (the back-off cap, PARKED, or a partner's Retry-After
            # honoured): one that is was scheduled by a clock since set back, and waits no longer (a wall-clock jump
            # back must not stall a queue for hours).
            honoured = dt.timedelta(seconds=RETRY_AFTER_MAX * (1 + RETRY_AFTER_JITTER))
            retry_limit = now + max(dt.timedelta(seconds=settings.exchange_retry_cap), PARKED, honoured)
            for row in await store.claim_outbox_runs(conn, now, lease_until, worker, RUN, retry_limit):
                by_recipient.setdefault(row["recipient"], []).append(row)
            runs: list[Run] = []
            release: list[uuid.UUID] = []
            signed: list[tuple[uuid.UUID, bytes]] = []
            for recipient, rows in by_recipient.items():
                rows.sort(key=lambda row: row["sequence"])
                notices: list[tuple[asyncpg.Record, bytes, str]] = []
                cut = False
                for row in rows:
                    if cut or row["sequence"] != row["head_sequence"] + len(notices):
                        cut = True
                        release.append(row["notice_id"])
                        continue
                    try:
                        raw, digest = _signed(settings, row)
                    except (ConfigError, OSError, ValueError, RuntimeError) as exc:  # must not stop other recipients
                        log.error("cannot sign notice %s: %s", row["notice_id"], exc)
                        retry_in = _retry_in(settings, row["attempts"] + 1)
                        await store.record_outbox_failure(
                            conn, row["notice_id"], worker, f"signing: {exc}", retry_in, now
                        )
                        cut = True
                        continue
                    notices.append((row, raw, digest))
                    if row["envelope"] is None:
                        signed.append((row["notice_id"], raw))
                if notices:
                    runs.append(Run(recipient, notices, await trust.trusted_keys(conn, recipient) or [], clock))
            if release:
                await store.release_outbox_leases(conn, release, worker)
            if signed:
                await store.set_outbox_envelopes(
                    conn, [notice_id for notice_id, _ in signed], [raw for _, raw in signed]
                )
    return runs


def _signed(settings: Settings, row: asyncpg.Record) -> tuple[bytes, str]:
    """The notice's signed bytes and the digest of its signing input (what its receipt must name).

    The kept bytes when it was signed before, else a new signature with the key the claim named.
    """
    if row["envelope"] is not None:
        raw = bytes(row["envelope"])
        return raw, digest_of(notice_signing_input(msgspec.json.decode(raw, type=Envelope).notice))
    if row["key_id"] is None:
        raise RuntimeError(f"no signing key of this registry is valid at {format_time(row['created_at'])}")
    notice = Notice(
        id=str(row["notice_id"]),
        type=row["type"],
        sender=settings.state,
        recipient=row["recipient"],
        sequence=row["sequence"],
        created_at=format_time(row["created_at"]),
        in_reply_to=row["in_reply_to"],
        confidentiality=row["confidentiality"],
        body=row["body"],
    )
    signing_input = notice_signing_input(notice)
    key = keys.signing_key(settings.home, row["key_id"])
    return encode(sign_notice(notice, key, signing_input)), digest_of(signing_input)


async def deliver_due(pool: Pool, settings: Settings, client: Client, worker: str) -> int:
    """Deliver until nothing is due; recipients are served side by side, each strictly in order.

    A slow partner does not hold up the others: as soon as one run ends, the queues of every
    recipient not in flight are claimed again (an in-flight run is leased, so it is never claimed twice).

    Returns:
        The number of notices acknowledged by a receipt in this call.
    """
    total = 0
    running: set[asyncio.Task[int]] = set()
    try:
        while True:
            for run in await claim(pool, settings, worker):
                running.add(asyncio.create_task(_deliver_run(pool, settings, client, worker, run)))
            if not running:
                return total
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            total += sum(task.result() for task in done)
    finally:
        if running:  # a failed claim: let the deliveries in flight finish and record their outcome
            await asyncio.gather(*running, return_exceptions=True)


async def _deliver_run(pool: Pool, settings: Settings, client: Client, worker: str, run: Run) -> int:
    """Post the run's notices one at a time until one fails or half the lease is spent; then record all.

    A run that lasts looks again, about every :data:`RECHECK` seconds, whether the recipient is still
    enabled: an administrator who disables a partner holds its notices from then on, not after the run.
    It looks at its lease too, on the database's clock, which it reads again: where the host's clock does not count
    a suspend (:func:`_ticks`), a run resumed after its lease ran out (another worker may have taken it) would send
    the notices that worker sends, each twice at once.
    """
    ends_at = _ticks() + LEASE.total_seconds() / 2  # counting a suspend: a run resumed after its lease stops at once
    checked_at = _ticks()
    # the lease left when no post may start any more: a post started then may take the whole timeout (see claim)
    least = LEASE / 2 + dt.timedelta(seconds=settings.exchange_timeout)
    sent = 0
    try:
        for head, raw, digest in run.notices:
            now = _ticks()
            if now > ends_at:
                break
            if now - checked_at > RECHECK:
                checked_at = now
                async with pool.acquire() as conn:
                    row = await store.get_outbox_lease(conn, run.recipient, head["notice_id"], worker)
                run.clock = DatabaseClock(row["now"], _ticks())
                if not row["enabled"] or row["lease_until"] is None or row["lease_until"] - row["now"] < least:
                    break
            sent += 1
            if not await _deliver(pool, settings, client, worker, run, head, raw, digest):
                break
    finally:
        await _record_run(pool, worker, run, [head["notice_id"] for head, *_ in run.notices[sent:]])
    return len(run.receipts)


async def _deliver(
    pool: Pool,
    settings: Settings,
    client: Client,
    worker: str,
    run: Run,
    head: asyncpg.Record,
    raw: bytes,
    digest: str,
) -> bool:
    """One attempt; ``True`` when a verified receipt came back (kept in ``run.receipts``)."""
    attempted_at = run.clock.now()
    try:
        status, content, asked = await _post(
            client, head["base_url"] + "/exchange/v1/notices", raw, settings.exchange_timeout, str(head["notice_id"])
        )
    except (aiohttp.ClientError, httpx.HTTPError, OSError, TimeoutError) as exc:
        await _failed(pool, settings, worker, head, attempted_at, f"network: {type(exc).__name__}: {exc}")
        return False
    if status in (200, 202):
        error = await _receipt(pool, settings, run, head, digest, content, attempted_at)
        if error is None:
            return True
        await _failed(pool, settings, worker, head, attempted_at, error)
        return False
    # PROTOCOL §4 retries a 429 or a 503 as any refusal; the partner's Retry-After says how long it needs
    wait = retry_after(asked, run.clock.now()) if status in (429, 503) else None
    problem = _problem(content)
    kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
    expected = problem.get("expected_sequence")
    # a sequence, which starts at 1 (a bool is an int in Python); anything else would requeue the whole history
    if status == 409 and kind == "sequence-gap" and type(expected) is int and expected >= 1:
        await _gap(pool, worker, head, attempted_at, expected)
        return False
    if status == 409 and kind == "notice-id-conflict":
        await _id_conflict(pool, worker, head, attempted_at)
        return False
    detail = problem.get("detail") or content[:200].decode("utf-8", errors="replace")
    named = f"HTTP {status} {kind}" if kind else f"HTTP {status}"
    await _failed(pool, settings, worker, head, attempted_at, f"{named}: {detail}".strip(), wait)
    return False


async def _post(client: Client, url: str, raw: bytes, seconds: float, notice_id: str) -> tuple[int, bytes, str | None]:
    """POST an envelope within ``seconds``; the status, the body (over 256 KiB is an error) and any Retry-After.

    The notice id goes as ``X-Request-Id``: both registries' access logs then name the same id. A redirect
    is not followed (aiohttp would, re-posting a 307's or 308's body): the trust list names where the partner
    is, and a notice goes nowhere else -- the 3xx is a failed attempt like any other refusal.
    """
    headers = {"content-type": "application/json", "x-request-id": notice_id}
    if isinstance(client, httpx.AsyncClient):
        response = await client.post(url, content=raw, headers=headers, timeout=seconds, follow_redirects=False)
        return response.status_code, response.content, response.headers.get("retry-after")
    async with client.post(
        url, data=raw, headers=headers, timeout=aiohttp.ClientTimeout(total=seconds), allow_redirects=False
    ) as answer:
        body = bytearray()
        async for chunk in answer.content.iter_chunked(65536):
            body += chunk
            if len(body) > MAX_ENVELOPE_BYTES:
                raise aiohttp.ClientPayloadError(f"the answer is larger than {MAX_ENVELOPE_BYTES} bytes")
        return answer.status, bytes(body), answer.headers.get("retry-after")


def _problem(content: bytes) -> dict[str, Any]:
    """The members of a partner's problem answer; none when it is not a JSON object we can read.

    An object naming a key twice is none either (PROTOCOL §2: no duplicate keys): msgspec keeps the last value,
    and a ``sequence-gap``'s ``expected_sequence`` given twice would requeue the notices from one of two numbers.
    """
    try:
        value = msgspec.json.decode(content)
        if isinstance(value, dict) and key_named_twice(content) is None:
            return value
    except (ValueError, RecursionError):  # msgspec raises DecodeError, UnicodeDecodeError or RecursionError
        pass
    return {}


async def _receipt(
    pool: Pool,
    settings: Settings,
    run: Run,
    head: asyncpg.Record,
    digest: str,
    content: bytes,
    attempted_at: dt.datetime,
) -> str | None:
    """Verify a receipt against the notice sent and the recipient's keys; keep it. The error, if any.

    A key the run does not know is looked up again: the recipient may have announced it, and switched to
    it, since the run was claimed (it rotated its key while we were sending).
    """
    try:
        receipt_envelope = decode_receipt(content)
    except (ValueError, msgspec.DecodeError) as exc:
        return f"bad receipt: {exc}"
    receipt = receipt_envelope.receipt
    expected = (str(head["notice_id"]), settings.state, head["recipient"], head["sequence"], digest)
    got = (receipt.notice_id, receipt.sender, receipt.recipient, receipt.sequence, receipt.digest)
    if got != expected:
        return "bad receipt: it does not name this notice"
    key = next((k for k in run.trusted if k.key_id == receipt_envelope.signature.key_id), None)
    if key is None:
        async with pool.acquire() as conn:
            run.trusted = await trust.trusted_keys(conn, head["recipient"]) or []
        key = next((k for k in run.trusted if k.key_id == receipt_envelope.signature.key_id), None)
    if (
        key is None
        or key_validity(key, parse_time(receipt.received_at)) is not None
        or not verify_receipt_signature(receipt_envelope, key.public_key)
    ):
        return f"bad receipt: signature by {receipt_envelope.signature.key_id} does not verify"
    status = "delivered" if receipt.status == "accepted" else "rejected"
    # The receipt's bytes are kept whole (bytea): they are the proof. Its reason is also kept as text, where
    # PostgreSQL refuses U+0000 (text and jsonb): failing there would lose the run's receipts on every retry.
    reason = None if receipt.reason is None else receipt.reason.replace("\x00", "\ufffd")
    payload = {
        "recipient": head["recipient"],
        "type": head["type"],
        "sequence": head["sequence"],
        "digest": receipt.digest,
        "reason": reason,
        "received_at": receipt.received_at,
    }
    run.receipts.append((head, status, content, reason, attempted_at, payload))
    return None


async def _record_run(pool: Pool, worker: str, run: Run, unsent: list[uuid.UUID]) -> None:
    """Record the run's receipts (one statement, journaled) and release what it did not send."""
    if not run.receipts and not unsent:
        return
    async with pool.acquire() as conn, conn.transaction():
        await store.relax_commit(conn)  # a lost receipt record means one more delivery and the same receipt
        if run.receipts:
            recorded_at, payloads = journal.prepare([payload for *_, payload in run.receipts])
            await store.record_outbox_receipts(
                conn,
                [head["notice_id"] for head, *_ in run.receipts],
                worker,
                [status for _, status, *_ in run.receipts],
                [content for _, _, content, *_ in run.receipts],
                [reason for _, _, _, reason, *_ in run.receipts],
                [attempted_at for *_, attempted_at, _ in run.receipts],
                payloads,
                recorded_at,
            )
        if unsent:
            await store.release_outbox_leases(conn, unsent, worker)


def _retry_in(settings: Settings, attempts: int, asked: float | None = None) -> float:
    """Seconds before trying again: the back-off, or longer when the partner asked for more.

    Never before what it asked; the jitter goes above it. Counted from when the failure is recorded, on the
    database's clock (the statement reads it): a run's carried clock lags it by any time its host was suspended.
    """
    delay = backoff(attempts, base=settings.exchange_retry_base, cap=settings.exchange_retry_cap)
    if asked is not None:
        delay = max(delay, asked * random.uniform(1.0, 1.0 + RETRY_AFTER_JITTER))  # noqa: S311  # jitter
    return delay


async def _failed(
    pool: Pool,
    settings: Settings,
    worker: str,
    head: asyncpg.Record,
    attempted_at: dt.datetime,
    error: str,
    asked: float | None = None,
) -> None:
    attempt = head["attempts"] + 1
    # the partner's text: a newline in it would forge a line of the log
    log.warning(
        "delivery of %s to %s failed (attempt %s): %s", head["notice_id"], head["recipient"], attempt, printable(error)
    )
    error = error[:1000].replace("\x00", "\ufffd")  # a partner's text may hold NUL, which PostgreSQL text refuses
    async with pool.acquire() as conn, conn.transaction():
        await store.record_outbox_failure(
            conn, head["notice_id"], worker, error, _retry_in(settings, attempt, asked), attempted_at
        )


async def _gap(pool: Pool, worker: str, head: asyncpg.Record, attempted_at: dt.datetime, expected: int) -> None:
    parked = PARKED.total_seconds()
    async with pool.acquire() as conn, conn.transaction():
        if expected < head["sequence"] and not await store.outbox_has_sequence(conn, head["recipient"], expected):
            # nothing here carries that number: resending "from there" would send this notice again at once,
            # refused again, in a loop; it waits like a notice refused as behind, for an administrator
            error = f"sequence-gap: {head['recipient']} expects {expected}, which no notice here carries"
            await store.record_outbox_failure(conn, head["notice_id"], worker, error, parked, attempted_at)
        elif expected < head["sequence"]:
            count = await store.requeue_outbox_from(conn, head["recipient"], expected)
            await journal.record(
                conn,
                actor="system:exchange",
                action="notice.resend-requested",
                entity="peer",
                entity_id=head["recipient"],
                payload={"expected_sequence": expected, "requeued": count},
            )
            error = f"sequence-gap: {head['recipient']} expects {expected}; resending from there"
            await store.record_outbox_failure(conn, head["notice_id"], worker, error, 0.0, attempted_at)
        else:
            # check 7 passed before check 8: the partner holds nothing under this id, so this notice may be
            # renumbered (peers resequence); what it expects is kept for that
            error = f"sequence-gap: {head['recipient']} expects {expected}, ahead of this notice"
            await store.record_outbox_refused_ahead(
                conn, head["notice_id"], worker, expected, error, parked, attempted_at
            )


async def _id_conflict(pool: Pool, worker: str, head: asyncpg.Record, attempted_at: dt.datetime) -> None:
    """The partner holds this notice's id with other bytes (PROTOCOL §4 check 7), and will on every retry.

    This registry signs a notice once and keeps the bytes, so the partner holds this very notice under another
    number: it was numbered otherwise before this registry's database was restored from a backup taken while
    it waited unnumbered. Given that number (``peers resequence``), it is signed again into exactly those bytes
    (Ed25519 is deterministic), a duplicate answered with its first receipt. Kept on the notice; tried again
    every minute, as a notice refused as behind is: only the administrators know the number.
    """
    recipient = head["recipient"]
    error = (
        f"notice-id-conflict: {recipient} holds this notice under another number (numbered otherwise before this"
        f" registry was restored from a backup, say); once {recipient}'s administrator has read that number,"
        f" 'firearms peers resequence {recipient} --from THAT_NUMBER' gives it back and the queue moves on"
    )
    log.warning("delivery of %s to %s: %s", head["notice_id"], recipient, error)
    async with pool.acquire() as conn, conn.transaction():
        await store.record_outbox_id_conflict(
            conn, head["notice_id"], worker, error, PARKED.total_seconds(), attempted_at
        )
