"""Where the licensing area's own licences meet the exchange: the notices their life sends, automatically.

Called from :func:`firearms.licences.transition` (the one place a licence changes status), from
:func:`firearms.licence_versions.amend` and from :func:`firearms.consents.request_consent`, inside their
transactions: the notices are queued in the outbox with the change (PROTOCOL §4 "Sending"). Licences
received from partners (``origin='received'``) never send anything.

- pending -> issued: ``export-licence.issued`` to the importing and transit States, or
  ``import-authorisation.issued`` to the exporting State;
- an issued licence amended: the same with the new version (it supersedes);
- suspended, reinstated, revoked, expired: ``licence.status-changed`` to the same States (not exhausted:
  that is the exporting State's own ledger; the others keep their own tally); a reinstatement first
  sends the version amended while suspended, if any;
- consent asked of a transit State: ``transit-consent.requested`` to that State.

And from :func:`firearms.checks.perform_check` (and the decision on a held check), for a licence this
registry knows: an exit check that clears sends ``shipment.dispatched`` to the transit and importing
States; a transit check (any verdict) sends ``transit.passage-recorded`` to the exporting and importing
States, and the decision on a held one sends it again (``clear`` when released, ``refuse`` when refused);
an entry check that clears sends ``receipt.confirmed`` to the exporting State (Art. 10(4)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms import licence_reads
from firearms.errors import InvalidInputError
from firearms.exchange import emit
from firearms.exchange.bodies import ShipmentItem
from firearms.store import outbox as outbox_store
from firearms.text_rules import is_padded

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    from firearms.check_rules import CheckRequest
    from firearms.db import Conn
    from firearms.licence_views import Licence

__all__ = ["after_amendment", "after_check", "after_consent_request", "after_transition", "ask_receipt_confirmation"]

# Not "exhausted": that is the exporting State's own ledger reaching zero at its exit. Transit and
# importing States keep their own tally of what passed (DESIGN §5); announcing it would stop goods
# already dispatched at the next border.
_STATUS_NOTICES = frozenset({"issued", "suspended", "revoked", "expired"})


async def after_transition(
    conn: Conn, licence: Licence, *, from_status: str, to: str, reason: str, actor: str, effective_at: dt.datetime
) -> list[str]:
    """Queue the notice a status change of an own licence sends; returns the States it goes to.

    ``effective_at``: when the change took effect (an expiry: the start of the day after the last day).
    """
    if licence.origin != "local" or licence.licence.kind not in ("export", "import"):
        return []
    own = licence.licence.issuing_state
    if to == "issued" and from_status == "pending":
        return await emit.licence_issued(conn, licence.licence, own_state=own, actor=actor)
    told: list[str] = []
    if to == "issued" and from_status == "suspended":
        # Amended while suspended: that version was not sent (receivers take issued versions only); now it is.
        sent = await outbox_store.last_sent_licence_version(conn, licence.licence.number)
        if sent is not None and sent < licence.licence.version:
            told = await emit.licence_issued(conn, licence.licence, own_state=own, actor=actor)
    if to in _STATUS_NOTICES and from_status not in ("draft", "pending"):
        changed = await emit.licence_status_changed(
            conn, licence.licence, own_state=own, status=to, reason=reason, effective_at=effective_at, actor=actor
        )
        return list(dict.fromkeys([*told, *changed]))
    return told


async def after_amendment(conn: Conn, licence: Licence, *, actor: str) -> list[str]:
    """An amended issued licence: its new version goes to the States concerned and supersedes the old one.

    A suspended licence's amendment is not sent (receivers accept issued versions only): the
    reinstatement sends it (:func:`after_transition`).
    """
    if licence.origin != "local" or licence.status != "issued":
        return []
    return await emit.licence_issued(conn, licence.licence, own_state=licence.licence.issuing_state, actor=actor)


async def after_consent_request(
    conn: Conn,
    licence_id: uuid.UUID,
    *,
    transit_state: str,
    shipment_from: dt.date | None,
    shipment_to: dt.date | None,
    actor: str,
) -> bool:
    """``transit-consent.requested`` to the transit State, with the licence content and the shipment window.

    Without a window the licence's validity is the window.
    """
    licence = await licence_reads.get_licence(conn, licence_id)
    if licence.origin != "local" or licence.licence.kind != "export":
        return False
    obj = licence.licence
    return await emit.consent_requested(
        conn,
        obj,
        transit_state=transit_state,
        window_from=shipment_from or obj.valid_from,
        window_to=shipment_to or obj.expires_on,
        actor=actor,
    )


async def after_check(
    conn: Conn,
    request: CheckRequest,
    licence: emit.Route,
    *,
    verdict: str,
    reasons: list[str],
    checked_at: dt.datetime,
    checked_on: dt.date,
    own_state: str,
    actor: str,
) -> list[str]:
    """Queue the shipment notice a recorded customs check sends (see the module docstring).

    ``licence`` is the route of the licence the check found (a check of an unknown licence tells no one).
    ``checked_on`` is the check's date in the registry's time zone: an entry check's ``received_on``.
    """
    items = [ShipmentItem(line=line.line, quantity=line.quantity, serials=list(line.serials)) for line in request.lines]
    shipment_id = request.shipment_id or str(request.check_id)
    if request.movement == "export" and verdict == "clear" and licence.exporting_state == own_state:
        return await emit.shipment_dispatched(
            conn,
            licence,
            own_state=own_state,
            shipment_id=shipment_id,
            dispatched_at=checked_at,
            items=items,
            actor=actor,
        )
    if request.movement == "transit" and own_state in licence.transit_states:
        return await emit.passage_recorded(
            conn,
            licence,
            own_state=own_state,
            shipment_id=request.shipment_id,
            check_id=str(request.check_id),
            verdict=verdict,
            reasons=reasons,
            checked_at=checked_at,
            crossing_point=request.crossing_point,
            items=items,
            actor=actor,
        )
    if request.movement == "import" and verdict == "clear" and licence.importing_state == own_state:
        return await emit.receipt_confirmed(
            conn,
            licence,
            own_state=own_state,
            shipment_id=shipment_id,
            received_on=checked_on,
            customs_document=request.customs_document or f"customs check {request.check_id}",
            items=items,
            actor=actor,
        )
    return []


async def ask_receipt_confirmation(
    conn: Conn, *, own_state: str, licence_number: str, shipment_id: str, actor: str
) -> list[str]:
    """The exporting State asks the importing State to confirm a shipment's receipt (Art. 10(4)).

    The importing registry answers by itself from its customs records (``receipt.confirmed``), at once
    when its entry check has let the shipment in, else when it does.

    Raises:
        NotFoundError: no licence of this State with that number.
        InvalidInputError: ``padded-value`` (the shipment id has white space around it: no entry check takes
            such an id, so the request could never be answered); ``not-an-export-licence``.
    """
    if is_padded(shipment_id):
        raise InvalidInputError(
            "shipment_id has leading or trailing white space; identifiers are refused, never trimmed",
            code="padded-value",
            field="shipment_id",
        )
    licence = (await licence_reads.find_licence(conn, own_state, licence_number)).licence
    if licence.kind != "export" or licence.exporting_state != own_state:
        raise InvalidInputError(
            f"{licence_number} is not an export licence of {own_state}", code="not-an-export-licence"
        )
    return await emit.receipt_confirmation_requested(
        conn, licence, own_state=own_state, shipment_id=shipment_id, actor=actor
    )
