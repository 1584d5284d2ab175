"""Effects of the core notice types (PROTOCOL §5), received over HTTP and read back through the officer API."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

from firearms import db, item_events, items, tokens
from firearms.canonical import format_time, parse_time, utc_now
from firearms.exchange import trust
from firearms.exchange.protocol import decode_receipt
from firearms.item_types import NewEvent
from firearms.settings import Settings
from firearms.signing import SigningKey
from tests.check_helpers import authorise_import
from tests.db.test_items_store import rifle
from tests.exchange_fixtures import Client, cz, de
from tests.exchange_util import AT_KEY, DE_KEY, OTHER_KEY, TODAY, VECTORS, WINDOW, current_licence, envelope
from tests.licensing_helpers import issued_export, register_parties

__all__ = ["cz", "de"]

LICENCE: dict[str, Any] = current_licence(VECTORS["notice"]["envelope"]["notice"]["body"]["licence"])


async def _token(conn: db.Conn, role: tokens.Role) -> dict[str, str]:
    secret, _ = await tokens.create_token(conn, role=role, name=f"test {role}", actor="test")
    return {"Authorization": f"Bearer {secret}"}


async def _send(
    client: Client, sequence: int, type_: str, body: dict[str, Any], **extra: Any
) -> tuple[str, str | None]:
    key = extra.pop("key", AT_KEY)
    raw = envelope(key, recipient=extra.pop("recipient", "DE"), sequence=sequence, type_=type_, body=body, **extra)
    response = await client.post("/exchange/v1/notices", content=raw)
    assert response.status_code == 202, response.text
    receipt = decode_receipt(response.content).receipt
    return receipt.status, receipt.reason


async def _confirm(client: Client, sequence: int, number: str, items: list[dict[str, Any]]) -> tuple[str, str | None]:
    """DE confirms to AT the receipt of ``items`` of SHP-1 under AT's licence ``number``: the receipt's verdict."""
    body = {
        "licence_number": number,
        "shipment_id": "SHP-1",
        "received_on": "2026-11-29",
        "customs_document": "ATB-2026-1",
        "items": items,
    }
    return await _send(client, sequence, "receipt.confirmed", body, sender="DE", recipient="AT", key=DE_KEY)


def _licence(**changes: Any) -> dict[str, Any]:
    licence = copy.deepcopy(LICENCE)
    licence.update(changes)
    return licence


async def test_export_licence_is_stored_and_a_later_version_supersedes(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    customs = await _token(conn, "customs-officer")
    response = await client.get("/api/v1/foreign-licences/AT/AT-EXP-2026-000123", headers=customs)
    assert response.status_code == 200
    stored = response.json()
    assert (stored["kind"], stored["version"], stored["status"], stored["confidentiality"]) == (
        "export",
        1,
        "issued",
        "restricted",
    )
    assert stored["licence"] == LICENCE
    amended = _licence(version=2, extra_field_from_the_future="kept")
    assert await _send(client, 2, "export-licence.issued", {"licence": amended}) == ("accepted", None)
    assert await _send(client, 3, "export-licence.issued", {"licence": LICENCE}) == ("rejected", "stale-version")
    response = await client.get("/api/v1/foreign-licences/AT/AT-EXP-2026-000123", headers=customs)
    assert response.json()["version"] == 2
    assert response.json()["licence"]["extra_field_from_the_future"] == "kept"
    listed = await client.get("/api/v1/foreign-licences?kind=export", headers=customs)
    assert [item["number"] for item in listed.json()["items"]] == ["AT-EXP-2026-000123"]


async def test_same_version_with_other_content_is_rejected(de: tuple[Client, db.Conn]) -> None:
    client, _ = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    assert await _send(client, 2, "export-licence.issued", {"licence": _licence(place_of_issue="Linz")}) == (
        "rejected",
        "version-conflict",
    )


async def test_invalid_or_foreign_licence_bodies_are_rejected(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": _licence(kind="import")}) == (
        "rejected",
        "invalid-body",
    )
    assert await _send(client, 2, "export-licence.issued", {"licence": _licence(issuing_state="FR")}) == (
        "rejected",
        "not-issuer",
    )
    assert await _send(client, 3, "export-licence.issued", {"nothing": 1}) == ("rejected", "invalid-body")
    # a version beyond the stored integer was a 500 on every retry, and the sender's queue to us stalled
    assert await _send(client, 4, "export-licence.issued", {"licence": _licence(version=2**31)}) == (
        "rejected",
        "invalid-body",
    )
    assert await _send(client, 5, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    assert await conn.fetchval("SELECT count(*) FROM foreign_licence") == 1
    assert await conn.fetchval("SELECT count(*) FROM notice_inbox WHERE status = 'rejected'") == 4


async def test_an_effect_the_database_refuses_is_stored_rejected_and_the_queue_moves_on(
    de: tuple[Client, db.Conn],
) -> None:
    client, conn = de
    # A constraint stands for any value a body's type allows but the database refuses: without the
    # safety net each retry was a 500, and the sender's queue to us stalled behind the notice.
    await conn.execute("ALTER TABLE foreign_licence ADD CONSTRAINT test_refused CHECK (number <> 'AT-EXP-2026-9')")
    await conn.execute("ALTER TABLE shipment_record ADD CONSTRAINT test_refused CHECK (shipment_id <> 'S-9')")
    refused = _licence(number="AT-EXP-2026-9")
    assert await _send(client, 1, "export-licence.issued", {"licence": refused}) == ("rejected", "cannot-apply")
    assert await _send(client, 2, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    dispatched = {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "S-9",
        "dispatched_at": "2026-11-29T08:00:00Z",
        "items": [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}],
    }  # shipment.dispatched runs without a savepoint (checks first): the whole transaction failed
    assert await _send(client, 3, "shipment.dispatched", dispatched) == ("rejected", "cannot-apply")
    assert await _send(client, 4, "shipment.dispatched", dispatched | {"shipment_id": "S-10"}) == ("accepted", None)
    assert await conn.fetchval("SELECT array_agg(number) FROM foreign_licence") == ["AT-EXP-2026-000123"]
    assert await conn.fetchval("SELECT array_agg(shipment_id) FROM shipment_record") == ["S-10"]
    stored = await conn.fetch("SELECT sequence, status, reason FROM notice_inbox ORDER BY sequence")
    assert [tuple(row) for row in stored] == [
        (1, "rejected", "cannot-apply"),
        (2, "accepted", None),
        (3, "rejected", "cannot-apply"),
        (4, "accepted", None),
    ]


async def test_import_authorisation_is_stored(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    authorisation = _licence(
        number="AT-IMP-2026-7",
        kind="import",
        exporting_state="DE",
        importing_state="AT",
        transit_states=[],
        import_authorisation=None,
    )
    assert await _send(client, 1, "import-authorisation.issued", {"licence": authorisation}) == ("accepted", None)
    assert await conn.fetchval("SELECT kind FROM foreign_licence WHERE number = 'AT-IMP-2026-7'") == "import"


async def test_a_licence_is_taken_only_from_the_state_that_issues_it_by_a_state_with_a_part_in_it(
    de: tuple[Client, db.Conn],
) -> None:
    client, conn = de
    # AT cannot issue an export licence for goods leaving CZ: DE's customs would take it for CZ's authorisation
    from_cz = _licence(number="AT-EXP-2026-8", exporting_state="CZ", transit_states=["AT"])
    assert await _send(client, 1, "export-licence.issued", {"licence": from_cz}) == ("rejected", "not-issuer")
    # an import authorisation comes from the importing State (here the licence says DE imports)
    backwards = _licence(number="AT-IMP-2026-9", kind="import", transit_states=[], import_authorisation=None)
    assert await _send(client, 2, "import-authorisation.issued", {"licence": backwards}) == ("rejected", "not-issuer")
    # a licence AT -> PL names DE nowhere
    elsewhere = _licence(
        number="AT-EXP-2026-10",
        importing_state="PL",
        transit_states=["SK"],
        import_authorisation=LICENCE["import_authorisation"] | {"state": "PL"},
    )
    assert await _send(client, 3, "export-licence.issued", {"licence": elsewhere}) == ("rejected", "not-on-route")
    assert await conn.fetchval("SELECT count(*) FROM foreign_licence") == 0
    assert await conn.fetchval("SELECT count(*) FROM licence") == 0


async def test_status_change_applies_at_once(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    change = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "version": 1,
        "status": "revoked",
        "reason": "exporter's licence withdrawn",
        "effective_at": format_time(utc_now()),
    }
    assert await _send(client, 1, "licence.status-changed", change) == ("rejected", "unknown-licence")
    assert await _send(client, 2, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    assert await _send(client, 3, "licence.status-changed", change) == ("accepted", None)
    row = await conn.fetchrow("SELECT status, status_reason FROM foreign_licence")
    assert row is not None
    assert (row["status"], row["status_reason"]) == ("revoked", "exporter's licence withdrawn")


async def test_a_status_change_carries_only_a_status_a_licence_can_be_moved_to(de: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §5: ``pending`` is a licence not yet issued (a consent request's); ``licence.status-changed``
    moves an issued licence, so ``pending`` -- or a status the protocol does not know -- is invalid for its type.

    Before, ``pending`` was applied: the received licence went back to pending in both copies. Each status the
    notice may carry is applied (in an order a licence can follow), and a rejected one changes nothing.
    """
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    change = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "version": 1,
        "status": "pending",
        "reason": "back to the drawing board",
        "effective_at": format_time(utc_now()),
    }
    events = await conn.fetchval("SELECT count(*) FROM licence_event")
    sequence = 1
    for status in ("pending", "draft", "cancelled", "PENDING", ""):
        sequence += 1
        assert await _send(client, sequence, "licence.status-changed", change | {"status": status}) == (
            "rejected",
            "invalid-body",
        ), status
        assert await conn.fetchval("SELECT status FROM foreign_licence") == "issued"
        assert await conn.fetchval("SELECT status FROM licence") == "issued"
    assert await conn.fetchval("SELECT count(*) FROM licence_event") == events
    for status in ("suspended", "issued", "suspended", "revoked"):
        sequence += 1
        assert await _send(client, sequence, "licence.status-changed", change | {"status": status}) == (
            "accepted",
            None,
        ), status
        assert await conn.fetchval("SELECT status FROM foreign_licence") == status
        assert await conn.fetchval("SELECT status FROM licence") == status
    for final in ("expired", "exhausted"):  # applied to a licence in force, as PROTOCOL §5 lists them
        number = f"AT-EXP-2026-{final.upper()}"
        sequence += 1
        assert await _send(client, sequence, "export-licence.issued", {"licence": _licence(number=number)}) == (
            "accepted",
            None,
        )
        sequence += 1
        assert await _send(
            client, sequence, "licence.status-changed", change | {"licence_number": number, "status": final}
        ) == ("accepted", None)
        assert await conn.fetchval("SELECT status FROM licence WHERE number = $1", number) == final


async def test_a_time_in_a_body_that_is_not_a_protocol_time_is_rejected(de: tuple[Client, db.Conn]) -> None:
    """PROTOCOL §2: times are UTC with second precision and a ``Z``; a body with another form is invalid for its type.

    Before, msgspec's RFC 3339 parser took a time without zone (stored as it came), an offset, a fraction of a
    second or lower-case letters, and the notice was accepted.
    """
    client, conn = de
    for sequence, issued_at in enumerate(
        ["2026-11-28T10:00:00", "2026-11-28T11:00:00+01:00", "2026-11-28T10:00:00.5Z", "2026-11-28t10:00:00z"], 1
    ):
        assert await _send(client, sequence, "export-licence.issued", {"licence": _licence(issued_at=issued_at)}) == (
            "rejected",
            "invalid-body",
        ), issued_at
    assert await conn.fetchval("SELECT count(*) FROM foreign_licence") == 0
    assert await conn.fetchval("SELECT count(*) FROM licence") == 0
    assert await _send(client, 5, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    change = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "version": 1,
        "status": "suspended",
        "reason": "inquiry",
        "effective_at": "2026-11-29T10:15:00+00:00",
    }
    assert await _send(client, 6, "licence.status-changed", change) == ("rejected", "invalid-body")
    dispatched = {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "SHP-1",
        "dispatched_at": "2026-11-29 08:00:00Z",
        "items": [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}],
    }
    assert await _send(client, 7, "shipment.dispatched", dispatched) == ("rejected", "invalid-body")
    assert await conn.fetchval("SELECT status FROM foreign_licence") == "issued"
    assert await conn.fetchval("SELECT count(*) FROM shipment_dispatch") == 0
    assert await _send(client, 8, "licence.status-changed", change | {"effective_at": "2026-11-29T10:15:00Z"}) == (
        "accepted",
        None,
    )


async def test_a_licence_contradicting_itself_is_an_invalid_body_whatever_notice_carries_it(
    de: tuple[Client, db.Conn],
) -> None:
    """PROTOCOL §4: a body invalid for its type is ``invalid-body``; ``cannot-apply`` is for one valid but not
    applicable here. A licence object that contradicts itself is invalid before anything held here is looked at.

    Before, a validity ending before it began reached the database's check and was answered ``cannot-apply``;
    the others were taken, in ``foreign_licence`` and the licensing tables alike.
    """
    client, conn = de
    auth = LICENCE["import_authorisation"]
    line = LICENCE["lines"][0]
    contradicting = {
        "validity ending before it begins": _licence(
            valid_from=LICENCE["expires_on"], expires_on=LICENCE["valid_from"]
        ),
        "an import authorisation expiring before its issue": _licence(
            import_authorisation=auth
            | {"issued_on": (dt.date.fromisoformat(auth["expires_on"]) + dt.timedelta(days=12)).isoformat()}
        ),
        "an import authorisation of another State": _licence(import_authorisation=auth | {"state": "FR"}),
        "a route naming the importing State twice": _licence(transit_states=["CZ", "DE"]),
        "a route naming the exporting State twice": _licence(transit_states=["AT", "CZ"]),
        "a transit State named twice": _licence(transit_states=["CZ", "CZ"]),
        "an export to the exporting State": _licence(importing_state="AT", transit_states=["DE"]),
        "a line of 3 firearms listing 2 serials": _licence(lines=[line | {"quantity": 3}]),
    }
    sequence = 0
    for name, licence in contradicting.items():
        for type_, body in (
            ("export-licence.issued", {"licence": licence}),
            ("transit-consent.requested", _request(licence | {"status": "pending", "issued_at": None})),
        ):
            sequence += 1
            assert await _send(client, sequence, type_, body) == ("rejected", "invalid-body"), (name, type_)
    assert await conn.fetchval("SELECT count(*) FROM foreign_licence") == 0
    assert await conn.fetchval("SELECT count(*) FROM licence") == 0
    assert await conn.fetchval("SELECT count(*) FROM consent_request_received") == 0
    ammunition = _licence(lines=[line | {"category": "ammunition", "quantity": 800, "serials": []}])
    assert await _send(client, sequence + 1, "export-licence.issued", {"licence": ammunition}) == ("accepted", None)
    unknown_serials = _licence(number="AT-EXP-2026-000124", lines=[line | {"serials": []}])
    assert await _send(client, sequence + 2, "export-licence.issued", {"licence": unknown_serials}) == (
        "accepted",
        None,
    )


async def test_a_licence_naming_a_line_number_twice_is_rejected(de: tuple[Client, db.Conn]) -> None:
    """Lines are known by their number (shipment items name them); two lines under one number are refused.

    Before, both were kept in ``foreign_licence`` (what officers read) while the licensing tables, keyed by
    line, kept the last one (what customs checks read): the two copies of the licence disagreed, and customs
    refused the rifles of line 1 as not on the licence.
    """
    rifles, cartridges = LICENCE["lines"]
    twice = _licence(lines=[rifles, cartridges | {"line": 1}])
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": twice}) == ("rejected", "duplicate-line")
    assert await conn.fetchval("SELECT count(*) FROM foreign_licence") == 0
    assert await conn.fetchval("SELECT count(*) FROM licence") == 0
    assert await _send(client, 2, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    later = _licence(version=2, lines=[rifles, cartridges | {"line": 1}])
    assert await _send(client, 3, "export-licence.issued", {"licence": later}) == ("rejected", "duplicate-line")
    assert await conn.fetchval("SELECT version FROM foreign_licence") == 1


async def test_a_consent_request_naming_a_line_number_twice_is_rejected(cz: tuple[Client, db.Conn]) -> None:
    """The same for the licence a transit-consent request carries (recorded as received, pending)."""
    rifles, cartridges = LICENCE["lines"]
    client, conn = cz
    pending = _licence(status="pending", issued_at=None, lines=[rifles, cartridges | {"line": 1}])
    assert await _send(client, 1, "transit-consent.requested", _request(pending), recipient="CZ") == (
        "rejected",
        "duplicate-line",
    )
    assert await conn.fetchval("SELECT count(*) FROM consent_request_received") == 0
    assert await conn.fetchval("SELECT count(*) FROM licence") == 0


async def test_a_status_change_more_confidential_than_its_licence_raises_the_licence_level(
    de: tuple[Client, db.Conn],
) -> None:
    """Art. 12(5): the status change's reason is kept on the received licence, so the record takes its level too.

    Before, a confidential revocation (its reason naming an investigation) was shown on a licence still marked
    restricted; a later public change does not lower it. A new version is its own notice's content and level.
    """
    client, conn = de
    change = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "version": 1,
        "status": "suspended",
        "reason": "exporter under investigation",
        "effective_at": "2026-11-29T10:15:00Z",
    }
    customs = await _token(conn, "customs-officer")
    url = "/api/v1/foreign-licences/AT/AT-EXP-2026-000123"
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    assert (await client.get(url, headers=customs)).json()["confidentiality"] == "restricted"
    assert await _send(client, 2, "licence.status-changed", change, confidentiality="confidential") == (
        "accepted",
        None,
    )
    stored = (await client.get(url, headers=customs)).json()
    assert (stored["status_reason"], stored["confidentiality"]) == ("exporter under investigation", "confidential")
    revoked = change | {"status": "revoked", "reason": "exporter convicted"}
    assert await _send(client, 3, "licence.status-changed", revoked, confidentiality="public") == ("accepted", None)
    assert (await client.get(url, headers=customs)).json()["confidentiality"] == "confidential"


async def test_a_licence_is_put_back_in_force_only_in_the_version_held_here(de: tuple[Client, db.Conn]) -> None:
    """``licence.status-changed`` ``issued`` names a version; it reinstates that version, not an older one held here.

    The amendment made while suspended (fewer goods, a serial taken out) was rejected here; the reinstatement of
    version 2 then put version 1 back in force, and customs cleared goods against content the issuing State had
    amended. It is rejected ``licence-version-unknown`` (``stale-version`` for a version behind the one held);
    the licence stays suspended. A change that takes a licence out of force applies whatever version it names.
    """
    client, conn = de
    rifles, cartridges = LICENCE["lines"]
    change = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "version": 1,
        "status": "suspended",
        "reason": "serial SSG08-002 reported stolen",
        "effective_at": "2026-11-29T10:15:00Z",
    }
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    assert await _send(client, 2, "licence.status-changed", change) == ("accepted", None)
    amended = _licence(version=2, lines=[rifles, cartridges | {"line": 1}])  # refused here (duplicate-line)
    assert await _send(client, 3, "export-licence.issued", {"licence": amended}) == ("rejected", "duplicate-line")
    reinstated = change | {"version": 2, "status": "issued", "reason": "inquiry closed"}
    assert await _send(client, 4, "licence.status-changed", reinstated) == ("rejected", "licence-version-unknown")
    assert await conn.fetchval("SELECT status FROM foreign_licence") == "suspended"
    assert await conn.fetchval("SELECT status FROM licence") == "suspended"
    behind = reinstated | {"version": 1}
    assert await _send(client, 5, "licence.status-changed", behind) == ("accepted", None)  # the version held
    assert await conn.fetchval("SELECT status FROM foreign_licence") == "issued"
    revoked = change | {"version": 3, "status": "revoked"}
    assert await _send(client, 6, "licence.status-changed", revoked) == ("accepted", None)
    assert await conn.fetchval("SELECT status FROM licence") == "revoked"


async def test_shipment_notices_update_the_shipment_record(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    items = [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}, {"line": 2, "quantity": 800}]
    dispatched = {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "SHP-1",
        "dispatched_at": "2026-11-29T08:00:00Z",
        "items": items,
    }
    assert await _send(client, 1, "shipment.dispatched", dispatched) == ("rejected", "unknown-licence")
    assert await _send(client, 2, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    assert await _send(client, 3, "shipment.dispatched", dispatched) == ("accepted", None)
    passage = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "shipment_id": "SHP-1",
        "check_id": "6f1c0000-0000-4000-8000-000000000001",
        "verdict": "clear",
        "reasons": [],
        "checked_at": "2026-11-29T09:00:00Z",
        "crossing_point": "CZ-Dolni Dvoriste",
        "items": items,
    }
    await _trust(conn, "DE", "CZ", "OTHER")
    assert await _send(client, 1, "transit.passage-recorded", passage, sender="CZ", key=OTHER_KEY) == (
        "accepted",
        None,
    )
    asked = {"licence_number": "AT-EXP-2026-000123", "shipment_id": "SHP-1"}
    assert await _send(client, 4, "receipt.confirmation-requested", asked) == ("accepted", None)
    customs = await _token(conn, "customs-officer")
    response = await client.get("/api/v1/shipments/AT/SHP-1", headers=customs)
    assert response.status_code == 200
    shipment = response.json()
    assert shipment["dispatched_at"] == "2026-11-29T08:00:00Z"
    assert shipment["items"][0]["serials"] == ["SSG08-001", "SSG08-002"]
    assert shipment["confirmation_requested_at"] is not None
    assert [(p["recorded_by"], p["verdict"]) for p in shipment["passages"]] == [("CZ", "clear")]


async def test_a_shipment_dispatched_in_two_parts_keeps_the_items_of_both(de: tuple[Client, db.Conn]) -> None:
    # The consignment crossed AT's exit in two trucks: two clear exit checks under shipment SHP-1, so two
    # shipment.dispatched. DE's record kept only the second truck's items, and its customs expected half.
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    first_truck = {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "SHP-1",
        "dispatched_at": "2026-11-29T08:00:00Z",
        "items": [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 500}],
    }
    second_truck = first_truck | {
        "dispatched_at": "2026-11-29T10:00:00Z",
        "items": [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}, {"line": 2, "quantity": 300}],
    }
    raw = envelope(AT_KEY, sequence=2, type_="shipment.dispatched", body=first_truck)
    assert (await client.post("/exchange/v1/notices", content=raw)).status_code == 202
    # the same notice delivered again (a receipt lost on the way back) adds nothing
    assert (await client.post("/exchange/v1/notices", content=raw)).status_code == 200
    assert await _send(client, 3, "shipment.dispatched", second_truck) == ("accepted", None)
    customs = await _token(conn, "customs-officer")
    shipment = (await client.get("/api/v1/shipments/AT/SHP-1", headers=customs)).json()
    assert shipment["items"] == [
        {"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]},
        {"line": 2, "quantity": 800, "serials": []},
    ]
    assert shipment["dispatched_at"] == "2026-11-29T10:00:00Z"  # the last part left then
    assert [(part["dispatched_at"], part["items"]) for part in shipment["dispatches"]] == [
        (
            "2026-11-29T08:00:00Z",
            [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 500, "serials": []}],
        ),
        (
            "2026-11-29T10:00:00Z",
            [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}, {"line": 2, "quantity": 300, "serials": []}],
        ),
    ]
    url = "/api/v1/shipments?issuing_state=AT&licence_number=AT-EXP-2026-000123"
    listed = (await client.get(url, headers=customs)).json()["items"]
    assert [(item["shipment_id"], item["items"]) for item in listed] == [("SHP-1", shipment["items"])]
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'shipment.dispatched'") == 2
    # a dispatch under the same shipment id naming another licence is not mixed into this one
    other = _licence(number="AT-EXP-2026-000124")
    assert await _send(client, 4, "export-licence.issued", {"licence": other}) == ("accepted", None)
    elsewhere = second_truck | {"licence_number": "AT-EXP-2026-000124"}
    assert await _send(client, 5, "shipment.dispatched", elsewhere) == ("rejected", "shipment-licence-mismatch")
    again = (await client.get("/api/v1/shipments/AT/SHP-1", headers=customs)).json()
    assert (again["licence_number"], again["items"]) == ("AT-EXP-2026-000123", shipment["items"])


async def test_a_shipment_record_keeps_the_strictest_confidentiality_of_its_notices(de: tuple[Client, db.Conn]) -> None:
    """Art. 12(5), PROTOCOL §3: the level is kept with the record; one built of several notices has the strictest.

    Before, the record kept the level of its first notice: a public first truck, then a confidential second
    one, and the record holding both trucks' serials said ``public``.
    """
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    first_truck = {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "SHP-1",
        "dispatched_at": "2026-11-29T08:00:00Z",
        "items": [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}],
    }
    second_truck = first_truck | {
        "dispatched_at": "2026-11-29T10:00:00Z",
        "items": [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}],
    }
    customs = await _token(conn, "customs-officer")

    async def level() -> str:
        level: str = (await client.get("/api/v1/shipments/AT/SHP-1", headers=customs)).json()["confidentiality"]
        return level

    assert await _send(client, 2, "shipment.dispatched", first_truck, confidentiality="public") == ("accepted", None)
    assert await level() == "public"
    assert await _send(client, 3, "shipment.dispatched", second_truck, confidentiality="confidential") == (
        "accepted",
        None,
    )
    assert await level() == "confidential"
    asked = {"licence_number": "AT-EXP-2026-000123", "shipment_id": "SHP-1"}
    assert await _send(client, 4, "receipt.confirmation-requested", asked, confidentiality="public") == (
        "accepted",
        None,
    )
    assert await level() == "confidential"  # never lowered
    asked_too = asked | {"shipment_id": "SHP-2"}
    assert await _send(client, 5, "receipt.confirmation-requested", asked_too, confidentiality="public") == (
        "accepted",
        None,
    )
    third_truck = first_truck | {"shipment_id": "SHP-2"}
    assert await _send(client, 6, "shipment.dispatched", third_truck, confidentiality="restricted") == (
        "accepted",
        None,
    )
    shipment = (await client.get("/api/v1/shipments/AT/SHP-2", headers=customs)).json()
    assert shipment["confidentiality"] == "restricted"


async def test_shipments_under_a_licence_are_listed_a_page_at_a_time(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    other = _licence(number="AT-EXP-2026-000124")
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    assert await _send(client, 2, "export-licence.issued", {"licence": other}) == ("accepted", None)
    sequence = 3
    for number, shipment_id in [
        ("AT-EXP-2026-000123", "SHP-2"),
        ("AT-EXP-2026-000124", "SHP-9"),
        ("AT-EXP-2026-000123", "SHP-1"),
    ]:
        dispatched = {
            "licence_number": number,
            "shipment_id": shipment_id,
            "dispatched_at": "2026-11-29T08:00:00Z",
            "items": [{"line": 2, "quantity": 10}],
        }
        assert await _send(client, sequence, "shipment.dispatched", dispatched) == ("accepted", None)
        sequence += 1
    customs = await _token(conn, "customs-officer")
    url = "/api/v1/shipments?issuing_state=AT&licence_number=AT-EXP-2026-000123&limit=1"
    first = (await client.get(url, headers=customs)).json()
    assert [item["shipment_id"] for item in first["items"]] == ["SHP-1"]
    assert first["items"][0]["items"] == [{"line": 2, "quantity": 10, "serials": []}]
    second = (await client.get(f"{url}&after={first['next']}", headers=customs)).json()
    assert [item["shipment_id"] for item in second["items"]] == ["SHP-2"]
    assert second["next"] is None
    missing = await client.get("/api/v1/shipments?issuing_state=AT", headers=customs)
    assert missing.status_code == 400
    assert missing.headers["content-type"].startswith("application/problem+json")
    garbage = await client.get(f"{url}&after=not-a-cursor", headers=customs)
    assert garbage.status_code == 422
    assert garbage.json()["type"].endswith("/invalid-cursor")


def _request(
    licence: dict[str, Any] | None = None, window: tuple[str, str] = (WINDOW[0].isoformat(), WINDOW[1].isoformat())
) -> dict[str, Any]:
    pending = _licence(status="pending", issued_at=None) if licence is None else licence
    return {"licence": pending, "shipment_window": {"from": window[0], "to": window[1]}}


async def test_transit_consent_request_is_prechecked_and_decided_by_the_officer(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    raw = envelope(AT_KEY, recipient="CZ", type_="transit-consent.requested", body=_request())
    response = await client.post("/exchange/v1/notices", content=raw)
    assert decode_receipt(response.content).receipt.status == "accepted"
    request_id = json.loads(raw)["notice"]["id"]
    officer = await _token(conn, "licensing-officer")
    pending = (await client.get("/api/v1/consent-requests?status=pending", headers=officer)).json()["items"]
    assert [item["notice_id"] for item in pending] == [request_id]
    results = {finding["code"]: finding["result"] for finding in pending[0]["findings"]}
    assert results == {
        "state-on-route": "pass",
        "dates-coherent": "pass",
        "import-authorisation-present": "pass",
        "no-item-reported-lost-or-stolen": "pass",
    }
    path = f"/api/v1/consent-requests/AT/{request_id}/decision"
    objection = await client.post(path, json={"decision": "objection"}, headers=officer)
    assert objection.status_code == 422
    assert objection.json()["type"].endswith("/reason-required")
    valid_until = (WINDOW[1] + dt.timedelta(days=11)).isoformat()
    decided = await client.post(path, json={"decision": "no-objection", "valid_until": valid_until}, headers=officer)
    assert decided.status_code == 200
    assert decided.json()["status"] == "decided"
    again = await client.post(path, json={"decision": "objection", "reason": "changed mind"}, headers=officer)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/consent-already-decided")
    # the officer who changed their mind learns how a decision is made again, not only that it was made
    assert again.json()["detail"] == (
        "the request was already decided (no-objection): a decision stands; to decide again, ask AT to request"
        " consent again: its new request about AT-EXP-2026-000123 comes here to be decided"
    )
    reply = await conn.fetchrow("SELECT recipient, type, in_reply_to, body, confidentiality FROM notice_outbox")
    assert reply is not None
    assert (reply["recipient"], reply["type"], reply["in_reply_to"]) == ("AT", "transit-consent.decided", request_id)
    assert reply["body"] == {
        "licence_number": "AT-EXP-2026-000123",
        "decision": "no-objection",
        "reason": None,
        "valid_until": valid_until,
    }
    assert reply["confidentiality"] == "restricted"
    customs = await _token(conn, "customs-officer")
    assert (await client.post(path, json={"decision": "no-objection"}, headers=customs)).status_code == 403
    # the licence as received, with this State's decision on it, in the licensing tables
    received = await conn.fetchrow("SELECT licence_id, origin, status FROM licence WHERE number = 'AT-EXP-2026-000123'")
    assert received is not None
    assert (received["origin"], received["status"]) == ("received", "pending")
    consent = await conn.fetchrow("SELECT transit_state, decision, source FROM transit_consent")
    assert consent is not None
    assert dict(consent) == {"transit_state": "CZ", "decision": "no-objection", "source": "officer"}
    issued = envelope(AT_KEY, recipient="CZ", sequence=2, type_="export-licence.issued", body={"licence": LICENCE})
    assert (
        decode_receipt((await client.post("/exchange/v1/notices", content=issued)).content).receipt.status == "accepted"
    )
    assert await conn.fetchval("SELECT status FROM licence WHERE number = 'AT-EXP-2026-000123'") == "issued"


async def test_a_newer_request_about_the_licence_supersedes_the_pending_one(cz: tuple[Client, db.Conn]) -> None:
    """AT amended the pending licence and asked again: CZ's officer decides the new content, not the old."""
    client, conn = cz
    first = envelope(AT_KEY, recipient="CZ", type_="transit-consent.requested", body=_request())
    assert decode_receipt((await client.post("/exchange/v1/notices", content=first)).content).receipt.status == (
        "accepted"
    )
    more = copy.deepcopy(LICENCE["lines"])
    more[1]["quantity"] = 8000
    amended = _licence(status="pending", issued_at=None, version=2, lines=more)
    second = envelope(AT_KEY, recipient="CZ", sequence=2, type_="transit-consent.requested", body=_request(amended))
    assert decode_receipt((await client.post("/exchange/v1/notices", content=second)).content).receipt.status == (
        "accepted"
    )
    first_id, second_id = json.loads(first)["notice"]["id"], json.loads(second)["notice"]["id"]
    officer = await _token(conn, "licensing-officer")
    pending = (await client.get("/api/v1/consent-requests?status=pending", headers=officer)).json()["items"]
    assert [(item["notice_id"], item["licence"]["version"]) for item in pending] == [(second_id, 2)]
    old = (await client.get(f"/api/v1/consent-requests/AT/{first_id}", headers=officer)).json()
    assert (old["status"], old["superseded_by"]) == ("superseded", second_id)
    stale = await client.post(
        f"/api/v1/consent-requests/AT/{first_id}/decision", json={"decision": "no-objection"}, headers=officer
    )
    assert stale.status_code == 409
    assert stale.json()["type"].endswith("/consent-request-superseded")
    assert stale.json()["superseded_by"] == second_id
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox") == 0
    # The licence as received here carries the content now asked about.
    stored = await conn.fetchrow("SELECT version, status FROM licence WHERE number = 'AT-EXP-2026-000123'")
    assert stored is not None
    assert (stored["version"], stored["status"]) == (2, "pending")
    decided = await client.post(
        f"/api/v1/consent-requests/AT/{second_id}/decision", json={"decision": "no-objection"}, headers=officer
    )
    assert decided.status_code == 200
    reply = await conn.fetchrow("SELECT in_reply_to FROM notice_outbox")
    assert reply is not None
    assert reply["in_reply_to"] == second_id
    assert await conn.fetchval("SELECT licence_version FROM transit_consent") == 2


async def test_incoherent_request_shows_failed_findings(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    licence = _licence(status="pending", issued_at=None, transit_states=["SK"], import_authorisation=None)
    raw = envelope(
        AT_KEY, recipient="CZ", type_="transit-consent.requested", body=_request(licence, ("2028-01-01", "2027-12-01"))
    )
    await client.post("/exchange/v1/notices", content=raw)
    findings = await conn.fetchval("SELECT findings FROM consent_request_received")
    assert {item["code"]: item["result"] for item in findings} == {
        "state-on-route": "fail",
        "dates-coherent": "fail",
        "import-authorisation-present": "fail",
        "no-item-reported-lost-or-stolen": "pass",
    }


async def test_item_reported_stolen_here_fails_the_precheck(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    async with conn.transaction():
        item = await items.register_item(conn, rifle("SSG08-002"), actor="test", today=utc_now().date())
        await item_events.record_event(
            conn,
            item.item_id,
            NewEvent(event="stolen", occurred_on=TODAY - dt.timedelta(days=30)),
            actor="test",
            today=utc_now().date(),
        )
    raw = envelope(AT_KEY, recipient="CZ", type_="transit-consent.requested", body=_request())
    await client.post("/exchange/v1/notices", content=raw)
    findings = await conn.fetchval("SELECT findings FROM consent_request_received")
    (stolen,) = [item for item in findings if item["code"] == "no-item-reported-lost-or-stolen"]
    assert stolen["result"] == "fail"
    assert "SSG08-002" in stolen["detail"]


async def test_consent_decision_for_a_licence_this_state_never_issued_is_rejected(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    decision = {"licence_number": "DE-EXP-2026-1", "decision": "objection", "reason": "embargo", "valid_until": None}
    assert await _send(client, 1, "transit-consent.decided", decision) == ("rejected", "unknown-licence")
    assert await conn.fetchval("SELECT count(*) FROM consent_decision_received") == 0


async def _reads(conn: db.Conn, action: str) -> list[tuple[str, str, Any]]:
    rows = await conn.fetch(
        "SELECT actor, entity_id, payload FROM journal_entry WHERE action = $1 ORDER BY entry_id", action
    )
    return [(row["actor"], row["entity_id"], row["payload"]["ids"]) for row in rows]


async def test_reads_of_received_licences_are_journaled(de: tuple[Client, db.Conn]) -> None:
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    customs = await _token(conn, "customs-officer")
    # the licence names its exporter, consignee and final recipient (DESIGN §6: who looked at what)
    assert (await client.get("/api/v1/foreign-licences/AT/AT-EXP-2026-000123", headers=customs)).status_code == 200
    assert (await client.get("/api/v1/foreign-licences", headers=customs)).status_code == 200
    assert await _reads(conn, "foreign-licence.read") == [
        ("officer:test customs-officer", "AT/AT-EXP-2026-000123", ["AT/AT-EXP-2026-000123"]),
        ("officer:test customs-officer", "AT/AT-EXP-2026-000123", ["AT/AT-EXP-2026-000123"]),
    ]


async def test_reads_of_received_consent_requests_are_journaled(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    raw = envelope(AT_KEY, recipient="CZ", type_="transit-consent.requested", body=_request())
    assert decode_receipt((await client.post("/exchange/v1/notices", content=raw)).content).receipt.status == "accepted"
    request_id = json.loads(raw)["notice"]["id"]
    auditor = await _token(conn, "auditor")
    assert (await client.get("/api/v1/consent-requests", headers=auditor)).status_code == 200
    assert (await client.get(f"/api/v1/consent-requests/AT/{request_id}", headers=auditor)).status_code == 200
    key = f"AT/{request_id}"
    assert await _reads(conn, "consent-request.read") == [
        ("officer:test auditor", key, [key]),
        ("officer:test auditor", key, [key]),
    ]


async def test_a_decision_on_a_held_passage_is_recorded_beside_the_hold(de: tuple[Client, db.Conn]) -> None:
    # CZ held the consignment (a rifle reported stolen there), then its officer released it: CZ reports
    # the same check again with the new verdict. Dropping the second report left AT and DE believing the
    # goods were still held at the border.
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    held = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "shipment_id": "SHP-2",
        "check_id": "6f1c0000-0000-4000-8000-000000000002",
        "verdict": "hold",
        "reasons": ["item-reported-lost-or-stolen"],
        "checked_at": "2026-11-29T09:00:00Z",
        "crossing_point": "CZ-Dolni Dvoriste",
        "items": [{"line": 2, "quantity": 100, "serials": []}],
    }
    released = held | {"verdict": "clear", "reasons": [], "checked_at": "2026-11-29T09:40:00Z"}
    await _trust(conn, "DE", "CZ", "OTHER")
    for sequence, body in enumerate([held, released, released], start=1):  # the release said again: kept once
        assert await _send(client, sequence, "transit.passage-recorded", body, sender="CZ", key=OTHER_KEY) == (
            "accepted",
            None,
        )
    rows = await conn.fetch("SELECT verdict, checked_at FROM shipment_passage ORDER BY checked_at")
    assert [row["verdict"] for row in rows] == ["hold", "clear"]
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'shipment.passage-recorded'") == 2


async def _trust(conn: db.Conn, own_state: str, state: str, key: str) -> None:
    async with conn.transaction():
        await trust.add_peer(
            conn,
            own_state=own_state,
            state=state,
            base_url=f"http://{state.lower()}.example",
            public_key=VECTORS["keys"][key]["public_key"],
            not_before=parse_time("2026-01-01T00:00:00Z"),
            actor="test",
        )


async def test_a_receipt_is_confirmed_only_by_the_importing_state_of_an_own_export_licence(
    client: Client, conn: db.Conn, settings: Settings
) -> None:
    # AT exports to DE through CZ. CZ (a transit State) or any other partner confirming receipt, or a
    # confirmation of a licence AT never issued, wrote (and overwrote) AT's record of the receipt.
    number = (await issued_export(conn, settings, await register_parties(conn))).licence.number
    await _trust(conn, "AT", "DE", "DE")
    await _trust(conn, "AT", "CZ", "OTHER")
    confirmed = {
        "licence_number": number,
        "shipment_id": "SHP-1",
        "received_on": "2026-11-29",
        "customs_document": "ATB-2026-1",
        "items": [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}],
    }

    async def send(key: SigningKey, sender: str, sequence: int, body: dict[str, Any]) -> tuple[str, str | None]:
        raw = envelope(key, sender=sender, recipient="AT", sequence=sequence, type_="receipt.confirmed", body=body)
        response = await client.post("/exchange/v1/notices", content=raw)
        assert response.status_code == 202, response.text
        receipt = decode_receipt(response.content).receipt
        return receipt.status, receipt.reason

    assert await send(OTHER_KEY, "CZ", 1, confirmed) == ("rejected", "not-on-route")
    assert await send(DE_KEY, "DE", 1, confirmed | {"licence_number": "AT-EXP-2026-999999"}) == (
        "rejected",
        "unknown-licence",
    )
    assert await conn.fetchval("SELECT count(*) FROM shipment_record") == 0
    assert await send(DE_KEY, "DE", 2, confirmed) == ("accepted", None)
    row = await conn.fetchrow("SELECT exporting_state, received_on, confirmed_by FROM shipment_record")
    assert row is not None
    assert (row["exporting_state"], row["received_on"], row["confirmed_by"]) == ("AT", dt.date(2026, 11, 29), "DE")


async def test_the_exporting_state_sees_every_part_of_a_shipment_received(
    client: Client, conn: db.Conn, settings: Settings
) -> None:
    # The two trucks of SHP-1 entered DE through two entry checks, each confirming its part
    # (receipt.confirmed). AT's record kept only the second truck, and AT saw half the licence delivered.
    number = (await issued_export(conn, settings, await register_parties(conn))).licence.number
    await _trust(conn, "AT", "DE", "DE")
    first = {
        "licence_number": number,
        "shipment_id": "SHP-1",
        "received_on": "2026-11-29",
        "customs_document": "ATB-2026-1",
        "items": [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 500}],
    }
    second = first | {
        "received_on": "2026-11-30",
        "customs_document": "ATB-2026-2",
        "items": [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}, {"line": 2, "quantity": 300}],
    }
    # the first part confirmed again (AT asked, DE answered from its records) is the same part
    for sequence, body in enumerate([first, second, first], start=1):
        raw = envelope(DE_KEY, sender="DE", recipient="AT", sequence=sequence, type_="receipt.confirmed", body=body)
        response = await client.post("/exchange/v1/notices", content=raw)
        assert decode_receipt(response.content).receipt.status == "accepted"
    auditor = await _token(conn, "auditor")
    shipment = (await client.get("/api/v1/shipments/AT/SHP-1", headers=auditor)).json()
    assert shipment["received_items"] == [
        {"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]},
        {"line": 2, "quantity": 800, "serials": []},
    ]
    assert shipment["received_on"] == "2026-11-30"  # the last part arrived then
    assert [(part["customs_document"], part["received_on"]) for part in shipment["receipts"]] == [
        ("ATB-2026-1", "2026-11-29"),
        ("ATB-2026-2", "2026-11-30"),
        ("ATB-2026-1", "2026-11-29"),
    ]


async def test_a_passage_is_recorded_only_from_a_transit_state_of_the_licence(de: tuple[Client, db.Conn]) -> None:
    # DE heard of AT's licence (route AT -> CZ -> DE). A passage reported by a State not on the route, or
    # about a licence DE never received, was recorded as a border passage of the consignment.
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    await _trust(conn, "DE", "CZ", "OTHER")
    passage = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "shipment_id": "SHP-1",
        "check_id": "6f1c0000-0000-4000-8000-000000000003",
        "verdict": "clear",
        "reasons": [],
        "checked_at": "2026-11-29T09:00:00Z",
        "crossing_point": "CZ-Dolni Dvoriste",
        "items": [{"line": 2, "quantity": 100, "serials": []}],
    }
    assert await _send(client, 2, "transit.passage-recorded", passage) == ("rejected", "not-on-route")  # from AT

    async def from_cz(sequence: int, body: dict[str, Any]) -> tuple[str, str | None]:
        return await _send(client, sequence, "transit.passage-recorded", body, sender="CZ", key=OTHER_KEY)

    assert await from_cz(1, passage | {"licence_number": "AT-EXP-2026-999999"}) == ("rejected", "unknown-licence")
    assert await conn.fetchval("SELECT count(*) FROM shipment_passage") == 0
    assert await from_cz(2, passage) == ("accepted", None)
    assert await conn.fetchval("SELECT recorded_by FROM shipment_passage") == "CZ"


async def test_a_received_licence_is_the_same_in_both_copies_or_the_notice_is_rejected(
    cz: tuple[Client, db.Conn],
) -> None:
    # A received licence is kept twice: as received (foreign_licence, what officers read) and in the licensing
    # tables (what customs checks and consents read). CZ had version 1 from AT's consent request; the issued
    # version 1 then came with ten times the cartridges: foreign_licence took it, the licensing tables kept
    # the pending content, and CZ's customs and officers saw two different licences under one version.
    client, conn = cz

    async def send(sequence: int, type_: str, body: dict[str, Any]) -> tuple[str, str | None]:
        raw = envelope(AT_KEY, recipient="CZ", sequence=sequence, type_=type_, body=body)
        receipt = decode_receipt((await client.post("/exchange/v1/notices", content=raw)).content).receipt
        return receipt.status, receipt.reason

    assert await send(1, "transit-consent.requested", _request()) == ("accepted", None)
    more = copy.deepcopy(LICENCE["lines"])
    more[1]["quantity"] = 8000
    assert await send(2, "export-licence.issued", {"licence": _licence(lines=more)}) == ("rejected", "version-conflict")
    assert await conn.fetchval("SELECT count(*) FROM foreign_licence") == 0
    assert await conn.fetchval("SELECT status FROM licence") == "pending"
    # a version older than the one the licensing tables hold (AT asked again about version 2) is stale
    amended = _licence(status="pending", issued_at=None, version=2, lines=more)
    assert await send(3, "transit-consent.requested", _request(amended)) == ("accepted", None)
    assert await send(4, "export-licence.issued", {"licence": LICENCE}) == ("rejected", "stale-version")
    assert await conn.fetchval("SELECT count(*) FROM foreign_licence") == 0
    # the version asked about, issued: both copies hold it
    assert await send(5, "export-licence.issued", {"licence": _licence(version=2, lines=more)}) == ("accepted", None)
    stored = await conn.fetchrow("SELECT version, status, licence FROM foreign_licence")
    assert stored is not None
    row = await conn.fetchrow("SELECT licence_id, version, status FROM licence")
    assert row is not None
    assert (stored["version"], stored["status"]) == (row["version"], row["status"]) == (2, "issued")
    quantities = await conn.fetch("SELECT line, quantity FROM licence_line WHERE licence_id = $1 ORDER BY line", row[0])
    assert [(line["line"], line["quantity"]) for line in stored["licence"]["lines"]] == [tuple(q) for q in quantities]


async def test_a_licence_and_a_shipment_whose_number_holds_a_slash_are_found_by_query(
    de: tuple[Client, db.Conn],
) -> None:
    # A partner's numbers may hold "/" (PROTOCOL's licence number pattern allows it; a shipment id is the
    # exporter's own text): such a number cannot be a path segment, so it is given in the query.
    client, conn = de
    number = "AT/EXP/2026/7"
    assert await _send(client, 1, "export-licence.issued", {"licence": _licence(number=number)}) == ("accepted", None)
    dispatched: dict[str, Any] = {
        "licence_number": number,
        "shipment_id": "SHP/2026/1",
        "dispatched_at": "2026-11-29T08:00:00Z",
        "items": [{"line": 2, "quantity": 10}],
    }
    assert await _send(client, 2, "shipment.dispatched", dispatched) == ("accepted", None)
    customs = await _token(conn, "customs-officer")
    by_path = await client.get(f"/api/v1/foreign-licences/AT/{number}", headers=customs)
    assert by_path.status_code == 404  # the path has more segments than the route
    found = await client.get(
        "/api/v1/foreign-licences/by-number", params={"issuing_state": "AT", "number": number}, headers=customs
    )
    assert found.status_code == 200, found.text
    assert (found.json()["number"], found.json()["licence"]["number"]) == (number, number)
    reads = await conn.fetchval(
        "SELECT count(*) FROM journal_entry WHERE action = 'foreign-licence.read' AND payload::text LIKE $1",
        f"%AT/{number}%",
    )
    assert reads == 1
    missing = await client.get(
        "/api/v1/foreign-licences/by-number", params={"issuing_state": "AT", "number": "AT/EXP/2026/8"}, headers=customs
    )
    assert missing.status_code == 404
    shipment = await client.get(
        "/api/v1/shipments/by-id", params={"exporting_state": "AT", "shipment_id": "SHP/2026/1"}, headers=customs
    )
    assert shipment.status_code == 200, shipment.text
    assert (shipment.json()["shipment_id"], shipment.json()["licence_number"]) == ("SHP/2026/1", number)
    licensing = await _token(conn, "licensing-officer")
    copy_here = await client.get(
        "/api/v1/licences/by-number", params={"issuing_state": "AT", "number": number}, headers=licensing
    )
    assert copy_here.status_code == 200, copy_here.text
    assert (copy_here.json()["origin"], copy_here.json()["licence"]["number"]) == ("received", number)
    bad = await client.get(
        "/api/v1/shipments/by-id", params={"exporting_state": "AT\n", "shipment_id": "x"}, headers=customs
    )
    assert bad.status_code == 400


OFF_LICENCE: list[tuple[str, list[dict[str, Any]]]] = [
    # AT's licence has line 1 (two rifles, SSG08-001 and -002) and line 2 (800 cartridges)
    ("a line the licence does not have", [{"line": 9, "quantity": 1}]),
    ("more than the line's quantity", [{"line": 2, "quantity": 801}]),
    ("a serial not on the line", [{"line": 1, "quantity": 1, "serials": ["SSG08-999"]}]),
]
AGAINST_THE_LINE: list[tuple[str, list[dict[str, Any]]]] = [
    # each is wrong only because of what the licence's line is (item-not-on-licence): its category is the line's
    ("a firearm line short of serials", [{"line": 1, "quantity": 2, "serials": ["SSG08-001"]}]),
    ("a firearm line with no serials", [{"line": 1, "quantity": 1}]),
    ("serials on an ammunition line", [{"line": 2, "quantity": 1, "serials": ["HB-2026-11"]}]),
]


async def test_a_dispatch_naming_items_not_on_the_licence_is_rejected_and_records_nothing(
    de: tuple[Client, db.Conn],
) -> None:
    # AT's exit checks clear only what the licence holds, and notices arrive in order after the version they
    # were cleared under (an amendment never drops a debited line or serial): a dispatch naming a line DE's copy
    # does not have, more than a line's quantity or a serial not on its line cannot be applied. It was recorded,
    # and DE's shipment record showed goods no licence covers.
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    for sequence, (_, named) in enumerate(OFF_LICENCE, start=2):
        dispatched = {
            "licence_number": "AT-EXP-2026-000123",
            "shipment_id": f"SHP-{sequence}",
            "dispatched_at": "2026-11-29T08:00:00Z",
            "items": named,
        }
        assert await _send(client, sequence, "shipment.dispatched", dispatched) == ("rejected", "item-not-on-licence")
    assert await conn.fetchval("SELECT count(*) FROM shipment_record") == 0
    assert await conn.fetchval("SELECT count(*) FROM shipment_dispatch") == 0
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'shipment.dispatched'") == 0
    within = {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "SHP-9",
        "dispatched_at": "2026-11-29T08:00:00Z",
        "items": [{"line": 1, "quantity": 1, "serials": ["ssg08 001"]}, {"line": 2, "quantity": 800}],
    }  # serials compared in normalised form, as at a check
    assert await _send(client, 5, "shipment.dispatched", within) == ("accepted", None)


async def test_a_receipt_naming_items_not_on_the_licence_is_rejected_and_records_nothing(
    client: Client, conn: db.Conn, settings: Settings
) -> None:
    # DE's entry check clears only what AT's licence holds: a confirmation naming anything else was added to
    # AT's record of what the importing State received. Also what is wrong only for the line's category.
    number = (await issued_export(conn, settings, await register_parties(conn))).licence.number
    await _trust(conn, "AT", "DE", "DE")
    for sequence, (_, named) in enumerate([*OFF_LICENCE, *AGAINST_THE_LINE], start=1):
        assert await _confirm(client, sequence, number, named) == ("rejected", "item-not-on-licence")
    assert await conn.fetchval("SELECT count(*) FROM shipment_record") == 0
    assert await conn.fetchval("SELECT count(*) FROM shipment_receipt") == 0


async def test_a_receipt_naming_a_listed_serial_in_another_spelling_is_on_the_licence(
    client: Client, conn: db.Conn, settings: Settings
) -> None:
    # serials are compared in normalised form, as at a check: "ssg08 001" is SSG08-001 of line 1
    number = (await issued_export(conn, settings, await register_parties(conn))).licence.number
    await _trust(conn, "AT", "DE", "DE")
    items: list[dict[str, Any]] = [{"line": 1, "quantity": 1, "serials": ["ssg08 001"]}, {"line": 2, "quantity": 800}]
    assert await _confirm(client, 1, number, items) == ("accepted", None)
    assert await conn.fetchval("SELECT count(*) FROM shipment_receipt") == 1


CONTRADICTING: list[tuple[str, list[dict[str, Any]]]] = [
    # each is wrong whatever the licence holds: the body contradicts itself (invalid-body)
    ("a line twice", [{"line": 2, "quantity": 500}, {"line": 2, "quantity": 300}]),
    ("a serial twice", [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "ssg08 001"]}]),
    ("more serials than items", [{"line": 1, "quantity": 1, "serials": ["SSG08-001", "SSG08-002"]}]),
]


def _passage(sequence: int, verdict: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "shipment_id": "SHP-1",
        "check_id": f"6f1c0000-0000-4000-8000-{sequence:012d}",
        "verdict": verdict,
        "reasons": [] if verdict == "clear" else ["serial-count-mismatch"],
        "checked_at": "2026-11-29T09:00:00Z",
        "crossing_point": "CZ-Dolni Dvoriste",
        "items": items,
    }


async def test_received_shipment_items_contradicting_themselves_are_invalid_body(de: tuple[Client, db.Conn]) -> None:
    # Items naming line 2 twice (500 + 300 of 800 cartridges: each part passed the line's quantity alone), one rifle
    # twice, or two serials for one rifle were taken: the shipment record summed 800 cartridges and two rifles
    # that no check counted. This registry's own checks refuse such a consignment (duplicate-line,
    # duplicate-serial) or hold it (serial-count-mismatch), so no notice of theirs names it.
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    await _trust(conn, "DE", "CZ", "OTHER")
    for sequence, (_, named) in enumerate(CONTRADICTING, start=1):
        dispatched = {
            "licence_number": "AT-EXP-2026-000123",
            "shipment_id": f"SHP-{sequence}",
            "dispatched_at": "2026-11-29T08:00:00Z",
            "items": named,
        }
        assert await _send(client, sequence + 1, "shipment.dispatched", dispatched) == ("rejected", "invalid-body")
        for verdict_sequence, verdict in enumerate(["clear", "refuse"]):  # a refusal contradicting itself too
            passage = _passage(sequence * 2 + verdict_sequence, verdict, named)
            assert await _send(
                client,
                sequence * 2 - 1 + verdict_sequence,
                "transit.passage-recorded",
                passage,
                sender="CZ",
                key=OTHER_KEY,
            ) == ("rejected", "invalid-body")
    assert await conn.fetchval("SELECT count(*) FROM shipment_record") == 0
    assert await conn.fetchval("SELECT count(*) FROM shipment_dispatch") == 0
    assert await conn.fetchval("SELECT count(*) FROM shipment_passage") == 0


async def test_received_receipt_items_contradicting_themselves_are_invalid_body(
    client: Client, conn: db.Conn, settings: Settings
) -> None:
    number = (await issued_export(conn, settings, await register_parties(conn))).licence.number
    await _trust(conn, "AT", "DE", "DE")
    for sequence, (_, named) in enumerate(CONTRADICTING, start=1):
        assert await _confirm(client, sequence, number, named) == ("rejected", "invalid-body")
    assert await conn.fetchval("SELECT count(*) FROM shipment_record") == 0
    assert await conn.fetchval("SELECT count(*) FROM shipment_receipt") == 0


async def test_received_shipment_items_are_held_to_their_licence_lines_category(de: tuple[Client, db.Conn]) -> None:
    # Line 1 is firearms (serials complete before shipment: Reg. 258/2012 Art. 8(1)(h)), line 2 ammunition (counted,
    # not serialised): a dispatch or a clear passage naming two rifles with one serial, a rifle with none, or a
    # serial on the cartridges was taken, though no clear check of this registry's kind lets such items through.
    # A held or refused passage reports what the transit State stopped, whatever it was: it is kept.
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    await _trust(conn, "DE", "CZ", "OTHER")
    for sequence, (_, named) in enumerate(AGAINST_THE_LINE, start=1):
        dispatched = {
            "licence_number": "AT-EXP-2026-000123",
            "shipment_id": f"SHP-{sequence}",
            "dispatched_at": "2026-11-29T08:00:00Z",
            "items": named,
        }
        assert await _send(client, sequence + 1, "shipment.dispatched", dispatched) == (
            "rejected",
            "item-not-on-licence",
        )
        cleared = _passage(sequence * 2, "clear", named)
        assert await _send(
            client, sequence * 2 - 1, "transit.passage-recorded", cleared, sender="CZ", key=OTHER_KEY
        ) == ("rejected", "item-not-on-licence")
        held = _passage(sequence * 2 + 1, "hold", named)
        assert await _send(client, sequence * 2, "transit.passage-recorded", held, sender="CZ", key=OTHER_KEY) == (
            "accepted",
            None,
        )
    assert await conn.fetchval("SELECT count(*) FROM shipment_record") == 0
    assert await conn.fetchval("SELECT count(*) FROM shipment_dispatch") == 0
    assert await conn.fetchval("SELECT array_agg(DISTINCT verdict) FROM shipment_passage") == ["hold"]
    refused = _passage(99, "refuse", [{"line": 9, "quantity": 1, "serials": ["X-1"]}])  # off the licence: kept
    assert await _send(client, 7, "transit.passage-recorded", refused, sender="CZ", key=OTHER_KEY) == ("accepted", None)
    on_the_lines: list[dict[str, Any]] = [
        {"line": 1, "quantity": 2, "serials": ["SSG08-001", "ssg08 002"]},
        {"line": 2, "quantity": 800},
    ]
    within = {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "SHP-9",
        "dispatched_at": "2026-11-29T08:00:00Z",
        "items": on_the_lines,
    }
    assert await _send(client, 5, "shipment.dispatched", within) == ("accepted", None)
    assert await _send(
        client, 8, "transit.passage-recorded", _passage(100, "clear", on_the_lines), sender="CZ", key=OTHER_KEY
    ) == ("accepted", None)


async def test_exhausted_received_stops_no_goods_already_dispatched_and_closes_the_licence(
    de: tuple[Client, db.Conn],
) -> None:
    # PROTOCOL §5 lets the exporting State say its licence is exhausted: its exit ledger reached zero, so every
    # good it authorises has left. This registry never sends it (it would stop the goods at the next border),
    # but a partner may. DE's entry check then refused the two rifles and 800 cartridges in flight,
    # licence-exhausted, though they left under the licence. Now the importing (and a transit) State judges them
    # against its own tally, as before the status change: what was authorised passes once, nothing more.
    client, conn = de
    assert await _send(client, 1, "export-licence.issued", {"licence": LICENCE}) == ("accepted", None)
    await authorise_import(conn, LICENCE["import_authorisation"]["number"])  # DE gave the authorisation it names
    exhausted = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "version": 1,
        "status": "exhausted",
        "reason": "every line reached zero",
        "effective_at": "2026-11-29T08:00:00Z",
    }
    assert await _send(client, 2, "licence.status-changed", exhausted) == ("accepted", None)
    customs = await _token(conn, "customs-officer")
    entry = {
        "movement": "import",
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "crossing_point": "DE-Passau",
        "shipment_id": None,
        "lines": [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}, {"line": 2, "quantity": 800}],
    }
    first = await client.post(
        "/api/v1/checks", json=entry | {"check_id": "6f1c0000-0000-4000-8000-0000000000e1"}, headers=customs
    )
    assert first.status_code == 200, first.text
    assert (first.json()["verdict"], first.json()["reasons"]) == ("clear", [])
    assert first.json()["licence"]["status"] == "exhausted"  # the issuing State's word, shown as it is
    again = await client.post(
        "/api/v1/checks",
        json=entry | {"check_id": "6f1c0000-0000-4000-8000-0000000000e2", "lines": [{"line": 2, "quantity": 1}]},
        headers=customs,
    )
    assert again.json()["verdict"] == "refuse"
    assert {reason["code"] for reason in again.json()["reasons"]} == {  # this State's tally, as for an issued one
        "licence-exhausted",
        "quantity-exceeds-balance",
        "import-not-authorised",  # the 801st cartridge is beyond DE's own authorisation of 800 too
    }
    # Exhausted is final, as for this registry's own licences: neither the status back in force nor a new version
    # reopens it (the issuing State issues a new licence, with a new number, for more goods).
    reinstated = exhausted | {"status": "issued", "reason": "reopened"}
    assert await _send(client, 3, "licence.status-changed", reinstated) == ("rejected", "illegal-transition")
    more = _licence(version=2, lines=[LICENCE["lines"][0], LICENCE["lines"][1] | {"quantity": 1600}])
    assert await _send(client, 4, "export-licence.issued", {"licence": more}) == ("rejected", "illegal-transition")
    stored = await client.get("/api/v1/foreign-licences/AT/AT-EXP-2026-000123", headers=customs)
    assert (stored.json()["status"], stored.json()["version"]) == ("exhausted", 1)
    assert await conn.fetchval("SELECT status FROM licence WHERE number = 'AT-EXP-2026-000123'") == "exhausted"
