"""First start and every start: find the database, migrate, make sure a signing key and an admin exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg

from firearms import db, keys, tokens
from firearms.canonical import utc_now
from firearms.embedded import embedded_database_url
from firearms.errors import ConfigError
from firearms.store import keys as key_store

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from firearms.settings import Settings

__all__ = ["Initialised", "check_state", "initialise", "resolve_database_url"]

_BOOTSTRAP_LOCK = 7_310_003


class Initialised:
    """What :func:`initialise` did: the database URL, and the first admin token when one was made."""

    __slots__ = ("admin_token", "database_url", "key_created", "migrations")

    def __init__(self, database_url: str, admin_token: str | None, *, key_created: bool, migrations: list[str]) -> None:
        self.database_url = database_url
        self.admin_token = admin_token
        self.key_created = key_created
        self.migrations = migrations


def resolve_database_url(settings: Settings) -> str:
    """``FIREARMS_DATABASE_URL`` when set; otherwise start or join the embedded server (blocking)."""
    return settings.database_url or embedded_database_url(settings.home)


async def check_state(conn: db.Conn, state: str) -> None:
    """Refuse to work on another State's registry (DESIGN §9: ``FIREARMS_STATE`` names this registry's State).

    The database records the State it speaks for the first time it is used after its migration; later
    uses only read it (so a read-only standby still serves reads).

    Raises:
        ConfigError: the database is another State's registry, or holds none of this version.
    """
    try:
        recorded = await key_store.get_registry_state(conn) or await key_store.claim_registry_state(
            conn, state, utc_now()
        )
    except asyncpg.UndefinedTableError as exc:
        raise ConfigError(
            "the database holds no registry yet, or one of an older version: run 'firearms migrate'"
            " (or 'firearms serve') first"
        ) from exc
    if recorded != state:
        raise ConfigError(
            f"this database is the {recorded} registry's, not {state}'s: check FIREARMS_STATE (and FIREARMS_HOME,"
            " FIREARMS_DATABASE_URL)"
        )


async def initialise(
    settings: Settings, database_url: str, connect: Callable[[str], Awaitable[db.Conn]] = db.connect
) -> Initialised:
    """Migrate, then under an advisory lock create the first signing key and admin token if missing.

    First of all the keys folder and its key files are checked (:func:`firearms.keys.check_key_files`).

    ``connect`` opens the connection (the CLI's tells an operator in one line that the database does not
    answer; what fails after that -- a migration, the home folder -- is not a connection problem).
    """
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys.check_key_files(settings.home)  # before anything else: a key others may read is refused at start
    conn = await connect(database_url)
    try:
        applied = await db.migrate(conn)
        async with keys.key_transaction(conn, settings.home) as files:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _BOOTSTRAP_LOCK)
            await check_state(conn, settings.state)
            key_created = await keys.ensure_registry_key(conn, files, actor="system:first-start")
            admin = await tokens.ensure_admin_token(conn)
    finally:
        await conn.close()
    return Initialised(database_url, admin, key_created=key_created, migrations=applied)
