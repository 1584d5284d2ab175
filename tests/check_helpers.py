"""Helpers for the customs-check tests: licences as AT issues them and as CZ and DE receive them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from firearms import checks, db, item_events, items, licence_views, received
from firearms.check_records import CheckAnswer
from firearms.check_rules import CheckRequest
from firearms.item_types import NewEvent, NewItem, NewMarking
from firearms.licence_object import ImportAuthorisation, LicenceObject, Party
from firearms.store import licences as licence_store
from tests.licensing_helpers import LINES, TODAY, no_objection

NUMBER = "AT-EXP-2026-000123"


def check_body(movement: str = "transit", lines: list[dict[str, Any]] | None = None, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "check_id": str(uuid.uuid4()),
        "movement": movement,
        "licence_number": NUMBER,
        "issuing_state": "AT",
        "crossing_point": "CZ-Dolni Dvoriste",
        "shipment_id": None,
        "lines": lines
        if lines is not None
        else [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}, {"line": 2, "quantity": 800}],
    }
    body.update(changes)
    return body


async def clear_at_export(conn: db.Conn, number: str, lines: list[dict[str, Any]], **changes: Any) -> CheckAnswer:
    """A customs check at AT's exit that clears (:func:`firearms.checks.perform_check`), debiting licence ``number``."""
    body = check_body("export", lines=lines, licence_number=number, crossing_point="AT-Wullowitz", **changes)
    async with conn.transaction():
        answer = await checks.perform_check(
            conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    assert answer.verdict == "clear", answer.reasons
    return answer


def at_licence(**changes: Any) -> LicenceObject:
    """AT's export licence AT -> CZ -> DE as partners receive it by notice."""
    party = Party(name="Waffen Huber GmbH", country="AT", address="Hauptstraße 1, 4400 Steyr")
    consignee = Party(name="Jagdbedarf Müller KG", country="DE", address="Marktplatz 3, 94032 Passau")
    licence = LicenceObject(
        number=NUMBER,
        issuing_state="AT",
        kind="export",
        version=1,
        status="issued",
        issued_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        place_of_issue="Wien",
        issuing_authority="Bundesministerium für Inneres",
        valid_from=TODAY - dt.timedelta(days=1),
        expires_on=TODAY + dt.timedelta(days=300),
        exporting_state="AT",
        importing_state="DE",
        transit_states=["CZ"],
        exporter=party,
        consignee=consignee,
        final_recipient=consignee,
        brokers=[],
        import_authorisation=ImportAuthorisation(
            number="DE-IMP-2026-42",
            state="DE",
            issued_on=TODAY - dt.timedelta(days=5),
            expires_on=TODAY + dt.timedelta(days=360),
        ),
        purpose="commercial",
        lines=LINES,
    )
    return msgspec.structs.replace(licence, **changes)


async def receive(
    conn: db.Conn, licence: LicenceObject, *, state: str, consent: bool = True, authorised: bool = True
) -> licence_views.Licence:
    """Store AT's licence in the registry of ``state``; a transit State records its no-objection.

    The importing State (``authorised``) holds the import authorisation the licence names, issued by it and in
    force, as its entry check requires (Art. 10(2)(a)), unless it holds a licence under that number already.
    """
    async with conn.transaction():
        stored = await received.record_received(conn, licence, registry_state=state, actor="peer:AT")
        if consent and state in licence.transit_states:
            await no_objection(conn, stored.licence_id, state, actor="officer:cz")
    auth = licence.import_authorisation
    if (
        authorised
        and auth is not None
        and state == licence.importing_state == auth.state
        and await licence_store.find_licence(conn, state, auth.number) is None
    ):
        await authorise_import(
            conn, auth.number, issuing_state=state, importing_state=state, exporting_state=licence.exporting_state
        )
    return stored


def de_authorisation(number: str = "DE-IMP-2026-42", **changes: Any) -> LicenceObject:
    """DE's import authorisation for AT's rifles (Art. 10(2)(a)), as DE issues it and AT receives it."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    importer = Party(name="Jagdbedarf Müller KG", country="DE", address="Marktplatz 3, 94032 Passau")
    licence = at_licence(
        number=number,
        issuing_state="DE",
        kind="import",
        issued_at=now,
        place_of_issue="Berlin",
        issuing_authority="Bundesamt für Wirtschaft und Ausfuhrkontrolle",
        valid_from=TODAY - dt.timedelta(days=5),
        expires_on=TODAY + dt.timedelta(days=360),
        transit_states=[],
        exporter=Party(name="Waffen Huber GmbH", country="AT", address="Hauptstraße 1, 4400 Steyr"),
        consignee=importer,
        final_recipient=importer,
        import_authorisation=None,
    )
    return msgspec.structs.replace(licence, **changes)


async def authorise_import(
    conn: db.Conn, number: str = "DE-IMP-2026-42", *, status: str = "issued", **changes: Any
) -> uuid.UUID:
    """An import authorisation DE issued itself (``origin`` local) under ``number``, as it stands now; its id.

    Written with the store's own inserts: a licence issued here takes a number from the registry's counter, and the
    licence AT's test licence names carries a fixed one. ``changes`` go to :func:`de_authorisation`.
    """
    licence = de_authorisation(number, **changes)
    licence_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    content = msgspec.to_builtins(licence)
    content.pop("status")
    content.pop("version")
    async with conn.transaction():
        await licence_store.insert_licence(
            conn, licence_id, licence.issuing_state, number, licence.kind, "local", status, licence.valid_from,
            licence.expires_on, licence.exporting_state, licence.importing_state, [], now, "officer:test",
        )  # fmt: skip
        await licence_store.insert_licence_version(
            conn, licence_id, 1, content, None, None, None, [], None, now, "officer:test"
        )
    return licence_id


async def register_firearm(conn: db.Conn, serial: str, *, import_marking: str | None = None) -> int:
    """A Steyr rifle registered in this registry (with this State's import marking when given); its id."""
    markings = [NewMarking(kind="manufacture", stamped=f"STEYR AUSTRIA {serial}", serial=serial, country="AT")]
    if import_marking:
        markings.append(NewMarking(kind="import", stamped=f"{import_marking} 26", country=import_marking, year=2026))
    async with conn.transaction():
        detail = await items.register_item(
            conn,
            NewItem(
                kind="firearm",
                manufacturer="Steyr Mannlicher",
                country_of_manufacture="AT",
                serial=serial,
                firearm_type="rifle",
                make="Steyr Mannlicher",
                model="SSG 08",
                calibre=".308 Win",
                markings=markings,
            ),
            actor="officer:records",
            today=TODAY,
        )
    return detail.item_id


async def register_stolen(conn: db.Conn, serial: str) -> None:
    """A rifle with ``serial`` registered here and reported stolen: a check presenting it is held."""
    item_id = await register_firearm(conn, serial)
    async with conn.transaction():
        await item_events.record_event(
            conn, item_id, NewEvent(event="stolen", occurred_on=TODAY), actor="police", today=TODAY
        )
