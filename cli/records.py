"""``firearms import PATH`` and ``firearms export``: bulk records in and out (DESIGN §10)."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli import common
from cli.main import main
from firearms import clock, exports, files, imports, journal, lifecycle
from firearms.errors import InvalidInputError
from firearms.text_rules import counted

if TYPE_CHECKING:
    from collections.abc import Callable

    from firearms.imports import ImportResult

__all__ = ["PROGRESS_INTERVAL", "export_records", "import_records"]

PROGRESS_INTERVAL = 10.0
"""Seconds between two progress lines of an import whose stderr is no terminal (a log: cron, systemd, CI)."""


def _amount(count: int) -> str:
    """``count`` bytes for a progress line: 812 bytes, 3.4 MiB."""
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else counted(count, "byte")


class _PlainProgress:
    """The import's progress as plain lines, for a stderr that is no terminal.

    click's progress bar draws itself in place on a terminal; elsewhere it printed its label once and nothing
    more, so a night's import in a log showed no sign of life for an hour. Here: a line when reading starts,
    one every :data:`PROGRESS_INTERVAL` seconds (bytes read of the file's size, the share, the rows read, the
    rates), and one when the file was read. The share is of bytes: the number of rows is not known before the
    file was read, its size is.
    """

    def __init__(self, name: str, size: int) -> None:
        self._name, self._size = name, size
        self._done = 0
        self._rows = 0
        self._started = self._shown = time.monotonic()
        self._finished = False
        click.echo(f"importing {name}: {_amount(size)} ...", err=True)

    def rows(self, count: int) -> None:
        self._rows = count

    def update(self, count: int) -> None:
        self._done += count
        now = time.monotonic()
        if now - self._shown >= PROGRESS_INTERVAL:
            self._shown = now
            share = self._done * 100 // self._size if self._size else 100
            click.echo(
                f"importing {self._name}: {_amount(self._done)} of {_amount(self._size)} read ({share}%), "
                f"{counted(self._rows, 'row')}, {self._rates(now)}",
                err=True,
            )

    def finish(self) -> None:
        if not self._finished:
            self._finished = True
            now = time.monotonic()
            click.echo(
                f"importing {self._name}: read {counted(self._rows, 'row')} ({_amount(self._done)}) in "
                f"{now - self._started:.1f} s ({self._rates(now)})",
                err=True,
            )

    def _rates(self, now: float) -> str:
        took = max(now - self._started, 1e-6)
        return f"{self._done / took / 2**20:.1f} MiB/s, {self._rows / took:.0f} rows/s"


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "ndjson"]), help="default: from the file name")
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="default: NAME.rejected.csv beside PATH"
)
@click.pass_context
def import_records(ctx: click.Context, path: Path, fmt: str | None, report: Path | None) -> None:
    """Bulk-import records from a CSV or NDJSON file (one batch, with a progress bar; plain lines in a log).

    Rejected rows (and rows already registered) are written with their line number and reason
    to the report. Exit 0 when rows were imported or all were already registered; 1 when no row
    was valid (then nothing is stored).
    """
    settings = common.settings_for_change(ctx)
    url = common.database_url(settings)
    report_path = report or imports.report_path_for(path)
    if report_path.resolve() == path.resolve() or (report_path.exists() and report_path.samefile(path)):
        common.fail(f"the report would overwrite the file being imported ({path}): name another --report")
    size = path.stat().st_size

    async def run() -> ImportResult:
        conn = await common.connect(url)
        try:
            with contextlib.ExitStack() as stack:
                update: Callable[[int], None]
                finish: Callable[[], None]
                rows: Callable[[int], None] | None = None
                if sys.stderr.isatty():
                    bar = stack.enter_context(
                        click.progressbar(length=size, label=f"importing {path.name}", file=sys.stderr, show_pos=True)
                    )
                    update, finish = bar.update, bar.render_finish  # closes the bar's line
                else:  # a log: plain lines now and then, not a bar that shows only its label there
                    plain = _PlainProgress(path.name, size)
                    update, finish, rows = plain.update, plain.finish, plain.rows
                steps: list[str] = []

                def phase(step: str) -> None:
                    if not steps:
                        finish()  # reading is done
                    steps.append(step)
                    click.echo(f"{path.name}: {step} ...", err=True)

                return await imports.import_file(
                    conn,
                    path,
                    actor=common.cli_actor(),
                    today=clock.today(settings.time_zone),
                    fmt=fmt,
                    report=report_path,
                    progress=update,
                    phase=phase,
                    rows=rows,
                )
        finally:
            await conn.close()

    result = common.run(run())
    click.echo(
        f"{path.name}: {counted(result.rows_read, 'row')} read, {result.inserted} imported, "
        f"{result.already_registered} already registered, {result.rejected} rejected"
        + (f" (batch {result.import_id})" if result.import_id else " (nothing stored)")
    )
    if result.rejected or result.already_registered:
        click.echo(f"report: {report_path}", err=True)
    if result.inserted == 0 and result.rejected and not result.already_registered:
        common.fail(f"no row of {path.name} is valid; nothing was stored (see {report_path})")


def _refuse_existing(path: Path) -> None:
    """Refuse an export to an existing ``path`` (a dangling link too): it replaces a file only with ``--overwrite``.

    Raises:
        InvalidInputError: ``path`` exists (one line for the operator, exit 1).
    """
    if path.exists() or path.is_symlink():
        raise InvalidInputError(f"{path} already exists: name another file, or give --overwrite to replace it")


@main.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "ndjson"]), help="default: from the file name")
@click.option("--status", type=click.Choice(lifecycle.STATUSES), help="only items in this status")
@click.option("--kind", type=click.Choice(["firearm", "component", "ammunition"]))
@click.option("--country", callback=common.state_code, help="only items made in this country (ISO alpha-2)")
@click.option("--overwrite", is_flag=True, help="replace PATH if it exists (by default an existing file is refused)")
@click.pass_context
def export_records(
    ctx: click.Context,
    path: Path,
    fmt: str | None,
    status: str | None,
    kind: str | None,
    country: str | None,
    *,
    overwrite: bool,
) -> None:
    """Export records to PATH as CSV or NDJSON, in the bulk-import columns (ITI para 13 hand-over).

    CSV is flat, one row per item; NDJSON is the complete record: each line adds every marking, event and
    correction of the item (:mod:`firearms.exports`).

    Journaled as ``items.exported``, like ``GET /api/v1/items/export``. An existing PATH is refused (it may
    be the only copy of an earlier export, handed to an inspector), unless ``--overwrite`` is given.
    """
    settings = common.settings_from(ctx)
    url = common.database_url(settings)
    chosen: Any = fmt or path.suffix.lstrip(".").lower().replace("jsonl", "ndjson")
    if chosen not in {"csv", "ndjson"}:
        common.fail("name the file .csv or .ndjson, or give --format")
    if not overwrite:  # before the export starts: a refused export is not journaled and writes nothing
        try:
            _refuse_existing(path)
        except InvalidInputError as exc:
            common.fail(exc.detail)

    async def run() -> int:
        pool = await common.open_pool(url, max_size=1)
        written = 0
        try:
            with contextlib.ExitStack() as stack:
                try:
                    # the whole registry: written beside PATH, readable by the operator only (like a backup), and
                    # renamed into place at the end: an export that fails leaves no file (nor a partial one that
                    # looks like a whole export)
                    partial = stack.enter_context(files.written_whole(path))
                except OSError as exc:  # a missing folder, no permission: the operator's to fix
                    raise InvalidInputError(f"cannot write {path}: {exc.strerror}") from exc
                filters = (None, None, None, None, status, kind, country, None)
                with partial.open("wb") as handle:
                    async with pool.acquire() as conn, conn.transaction():
                        await journal.record(
                            conn,
                            actor=common.cli_actor(),
                            action="items.exported",
                            entity="item",
                            entity_id="*",
                            payload={"format": chosen, "filters": list(filters)},
                        )
                    async for chunk in exports.export_items(pool, chosen, filters):
                        handle.write(chunk)
                        written += len(chunk)
                if not overwrite:  # a file made under PATH while the export ran is kept too
                    _refuse_existing(path)
        finally:
            await pool.close()
        return written

    written = common.run(run())
    click.echo(f"{path}: {counted(written, 'byte')}", err=True)
