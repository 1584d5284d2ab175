"""Officers' tokens (admin): create (the secret is shown once), list, revoke."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from api.deps import ConnDep, OfficerDep
from api.params import AfterQuery, LimitQuery, page
from firearms import tokens
from firearms.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from firearms.tokens import Role, TokenInfo, TokenName

__all__ = ["NewToken", "TokenController", "TokenCreated", "TokenPage"]


class NewToken(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A token to create for an officer."""

    role: Role
    name: TokenName


class TokenCreated(msgspec.Struct, frozen=True, kw_only=True):
    """The new token: ``token`` is shown this once and never again."""

    token: str
    info: TokenInfo


class TokenPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of tokens; ``next`` is the cursor for the following page, ``None`` at the end."""

    items: list[TokenInfo]
    next: str | None


class TokenController(Controller):
    """``/api/v1/tokens`` (admin)."""

    path = "/tokens"
    opt = {"roles": ("admin",)}  # noqa: RUF012  # Litestar reads it as a plain mapping

    @post("/", summary="Create an officer token")
    async def create(self, conn: ConnDep, officer: OfficerDep, data: JSONBody[NewToken]) -> TokenCreated:
        """Create a bearer token for an officer with one role; the secret is in the answer only.

        409 ``token-name-taken`` when a live token holds the name (case and surrounding spaces aside).
        """
        secret, info = await tokens.issue_token(conn, role=data.role, name=data.name, actor=officer.actor)
        return TokenCreated(token=secret, info=info)

    @get("/", summary="List officer tokens")
    async def list_tokens(
        self, conn: ConnDep, after: AfterQuery = None, limit: LimitQuery = DEFAULT_LIMIT
    ) -> TokenPage:
        """Tokens in creation order, ``limit`` at a time; pass ``next`` back as ``after``."""
        key = decode_cursor(after, dt.datetime, uuid.UUID) if after else None
        items, last = page(await tokens.list_tokens(conn, after=key, limit=limit + 1), limit)
        return TokenPage(items=items, next=encode_cursor(last.created_at, last.token_id) if last else None)

    @post("/{token_id:uuid}/revoke", summary="Revoke an officer token", status_code=200)
    async def revoke(self, conn: ConnDep, officer: OfficerDep, token_id: FromPath[uuid.UUID]) -> TokenInfo:
        """Revoke a token: its next request is refused with 401."""
        return await tokens.revoke_token(conn, token_id, actor=officer.actor)
