"""Bodies of the core notice types (PROTOCOL §5) as msgspec Structs.

Unknown fields inside a body are ignored (PROTOCOL §3): none of these forbids them. Identifiers (shipment and check
ids, customs documents, serials) are held to the registry's own rule: no white space around them, no control
character (:data:`firearms.text_rules.IDENTIFIER`, checked by :func:`firearms.exchange.inbox.body_as`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from firearms.licence_object import CountryCode, LicenceNumber, LicenceObject, Status, Version
from firearms.text_rules import IDENTIFIER

__all__ = [
    "ConsentDecided",
    "ConsentRequested",
    "LicenceIssued",
    "PassageRecorded",
    "ReceiptConfirmationRequested",
    "ReceiptConfirmed",
    "ShipmentDispatched",
    "ShipmentItem",
    "ShipmentWindow",
    "StatusChanged",
    "contradiction",
]

Time = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=500), IDENTIFIER]
"""A shipment id, a check id, a customs document: received padded or with a control character, ``invalid-body``."""
StateCode = CountryCode
Quantity = Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)]


class LicenceIssued(msgspec.Struct, frozen=True, kw_only=True):
    """``export-licence.issued`` and ``import-authorisation.issued``."""

    licence: LicenceObject


class ShipmentWindow(msgspec.Struct, frozen=True, kw_only=True, rename={"from_": "from"}):
    """When the exporter means to ship."""

    from_: dt.date
    to: dt.date


class ConsentRequested(msgspec.Struct, frozen=True, kw_only=True):
    """``transit-consent.requested``."""

    licence: LicenceObject
    shipment_window: ShipmentWindow


class ConsentDecided(msgspec.Struct, frozen=True, kw_only=True):
    """``transit-consent.decided``."""

    licence_number: LicenceNumber
    decision: Literal["no-objection", "objection"]
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None
    valid_until: dt.date | None


class StatusChanged(msgspec.Struct, frozen=True, kw_only=True):
    """``licence.status-changed``.

    ``reason``: PROTOCOL §5's table gives it without "or null" and this registry always sends one
    (:func:`firearms.exchange.emit.licence_status_changed`), but a partner's null is taken as no reason given: refused,
    a suspension or a revocation would leave the licence usable here, and customs would clear on it.
    """

    licence_number: LicenceNumber
    issuing_state: StateCode
    version: Version
    status: Status
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None
    effective_at: Time


class ShipmentItem(msgspec.Struct, frozen=True, kw_only=True):
    """A line of a shipment."""

    line: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    quantity: Quantity
    serials: list[Annotated[str, msgspec.Meta(min_length=1, max_length=64), IDENTIFIER]] = msgspec.field(
        default_factory=list
    )


class ShipmentDispatched(msgspec.Struct, frozen=True, kw_only=True):
    """``shipment.dispatched``."""

    licence_number: LicenceNumber
    shipment_id: Identifier
    dispatched_at: Time
    items: list[ShipmentItem]


class PassageRecorded(msgspec.Struct, frozen=True, kw_only=True):
    """``transit.passage-recorded``."""

    licence_number: LicenceNumber
    issuing_state: StateCode
    shipment_id: Identifier | None
    check_id: Identifier
    verdict: Literal["clear", "hold", "refuse"]
    reasons: list[str]
    checked_at: Time
    crossing_point: Text
    items: list[ShipmentItem]


class ReceiptConfirmationRequested(msgspec.Struct, frozen=True, kw_only=True):
    """``receipt.confirmation-requested``."""

    licence_number: LicenceNumber
    shipment_id: Identifier


class ReceiptConfirmed(msgspec.Struct, frozen=True, kw_only=True):
    """``receipt.confirmed``."""

    licence_number: LicenceNumber
    shipment_id: Identifier
    received_on: dt.date
    customs_document: Identifier
    items: list[ShipmentItem]


def contradiction(licence: LicenceObject) -> str | None:  # noqa: PLR0911  # one return per rule
    """Where a licence object contradicts itself, so that it is invalid for any notice carrying it; else ``None``.

    PROTOCOL §4 tells a body invalid for its type (``invalid-body``) from one this registry cannot apply
    (``cannot-apply``): these need nothing held here to be seen. They are the rules a licence drafted here
    obeys (:mod:`firearms.licence_rules`) where PROTOCOL §5 says the same: the validity ends on or after its
    first day, and so does the import authorisation's, which is the importing State's (Art. 10(2)(a)); the
    route (exporting, transit, importing States) names each State once; a line that lists serials lists one
    per item (``serials`` are empty while unknown, complete once known). Ammunition is counted, not serialised,
    and is left to the issuing State.

    A licence ``pending`` (not yet issued, PROTOCOL §5) has ``issued_at`` null, and an ``issued`` one the time it
    was issued: a consent request's licence claiming an issue time would stand here with it once the licence
    is issued, and an issued licence without one has no Art. 10(3) date of issue. A consent request's pending
    licence has the time a partner gave dropped before it comes here (PROTOCOL §5 gives ``issued_at`` no "or
    null": :func:`firearms.exchange.effects.consents.transit_consent_requested`).
    """
    issued = licence.status == "issued"
    if licence.status in {"pending", "issued"} and issued != (licence.issued_at is not None):
        given = "no issued_at" if issued else "an issued_at, though not yet issued"
        return f"the licence is {licence.status} but gives {given}"
    if licence.expires_on < licence.valid_from:
        return f"the licence expires on {licence.expires_on}, before it is valid from {licence.valid_from}"
    auth = licence.import_authorisation
    if auth is not None and auth.expires_on < auth.issued_on:
        return f"the import authorisation expires on {auth.expires_on}, before it was issued on {auth.issued_on}"
    if auth is not None and auth.state != licence.importing_state:
        return f"the import authorisation is {auth.state}'s, not the importing State's ({licence.importing_state})"
    route = [licence.exporting_state, *licence.transit_states, licence.importing_state]
    if len(set(route)) != len(route):
        return f"the route {' -> '.join(route)} names a State twice"
    for line in licence.lines:
        if line.serials and line.category != "ammunition" and len(line.serials) != line.quantity:
            return f"line {line.line} lists {len(line.serials)} serials for a quantity of {line.quantity}"
    return None
