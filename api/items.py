"""Records (``/api/v1/items``): register, read, search, mark, record events, history, export, certificate."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, QueryParameter
from litestar.response import Stream

from api import streams
from api.deps import ACQUIRE_TIMEOUT, ConnDep, DatabaseTimeoutError, OfficerDep, PoolDep, SettingsDep
from api.idempotency import Answer, IdempotencyKeyHeader, once
from api.licences import DOCUMENT_HEADERS
from api.params import AfterQuery, ItemIdPath, LimitQuery, MarkingIdPath, OptionalStateQuery, page, state_code
from firearms import certificates, clock, exports, item_corrections, item_events, items, journal
from firearms.exports import ExportFormat
from firearms.item_types import (
    CertifiedItem,
    Correction,
    FirearmType,
    HistoryEntry,
    Item,
    ItemDetail,
    ItemEvent,
    ItemKind,
    Marking,
    NewEvent,
    NewItem,
    NewItemCorrection,
    NewMarking,
    NewMarkingCorrection,
    ScoredItem,
)
from firearms.lifecycle import Status
from firearms.pagination import BIGINT_MAX, DEFAULT_LIMIT, IntegerKey, decode_cursor, encode_cursor
from firearms.text_rules import UNPADDED_TEXT_PATTERN

__all__ = [
    "EXPORT_SLOTS",
    "READ_ROLES",
    "WRITE_ROLES",
    "CertificateNumberQuery",
    "CertifiedItemPage",
    "HistoryPage",
    "ItemController",
    "ItemPage",
    "ScoredItemPage",
]

READ_ROLES = ("records-officer", "licensing-officer", "customs-officer", "verifier", "auditor", "admin")
WRITE_ROLES = ("records-officer", "admin")

ShortText = Annotated[str | None, QueryParameter(min_length=1, max_length=200)]
CountryQuery = OptionalStateQuery  # a country of manufacture: a State's code, either case
TypeQuery = Annotated[FirearmType | None, QueryParameter(name="type", description="firearm type")]
StatusQuery = Annotated[Status | None, QueryParameter()]
KindQuery = Annotated[ItemKind | None, QueryParameter()]
# A certificate number as recorded (item_types.Text, item_rules: 1-200 characters, unpadded, no control character):
# a value no record can hold is a 400 naming the parameter (api.problems words the pattern), never an empty page.
CertificateNumberQuery = Annotated[
    str,
    QueryParameter(
        min_length=1,
        max_length=200,
        pattern=UNPADDED_TEXT_PATTERN,
        description="the deactivation certificate's number, as printed on it",
    ),
]


class ItemPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of items; ``next`` is the cursor of the following page, ``None`` at the end."""

    items: list[Item]
    next: str | None


class ScoredItemPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of fuzzy-search candidates, best first."""

    items: list[ScoredItem]
    next: str | None


class CertifiedItemPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the items whose deactivation in effect records a certificate number, in item order."""

    items: list[CertifiedItem]
    next: str | None


class HistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of an item's history in time order."""

    items: list[HistoryEntry]
    next: str | None


EXPORT_SLOTS = 2
"""Exports one API process runs at once: two of the long jobs' four connections, the others kept for the imports,
journal verifications and checkpoints (README "Security": four exports of a verifier left them none)."""


async def _export_slot(request: Request[Any, Any, Any]) -> asyncio.Semaphore:
    """One of the process's :data:`EXPORT_SLOTS`, taken: waited for as long as a pooled connection is, then a 503.

    Raises:
        DatabaseTimeoutError: 503 ``database-timeout``, every slot still in use after :data:`ACQUIRE_TIMEOUT`.
    """
    slots: asyncio.Semaphore | None = request.app.state.get("export_slots")
    if slots is None:  # made here, on the loop that serves the app (no await since the look-up)
        slots = request.app.state.export_slots = asyncio.Semaphore(EXPORT_SLOTS)
    try:
        await asyncio.wait_for(slots.acquire(), ACQUIRE_TIMEOUT)
    except TimeoutError as exc:
        raise DatabaseTimeoutError(
            detail=f"no export could start within {ACQUIRE_TIMEOUT:g} s: this process runs {EXPORT_SLOTS} at once"
        ) from exc
    return slots


class ItemController(Controller):
    """``/api/v1/items``: reads for every officer role, changes for records officers and admins."""

    path = "/items"
    opt = {"roles": READ_ROLES}  # noqa: RUF012  # Litestar reads it as a plain mapping

    @post("/", summary="Register an item with its markings", opt={"roles": WRITE_ROLES})
    async def register(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        request: Request[Any, Any, Any],
        data: JSONBody[NewItem],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[ItemDetail]:
        """Register a firearm, essential component or ammunition lot (Protocol Art. 7-8).

        A firearm needs a manufacture or geometric marking. A second registration of the same identity
        (manufacturer, country, normalised serial, within the kind) is a 409 naming the existing item.
        """
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: items.register_item(conn, data, actor=officer.actor, today=clock.today(settings.time_zone)),
        )

    @get("/", summary="List items; exact look-up by serial")
    async def list_items(
        self,
        conn: ConnDep,
        serial: Annotated[
            str | None, QueryParameter(min_length=1, max_length=64, description="exact (normalised) serial")
        ] = None,
        make: ShortText = None,
        model: ShortText = None,
        calibre: ShortText = None,
        firearm_type: TypeQuery = None,
        status: StatusQuery = None,
        kind: KindQuery = None,
        country: CountryQuery = None,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> ItemPage:
        """Items in registration order. ``serial`` matches case- and separator-insensitively, never by folding."""
        (start,) = decode_cursor(after, int) if after else (0,)
        filters = (make, model, calibre, firearm_type, status, kind)
        if serial is not None:
            found = await items.find_by_serial(
                conn, serial, after=start, limit=limit + 1, country=state_code(country), filters=filters
            )
        else:
            found = await items.list_items(
                conn, country=state_code(country), filters=filters, after=start, limit=limit + 1
            )
        rows, last = page(found, limit)
        return ItemPage(items=rows, next=encode_cursor(last.item_id) if last else None)

    @get("/search", summary="Fuzzy serial search: ranked candidates with a score")
    async def search(
        self,
        conn: ConnDep,
        q: Annotated[str, QueryParameter(min_length=1, max_length=64, description="serial as read")],
        make: ShortText = None,
        model: ShortText = None,
        calibre: ShortText = None,
        firearm_type: TypeQuery = None,
        status: StatusQuery = None,
        kind: KindQuery = None,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> ScoredItemPage:
        """Candidates by trigram similarity of the folded serials (O/0, I/1/L, S/5, B/8, Z/2), best first.

        A candidate is for a person to look at: only ``exact`` ones match the serial as an identity.
        """
        key = decode_cursor(after, float, bool, int) if after else None
        found = await items.search_items(
            conn,
            q,
            filters=(make, model, calibre, firearm_type, status, kind),
            after=(key[0], key[1], key[2]) if key else None,
            limit=limit + 1,
        )
        rows, last = page(found, limit)
        return ScoredItemPage(items=rows, next=encode_cursor(last.score, last.exact, last.item_id) if last else None)

    @get("/export", summary="Export records as CSV or NDJSON (streamed)")
    async def export(
        self,
        request: Request[Any, Any, Any],
        conn: ConnDep,
        long_pool: PoolDep,
        officer: OfficerDep,
        format: Annotated[ExportFormat, QueryParameter(description="csv or ndjson")] = "csv",  # noqa: A002
        make: ShortText = None,
        model: ShortText = None,
        calibre: ShortText = None,
        firearm_type: TypeQuery = None,
        status: StatusQuery = None,
        kind: KindQuery = None,
        country: CountryQuery = None,
        import_id: Annotated[int | None, QueryParameter(ge=1, le=BIGINT_MAX)] = None,
    ) -> Stream:
        """Every matching item in the bulk-import columns (ITI para 13; Protocol Art. 7); the export is journaled.

        CSV: one flat row per item. NDJSON: the complete record, each line adding the item's ``markings``,
        ``events`` and ``corrections`` as its history shows them (without the officers who recorded them).
        """
        filters = (make, model, calibre, firearm_type, status, kind, state_code(country), import_id)
        slots = await _export_slot(request)
        try:
            await journal.record(
                conn,
                actor=officer.actor,
                action="items.exported",
                entity="item",
                entity_id="*",
                payload={"format": format, "filters": list(filters)},
            )
            chunks = streams.bounded(exports.export_items(long_pool, format, filters), done=slots.release)
        except BaseException:
            slots.release()
            raise
        # Litestar appends "; charset=utf-8" to a text/* type itself: naming it here sent the parameter twice
        media = "text/csv" if format == "csv" else "application/x-ndjson"
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        return Stream(
            chunks,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="items-{stamp}.{format}"'},
        )

    @get("/deactivation-certificates", summary="Items by the number of their deactivation certificate")
    async def by_certificate(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        certificate_number: CertificateNumberQuery,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> CertifiedItemPage:
        """The items whose deactivation in effect records the number, with the certificate and its verifier.

        For an officer holding a paper certificate (Reg. 2015/2403 Art. 7). The number is compared as recorded; a
        corrected deactivation is not found. It names the verifier (often a person): journaled as ``item.read``
        with the items shown, as the printed certificate is; an empty page journals nothing.
        """
        (start,) = decode_cursor(after, int) if after else (0,)
        found = await certificates.find_by_number(conn, certificate_number, after=start, limit=limit + 1)
        rows, last = page(found, limit)
        await journal.record_read(conn, actor=officer.actor, entity="item", ids=[str(row.item_id) for row in rows])
        return CertifiedItemPage(items=rows, next=encode_cursor(last.item_id) if last else None)

    @get("/{item_id:int}", summary="One item with its markings")
    async def get_item(self, conn: ConnDep, item_id: ItemIdPath) -> ItemDetail:
        """The item, its current status and its markings."""
        return await items.get_item(conn, item_id)

    @post("/{item_id:int}/markings", summary="Add a marking to an item", opt={"roles": WRITE_ROLES})
    async def add_marking(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        item_id: ItemIdPath,
        request: Request[Any, Any, Any],
        data: JSONBody[NewMarking],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[Marking]:
        """Record a marking (import, state-to-civilian, proof ...) exactly as stamped, with its parsed fields."""
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: items.add_marking(conn, item_id, data, actor=officer.actor, today=clock.today(settings.time_zone)),
        )

    @post("/{item_id:int}/events", summary="Record a lifecycle event", opt={"roles": WRITE_ROLES})
    async def record_event(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        item_id: ItemIdPath,
        request: Request[Any, Any, Any],
        data: JSONBody[NewEvent],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[ItemEvent]:
        """Move the item along its lifecycle; an event illegal in its status is a 409 naming the allowed ones."""
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: item_events.record_event(
                conn, item_id, data, actor=officer.actor, today=clock.today(settings.time_zone)
            ),
        )

    @post("/{item_id:int}/corrections", summary="Correct the item's descriptive fields", opt={"roles": WRITE_ROLES})
    async def correct_item(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        item_id: ItemIdPath,
        request: Request[Any, Any, Any],
        data: JSONBody[NewItemCorrection],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[Correction]:
        """Correct a mistyped make, model, calibre, year, firearm type, or a lot's headstamp or quantity (DESIGN §3).

        A new record names each field's value before and after and why; the item then reads the value after. The
        identity (manufacturer, country, serial) and the category are refused (``field-not-correctable``).
        """
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: item_corrections.correct_item(
                conn, item_id, data, actor=officer.actor, today=clock.today(settings.time_zone)
            ),
        )

    @post(
        "/{item_id:int}/markings/{marking_id:int}/corrections",
        summary="Correct a marking's text as stamped and parsed fields",
        opt={"roles": WRITE_ROLES},
    )
    async def correct_marking(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        item_id: ItemIdPath,
        marking_id: MarkingIdPath,
        request: Request[Any, Any, Any],
        data: JSONBody[NewMarkingCorrection],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[Correction]:
        """Correct a marking (the text as stamped, country, year, model ...), never its kind (Art. 8; DESIGN §3)."""
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: item_corrections.correct_marking(
                conn, item_id, marking_id, data, actor=officer.actor, today=clock.today(settings.time_zone)
            ),
        )

    @get("/{item_id:int}/history", summary="An item's history in time order")
    async def history(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        item_id: ItemIdPath,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> HistoryPage:
        """Registration, markings and lifecycle events, oldest first; journaled as ``item.read``.

        Events name the parties an item went to (often persons): who looked is journaled (DESIGN §6).
        """
        key = decode_cursor(after, dt.datetime, IntegerKey, int) if after else None
        found = await item_events.history(
            conn, item_id, after=(key[0], key[1], key[2]) if key else None, limit=limit + 1
        )
        entries, last = page(found, limit)
        if entries:
            await journal.record_read(conn, actor=officer.actor, entity="item", ids=[str(item_id)])
        return HistoryPage(items=[entry for entry, _ in entries], next=encode_cursor(*last[1]) if last else None)

    @get(
        "/{item_id:int}/deactivation-certificate",
        summary="Printable certificate of the item's deactivation",
        media_type="text/html",
    )
    async def deactivation_certificate(
        self, conn: ConnDep, officer: OfficerDep, settings: SettingsDep, item_id: ItemIdPath
    ) -> Response[str]:
        """The printable HTML certificate of the deactivation in effect, in English and the national language.

        It names the deactivator and the verifier (often persons): journaled as ``item.read``, like the history.
        """
        rendered = await certificates.render_certificate(conn, item_id, state=settings.state)
        await journal.record_read(conn, actor=officer.actor, entity="item", ids=[str(item_id)])
        return Response(rendered.html, media_type="text/html", headers=DOCUMENT_HEADERS)
