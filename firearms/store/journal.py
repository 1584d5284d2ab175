"""Store functions for the journal tables (sql/queries/journal.sql)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms.db import QUERIES as Q

if TYPE_CHECKING:
    import datetime as dt

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "count_pending_entries",
    "first_unlinked_entry",
    "get_journal_checkpoint",
    "get_journal_entry",
    "get_journal_head",
    "get_journal_link",
    "get_link_outside_chain",
    "insert_journal_checkpoint",
    "insert_journal_entry",
    "insert_journal_links",
    "last_checkpoint_seq",
    "last_checkpoint_seq_upto",
    "last_verified_seq",
    "list_journal_chain",
    "list_journal_checkpoints",
    "list_journal_entries",
    "list_journal_entries_of_action",
    "list_refused_entries",
    "record_journal_verification",
    "take_pending_entries",
    "try_lock_sealer",
]


async def insert_journal_entry(
    conn: Conn, recorded_at: dt.datetime, actor: str, action: str, entity: str, entity_id: str, payload: Any
) -> int:
    """Append one entry and queue it for sealing; return its ``entry_id``."""
    entry_id: int = await conn.fetchval(
        Q["insert_journal_entry"], recorded_at, actor, action, entity, entity_id, payload
    )
    return entry_id


async def record_journal_verification(
    conn: Conn,
    recorded_at: dt.datetime,
    actor: str,
    head_seq: int,
    since_checkpoint: int | None,
    entries: int,
    checkpoints: int,
) -> int:
    """Journal a verification's record (``journal.verified``) and queue it; return its ``entry_id``.

    Raises:
        asyncpg.InvalidParameterValueError: the record does not fit the chain (no walk could have produced it).
    """
    entry_id: int = await conn.fetchval(
        Q["record_journal_verification"], recorded_at, actor, head_seq, since_checkpoint, entries, checkpoints
    )
    return entry_id


async def try_lock_sealer(conn: Conn) -> bool:
    """Take the transaction-scoped sealer lock if free."""
    return bool(await conn.fetchval(Q["try_lock_sealer"]))


async def get_journal_head(conn: Conn) -> asyncpg.Record | None:
    """The last link (``seq``, ``hash``), or ``None`` for an empty chain."""
    return await conn.fetchrow(Q["get_journal_head"])


async def get_journal_entry(conn: Conn, entry_id: int) -> asyncpg.Record | None:
    """One entry by its id (its contents, as the sealer hashes them)."""
    return await conn.fetchrow(Q["get_journal_entry"], entry_id)


async def get_journal_link(conn: Conn, seq: int) -> asyncpg.Record | None:
    """The link (``seq``, ``hash``) at chain position ``seq``, if any."""
    return await conn.fetchrow(Q["get_journal_link"], seq)


async def get_link_outside_chain(conn: Conn) -> asyncpg.Record | None:
    """The lowest link (``seq``, ``entry_id``) at a position below 1, which no walk of the chain reaches, if any."""
    return await conn.fetchrow(Q["get_link_outside_chain"])


async def take_pending_entries(conn: Conn, limit: int, keep: list[int]) -> list[asyncpg.Record]:
    """Remove up to ``limit`` entries from the sealer's queue, none of ``keep``, and return their contents."""
    return await conn.fetch(Q["take_pending_entries"], limit, keep)


async def list_refused_entries(
    conn: Conn, entry_ids: list[int], prev_hashes: list[bytes], hashes: list[bytes], aside: list[int]
) -> set[int]:
    """The entries of a batch whose link the database refuses, or whose setting aside it refuses."""
    rows = await conn.fetch(Q["list_refused_entries"], entry_ids, prev_hashes, hashes, aside)
    return {row["entry_id"] for row in rows}


async def insert_journal_links(
    conn: Conn,
    seqs: list[int],
    entry_ids: list[int],
    prev_hashes: list[bytes],
    hashes: list[bytes],
    sealed_at: dt.datetime,
) -> None:
    """Append links for sealed entries."""
    await conn.execute(Q["insert_journal_links"], seqs, entry_ids, prev_hashes, hashes, sealed_at)


async def list_journal_chain(conn: Conn, after: int, until: int, limit: int) -> list[asyncpg.Record]:
    """Up to ``limit`` links after chain position ``after`` and up to ``until``, in ``seq`` order, with each entry."""
    return await conn.fetch(Q["list_journal_chain"], after, until, limit)


async def first_unlinked_entry(conn: Conn, entry_id: int = 0) -> int | None:
    """The first entry from ``entry_id`` on (0: any) that is neither linked nor queued, if any."""
    found: int | None = await conn.fetchval(Q["first_unlinked_entry"], entry_id)
    return found


async def count_pending_entries(conn: Conn) -> int:
    """How many entries wait for the sealer."""
    count: int = await conn.fetchval(Q["count_pending_entries"])
    return count


async def insert_journal_checkpoint(
    conn: Conn, seq: int, head_hash: bytes, signed_at: dt.datetime, key_id: str, signature: bytes
) -> bool:
    """Store a checkpoint; ``False`` when one already exists at ``seq``."""
    return await conn.fetchval(Q["insert_journal_checkpoint"], seq, head_hash, signed_at, key_id, signature) is not None


async def get_journal_checkpoint(conn: Conn, seq: int) -> asyncpg.Record | None:
    """The checkpoint stored at ``seq``, if any."""
    return await conn.fetchrow(Q["get_journal_checkpoint"], seq)


async def list_journal_checkpoints(conn: Conn, after: int, until: int) -> list[asyncpg.Record]:
    """The checkpoints after chain position ``after`` and up to ``until``, with the public key that signed each."""
    return await conn.fetch(Q["list_journal_checkpoints"], after, until)


async def last_checkpoint_seq(conn: Conn) -> int | None:
    """The chain position of the latest checkpoint, or ``None`` before the first."""
    seq: int | None = await conn.fetchval(Q["last_checkpoint_seq"])
    return seq


async def last_checkpoint_seq_upto(conn: Conn, until: int) -> int | None:
    """The chain position of the latest checkpoint at or before ``until``, if any."""
    seq: int | None = await conn.fetchval(Q["last_checkpoint_seq_upto"], until)
    return seq


async def last_verified_seq(conn: Conn, until: int, action: str) -> int | None:
    """How far the latest verification recorded (as ``action``) among the entries linked up to ``until`` reached.

    ``None`` when none is recorded, and when the latest one's ``head_seq`` is not a chain position (an entry
    appended behind the application's back): no start is taken from it.
    """
    seq: Any = await conn.fetchval(Q["last_verified_seq"], until, action)
    if isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq <= until:
        return seq
    return None


async def list_journal_entries(
    conn: Conn, after: int, entity: str | None, entity_id: str | None, limit: int
) -> list[asyncpg.Record]:
    """A page of linked entries after chain position ``after``, in chain order, optionally for one entity."""
    return await conn.fetch(Q["list_journal_entries"], after, entity, entity_id, limit)


async def list_journal_entries_of_action(
    conn: Conn, after: int, action: str, entity: str | None, entity_id: str | None, limit: int
) -> list[asyncpg.Record]:
    """:func:`list_journal_entries` of one action (an auditor's ``?action=licence.revoked``)."""
    return await conn.fetch(Q["list_journal_entries_of_action"], after, action, entity, entity_id, limit)
