"""Several registries as separate ``firearms serve`` processes on loopback ports, each with its own database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from firearms import db, outbox
from tests.exchange_fixtures import clone_template
from tests.roles import database_env

FIREARMS = str(Path(sys.executable).parent / "firearms")
T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    """One registry process: its State, data folder, database and port."""

    state: str
    home: Path
    database_url: str
    port: int
    logs: Path
    process: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """Where partners reach it."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of its processes (serve and CLI)."""
        return {
            **os.environ,
            "FIREARMS_STATE": self.state,
            "FIREARMS_HOME": str(self.home),
            **database_env(self.database_url),  # serve and the CLI as the service role, migrations as the owner
            "FIREARMS_HOST": "127.0.0.1",
            "FIREARMS_PORT": str(self.port),
            "FIREARMS_PUBLIC_URL": self.base_url,
            "FIREARMS_EXCHANGE_RETRY_BASE": "0.1",
            "FIREARMS_EXCHANGE_RETRY_CAP": "0.5",
        }

    async def start(self) -> None:
        """Start ``firearms serve`` and wait until ``/health`` answers."""
        log = (self.logs / f"{self.state}.log").open("ab")
        self.process = subprocess.Popen(  # noqa: ASYNC220  # a long-lived child, not awaited
            [FIREARMS, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

        async def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.state} exited: {self.log_tail()}")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(self.base_url + "/health", timeout=1)).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(healthy, f"{self.state} healthy", timeout=30)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then wait)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def log_tail(self) -> str:
        """The end of its log, for failure messages."""
        path = self.logs / f"{self.state}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    async def cli(self, *args: str) -> str:
        """Run ``firearms ARGS`` with this registry's environment; its stdout (fails the test on error)."""
        process = await asyncio.create_subprocess_exec(
            FIREARMS, *args, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        if process.returncode != 0:
            raise AssertionError(f"firearms {' '.join(args)} ({self.state}) failed: {err.decode()}")
        return out.decode()

    async def token(self, role: str) -> dict[str, str]:
        """An Authorization header for ``role``, made with the real CLI."""
        if role not in self.tokens:
            self.tokens[role] = (await self.cli("token", "create", "--role", role, "--name", f"e2e {role}")).strip()
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def get(self, path: str, role: str = "admin") -> Any:
        """GET an officer endpoint; the JSON answer."""
        headers = await self.token(role)
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.get(path, headers=headers, timeout=10)
        return response.json() if response.status_code == 200 else None

    async def post(self, path: str, body: Any, role: str) -> httpx.Response:
        """POST to an officer endpoint."""
        headers = await self.token(role)
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            return await client.post(path, json=body, headers=headers, timeout=10)

    async def enqueue(self, recipient: str, type_: str, body: dict[str, Any], **extra: Any) -> str:
        """Queue a notice in this registry's outbox the way a domain change does (its own transaction)."""
        conn = await db.connect(self.database_url)
        try:
            async with conn.transaction():
                return str(await outbox.enqueue(conn, recipient, type_, body, **extra))
        finally:
            await conn.close()

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """Read this registry's database (assertions on stored state)."""
        conn = await db.connect(self.database_url)
        try:
            return [dict(row) for row in await conn.fetch(query, *args)]
        finally:
            await conn.close()


async def wait_for(condition: Callable[[], Awaitable[T]], what: str, timeout: float = 30) -> T:  # noqa: ASYNC109
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.1)


async def connect_all(nodes: list[Node]) -> None:
    """Every registry trusts every other: keys read from ``/exchange/v1/keys``, entered with ``firearms peers add``."""
    documents = {}
    async with httpx.AsyncClient() as client:
        for node in nodes:
            documents[node.state] = (await client.get(node.base_url + "/exchange/v1/keys")).json()
    adds = []
    for node in nodes:
        for other in nodes:
            if other is node:
                continue
            document = documents[other.state]
            current = next(key for key in document["keys"] if key["key_id"] == document["current_key_id"])
            adds.append(
                node.cli("peers", "add", other.state, "--url", other.base_url, "--public-key", current["public_key"])
            )
    await asyncio.gather(*adds)


@contextlib.asynccontextmanager
async def trusting(
    states: tuple[str, ...], pg_admin_uri: str, tmp_path: Path, roles: tuple[str, ...] = ()
) -> AsyncIterator[dict[str, Node]]:
    """The States' registries running, each on a clone of the template and trusting the others (peers added with the
    real CLI), each with a token of every role in ``roles``; stopped at the end."""
    started: dict[str, Node] = {}
    try:
        for state in states:
            started[state] = Node(
                state=state,
                home=tmp_path / state,
                database_url=await clone_template(pg_admin_uri),
                port=free_port(),
                logs=tmp_path,
            )
        await asyncio.gather(*(node.start() for node in started.values()))
        await connect_all(list(started.values()))
        await asyncio.gather(*(node.token(role) for node in started.values() for role in roles))
        yield started
    finally:
        for node in started.values():
            node.stop()
