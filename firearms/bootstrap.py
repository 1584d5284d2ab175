"""First start and every start: find the database, migrate, make sure a signing key and an admin exist."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import asyncpg

from firearms import db, keys, tokens
from firearms.canonical import utc_now
from firearms.embedded import embedded_database_url, with_user
from firearms.errors import ConfigError
from firearms.store import keys as key_store

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from firearms.settings import Settings

__all__ = [
    "DatabaseUrls",
    "Initialised",
    "check_state",
    "initialise",
    "resolve_database_url",
    "resolve_database_urls",
    "service_role_problem",
]

_BOOTSTRAP_LOCK = 7_310_003


class Initialised:
    """What :func:`initialise` did: the database URL, and the first admin token when one was made."""

    __slots__ = ("admin_token", "database_url", "key_created", "migrations")

    def __init__(self, database_url: str, admin_token: str | None, *, key_created: bool, migrations: list[str]) -> None:
        self.database_url = database_url
        self.admin_token = admin_token
        self.key_created = key_created
        self.migrations = migrations


class DatabaseUrls(NamedTuple):
    """The registry's database as its owner (migrations, backups, restores) and as the service (all else)."""

    owner: str
    service: str


def resolve_database_urls(settings: Settings) -> DatabaseUrls:
    """The owner's and the service's URL (README "Database roles"); the embedded server started or joined (blocking).

    Embedded: its superuser owns the tables, the service connects as :data:`firearms.db.SERVICE_ROLE`. External:
    ``FIREARMS_MIGRATION_DATABASE_URL`` is the owner's, ``FIREARMS_DATABASE_URL`` the service's; without the
    first, the one URL does both, as before (``serve`` and ``worker`` warn when it is a superuser's or the owner's).
    """
    if settings.database_url is not None:
        return DatabaseUrls(settings.migration_database_url or settings.database_url, settings.database_url)
    owner = embedded_database_url(settings.home)
    return DatabaseUrls(owner, with_user(owner, db.SERVICE_ROLE))


def resolve_database_url(settings: Settings) -> str:
    """The service's URL (:func:`resolve_database_urls`)."""
    return resolve_database_urls(settings).service


async def service_role_problem(conn: db.Conn) -> str | None:
    """Why the role ``conn`` is connected as could change records behind the guards, or ``None``.

    A superuser may switch every trigger off (``SET session_replication_role = replica``); the tables' owner may
    disable or drop them, or truncate; the database's owner owns its schema ``public`` (``pg_database_owner``), and
    may drop any table in it or rename it. The service should be none of them (README "Database roles").
    """
    row = await conn.fetchrow(_ROLE_POWERS)
    if row is None or not (row["superuser"] or row["owner"] or row["schema_owner"]):
        return None
    if row["superuser"]:
        what = "a superuser"
    elif row["owner"]:
        what = "the owner of the registry's tables"
    else:
        what = "the owner of the registry's database (its schema public: it may drop any table or rename the schema)"
    return (
        f"the service connects to the database as {row['name']}, {what}: it could switch off or drop the guards that"
        " keep records append-only; give FIREARMS_DATABASE_URL a login of the role firearms_app and the owner's"
        ' login to FIREARMS_MIGRATION_DATABASE_URL (README "Database roles")'
    )


_ROLE_POWERS = """
SELECT current_user AS name,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       EXISTS (SELECT FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                  AND pg_has_role(current_user, c.relowner, 'USAGE')) AS owner,
       EXISTS (SELECT FROM pg_namespace AS n
                WHERE n.nspname = 'public' AND pg_has_role(current_user, n.nspowner, 'USAGE')) AS schema_owner
"""


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
        # A start with nothing to migrate writes nothing here: a read-only standby would be served until the first
        # write failed, and a worker would loop on errors. Said at once, in the words the CLI gives a refused write.
        if await conn.fetchval("SELECT current_setting('transaction_read_only')") == "on":
            raise ConfigError(
                "the database is read-only (a standby, or default_transaction_read_only = on): FIREARMS_DATABASE_URL"
                " must name a server that takes writes"
            )
        applied = await db.migrate(conn)
        async with keys.key_transaction(conn, settings.home) as files:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _BOOTSTRAP_LOCK)
            await check_state(conn, settings.state)
            key_created = await keys.ensure_registry_key(conn, files, actor="system:first-start")
            admin = await tokens.ensure_admin_token(conn)
    finally:
        await conn.close()
    return Initialised(database_url, admin, key_created=key_created, migrations=applied)
