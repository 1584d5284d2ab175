"""The database environment of a registry under test: the service's login and the owner's (README "Database roles")."""

from __future__ import annotations

from firearms.db import SERVICE_ROLE
from firearms.embedded import with_user


def database_env(database: str) -> dict[str, str]:
    """The service role's URL on ``database`` as ``FIREARMS_DATABASE_URL``, the owner's as the migrations'."""
    return {"FIREARMS_DATABASE_URL": with_user(database, SERVICE_ROLE), "FIREARMS_MIGRATION_DATABASE_URL": database}
