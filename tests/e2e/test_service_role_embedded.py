"""The embedded server's service role, on a new home and on a home an earlier version made (README "Database roles").

The owner's connection migrates; the API, the worker and the commands connect as ``firearms_app``, which the
embedded server makes a login role of on every start: a home made before it existed gets it on its next start, and
its migration grants it its rights.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import TYPE_CHECKING

import asyncpg
import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from api import create_app
from cli.main import main
from firearms import bootstrap, db
from firearms.embedded import DATABASE, database_url, start_embedded, stop_embedded
from firearms.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

FIRST = "20261130160000_grant_service_role.sql"


async def _an_earlier_versions_home(home: Path, migrations: Path) -> None:
    """A home as a version before the service role left it: its database migrated to before it, no such role."""
    admin = await asyncio.to_thread(start_embedded, home)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(
            f"CREATE DATABASE {DATABASE} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER builtin"
            " BUILTIN_LOCALE 'C.UTF-8'"
        )
        assert not await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", db.SERVICE_ROLE)
    finally:
        await conn.close()
    await asyncio.to_thread(_copy_migrations_before, FIRST, migrations)
    owner = await db.connect(database_url(admin, DATABASE))
    try:
        await db.migrate(owner, migrations)
    finally:
        await owner.close()
    await asyncio.to_thread(stop_embedded, home)


def _copy_migrations_before(first: str, migrations: Path) -> None:
    migrations.mkdir()
    for path in sorted((db.SQL_DIR / "migrations").glob("*.sql")):
        if path.name < first:
            shutil.copy(path, migrations / path.name)


async def test_a_home_made_before_serves_as_the_service_role_after_its_next_start(short_tmp: Path) -> None:
    home = short_tmp / "home"
    await _an_earlier_versions_home(home, short_tmp / "migrations")
    settings = Settings(state="AT", home=home)
    urls = await asyncio.to_thread(bootstrap.resolve_database_urls, settings)
    try:
        done = await bootstrap.initialise(settings, urls.owner)
        assert FIRST in done.migrations
        service = await db.connect(urls.service)
        try:
            assert await service.fetchval("SELECT current_user") == db.SERVICE_ROLE
            assert not await service.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            assert await bootstrap.service_role_problem(service) is None
            assert await service.fetchval("SELECT count(*) FROM journal_entry") > 0
            for statement in (
                "UPDATE journal_entry SET actor = 'x'",
                "ALTER TABLE journal_entry DISABLE TRIGGER ALL",
                "SET session_replication_role = replica",
                "TRUNCATE journal_entry",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await service.execute(statement)
        finally:
            await service.close()
        admin = {"Authorization": f"Bearer {done.admin_token}"}
        async with AsyncTestClient(app=create_app(settings, database_url=urls.service)) as client:
            created = await client.post("/api/v1/tokens", json={"role": "auditor", "name": "after"}, headers=admin)
            assert created.status_code == 201, created.text
        # a command on the home joins the server as the service role too: it writes a journaled change
        env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home)}
        made = await asyncio.to_thread(
            CliRunner().invoke, main, ["token", "create", "--role", "auditor", "--name", "cli"], env=env
        )
        assert made.exit_code == 0, made.output
        owner = await db.connect(urls.owner)
        try:
            actors = await owner.fetch(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND usename IS NOT NULL"
            )
            assert {row["usename"] for row in actors} <= {db.SERVICE_ROLE}
            assert await owner.fetchval("SELECT count(*) FROM officer_token WHERE name IN ('after', 'cli')") == 2
        finally:
            await owner.close()
    finally:
        await asyncio.to_thread(stop_embedded, home)
