"""Parties named on licences and the register of brokers (UN Firearms Protocol Art. 15).

A broker is registered with a registration number, a validity and a status; only an ``active``
broker whose registration is valid today may be named on a new licence or a new version. Any
other party with a validity (a dealer's or exporter's registration) must be valid today as well.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from firearms import journal
from firearms.countries import is_country
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.licence_object import CountryCode
from firearms.licence_object import Party as PartyObject
from firearms.store import parties as store
from firearms.text_rules import REASON, TEXT_PATTERN

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn

__all__ = [
    "PARTY_KINDS",
    "NewParty",
    "Party",
    "PartyKind",
    "PartyStatus",
    "StatusChange",
    "change_party_status",
    "create_party",
    "get_party",
    "list_parties",
    "parties_for_licence",
]

PartyKind = Literal[
    "manufacturer", "dealer", "broker", "exporter", "importer", "consignee", "final-recipient", "carrier"
]
PARTY_KINDS: tuple[PartyKind, ...] = (
    "manufacturer",
    "dealer",
    "broker",
    "exporter",
    "importer",
    "consignee",
    "final-recipient",
    "carrier",
)
PartyStatus = Literal["active", "suspended", "revoked"]
# Something besides white space, and no control character (a line feed, NEL, ESC): a party's name and address are
# printed on licences and sent to partners.
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=TEXT_PATTERN)]


class NewParty(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A party to register; a broker needs its registration number and the validity of its registration."""

    kind: PartyKind
    name: Text
    country: CountryCode
    address: Text
    registration: Text | None = None
    valid_from: dt.date | None = None
    expires_on: dt.date | None = None


class StatusChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A change of a party's register status, with the reason."""

    status: PartyStatus
    reason: REASON


class Party(msgspec.Struct, frozen=True, kw_only=True):
    """A registered party."""

    party_id: uuid.UUID
    kind: PartyKind
    name: str
    country: str
    address: str
    registration: str | None
    valid_from: dt.date | None
    expires_on: dt.date | None
    status: PartyStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    # A broker registered, before 20261129160200, under a number already in the register (differing only in
    # case or surrounding spaces): the party first registered under it (20261129211100). None for all others.
    registration_duplicate_of: uuid.UUID | None

    def as_licence_party(self) -> PartyObject:
        """The party as the licence object of PROTOCOL §5 names it."""
        return PartyObject(name=self.name, country=self.country, address=self.address, registration=self.registration)

    def usable_on(self, day: dt.date) -> bool:
        """Active, and its registration (when it has a validity) covers ``day``."""
        return (
            self.status == "active"
            and (self.valid_from is None or self.valid_from <= day)
            and (self.expires_on is None or day <= self.expires_on)
        )


def _party(row: asyncpg.Record) -> Party:
    return Party(**dict(row))


async def create_party(conn: Conn, data: NewParty, *, actor: str) -> Party:
    """Register a party (Art. 15 for brokers: registration number and validity are required).

    Raises:
        InvalidInputError: unknown country, a broker without registration or validity, expiry before start.
        ConflictError: the broker registration number is already in the register (compared without
            surrounding spaces and a-z case; the number is stored trimmed).
    """
    if not is_country(data.country):
        raise InvalidInputError(
            f"{data.country!r} is not an ISO 3166-1 alpha-2 country code", code="unknown-country", country=data.country
        )
    # The register knows a number once, however it was typed (the key also ignores a-z case).
    data = msgspec.structs.replace(data, registration=(data.registration or "").strip() or None)
    if data.kind == "broker" and (data.registration is None or data.valid_from is None or data.expires_on is None):
        raise InvalidInputError(
            "a broker is registered with its registration number, valid_from and expires_on (Art. 15)",
            code="broker-registration-incomplete",
        )
    if data.valid_from is not None and data.expires_on is not None and data.expires_on < data.valid_from:
        raise InvalidInputError("expires_on is before valid_from", code="invalid-validity")
    now = dt.datetime.now(dt.UTC)
    party_id = uuid.uuid4()
    row = await store.insert_party(
        conn,
        party_id,
        data.kind,
        data.name,
        data.country,
        data.address,
        data.registration,
        data.valid_from,
        data.expires_on,
        "active",
        now,
        actor,
    )
    await journal.record(
        conn, actor=actor, action="party.registered", entity="party", entity_id=str(party_id), payload=data
    )
    return _party(row)


async def change_party_status(conn: Conn, party_id: uuid.UUID, change: StatusChange, *, actor: str) -> Party:
    """Suspend, reinstate or revoke a party's registration; a revoked party stays revoked.

    Raises:
        NotFoundError: no such party.
        ConflictError: the party is revoked, or already has this status.
    """
    row = await store.get_party_for_update(conn, party_id)
    if row is None:
        raise NotFoundError(f"no party {party_id}", party_id=str(party_id))
    if row["status"] == "revoked" or row["status"] == change.status:
        raise ConflictError(
            f"party {party_id} is {row['status']}; it cannot become {change.status}",
            code="party-status-unchanged" if row["status"] == change.status else "party-revoked",
            party_status=row["status"],
        )
    updated = await store.update_party_status(conn, party_id, change.status, dt.datetime.now(dt.UTC))
    assert updated is not None  # noqa: S101  # locked above
    await journal.record(
        conn,
        actor=actor,
        action=f"party.{change.status}",
        entity="party",
        entity_id=str(party_id),
        payload={"from": row["status"], "to": change.status, "reason": change.reason},
    )
    return _party(updated)


async def get_party(conn: Conn, party_id: uuid.UUID) -> Party:
    """One party.

    Raises:
        NotFoundError: no such party.
    """
    row = await store.get_party(conn, party_id)
    if row is None:
        raise NotFoundError(f"no party {party_id}", party_id=str(party_id))
    return _party(row)


async def list_parties(
    conn: Conn, *, after: tuple[dt.datetime, uuid.UUID] | None, kind: str | None, limit: int
) -> list[Party]:
    """A page of parties in registration order."""
    return [_party(row) for row in await store.list_parties(conn, after, kind, limit)]


async def parties_for_licence(
    conn: Conn,
    *,
    exporter_id: uuid.UUID,
    consignee_id: uuid.UUID,
    final_recipient_id: uuid.UUID,
    broker_ids: list[uuid.UUID],
    today: dt.date,
    valid_from: dt.date,
    expires_on: dt.date,
) -> tuple[Party, Party, Party, list[Party]]:
    """Look up the parties a draft names and check they may appear on a licence today.

    Raises:
        InvalidInputError: ``party-not-found``, ``party-not-active`` (suspended, revoked, or outside
            the validity of its registration when it has one), ``broker-not-registered``
            (not in the broker register), ``broker-not-active`` (suspended, revoked, or outside
            its registration's validity) or ``registration-ends-before-licence`` (the licence's validity,
            ``valid_from`` to ``expires_on``, is not within the party's registration).
    """
    wanted = [exporter_id, consignee_id, final_recipient_id, *broker_ids]
    found = {row["party_id"]: _party(row) for row in await store.get_parties(conn, wanted)}
    for role, party_id in (
        ("exporter", exporter_id),
        ("consignee", consignee_id),
        ("final_recipient", final_recipient_id),
    ):
        party = found.get(party_id)
        if party is None:
            raise InvalidInputError(f"no party {party_id} ({role})", code="party-not-found", party_id=str(party_id))
        if not party.usable_on(today):
            raise InvalidInputError(
                f"party {party_id} ({role}) is {party.status} or outside its registration's validity",
                code="party-not-active",
                party_id=str(party_id),
                party_status=party.status,
            )
        _check_covers(party, role, valid_from, expires_on)
    brokers: list[Party] = []
    for broker_id in broker_ids:
        broker = found.get(broker_id)
        if broker is None or broker.kind != "broker":
            raise InvalidInputError(
                f"{broker_id} is not in the broker register (Art. 15)",
                code="broker-not-registered",
                party_id=str(broker_id),
            )
        if not broker.usable_on(today):
            raise InvalidInputError(
                f"broker {broker.registration} is {broker.status} or outside its registration's validity",
                code="broker-not-active",
                party_id=str(broker_id),
                party_status=broker.status,
            )
        _check_covers(broker, "broker", valid_from, expires_on)
        brokers.append(broker)
    return found[exporter_id], found[consignee_id], found[final_recipient_id], brokers


def _check_covers(party: Party, role: str, valid_from: dt.date, expires_on: dt.date) -> None:
    """A licence is not valid beyond the registration of a party it names (Art. 15 for brokers).

    DESIGN §3 holds an export licence within its import authorisation the same way: every day the licence may
    be used, the party is registered.
    """
    if (party.expires_on is not None and expires_on > party.expires_on) or (
        party.valid_from is not None and valid_from < party.valid_from
    ):
        raise InvalidInputError(
            f"the licence ({valid_from} to {expires_on}) runs outside the registration of party {party.party_id}"
            f" ({role}: {party.valid_from} to {party.expires_on})",
            code="registration-ends-before-licence",
            party_id=str(party.party_id),
            role=role,
            registration_valid_from=None if party.valid_from is None else party.valid_from.isoformat(),
            registration_expires_on=None if party.expires_on is None else party.expires_on.isoformat(),
            valid_from=valid_from.isoformat(),
            expires_on=expires_on.isoformat(),
        )
