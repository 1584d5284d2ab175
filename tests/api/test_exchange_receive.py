"""Receiving notices over HTTP (PROTOCOL §4): every check, nothing stored on refusal, receipts, duplicates, gaps."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, db, keys
from firearms.canonical import format_time, parse_time, utc_now
from firearms.embedded import ensure_database, start_embedded, stop_embedded
from firearms.exchange import inbox, trust
from firearms.exchange.protocol import (
    PROBLEM_BASE,
    NoticeRefusedError,
    decode_receipt,
    is_time,
    verify_receipt_signature,
)
from firearms.settings import Settings
from firearms.signing import SigningKey, b64url_decode, b64url_encode, key_id_of
from tests.exchange_fixtures import Client, de
from tests.exchange_util import AT_KEY, OTHER_KEY, VECTORS, envelope, vector_bytes
from tests.races import blocked_on_lock


async def _stored(conn: db.Conn) -> tuple[int, int]:
    inbox = await conn.fetchval("SELECT count(*) FROM notice_inbox")
    journaled = await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'notice.received'")
    return inbox, journaled


async def _post(client: Client, raw: bytes) -> Any:
    return await client.post("/exchange/v1/notices", content=raw, headers={"content-type": "application/json"})


__all__ = ["de"]


@pytest.mark.parametrize("case", VECTORS["must_refuse"]["cases"], ids=lambda case: case["why"])
async def test_must_refuse_vector_is_refused_with_its_problem_and_nothing_stored(
    de: tuple[Client, db.Conn], case: dict[str, Any]
) -> None:
    client, conn = de
    response = await _post(client, vector_bytes(case["envelope"]))
    expected_status = {"bad-signature": 403, "unknown-key": 403, "unknown-sender": 403}.get(case["problem"], 400)
    assert response.status_code == expected_status
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == PROBLEM_BASE + case["problem"]
    assert await _stored(conn) == (0, 0)


async def test_vector_notice_gets_a_signed_receipt_and_is_stored_byte_for_byte(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    response = await _post(client, vector_bytes(VECTORS["notice"]["envelope"]))
    assert response.status_code == 202
    receipt = decode_receipt(response.content)
    assert receipt.receipt.digest == VECTORS["notice"]["signing_input_sha256_b64u"]
    assert (receipt.receipt.sender, receipt.receipt.recipient, receipt.receipt.sequence) == ("AT", "DE", 1)
    assert receipt.receipt.status == "accepted"
    current = await keys.current_signing_key(conn, _home(client))
    assert receipt.signature.key_id == current.key_id
    assert verify_receipt_signature(receipt, current.public_key)
    row = await conn.fetchrow("SELECT notice, status, confidentiality, receipt FROM notice_inbox")
    assert row is not None
    assert (
        bytes(row["notice"]) == VECTORS["notice"]["signing_input_utf8"].encode()[len(b"firearms-exchange/1 notice\n") :]
    )
    assert row["confidentiality"] == "restricted"
    assert bytes(row["receipt"]) == response.content
    assert await _stored(conn) == (1, 1)


def _home(client: Client) -> Path:
    settings: Settings = client.app.state.settings
    return settings.home


async def test_duplicate_gets_the_first_receipt_byte_for_byte(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    raw = envelope(AT_KEY, sequence=1)
    first = await _post(client, raw)
    again = await _post(client, raw)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.content == first.content
    assert await _stored(conn) == (1, 1)


async def test_concurrent_copies_of_one_notice_store_it_once_and_share_its_receipt(
    de: tuple[Client, db.Conn],
) -> None:
    client, conn = de
    raw = envelope(AT_KEY, sequence=1)
    answers = await asyncio.gather(*(_post(client, raw) for _ in range(12)))
    assert sorted(answer.status_code for answer in answers) == [200] * 11 + [202]
    assert {answer.content for answer in answers} == {bytes(await conn.fetchval("SELECT receipt FROM notice_inbox"))}
    assert await _stored(conn) == (1, 1)
    assert await conn.fetchval("SELECT coalesce(max(sequence), 0) FROM notice_inbox WHERE sender = 'AT'") == 1


async def test_receiver_that_waited_for_the_lock_sees_what_its_predecessor_stored(
    de: tuple[Client, db.Conn], database: str
) -> None:
    """The second receiver's statement started before the first committed: it must still answer as PROTOCOL §4 says."""
    client, conn = de
    home = _home(client)
    first, second, observer = await db.connect(database), await db.connect(database), await db.connect(database)
    try:
        for expected in ("duplicate", "notice-id-conflict", "sequence-gap"):
            sequence = (
                await conn.fetchval("SELECT coalesce(max(sequence), 0) FROM notice_inbox WHERE sender = 'AT'") + 1
            )
            ahead = envelope(AT_KEY, sequence=sequence)
            late = {
                "duplicate": ahead,
                "notice-id-conflict": envelope(
                    AT_KEY, sequence=sequence, notice_id=msgspec.json.decode(ahead)["notice"]["id"], body={"x": "y"}
                ),
                "sequence-gap": envelope(AT_KEY, sequence=sequence),  # the same sequence under another id
            }[expected]
            tx = first.transaction()
            await tx.start()
            delivered = await inbox.receive(first, ahead, state="DE", home=home, time_zone=dt.UTC)
            waiting = asyncio.ensure_future(_receive_in_transaction(second, late, home))
            await blocked_on_lock(observer, second.get_server_pid())  # on the sender's row, not yet started
            assert not waiting.done()
            await tx.commit()
            outcome = await waiting
            assert outcome == (delivered.receipt if expected == "duplicate" else expected)
    finally:
        await first.close()
        await second.close()
        await observer.close()
    assert await _stored(conn) == (3, 3)


async def _receive_in_transaction(conn: db.Conn, raw: bytes, home: Path) -> bytes | str:
    try:
        async with conn.transaction():
            return (await inbox.receive(conn, raw, state="DE", home=home, time_zone=dt.UTC)).receipt
    except NoticeRefusedError as exc:
        return exc.code


async def test_same_id_with_other_content_is_notice_id_conflict(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    raw = envelope(AT_KEY, sequence=1, notice_id="0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e11", body={"n": 1})
    assert (await _post(client, raw)).status_code == 202
    other = envelope(AT_KEY, sequence=1, notice_id="0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e11", body={"n": 2})
    response = await _post(client, other)
    assert response.status_code == 409
    assert response.json()["type"] == PROBLEM_BASE + "notice-id-conflict"
    assert await _stored(conn) == (1, 1)


async def test_gap_and_replayed_sequence_are_refused_with_expected_sequence(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    ahead = await _post(client, envelope(AT_KEY, sequence=3))
    assert ahead.status_code == 409
    assert ahead.json()["type"] == PROBLEM_BASE + "sequence-gap"
    assert ahead.json()["expected_sequence"] == 1
    assert (await _post(client, envelope(AT_KEY, sequence=1))).status_code == 202
    replayed = await _post(client, envelope(AT_KEY, sequence=1))  # a new id reusing a consumed sequence
    assert replayed.status_code == 409
    assert replayed.json()["expected_sequence"] == 2
    assert await _stored(conn) == (1, 1)


async def test_oversize_envelope_is_malformed_and_nothing_stored(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    raw = envelope(AT_KEY, body={"pad": "x" * (256 * 1024)})
    response = await _post(client, raw)
    assert response.status_code == 400
    assert response.json()["type"] == PROBLEM_BASE + "malformed-notice"
    assert await _stored(conn) == (0, 0)


async def test_oversize_envelope_without_length_is_refused_while_it_streams(de: tuple[Client, db.Conn]) -> None:
    """4 MiB in 64 KiB pieces and no Content-Length: refused once past 256 KiB, without reading the rest."""
    client, conn = de
    pieces: list[dict[str, Any]] = [{"type": "http.request", "body": b"x" * 65536, "more_body": True}] * 64
    pieces.append({"type": "http.request", "body": b"", "more_body": False})
    answer: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pieces.pop(0)

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    path = "/exchange/v1/notices"
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "state": {},
        "headers": [(b"content-type", b"application/json")], "client": ("127.0.0.1", 1), "server": ("test", 80),
    }  # fmt: skip
    await client.app(scope, receive, send)
    assert answer[0]["status"] == 400
    assert json.loads(answer[1]["body"])["type"] == PROBLEM_BASE + "malformed-notice"
    assert len(pieces) == 65 - 5  # four pieces are 256 KiB; the fifth is one too many
    assert await _stored(conn) == (0, 0)


async def test_the_partner_endpoints_are_in_the_openapi_document(de: tuple[Client, db.Conn]) -> None:
    """DESIGN §10: /schema/openapi.json documents every endpoint, the exchange's too."""
    client, _ = de
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "post" in paths["/exchange/v1/notices"]
    assert "get" in paths["/exchange/v1/keys"]


async def test_only_post_is_allowed_on_notices(de: tuple[Client, db.Conn]) -> None:
    client, _ = de
    response = await client.get("/exchange/v1/notices")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"].split(", ")
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"protocol":"firearms-exchange/1"}',
        b'{"protocol":"firearms-exchange/1","notice":1}',
        b'{"protocol":"firearms-exchange/1\xff"}',  # not UTF-8
        envelope(AT_KEY).replace(b'"body":{}', b'"body":{"name":"\xc3"}'),  # not UTF-8 inside the body
        envelope(AT_KEY).replace(b'"body":{}', b'"body":{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),  # too deep
        envelope(AT_KEY).replace(b'"body":{}', b'"body":{"quantity":9007199254740992}'),  # 2^53
        envelope(AT_KEY).replace(b'"body":{}', b'"body":{"quantity":-123456789012345678901234567890}'),  # < -2^64
        envelope(AT_KEY, created_at="2026-02-30T10:00:00Z"),
    ],
    ids=[
        "text",
        "array",
        "no notice",
        "notice not an object",
        "not UTF-8",
        "not UTF-8 in body",
        "nested too deep",
        "integer 2^53",
        "integer beyond int64",
        "30 February",
    ],
)
async def test_garbage_is_malformed(de: tuple[Client, db.Conn], raw: bytes) -> None:
    client, conn = de
    response = await _post(client, raw)
    assert response.status_code == 400
    assert response.json()["type"] == PROBLEM_BASE + "malformed-notice"
    assert await _stored(conn) == (0, 0)


@pytest.mark.parametrize("where", ["body", "body escaped", "notice", "envelope", "envelope escaped", "signature"])
async def test_a_key_named_twice_in_an_object_is_malformed(de: tuple[Client, db.Conn], where: str) -> None:
    """PROTOCOL §2: no duplicate keys. The signature verified over the last value of each repeated key.

    Before, the envelope was accepted: the first value, which another parser keeps (RFC 8259 leaves it open),
    was dropped unseen, so two registries could read one signed notice differently.
    """
    client, conn = de
    raw = envelope(AT_KEY, body={"a": 1})
    doubled = {
        "body": (b'"body":{"a":1}', b'"body":{"a":2,"a":1}'),
        "notice": (b'"sequence":1', b'"sequence":2,"sequence":1'),
        "envelope": (b'"protocol":"firearms-exchange/1"', b'"protocol":"x","protocol":"firearms-exchange/1"'),
        # the same key written with an escape is the same key (RFC 8259 §7): still named twice
        "body escaped": (b'"body":{"a":1}', b'"body":{"a":2,"\\u0061":1}'),
        "envelope escaped": (
            b'"protocol":"firearms-exchange/1"',
            b'"pr\\u006ftocol":"x","protocol":"firearms-exchange/1"',
        ),
        "signature": (b'"alg":"Ed25519"', b'"alg":"Ed25519","alg":"Ed25519"'),  # even the same value
    }[where]
    assert doubled[0] in raw
    response = await _post(client, raw.replace(*doubled))
    assert response.status_code == 400
    assert response.json()["type"] == PROBLEM_BASE + "malformed-notice"
    assert await _stored(conn) == (0, 0)
    readable = json.dumps(json.loads(raw), indent=2).encode()  # not canonical, no key twice: taken
    assert (await _post(client, readable)).status_code == 202


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "application/json; charset=latin-1",
    ],
)
async def test_a_notice_sent_as_anything_but_json_is_malformed(de: tuple[Client, db.Conn], content_type: str) -> None:
    # PROTOCOL §4: the sender posts Content-Type: application/json. A valid envelope sent as text or as a
    # form was read all the same, accepted and its sequence consumed.
    client, conn = de
    raw = envelope(AT_KEY)
    response = await client.post("/exchange/v1/notices", content=raw, headers={"content-type": content_type})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == PROBLEM_BASE + "malformed-notice"
    assert await _stored(conn) == (0, 0)
    accepted = await client.post(
        "/exchange/v1/notices", content=raw, headers={"content-type": "Application/JSON; charset=UTF-8"}
    )
    assert accepted.status_code == 202
    assert await _stored(conn) == (1, 1)


async def test_a_notice_with_a_content_coding_is_malformed(de: tuple[Client, db.Conn]) -> None:
    # The envelope is its bytes (PROTOCOL §2): one said to be compressed was read as it came and accepted.
    client, conn = de
    raw = envelope(AT_KEY)
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    response = await client.post("/exchange/v1/notices", content=raw, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == PROBLEM_BASE + "malformed-notice"
    assert await _stored(conn) == (0, 0)


async def test_notice_from_the_future_is_clock_skew(de: tuple[Client, db.Conn]) -> None:
    client, _conn = de
    future = format_time(utc_now() + dt.timedelta(seconds=400))
    response = await _post(client, envelope(AT_KEY, created_at=future))
    assert response.status_code == 400
    assert response.json()["type"] == PROBLEM_BASE + "clock-skew"
    near = format_time(utc_now() + dt.timedelta(seconds=200))
    assert (await _post(client, envelope(AT_KEY, created_at=near))).status_code == 202


async def test_key_before_its_not_before_is_unknown_key(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    response = await _post(client, envelope(AT_KEY, created_at="2025-12-31T23:59:59Z"))
    assert response.status_code == 403
    assert response.json()["type"] == PROBLEM_BASE + "unknown-key"
    assert await _stored(conn) == (0, 0)


async def test_a_notice_dated_before_its_senders_key_was_entered_is_taken(de: tuple[Client, db.Conn]) -> None:
    # A partner that trusted us first queues notices before we enter its key; its worker sends those bytes
    # again and again. With the key's start "now" by default they were unknown-key for ever, and the key could
    # not be entered again with an earlier start (peer-key-exists).
    client, conn = de
    cz_key = SigningKey.from_seed(bytes([41]) * 32)
    queued = envelope(cz_key, sender="CZ", created_at=format_time(utc_now() - dt.timedelta(days=3)))
    async with conn.transaction():
        await trust.add_peer(
            conn,
            own_state="DE",
            state="CZ",
            base_url="https://registry.example.cz",
            public_key=b64url_encode(cz_key.public_key),
            not_before=None,
            actor="test",
        )
    response = await _post(client, queued)
    assert response.status_code == 202, response.text
    assert decode_receipt(response.content).receipt.status == "accepted"


async def test_disabled_peer_is_unknown_sender(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    async with conn.transaction():
        await trust.set_peer_enabled(conn, "AT", enabled=False, actor="test")
    response = await _post(client, envelope(AT_KEY))
    assert response.status_code == 403
    assert response.json()["type"] == PROBLEM_BASE + "unknown-sender"
    # AT's operator reads this detail in its outbox: AT is on the list, so "not on the trust list" misled them
    assert "or is disabled there" in response.json()["detail"]
    assert "firearms peers enable AT" in response.json()["detail"]


async def test_unknown_type_is_stored_rejected_and_consumes_its_sequence(de: tuple[Client, db.Conn]) -> None:
    client, _conn = de
    response = await _post(client, envelope(AT_KEY, type_="tracing.requested"))
    assert response.status_code == 202
    assert decode_receipt(response.content).receipt.status == "rejected"
    assert decode_receipt(response.content).receipt.reason == "unsupported-type"
    assert (await _post(client, envelope(AT_KEY, sequence=2))).status_code == 202


async def test_effect_without_savepoint_rejects_cleanly_before_writing_and_fails_after(
    de: tuple[Client, db.Conn],
) -> None:
    client, conn = de
    wrote = "SELECT count(*) FROM journal_entry WHERE action = 'test.wrote'"
    response = await _post(client, envelope(AT_KEY, type_="test.checks-first", body={"reject": "before"}))
    assert response.status_code == 202
    assert decode_receipt(response.content).receipt.status == "rejected"
    response = await _post(client, envelope(AT_KEY, sequence=2, type_="test.checks-first", body={"reject": "after"}))
    assert response.status_code == 500  # a broken promise is a bug, and nothing of it is kept
    assert (await _stored(conn), await conn.fetchval(wrote)) == ((1, 1), 0)
    response = await _post(client, envelope(AT_KEY, sequence=2, type_="test.checks-first", body={"reject": "no"}))
    assert decode_receipt(response.content).receipt.status == "accepted"
    assert (await _stored(conn), await conn.fetchval(wrote)) == ((2, 2), 1)


async def test_announced_key_is_trusted_then_revoked_key_refused(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    body = {
        "key_id": OTHER_KEY.key_id,
        "public_key": b64url_encode(OTHER_KEY.public_key),
        "not_before": "2026-01-01T00:00:00Z",
        "not_after": None,
    }
    announce = envelope(AT_KEY, sequence=1, type_="registry.key-announced", body=body)
    response = await _post(client, announce)
    assert decode_receipt(response.content).receipt.status == "accepted"
    provenance = await conn.fetchval("SELECT provenance FROM peer_key WHERE key_id = $1", OTHER_KEY.key_id)
    assert provenance == json.loads(announce)["notice"]["id"]
    assert (await _post(client, envelope(OTHER_KEY, sequence=2))).status_code == 202  # signed by the new key
    revoked_at = format_time(utc_now() - dt.timedelta(seconds=60))
    revoke = {"key_id": AT_KEY.key_id, "revoked_at": revoked_at, "reason": "retired"}
    response = await _post(client, envelope(OTHER_KEY, sequence=3, type_="registry.key-revoked", body=revoke))
    assert decode_receipt(response.content).receipt.status == "accepted"
    refused = await _post(client, envelope(AT_KEY, sequence=4))
    assert refused.status_code == 403
    assert refused.json()["type"] == PROBLEM_BASE + "key-revoked"
    before = format_time(parse_time(revoked_at) - dt.timedelta(seconds=1))
    assert (await _post(client, envelope(AT_KEY, sequence=4, created_at=before))).status_code == 202


async def test_a_key_announced_by_a_key_revoked_since_is_not_trusted(de: tuple[Client, db.Conn]) -> None:
    """§1: later keys are announced by a key the receiver trusts; one revoked since is trusted no more.

    Whoever holds a revoked (say stolen) key can still date a notice before the revocation, and check 4 lets
    it pass (notices created before stay valid, §6). Before, such a backdated announcement added the thief's
    own key to the sender's trust entry, and the thief signed as that State from then on, with a key nobody
    revokes. It is stored rejected ``key-revoked`` and adds nothing.
    """
    client, conn = de

    def announcement(key: SigningKey) -> dict[str, Any]:
        return {
            "key_id": key.key_id,
            "public_key": b64url_encode(key.public_key),
            "not_before": "2026-01-01T00:00:00Z",
            "not_after": None,
        }

    response = await _post(
        client, envelope(AT_KEY, sequence=1, type_="registry.key-announced", body=announcement(OTHER_KEY))
    )
    assert decode_receipt(response.content).receipt.status == "accepted"
    revoked_at = utc_now() - dt.timedelta(seconds=60)
    revoke = {"key_id": AT_KEY.key_id, "revoked_at": format_time(revoked_at), "reason": "stolen"}
    response = await _post(client, envelope(OTHER_KEY, sequence=2, type_="registry.key-revoked", body=revoke))
    assert decode_receipt(response.content).receipt.status == "accepted"
    thief = SigningKey.generate()
    backdated = format_time(revoked_at - dt.timedelta(seconds=1))
    raw = envelope(AT_KEY, sequence=3, type_="registry.key-announced", body=announcement(thief), created_at=backdated)
    receipt = decode_receipt((await _post(client, raw)).content).receipt
    assert (receipt.status, receipt.reason) == ("rejected", "key-revoked")
    assert await conn.fetchval("SELECT count(*) FROM peer_key WHERE key_id = $1", thief.key_id) == 0
    refused = await _post(client, envelope(thief, sequence=4))
    assert refused.json()["type"] == PROBLEM_BASE + "unknown-key"
    # nor can it revoke the sender's good key (it would silence that State)
    revoke_good = {"key_id": OTHER_KEY.key_id, "revoked_at": backdated, "reason": "stolen"}
    raw = envelope(AT_KEY, sequence=4, type_="registry.key-revoked", body=revoke_good, created_at=backdated)
    receipt = decode_receipt((await _post(client, raw)).content).receipt
    assert (receipt.status, receipt.reason) == ("rejected", "key-revoked")
    # the sender's key that was not revoked still speaks for it
    assert (await _post(client, envelope(OTHER_KEY, sequence=5))).status_code == 202


async def test_a_key_announced_that_is_another_states_is_rejected(de: tuple[Client, db.Conn]) -> None:
    """A key speaks for one State (PROTOCOL §1): AT announcing CZ's key would let CZ's registry speak as AT."""
    client, conn = de
    async with conn.transaction():
        await trust.add_peer(
            conn,
            own_state="DE",
            state="CZ",
            base_url="http://127.0.0.1:9",
            public_key=b64url_encode(OTHER_KEY.public_key),
            not_before=parse_time("2026-01-01T00:00:00Z"),
            actor="test",
        )
    body = {
        "key_id": OTHER_KEY.key_id,
        "public_key": b64url_encode(OTHER_KEY.public_key),
        "not_before": "2026-01-01T00:00:00Z",
        "not_after": None,
    }
    receipt = decode_receipt(
        (await _post(client, envelope(AT_KEY, sequence=1, type_="registry.key-announced", body=body))).content
    ).receipt
    assert (receipt.status, receipt.reason) == ("rejected", "key-id-mismatch")
    assert await conn.fetchval("SELECT count(*) FROM peer_key WHERE state = 'AT'") == 1
    assert (await _post(client, envelope(OTHER_KEY, sequence=2))).json()["type"] == PROBLEM_BASE + "unknown-key"


async def test_a_key_announced_that_is_this_registrys_own_is_rejected(de: tuple[Client, db.Conn]) -> None:
    """AT announcing DE's own key (this registry's) would have DE take what it signs itself as AT's word."""
    client, conn = de
    own = (await client.get("/exchange/v1/keys")).json()["keys"][0]
    body = {"key_id": own["key_id"], "public_key": own["public_key"], "not_before": "2026-01-01T00:00:00Z"}
    raw = envelope(AT_KEY, sequence=1, type_="registry.key-announced", body=body | {"not_after": None})
    receipt = decode_receipt((await _post(client, raw)).content).receipt
    assert (receipt.status, receipt.reason) == ("rejected", "key-id-mismatch")
    assert await conn.fetchval("SELECT count(*) FROM peer_key WHERE state = 'AT'") == 1


async def test_announcement_with_wrong_key_id_is_rejected(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    body = {
        "key_id": "0" * 32,
        "public_key": b64url_encode(OTHER_KEY.public_key),
        "not_before": "2026-01-01T00:00:00Z",
        "not_after": None,
    }
    response = await _post(client, envelope(AT_KEY, type_="registry.key-announced", body=body))
    assert decode_receipt(response.content).receipt.reason == "key-id-mismatch"
    assert await conn.fetchval("SELECT count(*) FROM peer_key") == 1


@pytest.mark.parametrize(
    "public_key",
    [
        bytes([1]) + bytes(31),  # the identity: small order
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),  # order 8
        bytes([2]) + bytes(31),  # y = 2: no point of the curve
    ],
    ids=["identity", "order-8", "off-the-curve"],
)
async def test_an_announced_key_that_is_no_ed25519_key_is_rejected(
    de: tuple[Client, db.Conn], public_key: bytes
) -> None:
    """PROTOCOL §1: a key is an Ed25519 public key, and the trust list takes no other, by notice as from an
    administrator (``invalid-public-key`` there). A small-order point is the key of no RFC 8032 private key.

    Before, such an announcement was accepted, its key added to the sender's entry: the sender's rotation,
    acknowledged, switched to it, and every notice under it was refused ``bad-signature``.
    """
    client, conn = de
    body = {
        "key_id": key_id_of(public_key),
        "public_key": b64url_encode(public_key),
        "not_before": "2026-01-01T00:00:00Z",
        "not_after": None,
    }
    response = await _post(client, envelope(AT_KEY, type_="registry.key-announced", body=body))
    receipt = decode_receipt(response.content).receipt
    assert (receipt.status, receipt.reason) == ("rejected", "invalid-body")
    assert await conn.fetchval("SELECT count(*) FROM peer_key") == 1


async def test_keys_document_lists_state_and_keys(de: tuple[Client, db.Conn]) -> None:
    client, _conn = de
    response = await client.get("/exchange/v1/keys")
    assert response.status_code == 200
    document = response.json()
    assert document["state"] == "DE"
    assert document["protocol"] == "firearms-exchange/1"
    (only,) = document["keys"]
    assert only["key_id"] == document["current_key_id"]
    assert len(b64url_decode(only["public_key"])) == 32
    assert only["not_after"] is None
    assert is_time(only["not_before"]), only  # PROTOCOL §2: UTC to the second with a Z
    assert msgspec.json.decode(response.content)["keys"][0]["revoked_at"] is None


async def test_body_holding_nul_is_stored_rejected_and_the_queue_moves_on(de: tuple[Client, db.Conn]) -> None:
    """PostgreSQL text and jsonb cannot hold U+0000: such a body is invalid-body, not a 500 on every retry."""
    client, conn = de
    revoke = {"key_id": AT_KEY.key_id, "revoked_at": "2026-06-01T00:00:00Z", "reason": "retired\u0000"}
    response = await _post(client, envelope(AT_KEY, sequence=1, type_="registry.key-revoked", body=revoke))
    assert response.status_code == 202
    receipt = decode_receipt(response.content).receipt
    assert (receipt.status, receipt.reason) == ("rejected", "invalid-body")
    assert await _stored(conn) == (1, 1)
    assert await conn.fetchval("SELECT revoked_at FROM peer_key WHERE key_id = $1", AT_KEY.key_id) is None
    assert (await _post(client, envelope(AT_KEY, sequence=2))).status_code == 202


@pytest.mark.parametrize(
    ("type_", "field", "value"),
    [
        ("registry.key-announced", "not_before", "0001-01-01T00:00:00Z"),
        ("registry.key-announced", "not_after", "9999-12-31T23:59:59.999999Z"),
        ("registry.key-revoked", "revoked_at", "0001-01-01T00:00:00Z"),
    ],
)
async def test_a_key_time_postgresql_keeps_as_infinity_is_rejected(
    de: tuple[Client, db.Conn], type_: str, field: str, value: str
) -> None:
    # stored as -infinity/infinity, read back as a naive time: every later notice of the sender compared it
    # with an aware one in check 4, a 500 for ever
    client, conn = de
    if type_ == "registry.key-announced":
        body = {
            "key_id": OTHER_KEY.key_id,
            "public_key": b64url_encode(OTHER_KEY.public_key),
            "not_before": "2026-01-01T00:00:00Z",
            "not_after": None,
        }
    else:
        body = {"key_id": AT_KEY.key_id, "revoked_at": "2026-01-01T00:00:00Z", "reason": "retired"}
    response = await _post(client, envelope(AT_KEY, sequence=1, type_=type_, body={**body, field: value}))
    assert decode_receipt(response.content).receipt.reason == "invalid-body"
    assert await conn.fetchval("SELECT count(*) FROM peer_key WHERE revoked_at IS NULL") == 1
    assert (await _post(client, envelope(AT_KEY, sequence=2))).status_code == 202


async def test_a_key_seen_before_still_decides_check_5_and_signs_each_receipt_as_it_ends(
    de: tuple[Client, db.Conn],
) -> None:
    """For a key seen before, check 5 and the accepted receipt's signature run on a thread (inbox._CRYPTO)."""
    client, conn = de
    first = await _post(client, envelope(AT_KEY, sequence=1))
    assert first.status_code == 202
    assert inbox._SEEN_KEYS[AT_KEY.key_id] == AT_KEY.public_key  # the next notice's check 5 starts early
    genuine = json.loads(envelope(AT_KEY, sequence=2))
    other = json.loads(envelope(AT_KEY, sequence=2, body={"other": True}))
    forged = {**genuine, "signature": other["signature"]}  # a real signature of AT's key, over another notice
    refused = await _post(client, json.dumps(forged).encode())
    assert refused.status_code == 403
    assert refused.json()["type"] == PROBLEM_BASE + "bad-signature"
    assert await _stored(conn) == (1, 1)
    current = await keys.current_signing_key(conn, _home(client))
    rejected = decode_receipt((await _post(client, envelope(AT_KEY, sequence=2, type_="tracing.requested"))).content)
    accepted = decode_receipt((await _post(client, envelope(AT_KEY, sequence=3))).content)
    assert (rejected.receipt.status, rejected.receipt.reason) == ("rejected", "unsupported-type")
    assert (accepted.receipt.status, accepted.receipt.reason) == ("accepted", None)
    assert verify_receipt_signature(rejected, current.public_key)
    assert verify_receipt_signature(accepted, current.public_key)
    assert await _stored(conn) == (3, 3)


async def test_checks_1_and_2_refuse_without_the_database(short_tmp: Path) -> None:
    """Anyone may post to /exchange/v1/notices: what checks 1 and 2 refuse costs no database round trip.

    Garbage, or an envelope addressed to another State, took a pooled connection and opened a transaction
    before it was even parsed: with the database stopped it was a 503, not the 400 PROTOCOL §4 gives it.
    An envelope for this registry still needs the trust list, and gets the 503.
    """
    home = short_tmp / "home"
    url = await ensure_database(start_embedded(home))
    running = True
    try:
        settings = Settings(state="DE", home=home, database_url=url, run_worker=False)
        await bootstrap.initialise(settings, url)
        async with AsyncTestClient(app=create_app(settings)) as client:
            stop_embedded(home)
            running = False
            for raw, status, problem in (
                (b"{}", 400, "malformed-notice"),
                (b"not json", 400, "malformed-notice"),
                (envelope(AT_KEY, recipient="CZ"), 400, "wrong-recipient"),
                (envelope(AT_KEY), 503, "database-unavailable"),
            ):
                response = await _post(client, raw)
                assert response.status_code == status, (raw[:40], response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"].endswith("/" + problem)
    finally:
        if running:  # the test failed before it stopped the server
            stop_embedded(home)


async def _waits_for_an_inbox(conn: db.Conn) -> None:
    """Until another connection waits for an inbox's advisory lock (5 s at most): a condition, not a sleep."""
    async with asyncio.timeout(5):
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        while not await conn.fetchval(waiting):  # noqa: ASYNC110  # the database offers a view, not an event
            await asyncio.sleep(0.01)


async def _refused_while_held(client: Client, conn: db.Conn, raw: bytes, *, also: bytes | None = None) -> str:
    """Receive ``raw`` while this test holds AT's inbox (the lock ``receive_context`` takes); the refusal's code.

    ``also``: a genuine notice received first, which waits for the inbox, so that ``raw`` is not alone in
    flight. The refusal must come while the inbox is still held: a forged notice never waits for the sender's
    lock, so a flood of them cannot hold up the sender's genuine notices. (In the receiver's own functions,
    on connections of their own: the test client's requests do not run beside one another.)
    """
    settings: Settings = client.app.state.settings
    url = settings.database_url
    assert url is not None

    async def receive(raw: bytes) -> inbox.Delivered:
        other = await db.connect(url)
        try:
            return await inbox.receive_notice(other, raw, state="DE", home=settings.home, time_zone=settings.time_zone)
        finally:
            await other.close()

    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(7310003, hashtext('AT'))")
        waiting = asyncio.create_task(receive(also)) if also is not None else None
        if waiting is not None:
            await _waits_for_an_inbox(conn)  # the genuine notice is in flight, waiting for the inbox
            assert not waiting.done()
        forged = asyncio.create_task(receive(raw))
        done, _ = await asyncio.wait({forged}, timeout=5)
    prompt = forged in done
    outcome = await asyncio.gather(forged, *([waiting] if waiting is not None else []), return_exceptions=True)
    assert prompt, "the forged notice waited for the sender's inbox"
    refusal = outcome[0]
    assert isinstance(refusal, NoticeRefusedError), refusal
    if waiting is not None:
        assert isinstance(outcome[1], inbox.Delivered), outcome[1]
        assert outcome[1].status == "accepted"
    return refusal.code


async def test_a_forged_notice_under_a_key_seen_before_is_refused_without_the_senders_lock(
    de: tuple[Client, db.Conn],
) -> None:
    client, conn = de
    assert (await _post(client, envelope(AT_KEY, sequence=1))).status_code == 202
    genuine = json.loads(envelope(AT_KEY, sequence=3))
    other = json.loads(envelope(AT_KEY, sequence=3, body={"other": True}))
    forged = {**genuine, "signature": other["signature"]}
    code = await _refused_while_held(client, conn, json.dumps(forged).encode(), also=envelope(AT_KEY, sequence=2))
    assert code == "bad-signature"
    assert await _stored(conn) == (2, 2)


async def test_a_notice_under_a_key_never_seen_is_refused_without_the_senders_lock(
    de: tuple[Client, db.Conn],
) -> None:
    client, conn = de
    stranger = SigningKey.generate()  # a key no receiver in this process has seen
    assert await _refused_while_held(client, conn, envelope(stranger, sequence=1)) == "unknown-key"
    assert await _stored(conn) == (0, 0)


@pytest.mark.parametrize("not_after", ["2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z"])
async def test_a_key_announced_with_an_empty_window_is_rejected_and_not_trusted(
    de: tuple[Client, db.Conn], not_after: str
) -> None:
    """A ``not_after`` not after ``not_before`` (PROTOCOL §6) makes a key valid at no moment: rejected, not stored."""
    client, conn = de
    body = {
        "key_id": OTHER_KEY.key_id,
        "public_key": b64url_encode(OTHER_KEY.public_key),
        "not_before": "2026-01-01T00:00:00Z",
        "not_after": not_after,
    }
    response = await _post(client, envelope(AT_KEY, sequence=1, type_="registry.key-announced", body=body))
    assert response.status_code == 202
    receipt = decode_receipt(response.content).receipt
    assert (receipt.status, receipt.reason) == ("rejected", "invalid-body")
    assert await conn.fetchval("SELECT count(*) FROM peer_key WHERE key_id = $1", OTHER_KEY.key_id) == 0
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.key-announced'") == 0
    assert await _stored(conn) == (1, 1)  # the notice and its rejection, as for every notice received
