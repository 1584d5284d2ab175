"""Effects of licences received from their issuing State (PROTOCOL §5).

``export-licence.issued`` and ``import-authorisation.issued`` store the licence object as received
(unknown fields kept) in ``foreign_licence``, keyed by (issuing State, number): a later version
supersedes, an older one is rejected. ``licence.status-changed`` applies at once. The licensing
area's ``licence`` table gets the same (``origin='received'``, through :mod:`firearms.received`), so a
received import authorisation satisfies the export gate. A transit or import State's customs checks
read these, never the issuing State (DESIGN §5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from firearms import journal
from firearms import received as licensing
from firearms.canonical import utc_now
from firearms.errors import FirearmsError
from firearms.exchange.bodies import LicenceIssued, StatusChanged, contradiction
from firearms.exchange.inbox import NoticeRejectedError, ReceivedNotice, body_as, effect
from firearms.licence_object import STATUSES, Status
from firearms.store import received as store

if TYPE_CHECKING:
    from firearms.db import Conn
    from firearms.licence_object import LicenceObject

__all__ = [
    "CHANGED_STATUSES",
    "export_licence_issued",
    "import_authorisation_issued",
    "licence_status_changed",
    "store_licence",
]

# PROTOCOL §5's statuses that ``licence.status-changed`` may carry: every one but ``pending``, the status of a
# licence not yet issued (a consent request's), to which no issued licence goes back.
CHANGED_STATUSES: tuple[Status, ...] = tuple(status for status in STATUSES if status != "pending")


async def store_licence(conn: Conn, received: ReceivedNotice, *, kind: str) -> None:
    """Store a received licence version (PROTOCOL §5: a later version with the same number supersedes).

    Raises:
        NoticeRejectedError: ``invalid-body`` (also a licence contradicting itself: :func:`contradiction`),
            ``not-issuer`` (the sender did not issue it, or is not the
            State that issues such a licence), ``duplicate-line`` (a line number named twice),
            ``not-on-route`` (this State has no part in it),
            ``stale-version`` or ``version-conflict``.
    """
    licence = body_as(received, LicenceIssued).licence
    sender = received.notice.sender
    if licence.kind != kind or licence.status != "issued":
        raise NoticeRejectedError("invalid-body", f"{received.notice.type} carries an issued {kind} licence")
    if (contradicts := contradiction(licence)) is not None:
        raise NoticeRejectedError("invalid-body", contradicts)
    if licence.issuing_state != sender:
        raise NoticeRejectedError("not-issuer", f"{sender} did not issue licence {licence.number}")
    try:
        licensing.check_lines(licence)
    except FirearmsError as exc:
        raise NoticeRejectedError(exc.code, exc.detail) from exc
    existing = await store.get_foreign_licence_for_update(conn, sender, licence.number)
    _require_direction(
        licence,
        kind=kind,
        sender=sender,
        recipient=received.notice.recipient,
        superseding=existing is not None and licence.version > existing["version"],
    )
    raw: Any = received.notice.body["licence"]  # as received: unknown fields are kept
    if existing is not None:
        if existing["version"] > licence.version:
            raise NoticeRejectedError("stale-version", f"version {existing['version']} is already stored")
        if existing["version"] == licence.version:
            if existing["licence"] == raw:
                return
            raise NoticeRejectedError("version-conflict", f"version {licence.version} was received with other content")
    # The licensing tables may hold the licence already, from a consent request: both copies agree or neither
    # takes the notice (checks read those tables, officers read foreign_licence).
    conflict = await licensing.version_conflict(conn, licence)
    if conflict == "stale-version":
        raise NoticeRejectedError(conflict, f"a later version of {licence.number} was received in a consent request")
    if conflict is not None:
        raise NoticeRejectedError(
            conflict, f"version {licence.version} was received in a consent request with other content"
        )
    await store.upsert_foreign_licence(
        conn,
        sender,
        licence.number,
        licence.kind,
        licence.version,
        licence.status,
        raw,
        received.notice.confidentiality,
        received.notice.id,
        utc_now(),
    )
    try:
        await licensing.record_received(
            conn, licence, registry_state=received.notice.recipient, actor=f"partner:{sender}"
        )
    except FirearmsError as exc:
        raise NoticeRejectedError(exc.code, exc.detail) from exc
    await journal.record(
        conn,
        actor=f"partner:{sender}",
        action="foreign-licence.stored",
        entity="foreign_licence",
        entity_id=f"{sender}/{licence.number}",
        payload={"kind": licence.kind, "version": licence.version, "notice_id": received.notice.id},
    )


def _require_direction(licence: LicenceObject, *, kind: str, sender: str, recipient: str, superseding: bool) -> None:
    """PROTOCOL §5's "from → to" for the licences (the sender issues them; the recipient has a part in them).

    An export licence goes from its exporting State to its importing and transit States, an import
    authorisation from its importing State to its exporting State. A licence naming another State as the
    exporter would let this State's customs take it for that State's authorisation; one naming this State
    nowhere is none of its business — unless it is a later version of a licence this State holds
    (``superseding``): the issuing State took this State off the route, and the version that says so
    supersedes the one naming it (PROTOCOL §5), so this State's customs refuse it ``state-not-on-route``
    instead of holding the earlier version as it was.
    """
    issuer, concerned = (
        (licence.exporting_state, {licence.importing_state, *licence.transit_states})
        if kind == "export"
        else (licence.importing_state, {licence.exporting_state})
    )
    if sender != issuer:
        role = "exporting" if kind == "export" else "importing"
        raise NoticeRejectedError("not-issuer", f"{sender} is not the {role} State of {licence.number}")
    if recipient not in concerned and not superseding:
        raise NoticeRejectedError("not-on-route", f"{recipient} has no part in {licence.number}")


@effect("export-licence.issued")
async def export_licence_issued(conn: Conn, received: ReceivedNotice) -> None:
    """Store an export licence issued by the sender (this State imports or is a transit State)."""
    await store_licence(conn, received, kind="export")


@effect("import-authorisation.issued")
async def import_authorisation_issued(conn: Conn, received: ReceivedNotice) -> None:
    """Store an import authorisation issued by the sender (this State exports: Art. 10(2)(a))."""
    await store_licence(conn, received, kind="import")


@effect("licence.status-changed")
async def licence_status_changed(conn: Conn, received: ReceivedNotice) -> None:
    """Apply a status change to a received licence at once (a revoked licence fails the next check).

    ``issued`` only in the version held here: ``licence-version-unknown`` for a later one, ``stale-version``
    for an earlier one; a change out of force applies whatever version it names.
    """
    body = body_as(received, StatusChanged)
    if body.status not in CHANGED_STATUSES:
        raise NoticeRejectedError(
            "invalid-body",
            f"licence.status-changed carries {body.status!r}: a licence is moved to one of"
            f" {', '.join(CHANGED_STATUSES)} (PROTOCOL §5: pending is a licence not yet issued)",
        )
    sender = received.notice.sender
    if body.issuing_state != sender:
        raise NoticeRejectedError("not-issuer", f"{sender} did not issue licence {body.licence_number}")
    existing = await store.get_foreign_licence_for_update(conn, sender, body.licence_number)
    if existing is None:
        raise NoticeRejectedError("unknown-licence", f"no licence {body.licence_number} of {sender} was received")
    if body.status == "issued" and body.version != existing["version"]:
        # Put back in force: the version it names, not an older one held here (its amendment was refused here,
        # say), which would clear goods against content the issuing State has changed. Out of force: any version.
        raise NoticeRejectedError(
            "licence-version-unknown" if body.version > existing["version"] else "stale-version",
            f"{body.licence_number} is put in force in version {body.version}; version {existing['version']} is"
            " held here",
        )
    await store.set_foreign_licence_status(
        conn,
        sender,
        body.licence_number,
        body.status,
        body.reason,
        body.effective_at,
        utc_now(),
        received.notice.confidentiality,
    )
    try:
        await licensing.apply_status(
            conn,
            issuing_state=sender,
            number=body.licence_number,
            status=body.status,
            reason=body.reason or f"status changed by {sender}",
            actor=f"partner:{sender}",
        )
    except FirearmsError as exc:
        raise NoticeRejectedError(exc.code, exc.detail) from exc
    await journal.record(
        conn,
        actor=f"partner:{sender}",
        action="foreign-licence.status-changed",
        entity="foreign_licence",
        entity_id=f"{sender}/{body.licence_number}",
        payload={
            "version": body.version,
            "status": body.status,
            "reason": body.reason,
            "notice_id": received.notice.id,
        },
    )
