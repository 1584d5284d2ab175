"""Where the licensing area's own licences meet the exchange: the notices their life sends, automatically.

Called from :func:`firearms.licences.transition` (the one place a licence changes status), from
:func:`firearms.licences.amend` and from :func:`firearms.consents.request_consent`, inside their
transactions: the notices are queued in the outbox with the change (PROTOCOL §4 "Sending"). Licences
received from partners (``origin='received'``) never send anything.

- pending -> issued: ``export-licence.issued`` to the importing and transit States, or
  ``import-authorisation.issued`` to the exporting State;
- an issued licence amended: the same with the new version (it supersedes);
- suspended, reinstated, revoked, expired, exhausted: ``licence.status-changed`` to the same States;
- consent asked of a transit State: ``transit-consent.requested`` to that State.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.canonical import utc_now
from firearms.exchange import emit

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    from firearms.db import Conn
    from firearms.licence_views import Licence

__all__ = ["after_amendment", "after_consent_request", "after_transition"]

_STATUS_NOTICES = frozenset({"issued", "suspended", "revoked", "expired", "exhausted"})


async def after_transition(
    conn: Conn, licence: Licence, *, from_status: str, to: str, reason: str, actor: str
) -> list[str]:
    """Queue the notice a status change of an own licence sends; returns the States it goes to."""
    if licence.origin != "local" or licence.licence.kind not in ("export", "import"):
        return []
    own = licence.licence.issuing_state
    if to == "issued" and from_status == "pending":
        return await emit.licence_issued(conn, licence.licence, own_state=own, actor=actor)
    if to in _STATUS_NOTICES and from_status not in ("draft", "pending"):
        return await emit.licence_status_changed(
            conn, licence.licence, own_state=own, status=to, reason=reason, effective_at=utc_now(), actor=actor
        )
    return []


async def after_amendment(conn: Conn, licence: Licence, *, actor: str) -> list[str]:
    """An amended issued licence: its new version goes to the States concerned and supersedes the old one.

    A suspended licence's amendment is not sent (receivers accept issued versions only); its content
    travels again when it is amended after reinstatement.
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
    from firearms import licences  # noqa: PLC0415  # licences imports consents, which calls this

    licence = await licences.get_licence(conn, licence_id)
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
