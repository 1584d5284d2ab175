"""Effects of shipment notices (PROTOCOL §5; Art. 10(4) confirmation of receipt): they update the shipment record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from firearms import check_records, journal, licence_reads
from firearms.canonical import utc_now
from firearms.clock import local_date
from firearms.exchange import emit
from firearms.exchange.bodies import (
    PassageRecorded,
    ReceiptConfirmationRequested,
    ReceiptConfirmed,
    ShipmentDispatched,
    ShipmentItem,
)
from firearms.exchange.inbox import (
    NoticeRejectedError,
    ReceivedNotice,
    body_as,
    effect,
    require_not_after_arrival,
    require_not_after_receipt,
)
from firearms.licence_views import licence_object
from firearms.serials import normalise
from firearms.store import licences as licence_store
from firearms.store import received as store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn
    from firearms.licence_object import LicenceLine
    from firearms.store.received import JournalEntry

__all__ = ["receipt_confirmation_requested", "receipt_confirmed", "shipment_dispatched", "transit_passage_recorded"]


@effect("shipment.dispatched", checks_first=True)
async def shipment_dispatched(conn: Conn, received: ReceivedNotice) -> None:
    """The exporting State dispatched a shipment, or a part of it, under a licence it sent us before.

    A consignment may cross the exit in parts (two trucks: two clear exit checks under one shipment id),
    each its own notice: the shipment holds what every one of them dispatched, each counted once.
    """
    body = body_as(received, ShipmentDispatched)
    require_not_after_arrival(received, "dispatched_at", body.dispatched_at)
    _require_consistent(body.items)
    sender = received.notice.sender
    licence = await _sent_export_licence(conn, received, body.licence_number, transit=True)
    record = await store.get_shipment_record(conn, sender, body.shipment_id)
    held = record["items"] if record is not None and record["licence_number"] == body.licence_number else None
    await _require_items_on_licence(conn, licence, body.items, held=held)
    recorded = await store.upsert_shipment_dispatch(
        conn,
        sender,
        body.shipment_id,
        body.licence_number,
        sender,
        body.dispatched_at,
        msgspec.to_builtins(body.items),
        received.notice.confidentiality,
        utc_now(),
        (received.notice.id, received.notice.sequence),
        _entry(received, "shipment.dispatched"),
    )
    if not recorded:  # nothing was written
        raise NoticeRejectedError(
            "shipment-licence-mismatch", f"shipment {body.shipment_id} of {sender} is recorded under another licence"
        )


@effect("transit.passage-recorded", checks_first=True)
async def transit_passage_recorded(conn: Conn, received: ReceivedNotice) -> None:
    """A transit State of a licence known here reports a border check to its exporting or importing State.

    One record per check and verdict.

    A ``clear`` passage let goods through under the licence: its items are held to the licence's lines as a
    dispatch's are. A held or refused one reports what the transit State stopped, which may be anything.
    """
    body = body_as(received, PassageRecorded)
    _require_consistent(body.items)
    sender = received.notice.sender
    licence = await licence_store.find_licence(conn, body.issuing_state, body.licence_number)
    if licence is None:
        raise NoticeRejectedError("unknown-licence", f"no licence {body.licence_number} of {body.issuing_state}")
    if sender not in licence["transit_states"]:
        raise NoticeRejectedError("not-on-route", f"{sender} is not a transit State of {body.licence_number}")
    own = received.notice.recipient
    if own not in (licence["exporting_state"], licence["importing_state"]):
        # PROTOCOL §5: reported to the exporting and importing States; another transit State has no part in it
        raise NoticeRejectedError(
            "not-on-route", f"{own} is neither the exporting nor the importing State of {body.licence_number}"
        )
    if body.verdict == "clear":
        await _require_items_on_licence(conn, licence, body.items)
    await store.insert_shipment_passage(
        conn,
        sender,
        body.check_id,
        body.licence_number,
        body.issuing_state,
        body.shipment_id,
        body.verdict,
        body.reasons,
        body.checked_at,
        body.crossing_point,
        msgspec.to_builtins(body.items),
        received.notice.confidentiality,
        received.notice.id,
        utc_now(),
        journal.entry(
            actor=f"partner:{sender}",
            action="shipment.passage-recorded",
            payload={"licence_number": body.licence_number, "verdict": body.verdict, "notice_id": received.notice.id},
        ),
    )


@effect("receipt.confirmation-requested", checks_first=True)
async def receipt_confirmation_requested(conn: Conn, received: ReceivedNotice) -> None:
    """The exporting State asks this (importing) State to confirm receipt of a shipment (Art. 10(4))."""
    body = body_as(received, ReceiptConfirmationRequested)
    sender = received.notice.sender
    await _sent_export_licence(conn, received, body.licence_number, transit=False)
    await store.upsert_shipment_confirmation_request(
        conn,
        sender,
        body.shipment_id,
        body.licence_number,
        sender,
        received.created_at,
        received.notice.confidentiality,
        utc_now(),
        _entry(received, "shipment.confirmation-requested"),
    )
    await _answer_from_records(conn, received, body)


async def _answer_from_records(conn: Conn, received: ReceivedNotice, body: ReceiptConfirmationRequested) -> None:
    """Answer a confirmation request at once when this State's customs already let the shipment in.

    Otherwise the entry check answers by itself when it clears (``receipt.confirmed`` after the check).
    """
    sender = received.notice.sender
    entry = await check_records.entry_for_shipment(conn, sender, body.licence_number, body.shipment_id)
    if entry is None:
        return
    request, let_in_at = entry
    licence = (await licence_reads.find_licence(conn, sender, body.licence_number)).licence
    await emit.receipt_confirmed(
        conn,
        licence,
        own_state=received.notice.recipient,
        shipment_id=body.shipment_id,
        received_on=local_date(let_in_at, received.time_zone),
        customs_document=request.customs_document or f"customs check {request.check_id}",
        items=[
            ShipmentItem(line=line.line, quantity=line.quantity, serials=list(line.serials)) for line in request.lines
        ],
        actor="system:receipt-confirmation",
    )


@effect("receipt.confirmed", checks_first=True)
async def receipt_confirmed(conn: Conn, received: ReceivedNotice) -> None:
    """The importing State of one of this State's export licences confirms receipt of a shipment (Art. 10(4)).

    Each entry check that lets a part in confirms that part: the shipment holds what every confirmation
    received, a part confirmed again (same customs document, day and items) counted once.
    """
    body = body_as(received, ReceiptConfirmed)
    require_not_after_receipt(received, "received_on", body.received_on)
    _require_consistent(body.items)
    own = received.notice.recipient
    recorded = await store.upsert_shipment_receipt(
        conn,
        own,
        body.shipment_id,
        body.licence_number,
        body.received_on,
        body.customs_document,
        msgspec.to_builtins(body.items),
        received.notice.sender,
        received.notice.confidentiality,
        utc_now(),
        (received.notice.id, received.notice.sequence),
        _entry(received, "shipment.receipt-confirmed"),
    )
    if recorded:
        return
    # Nothing was written (the statement checks the licence and the items itself, saving round trips): say why.
    licence = await licence_store.find_licence(conn, own, body.licence_number)
    if licence is None or licence["origin"] != "local" or licence["kind"] != "export":
        raise NoticeRejectedError("unknown-licence", f"{body.licence_number} is not an export licence of {own}")
    if licence["importing_state"] != received.notice.sender:
        raise NoticeRejectedError(
            "not-on-route", f"{received.notice.sender} is not the importing State of {body.licence_number}"
        )
    await _require_items_on_licence(conn, licence, body.items)
    record = await store.get_shipment_record(conn, own, body.shipment_id)
    if record is not None and record["licence_number"] != body.licence_number:
        # the shipment's record under that licence is another State's business (its importing State confirms it)
        raise NoticeRejectedError(
            "shipment-licence-mismatch", f"shipment {body.shipment_id} of {own} is recorded under another licence"
        )
    if record is not None:
        await _require_items_on_licence(conn, licence, body.items, held=record["received_items"])
    raise NoticeRejectedError("cannot-apply", f"the confirmation of {body.shipment_id} could not be recorded")


async def _sent_export_licence(conn: Conn, received: ReceivedNotice, number: str, *, transit: bool) -> asyncpg.Record:
    """The export licence ``number`` its sender issued and sent us, in which this State has a part; its row.

    PROTOCOL §5's "from -> to": the exporting State dispatches (to the transit and importing States, ``transit``)
    and asks the importing State to confirm a receipt. A licence the sender did not send us is ``unknown-licence``,
    and so is one it sent that is no export licence (its import authorisation: the sender imports, this State
    exports); one whose current version names this State in no such role is ``not-on-route``. Before, any licence
    the sender had sent was taken, and the importing State recorded shipments it "dispatched" under its own
    import authorisation.
    """
    sender = received.notice.sender
    if await store.get_foreign_licence(conn, sender, number) is None:
        raise NoticeRejectedError("unknown-licence", f"no licence {number} of {sender} was received")
    licence = await licence_store.find_licence(conn, sender, number)
    assert licence is not None  # noqa: S101  # a received licence is kept in the licensing tables too (firearms.received)
    if licence["kind"] != "export":
        raise NoticeRejectedError(
            "unknown-licence",
            f"{number} of {sender} is an {licence['kind']} licence: {received.notice.type} names an export licence"
            " of the exporting State",
        )
    own = received.notice.recipient
    if own != licence["importing_state"] and not (transit and own in licence["transit_states"]):
        role = "the importing or a transit State" if transit else "the importing State"
        raise NoticeRejectedError("not-on-route", f"{own} is not {role} of {number}")
    return licence


async def _require_items_on_licence(
    conn: Conn, licence: asyncpg.Record, items: list[ShipmentItem], *, held: Any = None
) -> None:
    """A shipment notice names only what the licence holds: its lines, at most each line's quantity, its serials.

    ``licence``: the licence's row, as the effect read it; its current version is read here. ``held``: the items
    the shipment's record holds already (the parts dispatched, or received, before: JSON as stored), which with
    ``items`` make at most the licence's lines too. A shipment is of goods one licence authorises; held to each
    part alone, parts without end under one shipment id summed past the licence, and the record grew with each.

    Art. 10(3)-(4): a dispatch or a receipt is of goods the licence authorises. The sending State's customs
    clear nothing else (``line-not-on-licence``, ``quantity-exceeds-balance``, a serial not on the line is held
    and a release refused), its notices arrive after the version they were cleared under, and an amendment
    never drops a debited line or serial nor goes below a debited quantity: a notice naming anything else
    cannot be applied (PROTOCOL §4), and is rejected ``item-not-on-licence`` before anything is written.
    """
    version = await licence_store.get_licence_version(conn, licence["licence_id"], licence["version"])
    assert version is not None  # noqa: S101  # the licence row points at an existing version
    lines = {line.line: line for line in licence_object(licence, version).lines}
    off = _off_licence(items, lines)
    if off is None and held:
        before = [
            ShipmentItem(
                line=int(item["line"]), quantity=int(item["quantity"]), serials=list(item.get("serials") or [])
            )
            for item in held
        ]  # as stored, unchecked: a record summed past its licence before this rule must not fail to be read
        off = _off_licence(_together(before, items), lines) or _again(before, items)
        off = None if off is None else f"with the parts of the shipment recorded before, {off}"
    if off is not None:
        raise NoticeRejectedError("item-not-on-licence", f"{licence['number']}: {off}")


def _again(held: list[ShipmentItem], items: list[ShipmentItem]) -> str | None:
    """A serial of ``items`` an earlier part of the shipment carried already (normalised, on any line), in words.

    A firearm crosses once in a shipment: a check refuses a serial cleared before, so no part names one twice.
    Only the new part is judged: a record that took a serial twice before this rule is still added to.
    """
    before = {normalise(serial) for item in held for serial in item.serials}
    for item in items:
        for serial in item.serials:
            if normalise(serial) in before:
                return f"serial {serial} (line {item.line}) is in a part recorded before"
    return None


def _together(held: list[ShipmentItem], items: list[ShipmentItem]) -> list[ShipmentItem]:
    """The items of a shipment's parts together: per line the quantities summed and the serials in order."""
    lines: dict[int, ShipmentItem] = {}
    for item in (*held, *items):
        before = lines.get(item.line)
        lines[item.line] = (
            item
            if before is None
            else ShipmentItem(
                line=item.line, quantity=before.quantity + item.quantity, serials=[*before.serials, *item.serials]
            )
        )
    return list(lines.values())


def _require_consistent(items: list[ShipmentItem]) -> None:
    """A shipment notice's items do not contradict themselves: each line once, each serial once, a serial per item.

    These need nothing held here to be seen, so they are ``invalid-body`` (PROTOCOL §4), whatever the verdict of a
    passage: this registry's own checks refuse such a consignment (``duplicate-line``, ``duplicate-serial``) or
    hold it without a release (``serial-count-mismatch``), so no notice of theirs names one.

    Raises:
        NoticeRejectedError: ``invalid-body``.
    """
    contradiction = _contradiction(items)
    if contradiction is not None:
        raise NoticeRejectedError("invalid-body", f"the items contradict themselves: {contradiction}")


def _contradiction(items: list[ShipmentItem]) -> str | None:
    """Where the items contradict themselves, in words; ``None`` when they do not."""
    lines: set[int] = set()
    serials: set[str] = set()
    for item in items:
        if item.line in lines:
            return f"line {item.line} is named twice"
        lines.add(item.line)
        if len(item.serials) > item.quantity:
            return f"line {item.line} names {len(item.serials)} serials for {item.quantity} items"
        for serial in item.serials:
            key = normalise(serial)  # the identity, as at a check
            if key in serials:
                return f"serial {serial} is named twice"
            serials.add(key)
    return None


def _off_licence(items: list[ShipmentItem], lines: dict[int, LicenceLine]) -> str | None:
    """The first item the licence's lines do not hold, in words; ``None`` when every one is on the licence.

    The category is the licence line's: a firearm line names one serial per item (complete before shipment,
    PROTOCOL §5 and Reg. 258/2012 Art. 8(1)(h)), an ammunition line none (counted, not serialised), a component
    line up to one per item (a check takes components without serials). A serial is judged against a line that
    lists serials (in normalised form, as at a check).
    """
    for item in items:
        line = lines.get(item.line)
        if line is None:
            return f"the licence has no line {item.line}"
        if item.quantity > line.quantity:
            return f"line {item.line} is for {line.quantity}; the notice names {item.quantity}"
        if line.category == "ammunition" and item.serials:
            return f"line {item.line} is ammunition, counted and not serialised; the notice names serials for it"
        if line.category == "firearm" and len(item.serials) != item.quantity:
            return f"line {item.line} is of firearms: {item.quantity} named with {len(item.serials)} serials"
        listed = {normalise(serial) for serial in line.serials}
        for serial in item.serials:
            if listed and normalise(serial) not in listed:
                return f"serial {serial} is not on line {item.line}"
    return None


def _entry(received: ReceivedNotice, action: str) -> JournalEntry:
    """The journal entry of a shipment record's change, written by the same statement."""
    return journal.entry(
        actor=f"partner:{received.notice.sender}", action=action, payload={"notice_id": received.notice.id}
    )
