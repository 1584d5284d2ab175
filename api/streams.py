"""A streamed answer that a client stops reading gives its database connection back (README "Security")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable

__all__ = ["STALL", "StalledClientError", "bounded"]

log = logging.getLogger("firearms.api")

STALL = 60.0
"""Seconds a streamed answer waits for its client to take the next chunk before it ends."""


class StalledClientError(Exception):
    """The client took no chunk of a streamed answer for :data:`STALL` seconds: the answer ends, cut short."""


def bounded(chunks: AsyncGenerator[bytes, None], *, done: Callable[[], None] | None = None) -> AsyncIterator[bytes]:
    """``chunks`` handed to the client, the reading of them ended when the client stops taking them.

    An export reads the registry through one connection of the long jobs' pool in one snapshot, as fast as the
    client takes it in: a client that stopped reading (a zero receive window, a socket kept open) held both as
    long as it liked, and four such requests of a verifier left no connection for an import, a journal verification
    or a checkpoint of the process. Here the chunks are read one ahead, in a task of their own started now: a chunk
    the client has not taken within :data:`STALL` seconds ends that task and closes ``chunks`` (its transaction
    rolled back, its connection released), and the answer ends cut short once the client reads again (the chunked
    answer's end never comes: a client sees a broken transfer, never a file that looks whole). A client that goes
    away stops the reading at once. ``done`` is called once the reading ended, however it did (an answer never
    sent too: its first chunk is not taken either).

    Raises:
        StalledClientError: the client took no chunk for :data:`STALL` seconds (raised once it takes one again).
    """
    stall = STALL
    handed: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1)
    stalled: list[bool] = []

    async def read() -> None:
        try:
            async for chunk in chunks:
                try:
                    await asyncio.wait_for(handed.put(chunk), stall)
                except TimeoutError:
                    log.warning("a streamed answer's client took nothing for %g s: the answer ends", stall)
                    stalled.append(True)
                    return
        finally:
            try:
                await chunks.aclose()  # the export's transaction and connection, now
            finally:
                if done is not None:
                    done()

    reading = asyncio.create_task(read())
    # an answer never sent never looks at its reading: its error (the database's) is the log's, not asyncio's warning
    reading.add_done_callback(lambda task: None if task.cancelled() else task.exception())

    async def hand() -> AsyncIterator[bytes]:
        try:
            while True:
                taking = asyncio.create_task(handed.get())
                await asyncio.wait({taking, reading}, return_when=asyncio.FIRST_COMPLETED)
                if taking.done():
                    yield taking.result()
                    continue
                taking.cancel()
                if not handed.empty():
                    yield handed.get_nowait()
                reading.result()  # the reading's error (the database), else the end
                if stalled:
                    raise StalledClientError(f"the client took nothing for {stall:g} s")
                return
        finally:
            if not reading.done():  # the client went away: stop reading now
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading

    return hand()
