"""Restores of a backup into an empty database, and the checks a backup passes first (Protocol Art. 7).

A backup (:mod:`firearms.backup`) is restored only with its manifest (:mod:`firearms.backup_archive`), and
only when it is this State's, needs no migration this version lacks, and its archive has the manifest's
SHA-256. ``pg_restore`` runs in one transaction; then newer migrations are applied and the restored
journal is checked against the manifest's head. A restore that fails that check leaves a note in
``FIREARMS_HOME`` (:data:`FAILED_RESTORE_FILE`) that ``serve`` and ``worker`` refuse the home by.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import PurePath
from typing import TYPE_CHECKING, Final

import msgspec

from firearms import db, journal, keys
from firearms.backup_archive import (
    Manifest,
    check_journal,
    file_sha256,
    human_size,
    manifest_path,
    quiet,
    read_manifest,
    run_client,
)
from firearms.canonical import format_time
from firearms.errors import BackupError
from firearms.files import written_whole
from firearms.store import backup as store
from firearms.text_rules import counted

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

__all__ = [
    "FAILED_RESTORE_FILE",
    "Restored",
    "check_backup",
    "failed_restore",
    "note_failed_restore",
    "restore",
]


FAILED_RESTORE_FILE: Final = "restore-failed.json"
"""In FIREARMS_HOME: the outcome of a restore that failed its checks; ``serve`` and ``worker`` refuse the home."""


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
        verification_unrecorded: the restore passed its checks, but the record of its walk (``journal.verified``) is
            not known to be written: the database's words (it refused it), or why its ``COMMIT`` got no answer.
        verification_unconfirmed: that record's ``COMMIT`` got no answer: it may have been written after all.
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
    verification_unrecorded: str | None = None
    verification_unconfirmed: bool = False


async def check_backup(path: Path, *, state: str, progress: Callable[[str], None] = quiet) -> Manifest:
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
    progress(f"checking {path} ({human_size(size)}, the {state} registry at {format_time(manifest.created_at)}) ...")
    if await asyncio.to_thread(file_sha256, path) != manifest.sha256:
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
    progress: Callable[[str], None] = quiet,
    checked: Manifest | None = None,
    actor: str = "system:restore",
) -> Restored:
    """Restore the backup ``path`` into the empty database at ``url``, then migrate and check the journal.

    Refused before anything is written when the manifest is missing or of another format or State, the
    archive's SHA-256 differs from the manifest's, the backup needs migrations this version does not have,
    or the database already holds tables. ``pg_restore`` runs in one transaction: it restores everything or
    nothing. Then migrations newer than the backup are applied, and the chain must hold the manifest's hash
    at its head and verify intact (else ``problem`` says why, and ``home`` keeps the outcome in
    :data:`FAILED_RESTORE_FILE`: see :func:`failed_restore`; a restore that passes removes an earlier one's). That
    note is written before ``pg_restore`` runs, so a restore stopped before its checks ended leaves the home refused.
    The private keys the registry signs with are looked for in ``home``. ``checked``: the manifest
    :func:`check_backup` already returned for ``path`` (then its checks are not run again).

    The journal check is a full verification of the restored chain: when the restore passes, it is recorded as one
    (``journal.verified`` by ``actor``, :func:`firearms.journal.record_verification`), so the restored registry's
    overview counts it and its next ``journal verify --since-checkpoint`` starts from it. A restore that fails its
    checks records nothing: its data stays as the archive holds it, for inspection. A record the database refuses
    leaves the restore passed (its data was checked: the home is not refused) and says why in
    ``verification_unrecorded``; so does one whose ``COMMIT`` got no answer (``verification_unconfirmed``: it may
    have been written).

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
        # pg_restore commits the archive before its journal is checked: a restore stopped in between (Ctrl-C, a lost
        # connection, a killed process) would leave data no check passed in a home that serves; until the checks
        # pass, the home is refused as a failed restore's
        await asyncio.to_thread(note_failed_restore, home, _unchecked(path, state, manifest))
        progress(f"restoring {path} ...")
        try:
            await run_client(
                "pg_restore",
                ["--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges"],
                url,
                str(path),
            )
        except BackupError:  # one transaction: nothing was restored, nothing to refuse the home for
            (home / FAILED_RESTORE_FILE).unlink(missing_ok=True)
            raise
        applied = await db.migrate(conn)
        progress(f"restored in {time.monotonic() - started:.1f} s; verifying the journal ...")
        # not sealed first: the journal stays as the archive holds it (for whoever investigates a broken one);
        # the restored registry's sealer links the entries it holds unlinked
        checked_journal = await check_journal(conn, manifest, state=state, seal_first=False, progress=progress)
        problem = checked_journal.problem("the restored journal", manifest.journal_seq)
        # before the record: a connection lost under it (its COMMIT unanswered) leaves no connection to read them on
        missing = keys.missing_key_files(home, await keys.needed_key_ids(conn))
        unrecorded = None
        if problem is None:  # queued, not sealed: the restored registry's sealer links it after the archive's entries
            # refused (a constraint, a right, a read-only database) or unanswered, it is no failed check: the outcome
            # says so
            unrecorded = await journal.record_verification_or_why_not(
                conn, actor=actor, result=checked_journal.verification
            )
    finally:
        await conn.close()
    head_matches, verification = checked_journal.head_matches, checked_journal.verification
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
        verification_unrecorded=None if unrecorded is None else unrecorded.why,
        verification_unconfirmed=unrecorded is not None and unrecorded.unconfirmed,
    )
    if problem:  # "do not serve it" in a line was not enough: serve and every writing command refuse the home
        await asyncio.to_thread(note_failed_restore, home, restored)
    else:  # an earlier failed restore's note spoke of data this restore replaced: it would refuse a sound registry
        (home / FAILED_RESTORE_FILE).unlink(missing_ok=True)
    return restored


def _unchecked(path: Path, state: str, manifest: Manifest) -> Restored:
    """The note of a restore whose checks have not passed yet (replaced by its outcome once they ran)."""
    return Restored(
        restored=str(path),
        state=state,
        journal_seq=manifest.journal_seq,
        journal_entries=0,
        head_matches=False,
        verify_intact=False,
        migrations_applied=[],
        missing_key_files=[],
        problem=f"the restore of {path} did not finish its checks: what it restored was never checked",
    )


def note_failed_restore(home: Path, restored: Restored) -> None:
    """Note in ``home`` that the restore ``restored`` failed its checks: its outcome line, mode 0600.

    Read by :func:`failed_restore`. :func:`restore` writes it; so do the tests of the commands that refuse such a home.
    """
    with written_whole(home / FAILED_RESTORE_FILE) as partial:
        partial.write_bytes(msgspec.json.encode(restored) + b"\n")


def failed_restore(home: Path, *, home_words: str | None = None) -> str | None:
    """Why the restore into ``home`` failed its checks, when it did and its note is still there, else ``None``.

    A restored registry whose journal does not verify, or is not the manifest's, holds data for inspection
    only; :func:`restore` notes it in the home, and ``serve``, ``worker`` and every command that writes refuse it
    until the operator deletes the note. A note that cannot be read refuses the home too.

    ``home_words``: how the answer names the home (``FIREARMS_HOME`` for the API's overview, whose reader is not to
    learn the server's paths); then the archive the note names is named by its file name. The home's path by default.
    """
    note = home / FAILED_RESTORE_FILE
    if not note.exists():
        return None
    try:
        restored: Restored | None = msgspec.json.decode(note.read_bytes(), type=Restored)
    except (OSError, msgspec.DecodeError):
        restored = None
    if restored is None or not restored.problem:
        return f"{note if home_words is None else f'{home_words}/{FAILED_RESTORE_FILE}'} cannot be read"
    if home_words is None:
        return restored.problem
    problem = restored.problem
    if restored.restored:  # the archive first: it may lie in the home
        problem = problem.replace(restored.restored, PurePath(restored.restored).name)
    return problem.replace(str(home), home_words)


def _make_keys_folder(home: Path) -> None:
    """``home`` and its keys folder, readable by the service only: the key files are copied there."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys.keys_folder(home).mkdir(exist_ok=True, mode=0o700)
