"""What the HTTP benchmarks share: a free loopback port, waiting for the app, running wrk and reading it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["free_port", "run_wrk", "show", "wait_up"]


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
