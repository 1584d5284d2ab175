"""firearms-exchange/1 on the wire (PROTOCOL.md §2-§4): envelopes, signing inputs, receipts.

The ``notice`` is decoded strictly (unknown fields refused) except its ``body``, which is kept
exactly as received: the signature covers the canonical form of what the sender wrote, so the
receiver must never re-shape it before verifying.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated, Any, Literal

import msgspec

from firearms.canonical import canonical, format_time, key_named_twice, parse_time
from firearms.errors import FirearmsError
from firearms.signing import SigningKey, b64url_decode, b64url_encode, verify
from firearms.text_rules import STATE_CODE_PATTERN, without_input

__all__ = [
    "CLOCK_SKEW",
    "MAX_ENVELOPE_BYTES",
    "NOTICE_PREFIX",
    "PROBLEM_BASE",
    "PROTOCOL",
    "RECEIPT_PREFIX",
    "Confidentiality",
    "Envelope",
    "Notice",
    "NoticeRefusedError",
    "Receipt",
    "ReceiptEnvelope",
    "ReceiptStatus",
    "Signature",
    "decode_envelope",
    "decode_receipt",
    "digest_of",
    "encode",
    "is_time",
    "make_time",
    "notice_signing_input",
    "receipt_signing_input",
    "sign_notice",
    "sign_receipt",
    "verify_notice_signature",
    "verify_receipt_signature",
]

PROTOCOL = "firearms-exchange/1"
NOTICE_PREFIX = b"firearms-exchange/1 notice\n"
RECEIPT_PREFIX = b"firearms-exchange/1 receipt\n"
MAX_ENVELOPE_BYTES = 256 * 1024
CLOCK_SKEW = dt.timedelta(seconds=300)
PROBLEM_BASE = "tag:firearms-exchange,2026:problems/"

Confidentiality = Literal["public", "restricted", "confidential"]
ReceiptStatus = Literal["accepted", "rejected"]
StateCode = Annotated[str, msgspec.Meta(pattern=STATE_CODE_PATTERN)]
NoticeId = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$(?!\n)")
]
NoticeType = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$(?!\n)", max_length=100)]
_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$(?!\n)"  # PROTOCOL §2: UTC, seconds, Z
Time = Annotated[str, msgspec.Meta(pattern=_TIME_PATTERN)]
Sequence = Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
KeyId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$(?!\n)")]
SignatureValue = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{86}$(?!\n)")]
Digest = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{43}$(?!\n)")]
# PROTOCOL §4 sets no length on a receipt's reason: a partner's signed verdict is taken whole, however long
# (the 256 KiB of an answer bound it); an empty one names no reason
Reason = Annotated[str, msgspec.Meta(min_length=1)]
_TIME = re.compile(_TIME_PATTERN)


class NoticeRefusedError(FirearmsError):
    """A notice failed one of the receiver's checks (PROTOCOL §4); nothing was stored.

    ``code`` is the last segment of the exchange problem type (``malformed-notice``, ``wrong-recipient``,
    ``unknown-sender``, ``unknown-key``, ``key-revoked``, ``bad-signature``, ``clock-skew``,
    ``notice-id-conflict``, ``sequence-gap``).
    """

    def __init__(self, code: str, detail: str, **facts: Any) -> None:
        super().__init__(detail, **facts)
        self.code = code  # type: ignore[misc]  # one error class, many protocol codes


class Signature(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An Ed25519 signature by the key ``key_id``."""

    alg: Literal["Ed25519"]
    key_id: KeyId
    value: SignatureValue


class Notice(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The signed part of an envelope (PROTOCOL §3); ``body`` is the type's payload as received."""

    id: NoticeId
    type: NoticeType
    sender: StateCode
    recipient: StateCode
    sequence: Sequence
    created_at: Time
    in_reply_to: NoticeId | None
    confidentiality: Confidentiality
    body: dict[str, Any]


class Envelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What travels: the protocol name, the notice and the sender's signature over it."""

    protocol: str
    notice: Notice
    signature: Signature


class Receipt(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The recipient's signed statement that it stored a notice (PROTOCOL §4, Art. 10(4))."""

    notice_id: NoticeId
    sender: StateCode
    recipient: StateCode
    sequence: Sequence
    digest: Digest
    status: ReceiptStatus
    reason: Reason | None
    received_at: Time


class ReceiptEnvelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A receipt with the recipient's signature."""

    protocol: str
    receipt: Receipt
    signature: Signature


def encode(value: Any) -> bytes:
    """The canonical bytes of a Struct or plain value (what goes on the wire and into storage).

    Raises:
        ValueError: ``value`` has no canonical form (PROTOCOL §2: a float, an integer out of range, an object key
            outside ASCII).
    """
    return canonical(msgspec.to_builtins(value), ascii_keys=True)


def notice_signing_input(notice: Notice) -> bytes:
    """``firearms-exchange/1 notice`` + LF + canonical(notice) (PROTOCOL §3).

    Raises:
        ValueError: the notice holds a float, an out-of-range integer or an object key outside ASCII (no canonical
            form).
    """
    return NOTICE_PREFIX + encode(notice)


def receipt_signing_input(receipt: Receipt) -> bytes:
    """``firearms-exchange/1 receipt`` + LF + canonical(receipt) (PROTOCOL §4)."""
    return RECEIPT_PREFIX + encode(receipt)


def digest_of(signing_input: bytes) -> str:
    """base64url(SHA-256(signing input)), unpadded: what a receipt names."""
    return b64url_encode(hashlib.sha256(signing_input).digest())


def sign_notice(notice: Notice, key: SigningKey, signing_input: bytes | None = None) -> Envelope:
    """The envelope of ``notice`` signed by ``key`` (``signing_input``: the notice's, when the caller has it)."""
    value = key.sign(signing_input or notice_signing_input(notice))
    return Envelope(
        protocol=PROTOCOL,
        notice=notice,
        signature=Signature(alg="Ed25519", key_id=key.key_id, value=b64url_encode(value)),
    )


def sign_receipt(receipt: Receipt, key: SigningKey) -> ReceiptEnvelope:
    """The recipient's signed receipt."""
    value = key.sign(receipt_signing_input(receipt))
    return ReceiptEnvelope(
        protocol=PROTOCOL,
        receipt=receipt,
        signature=Signature(alg="Ed25519", key_id=key.key_id, value=b64url_encode(value)),
    )


def verify_notice_signature(envelope: Envelope, public_key: bytes, signing_input: bytes | None = None) -> bool:
    """True when the envelope's signature verifies under ``public_key`` (check 5 of PROTOCOL §4).

    ``signing_input``: the notice's, when the caller has it already (:func:`decode_envelope` returns it).
    """
    try:
        value = b64url_decode(envelope.signature.value)
    except ValueError:
        return False
    return verify(public_key, signing_input or notice_signing_input(envelope.notice), value)


def verify_receipt_signature(envelope: ReceiptEnvelope, public_key: bytes) -> bool:
    """True when a receipt's signature verifies under ``public_key``."""
    try:
        value = b64url_decode(envelope.signature.value)
    except ValueError:
        return False
    return verify(public_key, receipt_signing_input(envelope.receipt), value)


def decode_envelope(raw: bytes) -> tuple[Envelope, bytes]:
    """Check 1 of PROTOCOL §4: size, JSON, envelope shape, protocol value, canonical numbers.

    Returns:
        The envelope and its notice's signing input.

    Raises:
        NoticeRefusedError: ``malformed-notice``.
    """
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise NoticeRefusedError("malformed-notice", f"an envelope is at most {MAX_ENVELOPE_BYTES} bytes")
    try:
        envelope = msgspec.json.decode(raw, type=Envelope)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:  # the last two: not UTF-8, too deep
        # anyone may post here: msgspec's words, less any value or unknown name the sender wrote (README "Security")
        raise NoticeRefusedError("malformed-notice", f"the envelope is malformed: {without_input(str(exc))}") from exc
    if envelope.protocol != PROTOCOL:
        raise NoticeRefusedError("malformed-notice", f"the protocol is not {PROTOCOL!r}", protocol=PROTOCOL)
    try:
        parse_time(envelope.notice.created_at)
        signing_input = notice_signing_input(envelope.notice)
    except (ValueError, RecursionError) as exc:
        raise NoticeRefusedError("malformed-notice", f"the notice has no canonical form: {exc}") from exc
    if raw != _canonical_envelope(envelope, signing_input) and _names_a_key_twice(raw):
        raise NoticeRefusedError("malformed-notice", "an object of the envelope names a key twice (PROTOCOL §2)")
    return envelope, signing_input


def _canonical_envelope(envelope: Envelope, signing_input: bytes) -> bytes:
    """The canonical bytes of a decoded envelope (whose ``protocol`` is :data:`PROTOCOL`), built from its parts."""
    return b"".join(
        (
            b'{"notice":',
            signing_input[len(NOTICE_PREFIX) :],
            b',"protocol":"' + PROTOCOL.encode() + b'","signature":',
            encode(envelope.signature),
            b"}",
        )
    )


def _names_a_key_twice(raw: bytes) -> bool:
    """True when an object in ``raw`` names a key twice (§2: no duplicate keys; :func:`key_named_twice`).

    Only envelopes and receipts that are not canonical come here: canonical bytes name every key once. A text msgspec
    read and this parser cannot is left to msgspec's reading.
    """
    try:
        return key_named_twice(raw) is not None
    except (ValueError, RecursionError):
        return False


def decode_receipt(raw: bytes) -> ReceiptEnvelope:
    """A receipt envelope as a partner sent it (PROTOCOL §2 and §4).

    A receipt is the proof of delivery, so one that is malformed proves nothing: an object naming a key
    twice (§2, as for an envelope: another reader of the same bytes may read another status), a ``rejected``
    receipt without the reason code §4 says it carries, or an ``accepted`` one with a reason.

    Raises:
        ValueError: not a receipt of this protocol, malformed as above, or its ``received_at`` is no real time.
    """
    try:
        envelope = msgspec.json.decode(raw, type=ReceiptEnvelope)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:  # the last two: not UTF-8, too deep
        raise ValueError(f"not a receipt: {exc}") from exc
    if envelope.protocol != PROTOCOL:
        raise ValueError(f"receipt protocol {envelope.protocol!r} is not {PROTOCOL!r}")
    if raw != encode(envelope) and _names_a_key_twice(raw):
        raise ValueError("an object of the receipt names a key twice (PROTOCOL §2)")
    receipt = envelope.receipt
    if receipt.status == "rejected" and receipt.reason is None:
        raise ValueError("a rejected receipt without a reason code (PROTOCOL §4)")
    if receipt.status == "accepted" and receipt.reason is not None:
        raise ValueError("an accepted receipt with a reason (PROTOCOL §4: a reason says why a notice was rejected)")
    try:  # the pattern lets 2026-02-30 through; the sender checks the receipt's key at this time
        parse_time(envelope.receipt.received_at)
    except ValueError as exc:
        raise ValueError(f"received_at {envelope.receipt.received_at!r} is not a time: {exc}") from exc
    return envelope


def make_time(moment: dt.datetime) -> str:
    """A protocol time (second precision, ``Z``)."""
    return format_time(moment.replace(microsecond=0))


def is_time(text: str) -> bool:
    """True for a strict protocol time string."""
    if not _TIME.fullmatch(text):
        return False
    try:
        parse_time(text)
    except ValueError:
        return False
    return True
