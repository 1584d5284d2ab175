"""The backup archive and its manifest (``firearms-backup/1``), and what checks a database against them.

A backup is a ``pg_dump`` archive (custom format) with a manifest beside it, ``PATH.manifest.json``: the
State, the journal head in the snapshot, the migrations applied, the registry's keys and the archive's
SHA-256. Shared by the backup run (:mod:`firearms.backup`) and the restore (:mod:`firearms.restore`): the
manifest, the journal checked against it, the wheel's client programs (``pg_dump``, ``pg_restore``) run
without a password on their command line, and the archive's digest and size.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from typing import TYPE_CHECKING, Annotated, Final, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import msgspec

from firearms import db, journal
from firearms.canonical import key_named_twice
from firearms.embedded import client_program
from firearms.errors import BackupError
from firearms.store import journal as journal_store
from firearms.text_rules import counted

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = [
    "FORMAT",
    "JournalCheck",
    "Manifest",
    "check_journal",
    "file_sha256",
    "human_size",
    "manifest_path",
    "quiet",
    "read_manifest",
    "run_client",
]

FORMAT: Final = "firearms-backup/1"

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


class JournalCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The journal of a database checked against a backup's manifest (:func:`check_journal`).

    Attributes:
        head_matches: the chain has the manifest's hash at its ``journal_seq``.
        verification: :func:`firearms.journal.verify`'s verdict on the whole chain.
        unrecorded: why the verification's record (:func:`firearms.journal.record_verification`) is not known to be
            written: refused, the database's words, or its ``COMMIT`` unanswered (``None``: recorded, or not to be).
    """

    head_matches: bool
    verification: journal.Verification
    unrecorded: journal.Unrecorded | None = None

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


def quiet(line: str) -> None:
    """The default ``progress`` of the backup and restore functions: says nothing."""
    del line


async def check_journal(
    conn: db.Conn, manifest: Manifest, *, state: str, seal_first: bool, progress: Callable[[str], None] = quiet
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


def manifest_path(path: Path) -> Path:
    """Where the manifest of the backup ``path`` is kept: ``PATH.manifest.json``."""
    return path.with_name(path.name + ".manifest.json")


def read_manifest(path: Path) -> Manifest:
    """The manifest of the backup ``path``.

    Raises:
        BackupError: it is missing, unreadable, or not a ``firearms-backup/1`` manifest (an object naming a key
            twice is none either: RFC 8259 §4 leaves its meaning to the reader).
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
        manifest = msgspec.json.decode(raw, type=Manifest)
        twice = key_named_twice(raw)
    except UnicodeDecodeError as exc:  # msgspec's own error for bytes that are not UTF-8, not a DecodeError
        why = f"it is not UTF-8 (byte {exc.start})"
    except (ValueError, RecursionError) as exc:  # DecodeError is a ValueError; RecursionError: nested too deeply
        why = str(exc) or "it is nested too deeply"
    else:
        if twice is None:
            return manifest
        # msgspec kept the last value, silently: the State or digest checked may not be the one another reader sees
        why = f"it names the key {twice!r} twice"
    raise BackupError(f"{manifest_file} is not a {FORMAT} manifest: {why}", code="manifest-invalid")


async def _hash_at(conn: db.Conn, seq: int) -> bytes | None:
    """The chain's hash at ``seq`` (the genesis hash at 0), ``None`` when the chain is shorter."""
    if seq == 0:
        return journal.GENESIS
    link = await journal_store.get_journal_link(conn, seq)
    return None if link is None else bytes(link["hash"])


async def run_client(program: str, options: list[str], url: str, *operands: str) -> None:
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


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file ``path`` (hex), as a manifest names its archive's."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def human_size(count: int) -> str:
    """``count`` bytes for people: 812 bytes, 3.4 MiB."""
    amount, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, larger
    return counted(count, "byte") if unit == "bytes" else f"{amount:.1f} {unit}"
