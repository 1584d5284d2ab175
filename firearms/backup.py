"""Backups of the registry's database and restores into an empty one (Protocol Art. 7: records kept 10-30 years).

A backup is a ``pg_dump`` archive of one snapshot, taken while the registry runs: a read-only
repeatable-read transaction exports its snapshot, reads the journal head, the applied migrations and
the registry's keys in it, and ``pg_dump --snapshot`` dumps exactly what that transaction sees. A
manifest beside the archive names that head, so a restore shows that the chain it brought back is the
one that was saved. The private signing keys are never in a backup: they are files in
``FIREARMS_HOME/keys``, kept apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import stat
import time
from typing import TYPE_CHECKING, Annotated, Final, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
import msgspec

from firearms import db, journal, keys
from firearms.canonical import format_time
from firearms.embedded import client_program
from firearms.errors import BackupError
from firearms.files import partial_beside, written_whole
from firearms.store import backup as store
from firearms.store import journal as journal_store
from firearms.store import keys as keys_store
from firearms.text_rules import counted

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

__all__ = [
    "FAILED_RESTORE_FILE",
    "FORMAT",
    "JournalCheck",
    "Manifest",
    "Restored",
    "backup",
    "check_backup",
    "check_journal",
    "failed_restore",
    "manifest_path",
    "read_manifest",
    "restore",
    "verify_after_backup",
]

FORMAT: Final = "firearms-backup/1"
FAILED_RESTORE_FILE: Final = "restore-failed.json"
"""In FIREARMS_HOME: the outcome of a restore that failed its checks; ``serve`` and ``worker`` refuse the home."""

Hex32 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What a backup holds, written beside it as ``PATH.manifest.json``.

    Attributes:
        format: ``firearms-backup/1``.
        state: the State whose registry this is.
        created_at: when the snapshot was taken (UTC).
        database_bytes: the database's size on disk then.
        dump_bytes: the archive's size.
        sha256: the archive's SHA-256 (hex): a damaged or altered archive is refused.
        journal_seq: the journal head in the snapshot (0 for an empty chain).
        journal_hash: the hash at ``journal_seq`` (hex; 32 zero bytes for an empty chain).
        migrations: the migrations applied to the database.
        registry_key_ids: every key of the registry (public halves are in the archive).
        needed_key_files: the private key files the registry signed with from then on: not in the archive.
    """

    format: Literal["firearms-backup/1"]
    state: str
    created_at: dt.datetime
    database_bytes: int
    dump_bytes: int
    sha256: Hex32
    journal_seq: Annotated[int, msgspec.Meta(ge=0)]
    journal_hash: Hex32
    migrations: list[str]
    registry_key_ids: list[str]
    needed_key_files: list[str]


class Restored(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :func:`restore`.

    Attributes:
        restored: the archive restored.
        state: its State.
        journal_seq: the journal head named by the manifest.
        journal_entries: links the verification checked.
        head_matches: the restored chain has the manifest's hash at ``journal_seq``.
        verify_intact: :func:`firearms.journal.verify` found the restored chain intact.
        migrations_applied: migrations newer than the backup, applied after it was restored.
        missing_key_files: private key files the registry needs that are not in ``FIREARMS_HOME/keys``.
        problem: why the restored registry is not to be trusted, when it is not.
    """

    restored: str
    state: str
    journal_seq: int
    journal_entries: int
    head_matches: bool
    verify_intact: bool
    migrations_applied: list[str]
    missing_key_files: list[str]
    problem: str | None = None


class JournalCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The journal of a database checked against a backup's manifest (:func:`check_journal`).

    Attributes:
        head_matches: the chain has the manifest's hash at its ``journal_seq``.
        verification: :func:`firearms.journal.verify`'s verdict on the whole chain.
    """

    head_matches: bool
    verification: journal.Verification

    def problem(self, whose: str, seq: int) -> str | None:
        """Why the journal is not to be trusted (``whose``: "the restored journal"), or ``None`` when it is."""
        if not self.head_matches:
            return f"{whose} does not hold the manifest's hash at seq {seq}"
        if not self.verification.intact:
            found = self.verification
            at = f" at seq {found.bad_seq}" if found.bad_seq is not None else ""
            if found.bad_entry_id is not None:
                at += f" (entry {found.bad_entry_id})" if at else f" at entry {found.bad_entry_id}"
            return f"{whose} does not verify{at}: {found.problem}"
        return None


def _quiet(line: str) -> None:
    del line


async def check_journal(
    conn: db.Conn, manifest: Manifest, *, state: str, seal_first: bool, progress: Callable[[str], None] = _quiet
) -> JournalCheck:
    """The chain at ``conn`` against ``manifest``: the manifest's head on it, and :func:`firearms.journal.verify`.

    One walk, ``journal verify``'s (in batches, a line to ``progress`` now and then). ``seal_first``: link the
    waiting entries first (a live registry); a restore does not, and leaves the journal as the archive holds it.
    """
    head_matches = await _hash_at(conn, manifest.journal_seq) == bytes.fromhex(manifest.journal_hash)
    verification = await journal.verify(
        conn, state=state, seal_first=seal_first, progress=journal.progress_lines(progress)
    )
    return JournalCheck(head_matches=head_matches, verification=verification)


async def verify_after_backup(
    url: str,
    manifest: Manifest,
    *,
    state: str,
    connect: Callable[[str], Awaitable[db.Conn]] = db.connect,
    progress: Callable[[str], None] = _quiet,
) -> JournalCheck:
    """Verify the journal of the registry just backed up (``firearms backup --verify``), after the backup.

    After, so that a broken chain never stops the copy. The registry's chain from its first entry to its
    head now, which holds the backup's head (links are append-only; that it does is :attr:`JournalCheck.head_matches`).
    What this does not see: an entry changed before the snapshot and changed back after it; ``restore`` of the
    archive verifies the archive's own chain.
    """
    conn = await connect(url)
    try:
        return await check_journal(conn, manifest, state=state, seal_first=True, progress=progress)
    finally:
        await conn.close()


def manifest_path(path: Path) -> Path:
    """Where the manifest of the backup ``path`` is kept: ``PATH.manifest.json``."""
    return path.with_name(path.name + ".manifest.json")


async def backup(
    url: str,
    path: Path,
    *,
    state: str,
    actor: str,
    connect: Callable[[str], Awaitable[db.Conn]] = db.connect,
    progress: Callable[[str], None] = _quiet,
) -> Manifest:
    """Dump the database at ``url`` to ``path`` from one snapshot, while the registry may be running.

    ``progress`` gets a line when the snapshot is taken (the dump starts) and one when it is done. The
    archive is written to a temporary file beside ``path`` and renamed into place only once complete.
    The backup is journaled (``registry.backed-up``, with its SHA-256 and journal head) after the
    snapshot, like an export of records: a copy of every record left the registry.

    Raises:
        BackupError: ``path`` or its manifest exists already, cannot be written, the database holds no
            registry, or ``pg_dump`` failed (nothing is left behind).
    """
    manifest_file = manifest_path(path)
    _refuse_existing(path, manifest_file)
    started = time.monotonic()
    conn = await connect(url)
    try:
        partial = _temporary(path)
        try:
            manifest = await _dump(conn, url, partial, state=state, path=path, progress=progress)
            _put_in_place(partial, path, manifest)
        finally:
            partial.unlink(missing_ok=True)
        async with conn.transaction():
            await journal.record(
                conn,
                actor=actor,
                action="registry.backed-up",
                entity="backup",
                entity_id=manifest.sha256,
                payload={
                    "path": str(path),
                    "dump_bytes": manifest.dump_bytes,
                    "journal_seq": manifest.journal_seq,
                    "journal_hash": manifest.journal_hash,
                },
            )
    finally:
        await conn.close()
    progress(f"{path}: {_size(manifest.dump_bytes)} in {time.monotonic() - started:.1f} s")
    return manifest


async def _dump(
    conn: db.Conn, url: str, partial: Path, *, state: str, path: Path, progress: Callable[[str], None]
) -> Manifest:
    """Seal the journal, export a snapshot, read the manifest's facts in it and let pg_dump write ``partial`` from it.

    Raises:
        BackupError: the database holds no registry, or pg_dump failed.
    """
    try:
        # Before the snapshot, in no transaction: a migration that rewrites a table is not MVCC-safe, and a
        # snapshot taken before it commits would dump that table empty. Migrations wait for the dump.
        await store.wait_for_migrations(conn, db.MIGRATION_LOCK)
        await journal.seal(conn)  # links what committed so far, so the head in the snapshot is recent
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await store.keep_transaction_open(conn)
            snapshot = await store.export_snapshot(conn)
            created_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
            head = await journal_store.get_journal_head(conn)
            seq, head_hash = (head["seq"], head["hash"]) if head else (0, journal.GENESIS)
            migrations = await store.list_applied_migrations(conn)
            key_ids = [row["key_id"] for row in await keys_store.list_registry_keys(conn)]
            needed = await keys.needed_key_ids(conn)
            database_bytes = await store.get_database_size(conn)
            size = _size(database_bytes)
            progress(f"backing up the {state} registry ({size} database, journal at seq {seq}) to {path} ...")
            options = ["--format=custom", f"--snapshot={snapshot}", "--no-owner", "--no-privileges"]
            await _run("pg_dump", [*options, f"--file={partial}"], url)
        await store.release_migrations(conn, db.MIGRATION_LOCK)
    except asyncpg.UndefinedTableError as exc:
        raise BackupError(
            "the database holds no registry yet ('firearms serve' or 'firearms migrate' makes one): nothing to back up",
            code="backup-nothing",
        ) from exc
    return Manifest(
        format=FORMAT,
        state=state,
        created_at=created_at,
        database_bytes=database_bytes,
        dump_bytes=(await asyncio.to_thread(partial.stat)).st_size,
        sha256=await asyncio.to_thread(_sha256, partial),
        journal_seq=seq,
        journal_hash=head_hash.hex(),
        migrations=migrations,
        registry_key_ids=key_ids,
        needed_key_files=[keys.key_file(key_id) for key_id in needed],
    )


def _put_in_place(partial: Path, path: Path, manifest: Manifest) -> None:
    """Rename the complete archive to ``path`` and write its manifest beside it, never over an existing file."""
    manifest_file = manifest_path(path)
    partial_manifest = _temporary(manifest_file)
    try:
        partial_manifest.write_bytes(msgspec.json.encode(manifest) + b"\n")
        _refuse_existing(path, manifest_file)
        partial.replace(path)
        partial_manifest.replace(manifest_file)
    finally:
        partial_manifest.unlink(missing_ok=True)


def read_manifest(path: Path) -> Manifest:
    """The manifest of the backup ``path``.

    Raises:
        BackupError: it is missing, unreadable, or not a ``firearms-backup/1`` manifest.
    """
    manifest_file = manifest_path(path)
    try:
        raw = manifest_file.read_bytes()
    except FileNotFoundError as exc:
        raise BackupError(
            f"{manifest_file} is missing: a backup is restored only with its manifest", code="manifest-missing"
        ) from exc
    except OSError as exc:
        raise BackupError(f"cannot read {manifest_file}: {exc.strerror}", code="manifest-missing") from exc
    try:
        return msgspec.json.decode(raw, type=Manifest)
    except msgspec.DecodeError as exc:
        raise BackupError(f"{manifest_file} is not a {FORMAT} manifest: {exc}", code="manifest-invalid") from exc


async def check_backup(path: Path, *, state: str, progress: Callable[[str], None] = _quiet) -> Manifest:
    """The manifest of the backup ``path``, once the backup is one this registry can restore.

    Needs no database: a restore runs these checks before it sets anything up (an embedded server in a
    new home included), so a refused backup leaves nothing behind.

    Raises:
        BackupError: the manifest is missing or of another format or State, the backup needs migrations
            this version does not have, or the archive's SHA-256 differs from the manifest's.
    """
    _refuse_open_to_others(path)
    manifest = read_manifest(path)
    _refuse_open_to_others(manifest_path(path))
    if manifest.state != state:
        raise BackupError(
            f"{path} is a backup of the {manifest.state} registry, not of {state} (FIREARMS_STATE)",
            code="backup-other-state",
        )
    unknown = sorted(set(manifest.migrations) - {file.name for file in (db.SQL_DIR / "migrations").glob("*.sql")})
    if unknown:
        raise BackupError(
            f"{path} was made by a newer version of the registry (migrations {', '.join(unknown)} are unknown "
            "here): restore it with that version or a later one",
            code="backup-newer-schema",
        )
    size = (await asyncio.to_thread(path.stat)).st_size
    progress(f"checking {path} ({_size(size)}, the {state} registry at {format_time(manifest.created_at)}) ...")
    if await asyncio.to_thread(_sha256, path) != manifest.sha256:
        raise BackupError(
            f"{path} does not match its manifest (SHA-256 differs): the archive is damaged or was altered",
            code="backup-damaged",
        )
    return manifest


def _refuse_open_to_others(path: Path) -> None:
    """Refuse an archive or manifest that an account other than this one (or root) may write, or replace.

    ``pg_restore`` runs what the archive holds as the database's owner (on the embedded server, a superuser:
    ``COPY ... TO PROGRAM`` is a shell), and the manifest's SHA-256 vouches for nothing when whoever can write
    the archive can write the manifest beside it. So the file (followed through symlinks), and the folder it
    is in, must belong to this user or root and be writable by no group or other -- a folder with the sticky
    bit (``/tmp``) excepted, where others cannot rename or remove our files. Not checked where the system has
    no POSIX modes (as :func:`firearms.keys.check_private`).

    Raises:
        BackupError: ``backup-open-to-others``, naming the path and the command that mends it.
    """
    if os.name != "posix":
        return
    real = path.resolve()
    trusted = {os.geteuid(), 0}
    for what, place in (("backup file", real), ("folder", real.parent)):
        try:
            found = place.stat()
        except FileNotFoundError:
            return  # a missing manifest is read_manifest's refusal
        folder = stat.S_ISDIR(found.st_mode)
        why = None
        if found.st_uid not in trusted:
            why = f"it belongs to uid {found.st_uid}"
        elif found.st_mode & 0o022 and not (folder and found.st_mode & stat.S_ISVTX):
            why = f"mode {stat.S_IMODE(found.st_mode):04o}"
        if why is not None:
            shown = path if place is real else place
            raise BackupError(
                f"the {what} {shown} is one someone else can write ({why}): pg_restore runs what an archive holds,"
                f" and its manifest vouches for nothing then; copy the backup to a folder of your own"
                f" (chown {os.geteuid()}, chmod go-w) and restore from there",
                code="backup-open-to-others",
            )


async def restore(
    url: str,
    path: Path,
    *,
    state: str,
    home: Path,
    connect: Callable[[str], Awaitable[db.Conn]] = db.connect,
    progress: Callable[[str], None] = _quiet,
    checked: Manifest | None = None,
) -> Restored:
    """Restore the backup ``path`` into the empty database at ``url``, then migrate and check the journal.

    Refused before anything is written when the manifest is missing or of another format or State, the
    archive's SHA-256 differs from the manifest's, the backup needs migrations this version does not have,
    or the database already holds tables. ``pg_restore`` runs in one transaction: it restores everything or
    nothing. Then migrations newer than the backup are applied, and the chain must hold the manifest's hash
    at its head and verify intact (else ``problem`` says why, and ``home`` keeps the outcome in
    :data:`FAILED_RESTORE_FILE`: see :func:`failed_restore`; a restore that passes removes an earlier one's).
    The private keys the registry signs with are looked for in ``home``. ``checked``: the manifest
    :func:`check_backup` already returned for ``path`` (then its checks are not run again).

    Raises:
        BackupError: a refusal, or ``pg_restore`` failed (then nothing was restored).
    """
    started = time.monotonic()
    manifest = checked or await check_backup(path, state=state, progress=progress)
    conn = await connect(url)
    try:
        if await store.count_public_relations(conn):
            raise BackupError(
                "the database already holds tables: restore into a new FIREARMS_HOME or an empty database",
                code="restore-target-not-empty",
            )
        await asyncio.to_thread(_make_keys_folder, home)
        progress(f"restoring {path} ...")
        await _run(
            "pg_restore", ["--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges"], url, str(path)
        )
        applied = await db.migrate(conn)
        progress(f"restored in {time.monotonic() - started:.1f} s; verifying the journal ...")
        # not sealed first: the journal stays as the archive holds it (for whoever investigates a broken one);
        # the restored registry's sealer links the entries it holds unlinked
        checked_journal = await check_journal(conn, manifest, state=state, seal_first=False, progress=progress)
        missing = keys.missing_key_files(home, await keys.needed_key_ids(conn))
    finally:
        await conn.close()
    head_matches, verification = checked_journal.head_matches, checked_journal.verification
    problem = checked_journal.problem("the restored journal", manifest.journal_seq)
    verified = counted(verification.entries, "journal entry", "journal entries")
    progress(f"done in {time.monotonic() - started:.1f} s: {verified} verified")
    restored = Restored(
        restored=str(path),
        state=state,
        journal_seq=manifest.journal_seq,
        journal_entries=verification.entries,
        head_matches=head_matches,
        verify_intact=verification.intact,
        migrations_applied=applied,
        missing_key_files=[file.name for file in missing],
        problem=problem,
    )
    if problem:  # "do not serve it" in a line was not enough: serve and worker refuse the home (failed_restore)
        await asyncio.to_thread(_note_failed_restore, home, restored)
    else:  # an earlier failed restore's note spoke of data this restore replaced: it would refuse a sound registry
        (home / FAILED_RESTORE_FILE).unlink(missing_ok=True)
    return restored


def _note_failed_restore(home: Path, restored: Restored) -> None:
    with written_whole(home / FAILED_RESTORE_FILE) as partial:
        partial.write_bytes(msgspec.json.encode(restored) + b"\n")


def failed_restore(home: Path) -> str | None:
    """Why the restore into ``home`` failed its checks, when it did and its note is still there, else ``None``.

    A restored registry whose journal does not verify, or is not the manifest's, holds data for inspection
    only; :func:`restore` notes it in the home, and ``serve`` and ``worker`` refuse such a home until the
    operator deletes the note. A note that cannot be read refuses the home too.
    """
    note = home / FAILED_RESTORE_FILE
    if not note.exists():
        return None
    try:
        problem = msgspec.json.decode(note.read_bytes(), type=Restored).problem
    except (OSError, msgspec.DecodeError):
        problem = None
    return problem or f"{note} cannot be read"


async def _hash_at(conn: db.Conn, seq: int) -> bytes | None:
    """The chain's hash at ``seq`` (the genesis hash at 0), ``None`` when the chain is shorter."""
    if seq == 0:
        return journal.GENESIS
    link = await journal_store.get_journal_link(conn, seq)
    return None if link is None else bytes(link["hash"])


async def _run(program: str, options: list[str], url: str, *operands: str) -> None:
    """Run a client program of the wheel on the database at ``url``.

    Raises:
        BackupError: it failed; the detail is its first error line.
    """
    dsn, env = _libpq(url)
    process = await asyncio.create_subprocess_exec(
        client_program(program),
        *options,
        f"--dbname={dsn}",
        *operands,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, errors = await process.communicate()
    if process.returncode:
        lines = errors.decode(errors="replace").strip().splitlines()
        reason = next((line for line in lines if "error:" in line), lines[0] if lines else "")
        raise BackupError(f"{program} failed (exit status {process.returncode}): {reason}", code=f"{program}-failed")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its password, and an environment that passes the password (``PGPASSWORD``) instead.

    A command line is readable by every user of the machine; a process's environment is not.
    """
    parts = urlsplit(url)
    if not parts.password:
        return url, dict(os.environ)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    netloc = f"{user}@{hosts}" if user else hosts
    return urlunsplit(parts._replace(netloc=netloc)), {**os.environ, "PGPASSWORD": unquote(parts.password)}


def _refuse_existing(path: Path, manifest_file: Path) -> None:
    for existing in (path, manifest_file):
        if existing.exists():
            raise BackupError(f"{existing} already exists: a backup never overwrites a file", code="backup-exists")


def _make_keys_folder(home: Path) -> None:
    """``home`` and its keys folder, readable by the service only: the key files are copied there."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys.keys_folder(home).mkdir(exist_ok=True, mode=0o700)


def _temporary(path: Path) -> Path:
    """:func:`firearms.files.partial_beside` (mode 0600: a backup holds personal data).

    Raises:
        BackupError: the folder cannot be written.
    """
    try:
        return partial_beside(path)
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror}", code="backup-unwritable") from exc


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _size(count: int) -> str:
    """``count`` bytes for people: 812 bytes, 3.4 MiB."""
    amount, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, larger
    return counted(count, "byte") if unit == "bytes" else f"{amount:.1f} {unit}"
