"""A ``COMMIT`` the server takes and never answers, on the test's real server: the client's connection is lost at
its ``COMMIT`` after the transaction committed.

A journal verification's record (``journal.verified``) turns ``synchronous_commit`` on for its own transaction (a
trigger, in the test's database only: the cluster runs with it off); with ``synchronous_standby_names`` naming a
standby that never comes, its ``COMMIT`` is written and then waits for the standby's acknowledgement. Terminating the
backend then ends the wait: the server keeps the commit ("The transaction has already committed locally") and the
client's connection is lost under its ``COMMIT``, with no answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from firearms import db

__all__ = ["HOLD_VERIFICATION_COMMIT", "standby_awaited", "terminate_held_commit"]

HOLD_VERIFICATION_COMMIT = """
CREATE FUNCTION test_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);  -- the transaction's COMMIT waits for the standby
    RETURN NULL;
END $$;
CREATE TRIGGER test_hold_commit AFTER INSERT ON journal_entry
    FOR EACH ROW WHEN (NEW.action = 'journal.verified') EXECUTE FUNCTION test_hold_commit();
"""
"""SQL (as the owner) that makes a ``journal.verified`` entry's transaction wait, at its ``COMMIT``, for a standby."""

STANDBY = "test_standby_that_never_comes"


@contextlib.asynccontextmanager
async def standby_awaited(admin: db.Conn) -> AsyncIterator[None]:
    """For the block, a synchronous commit waits for a standby that never comes (the test cluster's own setting)."""
    await admin.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY}'")
    await admin.execute("SELECT pg_reload_conf()")
    try:
        deadline = time.monotonic() + 10
        while await admin.fetchval("SELECT current_setting('synchronous_standby_names')") != STANDBY:
            assert time.monotonic() < deadline, "the server never took synchronous_standby_names"
            await asyncio.sleep(0.02)
        yield
    finally:
        await admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
        await admin.execute("SELECT pg_reload_conf()")


async def terminate_held_commit(admin: db.Conn, database: str, done: asyncio.Future[Any]) -> None:
    """Wait for a ``COMMIT`` of ``database`` held for the standby, and terminate its backend."""
    deadline = time.monotonic() + 60
    while True:
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'SyncRep'", database
        )
        if pid is not None:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            return
        assert not done.done(), "the command ended without its COMMIT waiting for the standby"
        assert time.monotonic() < deadline, "no COMMIT waited for the standby"
        await asyncio.sleep(0.02)
