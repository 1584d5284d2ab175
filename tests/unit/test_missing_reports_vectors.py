"""Known-answer vectors of item.reported-missing and item.report-withdrawn (README: beyond PROTOCOL §5)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firearms.canonical import canonical
from firearms.exchange.checks import TrustedKey, check_recipient, check_signed, parse_envelope
from firearms.exchange.effects.reports import ItemReportedMissing, ItemReportWithdrawn
from firearms.exchange.protocol import decode_envelope, encode, notice_signing_input, sign_notice
from firearms.signing import SigningKey, b64url_decode
from tests.exchange_util import VECTORS

DATA: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "missing_reports_vectors.json").read_text(encoding="utf-8")
)
AT = SigningKey.from_seed(bytes.fromhex(VECTORS["keys"][DATA["key"]]["seed_hex"]))
BODIES: dict[str, type[Any]] = {
    "item.reported-missing": ItemReportedMissing,
    "item.report-withdrawn": ItemReportWithdrawn,
}


@pytest.mark.parametrize("vector", DATA["notices"], ids=lambda vector: vector["type"])
def test_signing_input_signature_and_envelope_bytes_match_byte_for_byte(vector: dict[str, Any]) -> None:
    raw = json.dumps(vector["envelope"], ensure_ascii=False).encode("utf-8")
    envelope, signing_input = decode_envelope(raw)
    assert signing_input == vector["signing_input_utf8"].encode("utf-8")
    assert notice_signing_input(envelope.notice) == signing_input
    assert signing_input == b"firearms-exchange/1 notice\n" + canonical(vector["envelope"]["notice"])
    signed = sign_notice(envelope.notice, AT)  # Ed25519 is deterministic: the same signature
    assert msgspec.to_builtins(signed) == vector["envelope"]
    assert encode(signed) == vector["envelope_canonical_utf8"].encode("utf-8")
    assert len(b64url_decode(signed.signature.value)) == 64


@pytest.mark.parametrize("vector", DATA["notices"], ids=lambda vector: vector["type"])
def test_each_vector_passes_the_checks_and_decodes_as_its_type(vector: dict[str, Any]) -> None:
    envelope, _ = parse_envelope(vector["envelope_canonical_utf8"].encode("utf-8"))
    check_recipient(envelope, "CZ")
    since = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    trusted = [
        TrustedKey(key_id=AT.key_id, public_key=AT.public_key, not_before=since, not_after=None, revoked_at=None)
    ]
    assert check_signed(envelope, trusted, dt.datetime(2026, 12, 31, tzinfo=dt.UTC)).key_id == AT.key_id
    assert envelope.notice.type == vector["type"]
    body = msgspec.convert(envelope.notice.body, BODIES[vector["type"]])
    assert body.report_id == "4711"
