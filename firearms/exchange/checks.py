"""The receiver's checks 1-6 of PROTOCOL §4 that need no storage beyond the sender's trust entry.

Checks 7 and 8 (notice id, sequence) need the inbox and run in :mod:`firearms.exchange.inbox`.
Each failure raises :class:`NoticeRefusedError` with the protocol's problem name.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from firearms.canonical import parse_time
from firearms.exchange.protocol import (
    CLOCK_SKEW,
    Envelope,
    NoticeRefusedError,
    decode_envelope,
    verify_notice_signature,
)

__all__ = [
    "KEY_TIMES_FROM",
    "TrustedKey",
    "check_recipient",
    "check_signed",
    "is_key_time",
    "key_validity",
    "parse_envelope",
]


KEY_TIMES_FROM = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""The earliest time a key's validity can be stored with (see :func:`is_key_time`)."""
_KEY_TIMES_UNTIL = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def is_key_time(moment: dt.datetime) -> bool:
    """A time a key's validity can be stored with (1970-9998), whoever enters it (an administrator, a notice).

    PostgreSQL keeps the ends of Python's range as ``-infinity``/``infinity``, read back as naive times that
    check 4 of every later notice of the partner could not compare with aware ones.
    """
    return KEY_TIMES_FROM <= moment < _KEY_TIMES_UNTIL


class TrustedKey(msgspec.Struct, frozen=True, kw_only=True):
    """A partner's public key on the trust list, with its validity (PROTOCOL §1)."""

    key_id: str
    public_key: bytes
    not_before: dt.datetime
    not_after: dt.datetime | None
    revoked_at: dt.datetime | None


def parse_envelope(raw: bytes) -> tuple[Envelope, bytes]:
    """Check 1: size, JSON, shape, protocol value. Returns the envelope and its signing input."""
    return decode_envelope(raw)


def check_recipient(envelope: Envelope, receiver_state: str) -> None:
    """Check 2: the notice is addressed to this registry's State."""
    if envelope.notice.recipient != receiver_state:
        raise NoticeRefusedError(
            "wrong-recipient",
            f"this registry speaks for {receiver_state}, the notice is addressed to {envelope.notice.recipient}",
            receiver=receiver_state,
        )


def key_validity(key: TrustedKey, created_at: dt.datetime) -> str | None:
    """``None`` when ``key`` is valid for a notice created at ``created_at``; else the problem name."""
    if key.revoked_at is not None and key.revoked_at <= created_at:
        return "key-revoked"
    if created_at < key.not_before or (key.not_after is not None and created_at >= key.not_after):
        return "unknown-key"
    return None


def check_signed(
    envelope: Envelope,
    trusted: list[TrustedKey] | None,
    now: dt.datetime,
    signing_input: bytes | None = None,
    *,
    verified: tuple[bytes, bool] | None = None,
) -> TrustedKey:
    """Checks 3-6: sender trusted, key valid for ``created_at``, signature good, clock skew.

    Args:
        envelope: the decoded envelope (check 1 passed).
        trusted: the sender's keys on the trust list, ``None`` when the sender is not on it (or disabled).
        now: the receiver's clock.
        signing_input: the notice's signing input, when the caller has it (from :func:`parse_envelope`).
        verified: ``(public_key, result)`` of verifying the signature already (the receiver does it on a
            thread while it reads the trust list); counts for check 5 only when check 4 finds that key.

    Returns:
        The key that signed the notice.
    """
    notice = envelope.notice
    if trusted is None:
        # The sender's operator reads this in its outbox's last error: a disabled partner is on the list, and the
        # fix (enable rather than add) is the receiving administrator's, so the detail names both
        raise NoticeRefusedError(
            "unknown-sender",
            f"{notice.sender} is not on this registry's trust list, or is disabled there: its administrator "
            f"adds it ('firearms peers add {notice.sender}') or enables it ('firearms peers enable {notice.sender}')",
        )
    created_at = parse_time(notice.created_at)
    key = next((k for k in trusted if k.key_id == envelope.signature.key_id), None)
    if key is None:
        raise NoticeRefusedError(
            "unknown-key",
            f"key {envelope.signature.key_id} is not a key of {notice.sender}",
            key_id=key_id_text(envelope),
        )
    problem = key_validity(key, created_at)
    if problem == "key-revoked":
        raise NoticeRefusedError(
            "key-revoked",
            f"key {key.key_id} of {notice.sender} was revoked before the notice was created",
            key_id=key.key_id,
        )
    if problem is not None:
        raise NoticeRefusedError(
            "unknown-key", f"key {key.key_id} of {notice.sender} is not valid at {notice.created_at}", key_id=key.key_id
        )
    if verified is not None and verified[0] == key.public_key:
        good = verified[1]
    else:
        good = verify_notice_signature(envelope, key.public_key, signing_input)
    if not good:
        raise NoticeRefusedError("bad-signature", "the signature does not verify over the notice")
    if created_at > now + CLOCK_SKEW:
        raise NoticeRefusedError(
            "clock-skew",
            f"created_at {notice.created_at} is more than {int(CLOCK_SKEW.total_seconds())} s ahead of our clock",
        )
    return key


def key_id_text(envelope: Envelope) -> str:
    """The key id the envelope names."""
    return envelope.signature.key_id
