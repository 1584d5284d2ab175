"""What changes when the registry stores anything: the bad-input sweeps assert that it did not."""

from __future__ import annotations

import asyncio
from typing import Any

from firearms import db

__all__ = ["CHANGES", "changes", "changes_at"]

# Every change is journaled in its transaction (firearms/journal.py); notices go through the outbox and the
# inbox; keys, checkpoints and token revocations have tables of their own.
CHANGES = """
SELECT (SELECT count(*) FROM journal_entry), (SELECT count(*) FROM notice_outbox),
       (SELECT count(*) FROM notice_inbox), (SELECT count(*) FROM registry_key),
       (SELECT count(*) FROM pending_registry_key), (SELECT count(*) FROM journal_checkpoint),
       (SELECT count(*) FROM officer_token WHERE revoked_at IS NOT NULL)
"""


async def changes(conn: db.Conn) -> tuple[Any, ...]:
    """The counts of :data:`CHANGES`."""
    row = await conn.fetchrow(CHANGES)
    assert row is not None
    return tuple(row)


def changes_at(url: str) -> tuple[Any, ...]:
    """:func:`changes` of the database at ``url``, from synchronous code (a CLI test around click's runner)."""

    async def read() -> tuple[Any, ...]:
        conn = await db.connect(url)
        try:
            return await changes(conn)
        finally:
            await conn.close()

    return asyncio.run(read())
