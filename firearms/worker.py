"""The worker: periodic jobs that run beside the API (``serve``) or alone (``firearms worker``).

Each pass: seal the journal; sign a checkpoint every ``checkpoint_interval`` seconds; run the licence
timers (expiry, deemed transit consent) every ``licence_timer_interval`` seconds; deliver the outbox
(:mod:`firearms.exchange.delivery`) until nothing is due; switch to a new signing key once every
partner has its announcement (:mod:`firearms.exchange.rotation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from firearms import journal
from firearms.exchange import delivery, rotation
from firearms.licence_timers import run_licence_timers

if TYPE_CHECKING:
    from firearms.db import Pool
    from firearms.settings import Settings

__all__ = ["run_worker"]

log = logging.getLogger("firearms.worker")


async def run_worker(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Run the periodic jobs until ``stop`` is set; an error in one pass is logged and retried."""
    next_checkpoint = time.monotonic() + settings.checkpoint_interval
    next_licence_timers = time.monotonic()
    worker_id = delivery.new_worker_id()
    async with delivery.new_client(settings) as client:
        while not stop.is_set():
            try:
                async with pool.acquire() as conn:
                    await journal.seal(conn)
                    if time.monotonic() >= next_checkpoint:
                        await journal.checkpoint(conn, state=settings.state, home=settings.home)
                        next_checkpoint = time.monotonic() + settings.checkpoint_interval
                    if time.monotonic() >= next_licence_timers:
                        await run_licence_timers(conn, settings)
                        next_licence_timers = time.monotonic() + settings.licence_timer_interval
            except Exception:  # the worker must outlive a database restart
                log.exception("worker pass failed; retrying")
            try:
                await delivery.deliver_due(pool, settings, client, worker_id)
                async with pool.acquire() as conn:
                    await rotation.switch_announced_keys(conn)
            except Exception:  # a partner's fault must not stop the journal
                log.exception("outbox pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.seal_interval)
