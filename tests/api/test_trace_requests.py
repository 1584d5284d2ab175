"""Trace requests this registry sends (ITI para 14): ``POST /api/v1/trace-requests``, the lists, the due days."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from firearms import clock, db, tokens
from firearms.settings import Settings
from tests.conftest import TokenFactory
from tests.exchange_fixtures import Client
from tests.exchange_util import trust_cz_and_de

WEAPON: dict[str, Any] = {
    "kind": "firearm",
    "firearm_type": "pistol",
    "make": "Glock",
    "model": "17",
    "calibre": "9x19",
    "manufacturer": "Glock GmbH",
    "country_of_manufacture": "AT",
    "serial": "ABC-123",
    "markings": [{"kind": "manufacture", "stamped": "GLOCK AUSTRIA ABC123", "serial": "ABC123", "country": "AT"}],
}


def trace_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "recipient": "CZ",
        "weapon": WEAPON,
        "circumstances": "seized at a road check near Mikulov on 2026-11-20",
        "intended_use": "criminal investigation 4711/26",
    }
    body.update(changes)
    return body


@pytest.fixture
async def officer(auth: TokenFactory, conn: db.Conn) -> dict[str, str]:
    await trust_cz_and_de(conn)
    return await auth("records-officer")


async def counts(conn: db.Conn) -> tuple[int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM trace_request), (SELECT count(*) FROM notice_outbox WHERE type LIKE 'trace.%')"
    )
    assert row is not None
    return (row[0], row[1])


async def test_an_officer_asks_a_partner_to_trace_a_described_weapon(
    client: Client,
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    response = await client.post("/api/v1/trace-requests", json=trace_body(), headers=officer)
    assert response.status_code == 201, response.text
    made = response.json()
    today = dt.datetime.now(dt.UTC).date()
    assert (made["direction"], made["partner_state"], made["status"], made["overdue"]) == (
        "outgoing",
        "CZ",
        "open",
        False,
    )
    assert made["answer_by"] == made["due_on"] == (today + dt.timedelta(days=30)).isoformat()
    assert made["weapon"]["serial"] == "ABC-123"
    assert made["weapon"]["markings"][0]["stamped"] == "GLOCK AUSTRIA ABC123"
    assert (made["findings"], made["findings_omitted"], made["acknowledgement"], made["answer"]) == (
        None,
        None,
        None,
        None,
    )
    assert [(n["type"], n["recipient"], n["status"]) for n in made["notices"]] == [("trace.requested", "CZ", "queued")]
    assert made["notices"][0]["notice_id"] == made["notice_id"]
    sent = await conn.fetchrow(
        "SELECT type, recipient, confidentiality, body, in_reply_to FROM notice_outbox WHERE notice_id = $1",
        uuid.UUID(made["notice_id"]),
    )
    assert sent is not None
    assert (sent["type"], sent["recipient"], sent["confidentiality"], sent["in_reply_to"]) == (
        "trace.requested",
        "CZ",
        "restricted",
        None,
    )
    assert sent["body"]["circumstances"] == trace_body()["circumstances"]
    assert sent["body"]["answer_by"] == made["answer_by"]
    assert sent["body"]["weapon"]["markings"][0]["serial"] == "ABC123"
    entry = await conn.fetchrow(
        "SELECT actor, payload FROM journal_entry WHERE action = 'trace.requested' AND entity = 'trace_request'"
        " AND entity_id = $1",
        str(made["trace_request_id"]),
    )
    assert entry is not None
    assert entry["payload"]["serials"] == ["ABC-123", "ABC123"]
    assert entry["payload"]["recipient"] == "CZ"


async def test_a_request_about_an_item_recorded_here_takes_its_description_from_the_record(
    client: Client,
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    item = {
        "kind": "firearm",
        "firearm_type": "rifle",
        "manufacturer": "Ceska zbrojovka",
        "country_of_manufacture": "CZ",
        "serial": "CZ-555",
        "make": "CZ",
        "model": "557",
        "calibre": ".308 Win",
        "markings": [{"kind": "manufacture", "stamped": "CZ UHERSKY BROD CZ-555", "serial": "CZ-555"}],
    }
    registered = await client.post("/api/v1/items", json=item, headers=officer)
    assert registered.status_code == 201, registered.text
    item_id = registered.json()["item_id"]
    answer_by = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=60)).isoformat()
    body = trace_body(weapon=None, item_id=item_id, confidentiality="confidential", answer_by=answer_by)
    response = await client.post("/api/v1/trace-requests", json=body, headers=officer)
    assert response.status_code == 201, response.text
    made = response.json()
    assert (made["item_id"], made["confidentiality"], made["answer_by"]) == (item_id, "confidential", answer_by)
    assert made["weapon"]["manufacturer"] == "Ceska zbrojovka"
    assert made["weapon"]["markings"] == [
        {
            "kind": "manufacture",
            "stamped": "CZ UHERSKY BROD CZ-555",
            "manufacturer": None,
            "place": None,
            "country": None,
            "serial": "CZ-555",
            "year": None,
            "model": None,
            "symbol_code": None,
            "alphanumeric_code": None,
        }
    ]
    level = await conn.fetchval("SELECT confidentiality FROM notice_outbox WHERE type = 'trace.requested'")
    assert level == "confidential"


BAD: list[tuple[dict[str, Any], int, str]] = [
    (trace_body(colour="black"), 400, "invalid-request"),
    (trace_body(circumstances=""), 400, "invalid-request"),
    (trace_body(circumstances="x" * 4001), 400, "invalid-request"),
    (trace_body(confidentiality="secret"), 400, "invalid-request"),
    (trace_body(weapon={**WEAPON, "serial": 12}), 400, "invalid-request"),
    (trace_body(weapon={**WEAPON, "calibre": 9.0}), 400, "invalid-request"),
    (trace_body(weapon=None), 422, "invalid-trace-request"),
    (trace_body(item_id=1), 422, "invalid-trace-request"),
    (trace_body(recipient="AT"), 422, "invalid-trace-request"),
    (trace_body(answer_by="2020-01-01"), 422, "invalid-trace-request"),
    (trace_body(answer_by="9999-12-31"), 422, "invalid-trace-request"),
    (trace_body(weapon={"kind": "firearm", "make": "Glock"}), 422, "invalid-trace-request"),
    (trace_body(recipient="FR"), 422, "unknown-peer"),
    (trace_body(weapon={**WEAPON, "country_of_manufacture": "XX"}), 422, "invalid-country"),
    (trace_body(weapon={**WEAPON, "markings": [{"kind": "geometric", "stamped": "G"}]}), 422, "invalid-marking"),
    (trace_body(weapon=None, item_id=999), 404, "not-found"),
    # a registration's rules: the fields of the weapon's kind, a marking not stamped before the weapon was made
    (trace_body(weapon={**WEAPON, "component_type": "barrel"}), 422, "invalid-kind-fields"),
    (trace_body(weapon={**WEAPON, "kind": "component"}), 422, "invalid-kind-fields"),
    (trace_body(weapon={**WEAPON, "kind": "ammunition"}), 422, "invalid-kind-fields"),
    (
        trace_body(
            weapon={**WEAPON, "year_of_manufacture": 2020, "markings": [{**WEAPON["markings"][0], "year": 2010}]}
        ),
        422,
        "year-before-manufacture",
    ),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD)
async def test_a_bad_trace_request_is_a_problem_and_nothing_is_stored(
    client: Client,
    officer: dict[str, str],
    conn: db.Conn,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = await client.post("/api/v1/trace-requests", json=body, headers=officer)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].rsplit("/", 1)[1] == code
    assert await counts(conn) == (0, 0)


async def test_a_disabled_partner_is_asked_nothing(
    client: Client,
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    await conn.execute("UPDATE peer SET enabled = false WHERE state = 'CZ'")
    response = await client.post("/api/v1/trace-requests", json=trace_body(), headers=officer)
    assert response.status_code == 422
    assert (response.json()["type"].rsplit("/", 1)[1], response.json()["state"]) == ("peer-disabled", "CZ")
    assert await counts(conn) == (0, 0)


async def test_a_retry_with_the_same_idempotency_key_sends_one_request(
    client: Client,
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    headers = {**officer, "Idempotency-Key": "trace-1"}
    first = await client.post("/api/v1/trace-requests", json=trace_body(), headers=headers)
    before = await conn.fetchval("SELECT max(entry_id) FROM journal_entry")
    again = await client.post("/api/v1/trace-requests", json=trace_body(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert await counts(conn) == (1, 1)
    # the request shown again (where the weapon was found) is a read, as the list's and the request's are
    reads = await conn.fetch("SELECT action, payload FROM journal_entry WHERE entry_id > $1 ORDER BY entry_id", before)
    assert [tuple(row) for row in reads] == [("trace-request.read", {"ids": [str(first.json()["trace_request_id"])]})]
    other = await client.post("/api/v1/trace-requests", json=trace_body(intended_use="other"), headers=headers)
    assert other.status_code == 409
    assert other.json()["type"].rsplit("/", 1)[1] == "idempotency-key-reused"
    assert await counts(conn) == (1, 1)


async def test_only_records_officers_and_admins_ask_and_auditors_read(
    client: Client,
    officer: dict[str, str],
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    made = (await client.post("/api/v1/trace-requests", json=trace_body(), headers=officer)).json()
    for role in ("licensing-officer", "customs-officer", "verifier", "auditor"):
        refused = await client.post("/api/v1/trace-requests", json=trace_body(), headers=await auth(role))
        assert refused.status_code == 403, role
    admin = await client.post("/api/v1/trace-requests", json=trace_body(), headers=await auth("admin"))
    assert admin.status_code == 201
    auditor = await auth("auditor")
    read = await client.get(f"/api/v1/trace-requests/{made['trace_request_id']}", headers=auditor)
    assert read.status_code == 200
    assert read.json()["notice_id"] == made["notice_id"]
    entry = await conn.fetchrow(
        "SELECT actor, payload FROM journal_entry WHERE action = 'trace-request.read' ORDER BY entry_id DESC LIMIT 1"
    )
    assert entry is not None
    assert (entry["actor"].startswith("officer:"), entry["payload"]) == (True, {"ids": [str(made["trace_request_id"])]})
    others: tuple[tokens.Role, ...] = ("licensing-officer", "customs-officer", "verifier")
    for role in others:
        assert (await client.get("/api/v1/trace-requests", headers=await auth(role))).status_code == 403, role


async def test_the_list_pages_filters_and_shows_overdue_requests(
    client: Client,
    officer: dict[str, str],
    conn: db.Conn,
) -> None:
    ids = []
    for recipient in ("CZ", "DE", "CZ"):
        made = await client.post("/api/v1/trace-requests", json=trace_body(recipient=recipient), headers=officer)
        ids.append(made.json()["trace_request_id"])
    first = (await client.get("/api/v1/trace-requests?direction=outgoing&limit=2", headers=officer)).json()
    assert [item["trace_request_id"] for item in first["items"]] == ids[:2]
    rest = (await client.get(f"/api/v1/trace-requests?limit=2&after={first['next']}", headers=officer)).json()
    assert ([item["trace_request_id"] for item in rest["items"]], rest["next"]) == (ids[2:], None)
    read = await conn.fetchrow(
        "SELECT entity_id, payload FROM journal_entry WHERE action = 'trace-request.read' ORDER BY entry_id DESC"
    )
    assert read is not None
    assert (read["entity_id"], read["payload"]) == (str(ids[2]), {"ids": [str(ids[2])]})
    assert (await client.get("/api/v1/trace-requests?direction=incoming", headers=officer)).json()["items"] == []
    assert len((await client.get("/api/v1/trace-requests?status=open", headers=officer)).json()["items"]) == 3
    assert (await client.get("/api/v1/trace-requests?status=answered", headers=officer)).json()["items"] == []
    assert (await client.get("/api/v1/trace-requests?overdue=true", headers=officer)).json()["items"] == []
    # the second request's day passed (moved back behind the guards: answer_by never changes otherwise)
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("UPDATE trace_request SET answer_by = '2026-01-05' WHERE trace_request_id = $1", ids[1])
    overdue = (await client.get("/api/v1/trace-requests?overdue=true", headers=officer)).json()["items"]
    assert [(item["trace_request_id"], item["overdue"], item["due_on"]) for item in overdue] == [
        (ids[1], True, "2026-01-05")
    ]
    for query in ("direction=sideways", "status=closed", "overdue=maybe", "limit=0"):
        bad = await client.get(f"/api/v1/trace-requests?{query}", headers=officer)
        assert (bad.status_code, bad.json()["type"].rsplit("/", 1)[1]) == (400, "invalid-request"), query
    cursor = await client.get("/api/v1/trace-requests?after=zzz", headers=officer)
    assert (cursor.status_code, cursor.json()["type"].rsplit("/", 1)[1]) == (422, "invalid-cursor")
    missing = await client.get("/api/v1/trace-requests/99999", headers=officer)
    assert (missing.status_code, missing.json()["type"].rsplit("/", 1)[1]) == (404, "not-found")


async def test_an_item_with_more_markings_than_a_request_carries_is_described_instead(
    client: Client, officer: dict[str, str], conn: db.Conn
) -> None:
    item = {
        "kind": "firearm",
        "firearm_type": "pistol",
        "manufacturer": "Glock GmbH",
        "country_of_manufacture": "AT",
        "serial": "MANY-1",
        "markings": [{"kind": "proof", "stamped": f"PROOF {n}"} for n in range(19)]
        + [{"kind": "manufacture", "stamped": "GLOCK MANY-1", "serial": "MANY-1"}],
    }
    registered = await client.post("/api/v1/items", json=item, headers=officer)
    assert registered.status_code == 201, registered.text
    item_id = registered.json()["item_id"]
    taken = await client.post("/api/v1/trace-requests", json=trace_body(weapon=None, item_id=item_id), headers=officer)
    assert taken.status_code == 201, taken.text  # 20 markings: as many as a request carries
    more = await client.post(
        f"/api/v1/items/{item_id}/markings", json={"kind": "proof", "stamped": "PROOF 20"}, headers=officer
    )
    assert more.status_code == 201, more.text
    refused = await client.post(
        "/api/v1/trace-requests", json=trace_body(weapon=None, item_id=item_id), headers=officer
    )
    assert refused.status_code == 422
    assert (refused.json()["type"].rsplit("/", 1)[1], refused.json()["item_id"]) == ("invalid-trace-request", item_id)
    assert await counts(conn) == (1, 1)


async def test_an_answer_asked_for_more_than_a_year_ahead_is_refused(
    client: Client, officer: dict[str, str], conn: db.Conn, settings: Settings
) -> None:
    """A day years ahead (a typed year) would never be overdue and tells the partner there is no hurry."""
    today = clock.today(settings.time_zone)
    late = await client.post(
        "/api/v1/trace-requests", json=trace_body(answer_by=str(today + dt.timedelta(days=366))), headers=officer
    )
    assert late.status_code == 422, late.text
    assert (late.json()["type"].rsplit("/", 1)[1], late.json()["field"]) == ("invalid-trace-request", "answer_by")
    assert await counts(conn) == (0, 0)
    year = await client.post(
        "/api/v1/trace-requests", json=trace_body(answer_by=str(today + dt.timedelta(days=365))), headers=officer
    )
    assert year.status_code == 201, year.text
    assert await counts(conn) == (1, 1)
