from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from firearms import db, received
from tests.check_helpers import at_licence
from tests.conftest import TokenFactory

TODAY = dt.datetime.now(dt.UTC).date()
PROBLEM = "tag:firearms-registry,2026:problems/"


async def _party(client: AsyncTestClient, headers: dict[str, str], **fields: Any) -> str:  # type: ignore[type-arg]
    body = {"kind": "exporter", "name": "Waffen Huber GmbH", "country": "AT", "address": "Hauptstraße 1, Steyr"}
    body.update(fields)
    response = await client.post("/api/v1/parties", json=body, headers=headers)
    assert response.status_code == 201, response.text
    party_id: str = response.json()["party_id"]
    return party_id


async def _setup(client: AsyncTestClient, headers: dict[str, str]) -> dict[str, Any]:  # type: ignore[type-arg]
    exporter = await _party(client, headers)
    consignee = await _party(client, headers, kind="consignee", name="Jagdbedarf Müller KG", country="DE")
    broker = await _party(
        client,
        headers,
        kind="broker",
        name="Broker AG",
        registration="AT-BR-1",
        valid_from=str(TODAY - dt.timedelta(days=10)),
        expires_on=str(TODAY + dt.timedelta(days=400)),
    )
    return {
        "kind": "export",
        "place_of_issue": "Wien",
        "issuing_authority": "Bundesministerium für Inneres",
        "valid_from": str(TODAY),
        "expires_on": str(TODAY + dt.timedelta(days=300)),
        "exporting_state": "AT",
        "importing_state": "DE",
        "route": ["AT", "CZ", "DE"],
        "exporter_id": exporter,
        "consignee_id": consignee,
        "final_recipient_id": consignee,
        "broker_ids": [broker],
        "import_authorisation": {
            "number": "DE-IMP-2026-42",
            "state": "DE",
            "issued_on": str(TODAY - dt.timedelta(days=3)),
            "expires_on": str(TODAY + dt.timedelta(days=360)),
        },
        "purpose": "commercial",
        "lines": [
            {
                "line": 1,
                "category": "firearm",
                "type": "rifle",
                "make": "Steyr Mannlicher",
                "model": "SSG 08",
                "calibre": ".308 Win",
                "quantity": 2,
                "serials": ["SSG08-001", "SSG08-002"],
            },
            {
                "line": 2,
                "category": "ammunition",
                "type": "cartridge",
                "make": "Hirtenberger",
                "model": "",
                "calibre": ".308 Win",
                "quantity": 800,
            },
        ],
    }


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + code, body
    return body


def _without(fields: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if key != name}


async def _counts(conn: db.Conn) -> tuple[int, ...]:
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM licence), (SELECT count(*) FROM licence_version),
                  (SELECT count(*) FROM licence_line), (SELECT count(*) FROM licence_event),
                  (SELECT count(*) FROM transit_consent), (SELECT count(*) FROM journal_entry),
                  (SELECT count(*) FROM party), (SELECT coalesce(sum(last), 0) FROM licence_counter)"""
    )
    assert row is not None
    return tuple(row)


async def test_export_licence_life_cycle_with_gates(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    del body["import_authorisation"]
    created = await client.post("/api/v1/licences", json=body, headers=officer)
    assert created.status_code == 201, created.text
    lic = created.json()
    assert lic["status"] == "draft"
    assert lic["licence"]["number"].startswith(f"AT-EXP-{TODAY.year}-")
    assert lic["licence"]["transit_states"] == ["CZ"]
    base = f"/api/v1/licences/{lic['licence_id']}"

    early = await client.post(f"{base}/issue", json={"reason": "too early"}, headers=officer)
    problem = _problem(early, 409, "illegal-transition")
    assert problem["allowed"] == ["pending"]

    submitted = await client.post(f"{base}/submit", json={"reason": "complete"}, headers=officer)
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "pending"
    requests = (await client.get(f"{base}/transit-consent-requests", headers=officer)).json()["items"]
    assert [r["transit_state"] for r in requests] == ["CZ"]

    blocked = await client.post(f"{base}/issue", json={"reason": "try"}, headers=officer)
    problem = _problem(blocked, 409, "gates-unmet")
    assert sorted(g["gate"] for g in problem["unmet"]) == ["import-authorisation-missing", "transit-consent-missing"]

    body["import_authorisation"] = {
        "number": "DE-IMP-2026-42",
        "state": "DE",
        "issued_on": str(TODAY - dt.timedelta(days=3)),
        "expires_on": str(TODAY + dt.timedelta(days=100)),
    }
    body["reason"] = "import authorisation received"
    amended = await client.post(f"{base}/versions", json=body, headers=officer)
    assert amended.status_code == 201, amended.text
    assert amended.json()["version"] == 2
    blocked = await client.post(f"{base}/issue", json={"reason": "try"}, headers=officer)
    problem = _problem(blocked, 409, "gates-unmet")
    assert sorted(g["gate"] for g in problem["unmet"]) == [
        "transit-consent-missing",
        "validity-beyond-import-authorisation",
    ]

    body["expires_on"] = str(TODAY + dt.timedelta(days=90))
    body["reason"] = "shorter validity"
    assert (await client.post(f"{base}/versions", json=body, headers=officer)).status_code == 201
    objection = {
        "transit_state": "CZ",
        "decision": "objection",
        "decided_on": str(TODAY),
        "reason": "route closed",
        "licence_version": 3,  # the licence was amended: the officer names the version CZ answered
    }
    assert (await client.post(f"{base}/transit-consents", json=objection, headers=officer)).status_code == 201
    blocked = await client.post(f"{base}/issue", json={"reason": "try"}, headers=officer)
    assert [g["gate"] for g in _problem(blocked, 409, "gates-unmet")["unmet"]] == ["transit-consent-objected"]

    consent = {"transit_state": "CZ", "decision": "no-objection", "decided_on": str(TODAY), "licence_version": 3}
    assert (await client.post(f"{base}/transit-consents", json=consent, headers=officer)).status_code == 201
    gates = (await client.get(f"{base}/gates", headers=officer)).json()
    assert gates["unmet"] == []
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    issued = await client.post(f"{base}/issue", json={"reason": "every gate holds"}, headers=officer)
    after = dt.datetime.now(dt.UTC)
    assert issued.status_code == 200, issued.text
    assert issued.json()["status"] == "issued"
    assert issued.json()["licence"]["status"] == "issued"
    # the moment of issue, to the second (as signed), not merely some time
    issued_at = dt.datetime.fromisoformat(issued.json()["licence"]["issued_at"])
    assert before <= issued_at <= after
    assert issued_at.microsecond == 0

    twice = await client.post(f"{base}/issue", json={"reason": "again"}, headers=officer)
    assert _problem(twice, 409, "illegal-transition")["allowed"] == ["suspended", "revoked", "expired", "exhausted"]

    suspended = await client.post(f"{base}/suspend", json={"reason": "inquiry"}, headers=officer)
    assert suspended.json()["status"] == "suspended"
    reinstated = await client.post(f"{base}/reinstate", json={"reason": "cleared"}, headers=officer)
    assert reinstated.json()["status"] == "issued"
    revoked = await client.post(f"{base}/revoke", json={"reason": "fraud"}, headers=officer)
    assert revoked.json()["status"] == "revoked"
    for action in ("suspend", "reinstate", "revoke", "issue", "submit"):
        final = await client.post(f"{base}/{action}", json={"reason": "x"}, headers=officer)
        assert _problem(final, 409, "illegal-transition")["allowed"] == []
    body["reason"] = "too late"
    late = await client.post(f"{base}/versions", json=body, headers=officer)
    assert _problem(late, 409, "licence-not-amendable")["licence_status"] == "revoked"

    events = (await client.get(f"{base}/events", headers=officer)).json()["items"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "draft"),
        ("draft", "pending"),
        ("pending", "issued"),
        ("issued", "suspended"),
        ("suspended", "issued"),
        ("issued", "revoked"),
    ]
    assert events[-1]["reason"] == "fraud"
    assert events[-1]["actor"] == "officer:test licensing-officer"
    versions = (await client.get(f"{base}/versions?limit=2", headers=officer)).json()
    assert [v["version"] for v in versions["items"]] == [1, 2]
    assert versions["next"] is not None
    first = (await client.get(f"{base}/versions/1", headers=officer)).json()
    assert first["licence"]["import_authorisation"] is None
    assert first["current"] is False


async def test_an_amendment_based_on_a_version_since_replaced_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """Two officers amend the licence they both read at version 1: the second learns of the first."""
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    created = await client.post("/api/v1/licences", json=body, headers=officer)
    base = f"/api/v1/licences/{created.json()['licence_id']}"
    first = body | {"place_of_issue": "Linz", "reason": "issued in Linz", "base_version": 1}
    assert (await client.post(f"{base}/versions", json=first, headers=officer)).status_code == 201
    second = body | {"purpose": "state", "reason": "for the army", "base_version": 1}
    moved = _problem(await client.post(f"{base}/versions", json=second, headers=officer), 409, "version-moved")
    assert (moved["version"], moved["base_version"]) == (2, 1)
    current = (await client.get(base, headers=officer)).json()
    assert (current["version"], current["licence"]["place_of_issue"], current["licence"]["purpose"]) == (
        2,
        "Linz",
        "commercial",
    )
    unguarded = body | {"purpose": "state", "reason": "for the army"}  # without base_version: the later wins
    assert (await client.post(f"{base}/versions", json=unguarded, headers=officer)).status_code == 201
    drafted = await client.post("/api/v1/licences", json=body | {"base_version": 1}, headers=officer)
    assert _problem(drafted, 422, "base-version-not-allowed")


async def test_bad_drafts_are_refused_and_store_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    suspended_broker = await _party(
        client,
        officer,
        kind="broker",
        name="Shady AG",
        registration="AT-BR-2",
        valid_from=str(TODAY - dt.timedelta(days=10)),
        expires_on=str(TODAY + dt.timedelta(days=10)),
    )
    response = await client.post(
        f"/api/v1/parties/{suspended_broker}/status", json={"status": "suspended", "reason": "audit"}, headers=officer
    )
    assert response.json()["status"] == "suspended"
    not_a_broker = body["exporter_id"]
    line1 = body["lines"][0]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"route": ["AT", "XX", "DE"]}, 422, "unknown-country"),
        ({"expires_on": str(TODAY - dt.timedelta(days=1))}, 422, "invalid-validity"),
        ({"route": ["CZ", "AT", "DE"]}, 422, "invalid-route"),
        ({"route": ["AT", "CZ", "PL"]}, 422, "invalid-route"),
        ({"lines": [{**line1, "quantity": 0}]}, 400, "invalid-request"),
        ({"lines": [{**line1, "quantity": -2}]}, 400, "invalid-request"),
        ({"lines": [{**line1, "quantity": 3}]}, 422, "serial-count-mismatch"),
        ({"lines": [line1, {**line1, "line": 2, "serials": ["SSG08-003", "ssg08 002"]}]}, 422, "duplicate-serial"),
        ({"broker_ids": [not_a_broker]}, 422, "broker-not-registered"),
        ({"broker_ids": ["00000000-0000-0000-0000-000000000000"]}, 422, "broker-not-registered"),
        ({"broker_ids": [suspended_broker]}, 422, "broker-not-active"),
        ({"exporter_id": "00000000-0000-0000-0000-000000000000"}, 422, "party-not-found"),
        ({"purpose": "hunting"}, 422, "return-date-missing"),
        ({"return_on": str(TODAY)}, 422, "return-date-not-allowed"),
        ({"unexpected": 1}, 400, "invalid-request"),
        # Unknown fields inside the lines and the import authorisation too: a misspelt "serials" was
        # dropped and the licence stored without its serials.
        ({"lines": [{**_without(line1, "serials"), "serial": line1["serials"]}]}, 400, "invalid-request"),
        ({"import_authorisation": {**body["import_authorisation"], "reference": "x"}}, 400, "invalid-request"),
    ]
    before = await _counts(conn)
    for change, status, code in cases:
        response = await client.post("/api/v1/licences", json={**body, **change}, headers=officer)
        _problem(response, status, code)
        assert await _counts(conn) == before, code


async def test_simplified_procedure_for_hunting_respects_ammunition_limit(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    body.update(purpose="hunting", return_on=str(TODAY + dt.timedelta(days=20)))
    ammo = body["lines"][1]
    before = await _counts(conn)
    too_much = await client.post(
        "/api/v1/licences", json={**body, "lines": [body["lines"][0], {**ammo, "quantity": 801}]}, headers=officer
    )
    assert _problem(too_much, 422, "ammunition-limit-exceeded")["limit"] == 800
    outside = await client.post(
        "/api/v1/licences", json={**body, "return_on": str(TODAY + dt.timedelta(days=900))}, headers=officer
    )
    _problem(outside, 422, "return-date-outside-validity")
    brokering = await client.post("/api/v1/licences", json={**body, "kind": "brokering"}, headers=officer)
    _problem(brokering, 422, "simplified-procedure-not-allowed")
    assert await _counts(conn) == before
    ok = await client.post("/api/v1/licences", json=body, headers=officer)
    assert ok.status_code == 201, ok.text
    assert ok.json()["licence"]["purpose"] == "hunting"
    assert ok.json()["licence"]["return_on"] == body["return_on"]


async def test_brokers_register_and_listing_is_paginated(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("licensing-officer")
    for number in range(3):
        await _party(
            client,
            officer,
            kind="broker",
            name=f"Broker {number}",
            registration=f"AT-BR-{number}",
            valid_from=str(TODAY),
            expires_on=str(TODAY + dt.timedelta(days=1)),
        )
    duplicate = await client.post(
        "/api/v1/parties",
        json={
            "kind": "broker",
            "name": "Copy",
            "country": "AT",
            "address": "x",
            "registration": "AT-BR-1",
            "valid_from": str(TODAY),
            "expires_on": str(TODAY),
        },
        headers=officer,
    )
    _problem(duplicate, 409, "broker-already-registered")
    incomplete = await client.post(
        "/api/v1/parties", json={"kind": "broker", "name": "B", "country": "AT", "address": "x"}, headers=officer
    )
    _problem(incomplete, 422, "broker-registration-incomplete")
    reader = await auth("records-officer")
    first = (await client.get("/api/v1/parties?kind=broker&limit=2", headers=reader)).json()
    assert len(first["items"]) == 2
    second = (await client.get(f"/api/v1/parties?kind=broker&limit=2&after={first['next']}", headers=reader)).json()
    assert [p["name"] for p in first["items"] + second["items"]] == ["Broker 0", "Broker 1", "Broker 2"]
    assert second["next"] is None


async def test_a_broker_registration_number_is_registered_once_whatever_its_case_or_spacing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("licensing-officer")
    broker = {
        "kind": "broker",
        "name": "Broker AG",
        "country": "AT",
        "address": "Ring 1, Wien",
        "registration": "AT-BR-7",
        "valid_from": str(TODAY),
        "expires_on": str(TODAY + dt.timedelta(days=30)),
    }
    assert (await client.post("/api/v1/parties", json=broker, headers=officer)).status_code == 201
    # a second entry would stay active when the first is suspended, and go on new licences
    for variant in ("at-br-7", " AT-BR-7 ", "At-Br-7\u00a0"):
        copy = await client.post("/api/v1/parties", json={**broker, "registration": variant}, headers=officer)
        _problem(copy, 409, "broker-already-registered")
    # a tab is a control character, refused in a party's text before any comparison
    tab = await client.post("/api/v1/parties", json={**broker, "registration": "At-Br-7\t"}, headers=officer)
    _problem(tab, 400, "invalid-request")
    other = {**broker, "registration": "  AT-BR-8 "}
    stored = await client.post("/api/v1/parties", json=other, headers=officer)
    assert stored.json()["registration"] == "AT-BR-8"
    brokers = (await client.get("/api/v1/parties?kind=broker", headers=officer)).json()["items"]
    assert [b["registration"] for b in brokers] == ["AT-BR-7", "AT-BR-8"]


@pytest.mark.parametrize(
    ("role", "write", "read", "verify"),
    [
        ("licensing-officer", 201, 200, 404),
        ("admin", 201, 200, 404),
        ("records-officer", 403, 200, 404),
        ("auditor", 403, 200, 404),
        ("customs-officer", 403, 403, 404),
        ("verifier", 403, 403, 403),
    ],
)
async def test_roles_per_endpoint(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    role: str,
    write: int,
    read: int,
    verify: int,
) -> None:
    headers = await auth(role)  # type: ignore[arg-type]
    party = {"kind": "dealer", "name": "D", "country": "AT", "address": "x"}
    assert (await client.post("/api/v1/parties", json=party, headers=headers)).status_code == write
    assert (await client.get("/api/v1/licences", headers=headers)).status_code == read
    assert (await client.get("/api/v1/parties", headers=headers)).status_code == read
    assert (await client.get("/api/v1/verify/AT-EXP-2026-999999", headers=headers)).status_code == verify


async def test_blank_names_and_places_are_refused_and_store_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    before = await _counts(conn)
    party = {"kind": "exporter", "name": "Waffen Huber GmbH", "country": "AT", "address": "Hauptstraße 1, Steyr"}
    for field in ("name", "address", "registration"):
        blank = await client.post("/api/v1/parties", json={**party, field: " \t "}, headers=officer)
        _problem(blank, 400, "invalid-request")
    for field in ("place_of_issue", "issuing_authority"):
        _problem(
            await client.post("/api/v1/licences", json={**body, field: "   "}, headers=officer), 400, "invalid-request"
        )
    assert await _counts(conn) == before


async def test_control_characters_and_blank_line_fields_are_refused_and_store_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A licence and a party are printed and sent to partners: no control character (text_rules) in their text.

    Before, a line's type, make and calibre took white space alone, and every field of a draft or a party
    took a line feed, NEL (U+0085) or ESC and stored it (201).
    """
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    before = await _counts(conn)
    party = {"kind": "exporter", "name": "Waffen Huber GmbH", "country": "AT", "address": "Hauptstraße 1, Steyr"}
    for field, value in [
        ("name", "Waffen\u0085Huber"),
        ("address", "Hauptstraße 1\nSteyr"),
        ("registration", "AT\x1b[31m"),
    ]:
        response = await client.post("/api/v1/parties", json={**party, field: value}, headers=officer)
        assert [error["key"] for error in _problem(response, 400, "invalid-request")["errors"]] == [field]
    line = body["lines"][0]
    changes: list[dict[str, Any]] = [
        {"place_of_issue": "Wien\n"},
        {"issuing_authority": "BMI\u0085"},
        {"lines": [{**line, "make": "   "}]},
        {"lines": [{**line, "type": "\u0085"}]},
        {"lines": [{**line, "calibre": ".308\x00"}]},
        {"lines": [{**line, "model": " \t "}]},
        {"lines": [{**line, "model": "SSG\r08"}]},
        {"lines": [{**line, "description": "two rifles\x1b[2J"}]},
    ]
    for change in changes:
        response = await client.post("/api/v1/licences", json={**body, **change}, headers=officer)
        _problem(response, 400, "invalid-request")
    assert await _counts(conn) == before
    # an ammunition lot still has no model
    assert (await client.post("/api/v1/licences", json=body, headers=officer)).status_code == 201


async def test_a_blank_reason_is_refused_and_changes_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    lic = (await client.post("/api/v1/licences", json=body, headers=officer)).json()
    base = f"/api/v1/licences/{lic['licence_id']}"
    before = await _counts(conn)
    # the reason is what the journal and the status history keep of why: white space says nothing
    _problem(await client.post(f"{base}/submit", json={"reason": "  "}, headers=officer), 400, "invalid-request")
    _problem(
        await client.post(f"{base}/versions", json={**body, "reason": "\t"}, headers=officer), 400, "invalid-request"
    )
    party = f"/api/v1/parties/{body['exporter_id']}/status"
    _problem(
        await client.post(party, json={"status": "suspended", "reason": " "}, headers=officer), 400, "invalid-request"
    )
    objection = {"transit_state": "CZ", "decision": "objection", "decided_on": str(TODAY), "reason": "   "}
    _problem(await client.post(f"{base}/transit-consents", json=objection, headers=officer), 400, "invalid-request")
    assert await _counts(conn) == before


async def test_issue_and_reinstate_each_move_only_their_own_status(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    lic = (await client.post("/api/v1/licences", json=body, headers=officer)).json()
    base = f"/api/v1/licences/{lic['licence_id']}"
    assert (await client.post(f"{base}/submit", json={"reason": "complete"}, headers=officer)).status_code == 200
    consent = {"transit_state": "CZ", "decision": "no-objection", "decided_on": str(TODAY)}
    assert (await client.post(f"{base}/transit-consents", json=consent, headers=officer)).status_code == 201
    before = await _counts(conn)
    # "reinstate" names suspended -> issued: a pending licence is not issued by it (every gate holds here)
    refused = _problem(
        await client.post(f"{base}/reinstate", json={"reason": "x"}, headers=officer), 409, "illegal-transition"
    )
    assert (refused["allowed"], refused["licence_status"]) == (["issued"], "pending")
    assert await _counts(conn) == before
    assert (await client.get(base, headers=officer)).json()["status"] == "pending"
    assert (await client.post(f"{base}/issue", json={"reason": "gates hold"}, headers=officer)).status_code == 200
    assert (await client.post(f"{base}/suspend", json={"reason": "inquiry"}, headers=officer)).status_code == 200
    before = await _counts(conn)
    # and "issue" names pending -> issued: a suspended licence is reinstated, not issued again
    refused = _problem(
        await client.post(f"{base}/issue", json={"reason": "x"}, headers=officer), 409, "illegal-transition"
    )
    assert (refused["allowed"], refused["licence_status"]) == (["issued", "revoked", "expired"], "suspended")
    assert await _counts(conn) == before
    assert (await client.post(f"{base}/reinstate", json={"reason": "cleared"}, headers=officer)).json()[
        "status"
    ] == "issued"


async def test_an_officer_cannot_change_the_status_of_a_partners_licence(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    # DE's import authorisation as received: only DE's word (licence.status-changed) moves it
    authorisation = msgspec.structs.replace(
        at_licence(),
        number="DE-IMP-2026-7",
        issuing_state="DE",
        kind="import",
        import_authorisation=None,
        transit_states=[],
    )
    async with conn.transaction():
        stored = await received.record_received(conn, authorisation, registry_state="AT", actor="partner:DE")
    officer = await auth("licensing-officer")
    base = f"/api/v1/licences/{stored.licence_id}"
    before = await _counts(conn)
    for action in ("suspend", "revoke"):
        refused = await client.post(f"{base}/{action}", json={"reason": "x"}, headers=officer)
        _problem(refused, 409, "licence-not-own")
    assert await _counts(conn) == before
    async with conn.transaction():
        await received.apply_status(
            conn, issuing_state="DE", number="DE-IMP-2026-7", status="suspended", reason="DE", actor="partner:DE"
        )
    # DE suspended it: an officer here does not reinstate it (its export gate would open again)
    _problem(await client.post(f"{base}/reinstate", json={"reason": "x"}, headers=officer), 409, "licence-not-own")
    assert (await client.get(base, headers=officer)).json()["status"] == "suspended"


async def test_own_draft_serials_follow_the_registry_serial_rules(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A serial this registry could not register is refused on its own licence, never stored as another identity.

    A full-width B (U+FF22) in 'B-77' normalised to itself, not 'B': the licence named a serial no item here has,
    and the full-width form beside 'B-77' passed as two firearms on one licence.
    """
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    line1 = body["lines"][0]
    before = await _counts(conn)
    for serials in (
        ["\uff22-77", "B-77"],  # full-width B beside the Latin one
        ["SSG08-001", "\u0410\u041112"],  # Cyrillic letters that look Latin
        ["SSG08-001", "SSG08\u0301-002"],  # a combining mark
        ["SSG08-001", " SSG08-002"],  # padded
        ["SSG08-001", "SSG08\n002"],  # a control character
        ["SSG08-001", "SSG08\u00a0002"],  # a no-break space is not a separator
    ):
        response = await client.post(
            "/api/v1/licences", json={**body, "lines": [{**line1, "serials": serials}]}, headers=officer
        )
        _problem(response, 422, "invalid-serial")
        assert response.json()["line"] == line1["line"], serials
        assert await _counts(conn) == before, serials


def _rifle(serial: str, manufacturer: str = "Steyr Mannlicher", country: str = "AT") -> dict[str, Any]:
    return {
        "kind": "firearm",
        "firearm_type": "rifle",
        "manufacturer": manufacturer,
        "country_of_manufacture": country,
        "serial": serial,
        "markings": [{"kind": "manufacture", "stamped": f"{manufacturer} {serial}", "serial": serial}],
    }


async def _item_with(
    client: AsyncTestClient,  # type: ignore[type-arg]
    records: dict[str, str],
    serial: str,
    events: list[dict[str, Any]],
    **identity: str,
) -> int:
    created = await client.post("/api/v1/items", json=_rifle(serial, **identity), headers=records)
    assert created.status_code == 201, created.text
    item_id: int = created.json()["item_id"]
    for event in events:
        if event["event"] == "deactivated":
            mark = {
                "kind": "deactivation",
                "stamped": "AT BMI 2026",
                "country": "AT",
                "symbol_code": "BMI",
                "year": 2026,
            }
            assert (
                await client.post(f"/api/v1/items/{item_id}/markings", json=mark, headers=records)
            ).status_code == 201
        recorded = await client.post(
            f"/api/v1/items/{item_id}/events", json={"occurred_on": str(TODAY), **event}, headers=records
        )
        assert recorded.status_code == 201, recorded.text
    return item_id


async def test_an_export_licence_never_names_an_item_here_that_cannot_be_exported(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A destroyed, deactivated, lost, stolen, seized or already exported firearm is not licensed for export.

    The registry drafted and amended an export licence for a firearm it records as destroyed or deactivated,
    as a live firearm.
    """
    officer = await auth("licensing-officer")
    records = await auth("records-officer")
    body = await _setup(client, officer)
    line1 = body["lines"][0]
    assert await _item_with(client, records, "SSG08-001", []) > 0
    not_exportable = {
        "destroyed": [{"event": "destroyed"}],
        "deactivated": [
            {
                "event": "deactivated",
                "deactivator": "Büchsenmacher Huber",
                "verifier": "Beschussamt Wien",
                "certificate_number": "AT-DEAC-1",
                "certificate_date": str(TODAY),
            }
        ],
        "lost": [{"event": "lost"}],
        "stolen": [{"event": "stolen"}],
        "seized": [{"event": "seized"}],
        "exported": [{"event": "exported", "country": "DE"}],
    }
    item_of = {
        status: await _item_with(client, records, f"SSG08-{status}", events)
        for status, events in not_exportable.items()
    }
    before = await _counts(conn)
    for status, item_id in item_of.items():
        response = await client.post(
            "/api/v1/licences",
            json={**body, "lines": [{**line1, "serials": ["SSG08-001", f"ssg08 {status}"]}]},
            headers=officer,
        )
        problem = _problem(response, 422, "item-not-exportable")
        assert (problem["line"], problem["serial"], problem["items"]) == (
            1,
            f"ssg08 {status}",
            [{"item_id": item_id, "status": status}],
        )
        assert await _counts(conn) == before, status
    # a serial no item here has, and one that another manufacturer's active firearm also carries, are not refused
    await _item_with(client, records, "SSG08-destroyed", [], manufacturer="Sako", country="FI")
    created = await client.post(
        "/api/v1/licences",
        json={**body, "lines": [{**line1, "serials": ["SSG08-unregistered", "SSG08-destroyed"]}]},
        headers=officer,
    )
    assert created.status_code == 201, created.text
    amended = await client.post(
        f"/api/v1/licences/{created.json()['licence_id']}/versions",
        json={**body, "lines": [{**line1, "serials": ["SSG08-unregistered", "SSG08-deactivated"]}], "reason": "x"},
        headers=officer,
    )
    assert _problem(amended, 422, "item-not-exportable")["serial"] == "SSG08-deactivated"
    # a serial already on the licence was judged when it was put there: the firearm shipped under the licence
    # (now exported) does not stop an amendment that corrects the other line's serial
    shipped = await _item_with(client, records, "SSG08-shipped", [])
    on_licence = {**body, "lines": [{**line1, "serials": ["SSG08-shipped", "SSG08-typo"]}]}
    licence = await client.post("/api/v1/licences", json=on_licence, headers=officer)
    assert licence.status_code == 201, licence.text
    gone = await client.post(
        f"/api/v1/items/{shipped}/events",
        json={"event": "exported", "occurred_on": str(TODAY), "country": "DE"},
        headers=records,
    )
    assert gone.status_code == 201
    corrected = {**body, "lines": [{**line1, "serials": ["ssg08 shipped", "SSG08-right"]}], "reason": "serial"}
    fixed = await client.post(
        f"/api/v1/licences/{licence.json()['licence_id']}/versions", json=corrected, headers=officer
    )
    assert fixed.status_code == 201, fixed.text


async def test_a_licence_does_not_outlast_the_registration_of_a_party_it_names(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A broker registered today but only until next spring was accepted on a licence valid long after it.

    The licence's whole validity must fall within the registration's, as it must within the import
    authorisation's (DESIGN §3); refused when drafted or amended, naming the party and both dates.
    """
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    ends = TODAY + dt.timedelta(days=100)
    short_broker = await _party(
        client,
        officer,
        kind="broker",
        name="Short AG",
        registration="AT-BR-9",
        valid_from=str(TODAY - dt.timedelta(days=10)),
        expires_on=str(ends),
    )
    short_exporter = await _party(client, officer, registration="AT-EXP-3", valid_from=str(TODAY), expires_on=str(ends))
    before = await _counts(conn)
    for change, role, party in (
        ({"broker_ids": [short_broker]}, "broker", short_broker),
        ({"exporter_id": short_exporter}, "exporter", short_exporter),
    ):
        response = await client.post("/api/v1/licences", json={**body, **change}, headers=officer)
        problem = _problem(response, 422, "registration-ends-before-licence")
        assert (problem["party_id"], problem["role"], problem["registration_expires_on"], problem["expires_on"]) == (
            party,
            role,
            str(ends),
            body["expires_on"],
        )
        assert await _counts(conn) == before
    within = {**body, "broker_ids": [short_broker], "exporter_id": short_exporter, "expires_on": str(ends)}
    created = await client.post("/api/v1/licences", json=within, headers=officer)
    assert created.status_code == 201, created.text
    longer = {**within, "expires_on": str(ends + dt.timedelta(days=1)), "reason": "longer"}
    amended = await client.post(
        f"/api/v1/licences/{created.json()['licence_id']}/versions", json=longer, headers=officer
    )
    assert _problem(amended, 422, "registration-ends-before-licence")["role"] == "exporter"


@pytest.mark.parametrize(
    ("code", "facts"),
    [
        ("import-authorisation-mismatch", {"state": "CZ", "importing_state": "DE"}),
        ("broker-missing", {}),
        ("duplicate-broker", {"broker_id": "the broker"}),
    ],
)
async def test_a_draft_whose_import_authorisation_or_brokers_do_not_fit_is_refused_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    code: str,
    facts: dict[str, Any],
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    changes: dict[str, dict[str, Any]] = {
        # an authorisation from a transit State, not from the importing one (Art. 10(3)(c))
        "import-authorisation-mismatch": {"import_authorisation": {**body["import_authorisation"], "state": "CZ"}},
        "broker-missing": {"kind": "brokering", "broker_ids": []},
        "duplicate-broker": {"broker_ids": [body["broker_ids"][0], body["broker_ids"][0]]},
    }
    change = changes[code]
    facts = {name: body["broker_ids"][0] if value == "the broker" else value for name, value in facts.items()}
    before = await _counts(conn)
    response = await client.post("/api/v1/licences", json={**body, **change}, headers=officer)
    problem = _problem(response, 422, code)
    assert {name: problem.get(name) for name in facts} == facts
    assert await _counts(conn) == before


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30",  # no such day
        "2027-02-29",  # not a leap year
        "2026-11-30T00:00:00Z",  # a moment, not a date: whose day would it be?
        "2026-11-30T00:00:00+13:00",
        "2026-11-30Z",
        "20261130",
        "+2026-11-30",
        "30.11.2026",
        "",
    ],
)
async def test_a_licence_date_that_is_not_a_calendar_date_is_400_and_stores_nothing(
    text: str,
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    before = await _counts(conn)
    for field in ("valid_from", "expires_on"):
        problem = _problem(
            await client.post("/api/v1/licences", json={**body, field: text}, headers=officer), 400, "invalid-request"
        )
        assert [error["key"] for error in problem["errors"]] == [field]
    authorisation = {**body["import_authorisation"], "issued_on": text}
    problem = _problem(
        await client.post("/api/v1/licences", json={**body, "import_authorisation": authorisation}, headers=officer),
        400,
        "invalid-request",
    )
    assert [error["key"] for error in problem["errors"]] == ["import_authorisation.issued_on"], problem
    assert await _counts(conn) == before
