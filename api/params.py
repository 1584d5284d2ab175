"""Shared handler parameter types: pagination on every list."""

from __future__ import annotations

from typing import Annotated, TypeAlias, TypeVar

from litestar.params import PathParameter, QueryParameter

from firearms.pagination import BIGINT_MAX, INTEGER_MAX, MAX_LIMIT
from firearms.text_rules import STATE_CODE_PATTERN

__all__ = ["AfterQuery", "ItemIdPath", "LicenceNumberQuery", "LimitQuery", "StateQuery", "VersionPath", "page"]

# An empty cursor ("?after=") is a client that lost its cursor (a walk building its URL from a "next" it did not
# read): answered as the first page, the walk restarted silently. Absent is the first page; empty is refused.
AfterQuery: TypeAlias = Annotated[
    str | None, QueryParameter(description="cursor from the previous page's 'next'", min_length=1, max_length=512)
]
LimitQuery: TypeAlias = Annotated[int, QueryParameter(description="items per page", ge=1, le=MAX_LIMIT)]
# A State and a licence number given in the query (a number may hold a "/", which a path segment cannot).
StateQuery: TypeAlias = Annotated[str, QueryParameter(pattern=STATE_CODE_PATTERN)]
LicenceNumberQuery: TypeAlias = Annotated[str, QueryParameter(min_length=1, max_length=64)]
# Path integers within their columns (bigint item_id, integer version): a larger one is a 400, not a 500.
ItemIdPath: TypeAlias = Annotated[int, PathParameter(description="item id", ge=1, le=BIGINT_MAX)]
VersionPath: TypeAlias = Annotated[int, PathParameter(description="version number", ge=1, le=INTEGER_MAX)]


T = TypeVar("T")


def page(items: list[T], limit: int) -> tuple[list[T], T | None]:
    """Split a ``limit + 1`` fetch into the page and the last item of it when there is a next page."""
    if len(items) > limit:
        return items[:limit], items[limit - 1]
    return items, None
