"""Export of records as CSV or NDJSON, streamed (ITI para 13: handing records over; audits).

The columns are those of the bulk import (so an export imports into another registry as it is)
preceded by the export-only columns, which an import ignores. Each item carries its first
manufacture/geometric marking and its first import marking in the flat columns; the full set of
markings is in the item's history.

The export is for a licensing authority (another State's registry, a ministry) and is opened in
spreadsheets: the CSV file begins with a UTF-8 byte-order mark, without which Excel reads it in the
machine's code page (Č, Ł, ß as mojibake); the import reads ``utf-8-sig``, so it still imports as it is.
It does not name the officer who registered each item (``registered_by``): staff data the recipient has
no use for (DESIGN §6: reads of personal data are journaled; an auditor sees it in the item's history).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from firearms.import_files import COLUMNS, spreadsheet_cell
from firearms.store import items as store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from firearms.db import Pool

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


async def export_items(pool: Pool, fmt: ExportFormat, filters: tuple[str | int | None, ...]) -> AsyncIterator[bytes]:
    """Chunks of the export, read through a server-side cursor in one read-only snapshot.

    ``pool``: one without the bounds of an officer request (the API's ``long_pool``): the whole registry, as
    long as it takes.

    ``filters``: make, model, calibre, firearm_type, status, kind, country_of_manufacture, import_id.
    """
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        # once, before the header: a spreadsheet reads the file as UTF-8 only with it
        start = codecs.BOM_UTF8 if fmt == "csv" else b""
        if fmt == "csv":
            writer.writerow(EXPORT_COLUMNS)
        count = 0
        encoder = msgspec.json.Encoder()
        chunks: list[bytes] = []
        async for row in store.iter_export_items(conn, filters):
            values = [_value(row[name]) for name in EXPORT_COLUMNS]
            if fmt == "csv":
                writer.writerow([_cell(value) for value in values])
            else:
                chunks.append(encoder.encode(dict(zip(EXPORT_COLUMNS, values, strict=True))) + b"\n")
            count += 1
            if count % _BATCH == 0:
                yield start + buffer.getvalue().encode("utf-8") + b"".join(chunks)
                start = b""
                buffer.seek(0)
                buffer.truncate()
                chunks.clear()
        yield start + buffer.getvalue().encode("utf-8") + b"".join(chunks)
