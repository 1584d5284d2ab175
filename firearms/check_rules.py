"""Customs-check rules (DESIGN §5; Protocol Art. 10-11): reason codes, the policy table, the verdict.

Pure functions, no database: :func:`evaluate` takes what the store loaded about a licence and this
State's own records, and returns the reasons a consignment does not match its authorisation. The
policy table maps each reason to ``hold`` (a person decides: inspect) or ``refuse``; the verdict is
the strictest reason's, ``clear`` when there is none.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from firearms.serials import normalise
from firearms.text_rules import STATE_CODE_PATTERN

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "POLICY",
    "REASON_CODES",
    "AuthorisationView",
    "CheckLine",
    "CheckRequest",
    "HeldAuthorisation",
    "LicenceView",
    "LineView",
    "Movement",
    "Reason",
    "ReasonCode",
    "RecordsView",
    "Verdict",
    "evaluate",
    "verdict_of",
]

Movement = Literal["export", "transit", "import"]
Verdict = Literal["clear", "hold", "refuse"]
ReasonCode = Literal[
    "licence-unknown",
    "licence-not-issued",
    "licence-not-yet-valid",
    "licence-expired",
    "licence-suspended",
    "licence-revoked",
    "licence-exhausted",
    "licence-kind-mismatch",
    "state-not-on-route",
    "transit-consent-missing",
    "line-not-on-licence",
    "quantity-exceeds-balance",
    "serial-count-mismatch",
    "serials-missing",
    "serial-not-on-licence",
    "serial-already-passed",
    "item-reported-lost-or-stolen",
    "reported-missing-by-partner",
    "import-marking-missing",
    "import-not-authorised",
]

# The policy table (README "Customs checks" repeats it): what each reason does to the verdict.
# ``refuse`` where the authorisation itself does not cover the movement; ``hold`` where a person at
# the border should look (a serial typo, a reported item, a missing import marking).
POLICY: dict[str, Verdict] = {
    "licence-unknown": "refuse",
    "licence-not-issued": "refuse",
    "licence-not-yet-valid": "refuse",
    "licence-expired": "refuse",
    "licence-suspended": "refuse",
    "licence-revoked": "refuse",
    "licence-exhausted": "refuse",
    "licence-kind-mismatch": "refuse",
    "state-not-on-route": "refuse",
    "transit-consent-missing": "refuse",
    "line-not-on-licence": "refuse",
    "quantity-exceeds-balance": "refuse",
    "serial-count-mismatch": "hold",
    "serials-missing": "hold",
    "serial-not-on-licence": "hold",
    "serial-already-passed": "refuse",
    "item-reported-lost-or-stolen": "hold",
    "reported-missing-by-partner": "hold",
    "import-marking-missing": "hold",
    "import-not-authorised": "refuse",
}
REASON_CODES: tuple[str, ...] = tuple(POLICY)

_STATUS_REASONS: dict[str, ReasonCode] = {
    "draft": "licence-not-issued",
    "pending": "licence-not-issued",
    "suspended": "licence-suspended",
    "revoked": "licence-revoked",
    "expired": "licence-expired",
    "exhausted": "licence-exhausted",
}

# msgspec matches a pattern with Python's re.search, where "$" also matches before a final line feed: "AT\n"
# passed as a State code and a licence number ending in one was recorded as a refuse (licence-unknown).
# "(?!\n)" after the "$" refuses that; to a JSON Schema (ECMA-262) reader the pattern means the same.
_NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]+$(?!\n)"
Serial = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_NO_CONTROL)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_NO_CONTROL)]


class CheckLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One line of the consignment: which licence line, how many, and the serials for firearms."""

    line: Annotated[int, msgspec.Meta(ge=1, le=9999)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
    serials: Annotated[list[Serial], msgspec.Meta(max_length=10_000)] = msgspec.field(default_factory=list)


class CheckRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/v1/checks`` (DESIGN §5). ``check_id`` is the client's idempotency key."""

    check_id: uuid.UUID
    movement: Movement
    licence_number: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_NO_CONTROL)]
    issuing_state: Annotated[str, msgspec.Meta(pattern=STATE_CODE_PATTERN)]
    crossing_point: Text
    lines: Annotated[list[CheckLine], msgspec.Meta(min_length=1, max_length=500)]
    shipment_id: Text | None = None
    customs_document: Text | None = None


class Reason(msgspec.Struct, frozen=True, kw_only=True):
    """Why a consignment does not clear: a stable code, the line or serial it concerns, words for people."""

    code: ReasonCode
    line: int | None
    serial: str | None
    detail: str


class LineView(msgspec.Struct, frozen=True, kw_only=True):
    """A licence line as the check sees it: category, issued quantity, remaining balance, serials."""

    line: int
    category: str
    quantity: int
    remaining: int
    serials: frozenset[str]


class HeldAuthorisation(msgspec.Struct, frozen=True, kw_only=True):
    """The licence this registry holds under an import authorisation's State and number."""

    kind: str
    origin: str
    """``local`` (issued here) or ``received`` (from its issuing State, by signed notice)."""
    status: str
    valid_from: dt.date
    expires_on: dt.date
    exporting_state: str
    expired_here_at: dt.datetime | None = None
    """When a partner's authorisation was made ``expired`` here by its issuing State's word; ``None`` otherwise."""


class AuthorisationView(msgspec.Struct, frozen=True, kw_only=True):
    """The import authorisation an export licence names (Art. 10(2)(a)), and what this registry holds of it.

    ``number`` and ``state`` are ``None`` when the licence names none; ``held`` is ``None`` when no licence of
    that State and number is held here. The dates the licence records for it are not read: the export gate kept
    the licence's validity within them, and the importing State's own word on its dates is ``held``'s.
    """

    number: str | None = None
    state: str | None = None
    held: HeldAuthorisation | None = None
    authorised: dict[str, int] | None = None
    """What ``held`` authorises, by category (firearm, component, ammunition); ``None`` when not read."""
    used: dict[str, int] = msgspec.field(default_factory=dict)
    """What this movement took under the licence already while it named the authorisation, by category (debited at
    exit, passed at entry)."""
    elsewhere: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    """What this movement took already under the other export licences naming the authorisation: by category, by
    licence number."""


class LicenceView(msgspec.Struct, frozen=True, kw_only=True):
    """What the check needs of a licence, own or received from the issuing State by signed notice."""

    number: str
    issuing_state: str
    kind: str
    status: str
    valid_from: dt.date
    expires_on: dt.date
    exporting_state: str
    importing_state: str
    transit_states: tuple[str, ...]
    lines: dict[int, LineView]
    transit_consent: bool
    """This State's own no-objection (or deemed consent) is on record and covers the licence's current version.

    Meaningful for transit only.
    """
    consent_gap: str | None = None
    """Why this State's consent, to an earlier version, does not cover the current one (the reason's detail)."""
    expired_here_at: dt.datetime | None = None
    """When a partner's licence was made ``expired`` here by its issuing State's word; ``None`` otherwise."""
    import_authorisation: AuthorisationView | None = None
    """The import authorisation the licence names, read for an export licence at export and import; else ``None``."""


class RecordsView(msgspec.Struct, frozen=True, kw_only=True):
    """What this State's own records say about the consignment's serials (normalised forms)."""

    passed: frozenset[str]
    """Serials of this licence already cleared for this movement here."""
    reported: frozenset[str]
    """Serials of items reported lost or stolen in this registry."""
    unmarked_imports: frozenset[str]
    """Serials of firearms registered here without this State's import marking."""
    partner_reported: dict[str, str] = msgspec.field(default_factory=dict)
    """Serials a partner reported lost or stolen (an open report matching the line's kind and make), each with the
    report in words (:func:`firearms.checks.partner_reports`)."""


def verdict_of(reasons: list[Reason]) -> Verdict:
    """The strictest verdict any reason asks for; ``clear`` when there is none."""
    verdicts = {POLICY[reason.code] for reason in reasons}
    if "refuse" in verdicts:
        return "refuse"
    return "hold" if "hold" in verdicts else "clear"


def evaluate(
    request: CheckRequest, licence: LicenceView | None, records: RecordsView, *, state: str, on: dt.date
) -> list[Reason]:
    """Every reason the consignment does not match the licence, in a stable order.

    Args:
        request: the consignment as presented at the border.
        licence: the licence as this registry holds it (own, or received by notice), or ``None``.
        records: this registry's records about the consignment's serials.
        state: the State whose customs officer checks (this registry's).
        on: the date of the check (licence validity is judged on it).
    """
    if licence is None:
        # an item reported lost or stolen is named whatever else is wrong: the officer stops it, not turns it back
        return [
            _reason("licence-unknown", f"no licence {request.licence_number} of {request.issuing_state} is known here"),
            *(reason for item in request.lines for reason in _reported(item, records)),
        ]
    reasons: list[Reason] = []
    status_reason = _status_reason(request.movement, licence, on)
    if status_reason:
        reasons.append(_reason(status_reason, f"the licence is {licence.status}"))
    if licence.status != "expired" and on > licence.expires_on:
        reasons.append(_reason("licence-expired", f"the licence expired on {licence.expires_on.isoformat()}"))
    if on < licence.valid_from:
        reasons.append(_reason("licence-not-yet-valid", f"the licence is valid from {licence.valid_from.isoformat()}"))
    if licence.kind != "export":
        article = "an" if licence.kind[:1] in "aeiou" else "a"
        reasons.append(
            _reason(
                "licence-kind-mismatch",
                f"the number names {article} {licence.kind} licence, not an export authorisation",
            )
        )
    # the import authorisation is judged only where this State is on the route as the movement says
    reasons.extend(_route(request.movement, licence, state) or _authorisation(request, licence, state, on))
    if (
        status_reason != "licence-exhausted"
        and licence.lines
        and all(line.remaining == 0 for line in licence.lines.values())
    ):
        reasons.append(_reason("licence-exhausted", "every line of the licence is used up"))

    for item in request.lines:
        line = licence.lines.get(item.line)
        if line is None:
            reasons.append(_reason("line-not-on-licence", f"the licence has no line {item.line}", line=item.line))
            reasons.extend(_reported(item, records))
            continue
        if item.quantity > line.remaining:
            reasons.append(
                _reason(
                    "quantity-exceeds-balance",
                    f"{item.quantity} presented, {line.remaining} of {line.quantity} remain",
                    line=item.line,
                )
            )
        if line.category == "firearm":
            reasons.extend(_serials(request.movement, item, line, records))
        elif item.serials:  # a serialised component: each serial given is judged as a firearm's is
            reasons.extend(_component_serials(request.movement, item, line, licence, records))
    return reasons


def _status_reason(movement: Movement, licence: LicenceView, on: dt.date) -> ReasonCode | None:
    """The reason the licence's status gives, if any."""
    if licence.status == "exhausted" and movement != "export":
        # The exporting State's ledger reached zero at its exit (PROTOCOL §5 lets it say so): every good has
        # left, and what is in flight passes here against this State's own tally (DESIGN §5), not refused.
        return None
    if _expired_by_the_issuers_calendar(licence.status, licence.expired_here_at, licence.expires_on, on):
        # the licence's dates are read on this State's calendar: its last day has not ended here yet
        return None
    return _STATUS_REASONS.get(licence.status)


def _expired_by_the_issuers_calendar(
    status: str, expired_here_at: dt.datetime | None, expires_on: dt.date, on: dt.date
) -> bool:
    """A partner's licence or import authorisation its issuing State expired at its own midnight, its day not over.

    The issuing State's timer expires the licence when its last day ends there; where this State's day is
    behind (Vienna's midnight is 15:00 in Los Angeles), the last day has hours left here, and the dates, read
    on this State's calendar as at every other check, still cover it. The moment the expiry took effect (the
    notice's ``effective_at``, or its arrival if earlier) tells the two apart: no State's last day ends before
    10:00 UTC on it (midnight at UTC+14), so an expiry effective earlier than that is the issuing State's decision
    before its date, and counts at once.
    The same for the importing State's authorisation an export licence names, judged at this State's exit.
    """
    if status != "expired" or expired_here_at is None or on > expires_on:
        return False
    first_midnight = dt.datetime.combine(expires_on, dt.time(10), tzinfo=dt.UTC)
    return expired_here_at >= first_midnight


def _route(movement: Movement, licence: LicenceView, state: str) -> list[Reason]:
    if movement == "export" and state != licence.exporting_state:
        return [_reason("state-not-on-route", f"{state} is not the exporting State ({licence.exporting_state})")]
    if movement == "export" and licence.issuing_state != state:
        # The exporting State issues the export authorisation: a partner's licence naming this State as the
        # exporter authorises no exit from it.
        return [_reason("state-not-on-route", f"an exit from {state} needs {state}'s own export licence")]
    if movement == "import" and state != licence.importing_state:
        return [_reason("state-not-on-route", f"{state} is not the importing State ({licence.importing_state})")]
    if movement == "transit":
        if state not in licence.transit_states:
            route = " → ".join((licence.exporting_state, *licence.transit_states, licence.importing_state))
            return [_reason("state-not-on-route", f"{state} is not a transit State of the route {route}")]
        if not licence.transit_consent:
            detail = licence.consent_gap or f"no no-objection of {state} is on record for this licence"
            return [_reason("transit-consent-missing", detail)]
    return []


def _authorisation(request: CheckRequest, licence: LicenceView, state: str, on: dt.date) -> list[Reason]:
    """Art. 10(1)-(2): the import authorisation the export licence names is in force for this export on ``on``.

    At ``import`` this State's own: an import authorisation it issued (``kind`` import, issued here) that is
    ``issued`` and within its dates on the day of the check, for goods from the licence's exporting State. At
    ``export`` the importing State's, as received by notice with every later status change applied, judged the same
    way. When none was received there, nothing more is judged: the export gate lets a licence rest on an
    authorisation recorded in it and keeps the licence's validity within the dates recorded
    (:mod:`firearms.gates`), so the licence's own ``licence-expired`` and ``licence-not-yet-valid`` say it. One
    reason, its detail naming everything wrong.
    """
    movement = request.movement
    auth = licence.import_authorisation
    if auth is None or movement == "transit" or licence.kind != "export":
        return []
    if auth.number is None or auth.state is None:
        return [_reason("import-not-authorised", "the export licence names no import authorisation")]
    importer = state if movement == "import" else licence.importing_state
    if auth.state != importer:
        return [
            _reason(
                "import-not-authorised",
                f"the export licence names {auth.number} of {auth.state}, not an import authorisation of {importer}",
            )
        ]
    held = auth.held
    if held is None:
        if movement == "export":
            return []
        return [_reason("import-not-authorised", f"{state} holds no import authorisation {auth.number} of its own")]
    wrong: list[str] = []
    if held.kind != "import":
        wrong.append(f"{auth.number} is {auth.state}'s {held.kind} licence, not an import authorisation")
    if movement == "import" and held.origin != "local":  # never so: a partner's notice names its own licences only
        wrong.append(f"{auth.number} was not issued here")
    if held.status != "issued" and not _expired_by_the_issuers_calendar(
        held.status, held.expired_here_at, held.expires_on, on
    ):
        wrong.append(f"import authorisation {auth.number} is {held.status}")
    elif on < held.valid_from:  # an authorisation out of force is said so once, not again by its dates
        wrong.append(f"import authorisation {auth.number} is valid from {held.valid_from.isoformat()}")
    elif on > held.expires_on:
        wrong.append(f"import authorisation {auth.number} expired on {held.expires_on.isoformat()}")
    if held.exporting_state != licence.exporting_state:
        wrong.append(
            f"import authorisation {auth.number} is for goods from {held.exporting_state},"
            f" not {licence.exporting_state}"
        )
    if not wrong and auth.authorised is not None:
        wrong.extend(_beyond_cover(request, licence, auth))
    return [_reason("import-not-authorised", "; ".join(wrong))] if wrong else []


def _beyond_cover(request: CheckRequest, licence: LicenceView, auth: AuthorisationView) -> list[str]:
    """Art. 10(2)(a): what passed under the authorisation and the consignment stay within what it covers.

    Per category, as the export gate compares them (:mod:`firearms.gates`): the licence may have been issued on an
    authorisation typed at the exporting State, or the importing State lowered it since. Counted over every export
    licence naming the authorisation (its quantity is one balance, shared by the licences drawn on it): what passed
    under this licence at this movement, under the others (``auth.elsewhere``), and the consignment.
    """
    authorised = auth.authorised or {}
    presented: dict[str, int] = {}
    for item in request.lines:
        line = licence.lines.get(item.line)
        if line is not None:
            presented[line.category] = presented.get(line.category, 0) + item.quantity
    wrong: list[str] = []
    for category, quantity in presented.items():
        here = auth.used.get(category, 0)
        others = auth.elsewhere.get(category, {})
        if here + sum(others.values()) + quantity <= authorised.get(category, 0):
            continue
        under = "".join(f", {taken} under {number}" for number, taken in sorted(others.items()))
        wrong.append(
            f"import authorisation {auth.number} authorises {authorised.get(category, 0)} {category} items;"
            f" {here} passed under this licence{under}{',' if under else ''} and {quantity} more presented"
        )
    return wrong


def _serials(movement: Movement, item: CheckLine, line: LineView, records: RecordsView) -> list[Reason]:
    reasons: list[Reason] = []
    if not item.serials:
        return [_reason("serials-missing", "firearms are checked by serial: none were given", line=item.line)]
    if len(item.serials) != item.quantity:
        reasons.append(
            _reason(
                "serial-count-mismatch",
                f"{item.quantity} firearms presented with {len(item.serials)} serials",
                line=item.line,
            )
        )
    on_line = frozenset(normalise(serial) for serial in line.serials)
    return reasons + _each_serial(movement, item, records, lambda key: key in on_line)


def _component_serials(
    movement: Movement, item: CheckLine, line: LineView, licence: LicenceView, records: RecordsView
) -> list[Reason]:
    """A component line needs no serials; those given are on the line if it lists them, else on no other line.

    A serial names one component: more serials than components presented is ``serial-count-mismatch``, or a
    clear would record as passed a serial it never counted (the component that bears it refused later).
    """
    reasons: list[Reason] = []
    if len(item.serials) > item.quantity:
        reasons.append(
            _reason(
                "serial-count-mismatch",
                f"{item.quantity} components presented with {len(item.serials)} serials",
                line=item.line,
            )
        )
    if line.serials:
        on_line = frozenset(normalise(serial) for serial in line.serials)
        return reasons + _each_serial(movement, item, records, lambda key: key in on_line)
    elsewhere = frozenset(normalise(serial) for other in licence.lines.values() for serial in other.serials)
    return reasons + _each_serial(movement, item, records, lambda key: key not in elsewhere)


def _each_serial(
    movement: Movement, item: CheckLine, records: RecordsView, on_line: Callable[[str], bool]
) -> list[Reason]:
    reasons: list[Reason] = []
    for serial in item.serials:
        key = normalise(serial)
        if not on_line(key):
            reasons.append(
                _reason("serial-not-on-licence", "the serial is not on this licence line", item.line, serial)
            )
        elif key in records.passed:
            reasons.append(_reason("serial-already-passed", f"already cleared for {movement} here", item.line, serial))
        if key in records.reported:
            reasons.append(_stolen(item, serial))
        if key in records.partner_reported:
            reasons.append(_reason("reported-missing-by-partner", records.partner_reported[key], item.line, serial))
        if movement == "import" and key in records.unmarked_imports:
            reasons.append(
                _reason("import-marking-missing", "registered here without an import marking", item.line, serial)
            )
    return reasons


def _reported(item: CheckLine, records: RecordsView) -> list[Reason]:
    """The serials of a line no other rule judges (unknown licence or line) that are reported lost or stolen here."""
    return [_stolen(item, serial) for serial in item.serials if normalise(serial) in records.reported]


def _stolen(item: CheckLine, serial: str) -> Reason:
    return _reason("item-reported-lost-or-stolen", "reported lost or stolen here", item.line, serial)


def _reason(code: ReasonCode, detail: str, line: int | None = None, serial: str | None = None) -> Reason:
    return Reason(code=code, line=line, serial=serial, detail=detail)
