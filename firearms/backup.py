"""Backups of the registry's database, taken while it runs (Protocol Art. 7: records kept 10-30 years).

A backup is a ``pg_dump`` archive of one snapshot, taken while the registry runs: a read-only
repeatable-read transaction exports its snapshot, reads the journal head, the applied migrations and
the registry's keys in it, and ``pg_dump --snapshot`` dumps exactly what that transaction sees. A
manifest beside the archive names that head (:mod:`firearms.backup_archive`), so a restore
(:mod:`firearms.restore`) shows that the chain it brought back is the one that was saved. The private
signing keys are never in a backup: they are files in ``FIREARMS_HOME/keys``, kept apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import TYPE_CHECKING

import asyncpg
import msgspec

from firearms import db, journal, keys
from firearms.backup_archive import (
    FORMAT,
    JournalCheck,
    Manifest,
    check_journal,
    file_sha256,
    human_size,
    manifest_path,
    quiet,
    run_client,
)
from firearms.errors import BackupError
from firearms.files import partial_beside
from firearms.store import backup as store
from firearms.store import journal as journal_store
from firearms.store import keys as keys_store

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

__all__ = ["backup", "verify_after_backup"]


async def verify_after_backup(
    url: str,
    manifest: Manifest,
    *,
    state: str,
    seal: bool = True,
    connect: Callable[[str], Awaitable[db.Conn]] = db.connect,
    progress: Callable[[str], None] = quiet,
    actor: str | None = None,
) -> JournalCheck:
    """Verify the journal of the registry just backed up (``firearms backup --verify``), after the backup.

    After, so that a broken chain never stops the copy. The registry's chain from its first entry to its
    head now, which holds the backup's head (links are append-only; that it does is :attr:`JournalCheck.head_matches`).
    What this does not see: an entry changed before the snapshot and changed back after it; ``restore`` of the
    archive verifies the archive's own chain. ``seal=False``: the queued entries stay queued (a failed restore's
    journal, kept as its archive holds it).

    ``actor``: the walk is recorded by it as ``journal verify``'s is (:func:`firearms.journal.record_verification`),
    intact or broken, so that a nightly ``backup --verify`` counts in the overview (README "Status"); ``None``, and
    with ``seal=False`` (a failed restore's home takes no write), nothing is recorded. A record the database refuses
    (a right taken back, a database gone read-only) does not hide the verdict: :attr:`JournalCheck.unrecorded` says
    why, and the command says both. A database that takes no write here refuses the seal first
    (:func:`firearms.journal.seal_or_why_not`): the walk goes over what is sealed, no record is attempted, and
    :attr:`JournalCheck.unrecorded` counts the entries left unsealed and not verified.
    """
    conn = await connect(url)
    try:
        # a read-only copy (a standby, a database set read-only) or a role that may not write refuses the seal: what
        # is sealed is walked, and nothing is written (README "The journal")
        refused = await journal.seal_or_why_not(conn) if seal else None
        checked = await check_journal(conn, manifest, state=state, seal_first=False, progress=progress)
        if actor is not None and seal:
            unrecorded = (
                journal.Unrecorded(why=refused, unsealed=checked.verification.pending)
                if refused is not None
                else await journal.record_verification_or_why_not(conn, actor=actor, result=checked.verification)
            )
            if unrecorded is not None:
                return msgspec.structs.replace(checked, unrecorded=unrecorded)
        return checked
    finally:
        await conn.close()


async def backup(
    url: str,
    path: Path,
    *,
    state: str,
    actor: str,
    seal: bool = True,
    connect: Callable[[str], Awaitable[db.Conn]] = db.connect,
    progress: Callable[[str], None] = quiet,
    on_write_refused: Callable[[str], None] | None = None,
) -> Manifest:
    """Dump the database at ``url`` to ``path`` from one snapshot, while the registry may be running.

    ``progress`` gets a line when the snapshot is taken (the dump starts) and one when it is done. The
    archive is written to a temporary file beside ``path`` and renamed into place only once complete.
    The backup is journaled (``registry.backed-up``, with its SHA-256 and journal head) after the
    snapshot, like an export of records: a copy of every record left the registry. The journal is sealed before
    the snapshot, unless ``seal=False`` (a failed restore's journal: backed up as its archive holds it).

    A copy of every record is journaled, as an export of records is (DESIGN §6, README "Backups"): a database that
    takes no write here (:data:`firearms.journal.WRITE_REFUSED`: a read-only copy, a hot standby, one set
    ``default_transaction_read_only`` during an incident or an audit) refuses the seal before the snapshot, and the
    backup is refused there, before any copy is made. A journal entry refused after the dump (the database set
    read-only meanwhile, any other error) removes the archive and its manifest: a command that fails leaves no
    unjournaled copy behind.

    ``on_write_refused``: the operator's explicit choice (``backup --unjournaled``) of a copy the journal will not
    show, on a database that takes no write. The backup is made from what is there (the seal refused: queued entries
    go into the archive unlinked, as any committed after a seal do), kept, and the refusal of its journal entry handed
    to it (the database's words), for the command to say that this copy was not journaled. Any other error at the
    entry removes the archive as above.

    Raises:
        BackupError: ``path`` or its manifest exists already, cannot be written, the database holds no
            registry, ``pg_dump`` failed, the database takes no write (``backup-unjournaled``, without
            ``on_write_refused``) or the backup's journal entry was refused (nothing is left behind).
    """
    manifest_file = manifest_path(path)
    _refuse_existing(path, manifest_file)
    started = time.monotonic()
    conn = await connect(url)
    try:
        partial = _temporary(path)
        try:
            manifest = await _dump(
                conn,
                url,
                partial,
                state=state,
                path=path,
                seal=seal,
                progress=progress,
                unjournaled=on_write_refused is not None,
            )
            _put_in_place(partial, path, manifest)
        finally:
            partial.unlink(missing_ok=True)
        try:
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
        except journal.WRITE_REFUSED as exc:  # rolled back: outside the block, no COMMIT of a failed transaction
            if on_write_refused is None:
                _remove(path)
                raise BackupError(
                    _unjournaled_refusal(db.first_line(exc), f"{path} was removed: no copy is kept"),
                    code="backup-unjournaled",
                ) from exc
            on_write_refused(db.first_line(exc))
        except asyncpg.PostgresError as exc:
            _remove(path)
            raise BackupError(
                f"the backup could not be journaled ({db.first_line(exc)}), so {path} was removed: no copy is kept",
                code="backup-unjournaled",
            ) from exc
        except BaseException:  # a lost connection, an unanswered COMMIT, an interrupt: the command fails, no copy kept
            _remove(path)
            progress(f"{path} was removed: its journal entry was not written, or not confirmed")
            raise
    finally:
        await conn.close()
    progress(f"{path}: {human_size(manifest.dump_bytes)} in {time.monotonic() - started:.1f} s")
    return manifest


async def _dump(
    conn: db.Conn,
    url: str,
    partial: Path,
    *,
    state: str,
    path: Path,
    seal: bool,
    progress: Callable[[str], None],
    unjournaled: bool,
) -> Manifest:
    """Seal the journal, export a snapshot, read the manifest's facts in it and let pg_dump write ``partial`` from it.

    A seal the database refuses as "cannot write here" (:data:`firearms.journal.WRITE_REFUSED`) refuses the backup,
    before any copy is made; ``unjournaled`` (asked for): it is skipped, and the backup made from what is there.

    Raises:
        BackupError: the database holds no registry, takes no write here (not ``unjournaled``), or pg_dump failed.
    """
    try:
        # Before the snapshot, in no transaction: a migration that rewrites a table is not MVCC-safe, and a
        # snapshot taken before it commits would dump that table empty. Migrations wait for the dump.
        await store.wait_for_migrations(conn, db.MIGRATION_LOCK)
        # links what committed so far, so the head in the snapshot is recent; refused, the backup could not be
        # journaled either: a copy of every record is not made unjournaled unless the operator asked for it
        refused = await journal.seal_or_why_not(conn) if seal else None
        if refused is not None and not unjournaled:
            raise BackupError(_unjournaled_refusal(refused, "none was made"), code="backup-unjournaled")
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
            size = human_size(database_bytes)
            progress(f"backing up the {state} registry ({size} database, journal at seq {seq}) to {path} ...")
            options = ["--format=custom", f"--snapshot={snapshot}", "--no-owner", "--no-privileges"]
            await run_client("pg_dump", [*options, f"--file={partial}"], url)
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
        sha256=await asyncio.to_thread(file_sha256, partial),
        journal_seq=seq,
        journal_hash=head_hash.hex(),
        migrations=migrations,
        registry_key_ids=key_ids,
        needed_key_files=[keys.key_file(key_id) for key_id in needed],
    )


def _unjournaled_refusal(why: str, what: str) -> str:
    """Why a backup of a database that takes no write here was refused (``why``: its words), and ``what`` of it."""
    return (
        f"the database takes no write here ({why}): the backup could not be journaled, so {what}; a copy of every"
        ' record must be journaled (README "Backups"): give --unjournaled to make and keep one the journal will not'
        " show"
    )


def _remove(path: Path) -> None:
    """Remove the archive and manifest this backup put in place (it never overwrites one, so they are its own)."""
    path.unlink(missing_ok=True)
    manifest_path(path).unlink(missing_ok=True)


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


def _refuse_existing(path: Path, manifest_file: Path) -> None:
    for existing in (path, manifest_file):
        if existing.exists():
            raise BackupError(f"{existing} already exists: a backup never overwrites a file", code="backup-exists")


def _temporary(path: Path) -> Path:
    """:func:`firearms.files.partial_beside` (mode 0600: a backup holds personal data).

    Raises:
        BackupError: the folder cannot be written.
    """
    try:
        return partial_beside(path)
    except OSError as exc:
        raise BackupError(f"cannot write {path}: {exc.strerror}", code="backup-unwritable") from exc
