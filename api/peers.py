"""The trust list for administrators: ``/api/v1/peers`` (PROTOCOL §1)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import JSONBody

from api.deps import ConnDep, OfficerDep, SettingsDep
from api.params import AfterQuery, LimitQuery, StatePath, page, state_code
from firearms import outbox
from firearms.exchange import trust
from firearms.exchange.trust import Peer
from firearms.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from firearms.text_rules import STATE_CODE_PATTERN

__all__ = ["NewPeer", "NewPeerKey", "PeerController", "PeerPage", "Resequencing"]

StateCode = Annotated[str, msgspec.Meta(pattern=STATE_CODE_PATTERN)]
UtcTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]


class NewPeer(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A partner to trust: its State, base URL and first public key (checked out of band)."""

    state: StateCode
    base_url: Annotated[str, msgspec.Meta(min_length=8, max_length=500)]
    public_key: Annotated[str, msgspec.Meta(min_length=43, max_length=43)]
    not_before: UtcTime | None = None


class NewPeerKey(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A further key of a partner, entered by an administrator."""

    public_key: Annotated[str, msgspec.Meta(min_length=43, max_length=43)]
    not_before: UtcTime | None = None


class Resequencing(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The sequence a partner expects (its ``sequence-gap``'s ``expected_sequence``), agreed by both administrators."""

    first_sequence: Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]


class PeerPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of partners."""

    items: list[Peer]
    next: str | None


class PeerController(Controller):
    """``/api/v1/peers`` (admin)."""

    path = "/peers"
    opt = {"roles": ("admin",)}  # noqa: RUF012

    @post("/", summary="Trust a partner registry", status_code=201)
    async def add(self, conn: ConnDep, officer: OfficerDep, settings: SettingsDep, data: JSONBody[NewPeer]) -> Peer:
        """Put a partner and its first key on the trust list; it is sent every lost or stolen report open now."""
        return await trust.add_peer(
            conn,
            own_state=settings.state,
            state=data.state,
            base_url=data.base_url,
            public_key=data.public_key,
            not_before=data.not_before,
            actor=officer.actor,
            own=[trust.own_address(settings)],  # serve's own settings: the address it binds
        )

    @get("/", summary="The trust list")
    async def list_peers(self, conn: ConnDep, after: AfterQuery = None, limit: LimitQuery = DEFAULT_LIMIT) -> PeerPage:
        """Partners in State order with their keys."""
        (start,) = decode_cursor(after, str) if after else ("",)
        items, last = page(await trust.list_peers(conn, after=start, limit=limit + 1), limit)
        return PeerPage(items=items, next=encode_cursor(last.state) if last else None)

    @get("/{peer_state:str}", summary="One partner")
    async def get_peer(self, conn: ConnDep, peer_state: StatePath) -> Peer:
        """A partner with its keys and their provenance."""
        return await trust.get_peer(conn, state_code(peer_state))

    @post("/{peer_state:str}/keys", summary="Add a key to a partner", status_code=201)
    async def add_key(
        self, conn: ConnDep, officer: OfficerDep, peer_state: StatePath, data: JSONBody[NewPeerKey]
    ) -> Peer:
        """Enter a further key of a partner by hand (a new trust anchor, checked out of band)."""
        return await trust.add_peer_key(
            conn,
            state=state_code(peer_state),
            public_key=data.public_key,
            not_before=data.not_before,
            actor=officer.actor,
        )

    @post("/{peer_state:str}/disable", summary="Stop trusting a partner", status_code=200)
    async def disable(self, conn: ConnDep, officer: OfficerDep, peer_state: StatePath) -> Peer:
        """Its notices are refused (``unknown-sender``); nothing is sent to it until enabled again."""
        return await trust.set_peer_enabled(conn, state_code(peer_state), enabled=False, actor=officer.actor)

    @post("/{peer_state:str}/enable", summary="Trust a partner again", status_code=200)
    async def enable(self, conn: ConnDep, officer: OfficerDep, peer_state: StatePath) -> Peer:
        """Resume receiving from and sending to a partner; a disabled one is sent every open lost or stolen report."""
        return await trust.set_peer_enabled(conn, state_code(peer_state), enabled=True, actor=officer.actor)

    @post("/{peer_state:str}/resequence", summary="Number the notices queued for a partner anew", status_code=200)
    async def resequence(
        self, conn: ConnDep, officer: OfficerDep, peer_state: StatePath, data: JSONBody[Resequencing]
    ) -> outbox.Resequenced:
        """After restoring this registry from a backup: the queued notices take numbers from ``first_sequence``.

        For a partner that holds notices under numbers this registry lost (it answers ``sequence-gap``
        ahead of the first notice queued here). 422 ``sequence-not-ahead`` when a number it acknowledged, or
        the first one queued for it, is not below it; 409 ``no-sequence-gap`` while notices wait for it and it
        has not refused the first of them so (it may hold that one already: the worker offers it first).
        """
        return await outbox.resequence(conn, state_code(peer_state), data.first_sequence, actor=officer.actor)
