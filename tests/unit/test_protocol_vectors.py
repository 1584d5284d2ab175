"""Every known-answer vector of tests/data/vectors.json (a copy of shared/protocol/vectors.json)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firearms.canonical import canonical, parse_time
from firearms.exchange.checks import TrustedKey, check_recipient, check_signed, parse_envelope
from firearms.exchange.protocol import (
    NoticeRefusedError,
    Receipt,
    decode_envelope,
    decode_receipt,
    digest_of,
    encode,
    receipt_signing_input,
    sign_notice,
    sign_receipt,
    verify_receipt_signature,
)
from firearms.signing import SigningKey, b64url_decode, b64url_encode, key_id_of

VECTORS_PATH = Path(__file__).parent.parent / "data" / "vectors.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def _raw_cases() -> list[tuple[str, str, bytes]]:
    """The must-refuse envelopes re-serialised from the file text, keeping 2.0 a float."""
    cases = VECTORS["must_refuse"]["cases"]
    return [(case["why"], case["problem"], json.dumps(case["envelope"]).encode()) for case in cases]


@pytest.mark.parametrize("case", VECTORS["canonical"], ids=lambda case: case["canonical_utf8"][:30])
def test_canonical_bytes_match_vector(case: dict[str, Any]) -> None:
    assert canonical(case["value"]) == case["canonical_utf8"].encode("utf-8")


@pytest.mark.parametrize("state", ["AT", "DE", "OTHER"])
def test_key_and_key_id_from_seed(state: str) -> None:
    vector = VECTORS["keys"][state]
    key = SigningKey.from_seed(bytes.fromhex(vector["seed_hex"]))
    assert b64url_encode(key.public_key) == vector["public_key"]
    assert key.key_id == vector["key_id"] == key_id_of(b64url_decode(vector["public_key"]))


def test_notice_signing_input_digest_and_signature() -> None:
    vector = VECTORS["notice"]
    raw = json.dumps(vector["envelope"], ensure_ascii=False).encode("utf-8")
    envelope, signing_input = decode_envelope(raw)
    assert signing_input == vector["signing_input_utf8"].encode("utf-8")
    assert digest_of(signing_input) == vector["signing_input_sha256_b64u"]
    at = SigningKey.from_seed(bytes.fromhex(VECTORS["keys"]["AT"]["seed_hex"]))
    signed = sign_notice(envelope.notice, at)  # Ed25519 is deterministic: the same signature
    assert msgspec.to_builtins(signed) == vector["envelope"]


def test_notice_vector_passes_every_check() -> None:
    raw = json.dumps(VECTORS["notice"]["envelope"]).encode()
    envelope, _ = parse_envelope(raw)
    check_recipient(envelope, "DE")
    key = check_signed(envelope, _trust()["AT"], dt.datetime.now(dt.UTC))
    assert key.key_id == VECTORS["keys"]["AT"]["key_id"]


def test_receipt_vector_signs_and_verifies() -> None:
    vector = VECTORS["receipt"]
    receipt = msgspec.convert(vector["envelope"]["receipt"], Receipt)
    assert receipt_signing_input(receipt) == vector["signing_input_utf8"].encode("utf-8")
    de = SigningKey.from_seed(bytes.fromhex(VECTORS["keys"]["DE"]["seed_hex"]))
    signed = sign_receipt(receipt, de)
    assert msgspec.to_builtins(signed) == vector["envelope"]
    decoded = decode_receipt(encode(vector["envelope"]))
    assert verify_receipt_signature(decoded, de.public_key)
    assert receipt.digest == VECTORS["notice"]["signing_input_sha256_b64u"]


def test_altered_receipt_does_not_verify() -> None:
    envelope = json.loads(json.dumps(VECTORS["receipt"]["envelope"]))
    envelope["receipt"]["status"] = "rejected"
    envelope["receipt"]["reason"] = "invalid-body"  # a rejection without its reason is not even read (PROTOCOL §4)
    de = b64url_decode(VECTORS["keys"]["DE"]["public_key"])
    assert not verify_receipt_signature(decode_receipt(encode(envelope)), de)


def _trust() -> dict[str, list[TrustedKey]]:
    trust: dict[str, list[TrustedKey]] = {}
    for state, entries in VECTORS["must_refuse"]["trust_list"].items():
        trust[state] = [
            TrustedKey(
                key_id=entry["key_id"],
                public_key=b64url_decode(entry["public_key"]),
                not_before=parse_time(entry["not_before"]),
                not_after=parse_time(entry["not_after"]) if entry["not_after"] else None,
                revoked_at=parse_time(entry["revoked_at"]) if entry["revoked_at"] else None,
            )
            for entry in entries
        ]
    return trust


@pytest.mark.parametrize(("why", "problem", "raw"), _raw_cases(), ids=lambda value: str(value)[:40])
def test_must_refuse_case_gives_its_problem(why: str, problem: str, raw: bytes) -> None:
    trust = _trust()

    def receive() -> None:
        envelope, _ = parse_envelope(raw)
        check_recipient(envelope, VECTORS["must_refuse"]["receiver_state"])
        check_signed(envelope, trust.get(envelope.notice.sender), dt.datetime.now(dt.UTC))

    with pytest.raises(NoticeRefusedError) as caught:
        receive()
    assert caught.value.code == problem, why


def test_float_case_really_carries_a_float() -> None:
    raws = [raw for why, _, raw in _raw_cases() if "float" in why]
    assert raws
    assert b'"quantity": 2.0' in raws[0]


def test_oversize_envelope_is_malformed() -> None:
    raw = b'{"protocol":"firearms-exchange/1","pad":"' + b"x" * (256 * 1024) + b'"}'
    with pytest.raises(NoticeRefusedError) as caught:
        parse_envelope(raw)
    assert caught.value.code == "malformed-notice"


def test_key_revoked_before_created_at_is_key_revoked() -> None:
    raw = json.dumps(VECTORS["notice"]["envelope"]).encode()
    envelope, _ = parse_envelope(raw)
    revoked = [msgspec.structs.replace(key, revoked_at=parse_time("2026-11-28T10:00:00Z")) for key in _trust()["AT"]]
    with pytest.raises(NoticeRefusedError) as caught:
        check_signed(envelope, revoked, dt.datetime.now(dt.UTC))
    assert caught.value.code == "key-revoked"
    later = [msgspec.structs.replace(key, revoked_at=parse_time("2026-11-28T10:15:01Z")) for key in _trust()["AT"]]
    assert check_signed(envelope, later, dt.datetime.now(dt.UTC)).key_id == VECTORS["keys"]["AT"]["key_id"]


def test_notice_from_the_future_is_clock_skew() -> None:
    raw = json.dumps(VECTORS["notice"]["envelope"]).encode()
    envelope, _ = parse_envelope(raw)
    before = parse_time("2026-11-28T10:09:59Z")
    with pytest.raises(NoticeRefusedError) as caught:
        check_signed(envelope, _trust()["AT"], before)
    assert caught.value.code == "clock-skew"
    assert check_signed(envelope, _trust()["AT"], parse_time("2026-11-28T10:10:00Z"))


def test_lost_or_stolen_finding_reports_the_serials() -> None:
    from firearms.exchange.bodies import ConsentRequested  # noqa: PLC0415
    from firearms.exchange.consent_findings import findings  # noqa: PLC0415

    licence = dict(VECTORS["notice"]["envelope"]["notice"]["body"]["licence"], status="pending", issued_at=None)
    request = msgspec.convert(
        {"licence": licence, "shipment_window": {"from": "2026-12-01", "to": "2026-12-20"}}, ConsentRequested
    )
    today = dt.date(2026, 11, 29)
    by_code = {item.code: item for item in findings(request, "CZ", today, {"SSG08-002"})}
    assert by_code["no-item-reported-lost-or-stolen"].result == "fail"
    assert "SSG08-002" in by_code["no-item-reported-lost-or-stolen"].detail
    assert {item.code: item.result for item in findings(request, "CZ", today, set())}[
        "no-item-reported-lost-or-stolen"
    ] == "pass"
    assert {item.code: item.result for item in findings(request, "CZ", today)}[
        "no-item-reported-lost-or-stolen"
    ] == "not-checked"
