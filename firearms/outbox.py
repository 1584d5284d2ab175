"""The transactional outbox (PROTOCOL §4 "Sending"; DESIGN §2).

A notice is written here in the same transaction as the change that causes it (one statement queues
and journals it; it takes no lock, so transactions queueing for one partner never wait on one
another); the worker numbers queued notices per partner in queue order when it first takes them
(:func:`number_queued`), under that partner's row lock in a transaction of its own; the worker
(:mod:`firearms.exchange.delivery`) signs it once and delivers it afterwards. Nothing is ever
removed from the outbox.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from firearms import journal
from firearms.canonical import MAX_SAFE_INTEGER, canonical, utc_now
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.exchange.protocol import MAX_ENVELOPE_BYTES, PROTOCOL, Envelope, Notice, Signature, encode
from firearms.store import outbox as store
from firearms.store import peers as peer_store

if TYPE_CHECKING:
    from firearms.db import Conn
    from firearms.exchange.protocol import Confidentiality

__all__ = [
    "OutboxNotice",
    "Resequenced",
    "enqueue",
    "enqueue_each",
    "enqueue_to",
    "envelope_size",
    "get_notice",
    "list_notices",
    "notice_size",
    "number_queued",
    "resequence",
]


class OutboxNotice(msgspec.Struct, frozen=True, kw_only=True):
    """An outgoing notice and its delivery state (``queued``, ``delivered`` or ``rejected`` by the partner)."""

    notice_id: uuid.UUID
    recipient: str
    sequence: int | None
    """``None`` until the worker numbers the notice (just before its first delivery attempt)."""
    type: str
    created_at: dt.datetime
    in_reply_to: str | None
    confidentiality: str
    status: str
    attempts: int
    last_error: str | None
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    receipt_reason: str | None
    has_receipt: bool


async def enqueue(
    conn: Conn,
    recipient: str,
    type: str,  # noqa: A002  # the protocol's own word
    body: Any,
    in_reply_to: str | None = None,
    confidentiality: Confidentiality = "restricted",
    *,
    signing_key_id: str | None = None,
    actor: str = "system:exchange",
) -> uuid.UUID:
    """Queue a notice for ``recipient`` in the caller's transaction; returns its id.

    The notice waits unnumbered; :func:`number_queued` gives it the partner's next sequence number
    once its transaction has committed, so numbers follow commit order without gaps.
    ``signing_key_id`` pins the key to sign with (key announcements are signed by the old key);
    by default the worker signs with this registry's key valid at ``created_at``.

    Raises:
        InvalidInputError: ``unknown-peer`` (not on the trust list), ``invalid-notice-body`` (no canonical form) or
            ``notice-too-large`` (its envelope could exceed PROTOCOL §3's 256 KiB).
    """
    queued = await enqueue_to(
        conn,
        [recipient],
        type,
        body,
        in_reply_to,
        confidentiality,
        signing_key_id=signing_key_id,
        actor=actor,
    )
    if recipient not in queued:
        raise InvalidInputError(
            f"{recipient} is not on the trust list: add it with 'firearms peers add'",
            code="unknown-peer",
            state=recipient,
        )
    return queued[recipient]


async def enqueue_each(
    conn: Conn,
    recipient: str,
    type: str,  # noqa: A002  # the protocol's own word
    bodies: list[Any],
    confidentiality: Confidentiality = "restricted",
    *,
    actor: str = "system:exchange",
) -> None:
    """Queue one notice per body for ``recipient`` on the trust list, in the order given, in one pipelined batch.

    Each notice is queued and journaled as :func:`enqueue_to` queues one (a partner's catch-up of many notices).

    Raises:
        InvalidInputError: ``invalid-notice-body``, ``notice-too-large`` (as :func:`enqueue_to`).
    """
    now = utc_now()
    rows = []
    for body in bodies:
        plain, size = _plain_body(type, body, None, confidentiality)
        if size > MAX_ENVELOPE_BYTES:
            raise _too_large(type, size)
        rows.append(([uuid.uuid4()], [recipient], type, now, None, confidentiality, plain, None, actor))
    if rows:
        await store.enqueue_outbox_notices_many(conn, rows)


def _plain_body(type_: str, body: Any, in_reply_to: str | None, confidentiality: Confidentiality) -> tuple[Any, int]:
    """A notice body as plain JSON, held to a canonical form, and the size of its envelope at its longest.

    Raises:
        InvalidInputError: ``invalid-notice-body`` (not an object, or no canonical form).
    """
    plain = msgspec.to_builtins(body)
    if not isinstance(plain, dict):
        raise InvalidInputError("a notice body is a JSON object", code="invalid-notice-body")
    try:
        body_bytes = canonical(plain, ascii_keys=True)
    except ValueError as exc:
        raise InvalidInputError(f"the notice body has no canonical form: {exc}", code="invalid-notice-body") from exc
    return plain, envelope_size(type_, in_reply_to, confidentiality, len(body_bytes))


def notice_size(
    type: str,  # noqa: A002  # the protocol's own word
    body: Any,
    in_reply_to: str | None,
    confidentiality: Confidentiality,
) -> int:
    """The size of the envelope a notice of this body would travel in, at its longest (as :func:`enqueue` reckons it).

    For a caller that makes a body smaller until it fits (a trace answer's record), after :func:`enqueue` refused it
    ``notice-too-large``.

    Raises:
        InvalidInputError: ``invalid-notice-body`` (no canonical form).
    """
    return _plain_body(type, body, in_reply_to, confidentiality)[1]


def _too_large(type_: str, size: int, advice: str = "") -> InvalidInputError:
    """``notice-too-large``: an envelope of ``size`` bytes, past PROTOCOL §3's limit, which every partner refuses."""
    return InvalidInputError(
        f"the {type_} notice would travel in an envelope of up to {size} bytes; PROTOCOL §3 allows"
        f" {MAX_ENVELOPE_BYTES}, and partners refuse a larger one{advice}",
        code="notice-too-large",
        envelope_bytes=size,
        max_bytes=MAX_ENVELOPE_BYTES,
    )


async def enqueue_to(
    conn: Conn,
    recipients: list[str],
    type: str,  # noqa: A002  # the protocol's own word
    body: Any,
    in_reply_to: str | None = None,
    confidentiality: Confidentiality = "restricted",
    *,
    signing_key_id: str | None = None,
    actor: str = "system:exchange",
) -> dict[str, uuid.UUID]:
    """Queue the same notice for each of ``recipients`` on the trust list, in one statement (see :func:`enqueue`).

    Returns:
        The id of each recipient's notice; a recipient not on the trust list is left out.

    Raises:
        InvalidInputError: ``invalid-notice-body`` (no canonical form), ``notice-too-large`` (its envelope could
            exceed PROTOCOL §3's 256 KiB).
    """
    plain, size = _plain_body(type, body, in_reply_to, confidentiality)
    wanted = list(dict.fromkeys(recipients))
    # Every partner refuses it (check 1), on every attempt, and the notices after it wait behind it for ever. For
    # States not on the trust list it is no notice (the statement below leaves them out): nothing to refuse.
    if size > MAX_ENVELOPE_BYTES and any([await peer_store.get_peer(conn, state) is not None for state in wanted]):
        raise _too_large(
            type,
            size,
            ": make the change smaller (a licence: fewer lines or shorter descriptions, the rest in a licence of"
            " its own)",
        )
    ids = [uuid.uuid4() for _ in wanted]
    queued = await store.enqueue_outbox_notices(
        conn, ids, wanted, type, utc_now(), in_reply_to, confidentiality, plain, signing_key_id, actor
    )
    return {recipient: notice_id for recipient, notice_id in zip(wanted, ids, strict=True) if recipient in queued}


def envelope_size(
    type: str,  # noqa: A002  # the protocol's own word
    in_reply_to: str | None,
    confidentiality: Confidentiality,
    body_size: int,
) -> int:
    """The size of a notice's signed envelope at its longest (PROTOCOL §3), from its body's canonical size.

    Its other members are known or bounded when it is queued: it is numbered later, so its sequence is taken
    at its longest (16 digits), and an id, a time, a key id and a signature have fixed lengths.
    """
    return _envelope_around(type, in_reply_to, confidentiality) + body_size


@functools.lru_cache(maxsize=256)
def _envelope_around(
    type: str,  # noqa: A002  # the protocol's own word
    in_reply_to: str | None,
    confidentiality: Confidentiality,
) -> int:
    """The bytes of :func:`envelope_size`'s envelope but its body, built once a kind of notice.

    Not once a notice: a customs check queues two on its hot path.
    """
    bare = Envelope(
        protocol=PROTOCOL,
        notice=Notice(
            id=str(uuid.UUID(int=0)),
            type=type,
            sender="XX",
            recipient="XX",
            sequence=MAX_SAFE_INTEGER,
            created_at="2026-01-01T00:00:00Z",
            in_reply_to=in_reply_to,
            confidentiality=confidentiality,
            body={},
        ),
        signature=Signature(alg="Ed25519", key_id="0" * 32, value="A" * 86),
    )
    return len(encode(bare)) - len(b"{}")


async def number_queued(conn: Conn) -> int:
    """Number every committed, unnumbered notice per partner, in queue order (PROTOCOL §4 ``sequence``).

    Runs in a transaction of its own with a synchronous commit: a number is durable before the
    notice that carries it is signed and sent. Partners another worker is numbering are skipped.
    Returns how many notices were numbered.
    """
    numbered = 0
    async with conn.transaction():
        states = await store.lock_partners_with_unnumbered_notices(conn)
        if not states:
            return 0
        for row in await store.number_outbox_notices(conn, states):
            numbered += row["last"] - row["first"] + 1
            await journal.record(
                conn,
                actor="system:exchange",
                action="notices.numbered",
                entity="peer",
                entity_id=row["state"],
                payload={"first": row["first"], "last": row["last"]},
            )
    return numbered


def _notice(row: Any) -> OutboxNotice:
    return OutboxNotice(
        notice_id=row["notice_id"],
        recipient=row["recipient"],
        sequence=row["sequence"],
        type=row["type"],
        created_at=row["created_at"],
        in_reply_to=row["in_reply_to"],
        confidentiality=row["confidentiality"],
        status=row["status"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        last_attempt_at=row["last_attempt_at"],
        next_attempt_at=row["next_attempt_at"],
        delivered_at=row["delivered_at"],
        receipt_reason=row["receipt_reason"],
        has_receipt=row["has_receipt"] if "has_receipt" in row else row["receipt"] is not None,
    )


async def list_notices(
    conn: Conn,
    *,
    before: tuple[dt.datetime, uuid.UUID] | None,
    status: str | None,
    recipient: str | None,
    limit: int,
) -> list[OutboxNotice]:
    """A page of outgoing notices, newest first, optionally one status or one recipient."""
    return [_notice(row) for row in await store.list_outbox_notices(conn, before, status, recipient, limit)]


async def get_notice(conn: Conn, notice_id: uuid.UUID) -> OutboxNotice | None:
    """One outgoing notice."""
    row = await store.get_outbox_notice(conn, notice_id)
    return None if row is None else _notice(row)


class Resequenced(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`resequence` did: the partner, the first new number, how many queued notices took one."""

    recipient: str
    first_sequence: int
    renumbered: int
    last_sent_sequence: int


async def resequence(conn: Conn, recipient: str, first_sequence: int, *, actor: str) -> Resequenced:
    """Number the notices still queued for ``recipient`` from ``first_sequence`` on, and what follows after them.

    For the case no code can settle alone: this registry's database was restored from a backup, and the
    partner holds notices under numbers this side no longer has, so it answers ``sequence-gap`` with an
    ``expected_sequence`` ahead of every number here. Once the administrators agreed (the partner keeps
    what it has), the queued notices take numbers from that one and are signed again; journaled.

    Only once the partner refused the first notice queued for it with a ``sequence-gap`` ahead of it: that
    answer passed PROTOCOL §4 check 7, so the partner holds nothing under that id. Or once it answered that
    notice ``notice-id-conflict``: it holds it under another number (numbered otherwise before a restore), and
    ``first_sequence`` is that number, read by its administrator -- signed again with it, the notice is the bytes
    the partner holds, a duplicate answered with its first receipt; a wrong number is refused there again and
    stores nothing, and may be corrected, since the number must then only lie above those acknowledged.

    Before either answer, a queued notice may be one the partner took after the backup under the number it
    still has here, with the same bytes: offered as it is, it is a duplicate and gets its first receipt;
    renumbered and signed again, it would meet ``notice-id-conflict`` there until given that number again.

    Raises:
        NotFoundError: ``recipient`` is not on the trust list.
        InvalidInputError: ``sequence-not-ahead``: ``first_sequence`` is not above every number the partner
            acknowledged and the first one queued for it (after a ``notice-id-conflict``, those acknowledged only)
            (a partner behind this side asks for a resend by
            itself, PROTOCOL §4). The later queued numbers do not count: they are what is renumbered, and
            while the partner refused the first they kept being given, past the number it expects.
        ConflictError: ``no-sequence-gap``: notices wait for the partner and it has not refused the first
            of them as behind what it expects (let the worker offer them first); ``sequence-not-expected``:
            it did, and ``first_sequence`` is not the number it expects (any other would be refused there
            again, and one below it could no longer be corrected: it is not ahead of the stored numbers).
    """
    row = await store.get_outbox_sequences(conn, recipient)
    if row is None:
        raise NotFoundError(f"{recipient} is not on the trust list", state=recipient)
    conflict = row["head_conflict"]
    # After a notice-id-conflict the first queued number means nothing to the partner (the answer stored nothing):
    # the number it holds the notice under may be at or below it, above every number it acknowledged
    highest = (row["acknowledged"] if conflict else row["highest"]) or 0
    if first_sequence <= highest:
        raise InvalidInputError(
            f"{recipient} acknowledged notices"
            + ("" if conflict else ", or was sent its first queued one,")
            + f" up to number {highest}: the new numbers start above that",
            code="sequence-not-ahead",
            highest_sequence=highest,
        )
    if first_sequence + row["queued"] - 1 > MAX_SAFE_INTEGER:
        # a number past 2^53 - 1 cannot be signed (PROTOCOL §2): the queue would be stuck for good, and no
        # later resequencing could go back below its first queued number
        raise InvalidInputError(
            f"{row['queued']} notices wait for {recipient}: numbered from {first_sequence} they would pass"
            f" {MAX_SAFE_INTEGER}, the largest number a notice can carry"
        )
    if row["queued"] and row["head_expected"] is None and not conflict:
        raise ConflictError(
            f"{recipient} has not refused the first of the {row['queued']} notices queued for it as behind the"
            " number it expects: it may hold it already (sent after a backup that was restored), and a new"
            " number would make it conflict there; let the worker offer the queue first ('firearms notices"
            f" --recipient {recipient}' shows 'expects N, ahead of this notice' once it refused one)",
            code="no-sequence-gap",
            queued=row["queued"],
        )
    if row["head_expected"] is not None and first_sequence != row["head_expected"]:
        raise ConflictError(
            f"{recipient} refused the first notice queued for it expecting number {row['head_expected']}:"
            f" the queued notices are numbered from there, not from {first_sequence}",
            code="sequence-not-expected",
            expected_sequence=row["head_expected"],
        )
    await store.park_queued_outbox_sequences(conn, recipient)
    done = await store.resequence_outbox_notices(conn, recipient, first_sequence)
    result = Resequenced(
        recipient=recipient,
        first_sequence=first_sequence,
        renumbered=done["renumbered"],
        last_sent_sequence=done["last_sent_sequence"],
    )
    await journal.record(
        conn,
        actor=actor,
        action="peer.resequenced",
        entity="peer",
        entity_id=recipient,
        payload={
            **msgspec.to_builtins(result),
            "previous_last_sent_sequence": row["last_sent_sequence"],
            "answering": "notice-id-conflict" if conflict else "sequence-gap",
        },
    )
    return result
