"""Rules a licence's content must obey before it is stored (Art. 10(3), 10(6); Reg. 258/2012 Annex II).

Pure functions without a database: every one raises :class:`InvalidInputError` with a stable code,
so a bad draft or amendment is refused before anything is written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated

import msgspec

from firearms.countries import is_country
from firearms.errors import InvalidInputError
from firearms.licence_object import (
    CountryCode,
    ImportAuthorisation,
    Kind,
    LicenceLine,
    Purpose,
    Quantity,
    Serial,
)
from firearms.serials import normalise, serial_problem
from firearms.text_rules import REASON, TEXT_OR_EMPTY_PATTERN, TEXT_PATTERN

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from firearms.settings import Settings

__all__ = [
    "TEMPORARY_PURPOSES",
    "DraftImportAuthorisation",
    "DraftLine",
    "LicenceDraft",
    "asks_more_of_transit",
    "check_draft",
]

TEMPORARY_PURPOSES: frozenset[str] = frozenset({"hunting", "sport-shooting", "evaluation", "exhibition", "repair"})
# At least one character that is not white space (a blank name or place would be printed on licences) and no
# control character: a line feed, NEL or ESC would be printed too, and sent to every partner on the route.
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=TEXT_PATTERN)]


class DraftLine(LicenceLine, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A licence line as an officer gives it: a misspelt field (``serial`` for ``serials``) is refused, not dropped.

    The wire's :class:`LicenceLine` keeps ignoring unknown fields (PROTOCOL §3: they may be a newer partner's),
    and takes a partner's text as it comes; an officer's text follows :data:`Text` (the model may be empty).
    """

    type: Text
    make: Text
    model: Annotated[str, msgspec.Meta(max_length=500, pattern=TEXT_OR_EMPTY_PATTERN)]  # empty for ammunition lots
    calibre: Text
    quantity: Quantity
    serials: list[Serial] = msgspec.field(default_factory=list)
    description: Annotated[str, msgspec.Meta(max_length=2000, pattern=TEXT_OR_EMPTY_PATTERN)] = ""


class DraftImportAuthorisation(ImportAuthorisation, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The import authorisation as an officer gives it: unknown fields refused (see :class:`DraftLine`)."""


class LicenceDraft(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The content an officer gives for a new licence or a new version of one.

    ``route`` is the whole route in order, from the exporting State through every transit State to
    the importing State. Parties are named by their ``party_id`` in the register; brokers must be
    registered (Art. 15) and active.
    """

    kind: Kind
    place_of_issue: Text
    issuing_authority: Text
    valid_from: dt.date
    expires_on: dt.date
    exporting_state: CountryCode
    importing_state: CountryCode
    route: Annotated[list[CountryCode], msgspec.Meta(min_length=2, max_length=30)]
    exporter_id: uuid.UUID
    consignee_id: uuid.UUID
    final_recipient_id: uuid.UUID
    broker_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    import_authorisation: DraftImportAuthorisation | None = None
    purpose: Purpose = "commercial"
    return_on: dt.date | None = None
    lines: Annotated[list[DraftLine], msgspec.Meta(min_length=1, max_length=500)]
    reason: REASON | None = None
    base_version: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    """For an amendment: the version it was made from. When the licence has moved on since (another
    officer amended it meanwhile) the amendment is refused, ``version-moved``, instead of silently
    replacing that officer's content. Not given with a new draft."""


def _bad(detail: str, code: str, **facts: object) -> InvalidInputError:
    return InvalidInputError(detail, code=code, **facts)


def check_draft(draft: LicenceDraft, *, registry_state: str, settings: Settings) -> list[str]:
    """Check a draft's own content; return its transit States in route order.

    Implements the bad-input rules of issue 4: known country codes, ``expires_on`` not before
    ``valid_from``, a route from the exporting to the importing State, serial counts and duplicates,
    serials by the registry's own serial rules (:func:`firearms.serials.serial_problem`),
    the registry's own place on the route, and the Art. 10(6) simplified procedures.

    Raises:
        InvalidInputError: the first rule broken, with its code.
    """
    _check_countries(draft)
    if draft.expires_on < draft.valid_from:
        raise _bad(
            "expires_on is before valid_from",
            "invalid-validity",
            valid_from=draft.valid_from.isoformat(),
            expires_on=draft.expires_on.isoformat(),
        )
    transit = _check_route(draft, registry_state)
    _check_import_authorisation(draft)
    _check_lines(draft.lines)
    _check_purpose(draft, settings)
    if draft.kind == "brokering" and not draft.broker_ids:
        raise _bad("a brokering licence names at least one broker", "broker-missing")
    seen: set[uuid.UUID] = set()
    for broker_id in draft.broker_ids:
        if broker_id in seen:
            raise _bad(f"broker {broker_id} is named twice", "duplicate-broker", broker_id=str(broker_id))
        seen.add(broker_id)
    return transit


def _check_countries(draft: LicenceDraft) -> None:
    codes: list[str] = [draft.exporting_state, draft.importing_state, *draft.route]
    if draft.import_authorisation is not None:
        codes.append(draft.import_authorisation.state)
    for code in codes:
        if not is_country(code):
            raise _bad(f"{code!r} is not an ISO 3166-1 alpha-2 country code", "unknown-country", country=code)


def _check_route(draft: LicenceDraft, registry_state: str) -> list[str]:
    route = draft.route
    if route[0] != draft.exporting_state or route[-1] != draft.importing_state:
        raise _bad(
            "the route must start at the exporting State and end at the importing State",
            "invalid-route",
            route=route,
        )
    if len(set(route)) != len(route):
        raise _bad("a State appears twice on the route", "invalid-route", route=route)
    transit = route[1:-1]
    own_place = {
        "export": draft.exporting_state == registry_state,
        "import": draft.importing_state == registry_state,
        "transit": registry_state in transit,
        "brokering": True,
    }[draft.kind]
    if not own_place:
        raise _bad(
            f"this registry ({registry_state}) cannot issue a {draft.kind} licence for this route",
            "invalid-route",
            route=route,
            registry_state=registry_state,
        )
    return transit


def _check_import_authorisation(draft: LicenceDraft) -> None:
    auth = draft.import_authorisation
    if auth is None:
        return
    if auth.state != draft.importing_state:
        raise _bad(
            "the import authorisation must come from the importing State",
            "import-authorisation-mismatch",
            state=auth.state,
            importing_state=draft.importing_state,
        )
    if auth.expires_on < auth.issued_on:
        raise _bad("the import authorisation expires before it was issued", "invalid-validity")


def _check_lines(lines: Iterable[LicenceLine]) -> None:
    numbers: set[int] = set()
    seen: dict[str, int] = {}
    for item in lines:
        if item.line in numbers:
            raise _bad(f"line {item.line} appears twice", "duplicate-line", line=item.line)
        numbers.add(item.line)
        if item.serials and item.category != "ammunition" and len(item.serials) != item.quantity:
            raise _bad(
                f"line {item.line} lists {len(item.serials)} serials for a quantity of {item.quantity}",
                "serial-count-mismatch",
                line=item.line,
                serials=len(item.serials),
                quantity=item.quantity,
            )
        if item.serials and item.category == "ammunition":
            raise _bad("ammunition lines carry no serials (a lot is described instead)", "serials-not-allowed")
        for serial in item.serials:
            key = normalise(serial)
            problem = serial_problem(serial)
            if problem is not None:
                # the registry's own serial rules: a serial it could not register (a full-width B U+FF22, another
                # script, a combining mark) would be an identity no item here has, and pass beside 'B-77' as another
                raise _bad(f"line {item.line}: {problem}", "invalid-serial", line=item.line, serial=serial)
            if key in seen:
                raise _bad(
                    f"serial {serial!r} appears twice (lines {seen[key]} and {item.line})",
                    "duplicate-serial",
                    serial=serial,
                    lines=[seen[key], item.line],
                )
            seen[key] = item.line


def _check_purpose(draft: LicenceDraft, settings: Settings) -> None:
    """Art. 10(6): temporary purposes need a return date within the validity and respect the ammunition limit."""
    if draft.purpose not in TEMPORARY_PURPOSES:
        if draft.return_on is not None:
            raise _bad(f"a {draft.purpose} licence has no return date", "return-date-not-allowed")
        return
    if draft.kind not in {"export", "import"}:
        raise _bad(
            "the simplified procedures of Art. 10(6) apply to temporary exports and imports only",
            "simplified-procedure-not-allowed",
            kind=draft.kind,
            purpose=draft.purpose,
        )
    if draft.return_on is None:
        raise _bad(f"a temporary licence for {draft.purpose} needs a return date", "return-date-missing")
    if not draft.valid_from <= draft.return_on <= draft.expires_on:
        raise _bad(
            "the return date must fall within the licence's validity",
            "return-date-outside-validity",
            return_on=draft.return_on.isoformat(),
        )
    limit = settings.ammunition_limits.get(draft.purpose)
    cartridges = sum(item.quantity for item in draft.lines if item.category == "ammunition")
    if limit is not None and cartridges > limit:
        raise _bad(
            f"{cartridges} cartridges exceed the limit of {limit} for {draft.purpose}",
            "ammunition-limit-exceeded",
            limit=limit,
            quantity=cartridges,
            purpose=draft.purpose,
        )


# What a line is, besides how many and which serials: a change of any of these is other goods.
_GOODS = ("category", "type", "make", "model", "calibre")
# Who the goods go from and to.
_PARTIES = ("exporter", "consignee", "final_recipient")


def _who(party: Mapping[str, Any] | None) -> tuple[object, ...] | None:
    """A party's identity on a licence: its country and registration, or its name without one.

    Not its address: a party that moved is the same party, and its new address reaches the licence with
    the next amendment.
    """
    if party is None:
        return None
    registration = party.get("registration")
    return (party.get("country"), registration) if registration else (party.get("country"), party.get("name"))


def _authorisation(value: Mapping[str, Any] | None) -> tuple[object, ...] | None:
    return None if value is None else (value.get("state"), value.get("number"))


def asks_more_of_transit(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What an amendment asks of the transit States that their consent to ``before`` did not cover.

    Both are a licence version's stored content. More goods (a quantity raised, a line added, other goods
    on a line), a longer validity, another exporter, consignee, final recipient (by registration, or name
    without one), import authorisation (by State and number) or purpose, or a broker added: each is a
    sentence in the answer. Less of anything, a corrected serial, a description, a party's new address or
    a place of issue are not (customs checks at the border still judge every serial).
    An empty list: the earlier consents still cover the new content. The route is judged on its own
    (a State new on it is asked).
    """
    found: list[str] = []
    earlier = {line["line"]: line for line in before["lines"]}
    for line in after["lines"]:
        was = earlier.get(line["line"])
        if was is None:
            found.append(f"line {line['line']} is new")
        elif any(line.get(name) != was.get(name) for name in _GOODS):
            found.append(f"line {line['line']} holds other goods")
        elif line["quantity"] > was["quantity"]:
            found.append(f"line {line['line']} rises from {was['quantity']} to {line['quantity']}")
    if after["valid_from"] < before["valid_from"] or after["expires_on"] > before["expires_on"]:
        found.append(
            f"the validity {after['valid_from']} to {after['expires_on']} reaches beyond"
            f" {before['valid_from']} to {before['expires_on']}"
        )
    found.extend(
        f"the {name.replace('_', ' ')} changed" for name in _PARTIES if _who(after.get(name)) != _who(before.get(name))
    )
    if _authorisation(after.get("import_authorisation")) != _authorisation(before.get("import_authorisation")):
        found.append("the import authorisation changed")
    if after.get("purpose") != before.get("purpose"):
        found.append("the purpose changed")
    brokers = {_who(broker) for broker in before.get("brokers", [])}
    if any(_who(broker) not in brokers for broker in after.get("brokers", [])):
        found.append("a broker was added")
    return found
