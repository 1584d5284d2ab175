"""A received transit-consent request's findings as they stand when the officer reads and decides (DESIGN §4 step 3).

The findings made on arrival stay as they were (``findings``); a loss or theft reported after the request arrived,
here or by a partner, shows in ``findings_now`` and refuses a no-objection the officer does not acknowledge.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from firearms import db, item_events, items
from firearms.canonical import utc_now
from firearms.exchange import consents
from firearms.item_types import NewEvent
from tests.api.test_exchange_effects import _request, _send, _token
from tests.api.test_missing_reports import REPORT
from tests.db.test_items_store import rifle
from tests.exchange_fixtures import Client, cz
from tests.exchange_util import TODAY, WINDOW

__all__ = ["cz"]

STOLEN = "no-item-reported-lost-or-stolen"
STOLEN_ON = TODAY - dt.timedelta(days=30)
ACKNOWLEDGED = "the consignment is stopped at the border crossing; the stolen rifle is seized there"


def _results(findings: list[dict[str, Any]]) -> dict[str, str]:
    return {finding["code"]: finding["result"] for finding in findings}


def _stolen(findings: list[dict[str, Any]]) -> dict[str, Any]:
    (finding,) = [finding for finding in findings if finding["code"] == STOLEN]
    return finding


async def _arrived_clean(client: Client, conn: db.Conn) -> str:
    """AT asks CZ's consent; nothing on the licence is reported lost or stolen when the request arrives."""
    assert await _send(client, 1, "transit-consent.requested", _request(), recipient="CZ") == ("accepted", None)
    notice_id: str = await conn.fetchval("SELECT notice_id FROM consent_request_received")
    findings = await conn.fetchval("SELECT findings FROM consent_request_received")
    assert set(_results(findings).values()) == {"pass"}
    return notice_id


async def _stolen_here(conn: db.Conn, serial: str) -> None:
    async with conn.transaction():
        item = await items.register_item(conn, rifle(serial), actor="test", today=utc_now().date())
        await item_events.record_event(
            conn,
            item.item_id,
            NewEvent(event="stolen", occurred_on=STOLEN_ON),
            actor="test",
            today=utc_now().date(),
        )


async def _decided_entries(conn: db.Conn) -> list[Any]:
    rows = await conn.fetch(
        "SELECT payload FROM journal_entry WHERE action = 'transit-consent.decided' ORDER BY entry_id"
    )
    return [row["payload"] for row in rows]


async def test_a_theft_recorded_here_after_arrival_is_shown_and_refuses_an_unacknowledged_no_objection(
    cz: tuple[Client, db.Conn],
) -> None:
    client, conn = cz
    notice_id = await _arrived_clean(client, conn)
    await _stolen_here(conn, "SSG08-002")
    officer = await _token(conn, "licensing-officer")
    path = f"/api/v1/consent-requests/AT/{notice_id}"

    read = (await client.get(path, headers=officer)).json()
    assert set(_results(read["findings"]).values()) == {"pass"}  # as made on arrival
    assert _results(read["findings_now"]) == {
        "state-on-route": "pass",
        "dates-coherent": "pass",
        "import-authorisation-present": "pass",
        STOLEN: "fail",
    }
    assert _stolen(read["findings_now"])["detail"] == "reported lost or stolen here: SSG08-002"
    (listed,) = (await client.get("/api/v1/consent-requests?status=pending", headers=officer)).json()["items"]
    assert _stolen(listed["findings_now"])["result"] == "fail"

    refused = await client.post(f"{path}/decision", json={"decision": "no-objection"}, headers=officer)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/consent-items-reported-lost-or-stolen"), problem
    assert problem["serials"] == ["SSG08-002"]
    assert "SSG08-002" in problem["detail"]
    # nothing changed: no answer queued, nothing decided, nothing journaled as decided
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'transit-consent.decided'") == 0
    assert await conn.fetchval("SELECT status FROM consent_request_received") == "pending"
    assert await conn.fetchval("SELECT count(*) FROM transit_consent") == 0
    assert await _decided_entries(conn) == []

    accepted = await client.post(
        f"{path}/decision", json={"decision": "no-objection", "acknowledgement": ACKNOWLEDGED}, headers=officer
    )
    assert accepted.status_code == 200, accepted.text
    decided = accepted.json()
    assert (decided["status"], decided["decision"], decided["acknowledgement"]) == (
        "decided",
        "no-objection",
        ACKNOWLEDGED,
    )
    assert _stolen(decided["findings_at_decision"])["result"] == "fail"
    assert decided["findings_now"] is None  # decided: the findings it was decided on stand beside the decision
    (entry,) = await _decided_entries(conn)
    assert entry["acknowledgement"] == ACKNOWLEDGED
    assert _stolen(entry["findings"]) == {
        "code": STOLEN,
        "result": "fail",
        "detail": "reported lost or stolen here: SSG08-002",
    }
    # the acknowledgement is this State's own: it is not sent to the requesting State
    body = await conn.fetchval("SELECT body FROM notice_outbox WHERE type = 'transit-consent.decided'")
    assert "acknowledgement" not in body
    again = (await client.get(path, headers=officer)).json()
    assert (again["acknowledgement"], again["findings_at_decision"]) == (ACKNOWLEDGED, decided["findings_at_decision"])


async def test_a_partners_report_received_after_arrival_is_shown_and_an_objection_goes_through(
    cz: tuple[Client, db.Conn],
) -> None:
    client, conn = cz
    notice_id = await _arrived_clean(client, conn)
    assert await _send(client, 2, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    officer = await _token(conn, "licensing-officer")
    path = f"/api/v1/consent-requests/AT/{notice_id}"
    read = (await client.get(path, headers=officer)).json()
    assert _stolen(read["findings"])["result"] == "pass"
    assert (_stolen(read["findings_now"])["result"], _stolen(read["findings_now"])["detail"]) == (
        "fail",
        "SSG08-001 reported stolen by AT (report 4711)",
    )
    refused = await client.post(f"{path}/decision", json={"decision": "no-objection"}, headers=officer)
    assert refused.status_code == 409
    assert refused.json()["serials"] == ["SSG08-001"]
    objection = await client.post(
        f"{path}/decision",
        json={"decision": "objection", "reason": "a rifle of the consignment is stolen"},
        headers=officer,
    )
    assert objection.status_code == 200, objection.text
    assert (objection.json()["decision"], objection.json()["acknowledgement"]) == ("objection", None)
    (entry,) = await _decided_entries(conn)
    assert _stolen(entry["findings"])["result"] == "fail"
    assert entry["acknowledgement"] is None


async def test_a_request_whose_findings_did_not_change_is_decided_as_before(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    notice_id = await _arrived_clean(client, conn)
    await _stolen_here(conn, "SSG08-999")  # not a serial of the licence
    officer = await _token(conn, "licensing-officer")
    path = f"/api/v1/consent-requests/AT/{notice_id}"
    read = (await client.get(path, headers=officer)).json()
    assert read["findings_now"] == read["findings"]
    assert (read["findings_at_decision"], read["acknowledgement"]) == (None, None)
    decided = await client.post(f"{path}/decision", json={"decision": "no-objection"}, headers=officer)
    assert decided.status_code == 200, decided.text
    assert decided.json()["findings_at_decision"] == read["findings"]
    assert decided.json()["acknowledgement"] is None
    reply = await conn.fetchval("SELECT body FROM notice_outbox WHERE type = 'transit-consent.decided'")
    assert reply == {
        "licence_number": "AT-EXP-2026-000123",
        "decision": "no-objection",
        "reason": None,
        "valid_until": None,
    }
    (entry,) = await _decided_entries(conn)
    assert set(_results(entry["findings"]).values()) == {"pass"}


async def test_a_bad_acknowledgement_is_refused_and_changes_nothing(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    notice_id = await _arrived_clean(client, conn)
    await _stolen_here(conn, "SSG08-002")
    officer = await _token(conn, "licensing-officer")
    path = f"/api/v1/consent-requests/AT/{notice_id}/decision"
    for bad in ("", "  seized at the border", "seized\x00", "x" * 2001):
        response = await client.post(path, json={"decision": "no-objection", "acknowledgement": bad}, headers=officer)
        assert response.status_code == 400, (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await conn.fetchval("SELECT status FROM consent_request_received") == "pending"
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'transit-consent.decided'") == 0
    assert await _decided_entries(conn) == []


async def test_a_shipment_window_over_since_arrival_fails_the_dates_now(cz: tuple[Client, db.Conn]) -> None:
    """``findings_now`` is dated the day of the read: a window that ended since shows, the arrival's stays."""
    client, conn = cz
    notice_id = await _arrived_clean(client, conn)
    read = await consents.get_request(conn, "AT", notice_id, own_state="CZ", today=WINDOW[1] + dt.timedelta(days=1))
    assert read.findings_now is not None
    assert {finding.code: finding.result for finding in read.findings_now}["dates-coherent"] == "fail"
    (dates,) = [finding for finding in read.findings_now if finding.code == "dates-coherent"]
    assert dates.detail == "the shipment window is over"
    assert {finding.code: finding.result for finding in read.findings}["dates-coherent"] == "pass"
    on_the_last_day = await consents.get_request(conn, "AT", notice_id, own_state="CZ", today=WINDOW[1])
    assert on_the_last_day.findings_now == on_the_last_day.findings


def _licence_with(number: str, serials: list[str], make: str = "Steyr Mannlicher") -> dict[str, Any]:
    """A request's body: the vector licence under ``number`` whose rifle line carries ``serials`` of ``make``."""
    body = _request()
    licence = body["licence"] | {"number": number}
    rifles = licence["lines"][0] | {"serials": serials, "quantity": len(serials), "make": make}
    body["licence"] = licence | {"lines": [rifles, *licence["lines"][1:]]}
    return body


async def test_a_page_of_requests_shows_each_pending_ones_findings_now_as_its_own_read_does(
    cz: tuple[Client, db.Conn],
) -> None:
    """The list makes the page's findings at once: each entry is the request as read on its own (same findings)."""
    client, conn = cz
    bodies = {
        "AT-EXP-1": _licence_with("AT-EXP-1", ["SSG08-001", "SSG08-002"]),  # stolen by AT's report, stolen here
        "AT-EXP-2": _licence_with("AT-EXP-2", ["SSG08-101", "SSG08-102"]),  # nothing reported
        "AT-EXP-3": _licence_with("AT-EXP-3", ["ssg08 002", "SSG08/001"]),  # the same serials written otherwise
        "AT-EXP-4": _licence_with("AT-EXP-4", ["SSG08-001"], make="Sauer"),  # AT's report names a Steyr: not this
        "AT-EXP-5": _licence_with("AT-EXP-5", ["SSG08-002", "SSG08-201"]),  # decided before the theft
        "AT-EXP-6": _licence_with("AT-EXP-6", ["SSG08-301"]),
    }
    for sequence, body in enumerate(bodies.values(), start=1):
        assert await _send(client, sequence, "transit-consent.requested", body, recipient="CZ") == ("accepted", None)
    notice_ids = {
        row["licence_number"]: row["notice_id"]
        for row in await conn.fetch("SELECT licence_number, notice_id FROM consent_request_received")
    }
    officer = await _token(conn, "licensing-officer")
    decided = await client.post(
        f"/api/v1/consent-requests/AT/{notice_ids['AT-EXP-5']}/decision",
        json={"decision": "objection", "reason": "the route is closed"},
        headers=officer,
    )
    assert decided.status_code == 200, decided.text
    await _stolen_here(conn, "SSG08-002")
    await _stolen_here(conn, "SSG08-301")
    assert await _send(client, 7, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)

    listed = (await client.get("/api/v1/consent-requests", headers=officer)).json()["items"]
    assert sorted(item["licence_number"] for item in listed) == list(bodies)
    one_by_one = [
        (await client.get(f"/api/v1/consent-requests/AT/{item['notice_id']}", headers=officer)).json()
        for item in listed
    ]
    assert listed == one_by_one
    now = {item["licence_number"]: item["findings_now"] for item in listed}
    assert now["AT-EXP-5"] is None  # decided: the findings it was decided on stand
    assert {number: _stolen(findings)["detail"] for number, findings in now.items() if findings is not None} == {
        "AT-EXP-1": "reported lost or stolen here: SSG08-002; SSG08-001 reported stolen by AT (report 4711)",
        "AT-EXP-2": "no serial of the licence is reported lost or stolen here, nor by a partner",
        "AT-EXP-3": "reported lost or stolen here: ssg08 002; SSG08/001 reported stolen by AT (report 4711)",
        "AT-EXP-4": "no serial of the licence is reported lost or stolen here, nor by a partner",
        "AT-EXP-6": "reported lost or stolen here: SSG08-301",
    }
    pending = (await client.get("/api/v1/consent-requests?status=pending&limit=2", headers=officer)).json()
    assert pending["items"] == [item for item in one_by_one if item["status"] == "pending"][:2]
    # and in the domain, a page read directly: the same as the single reads, dated the same day
    today = WINDOW[1] + dt.timedelta(
        days=1
    )  # the shipment window is over: dates-coherent fails now on every pending one
    page = await consents.list_requests(conn, after=None, status=None, limit=10, own_state="CZ", today=today)
    singles = [
        await consents.get_request(conn, "AT", request.notice_id, own_state="CZ", today=today) for request in page
    ]
    assert page == singles
    assert [request.licence_number for request in page if request.findings_now is None] == ["AT-EXP-5"]
    assert {
        finding.result for request in page for finding in request.findings_now or [] if finding.code == "dates-coherent"
    } == {"fail"}


async def test_a_request_failing_on_arrival_needs_the_acknowledgement_while_the_item_is_still_reported(
    cz: tuple[Client, db.Conn],
) -> None:
    """A judgement kept: the rule is the records at the decision, whenever the loss or theft was reported.

    The arrival's finding already failed (the rifle was reported stolen before the request came): the officer saw it,
    and a no-objection to a consignment holding it still needs the officer's words why, as one reported since does.
    Recovered since, nothing fails at the decision and nothing is asked, though the arrival's finding still fails.
    """
    client, conn = cz
    async with conn.transaction():
        item = await items.register_item(conn, rifle("SSG08-002"), actor="test", today=utc_now().date())
        await item_events.record_event(
            conn, item.item_id, NewEvent(event="stolen", occurred_on=STOLEN_ON), actor="test", today=TODAY
        )
    assert await _send(client, 1, "transit-consent.requested", _request(), recipient="CZ") == ("accepted", None)
    notice_id = await conn.fetchval("SELECT notice_id FROM consent_request_received")
    assert _stolen(await conn.fetchval("SELECT findings FROM consent_request_received"))["result"] == "fail"
    officer = await _token(conn, "licensing-officer")
    path = f"/api/v1/consent-requests/AT/{notice_id}/decision"
    refused = await client.post(path, json={"decision": "no-objection"}, headers=officer)
    assert refused.status_code == 409, refused.text
    assert (refused.json()["type"].rsplit("/", 1)[1], refused.json()["serials"]) == (
        "consent-items-reported-lost-or-stolen",
        ["SSG08-002"],
    )
    assert await conn.fetchval("SELECT status FROM consent_request_received") == "pending"

    async with conn.transaction():
        await item_events.record_event(
            conn,
            item.item_id,
            NewEvent(event="recovered", occurred_on=TODAY - dt.timedelta(days=1)),
            actor="test",
            today=TODAY,
        )
    decided = await client.post(path, json={"decision": "no-objection"}, headers=officer)
    assert decided.status_code == 200, decided.text
    assert (
        _stolen(decided.json()["findings"])["result"],
        _stolen(decided.json()["findings_at_decision"])["result"],
    ) == (
        "fail",
        "pass",
    )
    assert decided.json()["acknowledgement"] is None


async def test_a_request_not_checked_again_that_failed_on_arrival_needs_the_acknowledgement(
    cz: tuple[Client, db.Conn],
) -> None:
    """A request stored before a rule on bodies tightened is decided on its arrival's findings: if they name an item
    reported lost or stolen, a no-objection needs the acknowledgement as a request checked again does.

    Before, such a request (not checked again: ``findings_now`` null) took a no-objection without it.
    """
    client, conn = cz
    assert await _send(client, 1, "transit-consent.requested", _request(), recipient="CZ") == ("accepted", None)
    row = await conn.fetchrow("SELECT * FROM consent_request_received")
    assert row is not None
    # a request as stored before serials were held to 64 characters, its arrival finding failing
    licence = row["licence"]
    licence["lines"][0]["serials"] = ["SSG08-" + "1" * 64, "SSG08-002"]
    failed = [
        finding
        if finding["code"] != STOLEN
        else finding | {"result": "fail", "detail": "reported lost or stolen here: SSG08-002"}
        for finding in row["findings"]
    ]
    await conn.execute(
        "INSERT INTO consent_request_received (requesting_state, notice_id, licence_number, licence, window_from,"
        " window_to, findings, confidentiality, received_at) VALUES ('AT', 'old-1', 'AT-EXP-OLD', $1, $2, $3, $4,"
        " 'restricted', now())",
        licence,
        row["window_from"],
        row["window_to"],
        failed,
    )
    officer = await _token(conn, "licensing-officer")
    path = "/api/v1/consent-requests/AT/old-1"
    assert (await client.get(path, headers=officer)).json()["findings_now"] is None  # not checked again
    refused = await client.post(f"{path}/decision", json={"decision": "no-objection"}, headers=officer)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/consent-items-reported-lost-or-stolen"), problem
    assert "reported lost or stolen here: SSG08-002" in problem["detail"]
    assert await conn.fetchval("SELECT status FROM consent_request_received WHERE notice_id = 'old-1'") == "pending"
    accepted = await client.post(
        f"{path}/decision", json={"decision": "no-objection", "acknowledgement": ACKNOWLEDGED}, headers=officer
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["acknowledgement"] == ACKNOWLEDGED
    assert _stolen(accepted.json()["findings_at_decision"])["result"] == "fail"
