"""Request logging with a request id (accepted from ``X-Request-Id`` when sane, else generated).

The access lines go to standard error in batches written from the event loop
(:class:`BatchedStreamHandler`), not through Litestar's queue listener thread: handing every line to
another thread cost a fifth of a received notice's CPU in the exchange bench.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import time
import uuid
from typing import TextIO

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from firearms.text_rules import printable

__all__ = ["ACCESS_FORMAT", "EVERY_ANSWER", "BatchedStreamHandler", "RequestIdMiddleware", "install_access_log"]

log = logging.getLogger("firearms.access")
ACCESS_FORMAT = "%(levelname)s - %(asctime)s - %(name)s - %(module)s - %(message)s"  # as Litestar's other lines
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")


_NOSNIFF = (b"x-content-type-options", b"nosniff")
# Every answer is JSON but the printable documents, which send their own policy: opened as a page (a problem that
# quotes the caller, the OpenAPI document at /schema), it runs nothing, loads nothing and no site may frame it.
_CSP = (b"content-security-policy", b"default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
EVERY_ANSWER = (_NOSNIFF, _CSP)
"""The headers of an answer that sets neither: also those of the 408 and 431 ``api.server`` writes without the app."""
# An officer's answer may hold a new token's secret or a person's name and address: no browser or proxy keeps it.
_NO_STORE = (b"cache-control", b"no-store")
_OFFICER_API = "/api/v1/"


class RequestIdMiddleware:
    """Give every request an id, echo it in ``X-Request-Id`` and log one line when it ends.

    It also adds, to every response, ``X-Content-Type-Options: nosniff`` (a problem may quote what the caller
    sent: it stays JSON, never read as a page), a ``Content-Security-Policy`` under which nothing runs or loads
    unless the answer sets its own (the printable documents do) and, to every answer under ``/api/v1`` that sets no
    ``Cache-Control`` of its own, ``Cache-Control: no-store`` (README "Security"): here because this is the
    one place that sees every response, the router's own 404 and 405 and the guard's 401 included.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Tag the request, pass it on, log it."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        http: HTTPScope = scope
        given = next((value.decode("latin-1") for name, value in scope["headers"] if name == b"x-request-id"), "")
        request_id = given if _SANE.fullmatch(given) else uuid.uuid4().hex  # not match: "$" passes a final "\n"
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        header = (b"x-request-id", request_id.encode("latin-1"))
        officer = scope["path"].startswith(_OFFICER_API)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                added = [header]
                if b"x-content-type-options" not in names:
                    added.append(_NOSNIFF)
                if b"content-security-policy" not in names:
                    added.append(_CSP)
                if officer and b"cache-control" not in names:
                    added.append(_NO_STORE)
                message["headers"] = [*headers, *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "%s %s %s %.1fms id=%s",
                printable(http["method"]),
                printable(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
                request_id,
            )


class BatchedStreamHandler(logging.Handler):
    """Writes records to a stream in batches: those logged within ``delay`` seconds go out in one write.

    Meant for the event loop's own lines (one a request): each is formatted when logged, and the first
    of a batch schedules the write on the running loop -- no thread hand-off a line, no write a line.
    A record logged where no loop runs is written at once; :meth:`close` (at exit) writes what waits.
    """

    def __init__(self, stream: TextIO | None = None, delay: float = 0.05) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self.delay = delay
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the formatted line; schedule the batch's write if it is the first."""
        try:
            self._lines.append(self.format(record))
            if self._timer is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # not on a loop: nothing would flush later
                    self.flush()
                    return
                self._timer = loop.call_later(self.delay, self._write_batch)
        except Exception:  # noqa: BLE001  # logging must never break the request
            self.handleError(record)

    def _write_batch(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write every waiting line now."""
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            lines, self._lines = self._lines, []
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Write what waits, then close."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
        super().close()


def install_access_log() -> None:
    """Send ``firearms.access`` to standard error in batches, not through the root logger's queue (once)."""
    if any(isinstance(handler, BatchedStreamHandler) for handler in log.handlers):
        return
    handler = BatchedStreamHandler()
    handler.setFormatter(logging.Formatter(ACCESS_FORMAT))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
