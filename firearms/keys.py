"""The registry's own signing keys: created on first start, kept in ``FIREARMS_HOME/keys`` (mode 0600).

The database holds every public key ever used (PROTOCOL §6); the private halves live only in files.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import msgspec

from firearms import journal
from firearms.errors import ConfigError
from firearms.signing import SigningKey, b64url_encode
from firearms.store import keys as store

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from firearms.db import Conn

__all__ = [
    "KeyInfo",
    "create_registry_key",
    "current_signing_key",
    "ensure_registry_key",
    "key_file",
    "key_path",
    "keys_folder",
    "list_keys",
    "missing_key_files",
    "needed_key_ids",
    "signing_key",
]

_loaded: dict[tuple[Path, str], SigningKey] = {}


class KeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A public key of this registry with its validity (the ``keys show`` and ``/exchange/v1/keys`` shape)."""

    key_id: str
    public_key: str
    not_before: dt.datetime
    not_after: dt.datetime | None
    revoked_at: dt.datetime | None


def keys_folder(home: Path) -> Path:
    """The folder of ``home`` that holds the private keys."""
    return home / "keys"


def key_file(key_id: str) -> str:
    """The name of the private key ``key_id``'s file."""
    return f"{key_id}.pem"


def key_path(home: Path, key_id: str) -> Path:
    """Where the private key ``key_id`` is kept."""
    return keys_folder(home) / key_file(key_id)


async def create_registry_key(
    conn: Conn, home: Path, *, actor: str, not_before: dt.datetime | None = None
) -> SigningKey:
    """Generate a key, write its file (0600), record its public half, journal it."""
    key = SigningKey.generate()
    keys_folder(home).mkdir(parents=True, exist_ok=True, mode=0o700)
    key.save(key_path(home, key.key_id))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await store.insert_registry_key(conn, key.key_id, key.public_key, not_before or now, now)
    await journal.record(
        conn,
        actor=actor,
        action="key.created",
        entity="registry_key",
        entity_id=key.key_id,
        payload={"key_id": key.key_id, "public_key": b64url_encode(key.public_key)},
    )
    return key


async def ensure_registry_key(conn: Conn, home: Path, *, actor: str) -> bool:
    """Create the first signing key when the registry has none; ``True`` when one was created."""
    if await store.list_registry_keys(conn):
        return False
    await create_registry_key(conn, home, actor=actor)
    return True


async def current_signing_key(conn: Conn, home: Path) -> SigningKey:
    """The private key to sign with now.

    Raises:
        ConfigError: no key is valid now, or its file is missing from ``home``.
    """
    row = await store.get_current_registry_key(conn, dt.datetime.now(dt.UTC))
    if row is None:
        raise ConfigError(
            "this registry has no valid signing key: run 'firearms serve' once, or 'firearms keys rotate'"
        )
    return signing_key(home, row["key_id"])


async def needed_key_ids(conn: Conn) -> list[str]:
    """The keys whose private halves the registry signs with from now on.

    The current key (checkpoints, licences, receipts), a rotated key waiting to be switched to, and the
    key each notice still waiting to be signed will be signed with (the one valid when it was queued).
    """
    return await store.list_needed_key_ids(conn, dt.datetime.now(dt.UTC))


def missing_key_files(home: Path, key_ids: Iterable[str]) -> list[Path]:
    """The files of ``key_ids`` that are not in ``home``'s keys folder."""
    return [path for key_id in key_ids if not (path := key_path(home, key_id)).exists()]


def signing_key(home: Path, key_id: str) -> SigningKey:
    """The private key ``key_id`` from ``home``, read once per process.

    Raises:
        ConfigError: its file is missing from ``home``, cannot be read, holds no Ed25519 key, or holds
            another key (a file copied back under the wrong name would sign what partners refuse).
    """
    loaded = _loaded.get((home, key_id))
    if loaded is None:
        path = key_path(home, key_id)
        if not path.exists():
            raise ConfigError(f"signing key {key_id} is not in {path.parent}: is FIREARMS_HOME the right folder?")
        try:
            found = SigningKey.load(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"signing key {key_id}: {path} is not a readable Ed25519 key file ({exc})") from None
        if found.key_id != key_id:
            raise ConfigError(f"{path} holds key {found.key_id}, not {key_id}: put the file of {key_id} there")
        loaded = _loaded[home, key_id] = found
    return loaded


async def list_keys(conn: Conn) -> list[KeyInfo]:
    """Every public key this registry ever used, oldest first."""
    return [
        KeyInfo(
            key_id=row["key_id"],
            public_key=b64url_encode(row["public_key"]),
            not_before=row["not_before"],
            not_after=row["not_after"],
            revoked_at=row["revoked_at"],
        )
        for row in await store.list_registry_keys(conn)
    ]
