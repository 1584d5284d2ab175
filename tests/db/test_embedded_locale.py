"""The embedded registry's database sorts text the same on every machine and operating-system release.

Records and their indexes outlive the machine: a home is moved, its operating system upgraded. Under a libc
locale (``en_US.UTF-8``, what a service account's ``LANG`` often is, and what initdb then gives every database),
text sorts by the C library's rules, which change between its releases (glibc 2.28 moved the hyphen): a unique
index on licence numbers (``AT-EXP-2026-000123``) or serials is then out of order, and a look-up can miss a
record that is there. The builtin provider's ``C.UTF-8`` (PostgreSQL 17+) sorts by code point, whatever the
machine.
"""

from __future__ import annotations

import uuid

import asyncpg

from firearms import db
from firearms.embedded import database_url, ensure_database


async def test_the_registry_database_sorts_by_code_point_whatever_the_servers_locale(pg_admin_uri: str) -> None:
    name = f"locale_{uuid.uuid4().hex[:12]}"
    url = await ensure_database(pg_admin_uri, name)
    try:
        assert url == database_url(pg_admin_uri, name)
        conn = await db.connect(url)
        try:
            row = await conn.fetchrow(
                "SELECT datlocprovider, datlocale FROM pg_database WHERE datname = current_database()"
            )
            assert row is not None
            assert (row["datlocprovider"], row["datlocale"]) == (b"b", "C.UTF-8")
            assert await db.migrate(conn)  # the whole schema builds on it
            # code-point order: the hyphen before digits, upper case before lower, no letter folded into another
            assert await conn.fetchval(
                "SELECT array_agg(x ORDER BY x) FROM unnest($1::text[]) AS x",
                ["AT-EXP-2026-000124", "at", "AT2026", "AT-EXP-2026-000123", "Öhler", "Zeiss"],
            ) == ["AT-EXP-2026-000123", "AT-EXP-2026-000124", "AT2026", "Zeiss", "at", "Öhler"]
        finally:
            await conn.close()
        # asked again (every start), it leaves the database as it is
        assert await ensure_database(pg_admin_uri, name) == url
    finally:
        admin = await asyncpg.connect(pg_admin_uri)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
