"""Helpers for exchange tests: vector keys, signed envelopes, a receiving registry."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from firearms import clock, db, journal
from firearms.canonical import format_time, parse_time, utc_now
from firearms.exchange import trust
from firearms.exchange.inbox import EFFECTS, NoticeRejectedError, effect
from firearms.exchange.protocol import (
    Envelope,
    Notice,
    Receipt,
    digest_of,
    encode,
    make_time,
    notice_signing_input,
    sign_notice,
    sign_receipt,
)
from firearms.signing import SigningKey

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "vectors.json").read_text(encoding="utf-8"))
AT_KEY = SigningKey.from_seed(bytes.fromhex(VECTORS["keys"]["AT"]["seed_hex"]))
DE_KEY = SigningKey.from_seed(bytes.fromhex(VECTORS["keys"]["DE"]["seed_hex"]))
OTHER_KEY = SigningKey.from_seed(bytes.fromhex(VECTORS["keys"]["OTHER"]["seed_hex"]))

# The day the tests run, in the receiving registries' zone (UTC, Settings' default): a transit-consent request's
# shipment window and the day its silent period starts are counted from it, so that the tests pass on any day
# (`.ci/later` runs them with the clock moved), not only in December 2026.
TODAY = clock.today(dt.UTC)
WINDOW = (TODAY, TODAY + dt.timedelta(days=19))  # a shipment from today for 20 days: not over until then
# The last Friday before today: a request moved back to it arrived on a Friday (its silent period starts on the
# Monday after) and is still within its 20 working days today, whatever day it is.
FRIDAY = TODAY - dt.timedelta(days=(TODAY.weekday() - 4) % 7 or 7)


VECTORS_DAY = dt.date(2026, 12, 1)  # the day the vectors' licence was written for: valid from two days before


def current_licence(licence: dict[str, Any]) -> dict[str, Any]:
    """``licence`` (the vectors' licence) with its days moved as far as today is from ``VECTORS_DAY``.

    Valid for a year from two days before today, its import authorisation with it: on any day the tests run it is
    as current as on 1 December 2026 (the vectors' own bytes keep their dates: their signatures are fixed).
    """
    shift = TODAY - VECTORS_DAY
    moved: dict[str, Any] = json.loads(json.dumps(licence))
    for key in ("valid_from", "expires_on"):
        moved[key] = (dt.date.fromisoformat(moved[key]) + shift).isoformat()
    if moved.get("issued_at") is not None:
        moved["issued_at"] = format_time(parse_time(moved["issued_at"]) + shift)
    authorisation = moved.get("import_authorisation")
    if authorisation is not None:
        for key in ("issued_on", "expires_on"):
            authorisation[key] = (dt.date.fromisoformat(authorisation[key]) + shift).isoformat()
    return moved


def shipment_window() -> dict[str, str]:
    """The shipment window of a transit-consent request sent today (``WINDOW``), as the notice body carries it."""
    return {"from": WINDOW[0].isoformat(), "to": WINDOW[1].isoformat()}


async def trust_cz_and_de(conn: db.Conn) -> None:
    """AT trusts CZ (the OTHER vector key) and DE (its vector key), both at http://{state}.example, since 2026."""
    async with conn.transaction():
        for state, key in (("CZ", "OTHER"), ("DE", "DE")):
            await trust.add_peer(
                conn,
                own_state="AT",
                state=state,
                base_url=f"http://{state.lower()}.example",
                public_key=VECTORS["keys"][key]["public_key"],
                not_before=parse_time("2026-01-01T00:00:00Z"),
                actor="test",
            )


async def add_partner(conn: db.Conn, state: str = "DE") -> None:
    """AT trusts ``state`` (DE's vector key, else the OTHER one) at an address nothing answers (the discard port)."""
    async with db.transaction(conn):
        await trust.add_peer(
            conn,
            own_state="AT",
            state=state,
            base_url=f"http://127.0.0.1:9/{state.lower()}",
            public_key=VECTORS["keys"]["DE" if state == "DE" else "OTHER"]["public_key"],
            not_before=None,
            actor="test",
        )


def envelope(
    key: SigningKey,
    *,
    sender: str = "AT",
    recipient: str = "DE",
    sequence: int = 1,
    type_: str = "test.ping",
    body: dict[str, Any] | None = None,
    created_at: str | None = None,
    notice_id: str | None = None,
    in_reply_to: str | None = None,
    confidentiality: str = "restricted",
) -> bytes:
    """The canonical bytes of a signed envelope."""
    notice = Notice(
        id=notice_id or str(uuid.uuid4()),
        type=type_,
        sender=sender,
        recipient=recipient,
        sequence=sequence,
        created_at=created_at or format_time(utc_now()),
        in_reply_to=in_reply_to,
        confidentiality=confidentiality,  # type: ignore[arg-type]
        body=body or {},
    )
    return encode(sign_notice(notice, key))


@contextlib.asynccontextmanager
async def partner(
    answer: Callable[[bytes], Awaitable[tuple[int, bytes] | tuple[int, bytes, dict[str, str]]]],
) -> AsyncIterator[str]:
    """A partner registry on a loopback port whose ``/exchange/v1/notices`` answers ``answer(body)``; its base URL.

    Real HTTP for partners that misbehave in ways our own app never does (garbage, NUL, bad receipts).
    ``answer`` may give headers too, as a third member (``Retry-After``, say).
    """

    async def notices(request: web.Request) -> web.Response:
        status, content, *headers = await answer(await request.read())
        return web.Response(
            status=status, body=content, content_type="application/json", headers=headers[0] if headers else None
        )

    app = web.Application()
    app.router.add_post("/exchange/v1/notices", notices)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        await web.SockSite(runner, sock).start()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await runner.cleanup()
        sock.close()


def signed_receipt(raw: bytes, key: SigningKey, **changes: Any) -> bytes:
    """The recipient's receipt for the envelope ``raw``, signed by ``key``: accepted, now, unless ``changes`` say."""
    notice = msgspec.json.decode(raw, type=Envelope).notice
    fields: dict[str, Any] = {
        "notice_id": notice.id,
        "sender": notice.sender,
        "recipient": notice.recipient,
        "sequence": notice.sequence,
        "digest": digest_of(notice_signing_input(notice)),
        "status": "accepted",
        "reason": None,
        "received_at": make_time(utc_now()),
    }
    return encode(sign_receipt(Receipt(**(fields | changes)), key))


def vector_bytes(value: Any) -> bytes:
    """JSON bytes of a vector value (floats stay floats)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


async def _ping(conn: Any, received: Any) -> None:
    """A test-only notice type whose effect is nothing: it is accepted."""


if "test.ping" not in EFFECTS:
    EFFECTS["test.ping"] = _ping


async def _checks_then_writes(conn: Any, received: Any) -> None:
    """Test-only, declared ``checks_first``: rejects before writing, or -- breaking its word -- after."""
    if received.notice.body.get("reject") == "before":
        raise NoticeRejectedError("invalid-body", "rejected before any write")
    await journal.record(conn, actor="test", action="test.wrote", entity="test", entity_id="1", payload={})
    if received.notice.body.get("reject") == "after":
        raise NoticeRejectedError("invalid-body", "rejected after a write")


if "test.checks-first" not in EFFECTS:
    effect("test.checks-first", checks_first=True)(_checks_then_writes)
