"""The one place that maps errors to RFC 9457 problem documents.

Every problem has a stable absolute ``type`` URI whose last path segment is the code clients match
on, a fixed ``title`` per code, ``detail`` for people, and facts as extension members. Anything
unexpected is a 500 with nothing internal in it.
"""

from __future__ import annotations

import logging
import re
import typing
from typing import Any

import asyncpg
import msgspec
import msgspec.inspect
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from api.deps import WRITE_OUTAGE, DatabaseTimeoutError, WriteOutage
from api.params import STATE_PATHS, STATE_QUERIES
from api.titles import TITLES
from firearms.db import (
    CONNECTION_LOST,
    WRITE_REFUSED,
    CommitUnansweredError,
    connection_lost,
    first_line,
    lost_connection,
    write_refused,
)
from firearms.errors import (
    ConfigError,
    ConflictError,
    FirearmsError,
    ForbiddenError,
    InvalidInputError,
    JournalError,
    MigrationError,
    NotFoundError,
    UnauthenticatedError,
)
from firearms.text_rules import printable, without_input

__all__ = [
    "PROBLEM_BASE",
    "PROBLEM_MEDIA_TYPE",
    "TITLES",
    "exception_handlers",
    "notice_outcome_unknown",
    "notice_write_refused",
    "problem_response",
    "unavailable_problem",
]

PROBLEM_BASE = "tag:firearms-registry,2026:problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("firearms.api")

_STATUS: list[tuple[type[FirearmsError], int]] = [
    (UnauthenticatedError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
    (ConfigError, 500),
    (MigrationError, 500),
    (JournalError, 500),
]

_HTTP_CODES = {
    400: "invalid-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    503: "database-unavailable",
}


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    facts: dict[str, Any] | None = None,
    *,
    base: str = PROBLEM_BASE,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """An ``application/problem+json`` response; ``request_id`` joins the facts when known."""
    body: dict[str, Any] = {
        "type": base + code,
        "title": TITLES.get(code, code.replace("-", " ").capitalize()),
        "status": status,
        "detail": detail,
    }
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
    if facts:
        body.update({key: value for key, value in facts.items() if key not in body})
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _domain_error(request: Request[Any, Any, Any], exc: FirearmsError) -> Response[dict[str, Any]]:
    status = next((status for kind, status in _STATUS if isinstance(exc, kind)), 500)
    if status >= 500:
        log.error("domain error %s: %s", exc.code, exc.detail)
        return problem_response(request, 500, "internal-error", "The registry could not complete the request.")
    headers = {"WWW-Authenticate": 'Bearer realm="firearms"'} if status == 401 else None
    return problem_response(request, status, exc.code, exc.detail, dict(exc.facts), headers=headers)


# What Litestar's Request raises (as a 500) when the client hangs up before its body arrived.
_CLIENT_GONE = "client disconnected prematurely"


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status >= 500 and exc.detail == _CLIENT_GONE:
        # Not the registry's fault, and no one is left to answer: a load generator stopping, a border
        # post's link dropping. Nothing was stored (the transaction rolls back).
        log.warning(
            "%s %s: the client went away before its request body arrived", request.method, printable(request.url.path)
        )
        return problem_response(request, status, "internal-error", "The client went away.")
    if isinstance(exc, DatabaseTimeoutError):  # api.deps.acquire: no connection in time
        log.error("%s %s: %s", request.method, printable(request.url.path), exc.detail)
        return _timeout_problem(request, str(exc.detail))
    if status == 503:  # api.deps.acquire: the database does not answer (its cause is in the log, not the answer)
        log.error("%s %s: %s", request.method, printable(request.url.path), exc.detail)
        return unavailable_problem(request)
    if status >= 500:
        log.error("HTTP %s: %s", status, exc.detail)
        return problem_response(request, status, _HTTP_CODES.get(status, "internal-error"), "The server failed.")
    code = _HTTP_CODES.get(status, "invalid-request")
    facts: dict[str, Any] = {}
    detail = str(exc.detail)
    handler = request.scope.get("route_handler")
    if isinstance(exc, ValidationException) and (errors := _public_errors(detail, exc.extra, handler)) is not None:
        facts["errors"] = errors
        detail = "; ".join(error["message"] for error in errors) or "the request does not match its schema"
    elif isinstance(exc, ValidationException):  # none raised with a URL in it but the two above; cut one all the same
        detail = detail.split(" for path ", maxsplit=1)[0]
    elif status == 413:
        detail = "the request body exceeds this endpoint's size limit"
    return problem_response(request, status, code, detail, facts, headers=dict(exc.headers or {}) or None)


# Litestar: "Missing required query parameter 'q' for path /api/v1/items/search?serial=..." (header, cookie alike)
_MISSING = re.compile(r"Missing required (?P<source>\w+) parameter '(?P<key>[^']+)' for path ")
# msgspec quotes the value it refused: "Invalid enum value '<script>'", "Invalid value 'x'", "Invalid value 7"
_NOT_ONE_OF = re.compile(r"Invalid (?:enum )?value ")
_PARAMETERS = frozenset({"query", "path", "header", "cookie"})
# A parameter's pattern in words: msgspec's "expected `str` matching regex '^[^\x00-\x1f...'" told nobody what to send.
# Each: the parameter as the client names it (the header's own name, not the handler's idempotency_key), and the rule.
_PATTERN_RULES = {
    ("query", "file_name"): (
        "file_name",
        "query parameter 'file_name' must be 1-200 characters without '/', '\\' or a control character (a file's"
        " name, not its folder)",
    ),
    ("query", "action"): (
        "action",
        "query parameter 'action' must be an action's name: 3-100 characters, lower-case words of a-z, 0-9 and '-'"
        " joined by '.', such as licence.revoked",
    ),
    ("header", "idempotency_key"): (
        "Idempotency-Key",
        "header 'Idempotency-Key' must be 1-255 of A-Z a-z 0-9 . _ : ~ + / = -, optionally in double quotes",
    ),
    # every officer's reason for a decision (text_rules.REASON)
    ("body", "reason"): (
        "reason",
        "'reason' must say why in 1-2,000 characters: no control character (a line break included), no white space"
        " before or after it",
    ),
    ("body", "shipment_id"): ("shipment_id", "'shipment_id' must be 1-200 characters without a control character"),
    ("query", "certificate_number"): (
        "certificate_number",
        "query parameter 'certificate_number' must be a certificate's number as printed: 1-200 characters, no control"
        " character (a line break included), no white space before or after it",
    ),
}
# errors[].key: a parameter's name or a place in the body (lines[0].serials), nothing that could hold markup
_KEY = re.compile(r"(?:[A-Za-z0-9_.-]|\[\d+\]|\[\.\.\.\]){1,200}")


def _public_errors(detail: str, extra: Any, handler: Any = None) -> list[dict[str, Any]] | None:
    """Litestar's validation errors as the problem's ``errors`` lists them: never the URL nor a value the caller sent.

    A missing parameter comes without a list: Litestar's detail names it, then ends "for path <the URL, query
    string and all>" -- the caller's text, handed back. Only the parameter and its place are kept.
    """
    if isinstance(extra, list):
        return [_public_error(item, handler) for item in extra]
    if missing := _MISSING.match(detail):
        message = f"{missing['source']} parameter '{missing['key']}' is required"
        return [{"message": message, "key": missing["key"], "source": missing["source"]}]
    return None


def _public_error(item: Any, handler: Any = None) -> dict[str, Any]:
    """One of Litestar's validation errors as the problem's ``errors`` lists it: never a value the caller sent.

    A value outside a field's or parameter's values is answered with the values (the registry's words, read from
    the ``handler``'s types: :func:`_choices`), and a query parameter is named as the client names it
    (``type``, not the handler's ``firearm_type``).
    """
    if not isinstance(item, dict):
        return {"message": "the request does not match its schema", "key": None, "source": None}  # never the item
    message, key, source = str(item.get("message", "")), item.get("key"), item.get("source")
    source = getattr(source, "value", source)  # Litestar's ParamType, a str Enum: its value, "query"
    if key is not None and not _KEY.fullmatch(str(key)):
        key = None  # Litestar reads a key out of msgspec's words as deps.require_json did: never a caller's text
    choices = _choices(handler, str(source), str(key)) if handler is not None and key is not None else None
    if source == "query" and key is not None and handler is not None and not message.startswith(_OWN_QUERY_ERRORS):
        key = _query_name(handler, str(key))  # Litestar's own errors key it by the handler's name
    if key is None:
        parameter = f"a {source} parameter" if source in _PARAMETERS else "a field"
    else:
        parameter = f"{source} parameter '{key}'" if source in _PARAMETERS else f"'{key}'"
    if "matching regex" in message and (
        (source == "query" and key in STATE_QUERIES) or (source == "path" and key in STATE_PATHS)
    ):
        # the pattern is the rule, not words for the officer who typed ?recipient=Germany or /peers/Germany
        message = f"{source} parameter '{key}' must be a State's ISO 3166-1 alpha-2 code: two letters, such as DE or de"
    elif "matching regex" in message and (rule := _PATTERN_RULES.get((str(source), str(key)))) is not None:
        key, message = rule
    elif _NOT_ONE_OF.match(message):
        message = f"{parameter} is not one of the values it takes" + (
            f": {', '.join(map(str, choices))}" if choices else " (/schema/openapi.json lists them)"
        )
    else:
        message = without_input(message)  # an unknown field is named only when its name is plain
        if source in _PARAMETERS and message.startswith(("Expected ", "Invalid ")):
            # msgspec's words, which do not say which parameter (errors[].key does, the detail did not)
            message = f"{parameter}: {message[0].lower()}{message[1:]}"
    return {"message": message, "key": key, "source": source}


# api.deps' refusals of a query parameter (unknown, given twice) name it as the client sent it already
_OWN_QUERY_ERRORS = ("the query parameter ", "a query parameter ")
_STEP = re.compile(r"[^.\[\]]+|\[\d+\]")


def _query_name(handler: Any, key: str) -> str:
    """A query parameter as the client names it: Litestar keys an aliased one (``type``) by the handler's name."""
    parameter = handler.parsed_fn_signature.parameters.get(key)
    alias = getattr(parameter.kwarg_definition, "name", None) if parameter is not None else None
    return alias if isinstance(alias, str) else key


def _body_type(handler: Any, key: str) -> Any:
    """The type (msgspec.inspect) of the body's member at ``key`` (``markings[0].kind``), else ``None``."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return None
    kind: Any = msgspec.inspect.type_info(_bare(data.annotation))
    for step in _STEP.findall(key):
        kind = _step(kind, step)
        if kind is None:
            return None
    return kind


def _choices(handler: Any, source: str, key: str) -> tuple[Any, ...] | None:
    """The values a ``Literal`` field (``markings[0].kind`` of the body) or parameter takes, else ``None``."""
    if source == "body":
        kind = _body_type(handler, key)
        return None if kind is None else _literal(kind)
    parameter = handler.parsed_fn_signature.parameters.get(key)
    return None if parameter is None else _literal(msgspec.inspect.type_info(_bare(parameter.annotation)))


def _bare(annotation: Any) -> Any:
    """``annotation`` without Litestar's ``Annotated`` markers (msgspec's own constraints are kept by msgspec)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _step(kind: Any, step: str) -> Any:
    """The type one step into ``kind``: a Struct's field (by its name in JSON) or a list's item, else ``None``."""
    if isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    if isinstance(kind, msgspec.inspect.UnionType):
        found = [inner for option in kind.types if (inner := _step(option, step)) is not None]
        return found[0] if len(found) == 1 else None
    if step.startswith("["):
        return kind.item_type if isinstance(kind, msgspec.inspect.ListType) else None
    if isinstance(kind, msgspec.inspect.StructType):
        return next((field.type for field in kind.fields if field.encode_name == step), None)
    return None


def _literal(kind: Any) -> tuple[Any, ...] | None:
    """A ``Literal``'s values (msgspec gives them sorted), through ``Optional`` and constraints."""
    if isinstance(kind, msgspec.inspect.Metadata):
        kind = kind.type
    if isinstance(kind, msgspec.inspect.UnionType):
        literals = [option for option in kind.types if isinstance(option, msgspec.inspect.LiteralType)]
        kind = literals[0] if len(literals) == 1 else None
    return tuple(kind.values) if isinstance(kind, msgspec.inspect.LiteralType) else None


def _unstorable_text(request: Request[Any, Any, Any], exc: asyncpg.PostgresError) -> Response[dict[str, Any]]:
    """PostgreSQL text and jsonb cannot hold U+0000: a NUL that reached the database came from the client."""
    log.info("%s %s: text with a NUL character (%s)", request.method, printable(request.url.path), exc.sqlstate)
    return problem_response(
        request, 400, "invalid-request", "a text value holds a NUL character (U+0000), which the registry cannot store"
    )


def _recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    """A JSON body nested deeper than Python's recursion limit (msgspec gives up on it) is the client's error."""
    if "deserializing" not in str(exc):
        return _unexpected(request, exc)
    return problem_response(request, 400, "invalid-request", "the JSON body is nested too deeply")


def _database_gone(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """A connection refused or lost in the middle of a request (the server stopped, crashed or was shut down): a 503.

    One of :data:`firearms.db.CONNECTION_LOST`, as the worker's outage probe takes them (``connection_lost``): a
    ``FileNotFoundError`` that names a file is not the database's, and is unexpected.
    """
    if not connection_lost(exc):
        return _unexpected(request, exc)
    log.error("%s %s: %s (%s)", request.method, printable(request.url.path), _DATABASE_UNAVAILABLE, exc)
    return unavailable_problem(request)


def _outcome_unknown(request: Request[Any, Any, Any], exc: CommitUnansweredError) -> Response[dict[str, Any]]:
    """A ``COMMIT`` that left and got no answer (``firearms.db.commit``): the request may have been recorded."""
    log.error("%s %s: %s", request.method, printable(request.url.path), exc)
    return problem_response(request, 503, "database-outcome-unknown", _OUTCOME_UNKNOWN, headers=RETRY_UNAVAILABLE)


def notice_outcome_unknown(request: Request[Any, Any, Any], exc: CommitUnansweredError) -> Response[dict[str, Any]]:
    """``POST /exchange/v1/notices``'s ``COMMIT`` got no answer: the advice is PROTOCOL §4's, not an officer's.

    A partner's sender has no ``check_id`` or ``Idempotency-Key``: it sends the same bytes again, and a notice stored
    is a duplicate, answered with its first receipt. The exchange handler takes this handler for the error.
    """
    log.error("%s %s: %s", request.method, printable(request.url.path), exc)
    return problem_response(
        request, 503, "database-outcome-unknown", _NOTICE_OUTCOME_UNKNOWN, headers=RETRY_UNAVAILABLE
    )


def _database_frozen(request: Request[Any, Any, Any], exc: TimeoutError) -> Response[dict[str, Any]]:
    """No answer at all within the API pool's ``command_timeout`` (a frozen host, a dead link): a 503.

    The server cancels a slow statement itself (``_database_slow``); this is one that could not. The connection
    was closed (``api.deps.provide_conn``), and nothing was stored (a ``COMMIT`` without an answer is
    ``database-outcome-unknown``).
    """
    log.error(
        "%s %s: %s within the pool's command timeout",
        request.method,
        printable(request.url.path),
        _DATABASE_UNAVAILABLE,
    )
    return unavailable_problem(request)


def _connection_unusable(request: Request[Any, Any, Any], exc: asyncpg.InterfaceError) -> Response[dict[str, Any]]:
    """A connection asyncpg lost or closed while an error was on its way out: the answer is that error's.

    Leaving asyncpg's own transaction block (``async with conn.transaction()``: the journal's sealing before its
    listing, a command's transaction) on a lost connection raises ``InterfaceError`` over the error that lost it;
    the database did not answer, and that is the 503 (``firearms.db.transaction`` and ``api.deps.provide_conn``
    raise the loss itself: ``firearms.db.lost_under``). Any other ``InterfaceError`` is unexpected.
    """
    if isinstance(exc.__context__, TimeoutError):
        return _database_frozen(request, exc.__context__)
    if (lost := lost_connection(exc)) is not None:
        return _database_gone(request, lost)
    return _unexpected(request, exc)


def _database_slow(request: Request[Any, Any, Any], exc: asyncpg.PostgresError) -> Response[dict[str, Any]]:
    """A request transaction past its lock or statement bound (``api.deps.provide_conn``): a 503, nothing stored."""
    what = "a lock" if isinstance(exc, asyncpg.LockNotAvailableError) else "a statement"
    log.warning("%s %s: %s took too long (%s)", request.method, printable(request.url.path), what, exc)
    return _timeout_problem(request, f"the database did not answer in time ({what} took too long)")


def _write_refused(request: Request[Any, Any, Any], exc: asyncpg.PostgresError) -> Response[dict[str, Any]]:
    """The database answers but takes no write here (``firearms.db.write_refused``): nothing was recorded.

    The request's transaction rolled back. Read-only (25006: a failover onto a node that is still a hot standby,
    ``default_transaction_read_only`` set during an incident) and a full disk (53100) pass without anyone touching the
    registry: 503 with ``Retry-After``, and the officer told to fall back to the paper procedure meanwhile. A right the
    service's role lost (42501) does not pass by itself: 500 ``database-misconfigured``, no ``Retry-After``, for an
    administrator to grant it again. A personal read whose journal entry is refused is refused too (DESIGN §6: who
    looked at what), as a write. The operator gets one line an outage (:class:`api.deps.WriteOutage`), the database's
    words in it; the officer does not.
    """
    return _refused_problem(request, exc, _WRITES_REFUSED, _MISCONFIGURED)


def notice_write_refused(request: Request[Any, Any, Any], exc: asyncpg.PostgresError) -> Response[dict[str, Any]]:
    """``POST /exchange/v1/notices`` on a database that takes no write: the problem of :func:`_write_refused`.

    Its detail is the sender's advice (PROTOCOL §4: the same bytes again), not an officer's (a ``check_id``, the paper
    procedure). The exchange handler takes this handler for the errors of ``firearms.db.WRITE_REFUSED``.
    """
    return _refused_problem(request, exc, _NOTICE_NOT_STORED, _NOTICE_NOT_STORED)


def _refused_problem(
    request: Request[Any, Any, Any], exc: asyncpg.PostgresError, passing: str, lasting: str
) -> Response[dict[str, Any]]:
    """The problem for a write refused (``passing``: the detail of the 503s, ``lasting``: of the 500), told once."""
    why = write_refused(exc)
    if why is None:  # only the errors of WRITE_REFUSED reach here
        return _unexpected(request, exc)
    outage = request.app.state.get(WRITE_OUTAGE)
    words = printable(first_line(exc))
    if isinstance(outage, WriteOutage):
        outage.refused(why, f"{type(exc).__name__}: {words}")
    else:
        log.warning(
            "%s %s: the database takes no write here (%s: %s)", request.method, printable(request.url.path), why, words
        )
    if why == "misconfigured":
        return problem_response(request, 500, "database-misconfigured", lasting)
    code = "database-read-only" if why == "read-only" else "database-full"
    return problem_response(request, 503, code, passing, headers=RETRY_WRITES_REFUSED)


def unavailable_problem(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """503 ``database-unavailable`` with ``Retry-After``: the database did not answer (the cause is in the log)."""
    return problem_response(request, 503, "database-unavailable", _DATABASE_UNAVAILABLE, headers=RETRY_UNAVAILABLE)


def _timeout_problem(request: Request[Any, Any, Any], cause: str) -> Response[dict[str, Any]]:
    detail = f"{cause}; nothing was recorded: send the request again (a check with the same check_id counts once)"
    return problem_response(request, 503, "database-timeout", detail, headers=RETRY_TIMEOUT)


_DATABASE_UNAVAILABLE = "the database did not answer"
_OUTCOME_UNKNOWN = (
    "the database did not answer the commit: the request may have been recorded. Send it again with the same"
    " check_id or Idempotency-Key (the first answer comes back), or look the record up before making it again"
)
_NOTICE_OUTCOME_UNKNOWN = (
    "the database did not answer the commit: the notice may have been recorded. Send the same notice again, the same"
    " bytes: a duplicate is answered with the first receipt"
)
_WRITES_REFUSED = (
    "the registry's database takes no write now: nothing was recorded. Send the request again shortly (a check with"
    " the same check_id counts once); until it is answered, follow the paper procedure"
)
_NOTICE_NOT_STORED = (
    "the registry's database takes no write now: the notice was not stored. Send the same notice again later, the"
    " same bytes"
)
_MISCONFIGURED = (
    "the registry's database refuses the service a right this request needs: nothing was recorded. The operator"
    " must correct it (sending the request again does not help until then); meanwhile follow the paper procedure"
)
# Retry-After (RFC 9110 §10.2.3) on the 503s: a restart of the database takes seconds, a lock wait less; a failover
# or an administrator resetting a setting or freeing space, tens of seconds.
RETRY_UNAVAILABLE = {"Retry-After": "5"}
RETRY_TIMEOUT = {"Retry-After": "1"}
RETRY_WRITES_REFUSED = {"Retry-After": "30"}


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unexpected error on %s %s", request.method, printable(request.url.path), exc_info=exc)
    return problem_response(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal-error", "The server failed.")


exception_handlers: ExceptionHandlersMap = {
    FirearmsError: _domain_error,
    HTTPException: _http_error,
    asyncpg.CharacterNotInRepertoireError: _unstorable_text,  # 22021: a NUL in a text parameter
    asyncpg.UntranslatableCharacterError: _unstorable_text,  # 22P05: "\u0000" in a jsonb value
    **dict.fromkeys(CONNECTION_LOST, _database_gone),  # refused, lost, closed by a shutdown: firearms.db
    asyncpg.LockNotAvailableError: _database_slow,  # 55P03: lock_timeout (no query takes a lock NOWAIT)
    asyncpg.QueryCanceledError: _database_slow,  # 57014: statement_timeout
    **dict.fromkeys(WRITE_REFUSED, _write_refused),  # read-only, disk full, a right revoked: firearms.db
    CommitUnansweredError: _outcome_unknown,  # the COMMIT left, no answer came back: it may have committed
    TimeoutError: _database_frozen,  # asyncpg's command_timeout: no answer at all (api.deps.command_timeout)
    asyncpg.InterfaceError: _connection_unusable,  # a lost connection's transaction cannot be left cleanly
    RecursionError: _recursion,
    Exception: _unexpected,
}
