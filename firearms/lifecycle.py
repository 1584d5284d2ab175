"""The lifecycle state machine of an item (Protocol Art. 7; ITI para 12; DESIGN §3).

An item is registered ``active``. Each lifecycle event moves it along the table below; any other
event in its current state is refused with the current state and the events it allows. A
``corrected`` event is allowed in every state: it names the event it corrects and why, and the
status becomes what the item's other events give, replayed from registration
(:mod:`firearms.item_events`).

=============  ==============================================  ===========
event          allowed in                                       leads to
=============  ==============================================  ===========
transferred    active, deactivated                              (unchanged)
lost           active                                           lost
stolen         active                                           stolen
recovered      lost, stolen, seized                             active
seized         active, lost, stolen                             seized
destroyed      active, seized, deactivated                      destroyed
exported       active                                           exported
imported       active (arrival), exported (re-import)           active
deactivated    active, seized                                   deactivated
corrected      every state                                      see above
=============  ==============================================  ===========

``destroyed`` is terminal: only a correction may follow it. ``imported`` in ``active`` is an arrival: an
item already imported for good, and not exported since, is refused by :mod:`firearms.item_events`
(``already-imported``), which knows the item's history.
"""

from __future__ import annotations

from typing import Literal

from firearms.errors import ConflictError

__all__ = ["EVENTS", "STATUSES", "TRANSITIONS", "EventKind", "Status", "allowed_events", "next_status"]

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

# event -> {status before: status after}; "corrected" is handled by the caller (it may revert).
TRANSITIONS: dict[EventKind, dict[Status, Status]] = {
    "transferred": {"active": "active", "deactivated": "deactivated"},
    "lost": {"active": "lost"},
    "stolen": {"active": "stolen"},
    "recovered": {"lost": "active", "stolen": "active", "seized": "active"},
    "seized": {"active": "seized", "lost": "seized", "stolen": "seized"},
    "destroyed": {"active": "destroyed", "seized": "destroyed", "deactivated": "destroyed"},
    "exported": {"active": "exported"},
    "imported": {"active": "active", "exported": "active"},
    "deactivated": {"active": "deactivated", "seized": "deactivated"},
    "corrected": {status: status for status in STATUSES},
}


def allowed_events(status: Status) -> list[EventKind]:
    """The events an item in ``status`` may receive, in the order of :data:`EVENTS`."""
    return [event for event in EVENTS if status in TRANSITIONS[event]]


def next_status(status: Status, event: EventKind) -> Status:
    """The status after ``event`` (a correction's possible revert is decided by the caller).

    Raises:
        ConflictError: code ``illegal-transition``, naming the current status and the allowed events.
    """
    after = TRANSITIONS[event].get(status)
    if after is None:
        raise ConflictError(
            f"an item that is {status} cannot be {event}; allowed: {', '.join(allowed_events(status))}",
            code="illegal-transition",
            current_status=status,
            event=event,
            allowed_events=allowed_events(status),
        )
    return after
