"""Key rotation and revocation (PROTOCOL §6).

``rotate`` creates a new key and queues ``registry.key-announced`` for every partner, signed by the
OLD key (the one partners trust). The new key waits in ``pending_registry_key`` and is switched
into use (becomes a ``registry_key``) by the worker once every enabled partner has acknowledged its
announcement with an ``accepted`` receipt (a partner that stored it ``rejected`` did not take the key),
so no partner ever sees a signature by a key it has not been told about. ``cancel`` abandons a waiting
key before its switch and revokes it with every partner told of it. ``revoke`` marks one of this
registry's keys revoked and tells every partner with ``registry.key-revoked``. ``replace`` puts a new key
into use at once, unannounced, for partners to enter out of band: the way out for a registry restored from a
backup older than its key's revocation, whose partners refuse everything it signs.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import msgspec

from firearms import journal, keys, outbox
from firearms.canonical import format_time, utc_now
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.signing import SigningKey, b64url_encode
from firearms.store import keys as key_store
from firearms.store import peers as peer_store
from firearms.store import rotation as store

if TYPE_CHECKING:
    from firearms.db import Conn

__all__ = [
    "REASON_MAX",
    "Cancellation",
    "Replacement",
    "Resigned",
    "Revocation",
    "Rotation",
    "Switch",
    "announce_waiting_keys",
    "cancel",
    "replace",
    "revoke",
    "rotate",
    "switch_announced_keys",
    "switch_now",
]

REASON_MAX = 2000  # what partners take in registry.key-revoked (firearms.exchange.effects.keys)


class Rotation(msgspec.Struct, frozen=True, kw_only=True):
    """What ``keys rotate`` did: the new key, the key it replaces, and who must acknowledge it first.

    ``announced_to`` is every partner its announcement was queued for, disabled ones included (they get it
    once enabled); ``awaiting`` the enabled ones whose acknowledgement the switch waits for.
    """

    key_id: str
    public_key: str
    not_before: dt.datetime
    replaces: str
    announced_to: list[str]
    awaiting: list[str]
    switched: bool


class Revocation(msgspec.Struct, frozen=True, kw_only=True):
    """What ``keys revoke`` did."""

    key_id: str
    revoked_at: dt.datetime
    announced_to: list[str]


async def rotate(conn: Conn, files: keys.KeyFiles, *, actor: str) -> Rotation:
    """Create a new signing key and announce it to every partner, signed by the current key.

    ``files``: the caller's :func:`firearms.keys.key_transaction`, which puts the new key's file in place
    once the rotation committed (and removes it if it did not).

    Raises:
        ConflictError: ``no-signing-key`` (nothing to rotate from) or ``rotation-pending``.
        ConfigError: the current key's file is missing or unusable: the announcement could never be
            signed, so the new key would wait for ever (a lost key needs a new trust anchor out of band).
    """
    await store.lock_pending_registry_keys(conn)  # a second rotation at once waits, then finds this one's key
    current = await key_store.get_current_registry_key(conn, dt.datetime.now(dt.UTC))
    if current is None:
        # Only before the first start: 'firearms migrate' makes no key, and the key in use is never revoked
        # (key-in-use) nor given an end (not_after). The API is served only after that start, so only the CLI
        # reaches this (tests/cli/test_exchange_cli.py).
        raise ConflictError(
            "this registry has no valid signing key to rotate from: its first start ('firearms serve' or"
            " 'firearms worker') makes one",
            code="no-signing-key",
        )
    if await store.has_unswitched_key(conn):
        raise ConflictError(
            "a rotation is already waiting for partners to acknowledge its announcement", code="rotation-pending"
        )
    keys.signing_key(files.home, current["key_id"])  # it signs the announcements
    key = SigningKey.generate()
    now = utc_now()
    await store.insert_pending_registry_key(conn, key.key_id, key.public_key, now, current["key_id"], now)
    body = _announcement(key.key_id, key.public_key, now)
    peers = [row["state"] for row in await peer_store.list_peers(conn, "", 10_000)]
    await outbox.enqueue_to(
        conn,
        peers,
        "registry.key-announced",
        body,
        confidentiality="public",
        signing_key_id=current["key_id"],
        actor=actor,
    )
    await journal.record(
        conn,
        actor=actor,
        action="key.rotation-started",
        entity="registry_key",
        entity_id=key.key_id,
        payload={**body, "replaces": current["key_id"], "announced_to": peers},
    )
    awaiting = await _switch_if_announced(conn, key.key_id, key.public_key, now)
    files.write(key)
    return Rotation(
        key_id=key.key_id,
        public_key=b64url_encode(key.public_key),
        not_before=now,
        replaces=current["key_id"],
        announced_to=peers,
        awaiting=awaiting,
        switched=not awaiting,
    )


def _announcement(key_id: str, public_key: bytes, not_before: dt.datetime) -> dict[str, str | None]:
    """The body of ``registry.key-announced`` for a new key of this registry (PROTOCOL §5)."""
    return {
        "key_id": key_id,
        "public_key": b64url_encode(public_key),
        "not_before": format_time(not_before),
        "not_after": None,
    }


async def announce_waiting_keys(conn: Conn, state: str, *, actor: str) -> list[str]:
    """Announce the new keys not yet in use to a partner just added, signed by the keys they replace.

    Its administrator entered the key in use (``GET /exchange/v1/keys`` does not list a waiting key), so
    it must be told about the waiting one like every other partner, and the switch waits for it too.
    Returns the key ids announced.
    """
    announced: list[str] = []
    for row in await store.list_unswitched_keys(conn):
        body = _announcement(row["key_id"], row["public_key"], row["not_before"])
        await outbox.enqueue(
            conn,
            state,
            "registry.key-announced",
            body,
            confidentiality="public",
            signing_key_id=row["replaces"],
            actor=actor,
        )
        announced.append(row["key_id"])
    return announced


class Switch(msgspec.Struct, frozen=True, kw_only=True):
    """What ``keys switch`` did: the key now in use, and the partners that had not acknowledged it."""

    key_id: str
    unacknowledged: list[str]


async def _switch_if_announced(conn: Conn, key_id: str, public_key: bytes, not_before: dt.datetime) -> list[str]:
    """Switch to the key when no enabled partner still has to acknowledge it; else those partners."""
    if awaiting := await store.list_unannounced_states(conn, key_id):
        return awaiting
    await _switch(conn, key_id, public_key, not_before, actor="system:exchange", payload={})
    return []


async def _switch(
    conn: Conn, key_id: str, public_key: bytes, not_before: dt.datetime, *, actor: str, payload: dict[str, object]
) -> None:
    now = dt.datetime.now(dt.UTC)  # full precision: a key made in the same second as the old one still sorts after it
    await key_store.insert_registry_key(conn, key_id, public_key, not_before, now)
    await store.mark_key_switched(conn, key_id, now)
    await journal.record(
        conn, actor=actor, action="key.switched", entity="registry_key", entity_id=key_id, payload=payload
    )


async def switch_now(conn: Conn, *, actor: str) -> Switch:
    """Put the waiting new key into use without every partner's acknowledgement (a partner long unreachable).

    Its announcement stays queued ahead of every later notice to such a partner, so the partner learns the
    key before the first notice signed with it -- once it answers again.

    Raises:
        ConflictError: ``no-rotation-pending``.
    """
    waiting = await store.lock_unswitched_keys(conn)  # not SKIP LOCKED: the worker may be looking at it
    if not waiting:
        raise ConflictError("no new key is waiting: run 'firearms keys rotate' first", code="no-rotation-pending")
    row = waiting[0]
    unacknowledged = await store.list_unannounced_states(conn, row["key_id"])
    await _switch(
        conn,
        row["key_id"],
        row["public_key"],
        row["not_before"],
        actor=actor,
        payload={"unacknowledged": unacknowledged},
    )
    return Switch(key_id=row["key_id"], unacknowledged=unacknowledged)


async def switch_announced_keys(conn: Conn) -> list[str]:
    """Put into use every new key whose announcements all enabled partners acknowledged (worker job)."""
    switched: list[str] = []
    async with conn.transaction():
        for row in await store.list_unswitched_keys(conn):
            if not await _switch_if_announced(conn, row["key_id"], row["public_key"], row["not_before"]):
                switched.append(row["key_id"])
    return switched


class Cancellation(msgspec.Struct, frozen=True, kw_only=True):
    """What ``keys cancel`` did: the abandoned key, the key still in use, and the partners sent its revocation."""

    key_id: str
    replaces: str
    cancelled_at: dt.datetime
    revoked_to: list[str]


async def cancel(conn: Conn, files: keys.KeyFiles, key_id: str, *, reason: str, actor: str) -> Cancellation:
    """Abandon a rotation before its switch: the waiting key is never used, and partners stop trusting it.

    Every partner its announcement was queued for -- delivered, or still queued, since nothing is dropped from
    the outbox and it will arrive first -- is sent ``registry.key-revoked`` for it from now (PROTOCOL §6),
    signed by the key in use; a partner that stored the announcement ``rejected`` never took the key. Its
    private file is removed once this commits (``files``: the caller's :func:`firearms.keys.key_transaction`).
    Journaled ``key.rotation-cancelled``. Asked again for a cancelled key, it answers as the first time and
    changes nothing.

    Raises:
        InvalidInputError: ``reason-required`` for a blank reason; a reason over 2000 characters.
        NotFoundError: no key of this registry has that id.
        ConflictError: ``key-already-switched``: the key is in use or was (rotate again, then revoke it).
    """
    reason = _reason(reason)
    row = await store.get_pending_registry_key_for_update(conn, key_id)  # waits for a worker's pass holding it
    if row is None:
        cancelled = await store.get_cancelled_registry_key(conn, key_id)
        if cancelled is not None:
            revocations = await store.list_key_revocations(conn, key_id)
            return Cancellation(
                key_id=key_id,
                replaces=cancelled["replaces"],
                cancelled_at=cancelled["cancelled_at"],
                revoked_to=[revocation["recipient"] for revocation in revocations],
            )
        if await store.get_registry_key(conn, key_id) is None:
            raise NotFoundError(f"{key_id} is not a key of this registry", key_id=key_id)
    if row is None or row["switched_at"] is not None:
        raise ConflictError(
            f"key {key_id} is already in use or was: only a rotation still waiting can be cancelled (run 'firearms"
            " keys rotate', then revoke this key once the new one is switched to)",
            code="key-already-switched",
            key_id=key_id,
        )
    now = utc_now()
    await store.cancel_pending_registry_key(conn, key_id, now)
    told = await store.list_announced_states(conn, key_id)
    body = {"key_id": key_id, "revoked_at": format_time(now), "reason": reason}
    await outbox.enqueue_to(conn, told, "registry.key-revoked", body, confidentiality="public", actor=actor)
    await journal.record(
        conn,
        actor=actor,
        action="key.rotation-cancelled",
        entity="registry_key",
        entity_id=key_id,
        payload={**body, "replaces": row["replaces"], "revoked_to": told},
    )
    files.remove(key_id)
    return Cancellation(key_id=key_id, replaces=row["replaces"], cancelled_at=now, revoked_to=told)


def _reason(reason: str) -> str:
    """A revocation's reason as partners take it (``registry.key-revoked``), stripped.

    Raises:
        InvalidInputError: ``reason-required`` for a blank reason; a reason over 2000 characters, which
            partners refuse (the revocation would never reach them).
    """
    reason = reason.strip()
    if not reason:
        raise InvalidInputError("a revocation gives its reason (sent to every partner)", code="reason-required")
    if len(reason) > REASON_MAX:
        raise InvalidInputError(f"a revocation's reason has at most {REASON_MAX} characters, this one {len(reason)}")
    return reason


async def revoke(conn: Conn, key_id: str, *, reason: str, actor: str) -> Revocation:
    """Revoke one of this registry's keys from now and tell every partner (``registry.key-revoked``).

    Raises:
        InvalidInputError: ``reason-required`` for a blank reason; a reason over 2000 characters, which
            partners refuse in ``registry.key-revoked`` (the revocation would never reach them).
        NotFoundError: not a key of this registry.
        ConflictError: ``key-in-use`` (rotate first) or ``key-already-revoked``.
    """
    reason = _reason(reason)
    row = await store.get_registry_key(conn, key_id)
    if row is None:
        if key_id in {waiting["key_id"] for waiting in await store.lock_unswitched_keys(conn)}:
            raise NotFoundError(
                f"{key_id} is the new key still waiting for partners' acknowledgements, not yet one this registry"
                " signs with: 'firearms keys cancel' abandons it (and revokes it with the partners told of it)",
                key_id=key_id,
            )
        raise NotFoundError(f"{key_id} is not a key of this registry", key_id=key_id)
    current = await key_store.get_current_registry_key(conn, dt.datetime.now(dt.UTC))
    if current is not None and current["key_id"] == key_id:
        raise ConflictError(
            "this is the key in use: run 'firearms keys rotate' and wait for the switch first",
            code="key-in-use",
            key_id=key_id,
        )
    now = utc_now()
    if not await store.revoke_registry_key(conn, key_id, now):
        raise ConflictError(f"key {key_id} is already revoked", code="key-already-revoked", key_id=key_id)
    body = {"key_id": key_id, "revoked_at": format_time(now), "reason": reason}
    peers = [row["state"] for row in await peer_store.list_peers(conn, "", 10_000)]
    await outbox.enqueue_to(conn, peers, "registry.key-revoked", body, confidentiality="public", actor=actor)
    await journal.record(
        conn,
        actor=actor,
        action="key.revoked",
        entity="registry_key",
        entity_id=key_id,
        payload={**body, "announced_to": peers},
    )
    return Revocation(key_id=key_id, revoked_at=now, announced_to=peers)


class Resigned(msgspec.Struct, frozen=True, kw_only=True):
    """The queued notices for one partner that ``keys replace`` has signed again with the new key."""

    recipient: str
    notices: int
    earliest_created_at: dt.datetime


class Replacement(msgspec.Struct, frozen=True, kw_only=True):
    """What ``keys replace`` did: the new key (for partners to enter out of band) and the notices signed again."""

    key_id: str
    public_key: str
    not_before: dt.datetime
    replaces: str | None
    resigned: list[Resigned]


async def replace(conn: Conn, files: keys.KeyFiles, *, reason: str, actor: str) -> Replacement:
    """Put a new key into use at once, without announcing it, and sign every queued notice again with it.

    For a registry its partners no longer take signatures from (PROTOCOL §6 gives no way back): restored from a
    backup older than its key's revocation or rotation, it signs with a key they hold as revoked (or not at all),
    and an announcement signed by that key is refused like the rest. Each partner's administrator enters the new
    key out of band (``firearms peers add-key`` or ``POST /api/v1/peers/{state}/keys``), as for a first key
    (PROTOCOL §1: the trust anchor).

    Every notice still queued, for every partner, is to be signed with the new key: the notice itself (id,
    sequence, ``created_at``, body) is kept, so one the partner already holds (sent after the backup) has the
    same canonical bytes there and is a duplicate answered with its first receipt (PROTOCOL §4 check 7 compares
    the notice, not the signature). The key is therefore valid from the oldest queued notice's ``created_at``
    (not before the latest start of the other keys, so that it is the current one), and the partner must enter
    it valid from then at the latest. Acknowledged notices are never signed again: their receipts name them.

    The key in use is neither revoked nor told anything (a partner that took the revocation holds it so; one that
    did not keeps trusting it until ``keys revoke``). Journaled ``key.replaced``; ``files``: the caller's
    :func:`firearms.keys.key_transaction`, which puts the new key's file in place once this committed. The old
    key's file is not needed.

    Raises:
        InvalidInputError: ``reason-required`` for a blank reason; a reason over 2000 characters.
        ConflictError: ``rotation-pending``: a rotated key waits for its switch (cancel it first: its
            announcement is then followed by its revocation, both signed again with the new key).
    """
    reason = _reason(reason)
    await store.lock_pending_registry_keys(conn)  # no rotation starts meanwhile
    if waiting := await store.lock_unswitched_keys(conn):
        raise ConflictError(
            f"key {waiting[0]['key_id']} waits for its switch: run 'firearms keys cancel {waiting[0]['key_id']}"
            " --reason R' first (its revocation is signed with the new key like every queued notice)",
            code="rotation-pending",
            key_id=waiting[0]["key_id"],
        )
    current = await key_store.get_current_registry_key(conn, dt.datetime.now(dt.UTC))
    now = utc_now()
    start = min(now, await store.get_earliest_queued_notice(conn) or now)
    latest = await store.get_latest_key_start(conn)
    if latest is not None and latest > start:
        start = latest  # the newest not_before is the key in use (current_registry_key_id); ties go to the newest
    key = SigningKey.generate()
    # full precision: a key made in the same second as the one it replaces still sorts after it
    await key_store.insert_registry_key(conn, key.key_id, key.public_key, start, dt.datetime.now(dt.UTC))
    resigned = [
        Resigned(recipient=row["recipient"], notices=row["resigned"], earliest_created_at=row["earliest"])
        for row in await store.resign_queued_outbox_notices(conn, key.key_id)
    ]
    done = Replacement(
        key_id=key.key_id,
        public_key=b64url_encode(key.public_key),
        not_before=start,
        replaces=None if current is None else current["key_id"],
        resigned=resigned,
    )
    await journal.record(
        conn,
        actor=actor,
        action="key.replaced",
        entity="registry_key",
        entity_id=key.key_id,
        payload={**msgspec.to_builtins(done), "reason": reason},
    )
    files.write(key)
    return done
