"""The worker: periodic jobs that run beside the API (``serve``) or alone (``firearms worker``).

Three loops side by side, so that none waits for another's waits. The journal's, every ``seal_interval``
seconds: seal the journal; sign a checkpoint every ``checkpoint_interval`` seconds. The licence timers', every
``licence_timer_interval`` seconds: expiry, deemed transit consent (they wait for a licence row another
transaction holds). The outbox's, every ``seal_interval`` seconds: deliver the outbox
(:mod:`firearms.exchange.delivery`) until nothing is due (it waits on partners: a slow one, one that answers
nothing until the exchange timeout; a run lasts up to half a lease); switch to a new signing key once every
partner has its announcement (:mod:`firearms.exchange.rotation`). In one loop, an entry stayed unsealed for as long
as a delivery or a timer waited, not the half second README "The journal" promises (DESIGN §6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from firearms import db, embedded, journal
from firearms.errors import ConfigError
from firearms.exchange import delivery, rotation
from firearms.licence_timers import run_licence_timers
from firearms.text_rules import printable

if TYPE_CHECKING:
    from firearms.db import Pool
    from firearms.settings import Settings

__all__ = ["POOL_SIZE", "REVIVE_INTERVAL", "run_worker"]

POOL_SIZE = 4  # connections of the worker's own pool (firearms worker, serve's supervisor or its one process)

log = logging.getLogger("firearms.worker")


class _Outage:
    """Whether the database answered the worker's last pass: an outage is told once, not with a traceback a pass.

    A pass that fails is put down to the database when its exception is a connection refused, lost or closed by a
    shutdown, or when a probe of the database fails too: one warning line when the
    outage begins and one when the database answers again. A pass that fails while the database answers is an
    error of its own, logged with its traceback every time, as before.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.interval = settings.seal_interval
        self.down = False
        self.next_revival = 0.0
        self.refused: dict[str, db.WriteRefusal] = {}  # loop -> why its last pass's write was refused

    async def failed(self, pool: Pool, what: str, exc: Exception) -> None:
        if (why := db.write_refused(exc)) is not None:
            self._refused(what, why, exc)
            return
        # the exception tells when the probe cannot: a pass that failed as the server went down, probed once it
        # was back up
        if db.connection_lost(exc) or not await db.answers(pool, _PROBE_TIMEOUT):
            if not self.down:
                log.warning(
                    "the database does not answer (%s: %s); the worker tries again every %g s",
                    type(exc).__name__,
                    printable(str(exc)),
                    self.interval,
                )
            self.down = True
            await self._revive()
            return
        self.passed()
        log.error("%s failed; retrying", what, exc_info=exc)

    async def _revive(self) -> None:
        """The embedded server this process joined is started again if its postmaster is gone (every few seconds).

        Only with no ``FIREARMS_DATABASE_URL``: an external server is its operator's to restart.
        """
        if self.settings.database_url is not None or time.monotonic() < self.next_revival:
            return
        self.next_revival = time.monotonic() + REVIVE_INTERVAL
        try:
            started = await asyncio.to_thread(embedded.revive_embedded, self.settings.home)
        except ConfigError as exc:
            log.warning("%s; the worker tries again in %g s", exc.detail, REVIVE_INTERVAL)
            return
        if started:
            log.warning("the embedded PostgreSQL was not running: the worker started it again")

    def _refused(self, what: str, why: db.WriteRefusal, exc: Exception) -> None:
        """The database answers but takes no write here (``firearms.db.write_refused``): one line when it begins.

        A hot standby, ``default_transaction_read_only``, a full disk, a right revoked: every pass of every loop is
        refused until it passes, and a traceback each (three loops, every ``seal_interval``) filled the log.
        """
        if self.down:
            log.warning("the database answers again")
            self.down = False
        if why not in self.refused.values():
            log.warning(
                "the database takes no write here (%s: %s: %s); the worker tries again every %g s",
                why,
                type(exc).__name__,
                printable(db.first_line(exc)),
                self.interval,
            )
        self.refused[what] = why

    def passed(self, what: str = "worker pass") -> None:
        if self.down:
            log.warning("the database answers again; the worker resumes")
        self.down = False
        # a loop's pass that wrote nothing may pass while the others' are refused: the refusals end with the last
        if self.refused.pop(what, None) is not None and not self.refused:
            log.warning("the database takes writes again; the worker resumes")


_PROBE_TIMEOUT = 5.0
REVIVE_INTERVAL = 10.0  # seconds between two attempts to start the embedded server again


async def run_worker(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Run the periodic jobs until ``stop`` is set; an error in one pass is logged and retried.

    The journal's, the licence timers' and the outbox's loops run side by side (DESIGN §6: the sealer waits on
    nothing but its own statements).
    """
    outage = _Outage(settings)
    await asyncio.gather(
        _journal_loop(pool, settings, stop, outage),
        _licence_timer_loop(pool, settings, stop, outage),
        _outbox_loop(pool, settings, stop, outage),
    )


async def _journal_loop(pool: Pool, settings: Settings, stop: asyncio.Event, outage: _Outage) -> None:
    """Seal every pass; sign a checkpoint when one is due."""
    next_checkpoint = time.monotonic() + settings.checkpoint_interval
    while not stop.is_set():
        try:
            async with pool.acquire() as conn:
                await journal.seal(conn)
                if time.monotonic() >= next_checkpoint:
                    await journal.checkpoint(conn, state=settings.state, home=settings.home)
                    next_checkpoint = time.monotonic() + settings.checkpoint_interval
        except Exception as exc:  # the worker must outlive a database restart  # noqa: BLE001
            await outage.failed(pool, "worker pass", exc)
        else:
            outage.passed()
        await _pause(stop, settings.seal_interval)


async def _licence_timer_loop(pool: Pool, settings: Settings, stop: asyncio.Event, outage: _Outage) -> None:
    """Expire licences past their last day and deem silent transit States to consent; a failed pass is retried soon."""
    while not stop.is_set():
        wait = settings.licence_timer_interval
        try:
            async with pool.acquire() as conn:
                await run_licence_timers(conn, settings)
        except Exception as exc:  # noqa: BLE001  # as the journal's loop
            await outage.failed(pool, "licence timers", exc)
            wait = settings.seal_interval
        else:
            outage.passed("licence timers")
        await _pause(stop, wait)


async def _outbox_loop(pool: Pool, settings: Settings, stop: asyncio.Event, outage: _Outage) -> None:
    """Deliver what is due, then switch to an announced key once every partner has it; partners are waited on."""
    worker_id = delivery.new_worker_id()
    async with delivery.new_client(settings) as client:
        while not stop.is_set():
            try:
                await delivery.deliver_due(pool, settings, client, worker_id)
                async with pool.acquire() as conn:
                    await rotation.switch_announced_keys(conn)
            except Exception as exc:  # a partner's fault must not stop the journal  # noqa: BLE001
                await outage.failed(pool, "outbox pass", exc)
            else:
                outage.passed("outbox pass")
            await _pause(stop, settings.seal_interval)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
