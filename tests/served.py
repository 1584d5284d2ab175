"""Test helpers: the app under uvicorn on a loopback port, in the test's loop; a logger's records kept."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn

from api import create_app
from firearms.settings import Settings
from tests.e2e.registries import wait_for

__all__ = ["Kept", "kept_log", "served"]


@contextlib.asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[int]:
    """The app under uvicorn on a loopback port of its own, in this loop; the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:

        async def started() -> bool:
            return server.started

        await wait_for(started, "uvicorn listening")
        yield port
    finally:
        server.should_exit = True
        await serving


class Kept(logging.Handler):
    """A logger's records, kept on the logger itself: the app's logging configuration replaces the root's handlers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def kept_log(name: str, level: int) -> Iterator[Kept]:
    """The records of logger ``name`` at ``level`` and above while the block runs."""
    logger = logging.getLogger(name)
    kept = Kept()
    before = logger.level
    logger.addHandler(kept)
    logger.setLevel(level)
    try:
        yield kept
    finally:
        logger.removeHandler(kept)
        logger.setLevel(before)
