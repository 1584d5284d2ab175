"""Known-answer vectors of the trace notice types (tests/data/trace_vectors.json), byte for byte.

Each envelope was signed with a vector key of tests/data/vectors.json at a fixed id, sequence and time: its
signing input, digest and signature are what this code computes, and its body is one the type's Struct reads
without loss (re-encoded, the same canonical bytes) and finds coherent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firearms.canonical import canonical
from firearms.exchange.protocol import decode_envelope, digest_of, encode, sign_notice, verify_notice_signature
from firearms.exchange.trace_bodies import (
    TRACE_TYPES,
    TraceAcknowledged,
    TraceAnswered,
    TraceRequested,
    contradiction,
)
from firearms.signing import SigningKey, b64url_decode

DATA = Path(__file__).parent.parent / "data"
VECTORS: dict[str, Any] = json.loads((DATA / "vectors.json").read_text(encoding="utf-8"))
TRACES: dict[str, Any] = json.loads((DATA / "trace_vectors.json").read_text(encoding="utf-8"))
BODIES: dict[str, type[TraceRequested | TraceAcknowledged | TraceAnswered]] = {
    "trace.requested": TraceRequested,
    "trace.acknowledged": TraceAcknowledged,
    "trace.answered": TraceAnswered,
}
CASES = TRACES["notices"]


def test_every_trace_type_has_a_vector() -> None:
    assert {case["envelope"]["notice"]["type"] for case in CASES} == set(TRACE_TYPES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case['envelope']['notice']['type']}-{case['signer']}")
def test_signing_input_digest_and_signature_match_the_vector(case: dict[str, Any]) -> None:
    raw = json.dumps(case["envelope"], ensure_ascii=False).encode("utf-8")
    envelope, signing_input = decode_envelope(raw)
    assert signing_input == case["signing_input_utf8"].encode("utf-8")
    assert digest_of(signing_input) == case["signing_input_sha256_b64u"]
    keys = VECTORS["keys"][case["signer"]]
    assert envelope.signature.key_id == keys["key_id"]
    assert verify_notice_signature(envelope, b64url_decode(keys["public_key"]), signing_input)
    signer = SigningKey.from_seed(bytes.fromhex(keys["seed_hex"]))
    resigned = sign_notice(envelope.notice, signer)  # Ed25519 is deterministic: the same signature
    assert encode(resigned) == canonical(case["envelope"])


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case['envelope']['notice']['type']}-{case['signer']}")
def test_the_body_reads_into_its_struct_and_back_to_the_same_bytes(case: dict[str, Any]) -> None:
    notice = case["envelope"]["notice"]
    body = msgspec.convert(notice["body"], BODIES[notice["type"]])
    assert canonical(msgspec.to_builtins(body)) == canonical(notice["body"])
    if isinstance(body, TraceRequested | TraceAnswered):
        assert contradiction(body) is None
    if notice["type"] != "trace.requested":
        assert notice["in_reply_to"] == CASES[0]["envelope"]["notice"]["id"]
