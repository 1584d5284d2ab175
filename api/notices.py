"""Delivery state for administrators: ``/api/v1/notices`` (outbox) and ``/api/v1/notices/received`` (inbox)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api.deps import ConnDep, OfficerDep, PoolDep, SettingsDep, connection
from api.params import AfterQuery, LimitQuery, OptionalStateQuery, page, state_code
from firearms import keys, outbox
from firearms.errors import NotFoundError
from firearms.exchange import rotation
from firearms.exchange.rotation import Cancellation, Replacement, Revocation, Rotation, Switch
from firearms.outbox import OutboxNotice
from firearms.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from firearms.store import inbox as inbox_store

__all__ = ["KeyController", "NoticeController", "NoticePage", "ReceivedNotice", "ReceivedPage"]


class NoticePage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of outgoing notices, newest first."""

    items: list[OutboxNotice]
    next: str | None


class ReceivedNotice(msgspec.Struct, frozen=True, kw_only=True):
    """A received notice's facts (not its content: confidentiality is kept with the record)."""

    sender: str
    notice_id: str
    type: str
    sequence: int
    created_at: dt.datetime
    in_reply_to: str | None
    confidentiality: str
    key_id: str
    status: str
    reason: str | None
    received_at: dt.datetime


class ReceivedPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of received notices in arrival order."""

    items: list[ReceivedNotice]
    next: str | None


class NoticeController(Controller):
    """``/api/v1/notices`` (admin)."""

    path = "/notices"
    opt = {"roles": ("admin",)}  # noqa: RUF012

    @get("/", summary="Outgoing notices and their delivery state")
    async def list_notices(
        self,
        conn: ConnDep,
        status: Annotated[Literal["queued", "delivered", "rejected"] | None, QueryParameter()] = None,
        recipient: OptionalStateQuery = None,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> NoticePage:
        """Queued, delivered and rejected notices with attempts and the last error, newest first."""
        before = decode_cursor(after, dt.datetime, uuid.UUID) if after else None
        rows = await outbox.list_notices(
            conn,
            before=(before[0], before[1]) if before else None,
            status=status,
            recipient=state_code(recipient),
            limit=limit + 1,
        )
        items, last = page(rows, limit)
        return NoticePage(items=items, next=encode_cursor(last.created_at, last.notice_id) if last else None)

    @get("/received", summary="Received notices")
    async def list_received(
        self, conn: ConnDep, after: AfterQuery = None, limit: LimitQuery = DEFAULT_LIMIT
    ) -> ReceivedPage:
        """Notices received from partners in arrival order, with the status of the receipt given."""
        key = decode_cursor(after, dt.datetime, str, str) if after else None
        rows = await inbox_store.list_inbox_notices(conn, (key[0], key[1], key[2]) if key else None, limit + 1)
        items, last = page([ReceivedNotice(**dict(row)) for row in rows], limit)
        return ReceivedPage(
            items=items, next=encode_cursor(last.received_at, last.sender, last.notice_id) if last else None
        )

    @get("/{notice_id:uuid}", summary="One outgoing notice")
    async def get_notice(self, conn: ConnDep, notice_id: FromPath[uuid.UUID]) -> OutboxNotice:
        """An outgoing notice's delivery state."""
        found = await outbox.get_notice(conn, notice_id)
        if found is None:
            raise NotFoundError(f"no outgoing notice {notice_id}", notice_id=str(notice_id))
        return found


class KeyRevocation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Why a key is revoked (sent to every partner)."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class KeyReplacementRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Why the key in use is replaced by one given to partners out of band (journaled)."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class KeyController(Controller):
    """``/api/v1/keys`` (admin): rotate, switch, cancel, revoke and replace this registry's keys (PROTOCOL §6)."""

    path = "/keys"
    opt = {"roles": ("admin",)}  # noqa: RUF012

    @post("/rotate", summary="Rotate the signing key", status_code=201)
    async def rotate(
        self, request: Request[Any, Any, Any], pool: PoolDep, officer: OfficerDep, settings: SettingsDep
    ) -> Rotation:
        """New key announced to every partner signed by the current one; used once every partner acknowledged.

        Its own transaction: the new key's file is put in place once it committed (removed if it failed).
        """
        async with connection(pool, request) as conn, keys.key_transaction(conn, settings.home) as files:
            return await rotation.rotate(conn, files, actor=officer.actor)

    @post("/replace", summary="Use a new key at once, unannounced", status_code=201)
    async def replace(
        self,
        request: Request[Any, Any, Any],
        pool: PoolDep,
        officer: OfficerDep,
        settings: SettingsDep,
        data: JSONBody[KeyReplacementRequest],
    ) -> Replacement:
        """A new key in use at once, for partners to enter out of band; every queued notice signed again with it.

        After a restore from a backup older than the key's revocation (README, Backups). 409 ``rotation-pending``
        while a rotated key waits for its switch. Its own transaction, as for a rotation.
        """
        async with connection(pool, request) as conn, keys.key_transaction(conn, settings.home) as files:
            return await rotation.replace(conn, files, reason=data.reason, actor=officer.actor)

    @post("/switch", summary="Use the waiting new key now", status_code=200)
    async def switch(self, conn: ConnDep, officer: OfficerDep) -> Switch:
        """Put the rotated key into use before every partner acknowledged it (one long unreachable)."""
        return await rotation.switch_now(conn, actor=officer.actor)

    @post("/{key_id:str}/cancel", summary="Cancel a rotation before its switch", status_code=200)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        pool: PoolDep,
        officer: OfficerDep,
        settings: SettingsDep,
        key_id: FromPath[str],
        data: JSONBody[KeyRevocation],
    ) -> Cancellation:
        """Abandon the waiting new key: never used, revoked with every partner told of it, its file removed.

        Asked again, the same answer. 409 ``key-already-switched`` once the key is in use; 404 for no key here.
        """
        async with connection(pool, request) as conn, keys.key_transaction(conn, settings.home) as files:
            return await rotation.cancel(conn, files, key_id, reason=data.reason, actor=officer.actor)

    @post("/{key_id:str}/revoke", summary="Revoke a signing key", status_code=200)
    async def revoke(
        self, conn: ConnDep, officer: OfficerDep, key_id: FromPath[str], data: JSONBody[KeyRevocation]
    ) -> Revocation:
        """Revoke a retired key from now and tell every partner."""
        return await rotation.revoke(conn, key_id, reason=data.reason, actor=officer.actor)
