from __future__ import annotations

import datetime as dt
from typing import Any

from litestar.testing import AsyncTestClient

from firearms import db
from tests.api.test_licences_api import TODAY, _counts, _party, _problem, _setup
from tests.conftest import TokenFactory


async def _pending(client: AsyncTestClient, officer: dict[str, str]) -> tuple[str, dict[str, Any]]:  # type: ignore[type-arg]
    body = await _setup(client, officer)
    lic = (await client.post("/api/v1/licences", json=body, headers=officer)).json()
    base = f"/api/v1/licences/{lic['licence_id']}"
    assert (await client.post(f"{base}/submit", json={"reason": "complete"}, headers=officer)).status_code == 200
    return base, body


async def test_bad_consent_decisions_are_refused_and_store_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    base, _ = await _pending(client, officer)
    good = {"transit_state": "CZ", "decision": "no-objection", "decided_on": str(TODAY)}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"transit_state": "PL"}, 422, "not-a-transit-state"),
        ({"transit_state": "DE"}, 422, "not-a-transit-state"),
        ({"decided_on": str(TODAY + dt.timedelta(days=1))}, 422, "decision-in-future"),
        ({"valid_until": str(TODAY - dt.timedelta(days=1))}, 422, "invalid-validity"),
        ({"decision": "deemed"}, 400, "invalid-request"),
        ({"transit_state": "cz"}, 400, "invalid-request"),
    ]
    before = await _counts(conn)
    for change, status, code in cases:
        response = await client.post(f"{base}/transit-consents", json={**good, **change}, headers=officer)
        _problem(response, status, code)
        assert await _counts(conn) == before, code
    missing = await client.post(
        "/api/v1/licences/00000000-0000-0000-0000-000000000000/transit-consents", json=good, headers=officer
    )
    _problem(missing, 404, "not-found")
    recorded = await client.post(f"{base}/transit-consents", json=good, headers=officer)
    assert recorded.status_code == 201
    assert recorded.json()["source"] == "officer"
    listing = (await client.get(f"{base}/transit-consents", headers=officer)).json()
    assert [item["decision"] for item in listing["items"]] == ["no-objection"]
    window = {"transit_state": "CZ", "shipment_from": str(TODAY), "shipment_to": str(TODAY - dt.timedelta(days=1))}
    _problem(
        await client.post(f"{base}/transit-consent-requests", json=window, headers=officer), 422, "invalid-validity"
    )

    assert (await client.post(f"{base}/issue", json={"reason": "ok"}, headers=officer)).status_code == 200
    assert (await client.post(f"{base}/revoke", json={"reason": "stop"}, headers=officer)).status_code == 200
    closed = await client.post(f"{base}/transit-consents", json=good, headers=officer)
    # the licence's status is a member of its own: "status" is the problem's HTTP status
    assert _problem(closed, 409, "licence-closed")["licence_status"] == "revoked"


async def test_amendment_rules(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    base, body = await _pending(client, officer)
    before = await _counts(conn)
    _problem(await client.post(f"{base}/versions", json=body, headers=officer), 422, "reason-missing")
    changed_kind = {**body, "kind": "brokering", "reason": "x"}
    _problem(await client.post(f"{base}/versions", json=changed_kind, headers=officer), 422, "kind-immutable")
    assert await _counts(conn) == before
    # a new transit State on the route of a pending export licence is asked for consent too
    rerouted = {**body, "route": ["AT", "CZ", "SK", "DE"], "reason": "via Slovakia"}
    assert (await client.post(f"{base}/versions", json=rerouted, headers=officer)).status_code == 201
    requests = (await client.get(f"{base}/transit-consent-requests", headers=officer)).json()["items"]
    assert sorted(r["transit_state"] for r in requests) == ["CZ", "SK"]
    gates = (await client.get(f"{base}/gates", headers=officer)).json()["unmet"]
    assert sorted(g["state"] for g in gates) == ["CZ", "SK"]


async def test_a_consent_answers_the_content_it_was_asked_about(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    base, body = await _pending(client, officer)
    yes = {"transit_state": "CZ", "decision": "no-objection", "decided_on": str(TODAY)}
    first = await client.post(f"{base}/transit-consents", json=yes, headers=officer)
    assert (first.status_code, first.json()["licence_version"]) == (201, 1)
    assert (await client.get(f"{base}/gates", headers=officer)).json()["unmet"] == []
    amended = {**body, "expires_on": str(TODAY + dt.timedelta(days=200)), "reason": "shorter validity"}
    assert (await client.post(f"{base}/versions", json=amended, headers=officer)).status_code == 201
    (request,) = (await client.get(f"{base}/transit-consent-requests", headers=officer)).json()["items"]
    assert (request["transit_state"], request["licence_version"], request["requested_on"]) == ("CZ", 2, str(TODAY))
    gates = (await client.get(f"{base}/gates", headers=officer)).json()["unmet"]
    assert [(g["gate"], g["state"]) for g in gates] == [("transit-consent-outdated", "CZ")]
    refused = await client.post(f"{base}/issue", json={"reason": "try"}, headers=officer)
    _problem(refused, 409, "gates-unmet")
    # CZ's answer to the first request, entered after the amendment, names the version it answered.
    late = await client.post(f"{base}/transit-consents", json={**yes, "licence_version": 1}, headers=officer)
    assert (late.status_code, late.json()["licence_version"]) == (201, 1)
    gates = (await client.get(f"{base}/gates", headers=officer)).json()["unmet"]
    assert [g["gate"] for g in gates] == ["transit-consent-outdated"]
    before = await _counts(conn)
    future = await client.post(f"{base}/transit-consents", json={**yes, "licence_version": 3}, headers=officer)
    assert _problem(future, 422, "licence-version-unknown")["version"] == 2
    assert await _counts(conn) == before
    second = await client.post(f"{base}/transit-consents", json={**yes, "licence_version": 2}, headers=officer)
    assert second.json()["licence_version"] == 2
    assert (await client.post(f"{base}/issue", json={"reason": "ok"}, headers=officer)).status_code == 200
    listing = (await client.get(f"{base}/transit-consents", headers=officer)).json()["items"]
    assert [item["licence_version"] for item in listing] == [1, 1, 2]


async def test_suspended_broker_cannot_go_on_a_new_licence_and_revoked_party_is_final(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    broker = body["broker_ids"][0]
    assert (await client.post("/api/v1/licences", json=body, headers=officer)).status_code == 201
    status = f"/api/v1/parties/{broker}/status"
    assert (await client.post(status, json={"status": "suspended", "reason": "audit"}, headers=officer)).json()[
        "status"
    ] == "suspended"
    inactive = _problem(await client.post("/api/v1/licences", json=body, headers=officer), 422, "broker-not-active")
    assert inactive["party_status"] == "suspended"
    unchanged = _problem(
        await client.post(status, json={"status": "suspended", "reason": "again"}, headers=officer),
        409,
        "party-status-unchanged",
    )
    assert unchanged["party_status"] == "suspended"
    assert (
        await client.post(status, json={"status": "active", "reason": "cleared"}, headers=officer)
    ).status_code == 200
    assert (await client.post("/api/v1/licences", json=body, headers=officer)).status_code == 201
    assert (
        await client.post(status, json={"status": "revoked", "reason": "struck off"}, headers=officer)
    ).status_code == 200
    revoked = _problem(
        await client.post(status, json={"status": "active", "reason": "undo"}, headers=officer), 409, "party-revoked"
    )
    assert revoked["party_status"] == "revoked"
    expired = await _party(
        client,
        officer,
        kind="broker",
        name="Old Broker",
        registration="AT-BR-OLD",
        valid_from=str(TODAY - dt.timedelta(days=100)),
        expires_on=str(TODAY - dt.timedelta(days=1)),
    )
    _problem(
        await client.post("/api/v1/licences", json={**body, "broker_ids": [expired]}, headers=officer),
        422,
        "broker-not-active",
    )


async def test_reads_of_parties_and_licences_are_journaled(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    base, body = await _pending(client, officer)
    auditor = await auth("auditor")
    licence_id = base.rsplit("/", 1)[1]
    assert (await client.get(base, headers=auditor)).status_code == 200
    assert (await client.get(f"/api/v1/parties/{body['exporter_id']}", headers=auditor)).status_code == 200
    reads = await conn.fetch(
        """SELECT actor, action, entity_id FROM journal_entry
            WHERE action IN ('licence.read', 'party.read') ORDER BY entry_id"""
    )
    assert [(r["actor"], r["action"], r["entity_id"]) for r in reads] == [
        ("officer:test auditor", "licence.read", licence_id),
        ("officer:test auditor", "party.read", body["exporter_id"]),
    ]


async def test_no_consent_is_requested_for_a_closed_licence(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    base, _ = await _pending(client, officer)
    consent = {"transit_state": "CZ", "decision": "no-objection", "decided_on": str(TODAY)}
    assert (await client.post(f"{base}/transit-consents", json=consent, headers=officer)).status_code == 201
    assert (await client.post(f"{base}/issue", json={"reason": "ok"}, headers=officer)).status_code == 200
    assert (await client.post(f"{base}/revoke", json={"reason": "fraud"}, headers=officer)).status_code == 200
    before = await _counts(conn)
    notices = await conn.fetchval("SELECT count(*) FROM notice_outbox")
    request = {"transit_state": "CZ", "shipment_from": str(TODAY), "shipment_to": str(TODAY + dt.timedelta(days=5))}
    refused = await client.post(f"{base}/transit-consent-requests", json=request, headers=officer)
    _problem(refused, 409, "licence-closed")
    # nothing stored and no transit-consent.requested notice for a revoked licence
    assert await _counts(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox") == notices
    requests = (await client.get(f"{base}/transit-consent-requests", headers=officer)).json()["items"]
    assert [(r["shipment_from"], r["shipment_to"]) for r in requests] == [(None, None)]


async def test_a_party_outside_its_registrations_validity_cannot_go_on_a_licence(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    lapsed = await _party(
        client,
        officer,
        kind="exporter",
        name="Waffen Alt GmbH",
        registration="AT-DL-3",
        valid_from=str(TODAY - dt.timedelta(days=400)),
        expires_on=str(TODAY - dt.timedelta(days=1)),
    )
    future = await _party(
        client, officer, kind="consignee", name="Neu KG", country="DE", valid_from=str(TODAY + dt.timedelta(days=1))
    )
    before = await _counts(conn)
    for role, party in (("exporter_id", lapsed), ("consignee_id", future), ("final_recipient_id", future)):
        refused = await client.post("/api/v1/licences", json={**body, role: party}, headers=officer)
        assert _problem(refused, 422, "party-not-active")["party_id"] == party
    assert await _counts(conn) == before


async def test_a_repeated_request_without_a_window_keeps_the_window_asked_before(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("licensing-officer")
    base, body = await _pending(client, officer)
    window = {"shipment_from": str(TODAY + dt.timedelta(days=3)), "shipment_to": str(TODAY + dt.timedelta(days=9))}
    path = f"{base}/transit-consent-requests"
    assert (await client.post(path, json={"transit_state": "CZ", **window}, headers=officer)).status_code == 201
    again = await client.post(path, json={"transit_state": "CZ"}, headers=officer)
    assert again.status_code == 201, again.text
    assert {key: again.json()[key] for key in window} == window
    listed = (await client.get(path, headers=officer)).json()["items"]
    assert [{key: item[key] for key in window} for item in listed] == [window]
    # amending the pending licence asks again about the new version, within the same window
    amended = await client.post(f"{base}/versions", json={**body, "reason": "new address"}, headers=officer)
    assert amended.status_code == 201, amended.text
    (asked,) = (await client.get(path, headers=officer)).json()["items"]
    assert (asked["licence_version"], {key: asked[key] for key in window}) == (2, window)
    later = {"shipment_from": str(TODAY + dt.timedelta(days=5)), "shipment_to": str(TODAY + dt.timedelta(days=6))}
    moved = await client.post(path, json={"transit_state": "CZ", **later}, headers=officer)
    assert {key: moved.json()[key] for key in later} == later


async def test_a_decision_without_its_version_is_refused_once_the_licence_was_amended(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    # The officer reads CZ's answer to version 1; another officer amends the licence meanwhile. Recorded
    # "on the current version", CZ's answer to content it never saw would open the transit gate for it.
    officer = await auth("licensing-officer")
    base, body = await _pending(client, officer)
    amended = {**body, "expires_on": str(TODAY + dt.timedelta(days=200)), "reason": "shorter validity"}
    assert (await client.post(f"{base}/versions", json=amended, headers=officer)).status_code == 201
    yes = {"transit_state": "CZ", "decision": "no-objection", "decided_on": str(TODAY)}
    before = await _counts(conn)
    unnamed = await client.post(f"{base}/transit-consents", json=yes, headers=officer)
    problem = _problem(unnamed, 422, "licence-version-required")
    assert (problem["version"], problem["transit_state"]) == (2, "CZ")
    assert await _counts(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM transit_consent") == 0
    gates = (await client.get(f"{base}/gates", headers=officer)).json()["unmet"]
    assert [(g["gate"], g["state"]) for g in gates] == [("transit-consent-missing", "CZ")]
    named = await client.post(f"{base}/transit-consents", json={**yes, "licence_version": 2}, headers=officer)
    assert (named.status_code, named.json()["licence_version"]) == (201, 2)
    assert (await client.get(f"{base}/gates", headers=officer)).json()["unmet"] == []


async def test_a_decision_on_a_licence_of_one_version_needs_no_version(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("licensing-officer")
    base, _ = await _pending(client, officer)
    yes = {"transit_state": "CZ", "decision": "no-objection", "decided_on": str(TODAY)}
    recorded = await client.post(f"{base}/transit-consents", json=yes, headers=officer)
    assert (recorded.status_code, recorded.json()["licence_version"]) == (201, 1)
