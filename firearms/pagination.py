"""Cursor pagination for every list: an opaque cursor is the last row's sort key, base64url-encoded JSON."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from firearms.errors import InvalidInputError
from firearms.signing import b64url_decode, b64url_encode

__all__ = [
    "BIGINT_MAX",
    "DEFAULT_LIMIT",
    "INTEGER_MAX",
    "MAX_LIMIT",
    "IntegerKey",
    "Limit",
    "decode_cursor",
    "encode_cursor",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)]
_KEY_INT = Annotated[int, msgspec.Meta(ge=-BIGINT_MAX - 1, le=BIGINT_MAX)]
"""An integer in a sort key is a PostgreSQL bigint (or smaller): a larger one was never given out."""
IntegerKey = Annotated[int, msgspec.Meta(ge=-INTEGER_MAX - 1, le=INTEGER_MAX)]
"""A sort key that is a PostgreSQL ``integer`` column (a licence version): pass it to :func:`decode_cursor`."""


def encode_cursor(*key: Any) -> str:
    """An opaque cursor for the sort key of the last row on a page."""
    return b64url_encode(msgspec.json.encode(list(key)))


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """The sort key inside ``cursor``, converted to ``types``.

    Raises:
        InvalidInputError: the cursor was not made by :func:`encode_cursor` for this list.
    """
    kinds = tuple(_KEY_INT if kind is int else kind for kind in types)
    try:
        values = msgspec.json.decode(b64url_decode(cursor), type=tuple[*kinds])  # type: ignore[valid-type]
        for value in values:
            if isinstance(value, dt.datetime) and value.tzinfo is not None:
                value.astimezone(dt.UTC)  # a time the database cannot take (before year 1 or after 9999 in UTC)
    except (ValueError, OverflowError, msgspec.DecodeError) as exc:
        raise InvalidInputError("the 'after' cursor is not one this list gave out", code="invalid-cursor") from exc
    return tuple(values)
