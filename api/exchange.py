"""The partner surface, ``/exchange/v1`` (PROTOCOL §4): no token; the signature is the authentication."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from api.deps import ConnDep, SettingsDep, connection, content_coding, media_type
from api.problems import notice_outcome_unknown, notice_write_refused, problem_response
from firearms import keys
from firearms.db import WRITE_REFUSED, CommitUnansweredError
from firearms.exchange import inbox
from firearms.exchange.protocol import MAX_ENVELOPE_BYTES, PROBLEM_BASE, PROTOCOL, NoticeRefusedError
from firearms.exchange.quota import Quota, QuotaExceededError

__all__ = ["EXCHANGE_STATUS", "KeysDocument", "exchange_api"]

# PROTOCOL §4: problem name -> HTTP status.
EXCHANGE_STATUS: dict[str, int] = {
    "malformed-notice": 400,
    "wrong-recipient": 400,
    "unknown-sender": 403,
    "unknown-key": 403,
    "key-revoked": 403,
    "bad-signature": 403,
    "clock-skew": 400,
    "notice-id-conflict": 409,
    "sequence-gap": 409,
    # not PROTOCOL §4's: this registry's bound on what one partner stores an hour (README "What one partner can make
    # this registry store"); a 429, which PROTOCOL §4's sender retries with the same bytes
    "quota-exceeded": 429,
}


class PublicKey(msgspec.Struct, frozen=True, kw_only=True):
    """One public key of this registry with its validity."""

    key_id: str
    public_key: str
    not_before: dt.datetime
    not_after: dt.datetime | None
    revoked_at: dt.datetime | None


class KeysDocument(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /exchange/v1/keys``: what an administrator checks out of band before trusting this registry."""

    protocol: str
    state: str
    current_key_id: str | None
    keys: list[PublicKey]


def _refused(request: Request[Any, Any, Any], exc: NoticeRefusedError) -> Response[dict[str, Any]]:
    status = EXCHANGE_STATUS.get(exc.code, 400)
    # RFC 9110 §10.2.3: the seconds until the hour that lets the notice in
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, QuotaExceededError) else None
    return problem_response(request, status, exc.code, exc.detail, dict(exc.facts), base=PROBLEM_BASE, headers=headers)


def _require_json(content_type: str | None) -> None:
    """Check 1 (PROTOCOL §4: notices are posted as ``application/json``): a body said to be another type is malformed.

    ``application/json`` passes with any parameters but a ``charset`` other than UTF-8 (§2: the envelope is
    UTF-8). Text or a form is refused before the body is read, as the other malformed envelopes are: nothing
    is stored and no sequence number is consumed. A request without a ``Content-Type`` is read as JSON, as on
    the officer endpoints: it says nothing else, and the envelope's own checks still apply.

    Raises:
        NoticeRefusedError: ``malformed-notice``.
    """
    if content_type is None:
        return
    media, charsets = media_type(content_type)
    if media != "application/json" or any(charset != "utf-8" for charset in charsets):
        # anyone may post here: the rule, not the header the sender wrote (README "Security")
        raise NoticeRefusedError(
            "malformed-notice", "an envelope is sent as Content-Type: application/json (UTF-8), not another media type"
        )


@post(
    "/notices",
    summary="Deliver a signed notice",
    request_max_body_size=MAX_ENVELOPE_BYTES,
    # a COMMIT without an answer: the sender's advice is to send the same bytes, not an officer's check_id
    # and a database that takes no write: the same advice, not the officer's paper procedure
    exception_handlers={
        NoticeRefusedError: _refused,
        CommitUnansweredError: notice_outcome_unknown,
        **dict.fromkeys(WRITE_REFUSED, notice_write_refused),
    },
    status_code=202,
)
async def receive_notice(request: Request[Any, Any, Any], settings: SettingsDep) -> Response[bytes]:
    """PROTOCOL §4: checks 1-8 in order; 202 with a signed receipt, 200 with the first receipt for a duplicate.

    Check 1 starts with the ``Content-Type`` (:func:`_require_json`), before the body is read; checks 1 and 2
    end before a database connection is taken (:func:`firearms.exchange.inbox.check_addressed`).

    Every refusal is an ``application/problem+json`` whose ``type`` ends in the check's name; nothing is stored.
    The partners' hottest path keeps its own transaction rather than the ``conn`` dependency (Litestar's
    generator dependencies cost 0.18 ms a request here).
    """
    _require_json(request.headers.get("content-type"))
    coding = content_coding(request.headers.get("content-encoding"))
    if coding is not None:
        # the rule, not the header the sender wrote (README "Security")
        raise NoticeRefusedError(
            "malformed-notice", "an envelope is sent as its bytes: a Content-Encoding is not decoded here"
        )
    try:
        raw = await request.body()
    except RequestEntityTooLarge as exc:
        raise NoticeRefusedError("malformed-notice", f"an envelope is at most {MAX_ENVELOPE_BYTES} bytes") from exc
    addressed = inbox.check_addressed(raw, settings.state)  # before a connection: anyone may post garbage here
    async with connection(request.app.state.pool) as conn:
        delivered = await inbox.receive_notice(
            conn,
            raw,
            state=settings.state,
            home=settings.home,
            time_zone=settings.time_zone,
            addressed=addressed,
            quota=Quota.of(settings),
        )
    return Response(
        content=delivered.receipt, status_code=200 if delivered.duplicate else 202, media_type="application/json"
    )


@get("/keys", summary="This registry's public keys")
async def public_keys(conn: ConnDep, settings: SettingsDep) -> KeysDocument:
    """The State, the key in use and every key this registry ever used, with validity (unauthenticated)."""
    listed = await keys.list_keys(conn)
    current = await keys.current_key_id(conn)  # the signer's rule, not a second one here
    return KeysDocument(
        protocol=PROTOCOL,
        state=settings.state,
        current_key_id=current,
        keys=[
            PublicKey(
                key_id=key.key_id,
                public_key=key.public_key,
                not_before=key.not_before,
                not_after=key.not_after,
                revoked_at=key.revoked_at,
            )
            for key in listed
        ],
    )


exchange_api = Router(path="/exchange/v1", route_handlers=[receive_notice, public_keys])
