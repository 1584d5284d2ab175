"""Effects of ``registry.key-announced`` and ``registry.key-revoked`` (PROTOCOL §6).

Both arrive signed by a key the receiver already trusts for the sender (checks 3-5), so the
sender's trust entry may change: an announced key is added with the notice id as its provenance;
a revoked key is marked revoked from ``revoked_at``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec

from firearms import journal
from firearms.canonical import parse_time, utc_now
from firearms.errors import ConflictError
from firearms.exchange.checks import is_key_time
from firearms.exchange.inbox import NoticeRejectedError, ReceivedNotice, body_as, effect
from firearms.exchange.protocol import is_time
from firearms.signing import b64url_decode, is_public_key, key_id_of
from firearms.store import keys as key_store
from firearms.store import peers as store

if TYPE_CHECKING:
    from firearms.db import Conn

__all__ = ["KeyAnnounced", "KeyRevoked", "key_announced", "key_revoked"]

KeyId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$(?!\n)")]


def _key_time(text: str) -> bool:
    """A protocol time a key's validity can hold (:func:`firearms.exchange.checks.is_key_time`)."""
    return is_time(text) and is_key_time(parse_time(text))


class KeyAnnounced(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``registry.key-announced``."""

    key_id: KeyId
    public_key: str
    not_before: str
    not_after: str | None


class KeyRevoked(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``registry.key-revoked``."""

    key_id: KeyId
    revoked_at: str
    reason: Annotated[str, msgspec.Meta(max_length=2000)]


async def _require_signer_not_revoked(conn: Conn, received: ReceivedNotice) -> None:
    """The sender's trust entry changes only by a key not revoked by now (PROTOCOL §1: a key it trusts).

    Check 4 took the notice if its key was valid when it was created; whoever holds a key revoked since
    could date a notice before the revocation, announcing a key of their own or revoking the sender's good ones.

    Raises:
        NoticeRejectedError: ``key-revoked``.
    """
    signer = await store.get_peer_key(conn, received.notice.sender, received.key_id)
    if signer is not None and signer["revoked_at"] is not None and signer["revoked_at"] <= received.received_at:
        raise NoticeRejectedError(
            "key-revoked",
            f"key {received.key_id} that signed the notice is revoked: {received.notice.sender} trusts it no more",
        )


@effect("registry.key-announced")
async def key_announced(conn: Conn, received: ReceivedNotice) -> None:
    """Add the announced key to the sender's trust entry (provenance: this notice's id).

    Only when the key that signed the announcement is not revoked by now (``key-revoked`` otherwise).
    """
    body = body_as(received, KeyAnnounced)
    sender = received.notice.sender
    try:
        raw = b64url_decode(body.public_key)
    except ValueError as exc:
        raise NoticeRejectedError("invalid-body", "public_key is not unpadded base64url") from exc
    if len(raw) != 32 or key_id_of(raw) != body.key_id:
        raise NoticeRejectedError("key-id-mismatch", "key_id is not the id of public_key (PROTOCOL §1)")
    if not is_public_key(raw):
        # the trust list takes no other, by notice as from an administrator (trust.parse_public_key)
        raise NoticeRejectedError(
            "invalid-body", "public_key is not an Ed25519 public key (no point of the curve, or one of small order)"
        )
    if not _key_time(body.not_before) or (body.not_after is not None and not _key_time(body.not_after)):
        raise NoticeRejectedError("invalid-body", "not_before and not_after are protocol times between 1970 and 9998")
    await _require_signer_not_revoked(conn, received)
    await store.lock_peer_key_id(conn, body.key_id)  # an administrator entering it for another State meanwhile
    existing = await store.get_peer_key(conn, sender, body.key_id)
    if existing is not None:
        if bytes(existing["public_key"]) == raw:
            return  # announced twice (to every partner, then again): nothing new
        raise NoticeRejectedError("key-id-mismatch", "a different key with this key_id is already known")
    if any(state != sender for state in await store.list_key_states(conn, body.key_id)):
        # a key speaks for one State (PROTOCOL §1): another State's registry would speak as the sender with it
        raise NoticeRejectedError("key-id-mismatch", "this key is another State's on the trust list")
    if await key_store.is_own_key(conn, body.key_id):
        # its private half is here: what this registry signs would pass as the sender's word
        raise NoticeRejectedError("key-id-mismatch", "this key is the receiving registry's own")
    not_before = parse_time(body.not_before)
    not_after = parse_time(body.not_after) if body.not_after else None
    if not_after is not None and not_after <= not_before:
        # a key valid at no moment (peer_key_window_check would refuse it too)
        raise NoticeRejectedError(
            "invalid-body", f"not_after {body.not_after} is not after not_before {body.not_before}"
        )
    try:
        await store.insert_peer_key(
            conn, sender, body.key_id, raw, not_before, not_after, received.notice.id, utc_now()
        )
    except ConflictError as exc:
        raise NoticeRejectedError("invalid-body", exc.detail) from exc
    await journal.record(
        conn,
        actor=f"partner:{sender}",
        action="peer.key-announced",
        entity="peer",
        entity_id=sender,
        payload={"key_id": body.key_id, "public_key": body.public_key, "notice_id": received.notice.id},
    )


@effect("registry.key-revoked")
async def key_revoked(conn: Conn, received: ReceivedNotice) -> None:
    """Mark the sender's key revoked from ``revoked_at``: its notices created from then on fail check 4.

    Another key than the one signing is revoked only by a key not revoked by now (``key-revoked`` otherwise).
    """
    body = body_as(received, KeyRevoked)
    sender = received.notice.sender
    if not _key_time(body.revoked_at):
        raise NoticeRejectedError("invalid-body", "revoked_at is a protocol time between 1970 and 9998")
    if body.key_id != received.key_id:  # a key may always revoke itself
        await _require_signer_not_revoked(conn, received)
    row = await store.revoke_peer_key(conn, sender, body.key_id, parse_time(body.revoked_at))
    if row is None:
        raise NoticeRejectedError("unknown-key", f"{body.key_id} is not a key of {sender}")
    await journal.record(
        conn,
        actor=f"partner:{sender}",
        action="peer.key-revoked",
        entity="peer",
        entity_id=sender,
        payload={"key_id": body.key_id, "revoked_at": body.revoked_at, "reason": body.reason},
    )
