"""What the HTTP benchmarks share: a free loopback port, waiting for the app, running wrk and reading it."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["KeepAlive", "cpu_seconds", "free_port", "postgres_cpu_seconds", "run_wrk", "show", "wait_up"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its live children (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


def postgres_cpu_seconds() -> float:
    """User + system CPU time so far of every live process named ``postgres`` on this machine (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
            fields = text.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the bench server did not start")


def run_wrk(
    port: int, script: Path, script_args: list[str], name: str, connections: int, duration: int, token: str
) -> dict[str, float]:
    """Run wrk with a Lua script against the app on ``port``; requests/s, p50 and p99 in ms.

    Stops the benchmark when any answer was not 2xx: a figure over failed requests means nothing.
    """
    command = [
        "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
        "-s", str(script), f"http://127.0.0.1:{port}", "--", *script_args,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BENCH_TOKEN": token},
        timeout=duration + 60,
    )
    text = done.stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if errors:
        raise SystemExit(f"{name}: {errors.group(1)} non-2xx responses\n{text}")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"50%\s+([\d.]+\w+)", text).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"99%\s+([\d.]+\w+)", text).group(1)),  # type: ignore[union-attr]
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def show(label: str, run: dict[str, float], extra: str = "", width: int = 26) -> None:
    print(f"{label:<{width}} {run['rps']:8.0f} req/s  p50 {run['p50']:6.1f} ms  p99 {run['p99']:6.1f} ms{extra}")


class KeepAlive:
    """One HTTP/1.1 keep-alive connection that posts bodies one after another (bench only).

    A partner's sender runs on its own machine; on a 2-core bench box httpx's client-side cost (about
    0.5 ms a request) would be taken from the server being measured, so the senders use this instead.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, request_id: str = "") -> tuple[int, bytes]:
        """POST ``body`` as JSON (with ``X-Request-Id`` when given, as the worker does); status and body."""
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        extra = f"X-Request-Id: {request_id}\r\n" if request_id else ""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        lines = (await self._reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()
