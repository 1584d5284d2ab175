"""Identifiers in received bodies are held to the registry's own rule: padded or holding a control character, refused.

The registry refuses an identifier with white space around it, never trimming it (``firearms/text_rules.py``); a
partner's notice naming one (a report ``"4711 "`` beside ``"4711"``, a shipment id ending in a no-break space) is
``rejected`` ``invalid-body`` and stores nothing, where it was stored as a record apart before: a withdrawal of
``"4711"`` left the report ``"4711 "`` open for good. The same body unpadded is accepted (the case is real, not refused
for another reason).
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from firearms import db
from firearms.canonical import utc_now
from firearms.exchange.bodies import PassageRecorded
from firearms.exchange.effects.reports import ItemReportedMissing, ItemReportWithdrawn
from firearms.exchange.inbox import NoticeRejectedError, ReceivedNotice, body_as
from firearms.exchange.protocol import Notice
from tests.api.test_exchange_effects import LICENCE, _send, _trust
from tests.api.test_missing_reports import REPORT, WITHDRAWN
from tests.api.test_trace_effects import RECORD, REQUEST, _deliver, _from_cz, _own_request
from tests.exchange_fixtures import Client, de
from tests.exchange_util import DE_KEY, OTHER_KEY
from tests.licensing_helpers import issued_export, register_parties

if TYPE_CHECKING:
    from collections.abc import Callable

    from firearms.settings import Settings
    from tests.conftest import TokenFactory

__all__ = ["de"]

NUMBER = "AT-EXP-2026-000123"
ITEMS = [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}, {"line": 2, "quantity": 800}]
DISPATCHED = {"licence_number": NUMBER, "shipment_id": "SHP-1", "dispatched_at": "2026-11-29T08:00:00Z", "items": ITEMS}
PASSAGE = {
    "licence_number": NUMBER,
    "issuing_state": "AT",
    "shipment_id": "SHP-1",
    "check_id": "6f1c0000-0000-4000-8000-000000000001",
    "verdict": "clear",
    "reasons": [],
    "checked_at": "2026-11-29T09:00:00Z",
    "crossing_point": "CZ-Dolni Dvoriste",
    "items": ITEMS,
}
ASKED = {"licence_number": NUMBER, "shipment_id": "SHP-1"}
# (type, body, sender, table of what it stores) for the notices DE receives from AT (CZ for the passage)
RECEIVED_BY_DE: dict[str, tuple[dict[str, Any], str, str]] = {
    "shipment.dispatched": (DISPATCHED, "AT", "shipment_dispatch"),
    "receipt.confirmation-requested": (ASKED, "AT", "shipment_record"),
    "transit.passage-recorded": (PASSAGE, "CZ", "shipment_passage"),
    "item.reported-missing": (REPORT, "AT", "foreign_item_report"),
    "item.report-withdrawn": (WITHDRAWN, "AT", "foreign_item_report_withdrawal"),
}
# each identifier of each body, as a path: a field name or a list index
FIELDS: list[tuple[str, tuple[str | int, ...]]] = [
    ("shipment.dispatched", ("shipment_id",)),
    ("shipment.dispatched", ("items", 0, "serials", 0)),
    ("receipt.confirmation-requested", ("shipment_id",)),
    ("transit.passage-recorded", ("shipment_id",)),
    ("transit.passage-recorded", ("check_id",)),
    ("transit.passage-recorded", ("items", 0, "serials", 1)),
    ("item.reported-missing", ("report_id",)),
    ("item.reported-missing", ("item", "serial")),
    ("item.report-withdrawn", ("report_id",)),
]
RECEIPT_FIELDS: list[tuple[str | int, ...]] = [("shipment_id",), ("customs_document",), ("items", 0, "serials", 0)]
# padded at either end with the registry's white space (a blank, a no-break space), or holding a control character
SPOILS: dict[str, Callable[[str], str]] = {
    "leading-blank": lambda value: " " + value,
    "trailing-no-break-space": lambda value: value + "\u00a0",
    "trailing-ideographic-space": lambda value: value + "\u3000",
    "control-character": lambda value: value[:1] + "\x1b" + value[1:],
}


def _spoiled(body: dict[str, Any], path: tuple[str | int, ...], spoil: Callable[[str], str]) -> dict[str, Any]:
    """``body`` with the identifier at ``path`` spoiled."""
    spoiled = copy.deepcopy(body)
    *parents, last = path
    holder: Any = spoiled
    for step in parents:
        holder = holder[step]
    holder[last] = spoil(holder[last])
    return spoiled


async def _count(conn: db.Conn, table: str) -> int:
    count = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608  # a table named by the test
    assert isinstance(count, int)
    return count


async def _stored(conn: db.Conn) -> tuple[Any, ...]:
    """Every record a received notice may write beside the inbox, and the journal's entries but the inbox's."""
    tables = (
        "foreign_licence",
        "licence",
        "consent_request_received",
        "shipment_dispatch",
        "shipment_record",
        "shipment_passage",
        "shipment_receipt",
        "foreign_item_report",
        "foreign_item_report_withdrawal",
    )
    journal = await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action <> 'notice.received'")
    return (*[await _count(conn, table) for table in tables], journal)


@pytest.mark.parametrize("spoil", SPOILS)
@pytest.mark.parametrize(("type_", "path"), FIELDS, ids=[f"{t}:{'.'.join(map(str, p))}" for t, p in FIELDS])
async def test_a_received_identifier_padded_or_with_a_control_character_is_rejected_and_stores_nothing(
    de: tuple[Client, db.Conn], type_: str, path: tuple[str | int, ...], spoil: str
) -> None:
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    await _trust(conn, "DE", "CZ", "OTHER")
    body, sender, table = RECEIVED_BY_DE[type_]
    extra: dict[str, Any] = {"sender": "CZ", "key": OTHER_KEY} if sender == "CZ" else {}
    sequence = 1 if sender == "CZ" else 2
    before = await _stored(conn)
    assert await _send(client, sequence, type_, _spoiled(body, path, SPOILS[spoil]), **extra) == (
        "rejected",
        "invalid-body",
    )
    assert await _stored(conn) == before
    rejected = await conn.fetchrow(
        "SELECT status, reason FROM notice_inbox WHERE sender = $1 AND sequence = $2", sender, sequence
    )
    assert rejected is not None
    assert (rejected["status"], rejected["reason"]) == ("rejected", "invalid-body")
    # the same body as the registry writes it is taken: the identifier alone made the difference
    assert await _send(client, sequence + 1, type_, body, **extra) == ("accepted", None)
    assert await _count(conn, table) > 0


@pytest.mark.parametrize("spoil", SPOILS)
@pytest.mark.parametrize("path", RECEIPT_FIELDS, ids=[".".join(map(str, p)) for p in RECEIPT_FIELDS])
async def test_a_received_receipt_confirmation_naming_a_padded_identifier_is_rejected_and_stores_nothing(
    client: Client, conn: db.Conn, settings: Settings, path: tuple[str | int, ...], spoil: str
) -> None:
    number = (await issued_export(conn, settings, await register_parties(conn))).licence.number
    await _trust(conn, "AT", "DE", "DE")
    confirmed = {
        "licence_number": number,
        "shipment_id": "SHP-1",
        "received_on": "2026-11-29",
        "customs_document": "ATB-2026-1",
        "items": [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}],
    }
    before = await _stored(conn)
    spoiled = _spoiled(confirmed, path, SPOILS[spoil])
    sent = await _send(client, 1, "receipt.confirmed", spoiled, sender="DE", recipient="AT", key=DE_KEY)
    assert sent == ("rejected", "invalid-body")
    assert await _stored(conn) == before
    sent = await _send(client, 2, "receipt.confirmed", confirmed, sender="DE", recipient="AT", key=DE_KEY)
    assert sent == ("accepted", None)
    assert await _count(conn, "shipment_receipt") == 1


@pytest.mark.parametrize(
    ("type_", "kind", "body", "named"),
    [
        (
            "item.report-withdrawn",
            ItemReportWithdrawn,
            WITHDRAWN | {"report_id": "4711 "},
            "report_id '4711 ' has white space before or after it",
        ),
        (
            "item.reported-missing",
            ItemReportedMissing,
            _spoiled(REPORT, ("item", "serial"), SPOILS["trailing-no-break-space"]),
            "item.serial 'ssg08 001\\xa0' has white space before or after it",
        ),
        (
            "transit.passage-recorded",
            PassageRecorded,
            _spoiled(PASSAGE, ("check_id",), SPOILS["control-character"]),
            "check_id '6\\x1bf1c0000-0000-4000-8000-000000000001' holds a control character",
        ),
        (
            "transit.passage-recorded",
            PassageRecorded,
            _spoiled(PASSAGE, ("items", 0, "serials", 0), lambda serial: "\u2007" + serial),
            "items.*.serials.* '\\u2007SSG08-001' has white space",
        ),
    ],
)
def test_the_rejection_names_the_identifier_and_what_is_wrong_with_it(
    type_: str, kind: type[Any], body: dict[str, Any], named: str
) -> None:
    notice = Notice(
        id=str(uuid.uuid4()),
        type=type_,
        sender="AT",
        recipient="DE",
        sequence=1,
        created_at="2026-11-29T10:00:00Z",
        in_reply_to=None,
        confidentiality="restricted",
        body=body,
    )
    received = ReceivedNotice(notice=notice, key_id="0" * 32, received_at=utc_now(), time_zone=dt.UTC)
    with pytest.raises(NoticeRejectedError) as raised:
        body_as(received, kind)
    assert raised.value.reason == "invalid-body"
    assert named in raised.value.detail
    assert "refused, never trimmed" in raised.value.detail


IMPORT_AUTHORISATION = LICENCE | {
    "number": "AT-IMP-2026-7",
    "kind": "import",
    "exporting_state": "DE",
    "importing_state": "AT",
    "transit_states": [],
    "import_authorisation": None,
}
# a licence's serials are what a check's serials are compared with (in normalised form): a serial ending in a no-break
# space is one no consignment can present (a check refuses it padded), and the line's goods are held for ever
LICENCE_BODIES: dict[str, dict[str, Any]] = {
    "export-licence.issued": {"licence": LICENCE},
    "import-authorisation.issued": {"licence": IMPORT_AUTHORISATION},
    "transit-consent.requested": {
        "licence": LICENCE | {"status": "pending", "issued_at": None},
        "shipment_window": {"from": "2026-12-01", "to": "2026-12-20"},
    },
}


@pytest.mark.parametrize("spoil", SPOILS)
@pytest.mark.parametrize("type_", LICENCE_BODIES)
async def test_a_serial_of_a_received_licence_padded_or_with_a_control_character_is_rejected_and_stores_nothing(
    de: tuple[Client, db.Conn], type_: str, spoil: str
) -> None:
    client, conn = de
    body = LICENCE_BODIES[type_]
    before = await _stored(conn)
    assert await _send(client, 1, type_, _spoiled(body, ("licence", "lines", 0, "serials", 1), SPOILS[spoil])) == (
        "rejected",
        "invalid-body",
    )
    assert await _stored(conn) == before
    assert await _send(client, 2, type_, body) == ("accepted", None)
    assert await _count(conn, "licence") == 1


TRACE_FIELDS: list[tuple[str, tuple[str | int, ...]]] = [
    ("trace.requested", ("weapon", "serial")),
    ("trace.requested", ("weapon", "markings", 0, "serial")),
    ("trace.answered", ("record", "item", "serial")),
    ("trace.answered", ("record", "markings", 0, "serial")),
]


@pytest.mark.parametrize("spoil", SPOILS)
@pytest.mark.parametrize(("type_", "path"), TRACE_FIELDS, ids=[f"{t}:{'.'.join(map(str, p))}" for t, p in TRACE_FIELDS])
async def test_a_serial_in_a_received_trace_notice_padded_or_with_a_control_character_is_rejected(
    client: Client, conn: db.Conn, auth: TokenFactory, type_: str, path: tuple[str | int, ...], spoil: str
) -> None:
    """A requested weapon's serials are looked up in this State's records, an answer's are the record's: identifiers."""
    _, request_id = await _own_request(client, conn, auth)  # AT asked CZ; CZ's reply names it, its request names none
    body = REQUEST if type_ == "trace.requested" else {"outcome": "found", "record": RECORD, "reason": None}
    reply_to = None if type_ == "trace.requested" else request_id
    traces = "SELECT (SELECT count(*) FROM trace_request), (SELECT count(*) FROM trace_answer)"
    before = (await _stored(conn), tuple(await conn.fetchrow(traces) or ()))
    spoiled = _from_cz(1, type_, _spoiled(body, path, SPOILS[spoil]), reply_to)
    receipt = await _deliver(client, spoiled)
    assert (receipt["status"], receipt["reason"]) == ("rejected", "invalid-body")
    assert (await _stored(conn), tuple(await conn.fetchrow(traces) or ())) == before
    assert (await _deliver(client, _from_cz(2, type_, body, reply_to)))["status"] == "accepted"
