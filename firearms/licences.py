"""The licence life cycle (DESIGN §3; Reg. 258/2012 Art. 7): every status change, its gates and signing.

States: ``draft -> pending -> issued -> suspended <-> issued -> revoked | expired | exhausted``.
EVERY status change goes through :func:`transition` (the exchange issue hooks its outgoing
notices there). A version is signed with the registry key when it is issued (or amended after issue,
:mod:`firearms.licence_versions`); its short verification code is derived from that signature (DESIGN §8).
Drafts and amendments are in :mod:`firearms.licence_versions`, reading in :mod:`firearms.licence_reads`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import msgspec

from firearms import clock, consents, gates, journal, keys
from firearms.errors import ConflictError
from firearms.exchange import hooks
from firearms.licence_reads import current_version, get_licence, licence_row
from firearms.licence_views import LICENCE_STATUSES, LicenceStatus, licence_message, licence_object
from firearms.store import ledger as ledger_store
from firearms.store import licences as store

if TYPE_CHECKING:
    import uuid

    import asyncpg

    from firearms.db import Conn
    from firearms.licence_object import LicenceObject
    from firearms.licence_views import Licence
    from firearms.settings import Settings

__all__ = [
    "TRANSITIONS",
    "exhaust_if_used_up",
    "expire_due",
    "pending_gates",
    "request_consents",
    "require_gates",
    "sign_current_version",
    "transition",
]


TRANSITIONS: dict[str, tuple[LicenceStatus, ...]] = {
    "draft": ("pending",),
    "pending": ("issued",),
    "issued": ("suspended", "revoked", "expired", "exhausted"),
    "suspended": ("issued", "revoked", "expired"),
    "revoked": (),
    "expired": (),
    "exhausted": (),
}


async def exhaust_if_used_up(conn: Conn, licence: Licence, actor: str, cause: str) -> Licence:
    """An issued licence with nothing left on any line is ``exhausted`` (DESIGN §3), whatever brought it there."""
    lines = await ledger_store.get_licence_lines(conn, licence.licence_id)
    if any(line["quantity"] > line["debited"] for line in lines):
        return licence
    return await transition(
        conn, licence_id=licence.licence_id, to="exhausted", actor=actor, reason=f"every line reached zero ({cause})"
    )


async def require_gates(
    conn: Conn, row: asyncpg.Record, settings: Settings, today: dt.date, *, before: LicenceObject | None = None
) -> None:
    """Every gate must hold ``today`` (Reg. 258/2012 Art. 7): to issue, to reinstate, to amend an issued licence.

    Silent transit States are deemed to consent first; the parties are read ``FOR SHARE`` and the received import
    authorisation's row is locked (another licence drawn on it waits, then counts this one's share).
    ``before``: amending an issued licence, the version in force; the import authorisation's cover is judged on what
    the amendment adds to it (:func:`firearms.gates.unmet_gates`).

    Raises:
        ConflictError: ``gates-unmet``, with every unmet gate.
    """
    await consents.deem_silent(conn, settings=settings, today=today, licence_id=row["licence_id"])
    version = await current_version(conn, row)
    unmet = await gates.unmet_gates(conn, row, licence_object(row, version), today=today, lock=True, before=before)
    if unmet:
        raise ConflictError(
            f"licence {row['number']} cannot be issued: {', '.join(gate.gate for gate in unmet)}",
            code="gates-unmet",
            unmet=[msgspec.to_builtins(gate) for gate in unmet],
        )


async def pending_gates(conn: Conn, licence_id: uuid.UUID, *, today: dt.date) -> list[gates.Gate]:
    """Every gate that would stop the licence being issued today (read-only: nothing is deemed or stored)."""
    row = await licence_row(conn, licence_id)
    return await gates.unmet_gates(conn, row, licence_object(row, await current_version(conn, row)), today=today)


async def sign_current_version(conn: Conn, row: asyncpg.Record, settings: Settings, now: dt.datetime) -> None:
    """Sign the current version with the registry key, as issued now (DESIGN §8: its verification code)."""
    version = await current_version(conn, row)
    issued_at = now.replace(microsecond=0)
    obj = msgspec.structs.replace(licence_object(row, version), status="issued", issued_at=issued_at)
    key = await keys.current_signing_key(conn, settings.home)
    signature = key.sign(licence_message(obj))
    await store.sign_licence_version(conn, row["licence_id"], row["version"], issued_at, key.key_id, signature)


async def transition(
    conn: Conn,
    *,
    licence_id: uuid.UUID,
    to: LicenceStatus,
    actor: str,
    reason: str,
    settings: Settings | None = None,
    only_from: frozenset[str] | None = None,
    own_only: bool = False,
    effective_at: dt.datetime | None = None,
) -> Licence:
    """The ONE place a licence changes status (DESIGN §3 life cycle), journaled with actor and reason.

    Issuing runs the gates (export licences: :mod:`firearms.gates`) and signs the current version;
    reinstating (suspended -> issued) runs the gates again. Submitting an export licence (draft ->
    pending) records a transit-consent request to every transit State, dated today in the registry's
    time zone. So ``settings`` is required for ``to="issued"`` and ``to="pending"``. A licence received
    from a partner (``origin='received'``, :mod:`firearms.received`) takes any status its issuing State
    announces, except out of a final one, without gates, signing or requests. The licence row is
    locked first. ``only_from`` names the statuses the caller's action starts from (issuing starts
    from ``pending``, reinstating from ``suspended``, though both end ``issued``): any other is refused.
    ``own_only`` (an officer's request) refuses a partner's licence: only its issuing State's word moves it.
    ``effective_at``: when the change took effect, if before now (an expiry: the start of the day after the last
    day), as ``licence.status-changed`` tells partners; now by default.

    Raises:
        NotFoundError: no such licence.
        ConflictError: ``illegal-transition`` (with ``allowed``), ``gates-unmet`` (with every unmet gate),
            ``licence-not-own`` (``own_only`` and a partner's licence).
    """
    row = await licence_row(conn, licence_id, lock=True)
    received = row["origin"] == "received"
    if received and own_only:
        raise ConflictError(
            f"licence {row['number']} is {row['issuing_state']}'s: its status changes by {row['issuing_state']}'s"
            " word (licence.status-changed), not here",
            code="licence-not-own",
            issuing_state=row["issuing_state"],
            licence_status=row["status"],
        )
    allowed = _received_transitions(row["status"]) if received else TRANSITIONS[row["status"]]
    if to not in allowed or (only_from is not None and row["status"] not in only_from):
        raise ConflictError(
            f"licence {row['number']} is {row['status']}; "
            + (
                f"this action is for a {' or '.join(sorted(only_from))} licence"
                if only_from is not None and row["status"] not in only_from
                else f"it cannot become {to}"
            )
            + (f" (allowed: {', '.join(allowed)})" if allowed else " (it is final)"),
            code="illegal-transition",
            licence_status=row["status"],
            requested=to,
            allowed=list(allowed),
        )
    now = dt.datetime.now(dt.UTC)
    issued_at: dt.datetime | None = None
    if to in {"issued", "pending"} and not received:
        if settings is None:
            raise ValueError(f"transition to {to!r} needs the settings (signing key, consent policy, time zone)")
        today = clock.local_date(now, settings.time_zone)
        if to == "issued":
            # Issuing and reinstating alike: every gate must hold today (a suspended licence's import
            # authorisation may have been revoked, or a transit State may have objected, meanwhile).
            await require_gates(conn, row, settings, today)
            if row["status"] == "pending":
                await sign_current_version(conn, row, settings, now)
                issued_at = now
        elif row["kind"] == "export":
            await request_consents(conn, row, actor, today)
    await store.update_licence_status(conn, licence_id, to, now, issued_at)
    await store.insert_licence_event(conn, licence_id, row["version"], row["status"], to, reason, actor, now)
    await journal.record(
        conn,
        actor=actor,
        action=f"licence.{to}",
        entity="licence",
        entity_id=str(licence_id),
        payload={
            "number": row["number"],
            "version": row["version"],
            "from": row["status"],
            "to": to,
            "reason": reason,
        },
    )
    licence = await get_licence(conn, licence_id)
    await hooks.after_transition(
        conn,
        licence,
        from_status=row["status"],
        to=to,
        reason=reason,
        actor=actor,
        effective_at=now if effective_at is None else min(effective_at, now),
    )
    if to == "issued" and row["status"] == "suspended" and not received:
        # Amended down to its debits while suspended: it comes back with nothing left to use.
        return await exhaust_if_used_up(conn, licence, actor, "reinstated")
    return licence


def _received_transitions(status: str) -> tuple[LicenceStatus, ...]:
    """A partner's licence follows its issuing State's word: any change, except out of a final status."""
    if not TRANSITIONS[status]:
        return ()
    return tuple(other for other in LICENCE_STATUSES if other not in {status, "draft"})


async def request_consents(
    conn: Conn, row: asyncpg.Record, actor: str, today: dt.date, *, kept_route: list[str] | None = None
) -> None:
    """Ask every transit State on the route that was not asked about this version yet.

    A State already asked about this version keeps its request (and its silent period); one asked about
    an earlier version is asked again with the new content and the same shipment window (a request
    without a window keeps the one asked before), its earlier decision no longer counting. With
    ``kept_route`` (the route of the version before a suspended licence's amendment), a State that stays
    on the route keeps its request and decision: only those new on the route are asked, including one
    that was on an older version's route and left it.
    """
    asked = {request.transit_state: request for request in await consents.list_requests(conn, row["licence_id"])}
    for state in row["transit_states"]:
        earlier = asked.get(state)
        if earlier is not None and (
            earlier.licence_version >= row["version"] or (kept_route is not None and state in kept_route)
        ):
            continue
        await consents.request_consent(
            conn,
            licence_id=row["licence_id"],
            transit_state=state,
            shipment_from=None,
            shipment_to=None,
            today=today,
            actor=actor,
        )


async def expire_due(conn: Conn, *, today: dt.date, time_zone: dt.tzinfo = dt.UTC, limit: int = 500) -> int:
    """The expiry timer: every issued or suspended local licence past its last day becomes ``expired``.

    Effective at the start of the day after its last day in ``time_zone`` (the registry's), not when the timer
    runs: ``licence.status-changed`` tells partners that moment even after a worker stopped for days.

    Each licence is re-read under its lock by :func:`transition`, so a licence amended or revoked
    meanwhile is left alone. A partner's licence (``origin='received'``) is left to its issuing
    State's ``licence.status-changed``: expiring it here would make it final, and a later version
    that extends it could no longer be applied (customs checks refuse it past its date anyway).
    Returns how many expired.
    """
    count = 0
    for licence_id in await store.list_expired_licence_ids(conn, today, limit):
        row = await licence_row(conn, licence_id, lock=True)
        if row["status"] in {"issued", "suspended"} and row["expires_on"] < today:
            await transition(
                conn,
                licence_id=licence_id,
                to="expired",
                actor="system:expiry-timer",
                reason=f"validity ended on {row['expires_on'].isoformat()}",
                effective_at=clock.start_of_day(row["expires_on"] + dt.timedelta(days=1), time_zone),
            )
            count += 1
    return count
