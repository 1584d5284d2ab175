"""A partner registry written from PROTOCOL.md alone (firearms-exchange/1): its own canonical form (§2), envelopes,
Ed25519 signing and verification with pycryptodome (§1, §3), receipts (§4) and a receiving endpoint (aiohttp).

Nothing here imports the registry's own code: a misreading of PROTOCOL shared by the registry and its own test helpers
shows up as a disagreement with this module. Written without reading ``firearms/canonical.py``, ``firearms/signing.py``,
``firearms/exchange/*`` or ``tests/exchange_util.py``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

PROTOCOL = "firearms-exchange/1"
MAX_ENVELOPE = 256 * 1024  # §3: an envelope is at most 256 KiB
MAX_SKEW = 300  # §4 check 6: created_at at most 300 s ahead of the receiver's clock
INT_LIMIT = 2**53 - 1  # §2: integers in [-(2^53)+1, 2^53-1]
NOTICE_FIELDS = {
    "id",
    "type",
    "sender",
    "recipient",
    "sequence",
    "created_at",
    "in_reply_to",
    "confidentiality",
    "body",
}
CONFIDENTIALITY = {"public", "restricted", "confidential"}


# --- §2 canonical form -------------------------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _encode(value: Any) -> str:  # noqa: PLR0911  # one branch a JSON kind
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if not -INT_LIMIT <= value <= INT_LIMIT:
            raise ValueError(f"integer out of range: {value}")
        return str(value)
    if isinstance(value, float):
        raise ValueError("no floats anywhere (PROTOCOL §2)")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str) or not key.isascii():
                raise ValueError(f"object keys are ASCII strings: {key!r}")
        # sorted by code point: Python compares str by code point
        return "{" + ",".join(_string(key) + ":" + _encode(value[key]) for key in sorted(value)) + "}"
    raise ValueError(f"not a JSON value: {type(value).__name__}")


def canonical(value: Any) -> bytes:
    """PROTOCOL §2: the canonical JSON of ``value`` as UTF-8 bytes."""
    return _encode(value).encode("utf-8")


def signing_input(kind: str, value: dict[str, Any]) -> bytes:
    """§3 and §4: ``firearms-exchange/1 notice`` (or ``receipt``) + LF + canonical(value)."""
    return f"{PROTOCOL} {kind}\n".encode() + canonical(value)


def b64u(data: bytes) -> str:
    """Base64url without padding (§1)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    """The bytes of unpadded base64url; ValueError on anything else."""
    if not isinstance(text, str) or "=" in text or not all(c.isalnum() or c in "-_" for c in text):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def time_text(moment: dt.datetime) -> str:
    """§2: an RFC 3339 UTC time with second precision and a ``Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    """A §2 time; ValueError for any other shape."""
    moment = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    if time_text(moment) != text:
        raise ValueError(f"not a §2 time: {text}")
    return moment


def now() -> dt.datetime:
    """The partner's clock."""
    return dt.datetime.now(dt.UTC)


# --- §1 keys -----------------------------------------------------------------------------------------------------


def key_id_of(public_key: bytes) -> str:
    """§1: the first 16 bytes of SHA-256 over the raw public key, 32 lower-case hex characters."""
    return hashlib.sha256(public_key).digest()[:16].hex()


@dataclass
class Key:
    """An Ed25519 key pair of the partner."""

    private: Any

    @classmethod
    def generate(cls) -> Key:
        """A fresh key."""
        return cls(ECC.generate(curve="Ed25519"))

    @classmethod
    def from_seed(cls, seed: bytes) -> Key:
        """The key of an RFC 8032 seed (the vectors' keys)."""
        return cls(ECC.construct(curve="Ed25519", seed=seed))

    @property
    def public_raw(self) -> bytes:
        """The raw 32-byte public key."""
        raw: bytes = self.private.public_key().export_key(format="raw")
        return raw

    @property
    def public_key(self) -> str:
        """The public key as it travels (§1)."""
        return b64u(self.public_raw)

    @property
    def key_id(self) -> str:
        """§1 key_id."""
        return key_id_of(self.public_raw)

    def sign(self, data: bytes) -> str:
        """RFC 8032 pure Ed25519 over ``data``, base64url."""
        return b64u(eddsa.new(self.private, "rfc8032").sign(data))


def verifies(public_key: str, data: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64url) is ``public_key``'s Ed25519 signature of ``data``."""
    try:
        raw = unb64u(signature)
        verifier = eddsa.new(eddsa.import_public_key(unb64u(public_key)), "rfc8032")
        verifier.verify(data, raw)
    except ValueError:
        return False
    return True


def envelope(notice: dict[str, Any], key: Key) -> dict[str, Any]:
    """§3: the envelope of ``notice`` signed by ``key``."""
    return {
        "protocol": PROTOCOL,
        "notice": notice,
        "signature": {"alg": "Ed25519", "key_id": key.key_id, "value": key.sign(signing_input("notice", notice))},
    }


def receipt_envelope(receipt: dict[str, Any], key: Key) -> dict[str, Any]:
    """§4: a receipt signed by the recipient."""
    return {
        "protocol": PROTOCOL,
        "receipt": receipt,
        "signature": {"alg": "Ed25519", "key_id": key.key_id, "value": key.sign(signing_input("receipt", receipt))},
    }


def digest(notice: dict[str, Any]) -> str:
    """§4 receipt digest: base64url(SHA-256(signing input of the notice))."""
    return b64u(hashlib.sha256(signing_input("notice", notice)).digest())


# --- §1 trust list and §4 checks 1-6 ------------------------------------------------------------------------------


@dataclass
class TrustedKey:
    """A key on the trust list, with its validity (§1)."""

    public_key: str
    not_before: dt.datetime
    not_after: dt.datetime | None = None
    revoked_at: dt.datetime | None = None

    @property
    def key_id(self) -> str:
        """Its key_id, computed, never taken on trust."""
        return key_id_of(unb64u(self.public_key))


class RefusedError(Exception):
    """A §4 check failed: ``problem`` is the last segment of the problem type."""

    def __init__(self, problem: str, status: int, detail: str) -> None:
        super().__init__(f"{problem}: {detail}")
        self.problem = problem
        self.status = status
        self.detail = detail


def _no_float(text: str) -> Any:
    raise ValueError(f"a float: {text}")


def _no_constant(text: str) -> Any:
    raise ValueError(f"not JSON: {text}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key}")
        result[key] = value
    return result


def parse(raw: bytes) -> Any:
    """Strict JSON: no floats, no NaN, no duplicate keys (§2)."""
    return json.loads(
        raw.decode("utf-8"), parse_float=_no_float, parse_constant=_no_constant, object_pairs_hook=_unique_keys
    )


def _state(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 2 and value.isascii() and value.isupper()


def _shape(document: Any, part: str) -> None:
    """§3: the envelope's shape, closed outside ``body``."""
    if not isinstance(document, dict) or set(document) != {"protocol", part, "signature"}:
        raise ValueError("envelope members")
    if document["protocol"] != PROTOCOL:
        raise ValueError("protocol")
    signature = document["signature"]
    if not isinstance(signature, dict) or set(signature) != {"alg", "key_id", "value"}:
        raise ValueError("signature members")
    if signature["alg"] != "Ed25519" or not isinstance(signature["key_id"], str):
        raise ValueError("signature alg or key_id")
    if not isinstance(signature["value"], str):
        raise ValueError("signature value")


def check_notice_shape(notice: Any) -> None:
    """§3: the notice's members and their types."""
    if not isinstance(notice, dict) or set(notice) != NOTICE_FIELDS:
        raise ValueError("notice members")
    uuid.UUID(notice["id"])
    if not isinstance(notice["type"], str) or not notice["type"]:
        raise ValueError("type")
    if not (_state(notice["sender"]) and _state(notice["recipient"])):
        raise ValueError("sender or recipient")
    sequence = notice["sequence"]
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
        raise ValueError("sequence")
    parse_time(notice["created_at"])
    if notice["in_reply_to"] is not None:
        uuid.UUID(notice["in_reply_to"])
    if notice["confidentiality"] not in CONFIDENTIALITY:
        raise ValueError("confidentiality")
    if not isinstance(notice["body"], dict):
        raise ValueError("body")


def valid_for(key: TrustedKey, created_at: dt.datetime) -> bool:
    """§1: ``not_before <= created_at``, ``created_at < not_after`` (if set), not revoked at or before it."""
    if key.not_before > created_at:
        return False
    if key.not_after is not None and created_at >= key.not_after:
        return False
    return key.revoked_at is None or key.revoked_at > created_at


def check_notice(
    raw: bytes, me: str, trust: dict[str, list[TrustedKey]], clock: dt.datetime | None = None
) -> dict[str, Any]:
    """PROTOCOL §4 checks 1-6 in order; the notice, or RefusedError naming the first failure."""
    try:
        if len(raw) > MAX_ENVELOPE:
            raise ValueError("too large")
        document = parse(raw)
        _shape(document, "notice")
        notice: dict[str, Any] = document["notice"]
        check_notice_shape(notice)
        canonical(document)  # every value of the protocol obeys §2 (integers in range, ASCII keys)
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as error:
        raise RefusedError("malformed-notice", 400, str(error)) from error
    if notice["recipient"] != me:
        raise RefusedError("wrong-recipient", 400, f"addressed to {notice['recipient']}")
    keys = trust.get(notice["sender"])
    if keys is None:
        raise RefusedError("unknown-sender", 403, notice["sender"])
    created_at = parse_time(notice["created_at"])
    signature = document["signature"]
    matching = [key for key in keys if key.key_id == signature["key_id"]]
    if not matching:
        raise RefusedError("unknown-key", 403, signature["key_id"])
    (key,) = matching
    if key.revoked_at is not None and key.revoked_at <= created_at:
        raise RefusedError("key-revoked", 403, signature["key_id"])
    if not valid_for(key, created_at):
        raise RefusedError("unknown-key", 403, f"{signature['key_id']} not valid at {notice['created_at']}")
    if not verifies(key.public_key, signing_input("notice", notice), signature["value"]):
        raise RefusedError("bad-signature", 403, signature["key_id"])
    if created_at > (clock or now()) + dt.timedelta(seconds=MAX_SKEW):
        raise RefusedError("clock-skew", 400, notice["created_at"])
    return notice


def check_receipt(
    raw: bytes, sent: dict[str, Any], recipient_keys: list[TrustedKey]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """§4: a receipt for ``sent`` (a notice) as its recipient must sign it; (receipt, signature) or AssertionError."""
    document = parse(raw)
    _shape(document, "receipt")
    receipt: dict[str, Any] = document["receipt"]
    expected = {"notice_id", "sender", "recipient", "sequence", "digest", "status", "reason", "received_at"}
    assert isinstance(receipt, dict), receipt
    assert set(receipt) == expected, f"receipt members {sorted(receipt)}, PROTOCOL §4 lists {sorted(expected)}"
    assert receipt["notice_id"] == sent["id"], receipt
    assert (receipt["sender"], receipt["recipient"]) == (sent["sender"], sent["recipient"]), receipt
    assert receipt["sequence"] == sent["sequence"], receipt
    assert receipt["digest"] == digest(sent), "the receipt's digest is not SHA-256 of the notice's signing input"
    assert receipt["status"] in {"accepted", "rejected"}, receipt
    assert (receipt["reason"] is None) == (receipt["status"] == "accepted"), receipt
    received_at = parse_time(receipt["received_at"])
    signature = document["signature"]
    (key,) = [key for key in recipient_keys if key.key_id == signature["key_id"]]
    assert valid_for(key, received_at), f"receipt signed by {key.key_id}, not valid at {receipt['received_at']}"
    assert verifies(key.public_key, signing_input("receipt", receipt), signature["value"]), "receipt signature"
    return receipt, signature


# --- the partner: sending and receiving ----------------------------------------------------------------------------


@dataclass
class Inbox:
    """What one State of the partner received from one sender: §4 checks 7 and 8, receipts."""

    stored: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # id -> (canonical notice, receipt bytes)
    notices: list[dict[str, Any]] = field(default_factory=list)
    expected: int = 1


@dataclass
class PartnerState:
    """One State the partner speaks for: its key, its trust list, its outgoing sequences, its inboxes."""

    state: str
    key: Key
    trust: dict[str, list[TrustedKey]] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)
    inboxes: dict[str, Inbox] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    attempts: list[bytes] = field(default_factory=list)  # every body posted to it, as it came
    unavailable: int = 0  # answer the next so many deliveries with a 503
    # answer the next notices with a receipt that is no proof of their delivery, storing nothing: signed by another
    # key ("key"), or signed by this State but naming another digest ("digest") or another sequence ("sequence")
    forged_receipts: list[str] = field(default_factory=list)
    lost_receipts: int = 0  # store the next so many notices but answer 503, as if the receipt were lost on the way

    def notice(
        self,
        recipient: str,
        type_: str,
        body: dict[str, Any],
        *,
        sequence: int | None = None,
        created_at: dt.datetime | None = None,
        in_reply_to: str | None = None,
        confidentiality: str = "restricted",
        notice_id: str | None = None,
    ) -> dict[str, Any]:
        """A notice to ``recipient``; takes the next sequence of the pair unless one is given."""
        if sequence is None:
            sequence = self.sequences.get(recipient, 0) + 1
            self.sequences[recipient] = sequence
        return {
            "id": notice_id or str(uuid.uuid4()),
            "type": type_,
            "sender": self.state,
            "recipient": recipient,
            "sequence": sequence,
            "created_at": time_text(created_at or now()),
            "in_reply_to": in_reply_to,
            "confidentiality": confidentiality,
            "body": body,
        }

    def receive(self, raw: bytes) -> tuple[int, bytes, str]:  # noqa: PLR0911  # one answer per §4 outcome
        """§4 as a receiver: (status, body, content type)."""
        try:
            notice = check_notice(raw, self.state, self.trust)
        except RefusedError as refused:
            self.refusals.append(refused.problem)
            return refused.status, _problem(refused.problem, refused.status, refused.detail), "application/problem+json"
        inbox = self.inboxes.setdefault(notice["sender"], Inbox())
        exact = canonical(notice)
        if notice["id"] in inbox.stored:
            first, given = inbox.stored[notice["id"]]
            if first == exact:
                return 200, given, "application/json"
            self.refusals.append("notice-id-conflict")
            return 409, _problem("notice-id-conflict", 409, notice["id"]), "application/problem+json"
        if notice["sequence"] != inbox.expected:
            self.refusals.append("sequence-gap")
            extra = {"expected_sequence": inbox.expected}
            return 409, _problem("sequence-gap", 409, str(notice["sequence"]), extra), "application/problem+json"
        receipt = {
            "notice_id": notice["id"],
            "sender": notice["sender"],
            "recipient": notice["recipient"],
            "sequence": notice["sequence"],
            "digest": digest(notice),
            "status": "accepted",
            "reason": None,
            "received_at": time_text(now()),
        }
        if self.forged_receipts:
            how = self.forged_receipts.pop(0)
            self.refusals.append(f"forged-receipt:{how}")
            if how == "digest":
                receipt["digest"] = b64u(hashlib.sha256(b"another notice").digest())
            elif how == "sequence":
                receipt["sequence"] += 1
            signer = Key.generate() if how == "key" else self.key
            return 202, json.dumps(receipt_envelope(receipt, signer)).encode(), "application/json"
        body = json.dumps(receipt_envelope(receipt, self.key), ensure_ascii=False).encode()
        inbox.stored[notice["id"]] = (exact, body)
        inbox.notices.append(notice)
        inbox.expected += 1
        if self.lost_receipts > 0:
            self.lost_receipts -= 1
            self.refusals.append("lost-receipt")
            return 503, _problem("unavailable", 503, "the receipt was lost"), "application/problem+json"
        return 202, body, "application/json"


def _problem(name: str, status: int, detail: str, extra: dict[str, Any] | None = None) -> bytes:
    problem = {"type": f"tag:cleanroom-partner,2026:problems/{name}", "title": name, "status": status, "detail": detail}
    return json.dumps({**problem, **(extra or {})}).encode()


class Partner:
    """A partner registry speaking for one or more States, each at ``{base}/{STATE}``, on a loopback port."""

    def __init__(self, *states: PartnerState) -> None:
        self.states = {state.state: state for state in states}
        self.received = asyncio.Condition()
        self.port = 0
        self._runner: web.AppRunner | None = None

    def base_url(self, state: str) -> str:
        """Where the registry reaches ``state``."""
        return f"http://127.0.0.1:{self.port}/{state}"

    async def _notices(self, request: web.Request) -> web.Response:
        state = self.states.get(request.match_info["state"])
        if state is None:
            return web.Response(status=404)
        if request.content_type != "application/json":
            return web.Response(status=415)
        raw = await request.read()
        state.attempts.append(raw)
        if state.unavailable > 0:
            state.unavailable -= 1
            return web.Response(
                status=503, body=_problem("unavailable", 503, "try again"), content_type="application/problem+json"
            )
        status, body, content_type = state.receive(raw)
        async with self.received:
            self.received.notify_all()
        return web.Response(status=status, body=body, content_type=content_type)

    async def start(self, port: int) -> None:
        """Listen on 127.0.0.1:``port``."""
        app = web.Application(client_max_size=MAX_ENVELOPE + 1)
        app.router.add_post("/{state}/exchange/v1/notices", self._notices)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = port

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait(self, state: str, sender: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """The first ``count`` notices ``state`` accepted from ``sender``, waiting for them up to ``timeout`` s."""

        def enough() -> bool:
            inbox = self.states[state].inboxes.get(sender)
            return inbox is not None and len(inbox.notices) >= count

        async with self.received:
            try:
                await asyncio.wait_for(self.received.wait_for(enough), timeout)
            except TimeoutError:
                inbox = self.states[state].inboxes.get(sender)
                got = [n["type"] for n in inbox.notices] if inbox else []
                raise AssertionError(
                    f"{state} accepted {got} from {sender}, waited for {count}; refused {self.states[state].refusals}"
                ) from None
        return self.states[state].inboxes[sender].notices[:count]
