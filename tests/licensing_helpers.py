"""Helpers for the licensing tests: registered parties and a valid export draft (AT -> CZ -> DE)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest

from firearms import consents, db, licence_reads, licence_versions, licence_views, licences, parties
from firearms.errors import ConflictError
from firearms.licence_object import LicenceLine
from firearms.licence_rules import DraftImportAuthorisation, DraftLine, LicenceDraft
from firearms.parties import NewParty
from firearms.settings import Settings

TODAY = dt.datetime.now(dt.UTC).date()
ACTOR = "officer:test"


LINES = [
    LicenceLine(
        line=1,
        category="firearm",
        type="rifle",
        make="Steyr Mannlicher",
        model="SSG 08",
        calibre=".308 Win",
        quantity=2,
        serials=["SSG08-001", "SSG08-002"],
    ),
    LicenceLine(
        line=2, category="ammunition", type="cartridge", make="Hirtenberger", model="", calibre=".308 Win", quantity=800
    ),
]
"""Two rifles with serials and 800 cartridges: the consignment of the golden path (DESIGN §4)."""


class Parties(msgspec.Struct, kw_only=True):
    exporter: uuid.UUID
    consignee: uuid.UUID
    final_recipient: uuid.UUID
    broker: uuid.UUID


async def register_parties(conn: db.Conn) -> Parties:
    async with conn.transaction():
        exporter = await parties.create_party(
            conn,
            NewParty(kind="exporter", name="Waffen Huber GmbH", country="AT", address="Hauptstraße 1, 4400 Steyr"),
            actor=ACTOR,
        )
        consignee = await parties.create_party(
            conn,
            NewParty(kind="consignee", name="Jagdbedarf Müller KG", country="DE", address="Marktplatz 3, 94032 Passau"),
            actor=ACTOR,
        )
        broker = await parties.create_party(
            conn,
            NewParty(
                kind="broker",
                name="Broker AG",
                country="AT",
                address="Ring 1, Wien",
                registration="AT-BR-7",
                valid_from=TODAY - dt.timedelta(days=30),
                expires_on=TODAY + dt.timedelta(days=365),
            ),
            actor=ACTOR,
        )
    return Parties(
        exporter=exporter.party_id,
        consignee=consignee.party_id,
        final_recipient=consignee.party_id,
        broker=broker.party_id,
    )


def export_draft(p: Parties, **changes: Any) -> LicenceDraft:
    """A valid export draft AT -> CZ -> DE: two rifles with serials and 800 cartridges."""
    draft = LicenceDraft(
        kind="export",
        place_of_issue="Wien",
        issuing_authority="Bundesministerium für Inneres",
        valid_from=TODAY,
        expires_on=TODAY + dt.timedelta(days=300),
        exporting_state="AT",
        importing_state="DE",
        route=["AT", "CZ", "DE"],
        exporter_id=p.exporter,
        consignee_id=p.consignee,
        final_recipient_id=p.final_recipient,
        import_authorisation=DraftImportAuthorisation(
            number="DE-IMP-2026-42",
            state="DE",
            issued_on=TODAY - dt.timedelta(days=5),
            expires_on=TODAY + dt.timedelta(days=360),
        ),
        lines=[DraftLine(**msgspec.structs.asdict(line)) for line in LINES],
    )
    return msgspec.structs.replace(draft, **changes)


def draft_json(draft: LicenceDraft) -> Any:
    return msgspec.to_builtins(draft)


async def issue_unmet(conn: db.Conn, settings: Settings, licence_id: uuid.UUID) -> list[tuple[str, str | None]]:
    """Issuing (or reinstating) the licence is refused: the unmet gates, as (gate, State)."""
    with pytest.raises(ConflictError) as caught:
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=licence_id, to="issued", actor=ACTOR, reason="try", settings=settings
            )
    assert caught.value.code == "gates-unmet"
    return [(gate["gate"], gate["state"]) for gate in caught.value.facts["unmet"]]


async def no_objection(
    conn: db.Conn, licence_id: uuid.UUID, state: str, *, source: consents.Source = "officer", actor: str = ACTOR
) -> consents.TransitConsent:
    """``state``'s no-objection to the licence's current version, dated today, without a time limit."""
    current = await licence_reads.get_licence(conn, licence_id)
    return await consents.record_decision(
        conn,
        licence_id=licence_id,
        transit_state=state,
        decision="no-objection",
        decided_on=TODAY,
        valid_until=None,
        reason=None,
        source=source,
        actor=actor,
        today=TODAY,
        licence_version=current.licence.version,
        confidentiality="restricted" if source == "notice" else None,  # a received one carries its notice's level
    )


async def issued_export(conn: db.Conn, settings: Settings, p: Parties, **changes: Any) -> licence_views.Licence:
    """Draft, submit, record CZ's no-objection and issue: an issued export licence."""
    async with conn.transaction():
        lic = await licence_versions.create_draft(conn, export_draft(p, **changes), settings=settings, actor=ACTOR)
        await licences.transition(
            conn, licence_id=lic.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )
        for state in lic.licence.transit_states:
            await no_objection(conn, lic.licence_id, state)
        return await licences.transition(
            conn, licence_id=lic.licence_id, to="issued", actor=ACTOR, reason="gates hold", settings=settings
        )
