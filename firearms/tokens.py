"""Officers' bearer tokens and roles (DESIGN §7): a token is shown once; only its SHA-256 is kept."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from firearms import journal
from firearms.errors import ConflictError, NotFoundError, UnauthenticatedError
from firearms.store import tokens as store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn

__all__ = [
    "ROLES",
    "Officer",
    "Role",
    "TokenInfo",
    "authenticate",
    "bearer_token",
    "confirm_live",
    "create_token",
    "ensure_admin_token",
    "hash_token",
    "issue_token",
    "list_tokens",
    "officer_of",
    "revoke_token",
]

Role = Literal["admin", "records-officer", "licensing-officer", "customs-officer", "verifier", "auditor"]
ROLES: tuple[Role, ...] = ("admin", "records-officer", "licensing-officer", "customs-officer", "verifier", "auditor")
# No C0 or C1 control character (as item_rules refuses them): the name is printed by 'token list' and in the journal.
# Not blank either: it says who holds the token (the CLI strips the name first).
TokenName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f]+$(?!\n)")
]
_PREFIX = "fr_"
_OWS = " \t"


class Officer(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated caller of an officer endpoint."""

    token_id: uuid.UUID
    name: str
    role: Role

    @property
    def actor(self) -> str:
        """How the journal names this officer."""
        return f"officer:{self.name}"


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A token's public facts (never the secret)."""

    token_id: uuid.UUID
    name: str
    role: Role
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    revoked_by: str | None


def hash_token(token: str) -> bytes:
    """SHA-256 of the token text: tokens carry 256 bits of randomness, so no salt or stretching is needed."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def _info(row: asyncpg.Record) -> TokenInfo:
    return TokenInfo(
        token_id=row["token_id"],
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
    )


async def create_token(conn: Conn, *, role: Role, name: str, actor: str) -> tuple[str, TokenInfo]:
    """Create a token for an officer; returns the secret (shown once) and its public facts."""
    secret = _PREFIX + secrets.token_urlsafe(32)
    token_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    await store.insert_officer_token(conn, token_id, name, role, hash_token(secret), now, actor)
    await journal.record(
        conn,
        actor=actor,
        action="token.created",
        entity="officer_token",
        entity_id=str(token_id),
        payload={"name": name, "role": role},
    )
    info = TokenInfo(
        token_id=token_id, name=name, role=role, created_at=now, created_by=actor, revoked_at=None, revoked_by=None
    )
    return secret, info


async def issue_token(conn: Conn, *, role: Role, name: str, actor: str) -> tuple[str, TokenInfo]:
    """An operator's new token (``POST /api/v1/tokens``, ``firearms token create``): its name held by no live token.

    The journal names an officer by the token's name (``officer:<name>``, DESIGN §6: who did what): two live tokens
    of one name, or of names that differ only in case or surrounding spaces, made two officers one actor. The name
    of a revoked token may be given again (the tokens' creation and revocation times tell whose an entry is). In the
    caller's transaction, under a lock that orders the operators' creations.

    Raises:
        ConflictError: ``token-name-taken``, a live token holds the name.
    """
    await store.lock_officer_token_names(conn)
    holder = await store.get_live_officer_token_named(conn, name)
    if holder is not None:
        raise ConflictError(
            f"a live token is already named {name.strip()!r}: give this one another name, or revoke that one first",
            code="token-name-taken",
            token_id=str(holder),
        )
    return await create_token(conn, role=role, name=name, actor=actor)


async def revoke_token(conn: Conn, token_id: uuid.UUID, *, actor: str) -> TokenInfo:
    """Revoke a token at once: its next request is a 401.

    Raises:
        NotFoundError: no such token.
        ConflictError: the token is already revoked.
    """
    row = await store.revoke_officer_token(conn, token_id, dt.datetime.now(dt.UTC), actor)
    if row is None:
        if await store.get_officer_token(conn, token_id) is None:
            raise NotFoundError(f"no token {token_id}", token_id=str(token_id))
        raise ConflictError(
            f"token {token_id} is already revoked", code="token-already-revoked", token_id=str(token_id)
        )
    await journal.record(
        conn, actor=actor, action="token.revoked", entity="officer_token", entity_id=str(token_id), payload={}
    )
    return _info(row)


async def list_tokens(conn: Conn, *, after: tuple[dt.datetime, uuid.UUID] | None, limit: int) -> list[TokenInfo]:
    """A page of tokens in creation order."""
    return [_info(row) for row in await store.list_officer_tokens(conn, after, limit)]


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (scheme in any case, spaces and tabs around the token).

    Needs no database: a request without one is refused before a connection is taken.

    Raises:
        UnauthenticatedError: no header, or not a bearer token.
    """
    if not authorization:
        raise UnauthenticatedError("this endpoint needs 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    # HTTP's optional white space (RFC 9110 §5.6.3), not all that str.strip() takes: a token followed by a vertical
    # tab, a file separator or a no-break space is another, unknown token, as the README says.
    token = token.strip(_OWS)
    if scheme.lower() != "bearer" or not token:
        raise UnauthenticatedError("the Authorization header must be 'Bearer <token>'")
    return token


async def authenticate(conn: Conn, authorization: str | None) -> Officer:
    """The officer behind an ``Authorization: Bearer <token>`` header.

    Raises:
        UnauthenticatedError: no header, not a bearer token, or a token unknown or revoked.
    """
    return await officer_of(conn, bearer_token(authorization))


async def officer_of(conn: Conn, token: str) -> Officer:
    """The officer holding ``token`` (as :func:`bearer_token` read it from the header).

    Raises:
        UnauthenticatedError: the token is unknown or revoked.
    """
    row = await store.get_officer_by_token_hash(conn, hash_token(token))
    if row is None:
        raise UnauthenticatedError("the token is unknown or revoked")
    return Officer(token_id=row["token_id"], name=row["name"], role=row["role"])


async def confirm_live(conn: Conn, token_id: uuid.UUID) -> None:
    """The token an officer was authenticated by is still live (DESIGN §7: a revoked token opens nothing).

    For a request whose token was looked up a while before it reached the database (a slow upload, a wait for a
    connection): revoked in between, it is refused as an unknown or revoked token is, before it stores anything.

    Raises:
        UnauthenticatedError: the token was revoked since.
    """
    if not await store.is_officer_token_live(conn, token_id):
        raise UnauthenticatedError("the token is unknown or revoked")


async def ensure_admin_token(conn: Conn) -> str | None:
    """On first start, create one admin token and return its secret; ``None`` when an admin token was ever made.

    Only once: after every admin token is revoked, a new one is made on purpose (``firearms token
    create --role admin``), never by a restart printing its secret into the service's log.
    """
    if await store.count_admin_tokens(conn):
        return None
    secret, _ = await create_token(conn, role="admin", name="first-admin", actor="system:first-start")
    return secret
