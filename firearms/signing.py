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
import os
import re
from typing import TYPE_CHECKING

from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["SigningKey", "b64url_decode", "b64url_encode", "is_public_key", "key_id_of", "verify"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


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
    """True when ``signature`` is a valid pure Ed25519 (RFC 8032) signature of ``message``."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        _verifier(public_key).verify(message, signature)
    except ValueError:
        return False
    return True


def is_public_key(public_key: bytes) -> bool:
    """True when ``public_key`` is 32 bytes encoding a point of Ed25519 that is not of small order.

    A small-order point (the identity among them) is no key: with it the signature R = identity, S = 0
    verifies every message (RFC 8032's cofactored check), so whoever knows that could sign as its holder.
    """
    if len(public_key) != 32:
        return False
    try:
        _verifier(public_key)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=256)
def _verifier(public_key: bytes) -> eddsa.EdDSASigScheme:
    """The verifier of a public key, kept: decoding the point costs a fifth of a verification.

    Raises:
        ValueError: the bytes are not a point of the curve, or a point of small order (not cached).
    """
    key = eddsa.import_public_key(public_key)
    if (key.pointQ * 8).is_point_at_infinity():
        raise ValueError("a point of small order is no public key")
    return eddsa.new(key, "rfc8032")


class SigningKey:
    """A private Ed25519 key with its raw public key and ``key_id``."""

    __slots__ = ("_key", "_signer", "key_id", "public_key")

    def __init__(self, key: ECC.EccKey) -> None:
        self._key = key
        self._signer = eddsa.new(key, "rfc8032")
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

    def save(self, path: Path) -> None:
        """Write the key as PEM to a new file of mode 0600; an existing file is never overwritten."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.pem())

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._signer.sign(message)
