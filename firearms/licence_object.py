"""The licence object of PROTOCOL.md §5: the same shape on the wire, in the API and in storage.

Its content is what UN Firearms Protocol Art. 10(3) and Reg. (EU) 258/2012 Annex II require of an
export, import, transit or brokering authorisation.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from firearms.text_rules import IDENTIFIER, STATE_CODE_PATTERN

__all__ = [
    "CATEGORIES",
    "KINDS",
    "PURPOSES",
    "STATUSES",
    "Category",
    "CountryCode",
    "ImportAuthorisation",
    "Kind",
    "LicenceLine",
    "LicenceNumber",
    "LicenceObject",
    "Party",
    "Purpose",
    "Status",
    "Version",
    "told_states",
]

Kind = Literal["export", "import", "transit", "brokering"]
Status = Literal["pending", "issued", "suspended", "revoked", "expired", "exhausted"]
Category = Literal["firearm", "component", "ammunition"]
Purpose = Literal["commercial", "hunting", "sport-shooting", "evaluation", "exhibition", "repair", "state"]
KINDS: tuple[Kind, ...] = ("export", "import", "transit", "brokering")
STATUSES: tuple[Status, ...] = ("pending", "issued", "suspended", "revoked", "expired", "exhausted")
CATEGORIES: tuple[Category, ...] = ("firearm", "component", "ammunition")
PURPOSES: tuple[Purpose, ...] = (
    "commercial",
    "hunting",
    "sport-shooting",
    "evaluation",
    "exhibition",
    "repair",
    "state",
)

CountryCode = Annotated[str, msgspec.Meta(pattern=STATE_CODE_PATTERN)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
LicenceNumber = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9][A-Z0-9./-]{0,63}$(?!\n)")]
# an identifier: received (a partner's licence) padded or holding a control character, the notice is invalid-body
# (firearms.exchange.inbox.body_as); this registry's own licences hold it to its serial rule (licence_rules)
Serial = Annotated[str, msgspec.Meta(min_length=1, max_length=64), IDENTIFIER]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
Version = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]  # stored as integer


class Party(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A party named on a licence (exporter, consignee, final recipient, broker)."""

    name: Text
    country: CountryCode
    address: Text
    registration: Text | None = None


class ImportAuthorisation(msgspec.Struct, frozen=True, kw_only=True):
    """The importing State's authorisation an export licence rests on (Art. 10(2)(a))."""

    number: LicenceNumber
    state: CountryCode
    issued_on: dt.date
    expires_on: dt.date


class LicenceLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of goods; ``serials`` may be empty while unknown (complete before shipment for firearms)."""

    line: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    category: Category
    type: Text
    make: Text
    model: Annotated[str, msgspec.Meta(max_length=500)]  # empty for ammunition lots
    calibre: Text
    quantity: Quantity
    serials: list[Serial] = msgspec.field(default_factory=list)
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class LicenceObject(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The licence of PROTOCOL.md §5. Unknown fields are kept out: the wire decoder decides what to ignore.

    ``return_on`` (an additive field) is the return date of a temporary export or import under the
    simplified procedures of Art. 10(6); it is omitted when absent, so licences without it keep their
    canonical bytes.
    """

    number: LicenceNumber
    issuing_state: CountryCode
    kind: Kind
    version: Version
    status: Status
    issued_at: dt.datetime | None
    place_of_issue: Text
    issuing_authority: Text
    valid_from: dt.date
    expires_on: dt.date
    exporting_state: CountryCode
    importing_state: CountryCode
    transit_states: list[CountryCode]
    exporter: Party
    consignee: Party
    final_recipient: Party
    brokers: list[Party]
    import_authorisation: ImportAuthorisation | None
    purpose: Purpose
    lines: Annotated[list[LicenceLine], msgspec.Meta(min_length=1, max_length=500)]
    return_on: dt.date | None = None


def told_states(kind: str, exporting_state: str, importing_state: str, transit_states: list[str]) -> list[str]:
    """The States a version of a licence is sent to by its issuing State (PROTOCOL §5), in route order.

    An export licence: the importing and every transit State; an import authorisation: the exporting
    State. Transit and brokering licences are sent to nobody.
    """
    if kind == "export":
        return [importing_state, *transit_states]
    if kind == "import":
        return [exporting_state]
    return []
