"""Bulk import over HTTP (``POST /api/v1/imports``): the file is the request body, streamed to disk first."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import PathParameter, QueryParameter

from api.deps import ConnDep, OfficerDep, PoolDep, SettingsDep, connection, content_coding, media_type
from api.params import AfterQuery, LimitQuery, page
from firearms import clock, imports
from firearms.errors import InvalidInputError
from firearms.import_files import Format
from firearms.imports import ImportBatch, ImportResult
from firearms.pagination import BIGINT_MAX, DEFAULT_LIMIT, decode_cursor, encode_cursor

__all__ = ["MAX_IMPORT_BYTES", "ImportBatchPage", "ImportController"]

MAX_IMPORT_BYTES = 1 << 30  # 1 GiB; the body goes to a temporary file, never into memory
_MEDIA: dict[str, Format] = {"text/csv": "csv", "application/x-ndjson": "ndjson", "application/jsonl": "ndjson"}


class ImportBatchPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of import batches, newest first; ``next`` is the cursor for the following page."""

    items: list[ImportBatch]
    next: str | None


ImportIdPath = Annotated[int, PathParameter(description="import id", ge=1, le=BIGINT_MAX)]
_READERS = {"roles": ("records-officer", "auditor", "admin")}


class ImportController(Controller):
    """``/api/v1/imports``: bulk import (records officer, admin); the batches (and the auditor)."""

    path = "/imports"
    opt = {"roles": ("records-officer", "admin")}  # noqa: RUF012  # Litestar reads it as a plain mapping

    @get("/", summary="Import batches, newest first", opt=_READERS)
    async def list_batches(
        self, conn: ConnDep, after: AfterQuery = None, limit: LimitQuery = DEFAULT_LIMIT
    ) -> ImportBatchPage:
        """The imports that stored rows, newest first: file name, SHA-256, counts, who and when.

        Items and markings name their batch (``import_id``; ``GET /items/export?import_id=``). An import that
        inserted nothing stored no batch. Not journaled: a batch names no person but the officer who imported.
        """
        before = decode_cursor(after, int)[0] if after else None
        items, last = page(await imports.list_imports(conn, before=before, limit=limit + 1), limit)
        return ImportBatchPage(items=items, next=encode_cursor(last.import_id) if last else None)

    @get("/{import_id:int}", summary="One import batch", opt=_READERS)
    async def get_batch(self, conn: ConnDep, import_id: ImportIdPath) -> ImportBatch:
        """One import batch by its id (404 ``not-found`` without one)."""
        return await imports.get_import(conn, import_id)

    @post(
        "/",
        summary="Bulk-import records (CSV or NDJSON body)",
        request_max_body_size=MAX_IMPORT_BYTES,
        opt={"reads_body": True},  # streamed to a file by the handler, not a JSON ``data``
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        long_pool: PoolDep,
        officer: OfficerDep,
        settings: SettingsDep,
        # no control character (C0, DEL and C1 as text_rules.CONTROL: NEL, CSI) and no folder: it is stored and shown
        file_name: Annotated[
            str, QueryParameter(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f/\\]+$(?!\n)")
        ] = "upload",
    ) -> ImportResult:
        """Import the body (``Content-Type: text/csv`` or ``application/x-ndjson``, UTF-8) as one batch.

        Rows are validated set-wise; the answer lists up to 1000 rejected rows (line, reason and every reason).
        A body in which no row is valid stores nothing and is a 422 ``import-rejected`` problem.
        """
        media, charsets = media_type(request.headers.get("content-type", ""))
        fmt = _MEDIA.get(media)
        if fmt is None:
            raise InvalidInputError(
                f"send the file as text/csv or application/x-ndjson, not {media or 'nothing'}",
                code="import-invalid-file",
            )
        if any(charset not in {"utf-8", "utf8"} for charset in charsets):
            raise InvalidInputError(
                f"the file is read as UTF-8: convert it, or send it with charset=utf-8, not {', '.join(charsets)}",
                code="import-invalid-file",
            )
        coding = content_coding(request.headers.get("content-encoding"))
        if coding is not None:
            raise InvalidInputError(
                f"send the file uncompressed: a Content-Encoding ({coding}) is not decoded here",
                code="import-invalid-file",
            )
        with tempfile.TemporaryDirectory(prefix="firearms-import-") as folder:
            path = Path(folder) / f"upload.{fmt}"
            with path.open("wb") as handle:
                async for chunk in request.stream():
                    handle.write(chunk)
            # The database connection is taken only now: a slow upload holds no transaction open. A file of a
            # million rows runs statements longer than an officer request may: from the pool without the bounds.
            async with connection(long_pool, request) as conn:
                result = await imports.import_file(
                    conn, path, actor=officer.actor, today=clock.today(settings.time_zone), fmt=fmt, file_name=file_name
                )
        if result.inserted == 0 and result.rejected > 0 and result.already_registered == 0:
            raise InvalidInputError(
                f"no row of the file is valid ({result.rejected} rejected); nothing was stored",
                code="import-rejected",
                rows_read=result.rows_read,
                rejected=result.rejected,
                rejections=[
                    {"line": r.line, "reason": r.reason, "serial": r.serial, "reasons": r.reasons}
                    for r in result.rejections
                ],
            )
        return result
