"""Effects of ``item.reported-missing`` and ``item.report-withdrawn`` (README "Notice types beyond PROTOCOL §5").

A partner's lost or stolen report is stored as received, one row per notice (``foreign_item_report``), and so is
its withdrawal (``foreign_item_report_withdrawal``): nothing is updated. A report is open while its latest notice
(the highest sequence from its sender, PROTOCOL §4: they arrive in that order) is a report: a later report of the
same id supersedes the earlier one, a later withdrawal ends it, and an older notice never overrides a newer one.
A withdrawal of a report never received here is stored too (the report may have been sent before this State was on
the sender's trust list) and ends nothing. Customs checks read the open reports (:mod:`firearms.checks`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from firearms import journal
from firearms.exchange.inbox import NoticeRejectedError, ReceivedNotice, body_as, effect, require_not_after_receipt
from firearms.exchange.reports import MAX_MARKINGS, REPORT_WITHDRAWN, REPORTED_MISSING
from firearms.licence_object import CountryCode
from firearms.serials import normalise
from firearms.store import foreign_item_reports as store
from firearms.text_rules import IDENTIFIER, UNPADDED_TEXT_PATTERN

if TYPE_CHECKING:
    from firearms.db import Conn

__all__ = [
    "ItemReportWithdrawn",
    "ItemReportedMissing",
    "ReportedItem",
    "ReportedMarking",
    "report_withdrawn",
    "reported_missing",
]

_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]+$(?!\n)"
# identifiers (firearms.exchange.inbox.body_as): padded, "4711 " was a report apart from "4711", never withdrawn by it
ReportId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_NO_CONTROL), IDENTIFIER]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_NO_CONTROL)]
Loose = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$(?!\n)")]
Serial = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_NO_CONTROL), IDENTIFIER]
# What the border matches on (the manufacturer, the make) as the registry keeps its own: no white space around it,
# which normalise_manufacturer keeps, so a padded name would never equal a licence line's make.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=UNPADDED_TEXT_PATTERN)]


class ReportedMarking(msgspec.Struct, frozen=True, kw_only=True):
    """A marking as stamped on the item (Art. 8)."""

    kind: Text
    stamped: Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=_NO_CONTROL)]


class ReportedItem(msgspec.Struct, frozen=True, kw_only=True):
    """The item's identity as the reporting registry records it."""

    kind: Literal["firearm", "component", "ammunition"]
    type: Loose | None
    make: Name | None
    model: Loose | None
    calibre: Loose | None
    manufacturer: Name
    country_of_manufacture: CountryCode
    serial: Serial
    serial_normalised: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    markings: Annotated[list[ReportedMarking], msgspec.Meta(max_length=MAX_MARKINGS)] = msgspec.field(
        default_factory=list
    )
    markings_omitted: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    """How many markings the sender left out (it sends the first :data:`MAX_MARKINGS`)."""


class ItemReportedMissing(msgspec.Struct, frozen=True, kw_only=True):
    """``item.reported-missing``."""

    report_id: ReportId
    status: Literal["lost", "stolen"]
    occurred_on: dt.date
    item: ReportedItem


class ItemReportWithdrawn(msgspec.Struct, frozen=True, kw_only=True):
    """``item.report-withdrawn``."""

    report_id: ReportId
    reason: Literal["recovered", "seized", "corrected"]
    occurred_on: dt.date


@effect(REPORTED_MISSING)
async def reported_missing(conn: Conn, received: ReceivedNotice) -> None:
    """Store a partner's lost or stolen report: customs checks here name its serial until it is withdrawn."""
    body = body_as(received, ItemReportedMissing)
    require_not_after_receipt(received, "occurred_on", body.occurred_on)
    notice = received.notice
    item = body.item
    if not normalise(item.serial):
        # only separators: the empty serial in identity form, which no consignment presents (invalid-serial)
        raise NoticeRejectedError("invalid-body", f"serial {item.serial!r} holds no letter or digit")
    serial = await store.insert_foreign_item_report(
        conn,
        notice.sender,
        body.report_id,
        notice.id,
        notice.sequence,
        body.status,
        body.occurred_on,
        item.kind,
        item.type,
        item.make,
        item.model,
        item.calibre,
        item.manufacturer,
        item.country_of_manufacture,
        item.serial,
        msgspec.to_builtins(item.markings),
        notice.confidentiality,
        received.received_at,
        item.markings_omitted,
    )
    payload: dict[str, object] = {
        "notice_id": notice.id,
        "report_id": body.report_id,
        "status": body.status,
        "occurred_on": body.occurred_on.isoformat(),
        "kind": item.kind,
        "manufacturer": item.manufacturer,
        "make": item.make,
        "serial": item.serial,
        "serial_normalised": serial,
    }
    if item.markings_omitted is not None:
        payload["markings_omitted"] = item.markings_omitted
    await journal.record(
        conn,
        actor=f"partner:{notice.sender}",
        action="foreign-item-report.received",
        entity="foreign_item_report",
        entity_id=f"{notice.sender}/{body.report_id}",
        payload=payload,
    )


@effect(REPORT_WITHDRAWN)
async def report_withdrawn(conn: Conn, received: ReceivedNotice) -> None:
    """Store a partner's withdrawal of its report: the report is no longer named at the border."""
    body = body_as(received, ItemReportWithdrawn)
    require_not_after_receipt(received, "occurred_on", body.occurred_on)
    notice = received.notice
    known = await store.insert_foreign_item_report_withdrawal(
        conn,
        notice.sender,
        body.report_id,
        notice.id,
        notice.sequence,
        body.reason,
        body.occurred_on,
        received.received_at,
    )
    await journal.record(
        conn,
        actor=f"partner:{notice.sender}",
        action="foreign-item-report.withdrawn",
        entity="foreign_item_report",
        entity_id=f"{notice.sender}/{body.report_id}",
        payload={
            "notice_id": notice.id,
            "report_id": body.report_id,
            "reason": body.reason,
            "occurred_on": body.occurred_on.isoformat(),
            "report_known": known,
        },
    )
