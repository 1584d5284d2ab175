"""The ``Idempotency-Key`` request header on the officer endpoints that create a record.

One mechanism for all of them (draft-ietf-httpapi-idempotency-key-header; :mod:`firearms.idempotency`):
the handler names its header parameter :data:`IdempotencyKeyHeader` and runs its creation through
:func:`once`. A malformed key is a 400 ``invalid-request`` (Litestar's parameter validation), before
anything runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeAlias, TypeVar

from litestar import MediaType, Response
from litestar.params import HeaderParameter

from api.params import STATE_PATHS, state_code
from firearms import idempotency, journal

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from litestar import Request

    from firearms.db import Conn
    from firearms.tokens import Officer

__all__ = ["Answer", "IdempotencyKeyHeader", "journaled_read", "once", "operation"]

T = TypeVar("T")

_CHARS = idempotency.KEY_PATTERN.removeprefix("^").removesuffix("$")
# The draft's form is a structured-field string ("..."); the bare token is taken too, and means the same.
IdempotencyKeyHeader: TypeAlias = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        description=(
            "Optional. A key of your choosing (1-255 of A-Z a-z 0-9 . _ : ~ + / = -, optionally in double quotes) "
            "for a request you may have to send again: the same key with the same request answers the first "
            "answer and creates nothing twice; with another request it is a 409 idempotency-key-reused. "
            "Keys belong to your token."
        ),
        pattern=rf'^(?:{_CHARS}|"{_CHARS}")$(?!\n)',
        required=False,
    ),
]


class Answer(Response[bytes], Generic[T]):
    """A creating POST's answer, sent as the bytes its first answer had (a replay is those bytes again).

    The parameter is the answer's type, for the OpenAPI document; the body is already that type's JSON.
    """


def operation(request: Request[Any, Any, Any]) -> str:
    """Method and path, the path's identifiers as resolved: what a key is bound to with the body.

    ``/items/007/markings`` and ``/items/7/markings`` (a UUID in capitals and in small letters) name one
    item, one request: the route's template is filled with the parsed path parameters, each in the form
    the answers give it (``7``, a UUID in small letters, a State in capitals: ``/consent-requests/at/...`` is
    ``/AT/...``), so a key kept for such a path before reads the same.
    """
    template: str = request.scope["path_template"]
    params = {name: state_code(value) if name in STATE_PATHS else value for name, value in request.path_params.items()}
    return f"{request.method} {template.format_map(params).rstrip('/')}"


async def once(
    conn: Conn,
    officer: Officer,
    request: Request[Any, Any, Any],
    key: str | None,
    body: object,
    create: Callable[[], Awaitable[T]],
    replayed: Callable[[bytes], Awaitable[None]] | None = None,
) -> Answer[T]:
    """Run a handler's creation under the officer's key (see :func:`firearms.idempotency.once`).

    ``replayed`` journals a replay's answer as a read (the kept bytes), where the answer shows personal data.
    """
    status_code = request.route_handler.status_code
    answer = await idempotency.once(
        conn,
        token_id=officer.token_id,
        key=None if key is None else key.strip('"'),
        request=operation(request),
        body=body,
        status_code=status_code,
        create=create,
        actor=officer.actor,
        replayed=replayed,
    )
    return Answer(answer.body, status_code=answer.status_code or status_code, media_type=MediaType.JSON)


def journaled_read(
    conn: Conn, officer: Officer, entity: str, ids: Callable[[bytes], list[str]]
) -> Callable[[bytes], Awaitable[None]]:
    """A replay's answer journaled as a read of ``entity`` (DESIGN §6), the ids taken from the kept bytes or the path.

    For the answers that show personal data the officer did not type: the parties a licence names, the partner's
    licence in a consent request (README "Retrying a request that creates a record").
    """

    async def replayed(kept: bytes) -> None:
        await journal.record_read(conn, actor=officer.actor, entity=entity, ids=ids(kept))

    return replayed
