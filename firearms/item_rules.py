"""Rules on record input (Art. 8; ITI paras 8-10; DESIGN §7 "every input is validated at the boundary").

White space (:data:`firearms.text_rules.SPACE_CHARACTERS`, the registry's one definition): a value with
leading or trailing white space is **refused** (``padded-value``), never
trimmed, in the API and in bulk imports alike, so that what is stored is exactly what was given.
Control characters are refused everywhere (``invalid-text``; ``invalid-serial`` in a serial).
The bulk import applies the same rules in SQL (:mod:`firearms.imports`); a test keeps them in step.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import msgspec

from firearms import serials
from firearms.countries import is_country
from firearms.errors import InvalidInputError
from firearms.text_rules import CONTROL, SPACE_CHARACTERS, is_padded

if TYPE_CHECKING:
    from firearms.item_types import NewEvent, NewItem, NewMarking

__all__ = [
    "check_country",
    "check_event_date",
    "check_marking_year",
    "check_text",
    "check_year",
    "same_person",
    "validate_event",
    "validate_item",
    "validate_marking",
]

_DEACTIVATION_TEXT = ("deactivator", "verifier", "certificate_number")
_SPACES = re.compile(f"[{re.escape(SPACE_CHARACTERS)}]+")
_ANTIQUE_BEFORE = 1900  # Dir. 2021/555 Art. 1: antique arms are those made before 1900 (per national law)


def check_text(field: str, value: str | None, *, required: bool = False) -> None:
    """Refuse empty, padded or control-character text.

    Raises:
        InvalidInputError: ``invalid-text`` (empty or control characters) or ``padded-value``.
    """
    if value is None:
        if required:
            raise InvalidInputError(f"{field} is required", code="invalid-text", field=field)
        return
    if not value:
        raise InvalidInputError(f"{field} is empty (leave it out instead)", code="invalid-text", field=field)
    if CONTROL.search(value):
        raise InvalidInputError(f"{field} contains control characters", code="invalid-text", field=field)
    if is_padded(value):
        raise InvalidInputError(
            f"{field} has leading or trailing white space; values are refused, never trimmed",
            code="padded-value",
            field=field,
        )


def check_country(field: str, value: str | None) -> None:
    """Refuse anything but an officially assigned ISO 3166-1 alpha-2 code (upper case).

    Raises:
        InvalidInputError: ``invalid-country``.
    """
    if value is not None and not is_country(value):
        raise InvalidInputError(
            f"{field}: {value!r} is not an ISO 3166-1 alpha-2 code", code="invalid-country", field=field
        )


def check_year(field: str, value: int | None, today: dt.date) -> None:
    """Refuse a year after the current one.

    Raises:
        InvalidInputError: ``year-in-future``.
    """
    if value is not None and value > today.year:
        raise InvalidInputError(f"{field}: {value} is in the future", code="year-in-future", field=field)


def check_marking_year(field: str, year: int | None, year_of_manufacture: int | None) -> None:
    """A marking is not stamped before the item was made (an import, proof or deactivation mark comes after).

    Raises:
        InvalidInputError: ``year-before-manufacture``, naming both years.
    """
    if year is not None and year_of_manufacture is not None and year < year_of_manufacture:
        raise InvalidInputError(
            f"{field}: {year} is before the item was made ({year_of_manufacture})",
            code="year-before-manufacture",
            field=field,
            year=year,
            year_of_manufacture=year_of_manufacture,
        )


def validate_marking(
    marking: NewMarking, today: dt.date, field: str = "marking", *, item_kind: str | None = None
) -> None:
    """The rules of one marking: its text, country, year, and the fields its kind needs.

    ``item_kind``: the kind of the item it is on (a lot of ammunition takes no deactivation mark).

    Raises:
        InvalidInputError: a text/country/year rule, or ``invalid-marking`` when a required field is missing or
            the marking is a deactivation mark on a lot of ammunition.
    """
    # Art. 9, Reg. 2015/2403: a lot is never deactivated (event-not-for-kind): its mark would record work never done
    if marking.kind == "deactivation" and item_kind == "ammunition":
        raise InvalidInputError(
            f"{field}: a lot of ammunition is never deactivated and takes no deactivation marking",
            code="invalid-marking",
            field=field,
        )
    check_text(f"{field}.stamped", marking.stamped, required=True)
    for name in ("manufacturer", "place", "model", "symbol_code", "alphanumeric_code"):
        check_text(f"{field}.{name}", getattr(marking, name))
    if marking.serial is not None:
        serials.check_serial(marking.serial, f"{field}.serial")
    check_country(f"{field}.country", marking.country)
    check_year(f"{field}.year", marking.year, today)
    if marking.kind == "geometric" and (marking.symbol_code is None or marking.alphanumeric_code is None):
        raise InvalidInputError(
            f"{field}: a geometric marking needs symbol_code and alphanumeric_code", code="invalid-marking", field=field
        )
    if marking.kind in {"import", "state-to-civilian"} and marking.country is None:
        raise InvalidInputError(
            f"{field}: a {marking.kind} marking needs the country", code="invalid-marking", field=field
        )
    # Reg. 2015/2403 Art. 3 and Annex II, DESIGN §3: the deactivation mark is the country, the verifying
    # entity's symbol and the year of deactivation; without any of them it identifies no verification
    if marking.kind == "deactivation" and None in (marking.country, marking.symbol_code, marking.year):
        raise InvalidInputError(
            f"{field}: a deactivation marking needs the country, the verifier's symbol (symbol_code) and the year",
            code="invalid-marking",
            field=field,
        )


def validate_item(item: NewItem, today: dt.date) -> None:
    """Every rule of a registration except identity and the parent item (checked in the database).

    Art. 8(1)(a) and 3(d)(iii): a firearm without a manufacture or geometric marking is illicitly
    manufactured and is refused (``marking-required``). ``antique`` only for items made before 1900.

    Raises:
        InvalidInputError: the first rule broken, with its code and field.
    """
    for name in ("manufacturer", "make", "model", "calibre", "headstamp"):
        check_text(name, getattr(item, name), required=name == "manufacturer")
    serials.check_serial(item.serial)
    check_country("country_of_manufacture", item.country_of_manufacture)
    check_year("year_of_manufacture", item.year_of_manufacture, today)
    _check_kind_fields(item)
    if item.category == "antique" and (item.year_of_manufacture is None or item.year_of_manufacture >= _ANTIQUE_BEFORE):
        raise InvalidInputError(
            "category antique is only for items made before 1900", code="antique-too-recent", field="category"
        )
    for position, marking in enumerate(item.markings):
        validate_marking(marking, today, f"markings[{position}]", item_kind=item.kind)
        check_marking_year(f"markings[{position}].year", marking.year, item.year_of_manufacture)
    if item.kind == "firearm" and not any(m.kind in {"manufacture", "geometric"} for m in item.markings):
        raise InvalidInputError(
            "a firearm is registered with its manufacture or geometric marking (Protocol Art. 8(1)(a))",
            code="marking-required",
            field="markings",
        )


def _check_kind_fields(item: NewItem) -> None:
    wrong: str | None = None
    if item.kind == "firearm":
        wrong = _kind_mismatch(
            item.firearm_type is None, item.component_type, item.quantity, item.parent_item_id, "firearm_type"
        )
    elif item.kind == "component":
        wrong = _kind_mismatch(item.component_type is None, item.firearm_type, item.quantity, None, "component_type")
    else:
        wrong = _kind_mismatch(
            item.quantity is None, item.firearm_type, item.component_type, item.parent_item_id, "quantity"
        )
    if wrong:
        raise InvalidInputError(f"a {item.kind} {wrong}", code="invalid-kind-fields", field="kind")


def _kind_mismatch(missing: bool, *others: object) -> str | None:  # noqa: FBT001
    *extra, needed = others
    if missing:
        return f"needs {needed}"
    if any(value is not None for value in extra):
        return "carries fields of another kind (firearm_type, component_type, quantity, parent_item_id)"
    return None


def validate_event(event: NewEvent, today: dt.date) -> None:
    """The rules of an event's own fields (its legality in the item's state is decided by the lifecycle).

    Raises:
        InvalidInputError: ``date-in-future``, a text/country rule, ``invalid-event-fields``, or
            ``verifier-is-deactivator`` (the same name, case and white space aside).
    """
    if event.occurred_on > today:
        raise InvalidInputError(
            f"occurred_on {event.occurred_on} is in the future", code="date-in-future", field="occurred_on"
        )
    for name in ("from_party", "to_party", "document", "purpose", "reason", "note", *_DEACTIVATION_TEXT):
        check_text(name, getattr(event, name))
    check_country("country", event.country)
    if event.certificate_date is not None and event.certificate_date > today:
        raise InvalidInputError(
            f"certificate_date {event.certificate_date} is in the future",
            code="date-in-future",
            field="certificate_date",
        )
    deactivation = [getattr(event, name) for name in (*_DEACTIVATION_TEXT, "certificate_date")]
    problems = [
        (event.temporary and event.event != "imported", "temporary applies to imported only"),
        (event.temporary and event.purpose is None, "a temporary import names its lawful purpose"),
        (event.from_state_stocks and event.event != "transferred", "from_state_stocks applies to transferred only"),
        (event.corrects is not None and event.event != "corrected", "corrects_event_id is for corrected"),
        (
            event.event == "corrected" and isinstance(event.corrects_event_id, msgspec.UnsetType),
            "a correction names the event it corrects (corrects_event_id), or null for the registration record",
        ),
        (event.event == "corrected" and event.reason is None, "a correction says why (reason)"),
        (event.event == "transferred" and event.to_party is None, "a transfer names the party it goes to (to_party)"),
        (event.event == "exported" and event.country is None, "an export names the country of destination"),
        (
            event.event != "deactivated" and any(value is not None for value in deactivation),
            "deactivator, verifier, certificate_number and certificate_date are for deactivated",
        ),
        (
            event.category_after is not None and event.event != "deactivated",
            "category_after is for deactivated (the category a deactivation moves the item to)",
        ),
        (
            event.event == "deactivated" and any(value is None for value in deactivation),
            "a deactivation names the deactivator, the verifier and the certificate (certificate_number,"
            " certificate_date) (Reg. 2015/2403 Art. 3)",
        ),
    ]
    for broken, why in problems:
        if broken:
            raise InvalidInputError(why, code="invalid-event-fields", field="event")
    if (
        event.deactivator is not None
        and event.verifier is not None
        and _person(event.verifier) == _person(event.deactivator)
    ):
        raise InvalidInputError(
            "the verifier of a deactivation is never the one who deactivated the firearm (DESIGN §3)",
            code="verifier-is-deactivator",
            field="verifier",
        )


def same_person(one: str, other: str) -> bool:
    """Whether two names are one person or entity as the registry compares them (:func:`_person`)."""
    return _person(one) == _person(other)


def _person(name: str) -> str:
    """A name compared as a person or entity: case folded, runs of white space (the registry's one set) as one."""
    return " ".join(_SPACES.split(name)).casefold()


def check_event_date(
    event: NewEvent, *, year_of_manufacture: int | None, follows: tuple[int, str, dt.date] | None
) -> None:
    """An event is not dated before the item was made, nor before the event it follows (README "Lifecycle").

    Nor is a deactivation's certificate dated before the item was made.

    ``follows`` is ``(event_id, event, occurred_on)`` of the event this one logically follows: the item's
    latest event in effect (neither a correction nor corrected), or for a correction the event it corrects.
    A correction of that event takes it out: a corrected date is recorded as a correction, then the event
    again with its right date. The registration is no bound: a firearm registered late (an old firearm
    found in an estate, records taken over from a dealer) has a past before it. Future dates are refused
    by :func:`validate_event`.

    Raises:
        InvalidInputError: ``date-before-manufacture`` or ``date-before-previous-event``, naming both dates.
    """
    if year_of_manufacture is not None and event.occurred_on.year < year_of_manufacture:
        raise InvalidInputError(
            f"occurred_on {event.occurred_on} is before the item was made ({year_of_manufacture})",
            code="date-before-manufacture",
            field="occurred_on",
            occurred_on=event.occurred_on.isoformat(),
            not_before=dt.date(year_of_manufacture, 1, 1).isoformat(),
            year_of_manufacture=year_of_manufacture,
        )
    if (
        year_of_manufacture is not None
        and event.certificate_date is not None
        and event.certificate_date.year < year_of_manufacture
    ):
        # a verifier certifies a firearm that exists (Reg. 2015/2403 Art. 3)
        raise InvalidInputError(
            f"certificate_date {event.certificate_date} is before the item was made ({year_of_manufacture})",
            code="date-before-manufacture",
            field="certificate_date",
            certificate_date=event.certificate_date.isoformat(),
            not_before=dt.date(year_of_manufacture, 1, 1).isoformat(),
            year_of_manufacture=year_of_manufacture,
        )
    if follows is not None and event.occurred_on < follows[2]:
        event_id, kind, occurred_on = follows
        raise InvalidInputError(
            f"occurred_on {event.occurred_on} is before {occurred_on}, the date of event {event_id} ({kind}) "
            + ("that it corrects" if event.event == "corrected" else "that it follows")
            + ": correct that event first if its date is wrong",
            code="date-before-previous-event",
            field="occurred_on",
            occurred_on=event.occurred_on.isoformat(),
            not_before=occurred_on.isoformat(),
            previous_event_id=event_id,
            previous_event=kind,
        )
