"""The registry's own signing keys: created on first start, kept in ``FIREARMS_HOME/keys`` (mode 0600).

The database holds every public key ever used (PROTOCOL §6); the private halves live only in files. A key
file and the record of its key are made together (:func:`key_transaction`): the file is written beside its
place while the transaction runs and put in place once it committed, removed when it failed -- or, when the
process died before the commit, by the next key transaction (:func:`remove_orphan_key_files`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import shlex
import stat
from typing import TYPE_CHECKING

import msgspec

from firearms import db, journal
from firearms.errors import ConfigError
from firearms.files import partial_beside, partials_in, partials_of
from firearms.signing import SigningKey, b64url_encode
from firearms.store import keys as store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable
    from pathlib import Path

    from firearms.db import Conn

__all__ = [
    "KeyFiles",
    "KeyInfo",
    "check_key_files",
    "check_private",
    "create_registry_key",
    "current_key_id",
    "current_signing_key",
    "ensure_registry_key",
    "is_key_id",
    "key_file",
    "key_path",
    "key_transaction",
    "keys_folder",
    "list_keys",
    "missing_key_files",
    "needed_key_ids",
    "remove_orphan_key_files",
    "signing_key",
]

log = logging.getLogger("firearms.keys")
_loaded: dict[tuple[Path, str], SigningKey] = {}
_KEY_ID = "[0-9a-f]{32}"  # registry_key_key_id_check, pending_registry_key_key_id_check
_KEY_FILE = re.compile(rf"^(?P<key_id>{_KEY_ID})\.pem$")  # key_file's name


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


def is_key_id(text: str) -> bool:
    """Whether ``text`` is a key id as the database holds one (and so names a file of the keys folder)."""
    return re.fullmatch(_KEY_ID, text) is not None


def key_path(home: Path, key_id: str) -> Path:
    """Where the private key ``key_id`` is kept."""
    return keys_folder(home) / key_file(key_id)


def check_private(path: Path) -> None:
    """Refuse a private key file, or the keys folder, that another user may read or change (DESIGN §7).

    As OpenSSH refuses a private key file open to group or others ("permissions are too open"): the registry
    writes its key files 0600 and its keys folder 0700, and will not sign with a key someone else could have
    read, nor keep keys in a folder others may list or fill. A file or folder owned by another user is
    refused too (that user may read it, or open it up again). The line names the path and the command that
    mends it. Not checked where the system has no POSIX modes.

    Raises:
        ConfigError: ``path`` is owned by another user, or open to group or others.
    """
    if os.name != "posix":
        return
    found = path.stat()
    folder = stat.S_ISDIR(found.st_mode)
    what = "the signing keys folder" if folder else "signing key file"
    wanted = "700" if folder else "600"
    quoted = shlex.quote(str(path))
    if found.st_uid != os.geteuid():
        raise ConfigError(
            f"{what} {path} belongs to another user (uid {found.st_uid}), not to the user the registry runs as"
            f" (uid {os.geteuid()}): run 'chown {os.geteuid()} {quoted}' and 'chmod {wanted} {quoted}'"
        )
    if found.st_mode & 0o077:
        raise ConfigError(
            f"{what} {path} is open to group or others (mode {stat.S_IMODE(found.st_mode):04o}):"
            f" run 'chmod {wanted} {quoted}'"
        )


def check_key_files(home: Path) -> None:
    """At start (``serve``, ``worker``): the keys folder and every private key file in it, by :func:`check_private`.

    Every key file, retired ones too (they signed what partners still hold); the files a key transaction
    writes beside their place are made 0600 by it.

    Raises:
        ConfigError: the folder or a key file is owned by another user, or open to group or others.
    """
    folder = keys_folder(home)
    if not folder.is_dir():
        return
    check_private(folder)
    for path in sorted(folder.iterdir()):
        if _KEY_FILE.fullmatch(path.name):
            check_private(path)


class KeyFiles:
    """The private key files one transaction creates: beside their place until it commits (DESIGN §7).

    A file put in place before the commit outlived a transaction that failed: a private key no record names,
    that no backup manifest lists and nothing ever removes. Written beside its place instead (mode 0600,
    flushed to disk), it is put in place after the commit, or removed when the transaction failed. After a
    crash between the two, :func:`signing_key` finds it beside its place and puts it there.
    """

    __slots__ = ("_removed", "_written", "home")

    def __init__(self, home: Path) -> None:
        self.home = home
        self._written: list[tuple[Path, Path]] = []
        self._removed: list[Path] = []

    def write(self, key: SigningKey) -> None:
        """Write ``key`` beside its place in ``home``'s keys folder.

        Raises:
            OSError: the keys folder cannot be written.
        """
        keys_folder(self.home).mkdir(parents=True, exist_ok=True, mode=0o700)
        check_private(keys_folder(self.home))  # never a new secret into a folder others may list or fill
        final = key_path(self.home, key.key_id)
        partial = partial_beside(final)
        self._written.append((partial, final))
        with partial.open("wb") as handle:
            handle.write(key.pem())
            handle.flush()
            os.fsync(handle.fileno())

    def remove(self, key_id: str) -> None:
        """Remove the file of ``key_id`` once the transaction committed (a key abandoned before any use)."""
        self._removed.append(key_path(self.home, key_id))

    def install(self) -> None:
        """Put the written files in their places and remove those to remove (once their transaction committed)."""
        for partial, final in self._written:
            _install(partial, final)
        self._written.clear()
        for path in self._removed:
            path.unlink(missing_ok=True)
        self._removed.clear()

    def discard(self) -> None:
        """Remove the written files and keep those to remove (their transaction failed)."""
        for partial, _ in self._written:
            partial.unlink(missing_ok=True)
        self._written.clear()
        self._removed.clear()


@contextlib.asynccontextmanager
async def key_transaction(conn: Conn, home: Path) -> AsyncIterator[KeyFiles]:
    """A transaction on ``conn`` that may create key files: in place once it committed, removed if it failed.

    A ``COMMIT`` that got no answer (a client-side timeout such as the API pool's ``command_timeout``, or the
    connection lost: :class:`firearms.db.CommitUnansweredError`) may have committed: its files are left beside
    their places, as after a crash, for :func:`signing_key` to put in place if the key is recorded and for the
    next sweep to remove if not (:func:`remove_orphan_key_files`). Removed, a committed key's private half would
    be gone for good. So for a cancellation while the ``COMMIT`` awaits its answer (``firearms keys rotate``
    stopped, a request cut off by a shutdown): the ``COMMIT`` left, and may have committed.

    Raises:
        RuntimeError: ``conn`` is already in a transaction (this one would only be a savepoint of it, and
            its files would be put in place before anything committed).
    """
    if conn.is_in_transaction():
        raise RuntimeError("a transaction creating key files must be the outermost one")
    await remove_orphan_key_files(conn, home)
    files = KeyFiles(home)
    committing = False
    try:
        async with db.transaction(conn):
            await store.lock_key_files_shared(conn)  # before any file is written: a sweep waits for this one
            yield files
            committing = True  # the block is done: what may fail now is the COMMIT
    except db.CommitUnansweredError:
        raise  # it may have committed: the files stay beside their places
    except BaseException as exc:
        if not committing or isinstance(exc, Exception):  # a refused COMMIT committed nothing; a cancelled one may
            files.discard()
        raise
    files.install()


async def remove_orphan_key_files(conn: Conn, home: Path) -> list[Path]:
    """Remove the private key files left beside their places by transactions that never committed.

    A process that died before its key transaction committed (a crash, a kill) left its new key's file beside
    its place, and nothing discarded it: a private key that no record names, that no partner was told of (the
    announcement was queued in that transaction), that no backup manifest lists and that nothing will ever
    sign with -- only a secret on disk, copied with the home folder. It is removed, journaled
    ``key.file-removed``, with a warning; refusing to go on instead would stop the registry over a file
    whose one right fate is deletion. Runs at the start of every :func:`key_transaction` (and so at every
    start, which makes the first key in one), in a transaction of its own.

    Taken under an advisory lock that every key transaction holds shared until it ends: the sweep waits for
    the transactions under way, so a file it finds belongs to one that is over -- committed (its key is
    recorded: the file is left for :func:`signing_key` to put in place) or not (removed). The file of a key
    whose rotation was cancelled goes too. Returns the files removed.

    The removals are journaled and committed first, the files removed after: a file removed before a commit
    that then failed (or a crash) would be gone with no entry saying so. A crash after the commit, or a file
    that cannot be removed, leaves a file whose removal is journaled: the next sweep removes it and recognises
    its entry (no second one).

    Raises:
        RuntimeError: ``conn`` is already in a transaction (the lock would be held until that one ends).
    """
    if conn.is_in_transaction():
        raise RuntimeError("a sweep of key files must run in a transaction of its own")
    folder = keys_folder(home)
    doomed: list[tuple[str, Path]] = []
    async with conn.transaction():
        await store.lock_key_files(conn)
        found: dict[str, list[Path]] = {}
        for path, final in partials_in(folder):
            if match := _KEY_FILE.fullmatch(final):
                found.setdefault(match["key_id"], []).append(path)
        if not found:
            return []
        orphans = sorted(found.keys() - await store.list_recorded_key_ids(conn, sorted(found)))
        journaled = await store.list_removed_key_files(conn, orphans)
        for key_id in orphans:
            for path in found[key_id]:
                doomed.append((key_id, path))
                if (key_id, path.name) in journaled:
                    continue  # journaled by a sweep that did not get to remove it
                await journal.record(
                    conn,
                    actor="system:keys",
                    action="key.file-removed",
                    entity="registry_key",
                    entity_id=key_id,
                    payload={
                        "key_id": key_id,
                        "file": path.name,
                        "reason": "names no key: its transaction did not commit, or its rotation was cancelled",
                    },
                )
    # committed: now the files go (still under no lock: a file of no recorded key is never put in place)
    removed: list[Path] = []
    for key_id, path in doomed:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:  # left for an administrator (the next sweep tries again); it must not stop key work
            log.error(
                "signing key %s: cannot remove %s, the file of no key this registry records: %s", key_id, path, exc
            )
            continue
        log.warning(
            "signing key %s: removed %s, left by a transaction that did not commit (or a cancelled rotation)",
            key_id,
            path,
        )
        removed.append(path)
    return removed


def _install(partial: Path, final: Path) -> None:
    """Give ``partial`` its final name, never over another file, and make the new name durable.

    Raises:
        ConfigError: another file holding another key has that name already.
    """
    try:
        os.link(partial, final)
    except FileExistsError:
        # another process finished the same file first (signing_key after a crash): fine if it holds this key
        try:
            same = SigningKey.load(final).pem() == SigningKey.load(partial).pem()
        except (OSError, ValueError):
            same = False
        if not same:
            raise ConfigError(f"{final} exists and holds another key: {partial} is left for an administrator") from None
    partial.unlink(missing_ok=True)  # the other process may have removed it already
    folder = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _finish_interrupted(home: Path, key_id: str) -> bool:
    """Put in place the file of ``key_id`` written beside it by a transaction that committed before a crash.

    Called only for a key the database names, so that transaction did commit. ``True`` when one was found.
    """
    final = key_path(home, key_id)
    for partial in partials_of(final):
        try:
            found = SigningKey.load(partial)
        except (OSError, ValueError):
            continue
        if found.key_id == key_id:
            _install(partial, final)
            log.warning("signing key %s: put %s in place (its rotation was interrupted after commit)", key_id, partial)
            return True
    return False


async def create_registry_key(
    conn: Conn, files: KeyFiles, *, actor: str, not_before: dt.datetime | None = None
) -> SigningKey:
    """Generate a key, record its public half, journal it; its file (0600) is put in place at commit."""
    key = SigningKey.generate()
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
    files.write(key)
    return key


async def ensure_registry_key(conn: Conn, files: KeyFiles, *, actor: str) -> bool:
    """Create the first signing key when the registry has none; ``True`` when one was created."""
    if await store.list_registry_keys(conn):
        return False
    await create_registry_key(conn, files, actor=actor)
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


async def current_key_id(conn: Conn) -> str | None:
    """The id of the key this registry signs with now (the one :func:`current_signing_key` loads), if any.

    PROTOCOL §4: ``GET /exchange/v1/keys`` names it; one rule (``current_registry_key_id``: the newest
    ``not_before``, then the newest ``created_at``) for the signer and the document.
    """
    row = await store.get_current_registry_key(conn, dt.datetime.now(dt.UTC))
    return None if row is None else str(row["key_id"])


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

    ``key_id`` is a key the database names: a file of it still beside its place, left by a crash after its
    transaction committed, is put in place first.

    Raises:
        ConfigError: its file is missing from ``home``, cannot be read, holds no Ed25519 key, or holds
            another key (a file copied back under the wrong name would sign what partners refuse); it, or
            the keys folder, is owned by another user or open to group or others (:func:`check_private`).
    """
    loaded = _loaded.get((home, key_id))
    if loaded is None:
        path = key_path(home, key_id)
        if not path.exists() and not (path.parent.is_dir() and _finish_interrupted(home, key_id)):
            raise ConfigError(f"signing key {key_id} is not in {path.parent}: is FIREARMS_HOME the right folder?")
        check_private(path.parent)
        check_private(path)
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
