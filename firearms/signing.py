"""Ed25519 signing keys (PROTOCOL.md §1): the only module that imports pycryptodome.

A key is kept as a PKCS#8 PEM file readable only by the service (mode 0600); its public half
travels as 32 raw bytes in unpadded base64url, and its ``key_id`` is the first 16 bytes of
SHA-256 over those raw bytes, in lower-case hex.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from typing import TYPE_CHECKING

from Crypto.PublicKey import ECC
from Crypto.PublicKey._point import EccPoint  # public as ECC.EccPoint, which mypy takes for private
from Crypto.Signature import eddsa

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["SigningKey", "b64url_decode", "b64url_encode", "is_public_key", "key_id_of", "verify"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_ORDER = 2**252 + 27742317777372353535851937790883648493  # of the base point B (RFC 8032 §5.1)
_BASE = eddsa.import_public_key(bytes.fromhex("58" + "66" * 31)).pointQ  # B, encoded as RFC 8032 §5.1 gives it
_IDENTITY = _BASE * 0


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict unpadded base64url: padding, other alphabets and stray characters are refused.

    Raises:
        ValueError: ``text`` is not unpadded base64url.
    """
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not unpadded base64url") from exc
    if b64url_encode(data) != text:  # non-canonical trailing bits
        raise ValueError("not canonical base64url")
    return data


def key_id_of(public_key: bytes) -> str:
    """``key_id`` of a raw 32-byte Ed25519 public key: first 16 bytes of its SHA-256, hex."""
    return hashlib.sha256(public_key).digest()[:16].hex()


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid pure Ed25519 (RFC 8032) signature of ``message``.

    RFC 8032 §5.1.7 with the cofactored equation [8S]B = [8]R + [8k]A, as pycryptodome's own
    ``verify`` checks it, and with pycryptodome's point arithmetic. [8k]A is the sum of 64 of the key's
    kept multiples (:func:`_multiples`, 0.055 ms), where the library's own verification multiplies A by
    its ladder (0.17 ms); R is decoded by the library's C decoder, which its ``import_public_key`` calls
    before building a key object around the point (0.011 against 0.038 ms). Every input is public, so
    nothing here needs to run in constant time.
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _ORDER:
        return False
    try:
        multiples = _multiples(public_key)
        r = _decode_point(signature[:32])
    except ValueError:
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    k = int.from_bytes(digest, "little") % _ORDER
    right = r.double().double().double()  # [8]R, in place
    for window, half_byte in zip(multiples, _half_bytes(k), strict=True):
        if half_byte:
            right += window[half_byte]
    return bool(_BASE * (8 * s) == right)


def _half_bytes(k: int) -> list[int]:
    """The 64 half-bytes of a scalar below 2^256, least significant first."""
    return [half for byte in k.to_bytes(32, "little") for half in (byte & 15, byte >> 4)]


def _decode_point(encoded: bytes) -> EccPoint:
    """The point of a 32-byte RFC 8032 encoding (§5.1.3), by pycryptodome's C decoder.

    ``EccPoint._decode_eddsa`` is the library's own step of ``eddsa.import_public_key``, which then
    builds and checks a key object around the point; the test of :func:`verify` compares verdicts with
    the library's on every kind of bad encoding.

    Raises:
        ValueError: the bytes encode no point of the curve.
    """
    return EccPoint._decode_eddsa(encoded, "Ed25519")


def _encode_point(point: EccPoint) -> bytes:
    """RFC 8032 §5.1.2: y in little-endian, with the low bit of x as the top bit."""
    x, y = point.xy
    return (int(y) | (int(x) & 1) << 255).to_bytes(32, "little")


def is_public_key(public_key: bytes) -> bool:
    """True when ``public_key`` is 32 bytes encoding a point of Ed25519 that is not of small order.

    A small-order point (the identity among them) is no key: with it the signature R = identity, S = 0
    verifies every message (RFC 8032's cofactored check), so whoever knows that could sign as its holder.
    """
    if len(public_key) != 32:
        return False
    try:
        _public_point(public_key)
    except ValueError:
        return False
    return True


def _public_point(public_key: bytes) -> EccPoint:
    """The point A of a public key.

    Raises:
        ValueError: the bytes are not a point of the curve, or a point of small order.
    """
    point = eddsa.import_public_key(public_key).pointQ
    if (point * 8).is_point_at_infinity():
        raise ValueError("a point of small order is no public key")
    return point


@functools.lru_cache(maxsize=256)
def _multiples(public_key: bytes) -> tuple[tuple[EccPoint, ...], ...]:
    """[j·16^i·8]A for i < 64 and 0 ≤ j < 16, by window i then j: [8k]A is one addition a half-byte of k.

    Built in about 3 ms at a key's first verification and kept (about 0.2 MB a key). A key that
    is not one (:func:`_public_point`) raises ValueError and is not kept.
    """
    base = _public_point(public_key) * 8
    windows = []
    for _ in range(64):
        window = [_IDENTITY, base]  # the identity is never added: a zero half-byte adds nothing
        for _ in range(2, 16):
            window.append(window[-1] + base)
        windows.append(tuple(window))
        base = window[-1] + base  # 16 times the window's base
    return tuple(windows)


class SigningKey:
    """A private Ed25519 key with its raw public key and ``key_id``."""

    __slots__ = ("_key", "_prefix", "_scalar", "key_id", "public_key")

    def __init__(self, key: ECC.EccKey) -> None:
        self._key = key
        expanded = hashlib.sha512(key.seed).digest()  # RFC 8032 §5.1.5: the secret scalar s and the prefix
        scalar = int.from_bytes(expanded[:32], "little")
        self._scalar = scalar & ~7 & ((1 << 254) - 1) | 1 << 254
        self._prefix = expanded[32:]
        self.public_key: bytes = key.public_key().export_key(format="raw")
        self.key_id: str = key_id_of(self.public_key)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key from the operating system's randomness."""
        return cls(ECC.generate(curve="Ed25519"))

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """The key of a 32-byte RFC 8032 seed (used by the known-answer tests)."""
        return cls(ECC.construct(curve="Ed25519", seed=seed))

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        """Read a PEM key file."""
        return cls(ECC.import_key(path.read_text(encoding="ascii")))

    def pem(self) -> bytes:
        """The private key as PKCS#8 PEM (what :meth:`load` reads)."""
        return self._key.export_key(format="PEM").encode("ascii")

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (RFC 8032 §5.1.6).

        The secret nonce multiplies B by the call pycryptodome's own ``sign`` makes for it (its C ladder,
        blinded); the rest is two SHA-512 and arithmetic modulo the group order, without the library's
        wrapping of each step in objects (0.05 against 0.13 ms). The signature is deterministic: the
        test compares it byte for byte with the library's.
        """
        r = int.from_bytes(hashlib.sha512(self._prefix + message).digest(), "little") % _ORDER
        encoded_r = _encode_point(_BASE * r)
        digest = hashlib.sha512(encoded_r + self.public_key + message).digest()
        s = (r + int.from_bytes(digest, "little") % _ORDER * self._scalar) % _ORDER
        return encoded_r + s.to_bytes(32, "little")
