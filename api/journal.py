"""The journal for auditors: entries, on-demand signed checkpoints, verification."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.deps import OfficerDep, PoolDep, SettingsDep, connection, query_refused
from api.params import AfterQuery, LimitQuery, page
from firearms import db, journal
from firearms.errors import InvalidInputError
from firearms.journal import Checkpoint, Verification
from firearms.pagination import BIGINT_MAX, DEFAULT_LIMIT, decode_cursor, encode_cursor
from firearms.store import journal as store

__all__ = ["JournalController", "JournalEntry", "JournalPage"]


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One journal entry as linked into the chain (the list shows linked entries only: ``seq`` and ``hash`` are set)."""

    entry_id: int
    seq: int
    recorded_at: dt.datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    payload: Any
    hash: str


class JournalPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of entries; ``next`` is the cursor for the following page."""

    items: list[JournalEntry]
    next: str | None


ACTION_PATTERN = r"^(?=.{3,100}$)[a-z0-9-]+(?:\.[a-z0-9-]+)+$(?!\n)"
"""An action's name (``licence.revoked``, ``transit-consent.decided``), as :func:`firearms.journal.record` writes them.

Only the shape is checked: actions are named where they are journaled, some from a status or an event
(``licence.{status}``, ``item.{event}``), so no list of them is kept to check against; an action of that shape
nobody took is an empty page. The rule in words is :mod:`api.problems`' ``_PATTERN_RULES``.
"""

_CURSOR_TAG = "seq"
"""Cursors name the chain position they hold: one given out before the list followed the chain held an entry id."""


def _chain_position(after: str) -> int:
    """The chain position in a cursor of the journal list.

    Raises:
        InvalidInputError: not a cursor of this list (one given out when the list ran by entry id among them).
    """
    tag, seq = decode_cursor(after, str, int)
    if tag != _CURSOR_TAG:
        raise InvalidInputError("the 'after' cursor is not one this list gave out", code="invalid-cursor")
    position: int = seq
    return position


class JournalController(Controller):
    """``/api/v1/journal`` (auditor, admin)."""

    path = "/journal"
    opt = {"roles": ("auditor", "admin")}  # noqa: RUF012

    @get("/", summary="Journal entries")
    async def entries(
        self,
        request: Request[Any, Any, Any],
        pool: PoolDep,
        officer: OfficerDep,
        entity: Annotated[str | None, QueryParameter(min_length=1, max_length=100)] = None,
        entity_id: Annotated[str | None, QueryParameter(min_length=1, max_length=200)] = None,
        action: Annotated[
            str | None, QueryParameter(pattern=ACTION_PATTERN, description="one action's entries (licence.revoked)")
        ] = None,
        after: AfterQuery = None,
        after_seq: Annotated[
            int | None,
            QueryParameter(ge=0, le=BIGINT_MAX, description="chain position to go on after (instead of 'after')"),
        ] = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> JournalPage:
        """Entries in chain order (the order they committed in), optionally for one entity or action; read journaled.

        One batch of the sealer's queue is linked first (the worker links any larger backlog) and only linked
        entries are listed: an entry's id is taken when it is
        written, so a transaction that commits late holds an id below entries already listed, and a walk by
        id went past it; the chain links entries in commit order, so it comes on a later page.

        Entries carry what was recorded (a party's name and address as registered, a licence's content):
        reading them is a read of personal data, journaled as ``journal.read`` with the entry ids shown
        (DESIGN §6: who looked at what).

        ``after_seq`` goes on from a chain position the caller kept (a copy of the journal kept outside, a
        checkpoint's ``seq``): a walk that reached the end of the chain got no cursor to go on from.
        """
        if after is not None and after_seq is not None:
            raise query_refused("after_seq", "give 'after' or 'after_seq', not both")
        start = _chain_position(after) if after else (after_seq or 0)
        async with connection(pool, request) as conn:
            await journal.seal(conn, batches=1)
            async with db.transaction(conn):
                rows = (
                    await store.list_journal_entries(conn, start, entity, entity_id, limit + 1)
                    if action is None
                    else await store.list_journal_entries_of_action(conn, start, action, entity, entity_id, limit + 1)
                )
                items, last = page(
                    [
                        JournalEntry(
                            entry_id=row["entry_id"],
                            seq=row["seq"],
                            recorded_at=row["recorded_at"],
                            actor=row["actor"],
                            action=row["action"],
                            entity=row["entity"],
                            entity_id=row["entity_id"],
                            payload=row["payload"],
                            hash=row["hash"].hex(),
                        )
                        for row in rows
                    ],
                    limit,
                )
                await journal.record_read(
                    conn, actor=officer.actor, entity="journal", ids=[str(i.entry_id) for i in items]
                )
        return JournalPage(items=items, next=encode_cursor(_CURSOR_TAG, last.seq) if last else None)

    @post(
        "/checkpoints",
        summary="Sign a checkpoint now",
        status_code=HTTP_201_CREATED,
        response_description="a checkpoint of the head, signed and stored now",
        responses={
            HTTP_200_OK: ResponseSpec(
                data_container=Checkpoint,
                description="the head is already checkpointed (nothing journaled since): the stored checkpoint,"
                " nothing new was signed",
            )
        },
    )
    async def checkpoint(
        self, request: Request[Any, Any, Any], long_pool: PoolDep, settings: SettingsDep
    ) -> Response[Checkpoint | None]:
        """Seal the journal and sign its head with the registry key: 201 with the new checkpoint.

        Asked again with nothing journaled since, the head's stored checkpoint is returned, 200: nothing was created
        (it was 201, as if a new statement had been signed). ``null``, 200, while the journal is empty.
        """
        async with connection(long_pool, request) as conn:  # sealing after an import links a million entries
            made, created = await journal.checkpoint_made(conn, state=settings.state, home=settings.home)
        return Response(made, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/verify", summary="Verify the chain")
    async def verify(
        self,
        request: Request[Any, Any, Any],
        long_pool: PoolDep,
        settings: SettingsDep,
        *,
        since_checkpoint: Annotated[
            bool,
            QueryParameter(
                description="walk only from the latest signed checkpoint at or before where the last recorded"
                " verification reached ('firearms journal verify'); an entry changed before it with the stored"
                " hashes left alone is found only by the full verification"
            ),
        ] = False,
    ) -> Verification:
        """Recompute the chain from the first entry; the first bad entry is named.

        ``since_checkpoint=true`` bounds the walk by the entries since a signed checkpoint, as
        ``firearms journal verify --since-checkpoint`` does (the whole chain while no recorded verification has
        reached one); ``since_checkpoint`` in the answer names where it started. Verifying here is not recorded:
        only the command's verifications (the operator's schedule) move the next one's starting point.
        """
        async with connection(long_pool, request) as conn:  # decades of entries: as long as it takes
            return await journal.verify(conn, state=settings.state, since_checkpoint=since_checkpoint)
