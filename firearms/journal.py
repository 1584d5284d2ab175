"""The tamper-evident journal (DESIGN §6).

Every change appends an entry in the transaction that makes the change (:func:`record`): a plain
INSERT, so unrelated transactions never wait on one another. A sealer (:func:`seal`, run by the
worker every ``seal_interval`` seconds, and by ``checkpoint``/``verify`` before they look) links
queued entries into the chain in its own commit order::

    hash(n) = SHA-256(hash(n-1) || canonical(entry n)),   hash(0) = 32 zero bytes

A signed checkpoint (sequence number, head hash, time) pins the chain to the registry's key, so
even a rewrite of the whole chain by someone with database access is found by :func:`verify`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec

from firearms import db, keys
from firearms.canonical import canonical, format_time
from firearms.signing import verify as verify_signature
from firearms.store import journal as store
from firearms.text_rules import counted

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from firearms.db import Conn

__all__ = [
    "BREAK_KINDS",
    "FAILED_ACTION",
    "GENESIS",
    "MAX_PAYLOAD_DEPTH",
    "SEALER_ACTOR",
    "SEAL_BATCH",
    "UNSEALABLE_ACTION",
    "VERIFIED_ACTION",
    "VERIFY_BATCH",
    "VERIFY_PROGRESS_INTERVAL",
    "WRITE_REFUSED",
    "Checkpoint",
    "Unrecorded",
    "Verification",
    "checkpoint",
    "checkpoint_made",
    "checkpoint_message",
    "entry",
    "entry_hash",
    "prepare",
    "progress_lines",
    "record",
    "record_read",
    "record_verification",
    "record_verification_or_why_not",
    "seal",
    "seal_or_why_not",
    "verify",
]

GENESIS = bytes(32)
SEAL_BATCH = 5000
"""Entries :func:`seal` links per transaction."""
VERIFY_BATCH = 5000
"""Links :func:`verify` reads per short transaction: its memory is this many entries, whatever the journal's length."""
SEALER_ACTOR = "system:journal"
"""The actor of what the sealer journals itself (:data:`UNSEALABLE_ACTION`)."""
MAX_PAYLOAD_DEPTH = 64
"""How far below an entry's payload a value may lie: the table refuses deeper (``journal_entry_payload_depth_check``),
for the sealer reads every payload with msgspec, which gives up about a thousand levels deep."""
UNSEALABLE_ACTION = "journal.unsealable"
"""The action :func:`seal` journals an entry it set aside as (no canonical form: it cannot be hashed)."""
VERIFIED_ACTION = "journal.verified"
"""The action :func:`record_verification` journals an intact verification as."""
FAILED_ACTION = "journal.verification-failed"
"""The action :func:`record_verification` journals a verification that found the chain broken as (positions and a
kind from :data:`BREAK_KINDS` only: no entry's content)."""
BREAK_KINDS = frozenset(
    {
        "link-outside-chain", "position-missing", "entry-deleted", "link-unfollowed", "entry-changed",
        "checkpoint-key-unknown", "checkpoint-bad-signature", "checkpoint-outside-key-validity",
        "checkpoint-mismatch", "chain-cut-short", "entry-unsealable", "entry-unlinked",
    }
)  # fmt: skip
"""What :func:`verify` may find wrong (:attr:`Verification.kind`), one stable word each, in the order it checks."""
VERIFY_PROGRESS_INTERVAL = 10.0
"""Seconds between two lines of :func:`progress_lines`: a journal of decades takes minutes to verify."""
WRITE_REFUSED: tuple[type[asyncpg.PostgresError], ...] = tuple(
    kind for kind, why in db.WRITE_REFUSED.items() if why != "full"
)
"""What a database that takes no write here answers (:func:`seal_or_why_not`), from :data:`firearms.db.WRITE_REFUSED`:
a read-only transaction (a hot standby, ``default_transaction_read_only = on``; SQLSTATE 25006) or a role without the
right (42501). Any other error is not "cannot write here" and stays the command's error: a full disk (which a
verification must not walk past as if the copy were read-only), a lost connection, a refused link."""


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A signed statement: the chain had ``head_hash`` at ``seq`` when ``signed_at``."""

    seq: int
    head_hash: str
    signed_at: dt.datetime
    key_id: str
    signature: str


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :func:`verify`.

    Attributes:
        intact: every link, entry and checkpoint matches.
        entries: links checked.
        checkpoints: checkpoints checked.
        pending: entries still waiting for the sealer (not yet covered by the chain).
        bad_seq: chain position of the first bad link, if any.
        bad_entry_id: ``entry_id`` of the first bad entry, if any.
        problem: what is wrong there, for people.
        kind: what is wrong there, one of :data:`BREAK_KINDS` (for scripts, and the journaled record of a failure).
        since_checkpoint: the checkpoint the walk started at (``verify(since_checkpoint=True)``); ``None``: the
            whole chain was walked, from the first entry.
        head_seq: the chain position verified up to: the head when verification began.
        seal_refused: the seal the walk begins with was refused, the database taking no write here
            (:func:`seal_or_why_not`: a read-only copy, a role without the right): the ``pending`` entries were left
            unsealed and not verified, however many. ``intact`` is about what is sealed only.
    """

    intact: bool
    entries: int
    checkpoints: int
    pending: int
    bad_seq: int | None = None
    bad_entry_id: int | None = None
    problem: str | None = None
    since_checkpoint: int | None = None
    head_seq: int = 0
    kind: str | None = None
    seal_refused: bool = False


def prepare(payload: Any) -> tuple[dt.datetime, Any]:
    """The time and plain payload of an entry about to be written.

    Used by :func:`record`, and by a statement that writes its entry itself (a customs check's).
    ``payload`` must have a canonical form (no floats) and no value more than :data:`MAX_PAYLOAD_DEPTH` levels
    below it (the table's ``journal_entry_payload_depth_check``); it is checked here so that a bad payload
    fails the change itself, not the sealer later.

    Raises:
        ValueError: the payload has no canonical form, or is nested too deeply.
    """
    plain = msgspec.to_builtins(payload)
    if _deeper_than(plain, MAX_PAYLOAD_DEPTH):
        raise ValueError(f"a journal payload is nested more than {MAX_PAYLOAD_DEPTH} levels deep")
    canonical(plain)
    return dt.datetime.now(dt.UTC), plain


def _deeper_than(value: Any, levels: int) -> bool:
    """Some value lies more than ``levels`` levels below ``value`` (recursing no deeper than ``levels``)."""
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else ()
    if not children:
        return False
    return levels == 0 or any(_deeper_than(child, levels - 1) for child in children)


def entry(*, actor: str, action: str, payload: Any) -> tuple[dt.datetime, str, str, Any]:
    """An entry for a statement that journals its own change (it names the entity): time, actor, action, payload."""
    recorded_at, plain = prepare(payload)
    return recorded_at, actor, action, plain


async def record(conn: Conn, *, actor: str, action: str, entity: str, entity_id: str, payload: Any) -> int:
    """Journal one change in the caller's transaction (DESIGN §6). Returns the ``entry_id``."""
    recorded_at, plain = prepare(payload)
    return await store.insert_journal_entry(conn, recorded_at, actor, action, entity, entity_id, plain)


async def record_read(conn: Conn, *, actor: str, entity: str, ids: list[str]) -> None:
    """Journal that an officer looked at records holding personal data (DESIGN §6: who looked at what).

    ``entity`` is ``party`` or ``licence`` (a licence names its parties), ``item`` (an item's history
    names the parties it went to), or ``foreign-licence`` and ``consent-request`` (a partner's licence as
    received, ids ``<State>/<number or notice id>``), ``trace-request`` (a trace request names where a weapon was
    found and, once answered, its holders; ids the request ids), ``journal`` (entries hold what was recorded, a party's
    name and address among it; ids the entry ids shown); one entry per request.
    """
    if not ids:
        return
    await record(
        conn,
        actor=actor,
        action=f"{entity}.read",
        entity=entity,
        entity_id=ids[0] if len(ids) == 1 else "*",
        payload={"ids": ids},
    )


def _canonical_entry(row: asyncpg.Record) -> bytes:
    return canonical(
        {
            "recorded_at": format_time(row["recorded_at"]),
            "actor": row["actor"],
            "action": row["action"],
            "entity": row["entity"],
            "entity_id": row["entity_id"],
            "payload": row["payload"],
        }
    )


def entry_hash(prev_hash: bytes, row: asyncpg.Record) -> bytes:
    """SHA-256(prev_hash || canonical(entry)) of a journal_entry row."""
    return hashlib.sha256(prev_hash + _canonical_entry(row)).digest()


async def seal(conn: Conn, *, batch: int = SEAL_BATCH, batches: int | None = None) -> int:
    """Link every queued entry into the chain, ``batch`` at a time; returns how many were linked.

    Opens its own transactions, one per batch. If another sealer holds the lock, returns 0 at once: that
    one links the entries. ``batches`` stops after that many (a request that seals before it reads does
    not take on a backlog of any size: the worker links the rest).

    An entry with no canonical form (a float or an integer beyond 2^53 in its payload: written into the table
    directly, not by :func:`record`, which refuses it) is set aside, not linked: it leaves the queue, a
    ``journal.unsealable`` entry naming it and why is journaled in its place, and :func:`verify` reports it. It
    stopped the sealer, and every ``journal verify`` with it, on every run: a denial of the audit trail by anyone
    with the service's database role (README "The journal"). An entry already linked leaves the queue unlinked
    again (``take_pending_entries``).

    An entry whose link the database refuses (``journal_link_follows_chain``: its canonical form disagrees with
    ours), or whose setting aside it refuses (it finds a canonical form), stays queued, and the rest of the batch is
    linked without it: before, the batch was refused whole on every run, and nothing was linked from then on. It
    waits (``journal-unsealed`` in the status overview) until the two agree again; none is known to disagree
    (``tests/db/test_journal_canonical_property.py``).
    """
    total = 0
    done = 0
    waiting: set[int] = set()  # entries whose link the database refused in this call: left queued
    while batches is None or done < batches:
        done += 1
        plan = _Batch()
        try:
            async with conn.transaction():
                if not await store.try_lock_sealer(conn):
                    return total
                rows = await store.take_pending_entries(conn, batch, sorted(waiting))
                if not rows:
                    return total
                head = await store.get_journal_head(conn)
                _compute(plan, rows, (head["seq"], head["hash"]) if head else (0, GENESIS))
                if plan.seqs:
                    await store.insert_journal_links(
                        conn, plan.seqs, plan.ids, plan.prevs, plan.hashes, dt.datetime.now(dt.UTC)
                    )
                for entry_id, problem in plan.aside:  # queued for the next batch, linked as any entry
                    await record(
                        conn,
                        actor=SEALER_ACTOR,
                        action=UNSEALABLE_ACTION,
                        entity="journal",
                        entity_id=str(entry_id),
                        payload={"entry_id": entry_id, "problem": problem},
                    )
        except asyncpg.RestrictViolationError:
            # journal_link_follows_chain refused a link, or journal_pending_leaves_linked an entry set aside, at
            # COMMIT: the database's canonical form disagrees with ours on some entry. Those stay queued; the batch
            # is linked again without them (the chain's hashes after them change), not counted as another batch.
            refused = await store.list_refused_entries(
                conn, plan.ids, plan.prevs, plan.hashes, [entry_id for entry_id, _ in plan.aside]
            )
            if refused <= waiting:  # not a disagreement on an entry (the head moved under us): the caller's to see
                raise
            waiting |= refused
            done -= 1
            continue
        total += len(plan.seqs)
    return total


async def seal_or_why_not(conn: Conn) -> str | None:
    """:func:`seal`, or the database's words (one line) when it takes no write here (:data:`WRITE_REFUSED`).

    For a verification on a read-only copy (a hot standby, a database set read-only during an incident or an audit)
    or as a role that may not write: the walk still runs over what is sealed, and the entries left waiting are
    counted (:attr:`Verification.pending`), not verified. Any other error is raised.
    """
    try:
        await seal(conn)
    except WRITE_REFUSED as exc:
        return db.first_line(exc)
    return None


class _Batch:
    """The links :func:`seal` computed for one batch, and the entries it set aside (with why)."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.ids: list[int] = []
        self.prevs: list[bytes] = []
        self.hashes: list[bytes] = []
        self.aside: list[tuple[int, str]] = []


def _compute(plan: _Batch, rows: list[asyncpg.Record], head: tuple[int, bytes]) -> None:
    """Fill ``plan`` with the links of ``rows`` after ``head`` (its ``seq`` and ``hash``)."""
    seq, prev = head
    for row in rows:
        try:
            digest = entry_hash(prev, row)
        except ValueError as exc:  # written behind record()'s back: no canonical form to hash
            plan.aside.append((row["entry_id"], str(exc)))
            continue
        seq += 1
        plan.seqs.append(seq)
        plan.ids.append(row["entry_id"])
        plan.prevs.append(prev)
        plan.hashes.append(digest)
        prev = digest


def checkpoint_message(state: str, seq: int, head_hash: bytes, signed_at: dt.datetime) -> bytes:
    """The bytes a checkpoint signs: a domain-separated canonical statement."""
    statement = {"state": state, "seq": seq, "head_hash": head_hash.hex(), "signed_at": format_time(signed_at)}
    return b"firearms-journal/1 checkpoint\n" + canonical(statement)


async def checkpoint(conn: Conn, *, state: str, home: Path) -> Checkpoint | None:
    """Seal, then sign the head of the chain with the registry's current key and store it.

    Returns ``None`` when the chain is empty, and the stored checkpoint when the head already has
    one (nothing was journaled since): only one checkpoint is kept per position, and what is
    returned is always what :func:`verify` checks. Journals the checkpoint itself is not needed: the
    checkpoint table is append-only and verified on its own. :func:`checkpoint_made` also says which it was.
    """
    made, _ = await checkpoint_made(conn, state=state, home=home)
    return made


async def checkpoint_made(conn: Conn, *, state: str, home: Path) -> tuple[Checkpoint | None, bool]:
    """:func:`checkpoint`, and whether this call signed and stored it.

    ``False`` for the head's stored checkpoint (nothing journaled since) and for an empty chain: the API answers
    a new checkpoint 201 Created, the stored one 200, and ``journal checkpoint`` says "already checkpointed".
    """
    await seal(conn)
    async with db.transaction(conn):  # a COMMIT without an answer is told apart: the checkpoint may be stored
        head = await store.get_journal_head(conn)
        if head is None:
            return None, False
        key = await keys.current_signing_key(conn, home)
        signed_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        signature = key.sign(checkpoint_message(state, head["seq"], head["hash"], signed_at))
        if not await store.insert_journal_checkpoint(conn, head["seq"], head["hash"], signed_at, key.key_id, signature):
            kept = await store.get_journal_checkpoint(conn, head["seq"])
            assert kept is not None  # noqa: S101  # the insert conflicted with it; checkpoints are never deleted
            stored = Checkpoint(
                seq=kept["seq"],
                head_hash=kept["head_hash"].hex(),
                signed_at=kept["signed_at"],
                key_id=kept["key_id"],
                signature=kept["signature"].hex(),
            )
            return stored, False
    made = Checkpoint(
        seq=head["seq"], head_hash=head["hash"].hex(), signed_at=signed_at, key_id=key.key_id, signature=signature.hex()
    )
    return made, True


def _unreported(checked: int, until: int) -> None:
    del checked, until


def progress_lines(emit: Callable[[str], None]) -> Callable[[int, int], None]:
    """A ``progress`` for :func:`verify` that hands ``emit`` a line at most every :data:`VERIFY_PROGRESS_INTERVAL` s.

    ``verifying the journal: 1250000 of 5000000 links (25%)``; nothing for a walk shorter than the interval.
    """
    shown = time.monotonic()

    def report(checked: int, until: int) -> None:
        nonlocal shown
        now = time.monotonic()
        if now - shown >= VERIFY_PROGRESS_INTERVAL:
            shown = now
            emit(f"verifying the journal: {checked} of {until} links ({checked * 100 // max(until, 1)}%)")

    return report


async def verify(  # noqa: PLR0911, PLR0912  # one return per finding, in chain order
    conn: Conn,
    *,
    state: str,
    seal_first: bool = True,
    batch: int = VERIFY_BATCH,
    progress: Callable[[int, int], None] | None = None,
    since_checkpoint: bool = False,
) -> Verification:
    """Recompute the chain from the first entry; report the first entry that does not match.

    Checks, in chain order: no link lies outside the chain (at 0 or below); positions run 1, 2, 3 … with no gap;
    each link's entry exists; each link names the previous hash; each hash is SHA-256(prev || canonical(entry)) of
    the entry as stored now; each checkpoint's signature, its key's validity and its head hash, when the walk
    reaches its position. Then that the chain reaches the latest checkpoint (a chain cut short behind it is
    otherwise whole), and that no entry was removed from the sealer's queue without being linked.

    The chain is read up to the head it had when verification began, ``batch`` links at a time, each
    batch in a short read-only transaction of its own: memory stays bounded by ``batch`` whatever
    the journal's length, and no transaction stays open for the whole walk (one did, holding back
    vacuum on every table for as long as a journal of decades takes to hash). Sealed links are
    append-only, so batches read one after another see the chain one snapshot would. ``progress`` is called
    after each batch with the links checked so far and the links to check (:func:`progress_lines`).

    ``since_checkpoint`` bounds the walk by the entries since a signed checkpoint (DESIGN §6, a daily check of
    a journal of decades): it starts at the latest checkpoint at or before the head the last recorded
    verification reached (:func:`record_verification`), and checks that checkpoint's signature, that its entry
    hashes from its stored predecessor's hash to the signed head hash, and everything after it as above; the
    sealer's queue only for entries from the lowest id walked. It trusts the stored hash before that
    checkpoint: an entry changed before it with the stored hashes left alone is found only by the full walk.
    With no verification recorded, or no checkpoint at or before where it reached, the whole chain is walked.
    The recorded verification is an unsigned journal entry, written only through ``record_journal_verification()``
    (it holds the record to the chain but cannot know a walk ran): the service's role may record one naming a later
    checkpoint without walking, which moves the start past entries no walk recomputed (an entry the owner took off
    the sealer's queue there, with the guards switched off, is then found only by the full walk; README "The
    journal"). Every link there was recomputed by the database as it was inserted (``journal_link_follows_chain``).
    """
    # a database that takes no write here still gets its verdict: ``pending`` counts what it left, and it says so
    refused = seal_first and await seal_or_why_not(conn) is not None
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        head = await store.get_journal_head(conn)
        pending = await store.count_pending_entries(conn)
        signed_last = await store.last_checkpoint_seq(conn)  # in the head's snapshot: never one signed after it
        until = head["seq"] if head else 0
        anchor = await _anchor(conn, until) if since_checkpoint else None
        outside = await store.get_link_outside_chain(conn)
    # Links before the walk: the anchor's own entry is recomputed from its stored predecessor's hash.
    start = anchor - 1 if anchor is not None else 0
    checked = 0
    checkpoints = 0
    prev: bytes | None = None if anchor is not None else GENESIS
    lowest: int | None = None
    after = start

    def broken(seq: int | None, entry_id: int | None, kind: str, problem: str) -> Verification:
        return Verification(
            intact=False,
            entries=checked,
            checkpoints=0,
            pending=pending,
            bad_seq=seq,
            bad_entry_id=entry_id,
            problem=problem,
            since_checkpoint=anchor,
            head_seq=until,
            kind=kind,
            seal_refused=refused,
        )

    if outside is not None:  # its entry counts as linked, yet no walk reaches it
        return broken(
            outside["seq"],
            outside["entry_id"],
            "link-outside-chain",
            f"the entry is linked at {outside['seq']}, outside the chain",
        )
    while after < until:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            rows = await store.list_journal_chain(conn, after, until, batch)
            last = rows[-1]["seq"] if rows else until
            signed = {cp["seq"]: cp for cp in await store.list_journal_checkpoints(conn, after, last)}
        if not rows:
            return broken(
                start + checked + 1, None, "position-missing", f"chain position {start + checked + 1} is missing"
            )
        for row in rows:
            expected_seq = start + checked + 1
            if row["seq"] != expected_seq:
                return broken(expected_seq, None, "position-missing", f"chain position {expected_seq} is missing")
            if row["found_entry_id"] is None:
                return broken(row["seq"], row["entry_id"], "entry-deleted", "the linked entry was deleted")
            if prev is None:  # the anchor: its predecessor's hash as stored, held to the signed head hash below
                prev = row["prev_hash"]
            if row["prev_hash"] != prev:
                return broken(
                    row["seq"], row["entry_id"], "link-unfollowed", "the link does not follow its predecessor"
                )
            digest = entry_hash(prev, row)
            if digest != row["hash"]:
                return broken(row["seq"], row["entry_id"], "entry-changed", "the entry was changed after it was sealed")
            prev = digest
            checked += 1
            lowest = row["entry_id"] if lowest is None else min(lowest, row["entry_id"])
            if (cp := signed.get(row["seq"])) is not None:
                if (finding := _checkpoint_finding(state, cp, digest)) is not None:
                    return broken(cp["seq"], None, *finding)
                checkpoints += 1
        after = last
        (progress or _unreported)(checked, until - start)
    if signed_last is not None and signed_last > until:
        return broken(
            signed_last, None, "chain-cut-short", f"the chain ends at {until}, before checkpoint {signed_last}"
        )
    # the whole journal, or from the lowest entry an incremental walk reached
    orphan = await store.first_unlinked_entry(conn, lowest if anchor is not None and lowest is not None else 0)
    if orphan is not None:
        return broken(None, orphan, *await _orphan_problem(conn, orphan))
    return Verification(
        intact=True,
        entries=checked,
        checkpoints=checkpoints,
        pending=pending,
        since_checkpoint=anchor,
        head_seq=until,
        seal_refused=refused,
    )


async def _orphan_problem(conn: Conn, entry_id: int) -> tuple[str, str]:
    """Why the entry ``entry_id`` is neither linked nor queued, as (kind, words).

    Set aside by the sealer (no canonical form), or taken off its queue.
    """
    row = await store.get_journal_entry(conn, entry_id)
    if row is not None:
        try:
            _canonical_entry(row)
        except ValueError as exc:
            return (
                "entry-unsealable",
                f"the entry has no canonical form ({exc}): written behind the service's back, it cannot be sealed",
            )
    return "entry-unlinked", "the entry was taken off the sealer's queue unlinked"


async def _anchor(conn: Conn, until: int) -> int | None:
    """Where a verification ``since_checkpoint`` starts: the latest checkpoint at or before the last one's head.

    ``None`` (walk the whole chain) when no verification is recorded, or none reached a checkpoint: entries
    before the newest checkpoint that no walk ever recomputed are not taken on trust.
    """
    reached = await store.last_verified_seq(conn, until, VERIFIED_ACTION)
    if reached is None:
        return None
    return await store.last_checkpoint_seq_upto(conn, reached)


class Unrecorded(msgspec.Struct, frozen=True, kw_only=True):
    """Why a verification's record is not known to be written (:func:`record_verification_or_why_not`)."""

    why: str
    """The database's words (one line), or the error's name."""
    unconfirmed: bool = False
    """The ``COMMIT`` was sent and no answer came back (:class:`firearms.db.CommitUnansweredError`): the server may
    have taken it, and the record may be there. Else nothing of it was written."""
    unsealed: int | None = None
    """The database refused the seal the walk begins with (it takes no write here, :func:`seal_or_why_not`; ``why``
    is its words): these entries were left waiting for the sealer, not verified, and no record was attempted.
    ``None``: the journal was sealed (or not to be), and it is the record that was refused."""

    def line(self, what: str, consequence: str) -> str:
        """The command's line: ``what`` was not recorded, and ``consequence``; or, unanswered, it may have been.

        ``what``: "the journal verification", "the broken verification". The seal refused: that, and how many
        entries it left unsealed and not verified, first.
        """
        if self.unsealed is not None:
            left = (
                "no entry was waiting for the sealer"
                if self.unsealed == 0
                else f"{counted(self.unsealed, 'entry', 'entries')} waiting for the sealer"
                f" {'was' if self.unsealed == 1 else 'were'} left unsealed and not verified"
            )
            return f"the journal could not be sealed ({self.why}): {left}, and {what} was not recorded: {consequence}"
        if self.unconfirmed:
            return (
                f"the database did not answer the COMMIT of {what}'s record ({self.why}): it may have been recorded;"
                " 'firearms status' shows whether it counts"
            )
        return f"{what} could not be recorded ({self.why}): {consequence}"


async def record_verification_or_why_not(conn: Conn, *, actor: str, result: Verification) -> Unrecorded | None:
    """:func:`record_verification`, or why it is not known to be written (refused, or its ``COMMIT`` unanswered).

    For the commands that walked the chain and must still give their verdict when its record cannot be written (the
    service's role lost a right, a database gone read-only): ``backup --verify`` and ``restore``, as ``journal verify``.
    Any ``PostgresError`` (a connection lost before the ``COMMIT`` too: nothing was committed) or a transaction found
    aborted at its ``COMMIT``: not written. A ``COMMIT`` sent and not answered (the connection lost under it) is no
    refusal: the server may have taken it (``unconfirmed``), and the command must not say it was not recorded.
    """
    try:
        await record_verification(conn, actor=actor, result=result)
    except db.CommitUnansweredError as exc:
        return Unrecorded(why=db.first_line(exc), unconfirmed=True)
    except (asyncpg.PostgresError, db.TransactionAbortedError) as exc:
        return Unrecorded(why=db.first_line(exc))
    return None


async def record_verification(conn: Conn, *, actor: str, result: Verification) -> None:
    """Journal a verification in its own transaction: intact (``journal.verified``) or broken (:data:`FAILED_ACTION`).

    An intact one: the next ``since_checkpoint`` one starts from its head. Written through
    ``record_journal_verification()``, which runs as the tables' owner: the service's role may not write a
    ``journal.verified`` entry itself, and the function holds the record to the chain (its head a position, its start
    a checkpoint, its counts the walk's; migration 20261201030100).

    A broken one (README "Status", ``journal-broken``): ``{"head_seq", "since_checkpoint", "entries", "bad_seq",
    "bad_entry_id", "kind"}``, positions and a kind only, never the entry's content nor the problem's words (which may
    quote a payload's value). It does not move the next start: that one starts where the last intact one reached, and
    finds the break again. A plain entry, which the service's role may write: a forged one is a false alarm, cleared by
    the next intact verification over its position. It is queued and sealed as any entry: the sealer links after the
    stored head whatever lies behind it, so the record is not itself a new break.

    Committed through :func:`firearms.db.transaction`: a ``COMMIT`` that got no answer is
    :class:`firearms.db.CommitUnansweredError` (it may have been recorded), not the lost connection's error that
    :func:`record_verification_or_why_not` reads as "not recorded".
    """
    if not result.intact:
        async with db.transaction(conn):
            await record(
                conn,
                actor=actor,
                action=FAILED_ACTION,
                entity="journal",
                entity_id=str(result.head_seq),
                payload={
                    "head_seq": result.head_seq,
                    "since_checkpoint": result.since_checkpoint,
                    "entries": result.entries,
                    "bad_seq": result.bad_seq,
                    "bad_entry_id": result.bad_entry_id,
                    "kind": result.kind,
                },
            )
        return
    async with db.transaction(conn):
        await store.record_journal_verification(
            conn,
            dt.datetime.now(dt.UTC),
            actor,
            result.head_seq,
            result.since_checkpoint,
            result.entries,
            result.checkpoints,
        )


def _checkpoint_finding(state: str, cp: asyncpg.Record, digest: bytes) -> tuple[str, str] | None:
    """What is wrong with a checkpoint (kind, words), given the chain's recomputed hash at its position, or ``None``."""
    if cp["public_key"] is None:  # its key's row deleted: nothing to check it against, so not the registry's word
        return (
            "checkpoint-key-unknown",
            f"checkpoint at {cp['seq']} names key {cp['key_id']}, which the registry does not hold",
        )
    message = checkpoint_message(state, cp["seq"], cp["head_hash"], cp["signed_at"])
    if not verify_signature(cp["public_key"], message, cp["signature"]):
        return "checkpoint-bad-signature", f"checkpoint at {cp['seq']} has a bad signature"
    if (outside := _outside_key_validity(cp)) is not None:
        return "checkpoint-outside-key-validity", f"checkpoint at {cp['seq']} was signed {outside}"
    if digest != cp["head_hash"]:
        return "checkpoint-mismatch", f"the chain no longer matches checkpoint {cp['seq']}"
    return None


def _outside_key_validity(cp: asyncpg.Record) -> str | None:
    """Why a checkpoint's own ``signed_at`` falls outside its key's validity, or ``None`` when it does not.

    A checkpoint made with a key after the second it was revoked in (or before or after its validity) is not
    the registry's word, whatever its signature: whoever holds a revoked key can sign with it. One that
    states an earlier time cannot be told apart this way; copies kept outside the database can.
    """
    key, signed_at = cp["key_id"], cp["signed_at"]
    # Both times are kept to the second: within the second of the revocation, which came first is unknown,
    # and a checkpoint made just before a key was rotated out and revoked is not reported.
    if cp["revoked_at"] is not None and signed_at > cp["revoked_at"]:
        return f"with key {key} after it was revoked at {format_time(cp['revoked_at'])}"
    # signed_at is kept to the second, the key's start is not: compare starts to the second.
    if signed_at < cp["not_before"].replace(microsecond=0) or (
        cp["not_after"] is not None and signed_at >= cp["not_after"]
    ):
        return f"with key {key} outside its validity"
    return None
