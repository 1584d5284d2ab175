"""Receiving notices (PROTOCOL §4): the eight checks in order, then the notice and its effects in one transaction.

A notice that fails a check is refused with its problem and nothing is stored. A notice that
passes all eight consumes its sequence number: it is stored with the receipt given for it, and
its effect (looked up by type in :data:`EFFECTS`) runs in a savepoint of the same transaction; an
effect that finds the body invalid or inapplicable raises :class:`NoticeRejectedError` and the
notice is stored ``rejected`` with that reason instead. An effect the database refuses for the
values it was given (a data exception, a check or not-null violation: the same input fails every time)
cannot be applied either: :func:`receive_notice` then stores the notice ``rejected`` in a new
transaction -- ``invalid-body`` when the body holds U+0000, which PostgreSQL text and jsonb refuse,
``cannot-apply`` otherwise -- so that one such notice does not stall the sender's queue behind
it with a 500 on every retry. A duplicate gets the first receipt again, byte for byte.

A notice that passes checks 1-8 is stored only within its sender's quota (:class:`Quota`): so many notices and
bytes a UTC hour, counted under the sender's lock by the statement that stores it. Beyond it the notice is refused
``quota-exceeded`` and nothing of it is stored; the refusal is counted on the sender's row of the hour, in a
transaction of its own, and the sender retries the same bytes once the hour has ended.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import functools
import logging
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg
import msgspec
import msgspec.inspect

from firearms import db, journal, keys
from firearms.canonical import parse_time, utc_now
from firearms.clock import local_date
from firearms.errors import ConfigError
from firearms.exchange.checks import TrustedKey, check_recipient, check_signed, is_key_time, parse_envelope
from firearms.exchange.protocol import (
    CLOCK_SKEW,
    NOTICE_PREFIX,
    Notice,
    NoticeRefusedError,
    Receipt,
    ReceiptStatus,
    digest_of,
    encode,
    is_time,
    make_time,
    sign_receipt,
    verify_notice_signature,
)
from firearms.exchange.quota import DEFAULT_QUOTA, Quota, QuotaExceededError, check_quota, record_refusal
from firearms.store import inbox as store
from firearms.text_rules import identifier_fault

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from firearms.db import Conn
    from firearms.exchange.protocol import Envelope
    from firearms.signing import SigningKey

__all__ = [
    "EFFECTS",
    "Delivered",
    "Effect",
    "NoticeRejectedError",
    "ReceivedNotice",
    "body_as",
    "check_addressed",
    "effect",
    "receive",
    "receive_notice",
    "require_not_after_arrival",
    "require_not_after_receipt",
]

T = TypeVar("T")
log = logging.getLogger("firearms.exchange")

# A partner delivering alone (one notice at a time, the usual case) waits for each receipt: then Ed25519
# runs on these threads while the event loop waits for the database (pycryptodome's C code releases the
# GIL): the notice's signature during the reads of checks 3-8, the receipt's during the effect (sequential
# delivery 7-12 % faster, bench/RESULTS.md). With other notices in flight in this process the loop has work of
# its own, and the threads' contention for the GIL halved the receiving rate: they are not used then.
_CRYPTO = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="firearms-ed25519")
_in_flight = 0
# key_id -> public key of partners' keys seen on the trust list (a key_id is its key's SHA-256, PROTOCOL §1)
_SEEN_KEYS: dict[str, bytes] = {}
_SEEN_KEYS_MAX = 1024


class NoticeRejectedError(Exception):
    """An effect cannot apply the notice: it is stored ``rejected`` with ``reason`` (a stable code)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


class ReceivedNotice(msgspec.Struct, frozen=True, kw_only=True):
    """A notice that passed checks 1-8, as an effect sees it, with the registry's time zone for its dates."""

    notice: Notice
    key_id: str
    received_at: dt.datetime
    time_zone: dt.tzinfo

    @property
    def created_at(self) -> dt.datetime:
        """``created_at`` as a datetime."""
        return parse_time(self.notice.created_at)

    @property
    def received_on(self) -> dt.date:
        """The day of receipt in the registry's time zone: an effect's "today"."""
        return local_date(self.received_at, self.time_zone)


class Delivered(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a delivery: 202 for a new notice, 200 for a duplicate, with the receipt bytes."""

    duplicate: bool
    receipt: bytes
    status: ReceiptStatus


Effect: TypeAlias = "Callable[[Conn, ReceivedNotice], Awaitable[None]]"
EFFECTS: dict[str, Effect] = {}
_CHECKS_FIRST: set[str] = set()


def effect(notice_type: str, *, checks_first: bool = False) -> Callable[[Effect], Effect]:
    """Register the effect of a notice type (decorator). One effect per type.

    An effect runs in a savepoint, so that one rejecting the notice after some writes leaves no partial
    effect. ``checks_first``: the effect raises :class:`NoticeRejectedError` only before its first write,
    so it runs without the savepoint (two round trips fewer); should it ever reject after writing, the
    delivery fails as a bug and nothing is stored.
    """

    def register(function: Effect) -> Effect:
        if notice_type in EFFECTS:
            raise ValueError(f"notice type {notice_type!r} already has an effect")
        EFFECTS[notice_type] = function
        if checks_first:
            _CHECKS_FIRST.add(notice_type)
        return function

    return register


def require_not_after_receipt(received: ReceivedNotice, name: str, on: dt.date) -> None:
    """A day a partner says something happened is no later than the day its notice arrives (a day's grace, zones).

    A report, a withdrawal, a receipt: facts of the past. One dated ahead (9999-12-31) was stored as given.

    Raises:
        NoticeRejectedError: ``invalid-body``.
    """
    if on > received.received_on + dt.timedelta(days=1):
        raise NoticeRejectedError("invalid-body", f"{name} {on} is after the day the notice was received")


def require_not_after_arrival(received: ReceivedNotice, name: str, moment: dt.datetime) -> None:
    """A moment a partner says something happened is no later than its notice's arrival (PROTOCOL's 300 s of skew).

    A dispatch is the sender's own past: one timed ahead was stored as given (9998-12-31T23:59:59Z).

    Raises:
        NoticeRejectedError: ``invalid-body``.
    """
    if moment > received.received_at + CLOCK_SKEW:
        raise NoticeRejectedError(
            "invalid-body",
            f"{name} {make_time(moment)} is after the notice arrived ({make_time(received.received_at)})",
        )


def body_as(received: ReceivedNotice, kind: type[T]) -> T:
    """The body converted to ``kind`` (unknown fields ignored, as PROTOCOL §3 says).

    Beyond what msgspec checks: the times are in PROTOCOL §2's one form, between 1970 and 9998 as a key's validity
    (PROTOCOL §1), and the identifiers (the fields marked
    :data:`firearms.text_rules.IDENTIFIER`) have no white space around them and no control character, as the
    registry holds its own: ``"4711 "`` would be stored as a report apart from ``"4711"``, never withdrawn by it.

    Raises:
        NoticeRejectedError: ``invalid-body``.
    """
    try:
        value = msgspec.convert(received.notice.body, kind)
    except msgspec.ValidationError as exc:
        raise NoticeRejectedError("invalid-body", f"the body is invalid for {received.notice.type}: {exc}") from exc
    times, identifiers = _checked_paths(kind)  # type: ignore[arg-type]  # a Struct class is hashable
    for path in times:
        for text in _values_at(received.notice.body, path):
            if text is not None and not (isinstance(text, str) and is_time(text)):
                raise NoticeRejectedError(
                    "invalid-body",
                    f"the body is invalid for {received.notice.type}: {_named(path)} {text!r} is not a protocol"
                    " time (UTC to the second with a Z, such as 2026-11-29T10:15:00Z: PROTOCOL §2)",
                )
            if text is not None and not is_key_time(parse_time(text)):
                # as a key's validity (PROTOCOL §1): the database keeps the first moment of the year 1 as -infinity,
                # read back without a zone (the next customs check on a licence so expired compared it: a 500)
                raise NoticeRejectedError(
                    "invalid-body",
                    f"the body is invalid for {received.notice.type}: {_named(path)} {text} is not a time between 1970"
                    " and 9998",
                )
    for path in identifiers:
        for text in _values_at(received.notice.body, path):
            if isinstance(text, str) and (fault := identifier_fault(text)) is not None:
                raise NoticeRejectedError(
                    "invalid-body",
                    f"the body is invalid for {received.notice.type}: {_named(path)} {text!r} {fault}; identifiers"
                    " are refused, never trimmed",
                )
    return value


_EACH = "*"  # a step of a path into a body: every item of a list


def _named(path: tuple[str, ...]) -> str:
    """A path into a body as words: ``items.*.serials.*``."""
    return ".".join(path)


@functools.cache
def _checked_paths(kind: Any) -> tuple[tuple[tuple[str, ...], ...], tuple[tuple[str, ...], ...]]:
    """Where a body of ``kind`` holds times, and where identifiers, as paths of field names (``*``: each list item).

    msgspec reads any RFC 3339 time into a datetime (no zone, an offset, a fraction, lower-case letters);
    PROTOCOL §2 allows one form only, so :func:`body_as` checks the text found at these paths. An identifier is a
    string annotated :data:`firearms.text_rules.IDENTIFIER`.
    """
    info = msgspec.inspect.type_info(kind)
    return tuple(_paths(info, (), _is_time)), tuple(_paths(info, (), _is_identifier))


def _is_time(info: msgspec.inspect.Type) -> bool:
    return isinstance(info, msgspec.inspect.DateTimeType)


def _is_identifier(info: msgspec.inspect.Type) -> bool:
    return isinstance(info, msgspec.inspect.Metadata) and bool((info.extra or {}).get("identifier"))


def _paths(
    info: msgspec.inspect.Type, prefix: tuple[str, ...], wanted: Callable[[msgspec.inspect.Type], bool]
) -> list[tuple[str, ...]]:
    if wanted(info):
        return [prefix]
    if isinstance(info, msgspec.inspect.Metadata):
        return _paths(info.type, prefix, wanted)
    if isinstance(info, msgspec.inspect.StructType):
        return [path for field in info.fields for path in _paths(field.type, (*prefix, field.encode_name), wanted)]
    if isinstance(info, msgspec.inspect.ListType):
        return _paths(info.item_type, (*prefix, _EACH), wanted)
    if isinstance(info, msgspec.inspect.UnionType):
        return list(dict.fromkeys(path for member in info.types for path in _paths(member, prefix, wanted)))
    return []


def _values_at(value: Any, path: tuple[str, ...]) -> list[Any]:
    """The values found at ``path`` in a body as received (none where a field is absent)."""
    if not path:
        return [value]
    step, rest = path[0], path[1:]
    if step == _EACH:
        return [found for item in value for found in _values_at(item, rest)] if isinstance(value, list) else []
    return _values_at(value[step], rest) if isinstance(value, dict) and step in value else []


# What the database says when an effect's values cannot be stored: the same notice fails the same way on
# every retry. Not unique or foreign-key violations, nor serialisation failures: those can be a race.
_UNAPPLICABLE = (asyncpg.DataError, asyncpg.CheckViolationError, asyncpg.NotNullViolationError)
# 22021 (U+0000 in a text value) and 22P05 (in a jsonb value): data errors the body itself caused.
_NUL = (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)


def check_addressed(raw: bytes, state: str) -> tuple[Envelope, bytes]:
    """Checks 1 and 2 (PROTOCOL §4): the envelope and its signing input, when it is well formed and for ``state``.

    They need no database: the partner surface runs them before it takes a connection, so that what anyone
    may post (garbage, an envelope for another State) costs no round trip and is refused even while the
    database does not answer.

    Raises:
        NoticeRefusedError: ``malformed-notice`` or ``wrong-recipient``.
    """
    envelope, signing_input = parse_envelope(raw)
    check_recipient(envelope, state)
    return envelope, signing_input


async def receive_notice(
    conn: Conn,
    raw: bytes,
    *,
    state: str,
    home: Path,
    time_zone: dt.tzinfo,
    addressed: tuple[Envelope, bytes] | None = None,
    quota: Quota | None = None,
) -> Delivered:
    """Receive one envelope in a transaction of its own; an effect the database refuses is stored rejected.

    ``addressed``: what :func:`check_addressed` already returned for ``raw`` (then checks 1 and 2 are not run
    again). ``quota``: a partner's bound an hour where the operator set none of its own (:meth:`Quota.of` the
    settings; the defaults when ``None``). A notice refused for it is counted in a transaction of its own, after
    the refused one rolled back.

    Raises:
        NoticeRefusedError: a check failed; nothing was stored (:class:`QuotaExceededError`: the quota's, counted).
        ConfigError: this registry has no valid signing key for the receipt.
        CommitUnansweredError: the ``COMMIT`` got no answer: the notice may have been stored (the sender's retry
            of the same bytes is then a duplicate, answered with the first receipt).
    """
    try:
        try:
            async with db.transaction(conn):
                return await receive(
                    conn, raw, state=state, home=home, time_zone=time_zone, addressed=addressed, quota=quota
                )
        except _UNAPPLICABLE as exc:
            log.warning("a notice's effect cannot be applied (%s: %s); it is stored rejected", type(exc).__name__, exc)
            reason = "invalid-body" if isinstance(exc, _NUL) else "cannot-apply"
        # checks 1-8 and the quota run again: the operator may have lowered the bound meanwhile
        async with db.transaction(conn):
            return await receive(
                conn,
                raw,
                state=state,
                home=home,
                time_zone=time_zone,
                rejected_as=reason,
                addressed=addressed,
                quota=quota,
            )
    except QuotaExceededError as exc:  # in either transaction: counted, the hour's first journaled
        async with db.transaction(conn):
            await record_refusal(conn, exc)
        raise


async def receive(
    conn: Conn,
    raw: bytes,
    *,
    state: str,
    home: Path,
    time_zone: dt.tzinfo,
    now: dt.datetime | None = None,
    rejected_as: str | None = None,
    addressed: tuple[Envelope, bytes] | None = None,
    quota: Quota | None = None,
) -> Delivered:
    """Receive one envelope inside the caller's transaction (PROTOCOL §4): two statements and the effect's.

    ``time_zone`` is the registry's: the dates the effects derive from moments are its dates.

    With ``rejected_as`` the effect does not run and a notice that passes the checks is stored ``rejected``
    with that reason (after its effect failed in the database, see :func:`receive_notice`).

    A notice that passes checks 1-8 beyond the sender's quota of the hour (its own, else ``quota``) is refused
    :class:`QuotaExceededError` (the caller counts the refusal: :func:`receive_notice`).

    Raises:
        NoticeRefusedError: a check failed (its ``code`` is the problem name); nothing was stored.
        ConfigError: this registry has no valid signing key for the receipt (nothing is stored).
    """
    global _in_flight  # noqa: PLW0603  # the event loop's own count: one thread reads and writes it
    _in_flight += 1
    try:
        return await _receive(
            conn,
            raw,
            state=state,
            home=home,
            time_zone=time_zone,
            now=now,
            rejected_as=rejected_as,
            alone=_in_flight == 1,
            addressed=addressed,
            quota=DEFAULT_QUOTA if quota is None else quota,
        )
    finally:
        _in_flight -= 1


async def _receive(
    conn: Conn,
    raw: bytes,
    *,
    state: str,
    home: Path,
    time_zone: dt.tzinfo,
    now: dt.datetime | None,
    rejected_as: str | None,
    alone: bool,
    addressed: tuple[Envelope, bytes] | None,
    quota: Quota,
) -> Delivered:
    envelope, signing_input = addressed if addressed is not None else check_addressed(raw, state)
    notice = envelope.notice
    moment = utc_now() if now is None else now
    seen = _SEEN_KEYS.get(envelope.signature.key_id)
    if seen is not None and alone:
        ahead: asyncio.Future[bool] | None = _in_thread(verify_notice_signature, envelope, seen, signing_input)
        verified = None
    else:
        ahead = None
        verified = await _verified_before_lock(conn, envelope, signing_input, moment, seen)
    # One receiver per sender at a time: the sender's inbox is held from here until commit.
    context = await store.receive_context(conn, notice.sender, notice.id, moment)
    if ahead is not None and seen is not None:
        verified = (seen, await ahead)
    key = check_signed(envelope, _trusted_keys(context), moment, signing_input, verified=verified)
    _remember_key(key)
    last: int = context["last_sequence"]
    stored = context if context["notice"] is not None else None
    notice_bytes = signing_input[len(NOTICE_PREFIX) :]
    if stored is not None:
        if bytes(stored["notice"]) != notice_bytes:
            raise NoticeRefusedError(
                "notice-id-conflict",
                f"notice {notice.id} from {notice.sender} was already received with different content",
                notice_id=notice.id,
            )
        receipt_bytes = bytes(stored["receipt"])
        status: Any = msgspec.json.decode(receipt_bytes)["receipt"]["status"]
        return Delivered(duplicate=True, receipt=receipt_bytes, status=status)
    expected = last + 1
    if notice.sequence != expected:
        raise NoticeRefusedError(
            "sequence-gap",
            f"the next notice expected from {notice.sender} has sequence {expected}, not {notice.sequence}",
            expected_sequence=expected,
        )
    check_quota(context, notice.sender, len(notice_bytes), moment, quota)
    own_key_id: str | None = context["own_key_id"]
    if own_key_id is None:
        raise ConfigError("this registry has no valid signing key: run 'firearms keys rotate'")
    signer = keys.signing_key(home, own_key_id)

    received_at = moment.replace(microsecond=0)
    received = ReceivedNotice(notice=notice, key_id=key.key_id, received_at=received_at, time_zone=time_zone)
    receipt = Receipt(
        notice_id=notice.id,
        sender=notice.sender,
        recipient=notice.recipient,
        sequence=notice.sequence,
        digest=digest_of(signing_input),
        status="accepted",
        reason=None,
        received_at=make_time(received_at),
    )
    # most notices are accepted: that receipt is signed while the effect runs
    accepted = _in_thread(_signed, receipt, signer) if alone and rejected_as is None else None
    status, reason = await _apply(conn, received) if rejected_as is None else ("rejected", rejected_as)
    if accepted is not None and status == "accepted":
        receipt_bytes = await accepted
    else:
        receipt_bytes = _signed(msgspec.structs.replace(receipt, status=status, reason=reason), signer)
    recorded_at, payload = journal.prepare(
        {
            "type": notice.type,
            "sequence": notice.sequence,
            "confidentiality": notice.confidentiality,
            "digest": receipt.digest,
            "status": status,
            "reason": reason,
        }
    )
    await store.store_received_notice(
        conn,
        notice.sender,
        notice.id,
        notice.type,
        notice.sequence,
        parse_time(notice.created_at),
        notice.in_reply_to,
        notice.confidentiality,
        key.key_id,
        notice_bytes,
        envelope.signature.value,
        receipt.digest,
        status,
        reason,
        received_at,
        receipt_bytes,
        recorded_at,
        payload,
    )
    return Delivered(duplicate=False, receipt=receipt_bytes, status=status)


def _in_thread(function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    return asyncio.get_running_loop().run_in_executor(_CRYPTO, function, *args)


async def _verified_before_lock(
    conn: Conn, envelope: Envelope, signing_input: bytes, moment: dt.datetime, seen: bytes | None
) -> tuple[bytes, bool]:
    """Checks 3-6 before the sender's inbox is taken, for a notice not alone in flight or under a key never seen.

    Only a notice signed by the sender's key waits for its inbox: a flood of forged ones (anyone can post
    to the endpoint, naming any sender and key) is refused without the lock, and cannot hold up the
    sender's genuine notices. A notice alone in flight under a key seen before starts check 5 on a thread
    instead, while ``receive_context`` is on its way (the sequential path). The checks run again under
    the lock on the keys read then, with this verification: a key revoked meanwhile still refuses.
    """
    if seen is not None and verify_notice_signature(envelope, seen, signing_input):
        return seen, True
    # A key never seen, or a signature the key seen before does not verify: the trust list, without the lock,
    # names the first check that fails (an unknown or revoked key before a bad signature, as PROTOCOL §4 orders).
    keys = _trusted_keys(await store.sender_keys(conn, envelope.notice.sender))
    key = check_signed(envelope, keys, moment, signing_input, verified=None if seen is None else (seen, False))
    _remember_key(key)
    return key.public_key, True


def _remember_key(key: TrustedKey) -> None:
    if len(_SEEN_KEYS) >= _SEEN_KEYS_MAX:
        _SEEN_KEYS.clear()
    _SEEN_KEYS[key.key_id] = key.public_key


def _signed(receipt: Receipt, signer: SigningKey) -> bytes:
    return encode(sign_receipt(receipt, signer))


def _trusted_keys(context: Any) -> list[TrustedKey] | None:
    if context["key_ids"] is None:
        return None
    columns = ("key_ids", "public_keys", "not_befores", "not_afters", "revoked_ats")
    return [
        TrustedKey(key_id=key_id, public_key=public_key, not_before=not_before, not_after=not_after, revoked_at=revoked)
        for key_id, public_key, not_before, not_after, revoked in zip(*(context[name] for name in columns), strict=True)
    ]


async def _apply(conn: Conn, received: ReceivedNotice) -> tuple[ReceiptStatus, str | None]:
    from firearms.exchange import effects  # noqa: PLC0415  # registers every effect; they import this module

    del effects
    handler = EFFECTS.get(received.notice.type)
    if handler is None:
        return "rejected", "unsupported-type"
    try:
        if received.notice.type in _CHECKS_FIRST:
            await _checked_first(conn, handler, received)
        else:
            async with conn.transaction():  # a savepoint: a rejected notice leaves no partial effect
                await handler(conn, received)
    except NoticeRejectedError as exc:
        return "rejected", exc.reason
    return "accepted", None


async def _checked_first(conn: Conn, handler: Effect, received: ReceivedNotice) -> None:
    """Run an effect declared ``checks_first`` without a savepoint, and hold it to its word.

    Nothing before the effect writes (the inbox lock is an advisory lock), so a transaction id is
    assigned only once the effect writes: a rejection after that would leave a partial effect.
    """
    try:
        await handler(conn, received)
    except NoticeRejectedError:
        if await store.wrote_in_transaction(conn):
            raise RuntimeError(f"the effect of {received.notice.type} rejected a notice after writing") from None
        raise
