"""Shared handler parameter types: pagination on every list."""

from __future__ import annotations

from typing import Annotated, TypeAlias, TypeVar, overload

from litestar.params import PathParameter, QueryParameter

from firearms.pagination import BIGINT_MAX, INTEGER_MAX, MAX_LIMIT

__all__ = [
    "STATE_PATHS",
    "STATE_QUERIES",
    "STATE_QUERY_PATTERN",
    "AfterQuery",
    "ItemIdPath",
    "LicenceNumberQuery",
    "LimitQuery",
    "MarkingIdPath",
    "OptionalStateQuery",
    "StatePath",
    "StateQuery",
    "VersionPath",
    "page",
    "state_code",
]

# An empty cursor ("?after=") is a client that lost its cursor (a walk building its URL from a "next" it did not
# read): answered as the first page, the walk restarted silently. Absent is the first page; empty is refused.
AfterQuery: TypeAlias = Annotated[
    str | None, QueryParameter(description="cursor from the previous page's 'next'", min_length=1, max_length=512)
]
LimitQuery: TypeAlias = Annotated[int, QueryParameter(description="items per page", ge=1, le=MAX_LIMIT)]
# A State given in the query is a look-up an officer types: two letters in either case, upper-cased by the handler
# (state_code), as the command line's --recipient and --country take them. A body stays strict (STATE_CODE_PATTERN):
# it is stored as sent. A value that is no two letters is refused, naming the parameter (api.problems).
STATE_QUERY_PATTERN = r"^[A-Za-z]{2}$(?!\n)"
STATE_QUERIES = frozenset({"recipient", "issuing_state", "exporting_state", "country", "state"})
"""The query parameters that name a State (or a country): api.problems words their refusal."""
_STATE_DESCRIPTION = "ISO 3166-1 alpha-2 code, either case (de is DE)"
StateQuery: TypeAlias = Annotated[str, QueryParameter(pattern=STATE_QUERY_PATTERN, description=_STATE_DESCRIPTION)]
OptionalStateQuery: TypeAlias = Annotated[
    str | None, QueryParameter(pattern=STATE_QUERY_PATTERN, description=_STATE_DESCRIPTION)
]
# A State in a path (/peers/{peer_state}, /licences/by-number/{issuing_state}/{number}, ...) follows the query's rule:
# it names a record to look up, never one stored as sent. Before, /peers/de was 404 "no partner de" for DE.
StatePath: TypeAlias = Annotated[str, PathParameter(pattern=STATE_QUERY_PATTERN, description=_STATE_DESCRIPTION)]
STATE_PATHS = frozenset({"peer_state", "issuing_state", "exporting_state", "requesting_state"})
"""The path parameters that name a State: api.problems words their refusal."""
# A licence number given in the query (it may hold a "/", which a path segment cannot).
LicenceNumberQuery: TypeAlias = Annotated[str, QueryParameter(min_length=1, max_length=64)]
# Path integers within their columns (bigint item_id, integer version): a larger one is a 400, not a 500.
ItemIdPath: TypeAlias = Annotated[int, PathParameter(description="item id", ge=1, le=BIGINT_MAX)]
MarkingIdPath: TypeAlias = Annotated[int, PathParameter(description="marking id", ge=1, le=BIGINT_MAX)]
VersionPath: TypeAlias = Annotated[int, PathParameter(description="version number", ge=1, le=INTEGER_MAX)]


T = TypeVar("T")


@overload
def state_code(value: str) -> str: ...
@overload
def state_code(value: str | None) -> str | None: ...
def state_code(value: str | None) -> str | None:
    """A State given in the query or path (:data:`StateQuery`, :data:`StatePath`) as stored: upper case."""
    return value.upper() if value is not None else None


def page(items: list[T], limit: int) -> tuple[list[T], T | None]:
    """Split a ``limit + 1`` fetch into the page and the last item of it when there is a next page."""
    if len(items) > limit:
        return items[:limit], items[limit - 1]
    return items, None
