"""A received transit-consent request's pre-check (DESIGN §4 step 3; Art. 10(2)(b), Art. 11).

Made on arrival against the export authorisation data the request carries (:func:`findings`), and again with the
records as they stand when the officer reads a pending request (one, or a page at once) and decides
(:func:`check_now`, :func:`check_now_all`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec

from firearms import items
from firearms.exchange import reports

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from firearms.db import Conn
    from firearms.exchange.bodies import ConsentRequested

__all__ = ["LOST_OR_STOLEN", "Finding", "FindingsNow", "check_now", "check_now_all", "findings"]

LOST_OR_STOLEN = "no-item-reported-lost-or-stolen"


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    """One pre-check of a request: ``pass``, ``fail`` or ``not-checked`` (data this registry does not hold yet)."""

    code: str
    result: Literal["pass", "fail", "not-checked"]
    detail: str


class FindingsNow(msgspec.Struct, frozen=True, kw_only=True):
    """A request's findings made again (:func:`check_now`) and the licence's serials reported lost or stolen now."""

    findings: list[Finding]
    reported: list[str]


def findings(
    request: ConsentRequested,
    own_state: str,
    today: dt.date,
    lost_or_stolen: set[str] | None = None,
    partner_reported: dict[str, str] | None = None,
) -> list[Finding]:
    """Pre-check a request against the export authorisation data it carries (DESIGN §4 step 3).

    ``lost_or_stolen`` is the set of the licence's serials this State's records report lost or stolen
    (Art. 11, ``firearms.items.reported_lost_or_stolen``); ``None`` makes the finding ``not-checked``.
    ``partner_reported``: the licence's serials partners reported lost or stolen, with the report in words
    (:func:`firearms.exchange.reports.partner_reported_lines`); they fail the same finding.
    """
    licence = request.licence
    window = request.shipment_window
    result: list[Finding] = []
    on_route = own_state in licence.transit_states
    result.append(
        Finding(
            code="state-on-route",
            result="pass" if on_route else "fail",
            detail=f"route {' -> '.join([licence.exporting_state, *licence.transit_states, licence.importing_state])}",
        )
    )
    problems = []
    if licence.valid_from > licence.expires_on:
        problems.append("the licence expires before it is valid")
    if window.from_ > window.to:
        problems.append("the shipment window ends before it starts")
    if window.from_ < licence.valid_from or window.to > licence.expires_on:
        problems.append("the shipment window is not inside the licence's validity")
    if window.to < today:
        problems.append("the shipment window is over")
    result.append(
        Finding(
            code="dates-coherent",
            result="fail" if problems else "pass",
            detail="; ".join(problems)
            or f"shipment {window.from_} to {window.to} within {licence.valid_from} to {licence.expires_on}",
        )
    )
    authorisation = licence.import_authorisation
    if authorisation is None:
        result.append(
            Finding(code="import-authorisation-present", result="fail", detail="no import authorisation named")
        )
    elif authorisation.state != licence.importing_state:
        result.append(
            Finding(
                code="import-authorisation-present",
                result="fail",
                detail=f"the import authorisation is from {authorisation.state}, not {licence.importing_state}",
            )
        )
    elif authorisation.expires_on < window.to:
        result.append(
            Finding(
                code="import-authorisation-present",
                result="fail",
                detail=f"import authorisation {authorisation.number} expires on {authorisation.expires_on}, too early",
            )
        )
    else:
        result.append(
            Finding(
                code="import-authorisation-present",
                result="pass",
                detail=f"{authorisation.state} {authorisation.number} valid to {authorisation.expires_on}",
            )
        )
    if lost_or_stolen is None:
        result.append(
            Finding(
                code=LOST_OR_STOLEN,
                result="not-checked",
                detail="this registry's loss and theft records are not consulted yet",
            )
        )
    else:
        partners = partner_reported or {}
        found = [f"reported lost or stolen here: {', '.join(sorted(lost_or_stolen))}"] if lost_or_stolen else []
        found += [f"{serial} {words}" for serial, words in sorted(partners.items())]
        result.append(
            Finding(
                code=LOST_OR_STOLEN,
                result="fail" if found else "pass",
                detail="; ".join(found) or "no serial of the licence is reported lost or stolen here, nor by a partner",
            )
        )
    return result


async def check_now(conn: Conn, request: ConsentRequested, own_state: str, today: dt.date) -> FindingsNow:
    """The pre-check of a request made with the records as they stand (DESIGN §4 step 3; Art. 11).

    Used on arrival and again when the officer decides on it: the loss and theft records (this State's items,
    partners' open reports) change after a request arrived, and so does today's date. A batch of one of
    :func:`check_now_all`, the same findings a page of requests read at once shows for it.
    """
    (checked,) = await check_now_all(conn, [request], own_state, today)
    return checked


async def check_now_all(
    conn: Conn, requests: Sequence[ConsentRequested], own_state: str, today: dt.date
) -> list[FindingsNow]:
    """:func:`check_now` for several requests at once (a page of the officer's list), in their order.

    Two indexed queries, whatever the number of requests and serials (none without a serial); each request's
    findings are the ones it gets alone: its own serials, its own lines' categories and makes.
    """
    serials = [[serial for line in request.licence.lines for serial in line.serials] for request in requests]
    here = await items.reported_lost_or_stolen(conn, [serial for given in serials for serial in given])
    partners = await reports.partner_reported_lines(conn, [request.licence.lines for request in requests])
    checked = []
    for request, given, by_partner in zip(requests, serials, partners, strict=True):
        reported_here = here.intersection(given)
        checked.append(
            FindingsNow(
                findings=findings(request, own_state, today, reported_here, by_partner),
                reported=sorted(reported_here | by_partner.keys()),
            )
        )
    return checked
