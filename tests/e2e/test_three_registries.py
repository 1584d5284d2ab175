"""AT, CZ and DE as three ``firearms serve`` processes exchanging signed notices over loopback (DESIGN §4)."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from firearms.canonical import format_time, utc_now
from firearms.exchange.protocol import PROBLEM_BASE, Notice, encode, sign_notice
from firearms.signing import SigningKey
from tests.e2e.registries import Node, connect_all, free_port, wait_for
from tests.exchange_fixtures import clone_template
from tests.exchange_util import VECTORS

EXPORT: dict[str, Any] = VECTORS["notice"]["envelope"]["notice"]["body"]["licence"]
IMPORT: dict[str, Any] = {
    **copy.deepcopy(EXPORT),
    "number": "DE-IMP-2026-42",
    "issuing_state": "DE",
    "kind": "import",
    "place_of_issue": "Köln",
    "issuing_authority": "Bundesamt für Wirtschaft und Ausfuhrkontrolle",
    "transit_states": [],
    "import_authorisation": None,
}


@pytest.fixture
async def nodes(pg_admin_uri: str, template_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Node]]:
    """AT, CZ and DE running, each trusting the others (peers added with the real CLI)."""
    del template_url
    started: dict[str, Node] = {}
    try:
        for state in ("AT", "CZ", "DE"):
            node = Node(
                state=state,
                home=tmp_path / state,
                database_url=await clone_template(pg_admin_uri),
                port=free_port(),
                logs=tmp_path,
            )
            started[state] = node
            await node.start()
        await connect_all(list(started.values()))
        yield started
    finally:
        for node in started.values():
            node.stop()


async def _drained(node: Node) -> bool:
    page = await node.get("/api/v1/notices?status=queued")
    return page is not None and page["items"] == []


async def test_notices_flow_by_themselves_along_the_golden_path(nodes: dict[str, Node]) -> None:
    at, cz, de = nodes["AT"], nodes["CZ"], nodes["DE"]

    # 1. DE issues an import authorisation and tells AT.
    await de.enqueue("AT", "import-authorisation.issued", {"licence": IMPORT})
    stored = await wait_for(
        lambda: at.get("/api/v1/foreign-licences/DE/DE-IMP-2026-42", "licensing-officer"),
        "AT has DE's import authorisation",
    )
    assert stored["kind"] == "import"

    # 2. AT asks CZ for transit consent with the licence content.
    pending = {**copy.deepcopy(EXPORT), "status": "pending", "issued_at": None}
    window = {"from": "2026-12-01", "to": "2026-12-20"}
    request_id = await at.enqueue("CZ", "transit-consent.requested", {"licence": pending, "shipment_window": window})

    async def cz_request() -> Any:
        page = await cz.get("/api/v1/consent-requests?status=pending", "licensing-officer")
        return page["items"] if page and page["items"] else None

    (request,) = await wait_for(cz_request, "CZ has the transit-consent request")
    assert request["notice_id"] == request_id
    assert {f["code"]: f["result"] for f in request["findings"]}["state-on-route"] == "pass"

    # 3. CZ's officer decides; the decision goes back to AT by itself.
    decided = await cz.post(
        f"/api/v1/consent-requests/AT/{request_id}/decision", {"decision": "no-objection"}, "licensing-officer"
    )
    assert decided.status_code == 200

    async def at_decision() -> list[Any]:
        return await at.fetch("SELECT transit_state, decision, in_reply_to FROM consent_decision_received")

    assert await wait_for(at_decision, "AT has CZ's decision") == [
        {"transit_state": "CZ", "decision": "no-objection", "in_reply_to": request_id}
    ]

    # 4. AT issues the licence and tells DE and CZ.
    for state in ("DE", "CZ"):
        await at.enqueue(state, "export-licence.issued", {"licence": EXPORT})
    for node in (de, cz):
        licence = await wait_for(
            functools.partial(node.get, "/api/v1/foreign-licences/AT/AT-EXP-2026-000123", "customs-officer"),
            f"{node.state} has AT's export licence",
        )
        assert (licence["status"], licence["version"], licence["confidentiality"]) == ("issued", 1, "restricted")

    # 5. AT dispatches; 6. CZ records the passage; 7. DE confirms receipt.
    items = [
        {"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]},
        {"line": 2, "quantity": 800, "serials": []},
    ]
    dispatched = {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "SHP-1",
        "dispatched_at": format_time(utc_now()),
        "items": items,
    }
    for state in ("CZ", "DE"):
        await at.enqueue(state, "shipment.dispatched", dispatched)
    passage = {
        "licence_number": "AT-EXP-2026-000123",
        "issuing_state": "AT",
        "shipment_id": "SHP-1",
        "check_id": "6f1c0000-0000-4000-8000-000000000001",
        "verdict": "clear",
        "reasons": [],
        "checked_at": format_time(utc_now()),
        "crossing_point": "CZ-Dolni Dvoriste",
        "items": items,
    }
    await wait_for(lambda: cz.get("/api/v1/shipments/AT/SHP-1", "customs-officer"), "CZ has the dispatch")
    for state in ("AT", "DE"):
        await cz.enqueue(state, "transit.passage-recorded", passage)
    shipment = await wait_for(lambda: _with_passage(de), "DE has the dispatch and CZ's passage")
    assert shipment["items"][0]["serials"] == ["SSG08-001", "SSG08-002"]
    confirmed = {
        "licence_number": "AT-EXP-2026-000123",
        "shipment_id": "SHP-1",
        "received_on": dt.date.today().isoformat(),  # noqa: DTZ011  # a date on the wire
        "customs_document": "DE-ATB-2026-1",
        "items": items,
    }
    await de.enqueue("AT", "receipt.confirmed", confirmed)
    at_shipment = await wait_for(lambda: _received(at), "AT has DE's confirmation of receipt")
    assert at_shipment["confirmed_by"] == "DE"

    # Every outbox drains, every notice has a verified receipt, every inbox is in sequence.
    for node in (at, cz, de):
        await wait_for(functools.partial(_drained, node), f"{node.state}'s outbox drains")
        sent = await node.fetch("SELECT status, receipt IS NOT NULL AS has_receipt FROM notice_outbox")
        assert sent
        assert all(row == {"status": "delivered", "has_receipt": True} for row in sent)
        for sender in {"AT", "CZ", "DE"} - {node.state}:
            sequences = [
                row["sequence"]
                for row in await node.fetch(
                    "SELECT sequence FROM notice_inbox WHERE sender = $1 ORDER BY received_at, sequence", sender
                )
            ]
            assert sequences == list(range(1, len(sequences) + 1))


async def _with_passage(node: Node) -> Any:
    shipment = await node.get("/api/v1/shipments/AT/SHP-1", "customs-officer")
    return shipment if shipment and shipment["passages"] else None


async def _received(node: Node) -> Any:
    rows = await node.fetch("SELECT received_on, confirmed_by FROM shipment_record WHERE exporting_state = 'AT'")
    return rows[0] if rows and rows[0]["received_on"] else None


async def test_partner_outage_every_notice_arrives_once_in_order(nodes: dict[str, Node]) -> None:
    at, cz = nodes["AT"], nodes["CZ"]
    cz.stop()
    ids = []
    for version in range(1, 6):
        ids.append(await at.enqueue("CZ", "export-licence.issued", {"licence": {**EXPORT, "version": version}}))

    async def failing() -> bool:
        rows = await at.fetch("SELECT attempts, last_error FROM notice_outbox WHERE sequence = 1 AND recipient = 'CZ'")
        return bool(rows and rows[0]["attempts"] >= 2 and rows[0]["last_error"].startswith("network"))

    await wait_for(failing, "AT retries while CZ is down")
    assert await at.fetch("SELECT max(attempts) AS attempts FROM notice_outbox WHERE sequence > 1") == [{"attempts": 0}]
    await cz.start()
    await wait_for(lambda: _drained(at), "AT's outbox drains after CZ returns")
    received = await cz.fetch(
        "SELECT notice_id, sequence FROM notice_inbox WHERE sender = 'AT' ORDER BY received_at, sequence"
    )
    assert [row["notice_id"] for row in received] == ids
    assert [row["sequence"] for row in received] == [1, 2, 3, 4, 5]
    licence = await cz.get("/api/v1/foreign-licences/AT/AT-EXP-2026-000123", "customs-officer")
    assert licence["version"] == 5
    receipts = await at.fetch("SELECT status, receipt FROM notice_outbox WHERE recipient = 'CZ' ORDER BY sequence")
    assert [row["status"] for row in receipts] == ["delivered"] * 5
    assert all(json.loads(bytes(row["receipt"]))["receipt"]["status"] == "accepted" for row in receipts)


async def test_key_rotation_mid_conversation(nodes: dict[str, Node]) -> None:
    at, de = nodes["AT"], nodes["DE"]
    old = json.loads(await at.cli("keys", "show"))["key_id"]
    await at.enqueue("DE", "export-licence.issued", {"licence": EXPORT})
    await wait_for(lambda: _drained(at), "the first notice is delivered")

    rotation = json.loads(await at.cli("keys", "rotate"))
    new = rotation["key_id"]
    assert rotation["replaces"] == old
    assert sorted(rotation["announced_to"]) == ["CZ", "DE"]

    async def switched() -> bool:
        async with httpx.AsyncClient() as client:
            document = (await client.get(at.base_url + "/exchange/v1/keys")).json()
        return bool(document["current_key_id"] == new)

    await wait_for(switched, "AT switches to the new key once CZ and DE acknowledged it")
    for partner in (nodes["CZ"], de):
        provenance = await partner.fetch("SELECT provenance FROM peer_key WHERE state = 'AT' AND key_id = $1", new)
        assert provenance
        assert provenance[0]["provenance"] != "admin"

    await at.enqueue("DE", "export-licence.issued", {"licence": {**EXPORT, "version": 2}})
    await wait_for(lambda: _drained(at), "the notice signed by the new key is delivered")
    signed_by = [
        row["key_id"] for row in await de.fetch("SELECT key_id FROM notice_inbox WHERE sender = 'AT' ORDER BY sequence")
    ]
    assert signed_by[0] == old
    assert signed_by[-1] == new
    assert (await de.get("/api/v1/foreign-licences/AT/AT-EXP-2026-000123", "customs-officer"))["version"] == 2

    revoked = json.loads(await at.cli("keys", "revoke", old, "--reason", "retired after rotation"))
    assert revoked["key_id"] == old

    async def de_knows() -> bool:
        rows = await de.fetch("SELECT revoked_at FROM peer_key WHERE state = 'AT' AND key_id = $1", old)
        return bool(rows and rows[0]["revoked_at"] is not None)

    await wait_for(de_knows, "DE has the revocation")
    old_key = SigningKey.load(at.home / "keys" / f"{old}.pem")
    next_sequence = len(await de.fetch("SELECT 1 FROM notice_inbox WHERE sender = 'AT'")) + 1
    late = Notice(
        id="0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e99",
        type="export-licence.issued",
        sender="AT",
        recipient="DE",
        sequence=next_sequence,
        created_at=format_time(utc_now() + dt.timedelta(seconds=2)),
        in_reply_to=None,
        confidentiality="restricted",
        body={"licence": {**EXPORT, "version": 3}},
    )
    async with httpx.AsyncClient() as client:
        response = await client.post(de.base_url + "/exchange/v1/notices", content=encode(sign_notice(late, old_key)))
    assert response.status_code == 403
    assert response.json()["type"] == PROBLEM_BASE + "key-revoked"
    assert (await de.get("/api/v1/foreign-licences/AT/AT-EXP-2026-000123", "customs-officer"))["version"] == 2
