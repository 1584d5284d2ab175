"""PROTOCOL §5, both directions: every body this registry emits has exactly the table's fields, with the JSON
types it gives (dates as ``YYYY-MM-DD``, times as RFC 3339 with ``Z``, ``null`` only where it says "or null"),
and every body it accepts is read by those names.

The emitted bodies are made by the real code paths (licensing transitions, the customs-check API, the
consent-decision API, key rotation) and read back from the outbox, where the worker signs them unchanged.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import uuid
from typing import Any, NamedTuple

import msgspec

from firearms import db, keys, licence_versions, licences
from firearms.exchange import bodies, rotation, trust
from firearms.exchange.effects.keys import KeyAnnounced, KeyRevoked
from firearms.settings import Settings
from tests.api.test_exchange_effects import _send, _token
from tests.check_helpers import authorise_import, check_body, register_firearm
from tests.exchange_fixtures import Client, cz, de
from tests.exchange_util import AT_KEY, VECTORS, WINDOW, current_licence, envelope, shipment_window
from tests.licensing_helpers import ACTOR, export_draft, issued_export, register_parties

__all__ = ["cz", "de"]


class Opt(NamedTuple):
    """A member the table marks optional (``registration``) or an additive optional field: absent or typed."""

    spec: Any


DATE, TIME, NULL = "date", "time", None
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

PARTY = {"name": str, "country": str, "address": str, "registration": Opt(str)}
LINE = {
    "line": int,
    "category": str,
    "type": str,
    "make": str,
    "model": str,
    "calibre": str,
    "quantity": int,
    "serials": [str],
    "description": str,
}
IMPORT_AUTHORISATION = {"number": str, "state": str, "issued_on": DATE, "expires_on": DATE}
LICENCE = {
    "number": str,
    "issuing_state": str,
    "kind": str,
    "version": int,
    "status": str,
    "issued_at": (TIME, NULL),  # null while pending (a consent request's licence)
    "place_of_issue": str,
    "issuing_authority": str,
    "valid_from": DATE,
    "expires_on": DATE,
    "exporting_state": str,
    "importing_state": str,
    "transit_states": [str],
    "exporter": PARTY,
    "consignee": PARTY,
    "final_recipient": PARTY,
    "brokers": [PARTY],
    "import_authorisation": (IMPORT_AUTHORISATION, NULL),  # an import licence rests on none
    "purpose": str,
    "lines": [LINE],
    "return_on": Opt(DATE),  # additive (Art. 10(6)), omitted when absent: README "Licensing"
}
ITEM = {"line": int, "quantity": int, "serials": [str]}

# PROTOCOL §5's table, transcribed.
TABLE: dict[str, dict[str, Any]] = {
    "import-authorisation.issued": {"licence": LICENCE},
    "transit-consent.requested": {"licence": LICENCE, "shipment_window": {"from": DATE, "to": DATE}},
    "transit-consent.decided": {
        "licence_number": str,
        "decision": str,
        "reason": (str, NULL),
        "valid_until": (DATE, NULL),
    },
    "export-licence.issued": {"licence": LICENCE},
    "licence.status-changed": {
        "licence_number": str,
        "issuing_state": str,
        "version": int,
        "status": str,
        "reason": str,
        "effective_at": TIME,
    },
    "shipment.dispatched": {"licence_number": str, "shipment_id": str, "dispatched_at": TIME, "items": [ITEM]},
    "transit.passage-recorded": {
        "licence_number": str,
        "issuing_state": str,
        "shipment_id": (str, NULL),
        "check_id": str,
        "verdict": str,
        "reasons": [str],
        "checked_at": TIME,
        "crossing_point": str,
        "items": [ITEM],
    },
    "receipt.confirmation-requested": {"licence_number": str, "shipment_id": str},
    "receipt.confirmed": {
        "licence_number": str,
        "shipment_id": str,
        "received_on": DATE,
        "customs_document": str,
        "items": [ITEM],
    },
    "registry.key-announced": {"key_id": str, "public_key": str, "not_before": TIME, "not_after": (TIME, NULL)},
    "registry.key-revoked": {"key_id": str, "revoked_at": TIME, "reason": str},
}


def _problems(value: Any, spec: Any, where: str) -> list[str]:  # noqa: PLR0911  # one branch per kind of spec
    """How ``value`` (decoded JSON) departs from ``spec``; empty when it conforms."""
    if isinstance(spec, tuple):
        found = [_problems(value, option, where) for option in spec]
        return [] if any(not problem for problem in found) else [f"{where}: {value!r} is none of {spec!r}"]
    if spec is None:
        return [] if value is None else [f"{where}: {value!r} is not null"]
    if spec in (DATE, TIME):
        pattern = _DATE if spec == DATE else _TIME
        return [] if isinstance(value, str) and pattern.match(value) else [f"{where}: {value!r} is not a {spec}"]
    if spec is int:
        return [] if type(value) is int else [f"{where}: {value!r} is not an integer"]
    if spec is str:
        return [] if isinstance(value, str) else [f"{where}: {value!r} is not a string"]
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: {value!r} is not a list"]
        return [problem for n, item in enumerate(value) for problem in _problems(item, spec[0], f"{where}[{n}]")]
    if not isinstance(value, dict):
        return [f"{where}: {value!r} is not an object"]
    required = {name for name, member in spec.items() if not isinstance(member, Opt)}
    problems = [f"{where}: missing {name}" for name in sorted(required - value.keys())]
    problems += [f"{where}: extra {name}" for name in sorted(value.keys() - spec.keys())]
    for name in value.keys() & spec.keys():
        member = spec[name]
        problems += _problems(value[name], member.spec if isinstance(member, Opt) else member, f"{where}.{name}")
    return problems


async def _emitted(conn: db.Conn) -> dict[str, list[dict[str, Any]]]:
    """The outbox's bodies by notice type, each checked against the table."""
    rows = await conn.fetch("SELECT type, body, in_reply_to FROM notice_outbox ORDER BY recipient, sequence")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        assert row["type"] in TABLE, row["type"]
        assert _problems(row["body"], TABLE[row["type"]], row["type"]) == []
        by_type.setdefault(row["type"], []).append({"body": row["body"], "in_reply_to": row["in_reply_to"]})
    return by_type


def test_the_checker_sees_a_missing_an_extra_and_a_mistyped_field() -> None:
    """The comparison the tests below rest on can fail."""
    good = {"licence_number": "N-1", "shipment_id": "S"}
    assert _problems(good, TABLE["receipt.confirmation-requested"], "b") == []
    assert _problems({"licence_number": "N-1"}, TABLE["receipt.confirmation-requested"], "b") == [
        "b: missing shipment_id"
    ]
    assert _problems(good | {"x": 1}, TABLE["receipt.confirmation-requested"], "b") == ["b: extra x"]
    decided = {"licence_number": "N", "decision": "objection", "reason": None, "valid_until": "2026-11-29T00:00:00Z"}
    assert _problems(decided, TABLE["transit-consent.decided"], "b") != []
    licence = VECTORS["notice"]["envelope"]["notice"]["body"]["licence"]
    assert _problems(licence, LICENCE, "l") == []
    assert _problems(licence | {"version": "1"}, LICENCE, "l") == ["l.version: '1' is not an integer"]


async def test_the_exporting_state_emits_the_tables_bodies(client: Client, conn: db.Conn, settings: Settings) -> None:
    """AT: consent request, issue, exit check, confirmation request, suspension, key rotation and its cancellation,
    and an import authorisation for goods from DE."""
    async with conn.transaction():
        for state, key in (("DE", "DE"), ("CZ", "OTHER")):
            await trust.add_peer(
                conn,
                own_state="AT",
                state=state,
                base_url=f"http://{state.lower()}.example",
                public_key=VECTORS["keys"][key]["public_key"],
                not_before=None,
                actor="test",
            )
    parties = await register_parties(conn)
    licence = await issued_export(conn, settings, parties)
    number = licence.licence.number
    customs = await _token(conn, "customs-officer")
    serials = licence.licence.lines[0].serials
    for serial in serials:
        await register_firearm(conn, serial)
    exit_check = check_body(
        "export",
        lines=[{"line": 1, "quantity": len(serials), "serials": list(serials)}],
        licence_number=number,
        crossing_point="AT-Wullowitz",
        shipment_id="SHP-1",
    )
    answer = await client.post("/api/v1/checks", json=exit_check, headers=customs)
    assert answer.json()["verdict"] == "clear", answer.text
    asked = await client.post(
        "/api/v1/shipments/confirmation-requests",
        json={"licence_number": number, "shipment_id": "SHP-1"},
        headers=customs,
    )
    assert asked.status_code == 202, asked.text
    async with conn.transaction():
        await licences.transition(
            conn, licence_id=licence.licence_id, to="suspended", actor=ACTOR, reason="inquiry", settings=settings
        )
    async with keys.key_transaction(conn, settings.home) as files:
        new = (await rotation.rotate(conn, files, actor="test")).key_id
    async with keys.key_transaction(conn, settings.home) as files:
        await rotation.cancel(conn, files, new, reason="abandoned", actor="test")
    imported = msgspec.structs.replace(
        export_draft(parties, kind="import", exporting_state="DE", importing_state="AT", route=["DE", "AT"]),
        import_authorisation=None,
    )
    async with conn.transaction():
        authorisation = await licence_versions.create_draft(conn, imported, settings=settings, actor=ACTOR)
        for status in ("pending", "issued"):
            await licences.transition(
                conn, licence_id=authorisation.licence_id, to=status, actor=ACTOR, reason="ok", settings=settings
            )

    emitted = await _emitted(conn)
    assert set(emitted) == {
        "transit-consent.requested",
        "export-licence.issued",
        "shipment.dispatched",
        "receipt.confirmation-requested",
        "licence.status-changed",
        "registry.key-announced",
        "registry.key-revoked",
        "import-authorisation.issued",
    }
    authorised = emitted["import-authorisation.issued"][0]["body"]["licence"]
    assert (authorised["kind"], authorised["status"], authorised["import_authorisation"]) == ("import", "issued", None)
    requested = emitted["transit-consent.requested"][0]["body"]["licence"]
    assert (requested["kind"], requested["status"], requested["issued_at"]) == ("export", "pending", None)
    issued = emitted["export-licence.issued"][0]["body"]["licence"]
    assert (issued["kind"], issued["status"]) == ("export", "issued")
    assert _problems(issued["issued_at"], TIME, "issued_at") == []  # null only while pending
    assert _problems(authorised["issued_at"], TIME, "issued_at") == []
    assert emitted["licence.status-changed"][0]["body"]["status"] == "suspended"


async def test_a_transit_state_emits_the_decision_and_the_passage(cz: tuple[Client, db.Conn]) -> None:
    """CZ: ``transit-consent.decided`` in reply to the request, then ``transit.passage-recorded``."""
    client, conn = cz
    licence = current_licence(VECTORS["notice"]["envelope"]["notice"]["body"]["licence"])
    pending = copy.deepcopy(licence) | {"status": "pending", "issued_at": None}
    window = shipment_window()
    valid_until = (WINDOW[1] + dt.timedelta(days=192)).isoformat()
    raw = envelope(
        AT_KEY,
        recipient="CZ",
        sequence=1,
        type_="transit-consent.requested",
        body={"licence": pending, "shipment_window": window},
    )
    assert (await client.post("/exchange/v1/notices", content=raw)).status_code == 202
    request_id = msgspec.json.decode(raw)["notice"]["id"]
    officer = await _token(conn, "licensing-officer")
    decided = await client.post(
        f"/api/v1/consent-requests/AT/{request_id}/decision",
        json={"decision": "no-objection", "valid_until": valid_until},
        headers=officer,
    )
    assert decided.status_code == 200, decided.text
    issued = envelope(AT_KEY, recipient="CZ", sequence=2, type_="export-licence.issued", body={"licence": licence})
    assert (await client.post("/exchange/v1/notices", content=issued)).status_code == 202
    customs = await _token(conn, "customs-officer")
    passage = await client.post("/api/v1/checks", json=check_body("transit"), headers=customs)
    assert passage.status_code == 200, passage.text

    emitted = await _emitted(conn)
    assert set(emitted) == {"transit-consent.decided", "transit.passage-recorded"}
    reply = emitted["transit-consent.decided"][0]
    assert reply["in_reply_to"] == request_id
    assert reply["body"] == {
        "licence_number": licence["number"],
        "decision": "no-objection",
        "reason": None,
        "valid_until": valid_until,
    }
    assert emitted["transit.passage-recorded"][0]["body"]["shipment_id"] is None  # "shipment_id" or null


async def test_an_importing_state_emits_the_receipt_confirmation(de: tuple[Client, db.Conn]) -> None:
    """DE: an entry check that clears sends ``receipt.confirmed``."""
    client, conn = de
    licence = current_licence(VECTORS["notice"]["envelope"]["notice"]["body"]["licence"])
    assert await _send(client, 1, "export-licence.issued", {"licence": licence}) == ("accepted", None)
    await authorise_import(conn, licence["import_authorisation"]["number"])  # DE gave the authorisation it names
    customs = await _token(conn, "customs-officer")
    entry = check_body("import", crossing_point="DE-Passau", shipment_id="SHP-9", check_id=str(uuid.uuid4()))
    answer = await client.post("/api/v1/checks", json=entry, headers=customs)
    assert answer.json()["verdict"] == "clear", answer.text
    emitted = await _emitted(conn)
    assert set(emitted) == {"receipt.confirmed"}
    assert emitted["receipt.confirmed"][0]["body"]["shipment_id"] == "SHP-9"


def _wire_names(struct: type[msgspec.Struct]) -> set[str]:
    return {field.encode_name for field in msgspec.structs.fields(struct)}


def test_the_accepted_bodies_are_read_by_the_tables_names() -> None:
    """The Structs the receiving effects decode each body into name exactly the table's fields."""
    readers: dict[str, type[msgspec.Struct]] = {
        "import-authorisation.issued": bodies.LicenceIssued,
        "transit-consent.requested": bodies.ConsentRequested,
        "transit-consent.decided": bodies.ConsentDecided,
        "export-licence.issued": bodies.LicenceIssued,
        "licence.status-changed": bodies.StatusChanged,
        "shipment.dispatched": bodies.ShipmentDispatched,
        "transit.passage-recorded": bodies.PassageRecorded,
        "receipt.confirmation-requested": bodies.ReceiptConfirmationRequested,
        "receipt.confirmed": bodies.ReceiptConfirmed,
        "registry.key-announced": KeyAnnounced,
        "registry.key-revoked": KeyRevoked,
    }
    assert readers.keys() == TABLE.keys()
    for notice_type, reader in readers.items():
        assert _wire_names(reader) == set(TABLE[notice_type]), notice_type
    assert _wire_names(bodies.ShipmentWindow) == {"from", "to"}
    assert _wire_names(bodies.ShipmentItem) == set(ITEM)
    from firearms.licence_object import ImportAuthorisation, LicenceLine, LicenceObject, Party  # noqa: PLC0415

    assert _wire_names(LicenceObject) == set(LICENCE)
    assert _wire_names(Party) == set(PARTY)
    assert _wire_names(LicenceLine) == set(LINE)
    assert _wire_names(ImportAuthorisation) == set(IMPORT_AUTHORISATION)


def test_accepted_dates_and_times_are_decoded_as_dates_and_times() -> None:
    """A body's date fields are dates and its time fields times when read (not strings passed along)."""
    confirmed = msgspec.json.decode(
        b'{"licence_number":"AT-1","shipment_id":"S","received_on":"2026-11-29","customs_document":"D","items":[]}',
        type=bodies.ReceiptConfirmed,
    )
    assert confirmed.received_on == dt.date(2026, 11, 29)
    changed = msgspec.json.decode(
        b'{"licence_number":"AT-1","issuing_state":"AT","version":2,"status":"revoked","reason":"r",'
        b'"effective_at":"2026-11-29T10:15:00Z"}',
        type=bodies.StatusChanged,
    )
    assert changed.effective_at == dt.datetime(2026, 11, 29, 10, 15, tzinfo=dt.UTC)


async def test_a_consent_request_whose_licence_is_not_pending_is_invalid_for_its_type(
    cz: tuple[Client, db.Conn],
) -> None:
    """PROTOCOL §5: ``transit-consent.requested`` carries ``<kind export, status pending>``.

    A request whose licence said ``issued`` was accepted and recorded that licence as issued in the transit
    State's tables: its officer's no-objection then let customs clear a transit on a licence no
    ``export-licence.issued`` had ever announced. It is stored ``rejected``, ``invalid-body``, and records
    nothing, as an ``export-licence.issued`` not ``issued`` is.
    """
    client, conn = cz
    licence = VECTORS["notice"]["envelope"]["notice"]["body"]["licence"]
    window = {"from": "2026-12-01", "to": "2026-12-20"}
    for sequence, status in enumerate(("issued", "suspended", "revoked"), 1):
        raw = envelope(
            AT_KEY,
            recipient="CZ",
            sequence=sequence,
            type_="transit-consent.requested",
            body={"licence": licence | {"status": status}, "shipment_window": window},
        )
        response = await client.post("/exchange/v1/notices", content=raw)
        assert response.status_code == 202
        receipt = msgspec.json.decode(response.content)["receipt"]
        assert (receipt["status"], receipt["reason"]) == ("rejected", "invalid-body"), status
    assert await conn.fetchval("SELECT count(*) FROM licence") == 0
    assert await conn.fetchval("SELECT count(*) FROM consent_request_received") == 0
    customs = await _token(conn, "customs-officer")
    answer = (await client.post("/api/v1/checks", json=check_body("transit"), headers=customs)).json()
    assert (answer["verdict"], [reason["code"] for reason in answer["reasons"]]) == ("refuse", ["licence-unknown"])


async def test_a_pending_licence_with_an_issue_time_is_taken_without_it(cz: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §5: ``pending`` is a licence not yet issued, but the licence object's ``issued_at`` has no "or null".

    This registry sends its requests with ``issued_at: null``; a partner built from PROTOCOL alone sends a time there
    (``tests/e2e/test_cleanroom_partner.py``). Such a request was stored ``rejected``, ``invalid-body``: that partner
    could never ask this State for transit consent. It is taken, and the licence recorded here carries no issue time
    while not issued (before the rejection, it carried the partner's, and kept it once issued); a request giving
    null is taken as before.
    """
    client, conn = cz
    licence = VECTORS["notice"]["envelope"]["notice"]["body"]["licence"]
    window = {"from": "2026-12-01", "to": "2026-12-20"}
    raw = envelope(
        AT_KEY,
        recipient="CZ",
        sequence=1,
        type_="transit-consent.requested",
        body={"licence": licence | {"status": "pending"}, "shipment_window": window},
    )
    response = await client.post("/exchange/v1/notices", content=raw)
    assert response.status_code == 202
    receipt = msgspec.json.decode(response.content)["receipt"]
    assert (receipt["status"], receipt["reason"]) == ("accepted", None)
    assert [tuple(row) for row in await conn.fetch("SELECT status, issued_at FROM licence")] == [("pending", None)]
    assert await conn.fetchval("SELECT count(*) FROM consent_request_received") == 1
    pending = licence | {"status": "pending", "issued_at": None, "version": 2}
    body = {"licence": pending, "shipment_window": window}
    raw = envelope(AT_KEY, recipient="CZ", sequence=2, type_="transit-consent.requested", body=body)
    receipt = msgspec.json.decode((await client.post("/exchange/v1/notices", content=raw)).content)["receipt"]
    assert (receipt["status"], receipt["reason"]) == ("accepted", None)


async def test_an_issued_licence_without_an_issue_time_is_invalid_for_its_type(de: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §5: an ``issued`` licence carries ``issued_at`` (Art. 10(3): its date of issue); null is for pending.

    ``export-licence.issued`` and ``import-authorisation.issued`` with ``issued_at: null`` were accepted and the
    licence stood here as issued with no issue time. Both are stored ``rejected``, ``invalid-body``, and record
    nothing.
    """
    client, conn = de
    licence = VECTORS["notice"]["envelope"]["notice"]["body"]["licence"]
    authorisation = licence | {
        "number": "AT-IMP-2026-7",
        "kind": "import",
        "exporting_state": "DE",
        "importing_state": "AT",
        "transit_states": [],
        "import_authorisation": None,
    }
    notices = (("export-licence.issued", licence), ("import-authorisation.issued", authorisation))
    for sequence, (notice_type, issued) in enumerate(notices, 1):
        assert await _send(client, sequence, notice_type, {"licence": issued | {"issued_at": None}}) == (
            "rejected",
            "invalid-body",
        ), notice_type
    assert await conn.fetchval("SELECT count(*) FROM foreign_licence") == 0
    assert await conn.fetchval("SELECT count(*) FROM licence") == 0
    for sequence, (notice_type, issued) in enumerate(notices, 3):
        assert await _send(client, sequence, notice_type, {"licence": issued}) == ("accepted", None), notice_type


async def test_a_revocation_without_a_reason_is_still_applied(de: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §5 gives ``licence.status-changed`` a ``"reason"`` without "or null" (``transit-consent.decided``
    has ``str or null``), and this registry always sends one; a partner's ``reason: null`` is still the issuing
    State's word that its licence is out of force.

    Judgement call: refused ``invalid-body``, a revocation would leave the licence usable here, and customs would
    clear on it until the partner mended its registry. It is applied, journaled without a reason.
    """
    client, conn = de
    licence = VECTORS["notice"]["envelope"]["notice"]["body"]["licence"]
    assert await _send(client, 1, "export-licence.issued", {"licence": licence}) == ("accepted", None)
    change = {
        "licence_number": licence["number"],
        "issuing_state": "AT",
        "version": 1,
        "status": "revoked",
        "reason": None,
        "effective_at": "2026-11-29T10:15:00Z",
    }
    assert await _send(client, 2, "licence.status-changed", change) == ("accepted", None)
    assert await conn.fetchval("SELECT status FROM foreign_licence") == "revoked"
    assert await conn.fetchval("SELECT status FROM licence") == "revoked"
