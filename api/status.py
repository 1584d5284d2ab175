"""``GET /api/v1/status``: the operator's overview (README "Status")."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from api.deps import PoolDep, SettingsDep, connection
from firearms import db, status
from firearms.status import Status

__all__ = ["read_status"]


@get("/status", opt={"roles": ("admin", "auditor")}, summary="The registry's health in one read")
async def read_status(request: Request[Any, Any, Any], pool: PoolDep, settings: SettingsDep) -> Status:
    """Partners' queues, the journal, the keys, work waiting for officers and the service, with what needs attention.

    Counts, dates and identifiers only (no name, no serial): not a read of personal data, so not journaled; nothing
    is written (the journal is not even sealed). ``attention`` lists what crossed a threshold (README "Status"). The
    reasons name the home ``FIREARMS_HOME`` (its keys folder, a failed restore's note) and a failed restore's archive
    by its file name, never a path on the server.

    Its parts are read in one ``REPEATABLE READ READ ONLY`` transaction, as ``firearms status`` reads them: one
    snapshot, not the request's read-committed transaction, where a commit between two parts was in the later ones
    only. A connection of the API's pool, with the request's bounds.
    """
    async with connection(pool, request) as conn, db.transaction(conn, isolation="repeatable_read", readonly=True):
        return await status.read_status(conn, settings, home_words=status.HOME_WORDS)
