"""The ``Idempotency-Key`` request header on the officer endpoints that create a record.

One mechanism for all of them (draft-ietf-httpapi-idempotency-key-header; :mod:`firearms.idempotency`):
the handler names its header parameter :data:`IdempotencyKeyHeader` and runs its creation through
:func:`once`. A malformed key is a 400 ``invalid-request`` (Litestar's parameter validation), before
anything runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar

from litestar.params import HeaderParameter

from firearms import idempotency

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from litestar import Request

    from firearms.db import Conn
    from firearms.tokens import Officer

__all__ = ["IdempotencyKeyHeader", "once"]

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
        pattern=f'^(?:{_CHARS}|"{_CHARS}")$',
        required=False,
    ),
]


async def once(
    conn: Conn,
    officer: Officer,
    request: Request[Any, Any, Any],
    key: str | None,
    body: object,
    answer_type: type[T],
    create: Callable[[], Awaitable[T]],
) -> T:
    """Run a handler's creation under the officer's key (see :func:`firearms.idempotency.once`)."""
    return await idempotency.once(
        conn,
        token_id=officer.token_id,
        key=None if key is None else key.strip('"'),
        request=f"{request.method} {request.url.path.rstrip('/')}",
        body=body,
        answer_type=answer_type,
        create=create,
        actor=officer.actor,
    )
