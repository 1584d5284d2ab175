"""Delivering the outbox (PROTOCOL §4 "Sending"): per recipient, strictly in sequence, one at a time.

A worker leases the lowest queued notice of every recipient (``FOR UPDATE SKIP LOCKED`` in
:func:`claim`, so two workers never hold the same notice), signs it once (the bytes are kept, so a
retry sends exactly the same bytes), and posts it outside any transaction. A verified receipt marks
it ``delivered`` (or ``rejected`` when the partner stored it as such) and frees the next one; a
network error, a 5xx or a 429 -- or any other refusal -- schedules a retry with capped exponential
back-off and jitter; ``/sequence-gap`` queues everything from ``expected_sequence`` again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import socket
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import msgspec

from firearms import journal, keys, outbox
from firearms.canonical import format_time, parse_time, utc_now
from firearms.exchange import trust
from firearms.exchange.checks import key_validity
from firearms.exchange.protocol import (
    Envelope,
    Notice,
    decode_receipt,
    digest_of,
    encode,
    notice_signing_input,
    sign_notice,
    verify_receipt_signature,
)
from firearms.signing import SigningKey
from firearms.store import outbox as store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn, Pool
    from firearms.settings import Settings

__all__ = ["LEASE", "backoff", "claim", "deliver_due", "new_worker_id"]

log = logging.getLogger("firearms.exchange")
LEASE = dt.timedelta(seconds=120)
_keys: dict[str, SigningKey] = {}


def new_worker_id() -> str:
    """A name for this worker in leases: host, process, random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff(attempts: int, *, base: float, cap: float) -> float:
    """Seconds before the next attempt: ``base * 2^(attempts-1)``, capped, with full jitter in its upper half."""
    delay: float = min(cap, base * float(2 ** min(attempts - 1, 30)))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311  # jitter, not cryptography


async def claim(pool: Pool, settings: Settings, worker: str) -> list[tuple[asyncpg.Record, bytes]]:
    """Lease the due head notice of every enabled recipient to ``worker`` and sign it if not yet signed.

    One short transaction; the signed bytes are kept, so every later attempt sends exactly them.
    """
    async with pool.acquire() as conn:
        await outbox.number_queued(conn)
    now = dt.datetime.now(dt.UTC)
    claimed: list[tuple[asyncpg.Record, bytes]] = []
    async with pool.acquire() as conn, conn.transaction():
        await store.relax_commit(conn)
        for head in await store.claim_outbox_heads(conn, now, now + LEASE, worker):
            if head["envelope"] is not None:
                claimed.append((head, bytes(head["envelope"])))
                continue
            try:
                raw = await _sign(conn, settings, head)
            except (OSError, ValueError, RuntimeError) as exc:  # a missing key file must not stop other recipients
                log.error("cannot sign notice %s: %s", head["notice_id"], exc)
                await store.record_outbox_failure(
                    conn, head["notice_id"], worker, f"signing: {exc}", _retry_at(settings, head["attempts"])
                )
                continue
            claimed.append((head, raw))
    return claimed


async def deliver_due(pool: Pool, settings: Settings, client: httpx.AsyncClient, worker: str) -> int:
    """Deliver until nothing is due; recipients are served side by side, each strictly in order.

    A slow partner does not hold up the others: as soon as one delivery ends, the heads of every
    recipient not in flight are claimed again (an in-flight head is leased, so it is never claimed twice).

    Returns:
        The number of notices acknowledged by a receipt in this call.
    """
    total = 0
    running: set[asyncio.Task[int]] = set()
    try:
        while True:
            for head, raw in await claim(pool, settings, worker):
                running.add(asyncio.create_task(_deliver(pool, settings, client, worker, head, raw)))
            if not running:
                return total
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            total += sum(task.result() for task in done)
    finally:
        if running:  # a failed claim: let the deliveries in flight finish and record their outcome
            await asyncio.gather(*running, return_exceptions=True)


def _signing_key(home: Any, key_id: str) -> SigningKey:
    path = keys.key_path(home, key_id)
    cached = _keys.get(str(path))
    if cached is None:
        cached = SigningKey.load(path)
        _keys[str(path)] = cached
    return cached


async def _sign(conn: Conn, settings: Settings, head: asyncpg.Record) -> bytes:
    key_id = head["signing_key_id"] or await store.get_registry_key_at(conn, head["created_at"])
    if key_id is None:
        raise RuntimeError(f"no signing key of this registry is valid at {format_time(head['created_at'])}")
    notice = Notice(
        id=str(head["notice_id"]),
        type=head["type"],
        sender=settings.state,
        recipient=head["recipient"],
        sequence=head["sequence"],
        created_at=format_time(head["created_at"]),
        in_reply_to=head["in_reply_to"],
        confidentiality=head["confidentiality"],
        body=head["body"],
    )
    raw = encode(sign_notice(notice, _signing_key(settings.home, key_id)))
    await store.set_outbox_envelope(conn, head["notice_id"], raw)
    return raw


async def _deliver(
    pool: Pool, settings: Settings, client: httpx.AsyncClient, worker: str, head: asyncpg.Record, raw: bytes
) -> int:
    try:
        response = await client.post(
            head["base_url"] + "/exchange/v1/notices",
            content=raw,
            headers={"content-type": "application/json"},
            timeout=settings.exchange_timeout,
        )
    except (httpx.HTTPError, OSError) as exc:
        await _failed(pool, settings, worker, head, f"network: {type(exc).__name__}: {exc}")
        return 0
    if response.status_code in (200, 202):
        return await _receipt(pool, settings, worker, head, raw, response.content)
    problem = _problem(response)
    kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
    if response.status_code == 409 and kind == "sequence-gap" and isinstance(problem.get("expected_sequence"), int):
        await _gap(pool, worker, head, problem["expected_sequence"])
        return 0
    detail = problem.get("detail") or response.text[:200]
    await _failed(pool, settings, worker, head, f"HTTP {response.status_code} {kind or ''}: {detail}".strip())
    return 0


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


async def _receipt(
    pool: Pool, settings: Settings, worker: str, head: asyncpg.Record, raw: bytes, content: bytes
) -> int:
    notice_id: uuid.UUID = head["notice_id"]
    try:
        envelope = msgspec.json.decode(raw, type=Envelope)
        receipt_envelope = decode_receipt(content)
    except (ValueError, msgspec.DecodeError) as exc:
        await _failed(pool, settings, worker, head, f"bad receipt: {exc}")
        return 0
    receipt = receipt_envelope.receipt
    expected = (
        str(notice_id),
        settings.state,
        head["recipient"],
        head["sequence"],
        digest_of(notice_signing_input(envelope.notice)),
    )
    got = (receipt.notice_id, receipt.sender, receipt.recipient, receipt.sequence, receipt.digest)
    if got != expected:
        await _failed(pool, settings, worker, head, "bad receipt: it does not name this notice")
        return 0
    async with pool.acquire() as conn, conn.transaction():
        await store.relax_commit(conn)  # a lost receipt record means one more delivery and the same receipt
        trusted = await trust.trusted_keys(conn, head["recipient"]) or []
        key = next((k for k in trusted if k.key_id == receipt_envelope.signature.key_id), None)
        if (
            key is None
            or key_validity(key, parse_time(receipt.received_at)) is not None
            or not verify_receipt_signature(receipt_envelope, key.public_key)
        ):
            await store.record_outbox_failure(
                conn,
                notice_id,
                worker,
                f"bad receipt: signature by {receipt_envelope.signature.key_id} does not verify",
                _retry_at(settings, head["attempts"]),
            )
            return 0
        status = "delivered" if receipt.status == "accepted" else "rejected"
        if not await store.record_outbox_receipt(conn, notice_id, worker, status, content, receipt.reason, utc_now()):
            return 0
        await journal.record(
            conn,
            actor="system:exchange",
            action=f"notice.{status}",
            entity="notice_outbox",
            entity_id=str(notice_id),
            payload={
                "recipient": head["recipient"],
                "type": head["type"],
                "sequence": head["sequence"],
                "digest": receipt.digest,
                "reason": receipt.reason,
                "received_at": receipt.received_at,
            },
        )
    return 1


def _retry_at(settings: Settings, attempts: int) -> dt.datetime:
    delay = backoff(attempts, base=settings.exchange_retry_base, cap=settings.exchange_retry_cap)
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)


async def _failed(pool: Pool, settings: Settings, worker: str, head: asyncpg.Record, error: str) -> None:
    log.warning(
        "delivery of %s to %s failed (attempt %s): %s", head["notice_id"], head["recipient"], head["attempts"], error
    )
    async with pool.acquire() as conn, conn.transaction():
        await store.record_outbox_failure(
            conn, head["notice_id"], worker, error[:1000], _retry_at(settings, head["attempts"])
        )


async def _gap(pool: Pool, worker: str, head: asyncpg.Record, expected: int) -> None:
    now = dt.datetime.now(dt.UTC)
    async with pool.acquire() as conn, conn.transaction():
        if expected < head["sequence"]:
            count = await store.requeue_outbox_from(conn, head["recipient"], expected, now)
            await journal.record(
                conn,
                actor="system:exchange",
                action="notice.resend-requested",
                entity="peer",
                entity_id=head["recipient"],
                payload={"expected_sequence": expected, "requeued": count},
            )
            error = f"sequence-gap: {head['recipient']} expects {expected}; resending from there"
            await store.record_outbox_failure(conn, head["notice_id"], worker, error, now)
        else:
            error = f"sequence-gap: {head['recipient']} expects {expected}, ahead of this notice"
            await store.record_outbox_failure(conn, head["notice_id"], worker, error, now + dt.timedelta(seconds=60))
