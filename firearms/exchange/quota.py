"""A partner's quota on the notices stored from it (README "What one partner can make this registry store").

Per partner and UTC hour, at most so many notices and bytes of them (the canonical notice bytes stored): the
operator's bound for the partner (``peer.quota_notices``, ``peer.quota_bytes``), else the settings'
(``FIREARMS_PARTNER_QUOTA_NOTICES``, ``FIREARMS_PARTNER_QUOTA_BYTES``). The inbox checks it after checks 1-8 of
PROTOCOL §4, on what ``receive_context`` read under the sender's lock; the statement that stores the notice adds it
to the hour's row (``peer_quota_window``) before that lock is released. A refusal is counted on the same row, in a
transaction of its own: a flood of refused requests adds no row.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import TYPE_CHECKING, Any

import msgspec

from firearms import journal
from firearms.exchange.protocol import NoticeRefusedError, make_time
from firearms.settings import PARTNER_QUOTA_BYTES, PARTNER_QUOTA_NOTICES
from firearms.store import inbox as store

if TYPE_CHECKING:
    from firearms.db import Conn
    from firearms.settings import Settings

__all__ = ["DEFAULT_QUOTA", "QUOTA_WINDOW", "Quota", "QuotaExceededError", "check_quota", "record_refusal"]

log = logging.getLogger("firearms.exchange")


class Quota(msgspec.Struct, frozen=True, kw_only=True):
    """The most notices, and bytes of them, stored from one partner in a UTC hour (unless the partner has its own)."""

    notices: int = PARTNER_QUOTA_NOTICES
    bytes: int = PARTNER_QUOTA_BYTES

    @classmethod
    def of(cls, settings: Settings) -> Quota:
        """``FIREARMS_PARTNER_QUOTA_NOTICES`` and ``FIREARMS_PARTNER_QUOTA_BYTES``."""
        return cls(notices=settings.partner_quota_notices, bytes=settings.partner_quota_bytes)


DEFAULT_QUOTA = Quota()
QUOTA_WINDOW = dt.timedelta(hours=1)
"""A partner's quota counts the notices stored from it in one UTC hour (README "What one partner can make this
registry store")."""


class QuotaExceededError(NoticeRefusedError):
    """A notice that passed checks 1-8 would take its sender past its quota of the hour: refused, nothing stored."""

    def __init__(self, sender: str, *, moment: dt.datetime, window_start: dt.datetime, **facts: Any) -> None:
        window_end = window_start + QUOTA_WINDOW
        retry_after = max(1, math.ceil((window_end - moment).total_seconds()))
        super().__init__(
            "quota-exceeded",
            f"{sender} has sent as many notices this hour as this registry stores from one partner; send the same"
            f" notice again after {make_time(window_end)} (Retry-After)",
            retry_after=retry_after,
            window_start=make_time(window_start),
            window_end=make_time(window_end),
            **facts,
        )
        self.sender = sender
        self.moment = moment
        self.retry_after = retry_after


def check_quota(context: Any, sender: str, size: int, moment: dt.datetime, default: Quota) -> None:
    """The notice, counted with those stored from its sender this UTC hour, within the sender's quota.

    Read under the sender's lock (``receive_context``), which the statement storing the notice adds to before the
    lock is released: two receivers, in one process or several, cannot both take the last place.

    Raises:
        QuotaExceededError: one notice more, or its bytes, would pass the quota.
    """
    notices: int = context["quota_notices"] or default.notices
    size_bound: int = context["quota_bytes"] or default.bytes
    used: int = context["used_notices"]
    used_bytes: int = context["used_bytes"]
    if used < notices and used_bytes + size <= size_bound:
        return
    raise QuotaExceededError(
        sender,
        moment=moment,
        window_start=moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0),
        quota_notices=notices,
        quota_bytes=size_bound,
        used_notices=used,
        used_bytes=used_bytes,
    )


async def record_refusal(conn: Conn, refused: QuotaExceededError) -> None:
    """Count a refusal for the quota on the sender's row of the hour; the hour's first is journaled."""
    recorded_at, payload = journal.prepare(
        {key: refused.facts[key] for key in ("window_start", "window_end", "quota_notices", "quota_bytes")}
        | {"notices": refused.facts["used_notices"], "bytes": refused.facts["used_bytes"]}
    )
    refusals = await store.record_quota_refusal(conn, refused.sender, refused.moment, recorded_at, payload)
    if refusals == 1:
        log.warning(
            "%s reached its quota of notices an hour: refused until %s", refused.sender, refused.facts["window_end"]
        )
