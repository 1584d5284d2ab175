"""uvicorn's httptools protocol with bounds on a request's head (its request line and headers): size and time.

uvicorn's h11 protocol refuses a head past ``h11_max_incomplete_event_size``; its httptools one, which
``serve`` runs (it costs a fraction of h11's CPU a request), has no bound at all: a client could make the
server hold, and parse header by header, as many bytes as it sends before the blank line. Nor does uvicorn
time a head: a connection that sends nothing, or a header byte now and then (slowloris), is held for ever.
The body has its own limit (``Settings.max_body_bytes``, a 413 from the app).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.middleware import EVERY_ANSWER
from api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, TITLES

__all__ = ["HEAD_LIMIT", "HEAD_TIMEOUT", "BoundedHttpToolsProtocol"]

HEAD_LIMIT = 65_536
"""The most bytes of one request's line and headers (nginx takes 8 KiB a line, Node.js 16 KiB in all)."""

HEAD_TIMEOUT = 30.0
"""The most seconds from a connection's start, or a head's first byte, to the end of that head (nginx: 60)."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """The httptools protocol, refusing a head too large (431) or too slow (408) with a problem, and closing.

    A request its parser cannot read is the ``invalid-request`` problem too (400), not uvicorn's text.

    Too large: past :data:`HEAD_LIMIT` bytes; too slow: not whole within :data:`HEAD_TIMEOUT` seconds.

    Bytes are counted as they arrive while a head is being read (from the start of the connection, or
    the end of the previous request, to the end of this one's headers): a head may pass the limit by at
    most the read that crossed it before it is refused. The clock runs from the connection's start and
    from the first byte of each later head; between requests uvicorn's keep-alive timeout applies.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As uvicorn builds its protocol; a connection starts with a head to read."""
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0
        self._heads_read = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock of the first head."""
        super().connection_made(transport)
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Count the bytes of a head being read; refuse one past the limit before the parser holds it.

        One read may hold the end of a head and the body after it (a POST written in one piece): the bytes within
        the limit go to the parser first, and only if the head is still not whole with them is it too large. Before,
        the whole read counted, and a small head with more than the limit of body in the same read was a 431.
        """
        if self._reading_head:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_too_slow)
            self._head_bytes += len(data)
            if self._head_bytes > HEAD_LIMIT:
                within = len(data) - (self._head_bytes - HEAD_LIMIT)
                heads = self._heads_read
                super().data_received(data[:within])
                if self.transport.is_closing():
                    return
                if self._heads_read == heads:
                    self._refuse(431, "headers-too-large", f"the request line and headers exceed {HEAD_LIMIT} bytes")
                    return
                # the head ended within the limit: the rest is its body, and perhaps the next request's head
                self.data_received(data[within:])
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        """The head is whole: what follows is the body, under the app's own limit."""
        self._reading_head = False
        self._head_bytes = 0
        self._heads_read += 1
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is whole: what follows is the next request's head."""
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def send_400_response(self, msg: str) -> None:
        """The answer to a request that is no HTTP/1.1 (uvicorn's parser failed): the ``invalid-request`` problem.

        uvicorn wrote it as text, without the headers every other answer carries (README "Security"); ``msg`` is
        uvicorn's own words ("Invalid HTTP request received."), never the bytes received.
        """
        self._refuse(400, "invalid-request", msg)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._reading_head and not self.transport.is_closing():
            self._refuse(
                408, "request-timeout", f"the request line and headers did not arrive within {HEAD_TIMEOUT:g} s"
            )

    def _refuse(self, status: int, code: str, detail: str) -> None:
        self._stop_head_timer()
        body = msgspec.json.encode(
            {"type": PROBLEM_BASE + code, "title": TITLES[code], "status": status, "detail": detail}
        )
        head = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        # the app's answers get these from its middleware, which a refused head never reaches (README "Security")
        head += [name + b": " + value + b"\r\n" for name, value in EVERY_ANSWER]
        head += [
            b"content-type: " + PROBLEM_MEDIA_TYPE.encode("ascii") + b"\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
