"""Shared fixtures: one embedded PostgreSQL per test session, a migrated template database, a clone per test.

Under pytest-xdist each worker is a session of its own: its own server, template and clones.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, db, tokens
from firearms.embedded import database_url, ensure_service_role, start_embedded, stop_embedded, with_user
from firearms.settings import Settings

TEMPLATE = "firearms_template"


@pytest.fixture(scope="session")
def pg_admin_uri() -> Iterator[str]:
    """The admin URI of an embedded cluster that lives as long as the test session.

    Its folder is our own, not pytest's tmp_path: pytest deletes old tmp_path folders when another
    session starts, which would pull the data directory from under a running server.
    """
    home = Path(tempfile.mkdtemp(prefix="firearms-test-pg-"))
    uri = start_embedded(home)
    asyncio.run(_without_flushes(uri))
    asyncio.run(ensure_service_role(uri))  # as a home's server: the service connects as firearms_app
    yield uri
    stop_embedded(home)
    shutil.rmtree(home, ignore_errors=True)


async def _without_flushes(uri: str) -> None:
    """The test cluster's data is thrown away: it need not survive a crash of the machine, only of a process.

    ``fsync`` off, no full-page images and asynchronous commits: what a crash of the operating system could lose,
    a test never sees (a server process killed by a test still hands its writes to the kernel). Each test's
    ``CREATE DATABASE ... STRATEGY FILE_COPY`` checkpoints, and each checkpoint flushed every file of the cluster.
    Only this cluster (the three registries of ``tests/e2e`` keep their databases on it too): a ``serve`` that
    starts an embedded server of its own keeps the defaults, as a State runs it.
    """
    admin = await asyncpg.connect(uri)
    try:
        for setting in ("fsync", "full_page_writes", "synchronous_commit"):
            await admin.execute(f"ALTER SYSTEM SET {setting} = off")
        await admin.execute("SELECT pg_reload_conf()")
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def template_url(pg_admin_uri: str) -> str:
    """A database migrated once, cloned for every test."""

    async def build() -> None:
        admin = await asyncpg.connect(pg_admin_uri)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
            await admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
        finally:
            await admin.close()
        conn = await db.connect(database_url(pg_admin_uri, TEMPLATE))
        try:
            await db.migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    return database_url(pg_admin_uri, TEMPLATE)


@contextlib.asynccontextmanager
async def _scratch_database(pg_admin_uri: str, options: str = "") -> AsyncIterator[str]:
    """A new database on the session's server, dropped afterwards; its URL."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(pg_admin_uri)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" {options}')
    finally:
        await admin.close()
    yield database_url(pg_admin_uri, name)
    admin = await asyncpg.connect(pg_admin_uri)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database(pg_admin_uri: str, template_url: str) -> AsyncIterator[str]:
    """A fresh migrated database for one test (a clone of the template); its URL."""
    async with _scratch_database(pg_admin_uri, f'TEMPLATE "{TEMPLATE}" STRATEGY FILE_COPY') as url:
        yield url


@pytest.fixture
async def make_empty_database(pg_admin_uri: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """``await make_empty_database()``: another new database without any table, dropped after the test; its URL."""
    async with contextlib.AsyncExitStack() as stack:

        async def make() -> str:
            return await stack.enter_async_context(_scratch_database(pg_admin_uri))

        yield make


@pytest.fixture
async def empty_database(make_empty_database: Callable[[], Awaitable[str]]) -> str:
    """A new database without any table (what a restore goes into); its URL."""
    return await make_empty_database()


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder for one test on a short path: for the home of an embedded server the test starts.

    The server's socket, ``HOME/pgdata/.s.PGSQL.5432``, must fit 107 bytes (``firearms.embedded.check_socket_path``).
    ``tmp_path`` under a ``PYTEST_DEBUG_TEMPROOT`` and xdist's ``popen-gwN/`` passes that (108 bytes under
    ``/tmp/review3-tmp/pytest-of-root/pytest-9/popen-gw0/``), and the home was refused before the test began.
    Beside the session's server, in the system's temporary folder.
    """
    folder = Path(tempfile.mkdtemp(prefix="fh-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty FIREARMS_HOME for one test."""
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def settings(database: str, home: Path) -> Settings:
    """Settings of an AT registry on the test's database, without the background worker.

    The service connects as the service role, migrations as the owner, as on a home's embedded server.
    """
    return Settings(
        state="AT",
        home=home,
        database_url=with_user(database, db.SERVICE_ROLE),
        migration_database_url=database,
        run_worker=False,
    )


@pytest.fixture
async def initialised(settings: Settings, database: str) -> bootstrap.Initialised:
    """The registry after its first start: signing key and first admin token."""
    return await bootstrap.initialise(settings, database)


@pytest.fixture
async def conn(database: str) -> AsyncIterator[db.Conn]:
    """One connection to the test's database, with the store's codecs."""
    connection = await db.connect(database)
    yield connection
    await connection.close()


@pytest.fixture
async def service(database: str, initialised: bootstrap.Initialised) -> AsyncIterator[db.Conn]:
    """A connection to the test's registry as the service role (README "Database roles"), after its first start:
    as ``serve``, the worker's sealer and ``journal verify`` connect."""
    del initialised
    connection = await db.connect(with_user(database, db.SERVICE_ROLE))
    yield connection
    await connection.close()


@pytest.fixture
async def client(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    """An HTTP client on the app, lifespan included."""
    async with AsyncTestClient(app=create_app(settings)) as test_client:
        yield test_client


TokenFactory = Callable[[tokens.Role], Awaitable[dict[str, str]]]


@pytest.fixture
def auth(conn: db.Conn, initialised: bootstrap.Initialised) -> TokenFactory:
    """``await auth("customs-officer")`` gives the Authorization header of a new token with that role."""

    async def make(role: tokens.Role) -> dict[str, str]:
        secret, _ = await tokens.create_token(conn, role=role, name=f"test {role}", actor="test")
        return {"Authorization": f"Bearer {secret}"}

    return make
