"""``/api/v1/foreign-item-reports``: partners' lost and stolen reports (README "Notice types beyond PROTOCOL §5")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, get
from litestar.params import QueryParameter

from api.deps import ConnDep
from api.params import STATE_QUERY_PATTERN, AfterQuery, LimitQuery, page, state_code
from firearms.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from firearms.serials import normalise
from firearms.store import foreign_item_reports as store

__all__ = ["ForeignItemReport", "ForeignItemReportController", "ForeignItemReportPage"]

READERS = ("customs-officer", "records-officer", "licensing-officer", "admin", "auditor")


class ForeignItemReport(msgspec.Struct, frozen=True, kw_only=True):
    """A partner's report as its latest notice says, and its withdrawal (a later notice) if any."""

    sender_state: str
    report_id: str
    notice_id: str
    sequence: int
    status: str
    occurred_on: dt.date
    kind: str
    item_type: str | None
    make: str | None
    model: str | None
    calibre: str | None
    manufacturer: str
    country_of_manufacture: str
    serial: str
    serial_normalised: str
    markings: Any
    markings_omitted: int | None
    """How many markings the report left out (it carries the first 50); ``None`` when none."""
    confidentiality: str
    received_at: dt.datetime
    open: bool
    withdrawal_reason: str | None
    withdrawn_on: dt.date | None
    withdrawn_at: dt.datetime | None
    withdrawal_notice_id: str | None


class ForeignItemReportPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of partners' reports, newest received first."""

    items: list[ForeignItemReport]
    next: str | None


class ForeignItemReportController(Controller):
    """Partners' lost and stolen reports (``item.reported-missing``, ``item.report-withdrawn``)."""

    path = "/foreign-item-reports"
    opt = {"roles": READERS}  # noqa: RUF012  # Litestar reads it as a plain mapping

    @get("/", summary="Lost and stolen reports received from partners")
    async def list_reports(
        self,
        conn: ConnDep,
        sender_state: Annotated[
            str | None,
            QueryParameter(name="state", pattern=STATE_QUERY_PATTERN, description="the reporting State, either case"),
        ] = None,
        status: Annotated[Literal["lost", "stolen", "withdrawn"] | None, QueryParameter()] = None,
        serial: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> ForeignItemReportPage:
        """Each report as its latest notice says, newest received first.

        ``status`` ``lost`` or ``stolen`` lists open reports, ``withdrawn`` the withdrawn ones; ``serial`` matches in
        normalised form. Not journaled as a read: a weapon's identity, no person's data.
        """
        before = decode_cursor(after, dt.datetime, str, int) if after else None
        rows = await store.list_foreign_item_reports(
            conn,
            state_code(sender_state),
            status,
            normalise(serial) if serial is not None else None,
            (before[0], before[1], before[2]) if before else None,
            limit + 1,
        )
        items, last = page([ForeignItemReport(**dict(row), open=row["withdrawn_at"] is None) for row in rows], limit)
        cursor = encode_cursor(last.received_at, last.sender_state, last.sequence) if last else None
        return ForeignItemReportPage(items=items, next=cursor)
