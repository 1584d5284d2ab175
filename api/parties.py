"""Parties and the Art. 15 broker register: licensing officers write, records officers and auditors read."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api.deps import ConnDep, OfficerDep
from api.idempotency import Answer, IdempotencyKeyHeader, once
from api.params import AfterQuery, LimitQuery, page
from firearms import journal, parties
from firearms.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from firearms.parties import NewParty, Party, PartyKind, StatusChange

__all__ = ["PartyController", "PartyPage"]

WRITE = ("licensing-officer", "admin")
READ = ("licensing-officer", "records-officer", "auditor", "admin")


class PartyPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of parties; ``next`` is the cursor for the following page."""

    items: list[Party]
    next: str | None


class PartyController(Controller):
    """``/api/v1/parties``."""

    path = "/parties"

    @post("/", summary="Register a party", opt={"roles": WRITE})
    async def create(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        request: Request[Any, Any, Any],
        data: JSONBody[NewParty],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[Party]:
        """Register a manufacturer, dealer, broker (Art. 15: registration number and validity), exporter, ..."""
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: parties.create_party(conn, data, actor=officer.actor),
        )

    @get("/", summary="List parties", opt={"roles": READ})
    async def list_parties(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        kind: Annotated[PartyKind | None, QueryParameter(description="only parties of this kind")] = None,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> PartyPage:
        """Parties in registration order, optionally of one kind (``kind=broker`` lists the broker register)."""
        key = decode_cursor(after, dt.datetime, uuid.UUID) if after else None
        items, last = page(await parties.list_parties(conn, after=key, kind=kind, limit=limit + 1), limit)
        await journal.record_read(conn, actor=officer.actor, entity="party", ids=[str(p.party_id) for p in items])
        return PartyPage(items=items, next=encode_cursor(last.created_at, last.party_id) if last else None)

    @get("/{party_id:uuid}", summary="One party", opt={"roles": READ})
    async def get_party(self, conn: ConnDep, officer: OfficerDep, party_id: FromPath[uuid.UUID]) -> Party:
        """One registered party (the read is journaled)."""
        party = await parties.get_party(conn, party_id)
        await journal.record_read(conn, actor=officer.actor, entity="party", ids=[str(party_id)])
        return party

    @post(
        "/{party_id:uuid}/status", summary="Suspend, reinstate or revoke a party", opt={"roles": WRITE}, status_code=200
    )
    async def change_status(
        self, conn: ConnDep, officer: OfficerDep, party_id: FromPath[uuid.UUID], data: JSONBody[StatusChange]
    ) -> Party:
        """Change a party's register status; a suspended or revoked broker cannot go on a new licence."""
        return await parties.change_party_status(conn, party_id, data, actor=officer.actor)
