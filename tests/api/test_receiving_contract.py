"""PROTOCOL §3-§4 line by line: the receiving checks in their order (when two fail, the first one answers),
the envelope's closed shape outside ``body`` and open shape inside it, and the receipt's exact members."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import msgspec
import pytest

from firearms import db
from firearms.canonical import format_time, utc_now
from firearms.exchange.protocol import PROBLEM_BASE
from firearms.signing import b64url_encode
from tests.exchange_fixtures import Client, de
from tests.exchange_util import AT_KEY, OTHER_KEY, VECTORS, envelope

__all__ = ["de"]

# PROTOCOL §4's table: the status of each refusal
STATUS = {
    "malformed-notice": 400,
    "wrong-recipient": 400,
    "unknown-sender": 403,
    "unknown-key": 403,
    "key-revoked": 403,
    "bad-signature": 403,
    "clock-skew": 400,
    "notice-id-conflict": 409,
    "sequence-gap": 409,
}
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


async def _post(client: Client, raw: bytes) -> Any:
    return await client.post("/exchange/v1/notices", content=raw, headers={"content-type": "application/json"})


async def _inbox(conn: db.Conn) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM notice_inbox")
    return count


def _edit(raw: bytes, change: Any) -> bytes:
    """The envelope with ``change`` applied to its decoded form, re-encoded (the signature left as it was)."""
    value = json.loads(raw)
    change(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def _future(seconds: int) -> str:
    return format_time(utc_now() + dt.timedelta(seconds=seconds))


def _bad_signature(value: dict[str, Any]) -> None:
    value["signature"]["value"] = b64url_encode(bytes(64))


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        # 1 before 2: a wrong protocol value to another State
        (
            _edit(envelope(AT_KEY, recipient="FR"), lambda value: value.update(protocol="firearms-exchange/2")),
            "malformed-notice",
        ),
        # 2 before 3: to another State from a sender nobody trusts
        (envelope(OTHER_KEY, sender="FR", recipient="IT"), "wrong-recipient"),
        # 3 before 4: an untrusted sender with a key nobody knows
        (envelope(OTHER_KEY, sender="FR"), "unknown-sender"),
        # 4 before 6: a key the sender does not have, from the future
        (envelope(OTHER_KEY, created_at=_future(3600)), "unknown-key"),
        # 5 before 6: a broken signature from the future
        (_edit(envelope(AT_KEY, created_at=_future(3600)), _bad_signature), "bad-signature"),
        # 6 before 8: from the future, and out of sequence
        (envelope(AT_KEY, sequence=5, created_at=_future(3600)), "clock-skew"),
    ],
    ids=["1-before-2", "2-before-3", "3-before-4", "4-before-6", "5-before-6", "6-before-8"],
)
async def test_the_first_failing_check_answers(de: tuple[Client, db.Conn], raw: bytes, problem: str) -> None:
    """PROTOCOL §4: the receiver checks in the table's order and answers the first failure, storing nothing."""
    client, conn = de
    response = await _post(client, raw)
    assert response.json()["type"] == PROBLEM_BASE + problem, response.text
    assert response.status_code == STATUS[problem]
    assert response.json()["status"] == STATUS[problem]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await _inbox(conn) == 0


async def test_an_id_conflict_is_answered_before_a_sequence_gap(de: tuple[Client, db.Conn]) -> None:
    """Check 7 before check 8: a stored id with other bytes and a sequence already consumed is a conflict."""
    client, conn = de
    notice_id = "0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e11"
    assert (await _post(client, envelope(AT_KEY, sequence=1, notice_id=notice_id, body={"n": 1}))).status_code == 202
    other = await _post(client, envelope(AT_KEY, sequence=9, notice_id=notice_id, body={"n": 2}))
    assert (other.status_code, other.json()["type"]) == (409, PROBLEM_BASE + "notice-id-conflict")
    assert await _inbox(conn) == 1


@pytest.mark.parametrize("where", ["envelope", "notice", "signature"])
async def test_an_unknown_member_outside_the_body_makes_the_envelope_malformed(
    de: tuple[Client, db.Conn], where: str
) -> None:
    """PROTOCOL §3: unknown fields anywhere but inside ``body`` make the envelope malformed (check 1, 400)."""
    client, conn = de

    def add(value: dict[str, Any]) -> None:
        (value if where == "envelope" else value[where])["extra"] = 1

    response = await _post(client, _edit(envelope(AT_KEY), add))
    assert (response.status_code, response.json()["type"]) == (400, PROBLEM_BASE + "malformed-notice")
    assert await _inbox(conn) == 0


async def test_an_unknown_member_inside_the_body_is_kept_and_ignored(de: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §3: unknown body fields are kept (the stored bytes are the sender's) and ignored (accepted)."""
    client, conn = de
    licence = VECTORS["notice"]["envelope"]["notice"]["body"]["licence"]
    raw = envelope(AT_KEY, type_="export-licence.issued", body={"licence": licence, "remark": "kept"})
    response = await _post(client, raw)
    assert response.status_code == 202
    receipt = msgspec.json.decode(response.content)["receipt"]
    assert (receipt["status"], receipt["reason"]) == ("accepted", None)
    stored = msgspec.json.decode(bytes(await conn.fetchval("SELECT notice FROM notice_inbox")))
    assert stored["body"]["remark"] == "kept"


async def test_the_receipt_has_exactly_the_protocols_members(de: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §4: ``{"protocol", "receipt": {notice_id, sender, recipient, sequence, digest, status, reason,
    received_at}, "signature": {alg, key_id, value}}``, ``received_at`` at second precision with ``Z``."""
    client, _conn = de
    raw = envelope(AT_KEY, sequence=1)
    response = await _post(client, raw)
    assert response.status_code == 202
    assert response.headers["content-type"].startswith("application/json")
    document = msgspec.json.decode(response.content)
    assert set(document) == {"protocol", "receipt", "signature"}
    assert document["protocol"] == "firearms-exchange/1"
    receipt = document["receipt"]
    assert set(receipt) == {
        "notice_id",
        "sender",
        "recipient",
        "sequence",
        "digest",
        "status",
        "reason",
        "received_at",
    }
    notice = msgspec.json.decode(raw)["notice"]
    assert (receipt["notice_id"], receipt["sender"], receipt["recipient"], receipt["sequence"]) == (
        notice["id"],
        "AT",
        "DE",
        1,
    )
    assert _TIME.match(receipt["received_at"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", receipt["digest"])  # 32 bytes, base64url without padding
    assert set(document["signature"]) == {"alg", "key_id", "value"}
    assert document["signature"]["alg"] == "Ed25519"
    assert re.fullmatch(r"[0-9a-f]{32}", document["signature"]["key_id"])
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", document["signature"]["value"])  # 64 bytes, no padding


async def test_a_notice_that_cannot_be_applied_is_stored_rejected_with_a_reason(de: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §4: it consumes its sequence number; the receipt says ``rejected`` and why; the queue moves on."""
    client, conn = de
    unknown = {"licence_number": "AT-EXP-2026-999999", "shipment_id": "S-1"}
    response = await _post(client, envelope(AT_KEY, sequence=1, type_="receipt.confirmation-requested", body=unknown))
    assert response.status_code == 202
    receipt = msgspec.json.decode(response.content)["receipt"]
    assert receipt["status"] == "rejected"
    assert isinstance(receipt["reason"], str)
    assert receipt["reason"]
    assert (await _post(client, envelope(AT_KEY, sequence=2))).status_code == 202
    assert await _inbox(conn) == 2


async def test_a_duplicate_is_judged_by_canonical_bytes_not_by_the_bytes_sent(de: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §4: "already stored with the same bytes" are the notice's canonical bytes (§2, what is signed):
    the same envelope sent again with white space and ``\\u`` escapes is a duplicate (200, the first receipt)."""
    client, conn = de
    raw = envelope(AT_KEY, sequence=1, body={"b": 1, "a": "Dolní Dvořiště"})
    first = await _post(client, raw)
    assert first.status_code == 202
    pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=True).encode()
    again = await _post(client, pretty)
    assert (again.status_code, again.content) == (200, first.content)
    assert await _inbox(conn) == 1


_ID = "0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e12"


def _sized(size: int, sequence: int) -> bytes:
    """A signed envelope of exactly ``size`` bytes (its body padded)."""
    bare = len(envelope(AT_KEY, sequence=sequence, body={"pad": ""}, notice_id=_ID))
    raw = envelope(AT_KEY, sequence=sequence, body={"pad": "x" * (size - bare)}, notice_id=_ID)
    assert len(raw) == size
    return raw


async def test_an_envelope_is_at_most_256_kib(de: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §3: 262,144 bytes are taken; one more is malformed (check 1) and nothing is stored."""
    client, conn = de
    over = await _post(client, _sized(256 * 1024 + 1, 1))
    assert (over.status_code, over.json()["type"]) == (400, PROBLEM_BASE + "malformed-notice")
    assert await _inbox(conn) == 0
    assert (await _post(client, _sized(256 * 1024, 1))).status_code == 202
    assert await _inbox(conn) == 1


def _jcs(value: Any) -> str:
    """RFC 8785 as a conformant partner writes it: object keys sorted by their UTF-16 code units."""
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be"))
        return "{" + ",".join(f"{_jcs(name)}:{_jcs(item)}" for name, item in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_jcs(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize(
    "body",
    [
        {"\u00e9": 1},  # JCS and code-point order agree; still no key of §2's subset
        {"\uff61": 1, "\U0001f600": 2},  # they disagree: U+1F600 is 0xD83D... in UTF-16, before U+FF61
    ],
    ids=["latin", "beyond-the-bmp"],
)
async def test_an_object_key_outside_ascii_makes_the_envelope_malformed(
    de: tuple[Client, db.Conn], body: dict[str, Any]
) -> None:
    """PROTOCOL §2: object keys are ASCII. Beyond ASCII, RFC 8785 (UTF-16 order) and a code-point sort part ways,
    so two conformant registries need not agree on the signed bytes: such an envelope has no canonical form here
    (check 1, ``malformed-notice``), however its sender ordered the keys, and nothing is stored.

    Before, the first was accepted and the second refused ``bad-signature``, blaming the sender's key material.
    """
    client, conn = de
    notice = msgspec.json.decode(envelope(AT_KEY))["notice"] | {"body": body}
    signing_input = b"firearms-exchange/1 notice\n" + _jcs(notice).encode()
    signature = {"alg": "Ed25519", "key_id": AT_KEY.key_id, "value": b64url_encode(AT_KEY.sign(signing_input))}
    raw = _jcs({"protocol": "firearms-exchange/1", "notice": notice, "signature": signature}).encode()
    response = await _post(client, raw)
    assert (response.status_code, response.json()["type"]) == (400, PROBLEM_BASE + "malformed-notice"), response.text
    assert "ASCII" in response.json()["detail"]
    assert await _inbox(conn) == 0


@pytest.mark.parametrize(
    ("written", "canonical_text"),
    [
        (b'"n":-0', b'"n":0'),  # JCS writes minus zero as 0
        (b'"s":"\\ud83d\\ude00"', '"s":"\U0001f600"'.encode()),  # a character beyond the BMP as a surrogate pair
        (b'"s":"a\\/b"', b'"s":"a/b"'),  # "/" is not escaped
        (b'"s":"\\u00E9\\u0041"', '"s":"\u00e9A"'.encode()),  # upper-case hex, an escaped ASCII letter
    ],
    ids=["minus-zero", "surrogate-pair", "escaped-solidus", "needless-escapes"],
)
async def test_a_notice_written_otherwise_verifies_over_its_canonical_form(
    de: tuple[Client, db.Conn], written: bytes, canonical_text: bytes
) -> None:
    """PROTOCOL §2-§3: the signature covers canonical(notice), whatever JSON spelling of the same values travels.

    The notice is stored in its canonical bytes, and the canonical envelope sent after it is the same notice:
    a duplicate answered with the first receipt.
    """
    client, conn = de
    body = msgspec.json.decode(b"{" + canonical_text + b"}")
    canonical_raw = envelope(AT_KEY, sequence=1, body=body)
    assert canonical_text in canonical_raw
    first = await _post(client, canonical_raw.replace(canonical_text, written))
    assert first.status_code == 202, first.text
    assert msgspec.json.decode(first.content)["receipt"]["status"] == "accepted"
    stored = bytes(await conn.fetchval("SELECT notice FROM notice_inbox"))
    assert canonical_text in stored
    assert written not in stored
    again = await _post(client, canonical_raw)
    assert (again.status_code, again.content) == (200, first.content)
    assert await _inbox(conn) == 1


async def test_a_revoked_key_is_answered_before_a_bad_signature(de: tuple[Client, db.Conn]) -> None:
    """Check 4 before check 5: a notice created after its key's revocation, with a broken signature, is
    ``key-revoked`` -- also when the key was seen before, whose signature the receiver verifies ahead of the trust
    list -- while one created before the revocation with a broken signature is ``bad-signature``."""
    client, conn = de
    assert (await _post(client, envelope(AT_KEY, sequence=1))).status_code == 202  # the key is seen
    revoked_at = utc_now() - dt.timedelta(seconds=60)
    revoke = {"key_id": AT_KEY.key_id, "revoked_at": format_time(revoked_at), "reason": "retired"}
    revoked = await _post(client, envelope(AT_KEY, sequence=2, type_="registry.key-revoked", body=revoke))
    assert msgspec.json.decode(revoked.content)["receipt"]["status"] == "accepted"
    after = _edit(envelope(AT_KEY, sequence=3), _bad_signature)
    response = await _post(client, after)
    assert (response.status_code, response.json()["type"]) == (403, PROBLEM_BASE + "key-revoked")
    before = format_time(revoked_at - dt.timedelta(seconds=1))
    response = await _post(client, _edit(envelope(AT_KEY, sequence=3, created_at=before), _bad_signature))
    assert (response.status_code, response.json()["type"]) == (403, PROBLEM_BASE + "bad-signature")
    assert await _inbox(conn) == 2


@pytest.mark.parametrize(
    "created_at",
    [
        "2026-11-28T10:15:00",  # no zone
        "2026-11-28T11:15:00+01:00",  # an offset
        "2026-11-28T10:15:00+00:00",  # UTC, but not with a Z
        "2026-11-28T10:15:00.5Z",  # a fraction
        "2026-11-28t10:15:00z",  # lower-case letters
        "2026-11-28 10:15:00Z",  # a space
        "2026-11-28T10:15Z",  # no seconds
        "2026-11-28T10:15:60Z",  # a leap second
        "\uff12\uff10\uff12\uff16-11-28T10:15:00Z",  # digits, but not ASCII ones
    ],
)
async def test_created_at_in_any_other_form_than_utc_seconds_with_a_z_is_malformed(
    de: tuple[Client, db.Conn], created_at: str
) -> None:
    """PROTOCOL §2: times are RFC 3339 UTC strings with second precision and a ``Z``, and no other RFC 3339 form.

    The signature is good over each of these (the sender signed what it wrote): check 1 refuses them all the same.
    """
    client, conn = de
    response = await _post(client, envelope(AT_KEY, created_at=created_at))
    assert (response.status_code, response.json()["type"]) == (400, PROBLEM_BASE + "malformed-notice")
    assert await _inbox(conn) == 0
