"""Received trace notices (ITI paras 14-24): a request with its findings, acknowledged at once and answered by an
officer; an acknowledgement and an answer kept on this State's own request; what is rejected, with its reason."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firearms import db, tokens
from firearms.canonical import format_time, utc_now
from tests.conftest import TokenFactory
from tests.exchange_fixtures import Client, cz, de
from tests.exchange_util import AT_KEY, DE_KEY, OTHER_KEY, envelope, trust_cz_and_de

__all__ = ["cz", "de"]

TRACE_VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "trace_vectors.json").read_text(encoding="utf-8")
)

WEAPON: dict[str, Any] = {
    "kind": "firearm",
    "firearm_type": "rifle",
    "manufacturer": "Ceska zbrojovka",
    "country_of_manufacture": "CZ",
    "serial": "cz 557/0042",
    "markings": [{"kind": "manufacture", "stamped": "CZ UB 557-0042", "serial": "557-0042"}],
}
TODAY = dt.datetime.now(dt.UTC).date()  # a notice's day: its created_at is now
ANSWER_BY = str(TODAY + dt.timedelta(days=45))
REQUEST: dict[str, Any] = {
    "weapon": WEAPON,
    "circumstances": "found in a car at the Drasenhofen crossing",
    "intended_use": "criminal investigation",
    "answer_by": ANSWER_BY,
}
ITEM: dict[str, Any] = {
    "kind": "firearm",
    "firearm_type": "rifle",
    "manufacturer": "Ceska zbrojovka",
    "country_of_manufacture": "CZ",
    "serial": "CZ557-0042",
    "make": "CZ",
    "model": "557",
    "calibre": ".308 Win",
    "year_of_manufacture": 2018,
    "markings": [{"kind": "manufacture", "stamped": "CZ UB 557-0042", "serial": "CZ557-0042", "country": "CZ"}],
}


async def _headers(conn: db.Conn, role: tokens.Role) -> dict[str, str]:
    secret, _ = await tokens.create_token(conn, role=role, name=f"test {role}", actor="test")
    return {"Authorization": f"Bearer {secret}"}


async def _deliver(client: Client, raw: bytes) -> dict[str, Any]:
    response = await client.post("/exchange/v1/notices", content=raw)
    assert response.status_code == 202, response.text
    receipt: dict[str, Any] = response.json()["receipt"]
    return receipt


async def _request_at_cz(client: Client, body: dict[str, Any], sequence: int = 1) -> tuple[str, dict[str, Any]]:
    notice_id = str(uuid.uuid4())
    raw = envelope(AT_KEY, recipient="CZ", sequence=sequence, type_="trace.requested", body=body, notice_id=notice_id)
    return notice_id, await _deliver(client, raw)


async def _stored(conn: db.Conn) -> tuple[int, int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM trace_request), (SELECT count(*) FROM trace_acknowledgement),"
        " (SELECT count(*) FROM trace_answer)"
    )
    assert row is not None
    return (row[0], row[1], row[2])


async def test_a_received_request_has_its_findings_and_is_acknowledged_at_once(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    records = await _headers(conn, "records-officer")
    item = (await client.post("/api/v1/items", json=ITEM, headers=records)).json()
    stolen = {"event": "stolen", "occurred_on": "2026-10-01"}
    assert (
        await client.post(f"/api/v1/items/{item['item_id']}/events", json=stolen, headers=records)
    ).status_code == 201
    other = {**ITEM, "manufacturer": "Other Works", "country_of_manufacture": "DE"}
    other_id = (await client.post("/api/v1/items", json=other, headers=records)).json()["item_id"]

    notice_id, receipt = await _request_at_cz(client, REQUEST)
    assert (receipt["status"], receipt["reason"]) == ("accepted", None)
    listed = (await client.get("/api/v1/trace-requests?direction=incoming", headers=records)).json()["items"]
    assert len(listed) == 1
    request = listed[0]
    assert (request["partner_state"], request["notice_id"], request["status"]) == ("AT", notice_id, "acknowledged")
    assert (request["answer_by"], request["due_on"], request["overdue"]) == (ANSWER_BY, ANSWER_BY, False)
    assert request["acknowledge_by"] == request["acknowledgement"]["acknowledged_at"][:10]
    # the serial given ("cz 557/0042") and the marking's ("557-0042"): the first matches both items by normalised
    # serial, the same manufacturer and country first
    assert [
        (f["item_id"], f["status"], f["manufacturer_matches"], f["country_matches"]) for f in request["findings"]
    ] == [(item["item_id"], "stolen", True, True), (other_id, "active", False, False)]
    assert request["findings_omitted"] == 0  # both items carrying the serials are findings
    ack = await conn.fetchrow(
        "SELECT notice_id, recipient, in_reply_to, confidentiality, body FROM notice_outbox"
        " WHERE type = 'trace.acknowledged'"
    )
    assert ack is not None
    assert (ack["recipient"], ack["in_reply_to"], ack["confidentiality"]) == ("AT", notice_id, "restricted")
    assert ack["body"]["answer_by"] == ANSWER_BY
    assert ack["body"]["acknowledged_at"].endswith("Z")
    assert request["notices"] == [
        {
            "notice_id": str(ack["notice_id"]),
            "type": "trace.acknowledged",
            "recipient": "AT",
            "status": "queued",
            "attempts": 0,
            "last_error": None,
            "delivered_at": None,
            "receipt_reason": None,
        }
    ]
    actions = await conn.fetch(
        "SELECT action, actor FROM journal_entry WHERE entity = 'trace_request' ORDER BY entry_id"
    )
    assert [(row["action"], row["actor"]) for row in actions] == [
        ("trace.requested", "partner:AT"),
        ("trace.acknowledged", "system:trace-acknowledgement"),
    ]


INVALID: list[tuple[str, dict[str, Any]]] = [
    ("no circumstances", {k: v for k, v in REQUEST.items() if k != "circumstances"}),
    ("no answer_by", {k: v for k, v in REQUEST.items() if k != "answer_by"}),
    ("nothing to trace", {**REQUEST, "weapon": {"kind": "firearm", "make": "CZ"}}),
    ("a year as text", {**REQUEST, "weapon": {**WEAPON, "year_of_manufacture": "2018"}}),
    ("too long", {**REQUEST, "circumstances": "x" * 4001}),
    ("too many markings", {**REQUEST, "weapon": {**WEAPON, "markings": WEAPON["markings"] * 21}}),
    ("an unknown kind", {**REQUEST, "weapon": {**WEAPON, "kind": "tank"}}),
]


@pytest.mark.parametrize(("why", "body"), INVALID, ids=[why for why, _ in INVALID])
async def test_a_request_invalid_for_its_type_is_stored_rejected_and_nothing_else(
    cz: tuple[Client, db.Conn], why: str, body: dict[str, Any]
) -> None:
    client, conn = cz
    _, receipt = await _request_at_cz(client, body)
    assert (receipt["status"], receipt["reason"]) == ("rejected", "invalid-body"), why
    assert await _stored(conn) == (0, 0, 0)
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox") == 0
    stored = await conn.fetchrow("SELECT status, reason FROM notice_inbox")
    assert stored is not None
    assert (stored["status"], stored["reason"]) == ("rejected", "invalid-body")


async def test_a_request_delivered_again_is_a_duplicate_with_the_first_receipt(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    raw = envelope(AT_KEY, recipient="CZ", sequence=1, type_="trace.requested", body=REQUEST)
    first = await client.post("/exchange/v1/notices", content=raw)
    again = await client.post("/exchange/v1/notices", content=raw)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.content == first.content
    assert await _stored(conn) == (1, 1, 0)
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'trace.acknowledged'") == 1


async def test_unknown_body_fields_are_ignored(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    body = copy.deepcopy(REQUEST) | {"priority": "high"}
    body["weapon"]["finish"] = "blued"
    _, receipt = await _request_at_cz(client, body)
    assert receipt["status"] == "accepted"
    assert await _stored(conn) == (1, 1, 0)


async def _received_request(client: Client, conn: db.Conn) -> tuple[dict[str, str], int, int, str]:
    """CZ holds an item, imported and sold; AT's request for it arrives. Officer, item, request id, notice id."""
    records = await _headers(conn, "records-officer")
    item = {
        **ITEM,
        "markings": [*ITEM["markings"], {"kind": "import", "stamped": "CZ 18", "country": "CZ", "year": 2018}],
    }
    item_id = (await client.post("/api/v1/items", json=item, headers=records)).json()["item_id"]
    for event in (
        {
            "event": "imported",
            "occurred_on": "2019-03-01",
            "country": "SK",
            "from_party": "Zbrane s.r.o.",
            "document": "IMP-9",
        },
        {"event": "transferred", "occurred_on": "2020-05-02", "from_party": "Zbrane s.r.o.", "to_party": "Jan Novak"},
        {"event": "transferred", "occurred_on": "2021-06-03", "from_party": "Jan Novak", "to_party": "Petr Dvorak"},
    ):
        response = await client.post(f"/api/v1/items/{item_id}/events", json=event, headers=records)
        assert response.status_code == 201, response.text
    # the second sale was a mistake: corrected, so the last holder known is Jan Novak
    events = (await client.get(f"/api/v1/items/{item_id}/history", headers=records)).json()["items"]
    wrong = next(e["detail"]["event_id"] for e in events if e["detail"].get("to_party") == "Petr Dvorak")
    correction = {
        "event": "corrected",
        "occurred_on": "2021-06-03",
        "corrects_event_id": wrong,
        "reason": "typed twice",
    }
    assert (await client.post(f"/api/v1/items/{item_id}/events", json=correction, headers=records)).status_code == 201
    notice_id, receipt = await _request_at_cz(client, REQUEST)
    assert receipt["status"] == "accepted"
    request_id = await conn.fetchval("SELECT trace_request_id FROM trace_request WHERE notice_id = $1", notice_id)
    return records, item_id, request_id, notice_id


async def test_the_officer_answers_found_with_the_record_built_from_the_history(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    records, item_id, request_id, notice_id = await _received_request(client, conn)
    headers = {**records, "Idempotency-Key": "answer-1"}
    answer = {"outcome": "found", "item_id": item_id, "note": "sold by a dealer in Brno"}
    response = await client.post(f"/api/v1/trace-requests/{request_id}/answer", json=answer, headers=headers)
    assert response.status_code == 200, response.text
    answered = response.json()
    assert answered["status"] == "answered"
    assert (answered["answer"]["outcome"], answered["answer"]["item_id"]) == ("found", item_id)
    record = answered["answer"]["record"]
    assert record["item"]["serial"] == "CZ557-0042"
    assert record["item"]["status"] == "active"
    assert record["manufacture"]["stamped"] == "CZ UB 557-0042"
    assert [m["kind"] for m in record["markings"]] == ["manufacture", "import"]
    assert [(e["event"], e["country"], e["document"]) for e in record["imports"]] == [("imported", "SK", "IMP-9")]
    assert (record["last_transfer"]["to_party"], record["last_transfer"]["occurred_on"]) == ("Jan Novak", "2020-05-02")
    assert [e["event"] for e in record["events"]] == ["imported", "transferred"]
    sent = await conn.fetchrow(
        "SELECT notice_id, recipient, in_reply_to, body FROM notice_outbox WHERE type = 'trace.answered'"
    )
    assert sent is not None
    assert (sent["recipient"], sent["in_reply_to"]) == ("AT", notice_id)
    assert sent["body"]["record"] == record
    assert (sent["body"]["outcome"], sent["body"]["note"], sent["body"]["reason"]) == ("found", answer["note"], None)
    assert [n["type"] for n in answered["notices"]] == ["trace.acknowledged", "trace.answered"]
    again = await client.post(f"/api/v1/trace-requests/{request_id}/answer", json=answer, headers=headers)
    assert (again.status_code, again.content) == (200, response.content)
    second = await client.post(
        f"/api/v1/trace-requests/{request_id}/answer", json={"outcome": "not-found"}, headers=records
    )
    assert second.status_code == 409
    assert second.json()["type"].rsplit("/", 1)[1] == "trace-already-answered"
    assert await _stored(conn) == (1, 1, 1)
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'trace.answered'") == 1
    entry = await conn.fetchrow("SELECT payload FROM journal_entry WHERE action = 'trace.answered'")
    assert entry is not None
    assert (entry["payload"]["outcome"], entry["payload"]["in_reply_to"]) == ("found", notice_id)


@pytest.mark.parametrize(("asked", "sent"), [("public", "restricted"), ("confidential", "confidential")])
async def test_an_answer_is_never_sent_public_whatever_level_the_request_came_at(
    cz: tuple[Client, db.Conn], asked: str, sent: str
) -> None:
    """Art. 12(5): a public notice's content may go on to a third State; a found record names the holders."""
    client, conn = cz
    records = await _headers(conn, "records-officer")
    item_id = (await client.post("/api/v1/items", json=ITEM, headers=records)).json()["item_id"]
    sold = {"event": "transferred", "occurred_on": "2020-05-02", "from_party": "Zbrane s.r.o.", "to_party": "Jan Novak"}
    assert (await client.post(f"/api/v1/items/{item_id}/events", json=sold, headers=records)).status_code == 201
    raw = envelope(AT_KEY, recipient="CZ", sequence=1, type_="trace.requested", body=REQUEST, confidentiality=asked)
    assert (await _deliver(client, raw))["status"] == "accepted"
    request_id = await conn.fetchval("SELECT trace_request_id FROM trace_request")
    answer = {"outcome": "found", "item_id": item_id}
    response = await client.post(f"/api/v1/trace-requests/{request_id}/answer", json=answer, headers=records)
    assert response.status_code == 200, response.text
    assert response.json()["answer"]["record"]["last_transfer"]["to_party"] == "Jan Novak"
    assert response.json()["answer"]["confidentiality"] == sent
    levels = await conn.fetch("SELECT type, confidentiality FROM notice_outbox ORDER BY created_at, type")
    assert [(row["type"], row["confidentiality"]) for row in levels] == [
        ("trace.acknowledged", asked),
        ("trace.answered", sent),
    ]


async def test_two_answers_sent_at_once_give_one_answer_and_one_conflict(cz: tuple[Client, db.Conn]) -> None:
    """Two officers press answer together (through the API: whichever interleaving, one stands, one is 409)."""
    client, conn = cz
    records, _, request_id, _ = await _received_request(client, conn)
    other = await _headers(conn, "admin")
    path = f"/api/v1/trace-requests/{request_id}/answer"
    responses = await asyncio.gather(
        client.post(path, json={"outcome": "not-found"}, headers=records),
        client.post(path, json={"outcome": "restricted", "reason": "under investigation"}, headers=other),
    )
    assert sorted(response.status_code for response in responses) == [200, 409]
    refused = next(response for response in responses if response.status_code == 409)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].rsplit("/", 1)[1] == "trace-already-answered"
    assert await _stored(conn) == (1, 1, 1)
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'trace.answered'") == 1
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'trace.answered'") == 1


async def test_reading_a_found_answer_is_journaled_as_a_read_of_the_item(cz: tuple[Client, db.Conn]) -> None:
    """DESIGN §6: the record names everyone the item went to, as its history does: who read it is journaled on the
    item too (item.read), not only on the request, so that the item's reads show every officer who saw them."""
    client, conn = cz
    records, item_id, request_id, _ = await _received_request(client, conn)
    answer = {"outcome": "found", "item_id": item_id}
    assert (await client.post(f"/api/v1/trace-requests/{request_id}/answer", json=answer, headers=records)).is_success
    auditor = await _headers(conn, "auditor")
    for path in (f"/api/v1/trace-requests/{request_id}", "/api/v1/trace-requests"):
        before = await conn.fetchval("SELECT coalesce(max(entry_id), 0) FROM journal_entry")
        assert (await client.get(path, headers=auditor)).status_code == 200
        reads = await conn.fetch(
            "SELECT action, actor, payload FROM journal_entry WHERE entry_id > $1 ORDER BY entry_id", before
        )
        assert [(row["action"], row["actor"].startswith("officer:"), row["payload"]) for row in reads] == [
            ("trace-request.read", True, {"ids": [str(request_id)]}),
            ("item.read", True, {"ids": [str(item_id)]}),
        ], path


async def test_a_replayed_found_answer_is_journaled_as_a_read_of_the_request_and_the_item(
    cz: tuple[Client, db.Conn],
) -> None:
    """The same Idempotency-Key gives the first answer again, the found record in it: everyone the item went to. It is
    a read of the record (DESIGN §6), journaled as the list's and the request's reads are, in the replay's own
    transaction; nothing else is written (no second answer, notice or key)."""
    client, conn = cz
    records, item_id, request_id, _ = await _received_request(client, conn)
    headers = {**records, "Idempotency-Key": "answer-replayed"}
    path = f"/api/v1/trace-requests/{request_id}/answer"
    first = await client.post(path, json={"outcome": "found", "item_id": item_id}, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["answer"]["record"]["last_transfer"]["to_party"] == "Jan Novak"
    before = await conn.fetchval("SELECT max(entry_id) FROM journal_entry")
    again = await client.post(path, json={"outcome": "found", "item_id": item_id}, headers=headers)
    assert (again.status_code, again.content) == (200, first.content)
    reads = await conn.fetch(
        "SELECT action, actor, entity, entity_id, payload FROM journal_entry WHERE entry_id > $1 ORDER BY entry_id",
        before,
    )
    actor = await conn.fetchval("SELECT actor FROM journal_entry WHERE action = 'trace.answered'")
    assert [tuple(row) for row in reads] == [
        ("trace-request.read", actor, "trace-request", str(request_id), {"ids": [str(request_id)]}),
        ("item.read", actor, "item", str(item_id), {"ids": [str(item_id)]}),
    ]
    assert await _stored(conn) == (1, 1, 1)
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'trace.answered'") == 1


async def test_a_replayed_answer_without_a_record_is_journaled_as_a_read_of_the_request(
    cz: tuple[Client, db.Conn],
) -> None:
    """A not-found answer names no item: its replay is a read of the request alone (where the weapon was found)."""
    client, conn = cz
    records, _, request_id, _ = await _received_request(client, conn)
    headers = {**records, "Idempotency-Key": "answer-not-found"}
    path = f"/api/v1/trace-requests/{request_id}/answer"
    first = await client.post(path, json={"outcome": "not-found"}, headers=headers)
    assert first.status_code == 200, first.text
    before = await conn.fetchval("SELECT max(entry_id) FROM journal_entry")
    again = await client.post(path, json={"outcome": "not-found"}, headers=headers)
    assert (again.status_code, again.content) == (200, first.content)
    reads = await conn.fetch("SELECT action, payload FROM journal_entry WHERE entry_id > $1 ORDER BY entry_id", before)
    assert [tuple(row) for row in reads] == [("trace-request.read", {"ids": [str(request_id)]})]


BAD_ANSWERS: list[tuple[dict[str, Any], int, str]] = [
    ({"outcome": "found"}, 422, "invalid-trace-answer"),
    ({"outcome": "not-found", "item_id": 1}, 422, "invalid-trace-answer"),
    ({"outcome": "restricted"}, 422, "reason-required"),
    ({"outcome": "maybe"}, 400, "invalid-request"),
    ({"outcome": "not-found", "colour": "red"}, 400, "invalid-request"),
    ({"outcome": "restricted", "reason": " padded"}, 400, "invalid-request"),
    ({"outcome": "found", "item_id": 99999}, 404, "not-found"),
    # an unmatched reason is held to the reason rule, and said only of a found answer
    ({"outcome": "not-found", "unmatched_because": "no item"}, 422, "invalid-trace-answer"),
    ({"outcome": "found", "item_id": 1, "unmatched_because": " padded"}, 400, "invalid-request"),
    ({"outcome": "found", "item_id": 1, "unmatched_because": ""}, 400, "invalid-request"),
    ({"outcome": "found", "item_id": 1, "unmatched_because": "two\nlines"}, 400, "invalid-request"),
    ({"outcome": "found", "item_id": 1, "unmatched_because": "x" * 2001}, 400, "invalid-request"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_ANSWERS)
async def test_a_bad_answer_is_a_problem_and_nothing_is_sent(
    cz: tuple[Client, db.Conn], body: dict[str, Any], status: int, code: str
) -> None:
    client, conn = cz
    records, _, request_id, _ = await _received_request(client, conn)
    response = await client.post(f"/api/v1/trace-requests/{request_id}/answer", json=body, headers=records)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].rsplit("/", 1)[1] == code
    assert await _stored(conn) == (1, 1, 0)
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'trace.answered'") == 0


async def test_a_restricted_answer_gives_its_reason_and_an_unknown_request_is_404(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    records, _, request_id, _ = await _received_request(client, conn)
    missing = await client.post("/api/v1/trace-requests/99999/answer", json={"outcome": "not-found"}, headers=records)
    assert missing.status_code == 404
    body = {"outcome": "restricted", "reason": "an investigation is under way here (ITI para 22)"}
    response = await client.post(f"/api/v1/trace-requests/{request_id}/answer", json=body, headers=records)
    assert response.status_code == 200, response.text
    assert (response.json()["answer"]["outcome"], response.json()["answer"]["record"]) == ("restricted", None)
    sent = await conn.fetchval("SELECT body FROM notice_outbox WHERE type = 'trace.answered'")
    assert sent == {"outcome": "restricted", "record": None, "reason": body["reason"], "note": None}
    for role in ("auditor", "licensing-officer"):
        refused = await client.post(
            f"/api/v1/trace-requests/{request_id}/answer",
            json={"outcome": "not-found"},
            headers=await _headers(conn, role),
        )
        assert refused.status_code == 403, role


# --- the requesting side: AT's own request, acknowledged and answered by CZ (the OTHER vector key) ---

RECORD: dict[str, Any] = {
    "item": {
        "kind": "firearm",
        "manufacturer": "Glock GmbH",
        "country_of_manufacture": "AT",
        "serial": "ABC123",
        "status": "exported",
    },
    "markings": [{"kind": "manufacture", "stamped": "GLOCK ABC123", "serial": "ABC123"}],
    "last_transfer": {"event": "exported", "occurred_on": "2024-02-03", "status_after": "exported", "country": "CZ"},
}


async def _own_request(client: Client, conn: db.Conn, auth: TokenFactory) -> tuple[int, str]:
    await trust_cz_and_de(conn)
    body = {
        "recipient": "CZ",
        "weapon": {"kind": "firearm", "serial": "ABC123"},
        "circumstances": "seized in Linz",
        "intended_use": "prosecution",
    }
    made = (await client.post("/api/v1/trace-requests", json=body, headers=await auth("records-officer"))).json()
    return made["trace_request_id"], made["notice_id"]


def _from_cz(sequence: int, type_: str, body: dict[str, Any], in_reply_to: str | None) -> bytes:
    return envelope(
        OTHER_KEY, sender="CZ", recipient="AT", sequence=sequence, type_=type_, body=body, in_reply_to=in_reply_to
    )


async def test_the_acknowledgement_and_the_answer_are_kept_on_the_own_request(
    client: Client,
    conn: db.Conn,
    auth: TokenFactory,
) -> None:
    request_id, notice_id = await _own_request(client, conn, auth)
    due = str(TODAY + dt.timedelta(days=60))
    ack = {"acknowledged_at": format_time(utc_now()), "answer_by": due}
    receipt = await _deliver(client, _from_cz(1, "trace.acknowledged", ack, notice_id))
    assert (receipt["status"], receipt["reason"]) == ("accepted", None)
    auditor = await auth("auditor")
    acknowledged = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=auditor)).json()
    assert (acknowledged["status"], acknowledged["due_on"]) == ("acknowledged", due)
    assert acknowledged["acknowledgement"]["acknowledged_by"] == "partner:CZ"
    again = await _deliver(client, _from_cz(2, "trace.acknowledged", ack, notice_id))
    assert (again["status"], again["reason"]) == ("rejected", "trace-already-acknowledged")

    answer = {"outcome": "found", "record": RECORD, "reason": None, "note": "exported to CZ in 2024"}
    receipt = await _deliver(client, _from_cz(3, "trace.answered", answer, notice_id))
    assert (receipt["status"], receipt["reason"]) == ("accepted", None)
    answered = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=auditor)).json()
    assert answered["status"] == "answered"
    assert (answered["answer"]["outcome"], answered["answer"]["answered_by"]) == ("found", "partner:CZ")
    assert answered["answer"]["record"]["item"]["status"] == "exported"
    assert answered["answer"]["record"]["last_transfer"]["country"] == "CZ"
    assert answered["answer"]["note"] == "exported to CZ in 2024"
    second = await _deliver(client, _from_cz(4, "trace.answered", {"outcome": "not-found"}, notice_id))
    assert (second["status"], second["reason"]) == ("rejected", "trace-already-answered")
    assert await _stored(conn) == (1, 1, 1)
    answering = await client.post(
        f"/api/v1/trace-requests/{request_id}/answer", json={"outcome": "not-found"}, headers=await auth("admin")
    )
    assert (answering.status_code, answering.json()["type"].rsplit("/", 1)[1]) == (422, "invalid-trace-answer")


async def test_a_received_answer_keeps_the_level_of_its_notice(
    client: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """Art. 12(5), PROTOCOL §3: the receiver keeps the level with the record; the answer's, not the request's."""
    request_id, notice_id = await _own_request(client, conn, auth)  # restricted
    answer = {"outcome": "found", "record": RECORD, "reason": None, "note": None}
    raw = envelope(
        OTHER_KEY,
        sender="CZ",
        recipient="AT",
        sequence=1,
        type_="trace.answered",
        body=answer,
        in_reply_to=notice_id,
        confidentiality="confidential",
    )
    assert (await _deliver(client, raw))["status"] == "accepted"
    answered = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=await auth("auditor"))).json()
    assert (answered["confidentiality"], answered["answer"]["confidentiality"]) == ("restricted", "confidential")
    assert await conn.fetchval("SELECT confidentiality FROM trace_answer") == "confidential"


async def test_an_acknowledgement_after_the_answer_is_rejected_and_the_due_day_stays(
    client: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """An acknowledgement says the answer is coming by a day: after the answer it would only move a closed request's
    due day (to one before the answer, which then read as late)."""
    request_id, notice_id = await _own_request(client, conn, auth)
    asked = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=await auth("auditor"))).json()
    answered = await _deliver(client, _from_cz(1, "trace.answered", {"outcome": "not-found"}, notice_id))
    assert answered["status"] == "accepted"
    ack = {"acknowledged_at": "2026-11-30T10:00:00Z", "answer_by": "2020-02-01"}
    late = await _deliver(client, _from_cz(2, "trace.acknowledged", ack, notice_id))
    assert (late["status"], late["reason"]) == ("rejected", "trace-already-answered")
    assert await _stored(conn) == (1, 0, 1)
    now = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=await auth("auditor"))).json()
    assert (now["status"], now["due_on"], now["acknowledgement"]) == ("answered", asked["due_on"], None)


async def test_a_reply_from_a_state_that_was_not_asked_is_rejected(
    client: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """DE names the request AT sent CZ: neither its acknowledgement nor its answer is kept on it."""
    request_id, notice_id = await _own_request(client, conn, auth)  # to CZ
    replies: list[tuple[str, dict[str, Any]]] = [
        ("trace.acknowledged", {"acknowledged_at": "2026-11-30T10:00:00Z", "answer_by": "2099-01-01"}),
        ("trace.answered", {"outcome": "found", "record": RECORD}),
    ]
    for sequence, (type_, body) in enumerate(replies, start=1):
        raw = envelope(
            DE_KEY, sender="DE", recipient="AT", sequence=sequence, type_=type_, body=body, in_reply_to=notice_id
        )
        receipt = await _deliver(client, raw)
        assert (receipt["status"], receipt["reason"]) == ("rejected", "unknown-request"), type_
    assert await _stored(conn) == (1, 0, 0)
    request = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=await auth("auditor"))).json()
    assert (request["status"], request["acknowledgement"], request["answer"]) == ("open", None, None)


REJECTED: list[tuple[str, str, dict[str, Any], bool, str]] = [
    (
        "ack for no request",
        "trace.acknowledged",
        {"acknowledged_at": "2026-11-30T10:00:00Z", "answer_by": "2099-01-01"},
        False,
        "unknown-request",
    ),
    ("answer for no request", "trace.answered", {"outcome": "not-found"}, False, "unknown-request"),
    (
        "ack without in_reply_to",
        "trace.acknowledged",
        {"acknowledged_at": "2026-11-30T10:00:00Z", "answer_by": "2099-01-01"},
        None,
        "unknown-request",
    ),  # type: ignore[list-item]
    ("found without its record", "trace.answered", {"outcome": "found"}, True, "invalid-body"),
    ("a record with not-found", "trace.answered", {"outcome": "not-found", "record": RECORD}, True, "invalid-body"),
    ("restricted without reason", "trace.answered", {"outcome": "restricted"}, True, "invalid-body"),
    ("an unknown outcome", "trace.answered", {"outcome": "maybe"}, True, "invalid-body"),
    (
        "a time with an offset",
        "trace.acknowledged",
        {"acknowledged_at": "2026-11-30T10:00:00+01:00", "answer_by": "2099-01-01"},
        True,
        "invalid-body",
    ),
    (
        "a record's bad status",
        "trace.answered",
        {"outcome": "found", "record": {**RECORD, "item": {**RECORD["item"], "status": "misplaced"}}},
        True,
        "invalid-body",
    ),
]


@pytest.mark.parametrize(("why", "type_", "body", "replying", "reason"), REJECTED, ids=[case[0] for case in REJECTED])
async def test_a_reply_naming_no_request_or_invalid_for_its_type_is_rejected(
    client: Client,
    conn: db.Conn,
    auth: TokenFactory,
    why: str,
    type_: str,
    body: dict[str, Any],
    replying: bool | None,
    reason: str,
) -> None:
    _, notice_id = await _own_request(client, conn, auth)
    in_reply_to = None if replying is None else notice_id if replying else str(uuid.uuid4())
    receipt = await _deliver(client, _from_cz(1, type_, body, in_reply_to))
    assert (receipt["status"], receipt["reason"]) == ("rejected", reason), why
    assert await _stored(conn) == (1, 0, 0)
    stored = await conn.fetchrow("SELECT status, reason FROM notice_inbox")
    assert stored is not None
    assert msgspec.to_builtins(dict(stored)) == {"status": "rejected", "reason": reason}


async def test_the_known_answer_request_is_accepted_as_it_is(de: tuple[Client, db.Conn]) -> None:
    """The vector of tests/data/trace_vectors.json, delivered byte for byte to a DE registry."""
    client, conn = de
    vector = TRACE_VECTORS["notices"][0]
    raw = json.dumps(vector["envelope"], ensure_ascii=False).encode("utf-8")
    receipt = await _deliver(client, raw)
    assert (receipt["status"], receipt["reason"]) == ("accepted", None)
    records = await _headers(conn, "records-officer")
    request = (await client.get("/api/v1/trace-requests?direction=incoming", headers=records)).json()["items"][0]
    assert (request["notice_id"], request["confidentiality"], request["findings"]) == (
        vector["envelope"]["notice"]["id"],
        "confidential",
        [],
    )
    assert request["weapon"] == vector["envelope"]["notice"]["body"]["weapon"]


# --- a found answer names an item the request is about: a finding, or one carrying one of its serials ---

UNRELATED: dict[str, Any] = {**ITEM, "serial": "ZZ-9001", "markings": [{"kind": "manufacture", "stamped": "ZZ 9001"}]}


async def test_a_found_answer_naming_an_unrelated_item_is_refused_and_nothing_is_sent(
    cz: tuple[Client, db.Conn],
) -> None:
    """A mistyped item id would send an unrelated person's record abroad: 422, nothing stored, queued or journaled."""
    client, conn = cz
    records, _, request_id, _ = await _received_request(client, conn)
    unrelated = (await client.post("/api/v1/items", json=UNRELATED, headers=records)).json()["item_id"]
    before = await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action <> 'trace-request.read'")
    response = await client.post(
        f"/api/v1/trace-requests/{request_id}/answer", json={"outcome": "found", "item_id": unrelated}, headers=records
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].rsplit("/", 1)[1] == "item-not-matching-request"
    assert (problem["item_id"], problem["trace_request_id"], problem["serials"]) == (
        unrelated,
        request_id,
        ["cz 557/0042", "557-0042"],
    )
    assert await _stored(conn) == (1, 1, 0)
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'trace.answered'") == 0
    after = await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action <> 'trace-request.read'")
    assert after == before


async def test_an_unrelated_item_is_answered_found_when_the_officer_says_why_and_it_is_kept_and_journaled(
    cz: tuple[Client, db.Conn],
) -> None:
    client, conn = cz
    records, _, request_id, _ = await _received_request(client, conn)
    unrelated = (await client.post("/api/v1/items", json=UNRELATED, headers=records)).json()["item_id"]
    why = "the serial was ground off and re-stamped; identified by the frame number ZZ-9001"
    answer = {"outcome": "found", "item_id": unrelated, "unmatched_because": why}
    response = await client.post(f"/api/v1/trace-requests/{request_id}/answer", json=answer, headers=records)
    assert response.status_code == 200, response.text
    answered = response.json()["answer"]
    assert (answered["item_id"], answered["unmatched_because"]) == (unrelated, why)
    assert answered["record"]["item"]["serial"] == "ZZ-9001"
    assert await conn.fetchval("SELECT unmatched_because FROM trace_answer") == why
    entry = await conn.fetchrow("SELECT payload FROM journal_entry WHERE action = 'trace.answered'")
    assert entry is not None
    assert (entry["payload"]["item_id"], entry["payload"]["unmatched_because"]) == (unrelated, why)
    sent = await conn.fetchval("SELECT body FROM notice_outbox WHERE type = 'trace.answered'")
    assert "unmatched_because" not in sent  # the officer's words about this registry's records stay here
    read = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=records)).json()
    assert read["answer"]["unmatched_because"] == why


async def test_a_finding_needs_no_reason_and_a_reason_for_a_matching_item_is_refused(
    cz: tuple[Client, db.Conn],
) -> None:
    """The item is among the findings: answered as it is; a reason it does not match would say what is not so."""
    client, conn = cz
    records, item_id, request_id, _ = await _received_request(client, conn)
    path = f"/api/v1/trace-requests/{request_id}/answer"
    contradicted = {"outcome": "found", "item_id": item_id, "unmatched_because": "not so"}
    refused = await client.post(path, json=contradicted, headers=records)
    assert (refused.status_code, refused.json()["type"].rsplit("/", 1)[1]) == (422, "invalid-trace-answer")
    response = await client.post(path, json={"outcome": "found", "item_id": item_id}, headers=records)
    assert response.status_code == 200, response.text
    assert response.json()["answer"]["unmatched_because"] is None
    assert await conn.fetchval("SELECT unmatched_because FROM trace_answer") is None


# --- the days a received notice gives: a request's answer_by, an acknowledgement's due day ---


def _day(days: int) -> str:
    return str(TODAY + dt.timedelta(days=days))


REQUESTED_DAYS: list[tuple[str, int]] = [
    ("the day before the notice's", -1),
    ("367 days after the notice's", 367),  # a year, and a day for the sender's time zone, is 366
]


@pytest.mark.parametrize(("why", "days"), REQUESTED_DAYS, ids=[why for why, _ in REQUESTED_DAYS])
async def test_a_request_asking_its_answer_before_its_day_or_over_a_year_on_is_rejected_and_nothing_stored(
    cz: tuple[Client, db.Conn], why: str, days: int
) -> None:
    """PROTOCOL §4: a body invalid for its type is stored rejected; the answer_by a request of this registry's could
    never give (README: after its day, at most 365 days after it) would stand as a due day never met or never near."""
    client, conn = cz
    _, receipt = await _request_at_cz(client, {**REQUEST, "answer_by": _day(days)})
    assert (receipt["status"], receipt["reason"]) == ("rejected", "invalid-body"), why
    assert await _stored(conn) == (0, 0, 0)
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox") == 0
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE entity = 'trace_request'") == 0


async def test_a_request_asking_its_answer_on_its_own_day_or_a_year_and_a_day_on_is_taken(
    cz: tuple[Client, db.Conn],
) -> None:
    """The bounds: the notice's own day (UTC; the sender's may be a day behind), and 366 days on (its may be ahead)."""
    client, conn = cz
    for sequence, days in enumerate((0, 366), start=1):
        _, receipt = await _request_at_cz(client, {**REQUEST, "answer_by": _day(days)}, sequence=sequence)
        assert (receipt["status"], receipt["reason"]) == ("accepted", None), days
    assert await _stored(conn) == (2, 2, 0)


ACKNOWLEDGED_DAYS: list[tuple[str, int]] = [
    ("the day before the request's", -1),
    ("367 days after the request's", 367),
]


@pytest.mark.parametrize(("why", "days"), ACKNOWLEDGED_DAYS, ids=[why for why, _ in ACKNOWLEDGED_DAYS])
async def test_an_acknowledgement_moving_the_due_day_before_the_request_or_over_a_year_on_is_rejected(
    client: Client, conn: db.Conn, auth: TokenFactory, why: str, days: int
) -> None:
    """The acknowledgement's answer_by becomes the request's due day: one before the request was made would make it
    overdue at once, one years ahead would never be overdue. Rejected invalid-body; the due day stays."""
    request_id, notice_id = await _own_request(client, conn, auth)
    asked = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=await auth("auditor"))).json()
    ack = {"acknowledged_at": format_time(utc_now()), "answer_by": _day(days)}
    receipt = await _deliver(client, _from_cz(1, "trace.acknowledged", ack, notice_id))
    assert (receipt["status"], receipt["reason"]) == ("rejected", "invalid-body"), why
    assert await _stored(conn) == (1, 0, 0)
    now = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=await auth("auditor"))).json()
    assert (now["status"], now["due_on"], now["acknowledgement"]) == ("open", asked["due_on"], None)
    ack = {"acknowledged_at": format_time(utc_now()), "answer_by": _day(366)}  # the bound: a year and a day on
    receipt = await _deliver(client, _from_cz(2, "trace.acknowledged", ack, notice_id))
    assert (receipt["status"], receipt["reason"]) == ("accepted", None)
    kept = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=await auth("auditor"))).json()
    assert (kept["status"], kept["due_on"]) == ("acknowledged", _day(366))


# --- when an acknowledgement says it was made: between the request and its receipt, within PROTOCOL's skew ---

ACKNOWLEDGED_TIMES: list[tuple[str, str, int, str | None]] = [
    # (why, from what, seconds from it, the reason the receipt gives; None: accepted)
    ("301 s before the request was made", "asked", -301, "invalid-body"),
    ("a year before the request was made", "asked", -366 * 86400, "invalid-body"),
    ("300 s before the request was made (the skew)", "asked", -300, None),
    ("when the request was made", "asked", 0, None),
    ("290 s ahead of this registry's clock", "now", 290, None),
    ("330 s ahead of this registry's clock", "now", 330, "invalid-body"),  # 300 s, and 30 s to deliver it
    ("years ahead", "now", 40 * 366 * 86400, "invalid-body"),
]


@pytest.mark.parametrize(
    ("why", "base", "seconds", "reason"), ACKNOWLEDGED_TIMES, ids=[c[0] for c in ACKNOWLEDGED_TIMES]
)
async def test_an_acknowledgement_made_before_the_request_or_ahead_of_the_clock_is_rejected_and_nothing_kept(
    client: Client, conn: db.Conn, auth: TokenFactory, why: str, base: str, seconds: int, reason: str | None
) -> None:
    """acknowledged_at is bounded as a due day is: not before the request was made, not after the acknowledgement
    arrived, each by more than the 300 s two registries' clocks may differ (PROTOCOL §4, check 6). Outside, the
    body is invalid-body: no acknowledgement, no journal entry, the request still open."""
    request_id, notice_id = await _own_request(client, conn, auth)
    asked_at = await conn.fetchval("SELECT created_at FROM trace_request WHERE trace_request_id = $1", request_id)
    moment = (asked_at if base == "asked" else utc_now()) + dt.timedelta(seconds=seconds)
    entries = await conn.fetchval("SELECT count(*) FROM journal_entry")
    ack = {"acknowledged_at": format_time(moment), "answer_by": _day(30)}
    receipt = await _deliver(client, _from_cz(1, "trace.acknowledged", ack, notice_id))
    assert (receipt["status"], receipt["reason"]) == ("accepted" if reason is None else "rejected", reason), why
    if reason is None:
        assert await conn.fetchval("SELECT acknowledged_at FROM trace_acknowledgement") == moment
        return
    assert await _stored(conn) == (1, 0, 0)
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'trace.acknowledged'") == 0
    # the inbox journals the notice's receipt (rejected); no other entry was written
    written = await conn.fetch("SELECT action FROM journal_entry ORDER BY entry_id OFFSET $1", entries)
    assert "trace.acknowledged" not in [row["action"] for row in written]
    now = (await client.get(f"/api/v1/trace-requests/{request_id}", headers=await auth("auditor"))).json()
    assert (now["status"], now["acknowledgement"]) == ("open", None)
