"""``signing`` signs and verifies with pycryptodome's point arithmetic but not its wrappers: its signatures
must be the library's, byte for byte, and it must judge every signature as the library does."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from firearms.signing import SigningKey, verify

if TYPE_CHECKING:
    from Crypto.PublicKey._point import EccPoint

_ORDER = 2**252 + 27742317777372353535851937790883648493
# a point of order 8 (RFC 8032's cofactor)
_SMALL_ORDER = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")


def _library_verdict(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        eddsa.new(eddsa.import_public_key(public_key), "rfc8032").verify(message, signature)
    except ValueError:
        return False
    return True


def _encode(point: EccPoint) -> bytes:
    x, y = point.xy
    return ECC.construct(curve="Ed25519", point_x=x, point_y=y).export_key(format="raw")


def _variants(key: SigningKey, rng: random.Random) -> list[tuple[bytes, bytes, bool]]:
    """(message, signature, valid) for a signature and altered forms of it."""
    message = rng.randbytes(rng.randrange(0, 300))
    signature = key.sign(message)
    r, s = signature[:32], int.from_bytes(signature[32:], "little")
    flipped = bytearray(signature)
    flipped[rng.randrange(64)] ^= 1 << rng.randrange(8)
    shifted_r = eddsa.import_public_key(r).pointQ + eddsa.import_public_key(_SMALL_ORDER).pointQ
    return [
        (message, signature, True),
        (message + b"\x00", signature, False),
        (message, bytes(flipped), False),
        (message, rng.randbytes(64), False),
        (message, r + (s + _ORDER).to_bytes(32, "little"), False),  # S not reduced: refused (§5.1.7)
        (message, _encode(shifted_r) + signature[32:], False),  # R + T: k changes with R's bytes
    ]


def test_verify_agrees_with_pycryptodome_on_valid_and_altered_signatures() -> None:
    rng = random.Random(20261129)  # noqa: S311 - repeatable test cases, nothing secret
    keys = [SigningKey.from_seed(rng.randbytes(32)) for _ in range(3)]
    cases = 0
    for key in keys:
        for _ in range(60):
            for message, signature, valid in _variants(key, rng):
                expected = _library_verdict(key.public_key, message, signature)
                assert verify(key.public_key, message, signature) is expected
                if valid:
                    assert expected, "a valid signature the library refused: the case is wrong"
                cases += 1
    assert cases == 3 * 60 * 6


_P = 2**255 - 19


@pytest.mark.parametrize(
    "r",
    [
        (1).to_bytes(32, "little"),  # the identity (0, 1): decodes, a point of small order
        _SMALL_ORDER,
        (_P + 1).to_bytes(32, "little"),  # y = 1 written as p + 1: not canonical (RFC 8032 §5.1.3)
        (1 | 1 << 255).to_bytes(32, "little"),  # x = 0 with the sign bit set
        (_P - 1 | 1 << 255).to_bytes(32, "little"),  # y = -1: x = 0 again, sign bit set
        bytes(32),  # y = 0: the points (±sqrt(-1), 0)
        b"\xff" * 32,  # y >= p
    ],
    ids=["identity", "order-8", "y-not-canonical", "x-zero-signed", "y-minus-one-signed", "y-zero", "all-ones"],
)
def test_edge_encodings_of_r_are_refused_without_error_as_the_library_refuses_them(r: bytes) -> None:
    """Some decode (small order), some do not (not canonical, no point): ``verify`` says False, it never raises."""
    key = SigningKey.from_seed(bytes([7]) * 32)
    message = b"receipt.confirmed"
    for s in (0, 1, _ORDER - 1, int.from_bytes(key.sign(message)[32:], "little")):
        signature = r + s.to_bytes(32, "little")
        assert verify(key.public_key, message, signature) is False
        assert _library_verdict(key.public_key, message, signature) is False


def test_a_signature_verifies_under_its_own_key_only() -> None:
    first, second = SigningKey.from_seed(bytes([1]) * 32), SigningKey.from_seed(bytes([2]) * 32)
    signature = first.sign(b"export-licence.issued")
    assert verify(first.public_key, b"export-licence.issued", signature)
    assert not verify(second.public_key, b"export-licence.issued", signature)


def test_signatures_are_the_librarys_byte_for_byte() -> None:
    rng = random.Random(20261130)  # noqa: S311 - repeatable test cases, nothing secret
    keys = [SigningKey.from_seed(rng.randbytes(32)) for _ in range(4)] + [SigningKey.generate()]
    keys.append(SigningKey(ECC.import_key(keys[-1].pem().decode("ascii"))))  # as ``load`` reads it
    compared = 0
    for key in keys:
        library = eddsa.new(ECC.import_key(key.pem().decode("ascii")), "rfc8032")
        for length in (0, 1, 31, 64, 127, 128, 129, 600, 4096):
            message = rng.randbytes(length)
            assert key.sign(message) == library.sign(message)
            compared += 1
    assert compared == 6 * 9
