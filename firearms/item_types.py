"""The record model (DESIGN §3): items, markings, lifecycle events, as msgspec Structs.

Request bodies (``New*``) forbid unknown fields; stored records are frozen. Text limits are
checked by msgspec at the boundary; the rules of the registry (countries, years, serials,
padding, control characters, markings a firearm needs) by :mod:`firearms.item_rules`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from firearms.lifecycle import EventKind, Status
from firearms.text_rules import REASON

__all__ = [
    "Category",
    "CertifiedItem",
    "ComponentType",
    "Correction",
    "DeactivatedCategory",
    "FieldChange",
    "FirearmType",
    "HistoryEntry",
    "Item",
    "ItemChanges",
    "ItemDetail",
    "ItemEvent",
    "ItemKind",
    "Marking",
    "MarkingChanges",
    "MarkingKind",
    "NewEvent",
    "NewItem",
    "NewItemCorrection",
    "NewMarking",
    "NewMarkingCorrection",
    "ScoredItem",
    "Text",
]

ItemKind = Literal["firearm", "component", "ammunition"]
FirearmType = Literal[
    "pistol", "revolver", "rifle", "shotgun", "sub-machine-gun", "machine-gun", "combination", "other"
]
ComponentType = Literal["barrel", "frame", "receiver", "slide", "cylinder", "bolt", "breech-block", "sound-moderator"]
Category = Literal["A", "B", "C", "D", "antique"]
DeactivatedCategory = Literal["A", "B", "C", "D"]
"""A deactivated firearm's category: C under Dir. 2021/555 Annex I; a stricter State's law may keep it higher.

``antique`` is a matter of the year of manufacture, never the result of a deactivation."""
MarkingKind = Literal["manufacture", "geometric", "import", "state-to-civilian", "proof", "deactivation"]
Text = Annotated[str, msgspec.Meta(max_length=200)]
Year = Annotated[int, msgspec.Meta(ge=1300, le=9999)]
RowId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
"""The id of a stored row (a bigint identity): a larger one names nothing and cannot reach the database."""


class NewMarking(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A marking as stamped (``stamped``) plus the fields parsed from it (Art. 8; ITI paras 8-10).

    ``manufacture``: manufacturer, country or place, serial, year, model. ``geometric``: symbol_code and
    alphanumeric_code (required). ``import``: country (of import, required) and year. ``state-to-civilian``:
    country (the transferring State, required). ``proof``: place, country, year. ``deactivation``: country,
    symbol_code (the verifying entity's symbol) and year, all required (Reg. 2015/2403 Annex II).
    """

    kind: MarkingKind
    stamped: Annotated[str, msgspec.Meta(max_length=500)]
    manufacturer: Text | None = None
    place: Text | None = None
    country: Text | None = None
    serial: Text | None = None
    year: Year | None = None
    model: Text | None = None
    symbol_code: Text | None = None
    alphanumeric_code: Text | None = None


class NewItem(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An item to register. For an ammunition lot, ``serial`` is the lot number."""

    kind: ItemKind
    manufacturer: Text
    country_of_manufacture: Text
    serial: Text
    firearm_type: FirearmType | None = None
    component_type: ComponentType | None = None
    parent_item_id: RowId | None = None
    make: Text | None = None
    model: Text | None = None
    calibre: Text | None = None
    year_of_manufacture: Year | None = None
    category: Category | None = None
    headstamp: Text | None = None
    quantity: Annotated[int, msgspec.Meta(ge=1, le=2_000_000_000)] | None = None
    markings: Annotated[list[NewMarking], msgspec.Meta(max_length=20)] = []


class Marking(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded marking."""

    marking_id: int
    item_id: int
    kind: MarkingKind
    stamped: str
    manufacturer: str | None
    place: str | None
    country: str | None
    serial: str | None
    year: int | None
    model: str | None
    symbol_code: str | None
    alphanumeric_code: str | None
    recorded_at: dt.datetime
    recorded_by: str


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """A registered item and its current status.

    ``identity_duplicate_of``: the item first registered under the same identity, when this record is a
    recorded duplicate of it (the same item registered twice under two spellings that a later rule made
    one identity, migration 20261129204000); ``None`` otherwise. Both records stay, for a records officer.
    """

    item_id: int
    kind: ItemKind
    firearm_type: FirearmType | None
    component_type: ComponentType | None
    parent_item_id: int | None
    make: str | None
    model: str | None
    calibre: str | None
    year_of_manufacture: int | None
    country_of_manufacture: str
    category: Category | None
    manufacturer: str
    serial: str
    serial_normalised: str
    headstamp: str | None
    quantity: int | None
    status: Status
    registered_at: dt.datetime
    registered_by: str
    import_id: int | None
    identity_duplicate_of: int | None


class ItemDetail(Item, frozen=True, kw_only=True):
    """An item with its markings."""

    markings: list[Marking]


class CertifiedItem(Item, frozen=True, kw_only=True):
    """An item found by the number of its deactivation certificate (Reg. 2015/2403 Art. 3 and 7).

    The deactivation in effect that records the number (``event_id``, dated ``deactivated_on``), the certificate's
    number and date, and the verifier who issued it: what an officer holding the paper compares.
    """

    event_id: int
    deactivated_on: dt.date
    certificate_number: str
    certificate_date: dt.date
    verifier: str


class ScoredItem(Item, frozen=True, kw_only=True):
    """A fuzzy-search candidate: ``score`` is the trigram similarity (0-1) of the folded serials.

    ``exact`` says whether the normalised serials are equal (an identity match); otherwise the
    candidate is for a person to look at, never an identity.
    """

    score: float
    exact: bool


class NewEvent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A lifecycle event to record.

    ``temporary`` (with ``purpose``) only on ``imported``: a temporary import for a lawful purpose needs no
    import marking (nor does the return of an exported firearm this State made: ``made_here``).
    ``from_state_stocks`` only on ``transferred``: a release from State stocks to civilian use needs a
    state-to-civilian marking. ``corrects_event_id`` and ``reason`` on ``corrected``, where
    ``corrects_event_id`` is required (null = the registration record itself): left out, it read as null, and an
    officer who forgot it corrected the registration record instead of the event meant. :attr:`corrects` is
    ``corrects_event_id`` with "not given" read as null, for every other use. ``deactivator``, ``verifier``,
    ``certificate_number`` and ``certificate_date`` only on ``deactivated``, where all four are required and the
    verifier is never the deactivator (Art. 9; Reg. 2015/2403 Art. 3). ``category_after`` only on
    ``deactivated``: the item's category once deactivated, ``C`` when not given (Dir. 2021/555 Annex I).
    """

    event: EventKind
    occurred_on: dt.date
    from_party: Text | None = None
    to_party: Text | None = None
    document: Text | None = None
    country: Text | None = None
    temporary: bool = False
    from_state_stocks: bool = False
    purpose: Text | None = None
    corrects_event_id: RowId | msgspec.UnsetType | None = msgspec.UNSET
    reason: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    note: Annotated[str, msgspec.Meta(max_length=1000)] | None = None
    deactivator: Text | None = None
    verifier: Text | None = None
    certificate_number: Text | None = None
    certificate_date: dt.date | None = None
    category_after: DeactivatedCategory | None = None

    @property
    def corrects(self) -> int | None:
        """The event this one corrects (``None``: the registration record, or not a correction)."""
        return None if isinstance(self.corrects_event_id, msgspec.UnsetType) else self.corrects_event_id


class ItemEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded lifecycle event with the status before and after it.

    ``category_before`` and ``category_after``: the item's category around a deactivation (recorded since
    migration 20261130070000) or a correction of one; ``None`` on every other event.
    """

    event_id: int
    item_id: int
    event: EventKind
    status_before: Status
    status_after: Status
    occurred_on: dt.date
    from_party: str | None
    to_party: str | None
    document: str | None
    country: str | None
    temporary: bool
    from_state_stocks: bool
    purpose: str | None
    corrects_event_id: int | None
    reason: str | None
    note: str | None
    recorded_at: dt.datetime
    recorded_by: str
    deactivator: str | None
    verifier: str | None
    certificate_number: str | None
    certificate_date: dt.date | None
    category_before: Category | None
    category_after: Category | None


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of an item's history: ``source`` says what it is; ``detail`` its fields.

    ``correction`` entries are corrections of the item's fields or of a marking (``marking_id``), each field's value
    before and after (:class:`Correction`); ``marking`` entries show a marking as it reads now. ``licence-line`` and
    ``check`` entries name the item's serial in normalised form: a licence line that lists it, a customs check that
    presented it.
    """

    at: dt.datetime
    source: Literal["registration", "marking", "event", "licence-line", "check", "correction"]
    detail: dict[str, Any]


Quantity = Annotated[int, msgspec.Meta(ge=1, le=2_000_000_000)]


class ItemChanges(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The item's descriptive fields to correct, each with its right value (``null`` clears an optional one).

    ``firearm_type`` only on a firearm, ``headstamp`` and ``quantity`` only on a lot of ammunition. The identity
    (``kind``, ``component_type``, ``manufacturer``, ``country_of_manufacture``, ``serial``), ``category`` (which
    deactivations move) and ``parent_item_id`` are named here only to be refused with ``field-not-correctable``.
    """

    make: Text | msgspec.UnsetType | None = msgspec.UNSET
    model: Text | msgspec.UnsetType | None = msgspec.UNSET
    calibre: Text | msgspec.UnsetType | None = msgspec.UNSET
    year_of_manufacture: Year | msgspec.UnsetType | None = msgspec.UNSET
    firearm_type: FirearmType | msgspec.UnsetType = msgspec.UNSET
    headstamp: Text | msgspec.UnsetType | None = msgspec.UNSET
    quantity: Quantity | msgspec.UnsetType = msgspec.UNSET
    kind: Any = msgspec.UNSET
    component_type: Any = msgspec.UNSET
    parent_item_id: Any = msgspec.UNSET
    manufacturer: Any = msgspec.UNSET
    country_of_manufacture: Any = msgspec.UNSET
    serial: Any = msgspec.UNSET
    category: Any = msgspec.UNSET


class MarkingChanges(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A marking's text as stamped and parsed fields to correct (``null`` clears an optional one); never its kind."""

    stamped: Annotated[str, msgspec.Meta(max_length=500)] | msgspec.UnsetType = msgspec.UNSET
    manufacturer: Text | msgspec.UnsetType | None = msgspec.UNSET
    place: Text | msgspec.UnsetType | None = msgspec.UNSET
    country: Text | msgspec.UnsetType | None = msgspec.UNSET
    serial: Text | msgspec.UnsetType | None = msgspec.UNSET
    year: Year | msgspec.UnsetType | None = msgspec.UNSET
    model: Text | msgspec.UnsetType | None = msgspec.UNSET
    symbol_code: Text | msgspec.UnsetType | None = msgspec.UNSET
    alphanumeric_code: Text | msgspec.UnsetType | None = msgspec.UNSET


class NewItemCorrection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A correction of the item's descriptive fields (DESIGN §3: names what it corrects and why)."""

    changes: ItemChanges
    reason: REASON


class NewMarkingCorrection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A correction of one marking's text as stamped and parsed fields, and why."""

    changes: MarkingChanges
    reason: REASON


class FieldChange(msgspec.Struct, frozen=True, kw_only=True):
    """A corrected field's value before and after the correction."""

    before: str | int | None
    after: str | int | None


class Correction(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded correction: of the item's fields (``marking_id`` ``None``) or of one of its markings."""

    correction_id: int
    item_id: int
    marking_id: int | None
    changes: dict[str, FieldChange]
    reason: str
    recorded_at: dt.datetime
    recorded_by: str
