"""The licence timers the worker runs: expiry (DESIGN §3) and deemed transit consent (Reg. 258/2012 Art. 7(2))."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms import clock, consents, licences
from firearms.exchange import consents as received_consents

if TYPE_CHECKING:
    import datetime as dt

    from firearms.db import Conn
    from firearms.settings import Settings

__all__ = ["run_licence_timers"]


async def run_licence_timers(conn: Conn, settings: Settings, *, today: dt.date | None = None) -> tuple[int, int]:
    """One pass: expire licences past their last day, then deem silent transit States to consent.

    Deemed consent both ways: the transit States that left this State's requests unanswered, and this
    State itself for the requests it received and left unanswered (its own customs then accept the licence).
    ``today`` defaults to the date in the registry's time zone. Each step runs in its own transaction.
    Returns ``(expired, deemed)``.
    """
    day = today or clock.today(settings.time_zone)
    async with conn.transaction():
        expired = await licences.expire_due(conn, today=day, time_zone=settings.time_zone)
    async with conn.transaction():
        deemed = await consents.deem_silent(conn, settings=settings, today=day)
    async with conn.transaction():
        deemed += await received_consents.deem_silent(conn, settings=settings, today=day)
    return expired, deemed
