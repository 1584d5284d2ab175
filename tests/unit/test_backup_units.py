"""A database password never reaches pg_dump's or pg_restore's command line (readable by every local user)."""

from __future__ import annotations

import os

from firearms.backup_archive import _libpq


def test_a_password_goes_to_the_environment_not_the_command_line() -> None:
    dsn, env = _libpq("postgresql://registry:s%40cret@db.example:5432/firearms?sslmode=require")
    assert dsn == "postgresql://registry@db.example:5432/firearms?sslmode=require"
    assert env["PGPASSWORD"] == "s@cret"


def test_a_url_without_a_password_is_kept_as_it_is() -> None:
    url = "postgresql://postgres:@/firearms?host=/srv/home/pgdata"
    dsn, env = _libpq(url)
    assert dsn == url
    assert env.get("PGPASSWORD") == os.environ.get("PGPASSWORD")
