"""Notices a licence's life emits to the States concerned (PROTOCOL §5), queued in the caller's transaction.

The licensing area calls these from its one transition function (issue, suspend, reinstate, revoke,
expire, exhaust), from amendments of an issued licence and from the submission of an export licence
(transit-consent requests). A State concerned that is not on the trust list (it has no registry, or
no agreement yet) is skipped, and the skip is journaled: the paper procedure applies there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

import msgspec

from firearms import journal, outbox
from firearms.canonical import format_time
from firearms.errors import InvalidInputError
from firearms.exchange.protocol import MAX_ENVELOPE_BYTES
from firearms.licence_object import told_states
from firearms.store import outbox as outbox_store

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    from firearms.db import Conn
    from firearms.exchange.bodies import ShipmentItem
    from firearms.licence_object import LicenceObject

log = logging.getLogger("firearms.exchange")

__all__ = [
    "Route",
    "concerned_states",
    "consent_requested",
    "licence_issued",
    "licence_status_changed",
    "passage_recorded",
    "receipt_confirmation_requested",
    "receipt_confirmed",
    "shipment_dispatched",
]


def concerned_states(licence: LicenceObject, own_state: str) -> list[str]:
    """Who hears about a licence (:func:`firearms.licence_object.told_states`), never this State itself."""
    states = told_states(licence.kind, licence.exporting_state, licence.importing_state, licence.transit_states)
    return _others(states, own_state)


def _wire(licence: LicenceObject) -> dict[str, object]:
    issued_at = licence.issued_at.replace(microsecond=0) if licence.issued_at else None
    plain: dict[str, object] = msgspec.to_builtins(msgspec.structs.replace(licence, issued_at=issued_at))
    return plain


async def _send(
    conn: Conn,
    states: list[str],
    notice_type: str,
    body: dict[str, object],
    *,
    actor: str,
    subject: str,
    record_comes_first: bool = False,
) -> list[str]:
    """Queue the notice for every one of ``states`` on the trust list (one statement); journal the others.

    ``record_comes_first``: a shipment notice, telling partners of a record this State keeps (a customs check, a
    receipt). One too large for an envelope (``notice-too-large``: a consignment of thousands of long serials) is
    then journaled as not sent, and the record stands: a border post's verdict is not refused for what a partner
    is told after it. A licence's own notice is refused with its change (the officer makes the licence smaller).
    """
    try:
        queued = await outbox.enqueue_to(conn, states, notice_type, body, confidentiality="restricted", actor=actor)
    except InvalidInputError as exc:
        if not record_comes_first or exc.code != "notice-too-large":
            raise
        log.warning("%s for %s is not sent: %s", notice_type, subject, exc.detail)
        queued, why = {}, f"its envelope would exceed {MAX_ENVELOPE_BYTES} bytes (PROTOCOL §3)"
    else:
        why = "not on the trust list"
    for state in states:
        if state not in queued:
            await journal.record(
                conn,
                actor=actor,
                action="notice.not-sent",
                entity="licence",
                entity_id=subject,
                payload={"recipient": state, "type": notice_type, "why": why},
            )
    return [state for state in states if state in queued]


async def licence_issued(conn: Conn, licence: LicenceObject, *, own_state: str, actor: str) -> list[str]:
    """``export-licence.issued`` (export) or ``import-authorisation.issued`` (import) to the States concerned.

    Also used for an amendment of an issued licence: the new version supersedes at the receivers. It also
    goes to every State an earlier version was sent to that this one no longer names (a transit State an
    amendment made while suspended took off the route): that State holds the earlier version, suspended,
    and this version tells it the licence no longer concerns it — its customs then refuse the licence
    ``state-not-on-route`` — rather than leaving it suspended there for ever. Export licences only: an
    import authorisation's former exporting State would read the new version as an issued authorisation
    and its export gate would pass on it; held suspended there, the gate stays shut. Returns the States it
    was queued for.
    """
    if licence.kind not in ("export", "import"):
        return []
    notice_type = "export-licence.issued" if licence.kind == "export" else "import-authorisation.issued"
    earlier = await outbox_store.list_licence_recipients(conn, licence.number) if licence.kind == "export" else []
    states = _others([*concerned_states(licence, own_state), *earlier], own_state)
    return await _send(conn, states, notice_type, {"licence": _wire(licence)}, actor=actor, subject=licence.number)


async def licence_status_changed(
    conn: Conn,
    licence: LicenceObject,
    *,
    own_state: str,
    status: str,
    reason: str,
    effective_at: dt.datetime,
    actor: str,
) -> list[str]:
    """``licence.status-changed`` to every State that received the licence (suspend, reinstate, revoke, ...).

    Always with a ``reason`` string: PROTOCOL §5 gives it no "or null" (a partner's null is still taken here).

    The States the current version concerns and, unless the licence is reinstated (``issued``), every State
    an earlier version was sent to: one taken off the route by an amendment still holds the version it
    received, and must hear that it is suspended, revoked or expired (never that it is usable again).
    """
    if licence.kind not in ("export", "import"):
        return []
    body: dict[str, object] = {
        "licence_number": licence.number,
        "issuing_state": licence.issuing_state,
        "version": licence.version,
        "status": status,
        "reason": reason,
        "effective_at": format_time(effective_at.replace(microsecond=0)),
    }
    earlier = [] if status == "issued" else await outbox_store.list_licence_recipients(conn, licence.number)
    states = _others([*concerned_states(licence, own_state), *earlier], own_state)
    return await _send(conn, states, "licence.status-changed", body, actor=actor, subject=licence.number)


async def consent_requested(
    conn: Conn,
    licence: LicenceObject,
    *,
    transit_state: str,
    window_from: dt.date,
    window_to: dt.date,
    actor: str,
) -> bool:
    """``transit-consent.requested`` to one transit State with the licence content (status ``pending``)."""
    pending = msgspec.structs.replace(licence, status="pending", issued_at=None)
    body = {
        "licence": _wire(pending),
        "shipment_window": {"from": window_from.isoformat(), "to": window_to.isoformat()},
    }
    sent = await _send(conn, [transit_state], "transit-consent.requested", body, actor=actor, subject=licence.number)
    return bool(sent)


class Route(Protocol):
    """What a shipment notice needs of its licence: the number and the States on its route.

    A :class:`~firearms.licence_object.LicenceObject` is one; so is the view a customs check already
    holds, so a check does not load the licence again to tell the partners.
    """

    @property
    def number(self) -> str: ...  # noqa: D102
    @property
    def issuing_state(self) -> str: ...  # noqa: D102
    @property
    def exporting_state(self) -> str: ...  # noqa: D102
    @property
    def importing_state(self) -> str: ...  # noqa: D102
    @property
    def transit_states(self) -> Sequence[str]: ...  # noqa: D102


def _others(states: list[str], own_state: str) -> list[str]:
    """``states`` without this State and without repeats, in order."""
    return [state for state in dict.fromkeys(states) if state != own_state]


async def shipment_dispatched(
    conn: Conn,
    licence: Route,
    *,
    own_state: str,
    shipment_id: str,
    dispatched_at: dt.datetime,
    items: list[ShipmentItem],
    actor: str,
) -> list[str]:
    """``shipment.dispatched`` from the exporting State to the transit and importing States (customs, exit)."""
    body = {
        "licence_number": licence.number,
        "shipment_id": shipment_id,
        "dispatched_at": format_time(dispatched_at.replace(microsecond=0)),
        "items": msgspec.to_builtins(items),
    }
    states = _others([*licence.transit_states, licence.importing_state], own_state)
    return await _send(
        conn, states, "shipment.dispatched", body, actor=actor, subject=licence.number, record_comes_first=True
    )


async def passage_recorded(
    conn: Conn,
    licence: Route,
    *,
    own_state: str,
    shipment_id: str | None,
    check_id: str,
    verdict: str,
    reasons: list[str],
    checked_at: dt.datetime,
    crossing_point: str,
    items: list[ShipmentItem],
    actor: str,
) -> list[str]:
    """``transit.passage-recorded`` from a transit State to the exporting and importing States (customs, transit)."""
    body = {
        "licence_number": licence.number,
        "issuing_state": licence.issuing_state,
        "shipment_id": shipment_id,
        "check_id": check_id,
        "verdict": verdict,
        "reasons": reasons,
        "checked_at": format_time(checked_at.replace(microsecond=0)),
        "crossing_point": crossing_point,
        "items": msgspec.to_builtins(items),
    }
    states = _others([licence.exporting_state, licence.importing_state], own_state)
    return await _send(
        conn, states, "transit.passage-recorded", body, actor=actor, subject=licence.number, record_comes_first=True
    )


async def receipt_confirmation_requested(
    conn: Conn, licence: Route, *, own_state: str, shipment_id: str, actor: str
) -> list[str]:
    """``receipt.confirmation-requested`` from the exporting to the importing State (Art. 10(4))."""
    body: dict[str, object] = {"licence_number": licence.number, "shipment_id": shipment_id}
    states = _others([licence.importing_state], own_state)
    return await _send(conn, states, "receipt.confirmation-requested", body, actor=actor, subject=licence.number)


async def receipt_confirmed(
    conn: Conn,
    licence: Route,
    *,
    own_state: str,
    shipment_id: str,
    received_on: dt.date,
    customs_document: str,
    items: list[ShipmentItem],
    actor: str,
) -> list[str]:
    """``receipt.confirmed`` from the importing to the exporting State (Art. 10(4)), after the entry check."""
    body = {
        "licence_number": licence.number,
        "shipment_id": shipment_id,
        "received_on": received_on.isoformat(),
        "customs_document": customs_document,
        "items": msgspec.to_builtins(items),
    }
    states = _others([licence.exporting_state], own_state)
    return await _send(
        conn, states, "receipt.confirmed", body, actor=actor, subject=licence.number, record_comes_first=True
    )
