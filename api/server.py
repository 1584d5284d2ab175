"""uvicorn's httptools protocol with a bound on a request's head (its request line and headers).

uvicorn's h11 protocol refuses a head past ``h11_max_incomplete_event_size``; its httptools one, which
``serve`` runs (it costs a fraction of h11's CPU a request), has no bound at all: a client could make the
server hold, and parse header by header, as many bytes as it sends before the blank line. The body has
its own limit (``Settings.max_body_bytes``, a 413 from the app).
"""

from __future__ import annotations

from typing import Any

import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.problems import PROBLEM_BASE, PROBLEM_MEDIA_TYPE, TITLES

__all__ = ["HEAD_LIMIT", "BoundedHttpToolsProtocol"]

HEAD_LIMIT = 65_536
"""The most bytes of one request's line and headers (nginx takes 8 KiB a line, Node.js 16 KiB in all)."""

_CODE = "headers-too-large"


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """The httptools protocol, answering a head past :data:`HEAD_LIMIT` with a 431 problem and closing.

    Bytes are counted as they arrive while a head is being read (from the start of the connection, or
    the end of the previous request, to the end of this one's headers): a head may pass the limit by at
    most the read that crossed it before it is refused.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As uvicorn builds its protocol; a connection starts with a head to read."""
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        """Count the bytes of a head being read; refuse one past the limit before the parser holds it."""
        if self._reading_head:
            self._head_bytes += len(data)
            if self._head_bytes > HEAD_LIMIT:
                self._refuse_head()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        """The head is whole: what follows is the body, under the app's own limit."""
        self._reading_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is whole: what follows is the next request's head."""
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def _refuse_head(self) -> None:
        body = msgspec.json.encode(
            {
                "type": PROBLEM_BASE + _CODE,
                "title": TITLES[_CODE],
                "status": 431,
                "detail": f"the request line and headers exceed {HEAD_LIMIT} bytes",
            }
        )
        head = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: " + PROBLEM_MEDIA_TYPE.encode("ascii") + b"\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
