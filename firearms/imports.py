"""Bulk import of records (CSV, NDJSON): streamed, loaded with COPY, validated set-wise in SQL.

One file is one transaction and one batch (``item_import``) with one journal entry carrying its
counts and the SHA-256 of the file, not one entry per row. A row is inserted whole (item and its
markings) or not at all. Identity decides duplicates: a row whose item is already registered is
skipped (``already-registered``), so re-running a file creates nothing twice; a later row with the
identity of an earlier valid row of the same file is ``duplicate-in-file``. When no row is
inserted, nothing at all is stored (no batch, no journal entry).

Every rejected or skipped row is reported with its line number and reasons (the first rule it breaks, and every
rule it breaks; for ``already-registered``, the registered item's id), as CSV written next to the input.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
from typing import TYPE_CHECKING, TypeVar

import msgspec

from firearms import db, files, journal
from firearms.countries import COUNTRIES
from firearms.errors import InvalidInputError, NotFoundError
from firearms.import_files import STAGING_COLUMNS, SourceFile, detect_format, read_rows, spreadsheet_cell
from firearms.store import imports as store
from firearms.text_rules import CONTROL_PATTERN_SQL, SPACE_CHARACTERS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    import asyncpg

    from firearms.db import Conn

__all__ = [
    "REASONS",
    "ROWS_REPORTED",
    "ImportBatch",
    "ImportResult",
    "Rejection",
    "get_import",
    "import_file",
    "list_imports",
    "report_path_for",
]

T = TypeVar("T")
ROWS_REPORTED = 1000
"""How often :func:`import_file` tells ``rows`` how many rows it read (every this many)."""

# Reason codes of the rejected-rows report (README "Records").
REASONS = (
    "malformed-line",
    "invalid-value",
    "invalid-number",
    "invalid-text",
    "padded-value",
    "invalid-serial",
    "invalid-country",
    "year-in-future",
    "year-before-manufacture",
    "invalid-kind-fields",
    "antique-too-recent",
    "invalid-marking",
    "marking-required",
    "duplicate-in-file",
    "already-registered",
)


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """A row not inserted: its line, the reason code, its serial as given, the registered item if any.

    ``reason`` is the first rule the row breaks, in the order the rules are checked (as the report always gave
    it); ``reasons`` every rule it breaks, in the order of :data:`REASONS`. A rule that reads a value another
    rule judges is judged only on a value that passed it (``year-in-future`` on a year that is a number):
    the fault is the other rule's.
    """

    line: int
    reason: str
    serial: str | None
    item_id: int | None
    reasons: list[str]


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one file. ``import_id`` is ``None`` when nothing was inserted (nothing stored)."""

    import_id: int | None
    file_name: str
    format: str
    sha256: str
    rows_read: int
    inserted: int
    already_registered: int
    rejected: int
    rejections: list[Rejection]
    rejections_truncated: bool


class ImportBatch(msgspec.Struct, frozen=True, kw_only=True):
    """A file's import as stored (``item_import``): one per import that inserted rows.

    The rejected rows are not kept: they are in the report written, and the answer given, at the import.
    """

    import_id: int
    file_name: str
    format: str
    sha256: str
    rows_read: int
    inserted: int
    already_registered: int
    rejected: int
    imported_at: dt.datetime
    imported_by: str


def _batch(row: asyncpg.Record) -> ImportBatch:
    return ImportBatch(
        import_id=row["import_id"],
        file_name=row["file_name"],
        format=row["format"],
        sha256=row["sha256"].hex(),
        rows_read=row["rows_read"],
        inserted=row["inserted"],
        already_registered=row["already_registered"],
        rejected=row["rejected"],
        imported_at=row["imported_at"],
        imported_by=row["imported_by"],
    )


async def list_imports(conn: Conn, *, before: int | None, limit: int) -> list[ImportBatch]:
    """The import batches, newest first (ITI para 13: which records came from which file, when, by whom)."""
    return [_batch(row) for row in await store.list_item_imports(conn, before, limit)]


async def get_import(conn: Conn, import_id: int) -> ImportBatch:
    """One import batch.

    Raises:
        NotFoundError: no batch ``import_id`` (an import that inserted nothing stored none).
    """
    row = await store.get_item_import(conn, import_id)
    if row is None:
        raise NotFoundError(f"no import {import_id}", import_id=import_id)
    return _batch(row)


class _NothingInserted(Exception):  # noqa: N818  # control flow: roll the import back
    pass


def _quiet(_: str) -> None:
    pass


def report_path_for(path: Path) -> Path:
    """Where the rejected-rows report of ``path`` goes: ``<name>.rejected.csv`` beside it."""
    return path.with_name(f"{path.stem}.rejected.csv")


async def import_file(
    conn: Conn,
    path: Path,
    *,
    actor: str,
    today: dt.date,
    fmt: str | None = None,
    file_name: str | None = None,
    report: Path | None = None,
    progress: Callable[[int], None] | None = None,
    phase: Callable[[str], None] | None = None,
    listed: int = 1000,
    rows: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import one file of records (Protocol Art. 7; ITI para 13: handing over a dealer's records).

    Args:
        conn: a connection; the import runs in its own transaction (a savepoint inside the caller's).
        path: the file, read as a stream.
        actor: who imports, for the journal and the records.
        today: the registry's date (:func:`firearms.clock.today`): no year of manufacture after its year.
        fmt: ``csv`` or ``ndjson``; default from the file name.
        file_name: the name to record (default: the path's name).
        report: where to write the rejected-rows CSV (``None``: no file).
        progress: called with the number of bytes read, as the file is read.
        phase: called with the name of each later step (``checking``, ``inserting``, ``reporting``).
        listed: how many rejections to return in the result (all are in the report).
        rows: called with the number of rows read so far, every :data:`ROWS_REPORTED` rows and at the end.

    Raises:
        InvalidInputError: ``import-invalid-file`` (unknown format, bad header, not UTF-8, no records),
            or the report cannot be written; nothing stored.
    """
    kind = detect_format(path, fmt)
    name = file_name or path.name
    outcome: dict[str, object] = {}
    try:
        async with db.transaction(conn):
            callbacks = (progress, phase or _quiet, rows)
            await _run(conn, path, kind, name, actor, today, report, callbacks, listed, outcome)
    except _NothingInserted:
        pass
    return ImportResult(**outcome)  # type: ignore[arg-type]


async def _run(
    conn: Conn,
    path: Path,
    kind: str,
    name: str,
    actor: str,
    today: dt.date,
    report: Path | None,
    callbacks: tuple[Callable[[int], None] | None, Callable[[str], None], Callable[[int], None] | None],
    listed: int,
    outcome: dict[str, object],
) -> None:
    progress, phase, rows = callbacks
    now = dt.datetime.now(dt.UTC)
    await store.create_import_tables(conn)
    source = SourceFile(path, progress)
    try:
        staged = read_rows(source, kind)  # type: ignore[arg-type]
        await store.copy_item_staging(conn, STAGING_COLUMNS, staged if rows is None else _counting(staged, rows))
    finally:
        source.close()
    phase("checking")
    await store.check_item_staging(conn, sorted(COUNTRIES), today.year, CONTROL_PATTERN_SQL, SPACE_CHARACTERS)
    import_id = await store.next_import_id(conn)
    phase("inserting")
    inserted = await store.insert_imported_items(conn, import_id, now, actor)
    counts = await store.count_import_outcome(conn)
    if not counts["rows_read"]:
        raise InvalidInputError(
            "the file holds no records (a CSV header row alone, or no NDJSON line): nothing was stored",
            code="import-invalid-file",
        )
    registered = counts["valid"] - inserted
    phase("reporting")
    rejections = await _report(conn, report, listed, any_registered=registered > 0)
    outcome.update(
        import_id=import_id if inserted else None,
        file_name=name,
        format=kind,
        sha256=source.sha256.hex(),
        rows_read=counts["rows_read"],
        inserted=inserted,
        already_registered=registered,
        rejected=counts["rejected"],
        rejections=rejections,
        rejections_truncated=len(rejections) < registered + counts["rejected"],
    )
    if not inserted:
        raise _NothingInserted
    numbers = (counts["rows_read"], inserted, registered, counts["rejected"])
    await store.insert_item_import(conn, import_id, name, kind, source.sha256, numbers, now, actor)
    await journal.record(
        conn,
        actor=actor,
        action="items.imported",
        entity="item_import",
        entity_id=str(import_id),
        payload={
            "file_name": name,
            "format": kind,
            "sha256": source.sha256.hex(),
            "rows_read": numbers[0],
            "inserted": numbers[1],
            "already_registered": numbers[2],
            "rejected": numbers[3],
        },
    )


def _counting(staged: Iterator[T], rows: Callable[[int], None]) -> Iterator[T]:
    """``staged``, calling ``rows`` with the count so far every :data:`ROWS_REPORTED` rows and at the end."""
    count = 0
    for row in staged:
        count += 1
        if count % ROWS_REPORTED == 0:
            rows(count)
        yield row
    rows(count)


async def _report(conn: Conn, report: Path | None, listed: int, *, any_registered: bool) -> list[Rejection]:
    """Write the rejected-rows report to ``report`` and return the first ``listed`` rejections.

    The report names rows, serials and item ids of the registry's records (DESIGN §7: personal and
    sensitive data): it is written as the registry writes its other files (:func:`firearms.files.written_whole`),
    mode 0600 whatever the umask, beside its place and renamed into it once whole.
    """
    kept: list[Rejection] = []
    with contextlib.ExitStack() as stack:
        writer = None
        if report is not None:
            try:
                partial = stack.enter_context(files.written_whole(report))
            except OSError as exc:  # a missing folder, no permission: the operator's to fix; the import rolls back
                raise InvalidInputError(f"cannot write the report {report}: {exc.strerror}") from exc
            writer = csv.writer(stack.enter_context(partial.open("w", encoding="utf-8", newline="")))
            # reasons last: a reader of the four columns before it (by position or by name) reads them as before
            writer.writerow(("line", "reason", "serial", "item_id", "reasons"))
        async for row in store.iter_import_rejections(conn, any_registered=any_registered):
            if writer is not None:
                writer.writerow(
                    (
                        row["line"],
                        row["reason"],
                        spreadsheet_cell(row["serial"] or ""),
                        row["item_id"] or "",
                        "; ".join(row["reasons"]),
                    )
                )
            if len(kept) < listed:
                kept.append(
                    Rejection(
                        line=row["line"],
                        reason=row["reason"],
                        serial=row["serial"],
                        item_id=row["item_id"],
                        reasons=list(row["reasons"]),
                    )
                )
    return kept
