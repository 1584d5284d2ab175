"""Reading licences: a licence, its versions and its status history (Art. 10; DESIGN §3, §8).

Nothing here changes a status or writes the journal. The row helpers (:func:`licence_row`,
:func:`current_version`) are what the life cycle (:mod:`firearms.licences`) and the drafts and
amendments (:mod:`firearms.licence_versions`) read first; ``licence_row(..., lock=True)`` is the one
read that locks (the licence row, ``FOR UPDATE``, for the change that follows in the caller's transaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.errors import NotFoundError
from firearms.licence_views import Licence, LicenceEvent, LicenceVersion, licence_view, version_view
from firearms.store import licences as store

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "current_version",
    "find_licence",
    "get_licence",
    "get_version",
    "licence_row",
    "list_events",
    "list_licences",
    "list_versions",
]


async def licence_row(conn: Conn, licence_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record:
    """The licence row (locked ``FOR UPDATE`` when ``lock``: a status change or an amendment reads it so).

    Raises:
        NotFoundError: no such licence.
    """
    row = await (store.get_licence_for_update if lock else store.get_licence)(conn, licence_id)
    if row is None:
        raise NotFoundError(f"no licence {licence_id}", licence_id=str(licence_id))
    return row


async def current_version(conn: Conn, row: asyncpg.Record) -> asyncpg.Record:
    """The ``licence_version`` row the licence row points at (its current version)."""
    version = await store.get_licence_version(conn, row["licence_id"], row["version"])
    assert version is not None  # noqa: S101  # the licence row points at an existing version
    return version


async def get_licence(conn: Conn, licence_id: uuid.UUID) -> Licence:
    """A licence with its current version.

    Raises:
        NotFoundError: no such licence.
    """
    row = await licence_row(conn, licence_id)
    return licence_view(row, await current_version(conn, row))


async def find_licence(conn: Conn, issuing_state: str, number: str) -> Licence:
    """A licence by (issuing State, number).

    Raises:
        NotFoundError: no such licence.
    """
    row = await store.find_licence(conn, issuing_state, number)
    if row is None:
        raise NotFoundError(f"no licence {number} of {issuing_state}", number=number, issuing_state=issuing_state)
    return licence_view(row, await current_version(conn, row))


async def list_licences(
    conn: Conn, *, after: tuple[dt.datetime, uuid.UUID] | None, status: str | None, kind: str | None, limit: int
) -> list[Licence]:
    """A page of licences in creation order."""
    rows = await store.list_licences(conn, after, status, kind, limit)
    return [licence_view(row, await current_version(conn, row)) for row in rows]


async def get_version(conn: Conn, licence_id: uuid.UUID, version: int) -> LicenceVersion:
    """One version of a licence (old versions stay readable).

    Raises:
        NotFoundError: no such licence or version.
    """
    row = await licence_row(conn, licence_id)
    found = await store.get_licence_version(conn, licence_id, version)
    if found is None:
        raise NotFoundError(f"licence {row['number']} has no version {version}", version=version)
    return version_view(row, found)


async def list_versions(conn: Conn, licence_id: uuid.UUID, *, after: int, limit: int) -> list[LicenceVersion]:
    """A page of a licence's versions, oldest first."""
    row = await licence_row(conn, licence_id)
    return [version_view(row, version) for version in await store.list_licence_versions(conn, licence_id, after, limit)]


async def list_events(conn: Conn, licence_id: uuid.UUID, *, after: int, limit: int) -> list[LicenceEvent]:
    """A page of a licence's status history, oldest first."""
    await licence_row(conn, licence_id)
    return [
        LicenceEvent(
            licence_event_id=event["licence_event_id"],
            version=event["version"],
            from_status=event["from_status"],
            to_status=event["to_status"],
            reason=event["reason"],
            actor=event["actor"],
            occurred_at=event["occurred_at"],
        )
        for event in await store.list_licence_events(conn, licence_id, after, limit)
    ]
