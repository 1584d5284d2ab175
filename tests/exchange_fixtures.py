"""Fixtures for exchange tests: a second registry with its own database, wired to the first by trust."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, db, keys, restore
from firearms.canonical import parse_time
from firearms.embedded import database_url, with_user
from firearms.exchange import trust
from firearms.settings import Settings
from firearms.signing import b64url_encode
from tests.conftest import TEMPLATE
from tests.exchange_util import VECTORS


async def clone_template(pg_admin_uri: str) -> str:
    """A fresh migrated database; its URL."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(pg_admin_uri)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY')
    finally:
        await admin.close()
    return database_url(pg_admin_uri, name)


Client: TypeAlias = AsyncTestClient[Litestar]


async def receiver(state: str, database: str, home: Path) -> tuple[Settings, db.Conn]:
    """A registry for ``state`` that trusts AT's vector key from 2026-01-01."""
    settings = Settings(
        state=state,
        home=home,
        database_url=with_user(database, db.SERVICE_ROLE),
        migration_database_url=database,
        run_worker=False,
    )
    await bootstrap.initialise(settings, database)
    conn = await db.connect(database)
    async with conn.transaction():
        await trust.add_peer(
            conn,
            own_state=state,
            state="AT",
            base_url="http://127.0.0.1:9",
            public_key=VECTORS["keys"]["AT"]["public_key"],
            not_before=parse_time("2026-01-01T00:00:00Z"),
            actor="test",
        )
    return settings, conn


@pytest.fixture
async def de(database: str, home: Path) -> AsyncIterator[tuple[Client, db.Conn]]:
    """A DE registry that trusts AT's vector key; its client and a connection."""
    settings, conn = await receiver("DE", database, home)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client, conn
    await conn.close()


@pytest.fixture
async def cz(database: str, home: Path) -> AsyncIterator[tuple[Client, db.Conn]]:
    """A CZ registry (a transit State) that trusts AT's vector key; its client and a connection."""
    settings, conn = await receiver("CZ", database, home)
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client, conn
    await conn.close()


@dataclass
class Registry:
    """One registry in a test: settings, a connection, an HTTP client on its app, a pool."""

    state: str
    settings: Settings
    conn: db.Conn
    client: AsyncTestClient[Litestar]
    pool: db.Pool
    public_key: str


async def _start(state: str, url: str, home: Path) -> tuple[Settings, db.Conn, db.Pool, str]:
    home.mkdir(mode=0o700)  # noqa: ASYNC240  # a test's temporary folder
    settings = Settings(
        state=state,
        home=home,
        database_url=with_user(url, db.SERVICE_ROLE),  # the service's role; migrations as the owner
        migration_database_url=url,
        run_worker=False,
        exchange_retry_base=0.05,
        exchange_retry_cap=0.2,
    )
    await bootstrap.initialise(settings, url)
    conn = await db.connect(url)
    key = await keys.current_signing_key(conn, home)
    pool = await db.create_pool(with_user(url, db.SERVICE_ROLE), max_size=6)
    return settings, conn, pool, b64url_encode(key.public_key)


@pytest.fixture
async def at_de(database: str, pg_admin_uri: str, tmp_path: Path) -> AsyncIterator[tuple[Registry, Registry]]:
    """AT (on the test's database) and DE (on a second one), each trusting the other's current key."""
    de_url = await clone_template(pg_admin_uri)
    at_settings, at_conn, at_pool, at_key = await _start("AT", database, tmp_path / "at")
    de_settings, de_conn, de_pool, de_key = await _start("DE", de_url, tmp_path / "de")
    for conn, own, other, key in ((at_conn, "AT", "DE", de_key), (de_conn, "DE", "AT", at_key)):
        async with conn.transaction():
            await trust.add_peer(
                conn,
                own_state=own,
                state=other,
                base_url="http://testserver.local",
                public_key=key,
                not_before=None,
                actor="test",
            )
    async with (
        AsyncTestClient(app=create_app(at_settings)) as at_client,
        AsyncTestClient(app=create_app(de_settings)) as de_client,
    ):
        yield (
            Registry(state="AT", settings=at_settings, conn=at_conn, client=at_client, pool=at_pool, public_key=at_key),
            Registry(state="DE", settings=de_settings, conn=de_conn, client=de_client, pool=de_pool, public_key=de_key),
        )
    for registry_conn, registry_pool in ((at_conn, at_pool), (de_conn, de_pool)):
        await registry_conn.close()
        await registry_pool.close()
    admin = await asyncpg.connect(pg_admin_uri)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{de_url.rsplit("/", 1)[1].split("?")[0]}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def restored(
    registry: Registry, archive: Path, database: str, *, own_app: bool = False
) -> AsyncIterator[Registry]:
    """``registry`` restored from ``archive`` into the empty ``database``, in its own home (so its key files).

    On a connection and a pool of its own, closed after. Its client is ``registry``'s (what its partner's
    tests post with), or with ``own_app`` one on an app over the restored database.
    """
    done = await restore.restore(database, archive, state=registry.state, home=registry.settings.home)
    assert done.problem is None
    service = with_user(database, db.SERVICE_ROLE)  # restore granted the service role its rights again
    settings = msgspec.structs.replace(registry.settings, database_url=service, migration_database_url=database)
    conn = await db.connect(database)
    pool = await db.create_pool(service, max_size=4)
    try:
        again = Registry(
            state=registry.state,
            settings=settings,
            conn=conn,
            client=registry.client,
            pool=pool,
            public_key=registry.public_key,
        )
        if not own_app:
            yield again
            return
        async with AsyncTestClient(app=create_app(settings)) as client:
            again.client = client
            yield again
    finally:
        await conn.close()
        await pool.close()
