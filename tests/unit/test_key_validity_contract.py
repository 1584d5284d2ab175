"""PROTOCOL §1 at its edges: a key is valid for a notice when ``not_before <= created_at``, ``created_at <
not_after`` (if set) and it was not revoked at or before ``created_at``; retirement is not revocation."""

from __future__ import annotations

import datetime as dt

from firearms.exchange.checks import TrustedKey, key_validity

T = dt.datetime(2026, 11, 29, 10, 15, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


def _key(**validity: dt.datetime | None) -> TrustedKey:
    fields: dict[str, dt.datetime | None] = {"not_before": T - 10 * SECOND, "not_after": None, "revoked_at": None}
    fields.update(validity)
    return TrustedKey(key_id="0" * 32, public_key=bytes(32), **fields)  # type: ignore[arg-type]


def test_not_before_is_inclusive() -> None:
    assert key_validity(_key(not_before=T), T) is None
    assert key_validity(_key(not_before=T + SECOND), T) == "unknown-key"


def test_not_after_is_exclusive() -> None:
    assert key_validity(_key(not_after=T + SECOND), T) is None
    assert key_validity(_key(not_after=T), T) == "unknown-key"


def test_revoked_at_or_before_created_at_is_key_revoked() -> None:
    assert key_validity(_key(revoked_at=T), T) == "key-revoked"
    assert key_validity(_key(revoked_at=T - SECOND), T) == "key-revoked"
    assert key_validity(_key(revoked_at=T + SECOND), T) is None


def test_a_retired_key_still_verifies_what_it_signed_while_valid() -> None:
    """Retirement (``not_after`` in the past of the receiver's clock) is not revocation."""
    retired = _key(not_after=T + SECOND)
    assert key_validity(retired, T) is None  # whenever it is checked: the rule reads created_at, not now
