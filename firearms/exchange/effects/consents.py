"""Effects of ``transit-consent.requested`` and ``transit-consent.decided`` (Art. 10(2)(b)).

A request also records the exporting State's licence (status ``pending``) as a received licence of the
licensing area, so the transit State's decision can be kept on it; a decision received by the exporting
State is recorded on its own licence (``transit_consent``, source ``notice``), answering the licence
version the request it replies to (``in_reply_to``) carried, and satisfies or blocks the export licence's
transit gate.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import msgspec

from firearms import consents as licensing_consents
from firearms import journal, licence_reads, licences
from firearms import received as licensing
from firearms.canonical import utc_now
from firearms.clock import local_date
from firearms.errors import FirearmsError, NotFoundError
from firearms.exchange.bodies import ConsentDecided, ConsentRequested, contradiction
from firearms.exchange.consent_findings import check_now
from firearms.exchange.inbox import NoticeRejectedError, ReceivedNotice, body_as, effect
from firearms.store import outbox as outbox_store
from firearms.store import received as store

if TYPE_CHECKING:
    from firearms.db import Conn

__all__ = ["transit_consent_decided", "transit_consent_requested"]


@effect("transit-consent.requested")
async def transit_consent_requested(conn: Conn, received: ReceivedNotice) -> None:
    """A pending request for this State's licensing officer, with the pre-check findings.

    It supersedes the sender's earlier pending requests about the same licence: the officer decides
    what the exporting State now waits on.
    """
    body = body_as(received, ConsentRequested)
    sender = received.notice.sender
    licence = body.licence
    if licence.kind != "export":
        raise NoticeRejectedError("invalid-body", "a transit-consent request carries an export licence")
    if licence.status != "pending":
        # PROTOCOL §5: <kind export, status pending>. Recorded as it came, an "issued" one would stand here
        # as issued although no export-licence.issued announced it, and customs would clear on it.
        raise NoticeRejectedError(
            "invalid-body",
            f"a transit-consent request carries the licence pending (not yet issued), not {licence.status}",
        )
    # PROTOCOL §5 gives the licence object's issued_at without "or null", so a partner built from it alone sends a
    # time in its pending licence too (the one it drafted, say). Not yet issued, the licence has no issue time here:
    # the time is dropped (the notice keeps it) rather than the request refused, and the licence is recorded as a
    # request from this registry's own kind of partner (null) would have it, with the issued licence's time to come.
    licence = msgspec.structs.replace(licence, issued_at=None)
    if (contradicts := contradiction(licence)) is not None:
        raise NoticeRejectedError("invalid-body", contradicts)
    if licence.issuing_state != sender or licence.exporting_state != sender:
        raise NoticeRejectedError("not-issuer", f"{sender} is not the exporting State of {licence.number}")
    try:
        licensing.check_lines(licence)
    except FirearmsError as exc:
        raise NoticeRejectedError(exc.code, exc.detail) from exc
    found = (await check_now(conn, body, received.notice.recipient, received.received_on)).findings
    # The older requests first, then the licence: the order in which an officer's decision and the tacit-consent
    # timer lock them (request, then licence). The other way round, a decision and a newer request at once
    # deadlocked. A rejection below rolls the supersession back with the rest (the effect runs in a savepoint).
    superseded = await store.supersede_consent_requests(conn, sender, licence.number, received.notice.id)
    # The officer consents to the content shown, and the consent is kept on its version: a version held here (or
    # asked about before) with other content would have the officer consent to words the licence does not hold.
    conflict = await licensing.version_conflict(conn, licence)
    if conflict is not None:
        raise NoticeRejectedError(
            conflict,
            f"version {licence.version} of {licence.number} is held here with other content"
            if conflict == "version-conflict"
            else f"a later version of {licence.number} than {licence.version} is held here",
        )
    try:
        known = await licence_reads.find_licence(conn, sender, licence.number)
    except NotFoundError:
        known = None
    # Recorded as received when new, and its content replaced by a newer pending version (the exporting
    # State amended it before issue); never once issued: a late request must not take it back to pending.
    if known is None or (known.status == "pending" and licence.version > known.licence.version):
        try:
            await licensing.record_received(
                conn, licence, registry_state=received.notice.recipient, actor=f"partner:{sender}"
            )
        except FirearmsError as exc:
            raise NoticeRejectedError(exc.code, exc.detail) from exc
    await store.insert_consent_request(
        conn,
        sender,
        received.notice.id,
        licence.number,
        received.notice.body["licence"],
        body.shipment_window.from_,
        body.shipment_window.to,
        msgspec.to_builtins(found),
        received.notice.confidentiality,
        utc_now(),
    )
    await journal.record(
        conn,
        actor=f"partner:{sender}",
        action="transit-consent.requested",
        entity="consent_request_received",
        entity_id=f"{sender}/{received.notice.id}",
        payload={
            "licence_number": licence.number,
            "version": licence.version,
            "findings": [f"{item.code}:{item.result}" for item in found],
            "supersedes": superseded,
        },
    )


@effect("transit-consent.decided")
async def transit_consent_decided(conn: Conn, received: ReceivedNotice) -> None:
    """A transit State's answer to this State's request, kept for the export licence's transit gate.

    It answers the licence version the request it replies to carried: after an amendment, a late answer
    to the earlier request does not satisfy the gate for the new content.
    """
    body = body_as(received, ConsentDecided)
    sender = received.notice.sender
    try:
        own = await licence_reads.find_licence(conn, received.notice.recipient, body.licence_number)
    except NotFoundError as exc:
        raise NoticeRejectedError("unknown-licence", exc.detail) from exc
    reply_to = received.notice.in_reply_to
    version = (
        None
        if reply_to is None
        else await outbox_store.get_requested_licence_version(conn, uuid.UUID(reply_to), sender, body.licence_number)
    )
    if version is None:
        raise NoticeRejectedError(
            "unknown-request",
            f"in_reply_to {reply_to} names no transit-consent request sent to {sender} about {body.licence_number}",
        )
    assert reply_to is not None  # noqa: S101  # a request was found by it
    # A decision stands, as an officer's on a request received here does (409 consent-already-decided): a second
    # answer to the same request would turn an objection into a no-objection. To decide again, this State asks
    # again (a new request) and the transit State answers that one. Only a withdrawal is taken: an objection after
    # a no-objection, which asks less of nobody (the transit State may withdraw its consent; the gate then shuts).
    # The sender's notices are received one at a time (the inbox lock), so no other answer is recorded between this
    # read and the insert below.
    standing = await store.get_consent_decision_answering(conn, sender, reply_to, body.licence_number)
    # Silent for the period, the sender was deemed to consent to that version (this State's timer): its answer comes
    # late. It is taken all the same: a no-objection confirms; an objection withdraws the deemed consent, as it would
    # an answered one (below), so that the licence issued on it stops clearing exits into a State that objects.
    # Read under the licence's lock (record_decision below takes it anyway): an issue holding it may be deeming the
    # sender's consent at this moment (the timer's rule, run at issue time); read before, that consent was not seen
    # and the licence issued on it stayed issued.
    await licence_reads.licence_row(conn, own.licence_id, lock=True)
    counted = (await licensing_consents.latest_decisions(conn, own.licence_id)).get(sender)
    deemed = (
        counted if counted is not None and counted.decision == "deemed" and counted.licence_version == version else None
    )
    if standing is not None and not (standing["decision"] == "no-objection" and body.decision == "objection"):
        raise NoticeRejectedError(
            "consent-already-decided",
            f"{sender} already answered request {reply_to} about {body.licence_number}: {standing['decision']}"
            f" (notice {standing['notice_id']}); a decision stands but for the withdrawal of a no-objection, a new"
            " request is answered anew",
        )
    try:
        await licensing_consents.record_decision(
            conn,
            licence_id=own.licence_id,
            transit_state=sender,
            decision=body.decision,
            # The day the partner sent it, as this registry counts days (never after the day of receipt).
            decided_on=local_date(min(received.created_at, received.received_at), received.time_zone),
            valid_until=body.valid_until,
            reason=body.reason,
            source="notice",
            today=received.received_on,
            actor=f"partner:{sender}",
            licence_version=version,
            confidentiality=received.notice.confidentiality,
        )
    except FirearmsError as exc:
        raise NoticeRejectedError(exc.code, exc.detail) from exc
    await store.insert_consent_decision(
        conn,
        sender,
        received.notice.id,
        received.notice.in_reply_to,
        body.licence_number,
        body.decision,
        body.reason,
        body.valid_until,
        utc_now(),
        received.notice.confidentiality,
    )
    await journal.record(
        conn,
        actor=f"partner:{sender}",
        action="transit-consent.received",
        entity="consent_decision_received",
        entity_id=f"{sender}/{received.notice.id}",
        payload={
            "licence_number": body.licence_number,
            "decision": body.decision,
            "in_reply_to": received.notice.in_reply_to,
            "after_deemed_on": None if deemed is None else deemed.decided_on.isoformat(),
        },
    )
    if standing is not None:
        await _suspend_on_withdrawal(
            conn,
            own.licence_id,
            sender,
            f"{sender} withdrew its no-objection to the transit (notice {received.notice.id})",
        )
    elif deemed is not None:
        await _suspend_on_withdrawal(
            conn,
            own.licence_id,
            sender,
            f"{sender} objected to the transit after its consent was deemed on {deemed.decided_on.isoformat()}"
            f" (notice {received.notice.id})",
        )


async def _suspend_on_withdrawal(conn: Conn, licence_id: uuid.UUID, sender: str, reason: str) -> None:
    """Reg. 258/2012 Art. 7: an issued export licence whose transit State withdrew its consent is suspended.

    Its no-objection, or the consent its silence was deemed to give (an objection after the silent period).

    The withdrawal shuts the issue gate; an issued licence would otherwise go on clearing exits into a State that
    no longer consents. Only when the withdrawal is what now counts for that State (not a withdrawal of consent to an
    earlier version under a later one consented to). Its reinstatement runs the gates again (shut while the
    objection stands): the officer asks again, or amends the route while it is suspended. The partner's reason is
    not repeated: the status change goes to every State on the route, the objection's reason only to this one.
    """
    latest = (await licensing_consents.latest_decisions(conn, licence_id)).get(sender)
    row = await licence_reads.licence_row(conn, licence_id, lock=True)
    if latest is None or latest.decision != "objection" or row["status"] != "issued":
        return
    await licences.transition(
        conn,
        licence_id=licence_id,
        to="suspended",
        actor=f"partner:{sender}",
        reason=reason,
        only_from=frozenset({"issued"}),
    )
