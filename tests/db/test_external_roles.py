"""The README's SQL for the administrator of an external database, run as written (README "Database roles").

The session's embedded server stands in for the external one: its superuser is the administrator. The README's
block makes the owner, the database, the service role and the service's login; the owner migrates and sets the
registry up, the service's login serves, and may not change records behind the guards.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from firearms import bootstrap, db, idempotency, journal, tokens
from firearms.embedded import database_url, with_user
from firearms.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def administrators_sql() -> list[str]:
    """The statements of the README's SQL block under **External database**, one by one."""
    section = README.read_text(encoding="utf-8").split("**External database**", 1)[1]
    block = section.split("```sql\n", 1)[1].split("```", 1)[0]
    code = "\n".join(line.split("--", 1)[0] for line in block.splitlines())
    return [statement.strip() for statement in code.split(";") if statement.strip()]


@pytest.fixture
async def external(pg_admin_uri: str) -> AsyncIterator[tuple[str, str]]:
    """The README's setup on the session's server, under names of this test's own; the owner's and service's URLs."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "firearms_owner": f"owner_{suffix}",
        "firearms_service": f"service_{suffix}",
        "DATABASE firearms": f"DATABASE external_{suffix}",
    }
    admin = await asyncpg.connect(pg_admin_uri)
    try:
        for written in administrators_sql():
            statement = written.replace("'...'", "'secret'")
            for name, ours in names.items():
                statement = re.sub(rf"\b{name}\b", ours, statement)
            try:
                await admin.execute(statement)
            except asyncpg.DuplicateObjectError:
                assert statement.startswith(f"CREATE ROLE {db.SERVICE_ROLE} ")  # the session's server made it
        owner = with_user(database_url(pg_admin_uri, f"external_{suffix}"), f"owner_{suffix}")
        yield owner, with_user(owner, f"service_{suffix}")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "external_{suffix}" WITH (FORCE)')
        for role in (f"service_{suffix}", f"owner_{suffix}"):
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_the_readmes_sql_for_an_external_database_sets_up_a_registry_whose_service_is_held_by_the_guards(
    external: tuple[str, str], home: Path
) -> None:
    owner_url, service_url = external
    settings = Settings(
        state="AT", home=home, database_url=service_url, migration_database_url=owner_url, run_worker=False
    )
    done = await bootstrap.initialise(settings, owner_url, db.connect)
    assert done.migrations  # the owner, neither superuser nor able to create roles, migrated the empty database
    service = await db.connect(service_url)
    try:
        assert await bootstrap.service_role_problem(service) is None
        async with service.transaction():
            await journal.record(service, actor="test", action="thing.made", entity="thing", entity_id="1", payload={})
        assert (await journal.verify(service, state="AT")).intact
        for statement in ("UPDATE journal_entry SET actor = 'x'", "TRUNCATE journal_entry", "CREATE TABLE x (y int)"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await service.execute(statement)
    finally:
        await service.close()
    owner = await db.connect(owner_url)
    try:
        problem = await bootstrap.service_role_problem(owner)  # one URL, the owner's: serve warns
        assert problem is not None
        assert "the owner of the registry's tables" in problem
    finally:
        await owner.close()


async def test_the_service_prunes_idempotency_keys_on_an_external_server_whose_owner_is_no_superuser(
    external: tuple[str, str], home: Path
) -> None:
    """prune_idempotency_keys() runs as that owner: it may set the guard's marker (a parameter PostgreSQL does not
    know) and is the table's owner, so the guard lets its DELETE through; the service's login cannot delete itself."""
    owner_url, service_url = external
    settings = Settings(
        state="AT", home=home, database_url=service_url, migration_database_url=owner_url, run_worker=False
    )
    await bootstrap.initialise(settings, owner_url, db.connect)
    service = await db.connect(service_url)
    try:
        _, token = await tokens.create_token(service, role="licensing-officer", name="Kim", actor="test")
        for key, days_ago in (("old", 40), ("fresh", 0)):
            await service.execute(
                "INSERT INTO idempotency_key (token_id, idempotency_key, request, fingerprint, answer, status_code,"
                " created_at) VALUES ($1, $2, 'POST /api/v1/parties', '\\x00', '{}', 201,"
                " now() - $3::int * interval '1 day')",
                token.token_id,
                key,
                days_ago,
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await service.execute("DELETE FROM idempotency_key")
        assert await idempotency.prune(service, older_than=dt.timedelta(days=30), actor="test") == 1
        assert await service.fetchval("SELECT array_agg(idempotency_key) FROM idempotency_key") == ["fresh"]
        assert (await journal.verify(service, state="AT")).intact
    finally:
        await service.close()
