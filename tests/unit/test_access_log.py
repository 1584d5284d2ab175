"""The access log's batching handler: lines logged together go out in one write, none is lost."""

from __future__ import annotations

import asyncio
import io
import logging

from api.middleware import BatchedStreamHandler


class CountingStream(io.StringIO):
    """A stream that counts its writes."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _logger(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


async def test_lines_logged_on_the_loop_go_out_together_after_the_delay() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream, delay=0.05)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = _logger(handler, "test.access.batched")
    for number in range(100):
        logger.info("GET /health 200 id=%d", number)
    assert stream.getvalue() == ""  # nothing written while the requests are being answered
    await asyncio.sleep(0.2)
    assert stream.getvalue().splitlines() == [f"GET /health 200 id={number}" for number in range(100)]
    assert stream.writes == 1
    logger.info("later")
    await asyncio.sleep(0.2)
    assert stream.getvalue().splitlines()[-1] == "later"
    assert stream.writes == 2


def test_a_line_logged_off_the_loop_is_written_at_once() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _logger(handler, "test.access.direct").info("no loop here")
    assert stream.getvalue() == "no loop here\n"


async def test_close_writes_what_waits() -> None:
    stream = CountingStream()
    handler = BatchedStreamHandler(stream, delay=60)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _logger(handler, "test.access.closing").info("the last request before shutdown")
    assert stream.getvalue() == ""
    handler.close()
    assert stream.getvalue() == "the last request before shutdown\n"
