"""Export of records as CSV or NDJSON, streamed (ITI para 13: handing records over; audits).

The columns are those of the bulk import (so an export imports into another registry as it is)
preceded by the export-only columns, which an import ignores. Each item carries its first
manufacture/geometric marking and its first import marking in the flat columns.

The NDJSON export is the complete record (Protocol Art. 7: the markings and every transfer, kept ten years and
more): each line adds ``markings`` (every marking of the item as it reads now, corrections applied, in marking id
order), ``events`` (every lifecycle event in event id order: transfers with their parties and documents, losses,
thefts and recoveries, deactivations with deactivator, verifier, certificate and category before and after,
corrections naming the event they correct) and ``corrections`` (each correction of the item's fields or of a
marking: every field before and after, and why), in the shapes of the item's history (``GET /items/{id}/history``,
``detail``) with ``recorded_at`` and without ``recorded_by``. A batch of items (:data:`_BATCH`) takes one query
for each of the three, in the export's snapshot: never one per item, and memory bounded by the batch. The bulk
import ignores the three keys. The CSV export stays flat: one row per item, to open in a spreadsheet.

The export is for a licensing authority (another State's registry, a ministry) and is opened in
spreadsheets: the CSV file begins with a UTF-8 byte-order mark, without which Excel reads it in the
machine's code page (Č, Ł, ß as mojibake); the import reads ``utf-8-sig``, so it still imports as it is.
It names no officer: not who registered each item (``registered_by``), nor who recorded a marking, an event or a
correction (``recorded_by``): staff data the recipient has no use for (DESIGN §6: reads of personal data are
journaled; an auditor sees them in the item's history). It does name the parties, deactivators and verifiers the
events record: they are the record; the export is journaled (``items.exported``).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from firearms.import_files import COLUMNS, EXPORT_ONLY_KEYS, spreadsheet_cell
from firearms.store import items as store

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterable, Sequence

    import asyncpg

    from firearms.db import Conn, Pool

__all__ = ["EXPORT_COLUMNS", "ExportFormat", "export_items"]

ExportFormat = Literal["csv", "ndjson"]
EXPORT_COLUMNS: tuple[str, ...] = (
    "item_id",
    "status",
    "serial_normalised",
    "registered_at",
    "import_id",
    "parent_item_id",
    *COLUMNS,
)
_BATCH = 1000


def _value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return spreadsheet_cell(value) if isinstance(value, str) else value


async def export_items(
    pool: Pool, fmt: ExportFormat, filters: tuple[str | int | None, ...]
) -> AsyncGenerator[bytes, None]:
    """Chunks of the export, read through a server-side cursor in one read-only snapshot.

    ``pool``: one without the bounds of an officer request (the API's ``long_pool``): the whole registry, as
    long as it takes.

    ``filters``: make, model, calibre, firearm_type, status, kind, country_of_manufacture, import_id.
    """
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        # once, before the header: a spreadsheet reads the file as UTF-8 only with it
        start = codecs.BOM_UTF8 + _csv([EXPORT_COLUMNS]) if fmt == "csv" else b""
        batch: list[asyncpg.Record] = []
        async for row in store.iter_export_items(conn, filters):
            batch.append(row)
            if len(batch) == _BATCH:
                yield start + (_csv(map(_cells, batch)) if fmt == "csv" else await _ndjson(conn, batch))
                start = b""
                batch.clear()
        yield start + (_csv(map(_cells, batch)) if fmt == "csv" else await _ndjson(conn, batch))


def _cells(row: asyncpg.Record) -> list[Any]:
    return [_cell(_value(row[name])) for name in EXPORT_COLUMNS]


def _csv(rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


_ENCODER = msgspec.json.Encoder()
_NONE = msgspec.Raw(b"[]")


async def _ndjson(conn: Conn, batch: list[asyncpg.Record]) -> bytes:
    """The batch's lines: the flat columns, then every marking, event and correction of each item.

    Three queries for the batch (not three per item), in the export's transaction and so its snapshot.
    """
    if not batch:
        return b""
    ids = [row["item_id"] for row in batch]
    found = (
        await store.list_export_markings(conn, ids),
        await store.list_export_events(conn, ids),
        await store.list_export_corrections(conn, ids),
    )
    lines = []
    for row in batch:
        record: dict[str, Any] = {name: _value(row[name]) for name in EXPORT_COLUMNS}
        for key, arrays in zip(EXPORT_ONLY_KEYS, found, strict=True):
            # JSON text from the database, written as it is (never decoded and encoded again)
            text = arrays.get(row["item_id"])
            record[key] = _NONE if text is None else msgspec.Raw(text)
        lines.append(_ENCODER.encode(record))
    return b"\n".join(lines) + b"\n"
