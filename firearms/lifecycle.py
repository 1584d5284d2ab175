"""The lifecycle state machine of an item (Protocol Art. 7; ITI para 12; DESIGN §3).

An item is registered ``active``. Each lifecycle event moves it along the table below; any other
event in its current state is refused with the current state and the events it allows. A
``corrected`` event is allowed in every state: it names the event it corrects and why, and the
status becomes what the item's other events give, replayed from registration
(:mod:`firearms.item_events`).

=============  ==============================================  ===========================================
event          allowed in                                       leads to
=============  ==============================================  ===========================================
transferred    active, deactivated                              (unchanged)
lost           active, deactivated                              lost
stolen         active, deactivated                              stolen
recovered      lost, stolen, seized                             the status before the run (see below)
seized         active, lost, stolen, deactivated                seized
destroyed      active, seized, deactivated                      destroyed
exported       active, deactivated                              exported
imported       active or deactivated (arrival), exported        unchanged; from exported, what left (below)
deactivated    active, seized (unless seized deactivated)       deactivated
corrected      every state                                      see above
=============  ==============================================  ===========================================

A deactivated firearm stays a record the State keeps (it can be reactivated: Reg. 2015/2403): it is lost,
stolen and seized like any other. ``lost``, ``stolen`` and ``seized`` make a *run*; its *origin* is the
status the item had when the run began (``active`` or ``deactivated``), and ``recovered`` leads back to
it. A firearm seized while deactivated is not deactivated again (it already is): ``deactivated`` is
refused in a run whose origin is ``deactivated``. The origin is what the item's events in effect give
(:func:`run_origin`, replayed by :mod:`firearms.item_events`).

A deactivated firearm is exported and imported as one (Reg. 2015/2403 Art. 7: Member States recognise each
other's deactivation certificates; Reg. 258/2012 Art. 3 leaves it out of export authorisation). An export
remembers the status the item left in, like a run's origin, and its re-import leads back to it: a deactivated
firearm comes back ``deactivated`` in its category, never ``active``. An arrival in ``deactivated`` (an item
registered with its deactivation before it arrived) keeps it ``deactivated``.

``destroyed`` is terminal: only a correction may follow it. ``imported`` in ``active`` is an arrival: an
item already imported for good, and not exported since, is refused by :mod:`firearms.item_events`
(``already-imported``), which knows the item's history.
"""

from __future__ import annotations

from typing import Literal

from firearms.errors import ConflictError

__all__ = [
    "EVENTS",
    "RUN",
    "STATUSES",
    "TRANSITIONS",
    "EventKind",
    "Status",
    "after_event",
    "allowed_events",
    "next_status",
    "run_origin",
]

Status = Literal["active", "lost", "stolen", "seized", "destroyed", "exported", "deactivated"]
EventKind = Literal[
    "transferred",
    "lost",
    "stolen",
    "recovered",
    "seized",
    "destroyed",
    "exported",
    "imported",
    "deactivated",
    "corrected",
]
STATUSES: tuple[Status, ...] = ("active", "lost", "stolen", "seized", "destroyed", "exported", "deactivated")
EVENTS: tuple[EventKind, ...] = (
    "transferred",
    "lost",
    "stolen",
    "recovered",
    "seized",
    "destroyed",
    "exported",
    "imported",
    "deactivated",
    "corrected",
)

# The statuses of a loss, theft or seizure run: recovered ends it, back to its origin.
RUN: tuple[Status, ...] = ("lost", "stolen", "seized")

# event -> {status before: status after}; "corrected" is handled by the caller (it may revert).
TRANSITIONS: dict[EventKind, dict[Status, Status]] = {
    "transferred": {"active": "active", "deactivated": "deactivated"},
    "lost": {"active": "lost", "deactivated": "lost"},
    "stolen": {"active": "stolen", "deactivated": "stolen"},
    # "active" is the origin of a run of an item never deactivated; next_status gives the run's origin
    "recovered": {"lost": "active", "stolen": "active", "seized": "active"},
    "seized": {"active": "seized", "lost": "seized", "stolen": "seized", "deactivated": "seized"},
    "destroyed": {"active": "destroyed", "seized": "destroyed", "deactivated": "destroyed"},
    # a deactivated firearm crosses borders as one (Reg. 2015/2403 Art. 7); next_status gives a return what left
    "exported": {"active": "exported", "deactivated": "exported"},
    "imported": {"active": "active", "exported": "active", "deactivated": "deactivated"},
    "deactivated": {"active": "deactivated", "seized": "deactivated"},
    "corrected": {status: status for status in STATUSES},
}


def allowed_events(status: Status, origin: Status = "active") -> list[EventKind]:
    """The events an item in ``status`` may receive, in the order of :data:`EVENTS`.

    ``origin`` is the status its loss, theft or seizure run began in (:func:`run_origin`): a firearm seized
    while deactivated may not be deactivated again.
    """
    return [event for event in EVENTS if after_event(status, event, origin) is not None]


def next_status(status: Status, event: EventKind, origin: Status = "active") -> Status:
    """The status after ``event`` (a correction's possible revert is decided by the caller).

    ``origin`` is the status the item's current loss, theft or seizure run began in (:func:`run_origin`;
    ``active`` or ``deactivated``): ``recovered`` leads back to it (Reg. 2015/2403: a deactivated firearm
    recovered is still deactivated).

    Raises:
        ConflictError: code ``illegal-transition``, naming the current status and the allowed events.
    """
    after = after_event(status, event, origin)
    if after is None:
        allowed = allowed_events(status, origin)
        raise ConflictError(
            f"an item that is {status} cannot be {event}; allowed: {', '.join(allowed)}",
            code="illegal-transition",
            current_status=status,
            event=event,
            allowed_events=allowed,
        )
    return after


def run_origin(status: Status, after: Status, origin: Status) -> Status:
    """The origin of the run the item is in after an event moved it from ``status`` to ``after``.

    A run begins when an item leaves a status outside :data:`RUN` for one in it, and keeps its origin until
    it ends; an export's origin is the status the item left in (``active`` or ``deactivated``), what its
    re-import gives back; otherwise the origin is the status itself.
    """
    if after == "exported":
        return status
    if after not in RUN:
        return after
    return origin if status in RUN else status


def after_event(status: Status, event: EventKind, origin: Status) -> Status | None:
    """The status after ``event`` in ``status`` in a run that began in ``origin``; ``None`` if it is refused."""
    after = TRANSITIONS[event].get(status)
    if after is None:
        return None
    if event == "recovered" or (event == "imported" and status == "exported"):
        return origin
    if event == "deactivated" and status == "seized" and origin == "deactivated":
        return None  # it already is: a seized deactivated firearm is recovered or destroyed
    return after
