"""Dependencies: one pooled connection in one transaction per request, and the authenticated officer.

Authentication is a router-level guard, so no ``/api/v1`` handler can forget it: the guard looks
the token up, checks the role the handler declares in ``opt={"roles": ...}`` and leaves the
officer in ``request.state`` for the ``officer`` dependency. After it, :func:`require_json` refuses, on
a handler that reads JSON, a body that says it is something other than JSON (415) or whose values have
other types than its Struct's fields (400), and on a handler that reads no body, any body (400).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import SkipValidation
from litestar.routes import HTTPRoute

from firearms import tokens
from firearms.canonical import key_named_twice
from firearms.db import Conn, Pool, WriteRefusal, transaction
from firearms.errors import ForbiddenError, UnauthenticatedError
from firearms.settings import Settings
from firearms.text_rules import decode_location, plain_name
from firearms.tokens import Officer

__all__ = [
    "ACQUIRE_TIMEOUT",
    "COMMAND_GRACE",
    "RECHECK_AFTER",
    "WRITE_OUTAGE",
    "ConnDep",
    "DatabaseTimeoutError",
    "OfficerDep",
    "PoolDep",
    "SettingsDep",
    "WriteOutage",
    "acquire",
    "command_timeout",
    "confirm_officer",
    "connection",
    "content_coding",
    "index_query_parameters",
    "media_type",
    "provide_conn",
    "provide_long_pool",
    "provide_officer",
    "provide_pool",
    "provide_settings",
    "query_refused",
    "request_bounds",
    "require_json",
    "require_role",
]

log = logging.getLogger("firearms.api")


async def provide_conn(state: State, request: Request[Any, Any, Any]) -> AsyncGenerator[Conn, None]:
    """A pooled connection inside a transaction: commit on success, roll back on any error.

    The transaction waits at most ``lock_timeout`` for one lock and runs no statement longer than
    ``statement_timeout``: the pool's connections start with them (:func:`request_bounds`), so a border post
    gets its verdict or the 503 ``database-timeout`` problem, never a request held for as long as a licence
    amendment holds the licence's row. A database that stopped answering altogether (a frozen host: the server
    cannot even cancel) is the pool's ``command_timeout`` (:func:`command_timeout`): the connection is then
    closed, not rolled back, for a ``ROLLBACK`` would wait as long again, and the server rolls back a
    transaction whose connection is gone. Handlers that run long jobs take ``connection(long_pool)``. A connection
    lost while the handler did something else (the server restarted between two statements) is that loss when
    the next statement or the ``COMMIT`` meets it (``firearms.db.lost_under``), 503 ``database-unavailable``.
    An officer's token revoked since the guard looked it up is a 401 before anything runs (:func:`confirm_officer`).

    A ``COMMIT`` that got no answer (the pool's ``command_timeout``, or the connection lost) may have committed:
    the server takes a commit it has read whatever becomes of the client. That is
    :class:`firearms.db.CommitUnansweredError` (503 ``database-outcome-unknown``), never the "nothing was recorded"
    of a request that failed before it; the connection is closed, not waited on. The transaction is
    :func:`firearms.db.transaction`, the one the handlers that run their own transactions take too.

    Raises:
        CommitUnansweredError: the ``COMMIT`` was sent and no answer came back.
    """
    outage: WriteOutage | None = state.get(WRITE_OUTAGE)
    wrote = False
    async with connection(state.pool, request) as conn:
        async with transaction(conn):
            yield conn
            if outage is not None and outage.why is not None:  # a round trip only while writes were refused
                wrote = await conn.fetchval("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
        if wrote and outage is not None:
            outage.ended()


WRITE_OUTAGE = "write_outage"
"""The app state's key for its :class:`WriteOutage`."""


class WriteOutage:
    """Whether the database refuses this app's writes, and why (``firearms.db.write_refused``): one line an outage.

    A failover onto a hot standby, ``default_transaction_read_only`` set during an incident, a full disk or a right
    revoked refuses every request that writes: the log says so once when it begins (:meth:`refused`), and once when
    a request's transaction wrote and committed again (:meth:`ended`, from :func:`provide_conn`), not a traceback a
    request.
    """

    def __init__(self) -> None:
        self.why: WriteRefusal | None = None

    def refused(self, why: WriteRefusal, words: str) -> None:
        """A write was refused for ``why`` (``words``: the database's, one line): logged when the outage begins."""
        if self.why == why:
            log.debug("a write refused again (%s): %s", why, words)
            return
        self.why = why
        advice = {
            "read-only": "a hot standby, or default_transaction_read_only = on? requests that write are answered 503"
            " database-read-only until it does",
            "full": "free space for PostgreSQL's data and WAL; requests that write are answered 503 database-full"
            " until then",
            "misconfigured": "grant the service's role its rights again ('firearms migrate' as the owner); requests"
            " that need the right are answered 500 database-misconfigured until then",
        }[why]
        level = logging.ERROR if why == "misconfigured" else logging.WARNING
        log.log(level, "the database takes no write here (%s: %s): %s", why, words, advice)

    def ended(self) -> None:
        """A request's transaction wrote and committed: the outage, if one was told, is over (logged once)."""
        if self.why is not None:
            log.warning("the database takes writes again (after %s); requests are recorded as before", self.why)
        self.why = None


def request_bounds(settings: Settings) -> dict[str, str]:
    """The session settings of the API's pool: an officer request's bounded wait for a lock and for a statement.

    Sent when a connection opens, not set in every request's transaction: a round trip a request, a seventh of a
    customs check's throughput (bench/RESULTS.md), for the same bound.
    """
    return {
        "lock_timeout": _milliseconds(settings.lock_timeout),
        "statement_timeout": _milliseconds(settings.statement_timeout),
    }


def command_timeout(settings: Settings) -> float:
    """Seconds the API's pool waits for any answer of the database before it gives up on the connection.

    Past ``statement_timeout`` the server cancels a statement itself, and the request is the 503
    ``database-timeout``; this bound, :data:`COMMAND_GRACE` later, is for a server that cannot answer at all (a
    frozen host, a dead link that closes nothing), where the request would otherwise wait until the operating
    system drops the connection. It is then the 503 ``database-unavailable`` (:mod:`api.problems`).
    """
    return settings.statement_timeout + COMMAND_GRACE


COMMAND_GRACE = 2.0  # seconds past statement_timeout before a database that does not answer is given up


def _milliseconds(seconds: float) -> str:
    """A PostgreSQL duration of at least 1 ms (0 would mean no bound at all)."""
    return f"{max(1, math.ceil(seconds * 1000))}ms"


@contextlib.asynccontextmanager
async def connection(
    pool: Pool, request: ASGIConnection[Any, Any, Any, Any] | None = None
) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
    """A connection of the pool for the block, released after it: every connection the API takes comes from here.

    Given the officer's ``request``, the token is looked up again on it when the guard's look-up is older than
    :data:`RECHECK_AFTER` (:func:`confirm_officer`): a token revoked meanwhile stores nothing.

    A handler that runs transactions of its own (journal verification, key rotation, an import, a received
    notice) takes it here rather than from ``pool.acquire()``, so that a database that does not answer is
    the 503 of :func:`acquire` for it too, not a 500. A long job (a bulk import, a journal verification, a
    checkpoint, an export) takes it from ``long_pool`` (:func:`provide_long_pool`), whose connections have no
    request bounds.
    """
    conn = await acquire(pool)
    try:
        await confirm_officer(conn, request)
        yield conn
    finally:
        await pool.release(conn)


async def acquire(pool: Pool) -> PoolConnectionProxy[asyncpg.Record]:
    """A connection of the pool; one that cannot be opened (the database is down) is a 503 problem.

    Raises:
        HTTPException: 503 ``database-unavailable``, as ``/health`` answers then, rather than a 500.
        DatabaseTimeoutError: 503 ``database-timeout``, no connection within :data:`ACQUIRE_TIMEOUT`.
    """
    try:
        conn = await pool.acquire(timeout=ACQUIRE_TIMEOUT)
    except TimeoutError as exc:  # before OSError, of which it is one
        # every connection busy (requests stuck behind a lock), or a server that takes connections and never
        # answers (an external one behind a dead link, a frozen host): a bounded wait, then the officer is told
        raise DatabaseTimeoutError(detail=f"no database connection within {ACQUIRE_TIMEOUT:g} s") from exc
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
        raise HTTPException(status_code=503, detail=f"no database connection: {type(exc).__name__}: {exc}") from exc
    return conn


ACQUIRE_TIMEOUT = 10.0  # seconds a request waits for a pooled connection (opening one included)


RECHECK_AFTER = 1.0
"""Seconds after the guard's look-up of a token past which a connection the request takes looks it up again."""


async def confirm_officer(conn: Conn, request: ASGIConnection[Any, Any, Any, Any] | None) -> None:
    """The token of the officer behind ``request`` is still live, when the guard looked it up a while ago.

    The guard looks the token up before the body is read and before the request waits for a connection: an upload
    sent slowly (an import of a large file, a body trickled on purpose), or a wait for a busy pool, let a request
    authenticated before its token was revoked store after it (a revoked administrator's queued request made a new
    token). A request that reaches its connection more than :data:`RECHECK_AFTER` after the look-up asks again
    on it; a quicker one (every request of a registry that is not overloaded) pays no second round trip. A
    request without an officer (the partner surface) is not concerned.

    Raises:
        UnauthenticatedError: the token was revoked since the guard's look-up (401, as for a revoked token).
    """
    if request is None:
        return
    officer: Officer | None = request.state.get("officer")
    if officer is None:
        return
    if time.monotonic() - request.state.get("looked_up_at", -math.inf) < RECHECK_AFTER:
        return
    await tokens.confirm_live(conn, officer.token_id)
    request.state.looked_up_at = time.monotonic()


class DatabaseTimeoutError(HTTPException):
    """The database did not give the request a connection in time: 503 ``database-timeout`` (api.problems)."""

    status_code = 503


def provide_pool(state: State) -> Pool:
    """The pool, for handlers that run several transactions of their own (key rotation, a received notice)."""
    pool: Pool = state.pool
    return pool


def provide_long_pool(state: State) -> Pool:
    """The pool of long jobs (a bulk import, journal verification, a checkpoint, an export): no request bounds.

    Its own connections, not the API pool's with the bounds lifted and set back: a job of an hour holds one of
    these, never one a border post's check waits for.
    """
    pool: Pool = state.long_pool
    return pool


def provide_settings(state: State) -> Settings:
    """The settings the app was created with."""
    settings: Settings = state.settings
    return settings


async def require_role(asgi: ASGIConnection[Any, Any, Any, Any], route_handler: BaseRouteHandler) -> None:
    """Guard: a live bearer token whose role is in the handler's ``opt["roles"]``.

    Raises:
        UnauthenticatedError: no token, an unknown or revoked one, or two ``Authorization`` headers (401).
        ForbiddenError: a known officer with another role (403).
    """
    roles: frozenset[str] = frozenset(route_handler.opt.get("roles", ()))
    given = asgi.headers.getall("authorization", [])
    if len(given) > 1:
        # Read as the first, a client's own header would win over one a proxy adds after it (or the reverse,
        # by another server's rule): two credentials are refused rather than one of them guessed at.
        raise UnauthenticatedError(f"send one Authorization header, not {len(given)}")
    authorization = given[0] if given else None
    token = tokens.bearer_token(authorization)  # no token, no connection: what anyone may send costs no database work
    async with connection(asgi.app.state.pool) as conn:
        officer = await tokens.officer_of(conn, token)
    looked_up_at = time.monotonic()
    if officer.role not in roles:
        raise ForbiddenError(
            f"role {officer.role!r} may not do this; allowed: {', '.join(sorted(roles))}",
            role=officer.role,
            allowed_roles=sorted(roles),
        )
    asgi.state.officer = officer
    asgi.state.looked_up_at = looked_up_at  # a connection taken long after asks again (confirm_officer)


def content_coding(content_encoding: str | None) -> str | None:
    """The content coding a request body says it is in, when it is one the registry would have to decode; else ``None``.

    No body is decoded (RFC 9110 §8.4): one said to be gzip-compressed is refused before it is read (where it was
    read as it came, a plain body saying it was compressed was taken, and a compressed one failed as malformed).
    ``identity`` is no coding.
    """
    if content_encoding is None:
        return None
    codings = [coding.strip().lower() for coding in content_encoding.split(",")]
    return None if all(coding in {"", "identity"} for coding in codings) else content_encoding


def media_type(content_type: str) -> tuple[str, list[str]]:
    """A ``Content-Type`` header's media type and the charsets it names, lower case (quotes taken off)."""
    media, _, parameters = content_type.partition(";")
    charsets = [
        value.strip().strip('"').lower()
        for name, _, value in (parameter.partition("=") for parameter in parameters.split(";"))
        if name.strip().lower() == "charset"
    ]
    return media.strip().lower(), charsets


async def require_json(request: Request[Any, Any, Any]) -> None:
    """Before a handler that reads a JSON body (a ``data`` parameter): its media type, then its types, strictly.

    ``application/json`` and ``application/*+json`` pass, with any parameters but a ``charset`` other than UTF-8
    (415, as on the partner surface and the imports) and without a ``Content-Encoding`` (415,
    :func:`content_coding`); a request without a
    ``Content-Type`` is read as JSON. A form (what ``curl -d`` sends by default) or text is refused
    (415) before anything is read, rather than failing later as JSON it never claimed to be. Then the
    body must match its Struct strictly (400): Litestar converts handler arguments leniently, which
    suits path and query strings but would take ``"2"`` for a quantity or ``"true"`` for a flag. An
    object that names a key twice is refused too (:func:`_key_twice`). Before a handler without a
    ``data`` parameter, a body is refused (:func:`_refuse_body`). Before any handler, a query parameter
    given twice is refused (:func:`_refuse_repeated_query`), and so is one the endpoint does not read
    (:func:`_refuse_unknown_query`).
    """
    _refuse_repeated_query(request)
    _refuse_unknown_query(request)
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        await _refuse_body(request)
        return
    given = request.headers.get("content-type")
    media, charsets = (None, []) if given is None else media_type(given)
    if media is not None and media != "application/json" and not _json_suffix(media):
        raise HTTPException(
            status_code=415,
            detail="this endpoint reads a JSON body: send it as Content-Type: application/json, not "
            + (media or "an empty Content-Type"),
        )
    if any(charset not in _UTF8 for charset in charsets):
        # read as UTF-8 whatever it says: Latin-1 "Ã¶" (C3 B6) would be stored as "ö", not converted
        raise HTTPException(
            status_code=415,
            detail=f"a JSON body is UTF-8 (RFC 8259): send it as UTF-8, not charset={', '.join(charsets)}",
        )
    coding = content_coding(request.headers.get("content-encoding"))
    if coding is not None:
        raise HTTPException(
            status_code=415, detail=f"send the body uncompressed: a Content-Encoding ({coding}) is not decoded here"
        )
    if not await request.body():
        return  # Litestar answers a missing body
    try:
        body = await request.json()
    except SerializationException:
        return  # Litestar answers malformed JSON the same way when it reads the body again
    except UnicodeDecodeError as exc:
        # msgspec reads JSON as UTF-8 (RFC 8259 §8.1) and reports other bytes with Python's own error, not its
        # DecodeError: Litestar lets that through as a 500.
        raise HTTPException(status_code=400, detail=f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from exc
    twice = _key_twice(await request.body())
    if twice is not None:
        plain = plain_name(twice)  # quoted back only when it is a plain name (README "Security")
        message = "Object names a key twice" if plain is None else f"Object names the key `{plain}` twice"
        raise ValidationException(detail=message, extra=[{"message": message, "key": "data", "source": "body"}])
    try:
        msgspec.convert(body, data.annotation, strict=True)
    except msgspec.ValidationError as exc:
        # Described as Litestar's own conversion describes it (litestar._signature.model): the message
        # without msgspec's " - at `$...`", the key the path in the body, "data" for the body itself.
        message, _, _ = str(exc).partition(" - ")
        where = decode_location(str(exc))
        raise ValidationException(
            detail=message,
            extra=[{"message": message, "key": where or "data", "source": "body"}],
        ) from exc


def _key_twice(body: bytes) -> str | None:
    """A key that one object of ``body`` (JSON that msgspec read) names twice (:func:`key_named_twice`).

    ``{"quantity": 1, "quantity": 900}`` is refused, not guessed at.
    """
    try:
        return key_named_twice(body)
    except RecursionError as exc:  # as deep as msgspec's limit, a frame or two deeper here
        raise HTTPException(status_code=400, detail="the JSON body is nested too deeply") from exc


def _refuse_repeated_query(request: Request[Any, Any, Any]) -> None:
    """A query parameter given twice (``?status=active&status=stolen``) is refused (400), naming it.

    Litestar took one of the values and answered for it alone: a list filtered by one status of two, an import
    stored under one of two file names. Which one the client meant is not for the registry to guess.
    """
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise _query_refused(name, "is given twice: give it once")
        seen.add(name)


def _query_refused(name: str, why: str) -> ValidationException:
    """The 400 that refuses query parameter ``name``: named only when it is a plain name (README "Security")."""
    plain = plain_name(name)
    return query_refused(plain, f"a query parameter {why}" if plain is None else f"the query parameter `{plain}` {why}")


def query_refused(key: str | None, message: str) -> ValidationException:
    """The 400 ``invalid-request`` that refuses a request's query parameters, in one shape.

    ``message`` is its detail and its one error's message, ``key`` the parameter that error names (``None``: none
    that may be quoted back). Every such refusal: a parameter given twice or not read (:func:`require_json`), two
    parameters that exclude each other (the journal's ``after`` and ``after_seq``).
    """
    return ValidationException(detail=message, extra=[{"message": message, "key": key, "source": "query"}])


QUERY_PARAMETERS = "query_parameters"
"""The app state's key for what :func:`index_query_parameters` found: each handler's query parameter names."""


def index_query_parameters(app: Litestar) -> None:
    """Note in the app's state the query parameters each HTTP handler reads, by the names a client gives them.

    Taken from the parameter model Litestar built for the handler (its dependencies' parameters included), once,
    when the app is made: :func:`_refuse_unknown_query` looks them up on every request.
    """
    names: dict[BaseRouteHandler, frozenset[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, model in route.route_handler_map.values():
                names[handler] = frozenset(parameter.field_alias for parameter in model.expected_query_params)
    app.state[QUERY_PARAMETERS] = names


def _refuse_unknown_query(request: Request[Any, Any, Any]) -> None:
    """A query parameter the endpoint does not read (``/journal?actor=officer:alice``) is refused (400), naming it.

    Litestar dropped it and answered as if it had not been given: an auditor's filter of the journal by an action
    it does not filter by listed the whole journal, a look-up by ``serial_number`` every item, and the answer
    looked filtered. A handler not indexed (an app made without :func:`index_query_parameters`) is not checked.
    """
    known = request.app.state.get(QUERY_PARAMETERS, {}).get(request.route_handler)
    if known is None:
        return
    for name in request.query_params:
        if name not in known:
            raise _query_refused(name, "is not one this endpoint reads")


async def _refuse_body(request: Request[Any, Any, Any]) -> None:
    """A handler that reads no body (``POST /keys/rotate``) refuses one rather than act as if it were not there.

    Whatever a client put in it (a reason, a malformed document, a megabyte) was dropped and the action
    done. A handler that reads the body itself says so with ``opt={"reads_body": True}`` (the imports' file).
    Only a body the headers announce is read, so a request without one costs nothing here; one over the
    size limit is a 413 from the reading.
    """
    if request.route_handler.opt.get("reads_body"):
        return
    announced = "transfer-encoding" in request.headers or request.headers.get("content-length", "0").strip() != "0"
    if announced and await request.body():
        raise HTTPException(status_code=400, detail="this endpoint takes no body: send the request without one")


_UTF8 = frozenset({"utf-8", "utf8"})


def _json_suffix(media: str) -> bool:
    """``application/something+json`` (RFC 6839)."""
    return media.startswith("application/") and media.endswith("+json")


def provide_officer(request: Request[Any, Any, Any]) -> Officer:
    """The officer the guard authenticated."""
    officer: Officer = request.state.officer
    return officer


# Handler annotations: the parameter name is the dependency key ("conn", "officer", "settings").
ConnDep: TypeAlias = NamedDependency[SkipValidation[Conn]]
PoolDep: TypeAlias = NamedDependency[SkipValidation[Pool]]
OfficerDep: TypeAlias = NamedDependency[Officer]
SettingsDep: TypeAlias = NamedDependency[SkipValidation[Settings]]
