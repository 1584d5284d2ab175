"""Idempotent creation: the same officer's key and request give the first answer again, nothing twice.

draft-ietf-httpapi-idempotency-key-header: a client that did not hear the answer to a request creating a
record (a licence draft, a party, an item ...) sends it again with the same key. :func:`once` runs the
creation the first time and keeps its answer with the key, in the creation's own transaction; the same
key with the same request later answers that first answer and creates nothing, the same key with another
request is refused (``idempotency-key-reused``). Keys belong to the officer's token: two officers never
meet on one.

Two requests with one key at once take turns on a transaction-scoped advisory lock of that key (the
database's, not the process's: several API processes share it), so the second sees the first's answer
once the first commits, or runs itself when the first rolled back. A request that fails (a problem) keeps
nothing: its transaction rolls back, and the key is free for the retry.

Keys are kept until the operator prunes them (:func:`prune`, ``firearms idempotency prune --older-than
DAYS``), each deletion journaled; a pruned key is free again.

The house pattern is the customs check's ``check_id`` (:mod:`firearms.checks`), a key the body carries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

import msgspec

from firearms import journal
from firearms.canonical import format_time
from firearms.errors import ConflictError
from firearms.store import idempotency as store

if TYPE_CHECKING:
    import uuid
    from collections.abc import Awaitable, Callable

    from firearms.db import Conn

__all__ = ["KEY_PATTERN", "PRUNE_BATCH", "Answer", "fingerprint", "once", "prune"]

# What a key may hold: the characters of UUIDs, ULIDs, base64 and base64url, up to 255 of them (the
# draft leaves the form to the server; the table's check constraint says the same).
KEY_PATTERN = r"^[A-Za-z0-9._:~+/=-]{1,255}$"
PRUNE_BATCH = 1000  # keys deleted (and journaled) per transaction by prune()


def fingerprint(request: str, body: object) -> bytes:
    """SHA-256 of the operation and its decoded body: what makes two requests "the same".

    The body as decoded, in sorted order: the same request sent with other white space, another order of
    its members or a default spelled out is the same request.
    """
    return hashlib.sha256(msgspec.json.encode([request, body], order="sorted")).digest()


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """An answer as it is sent: its JSON bytes and its status (the caller's, kept with a key for a replay)."""

    body: bytes
    status_code: int | None  # None: a key stored before 20261129211000; its route's own status


async def once(
    conn: Conn,
    *,
    token_id: uuid.UUID,
    key: str | None,
    request: str,
    body: object,
    status_code: int,
    create: Callable[[], Awaitable[object]],
    actor: str,
    replayed: Callable[[bytes], Awaitable[None]] | None = None,
) -> Answer:
    """Run ``create`` once per (token, key), in the caller's transaction; give its first answer again.

    ``request`` names the operation (method and path); with ``body`` it is what a key is bound to.
    ``create``'s answer is encoded once, to the bytes sent and kept: a replay is those bytes and the
    ``status_code`` given with them, never decoded into today's answer type and encoded again (a later
    field added, renamed or reordered would have changed or broken an old key's answer). Without a key,
    ``create`` runs as before and its answer is encoded the same way.

    ``replayed``, given the kept bytes, runs in the caller's transaction when a replay gives them again: the answer
    of some creations shows personal data the officer did not type (a trace answer's record, built from an item's
    history), and showing it again is a read of it, journaled (DESIGN §6) as the route's reads are.

    Raises:
        ConflictError: ``idempotency-key-reused`` — the key was used with another request (another
            operation or another body); nothing is created.
    """
    if key is None:
        return Answer(body=msgspec.json.encode(await create()), status_code=status_code)
    digest = fingerprint(request, body)
    await store.lock_idempotency_key(conn, token_id, key)
    first = await store.get_idempotency_key(conn, token_id, key)
    if first is not None:
        if first["fingerprint"] != digest:
            raise ConflictError(
                f"the Idempotency-Key was used for another request ({first['request']}) on "
                f"{first['created_at'].isoformat()}: choose a new key for a new request",
                code="idempotency-key-reused",
                idempotency_key=key,
                first_request=first["request"],
            )
        if replayed is not None:
            await replayed(first["answer"])
        return Answer(body=first["answer"], status_code=first["status_code"])
    answer = Answer(body=msgspec.json.encode(await create()), status_code=status_code)
    now = dt.datetime.now(dt.UTC)
    await store.insert_idempotency_key(conn, token_id, key, request, digest, answer.body, status_code, now)
    await journal.record(
        conn,
        actor=actor,
        action="idempotency-key.recorded",
        entity="idempotency_key",
        entity_id=f"{token_id}/{key}",
        payload={"request": request, "fingerprint": digest.hex()},
    )
    return answer


async def prune(
    conn: Conn,
    *,
    older_than: dt.timedelta,
    actor: str,
    batch: int = PRUNE_BATCH,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the keys stored more than ``older_than`` ago, oldest first; how many were deleted.

    The operator's retention (the draft lets the server say how long a key lives): a pruned key is free
    again, and the same request with it creates anew. The records the keys' requests created stay. Each
    deletion is journaled (``idempotency-key.pruned``, DESIGN §6) in the transaction that makes it, one
    transaction per ``batch`` keys, so a long prune holds no lock for long and ``progress`` (the number
    deleted so far, after each batch) shows it going. Runs outside any transaction of the caller's.

    The keys go through ``prune_idempotency_keys()``, which runs as the tables' owner (the service's role may not
    delete a key itself) and never takes a key stored less than a day ago (migration 20261130181000).

    Raises:
        asyncpg.InvalidParameterValueError: ``older_than`` is under a day (the command takes 1 day at least).
    """
    # the database's clock: the one prune_idempotency_keys() holds the bound to (at least a day ago), so that the
    # least older_than the command takes (one day) is never refused over a clock a second behind the host's
    stored_before = (await store.get_database_time(conn) - older_than).replace(microsecond=0)
    written = format_time(stored_before)
    total = 0
    while True:
        async with conn.transaction():
            recorded_at, _ = journal.prepare(None)
            count = await store.prune_idempotency_keys(conn, stored_before, batch, recorded_at, actor, written)
        total += count
        if progress is not None:
            progress(total)
        if count < batch:
            return total
