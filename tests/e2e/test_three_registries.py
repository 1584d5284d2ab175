"""AT, CZ and DE as three ``firearms serve`` processes exchanging signed notices over loopback (DESIGN §4)."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from firearms.canonical import format_time, utc_now
from firearms.exchange.protocol import PROBLEM_BASE, Notice, encode, sign_notice
from firearms.signing import SigningKey
from tests.e2e.registries import Node, trusting, wait_for
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
    async with trusting(
        ("AT", "CZ", "DE"), pg_admin_uri, tmp_path, roles=("admin", "licensing-officer", "customs-officer")
    ) as started:
        yield started


async def _drained(node: Node) -> bool:
    page = await node.get("/api/v1/notices?status=queued")
    return page is not None and page["items"] == []


TODAY = dt.datetime.now(dt.UTC).date()
LINES = [
    {
        "line": 1,
        "category": "firearm",
        "type": "rifle",
        "make": "Steyr Mannlicher",
        "model": "SSG 08",
        "calibre": ".308 Win",
        "quantity": 2,
        "serials": ["SSG08-001", "SSG08-002"],
        "description": "bolt-action rifle",
    },
    {
        "line": 2,
        "category": "ammunition",
        "type": "cartridge",
        "make": "Hirtenberger",
        "model": "",
        "calibre": ".308 Win",
        "quantity": 800,
        "serials": [],
        "description": "lot HB-2026-11",
    },
]


async def _party(node: Node, kind: str, name: str, country: str, address: str) -> str:
    response = await node.post(
        "/api/v1/parties", {"kind": kind, "name": name, "country": country, "address": address}, "licensing-officer"
    )
    assert response.status_code == 201, response.text
    party_id: str = response.json()["party_id"]
    return party_id


async def _licence(node: Node, draft: dict[str, Any]) -> dict[str, Any]:
    created = await node.post("/api/v1/licences", draft, "licensing-officer")
    assert created.status_code == 201, created.text
    licence_id = created.json()["licence_id"]
    submitted = await node.post(f"/api/v1/licences/{licence_id}/submit", {"reason": "complete"}, "licensing-officer")
    assert submitted.status_code == 200, submitted.text
    result: dict[str, Any] = submitted.json()
    return result


async def _issue(node: Node, licence_id: str) -> Any:
    return await node.post(f"/api/v1/licences/{licence_id}/issue", {"reason": "gates hold"}, "licensing-officer")


async def _issued_through_cz(at: Node, cz: Node, de: Node) -> tuple[str, str]:
    """Golden path steps 1-4 over the APIs; the issued export licence's id and number."""
    validity = {"valid_from": TODAY.isoformat(), "expires_on": (TODAY + dt.timedelta(days=300)).isoformat()}

    # 1. DE's licensing officer issues an import licence; DE tells AT by itself.
    de_exporter = await _party(de, "exporter", "Waffen Huber GmbH", "AT", "Hauptstraße 1, 4400 Steyr")
    de_consignee = await _party(de, "consignee", "Jagdbedarf Müller KG", "DE", "Marktplatz 3, 94032 Passau")
    imported = await _licence(
        de,
        {
            "kind": "import",
            "place_of_issue": "Köln",
            "issuing_authority": "Bundesamt für Wirtschaft und Ausfuhrkontrolle",
            "valid_from": TODAY.isoformat(),
            "expires_on": (TODAY + dt.timedelta(days=360)).isoformat(),
            "exporting_state": "AT",
            "importing_state": "DE",
            "route": ["AT", "CZ", "DE"],
            "exporter_id": de_exporter,
            "consignee_id": de_consignee,
            "final_recipient_id": de_consignee,
            "lines": LINES,
        },
    )
    assert (await _issue(de, imported["licence_id"])).status_code == 200
    import_number = imported["licence"]["number"]
    received = await wait_for(
        functools.partial(at.get, f"/api/v1/licences/by-number/DE/{import_number}", "licensing-officer"),
        "AT has DE's import authorisation",
    )
    assert (received["origin"], received["status"]) == ("received", "issued")

    # 2. AT's officer drafts the export licence on DE's authorisation and submits it: CZ is asked by itself.
    at_exporter = await _party(at, "exporter", "Waffen Huber GmbH", "AT", "Hauptstraße 1, 4400 Steyr")
    at_consignee = await _party(at, "consignee", "Jagdbedarf Müller KG", "DE", "Marktplatz 3, 94032 Passau")
    exported = await _licence(
        at,
        {
            "kind": "export",
            "place_of_issue": "Wien",
            "issuing_authority": "Bundesministerium für Inneres",
            **validity,
            "exporting_state": "AT",
            "importing_state": "DE",
            "route": ["AT", "CZ", "DE"],
            "exporter_id": at_exporter,
            "consignee_id": at_consignee,
            "final_recipient_id": at_consignee,
            "import_authorisation": {
                "number": import_number,
                "state": "DE",
                "issued_on": TODAY.isoformat(),
                "expires_on": (TODAY + dt.timedelta(days=360)).isoformat(),
            },
            "lines": LINES,
        },
    )
    licence_id = exported["licence_id"]
    number = exported["licence"]["number"]
    blocked = await _issue(at, licence_id)
    assert blocked.status_code == 409
    assert [gate["gate"] for gate in blocked.json()["unmet"]] == ["transit-consent-missing"]

    # 3. CZ's registry pre-checks the request; CZ's officer decides; the decision reaches AT by itself.
    async def cz_request() -> Any:
        page = await cz.get("/api/v1/consent-requests?status=pending", "licensing-officer")
        return page["items"] if page and page["items"] else None

    (request,) = await wait_for(cz_request, "CZ has the transit-consent request")
    assert request["licence_number"] == number
    assert {f["code"]: f["result"] for f in request["findings"]} == {
        "state-on-route": "pass",
        "dates-coherent": "pass",
        "import-authorisation-present": "pass",
        "no-item-reported-lost-or-stolen": "pass",
    }
    decided = await cz.post(
        f"/api/v1/consent-requests/AT/{request['notice_id']}/decision",
        {"decision": "no-objection"},
        "licensing-officer",
    )
    assert decided.status_code == 200, decided.text

    async def gates_hold() -> bool:
        gates = await at.get(f"/api/v1/licences/{licence_id}/gates", "licensing-officer")
        return gates is not None and gates["unmet"] == []

    await wait_for(gates_hold, "CZ's no-objection satisfies AT's transit gate")

    # 4. AT issues; DE and CZ receive the licence by themselves.
    issued = await _issue(at, licence_id)
    assert issued.status_code == 200, issued.text
    for node in (de, cz):
        licence = await wait_for(
            functools.partial(_received_status, node, number, "issued"), f"{node.state} has AT's issued licence"
        )
        assert licence["licence"]["lines"][0]["serials"] == ["SSG08-001", "SSG08-002"]
        stored = await node.get(f"/api/v1/foreign-licences/AT/{number}", "customs-officer")
        assert (stored["status"], stored["confidentiality"]) == ("issued", "restricted")

    return licence_id, number


async def test_golden_path_over_the_apis_with_notices_flowing_by_themselves(nodes: dict[str, Node]) -> None:
    at, cz, de = nodes["AT"], nodes["CZ"], nodes["DE"]
    licence_id, number = await _issued_through_cz(at, cz, de)

    # Variant: a serial not on the licence (a rifle read as SSG08-0O2) is held for a person, debits nothing and
    # tells no one; the officer refuses it.
    misread = [
        {"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-0O2"]},
        {"line": 2, "quantity": 800, "serials": []},
    ]
    held = await _check(at, "export", number, "AT-Wullowitz", misread)
    assert held["verdict"] == "hold", held
    assert [(r["code"], r["line"], r["serial"]) for r in held["reasons"]] == [("serial-not-on-licence", 1, "SSG08-0O2")]
    assert [line["remaining"] for line in held["licence"]["lines"]] == [2, 800]
    refusal = await at.post(f"/api/v1/checks/{held['check_id']}/refuse", {"reason": "misread"}, "customs-officer")
    assert refusal.status_code == 200, refusal.text

    # 5. AT's customs clears the consignment at exit (the ledger is debited): CZ and DE hear of the dispatch.
    lines = [
        {"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]},
        {"line": 2, "quantity": 800, "serials": []},
    ]
    exit_check = await _check(at, "export", number, "AT-Wullowitz", lines)
    assert exit_check["verdict"] == "clear", exit_check
    assert [line["remaining"] for line in exit_check["licence"]["lines"]] == [0, 0]
    for node in (cz, de):
        shipment = await wait_for(
            functools.partial(node.get, "/api/v1/shipments/AT/SHP-1", "customs-officer"),
            f"{node.state} has the dispatch",
        )
        assert shipment["items"][0]["serials"] == ["SSG08-001", "SSG08-002"]

    # 6. CZ's customs checks the consignment against the licence as received from AT: clear; AT and DE hear of it.
    transit_check = await _check(cz, "transit", number, "CZ-Dolni Dvoriste", lines)
    assert transit_check["verdict"] == "clear", transit_check
    shipment = await wait_for(functools.partial(_with_passage, de), "DE has CZ's passage")
    assert [(p["recorded_by"], p["verdict"]) for p in shipment["passages"]] == [("CZ", "clear")]
    await wait_for(functools.partial(_passages, at), "AT has CZ's passage")

    # 7. DE's customs checks at entry; a hold is released by the officer; AT receives the confirmation of receipt.
    entry_check = await _check(de, "import", number, "DE-Passau", lines, customs_document="DE-ATB-2026-1")
    if entry_check["verdict"] == "hold":
        released = await de.post(
            f"/api/v1/checks/{entry_check['check_id']}/release", {"reason": "inspected"}, "customs-officer"
        )
        assert released.status_code == 200, released.text
    else:
        assert entry_check["verdict"] == "clear", entry_check

    # 8. AT sees the licence fully used and delivered.
    at_shipment = await wait_for(functools.partial(_received, at, number), "AT has DE's confirmation of receipt")
    assert (at_shipment["shipment_id"], at_shipment["confirmed_by"]) == ("SHP-1", "DE")
    used = await at.get(f"/api/v1/licences/{licence_id}", "licensing-officer")
    assert used["status"] == "exhausted"

    # Variant: a second passage of the same serials is refused at CZ.
    again = await _check(cz, "transit", number, "CZ-Dolni Dvoriste", lines[:1])
    assert again["verdict"] == "refuse"
    assert "serial-already-passed" in [reason["code"] for reason in again["reasons"]]

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
        assert "journal intact" in await node.cli("journal", "verify")


async def test_revocation_after_dispatch_is_refused_at_the_transit_border(nodes: dict[str, Node]) -> None:
    at, cz, de = nodes["AT"], nodes["CZ"], nodes["DE"]
    licence_id, number = await _issued_through_cz(at, cz, de)
    lines = [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}]
    assert (await _check(at, "export", number, "AT-Wullowitz", lines))["verdict"] == "clear"
    revoked = await at.post(
        f"/api/v1/licences/{licence_id}/revoke", {"reason": "exporter's licence withdrawn"}, "licensing-officer"
    )
    assert revoked.status_code == 200, revoked.text
    for node in (cz, de):
        await wait_for(
            functools.partial(_received_status, node, number, "revoked"), f"{node.state} applies the revocation"
        )
    refused = await _check(cz, "transit", number, "CZ-Dolni Dvoriste", lines)
    assert refused["verdict"] == "refuse"
    assert "licence-revoked" in [reason["code"] for reason in refused["reasons"]]
    # AT and DE hear of the refused passage too
    await wait_for(functools.partial(_passages, at), "AT has CZ's refused passage")
    assert (await at.fetch("SELECT verdict FROM shipment_passage")) == [{"verdict": "refuse"}]


async def _check(
    node: Node, movement: str, number: str, crossing: str, lines: list[Any], customs_document: str | None = None
) -> Any:
    body: dict[str, Any] = {
        "check_id": str(uuid.uuid4()),
        "movement": movement,
        "licence_number": number,
        "issuing_state": "AT",
        "crossing_point": crossing,
        "shipment_id": "SHP-1",
        "lines": lines,
    }
    if customs_document:
        body["customs_document"] = customs_document
    response = await node.post("/api/v1/checks", body, "customs-officer")
    assert response.status_code == 200, response.text
    return response.json()


async def _passages(node: Node) -> Any:
    rows = await node.fetch("SELECT recorded_by, verdict FROM shipment_passage")
    return rows or None


async def _received_status(node: Node, number: str, status: str) -> Any:
    licence = await node.get(f"/api/v1/licences/by-number/AT/{number}", "licensing-officer")
    return licence if licence and licence["status"] == status else None


async def test_an_objection_keeps_the_export_licence_from_being_issued(nodes: dict[str, Node]) -> None:
    at, cz = nodes["AT"], nodes["CZ"]
    exporter = await _party(at, "exporter", "Waffen Huber GmbH", "AT", "Hauptstraße 1, 4400 Steyr")
    consignee = await _party(at, "consignee", "Jagdbedarf Müller KG", "DE", "Marktplatz 3, 94032 Passau")
    exported = await _licence(
        at,
        {
            "kind": "export",
            "place_of_issue": "Wien",
            "issuing_authority": "Bundesministerium für Inneres",
            "valid_from": TODAY.isoformat(),
            "expires_on": (TODAY + dt.timedelta(days=300)).isoformat(),
            "exporting_state": "AT",
            "importing_state": "DE",
            "route": ["AT", "CZ", "DE"],
            "exporter_id": exporter,
            "consignee_id": consignee,
            "final_recipient_id": consignee,
            "import_authorisation": {
                "number": "DE-IMP-2026-42",
                "state": "DE",
                "issued_on": TODAY.isoformat(),
                "expires_on": (TODAY + dt.timedelta(days=360)).isoformat(),
            },
            "lines": LINES,
        },
    )

    async def cz_request() -> Any:
        page = await cz.get("/api/v1/consent-requests?status=pending", "licensing-officer")
        return page["items"] if page and page["items"] else None

    (request,) = await wait_for(cz_request, "CZ has the request")
    objection = {"decision": "objection", "reason": "route closed"}
    path = f"/api/v1/consent-requests/AT/{request['notice_id']}/decision"
    assert (await cz.post(path, objection, "licensing-officer")).status_code == 200

    async def objected() -> bool:
        gates = await at.get(f"/api/v1/licences/{exported['licence_id']}/gates", "licensing-officer")
        return gates is not None and [gate["gate"] for gate in gates["unmet"]] == ["transit-consent-objected"]

    await wait_for(objected, "CZ's objection reaches AT")
    refused = await _issue(at, exported["licence_id"])
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/gates-unmet")


async def _with_passage(node: Node) -> Any:
    shipment = await node.get("/api/v1/shipments/AT/SHP-1", "customs-officer")
    return shipment if shipment and shipment["passages"] else None


async def _received(node: Node, number: str) -> Any:
    """The shipment under the licence whose receipt the importing State confirmed, as the API lists it."""
    page = await node.get(f"/api/v1/shipments?issuing_state=AT&licence_number={number}", "licensing-officer")
    confirmed = [item for item in page["items"] if item["received_on"]] if page else []
    return confirmed[0] if confirmed else None


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
        announced = await partner.fetch(
            "SELECT notice_id FROM notice_inbox WHERE sender = 'AT' AND type = 'registry.key-announced'"
        )
        # learned from the announcement, not configured: the provenance is the announcing notice's id
        assert len(announced) == 1
        assert provenance == [{"provenance": announced[0]["notice_id"]}]

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
