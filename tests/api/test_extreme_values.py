"""Extreme but well-formed dates, times and numbers over the real app: a clear problem or a right answer, never a 500.

Records are kept 10 to 30 years: a value at the edge of what Python's ``date``/``datetime`` or a column holds (the years
1 and 9999, an offset that moves a time past them) must be refused with a problem that names it, and nothing stored,
or be stored so that every later read works.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from firearms import clock, db, licence_timers, status, tokens
from firearms.canonical import utc_now
from firearms.exchange.protocol import decode_receipt, make_time
from firearms.settings import Settings
from tests.api.test_exchange_effects import _trust
from tests.api.test_items_api import DEACTIVATION_MARK, event_body, rifle
from tests.api.test_licences_api import _counts, _setup
from tests.changes import changes
from tests.check_helpers import check_body
from tests.conftest import TokenFactory
from tests.exchange_fixtures import Client, de
from tests.exchange_util import AT_KEY, VECTORS, current_licence, envelope
from tests.exchange_util import DE_KEY as DE_SIGNING_KEY
from tests.licensing_helpers import issued_export, register_parties

__all__ = ["de"]

PROBLEM = "tag:firearms-registry,2026:problems/"
DE_KEY = VECTORS["keys"]["DE"]["public_key"]
CZ_KEY = VECTORS["keys"]["OTHER"]["public_key"]
FIRST, LAST = "0001-01-01", "9999-12-31"  # the first and the last day Python's date (and so the registry) holds
TODAY = clock.today(dt.UTC).isoformat()  # the test registry's zone is UTC
LICENCE: dict[str, Any] = current_licence(VECTORS["notice"]["envelope"]["notice"]["body"]["licence"])

# Times a JSON body may carry (RFC 3339 with an offset) whose UTC moment lies before the year 1 or after 9999:
# Python cannot convert them to UTC (OverflowError).
BEYOND_UTC = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"]


@pytest.mark.parametrize("not_before", BEYOND_UTC)
async def test_a_key_start_whose_utc_moment_is_beyond_the_years_1_to_9999_is_refused_naming_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    not_before: str,
) -> None:
    """``POST /peers`` and ``POST /peers/{state}/keys``: a 422 naming the time as given, not a 500, nothing stored.

    Before, the refusal's words converted the time to UTC (``format_time``) and the conversion overflowed.
    """
    admin = await auth("admin")
    body = {"state": "CZ", "base_url": "http://cz.example", "public_key": CZ_KEY}
    assert (await client.post("/api/v1/peers", json=body, headers=admin)).status_code == 201
    before = await changes(conn)
    peer = {"state": "DE", "base_url": "http://de.example", "public_key": DE_KEY, "not_before": not_before}
    key = {"public_key": DE_KEY, "not_before": not_before}
    for url, sent in (("/api/v1/peers", peer), ("/api/v1/peers/CZ/keys", key)):
        response = await client.post(url, json=sent, headers=admin)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == PROBLEM + "invalid-input"
        assert not_before in problem["detail"]
        assert "between 1970 and 9998" in problem["detail"]
    assert await changes(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM peer_key") == 1


async def _licence_body(client: AsyncTestClient, officer: dict[str, str], **changes: Any) -> dict[str, Any]:  # type: ignore[type-arg]
    body = await _setup(client, officer)
    body["broker_ids"] = []  # a broker's registration (a year from today) would bound the validity
    body.update(changes)
    return body


async def test_a_licence_valid_from_the_year_1_to_the_last_day_of_9999_works_everywhere(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
) -> None:
    """The widest validity a date holds is legitimate: issued, read, checked at the exit, verified, left to the timers.

    Nothing adds a day to its last day or subtracts one from its first (Python's ``date`` would overflow): the expiry
    timer reads it only once the day after has come, and the overview and the timers pass it by.
    """
    officer, customs, admin = await auth("licensing-officer"), await auth("customs-officer"), await auth("admin")
    authorisation = {"number": "DE-IMP-2026-42", "state": "DE", "issued_on": FIRST, "expires_on": LAST}
    body = await _licence_body(client, officer, valid_from=FIRST, expires_on=LAST, import_authorisation=authorisation)
    created = await client.post("/api/v1/licences", json=body, headers=officer)
    assert created.status_code == 201, created.text
    base = f"/api/v1/licences/{created.json()['licence_id']}"
    number = created.json()["licence"]["number"]
    assert (await client.post(f"{base}/submit", json={"reason": "complete"}, headers=officer)).status_code == 200
    consent = {"transit_state": "CZ", "decision": "no-objection", "decided_on": TODAY, "valid_until": LAST}
    assert (await client.post(f"{base}/transit-consents", json=consent, headers=officer)).status_code == 201
    issued = await client.post(f"{base}/issue", json={"reason": "every gate holds"}, headers=officer)
    assert issued.status_code == 200, issued.text
    assert (issued.json()["licence"]["valid_from"], issued.json()["licence"]["expires_on"]) == (FIRST, LAST)

    for path in ("", "/versions", "/versions/1", "/events", "/gates", "/transit-consents", "/transit-consent-requests"):
        assert (await client.get(f"{base}{path}", headers=officer)).status_code == 200, path
    check = check_body(
        "export",
        lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}],
        licence_number=number,
        crossing_point="AT-Wullowitz",
    )
    cleared = await client.post("/api/v1/checks", json=check, headers=customs)
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["verdict"], cleared.json()["licence"]["expires_on"]) == ("clear", LAST)
    verified = await client.get(f"/api/v1/verify/{number}", headers=customs)
    assert verified.status_code == 200, verified.text
    assert (verified.json()["expires_on"], verified.json()["in_validity_period"]) == (LAST, True)

    assert await licence_timers.run_licence_timers(conn, settings) == (0, 0)
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12"):  # UTC+14 and UTC-12: the calendar's two ends
        zoned = msgspec.structs.replace(settings, time_zone=zoneinfo.ZoneInfo(zone))
        assert await licence_timers.run_licence_timers(conn, zoned) == (0, 0)
        assert (await status.read_status(conn, zoned)).attention == []
    overview = await client.get("/api/v1/status", headers=admin)
    assert overview.status_code == 200, overview.text
    assert overview.json()["attention"] == []
    assert (await client.get(base, headers=officer)).json()["status"] == "issued"
    journal_verified = await client.get("/api/v1/journal/verify", headers=admin)
    assert journal_verified.json()["intact"] is True


async def _admin(conn: db.Conn) -> dict[str, str]:
    secret, _ = await tokens.create_token(conn, role="admin", name="test admin", actor="test")
    return {"Authorization": f"Bearer {secret}"}


def _refused(response: Any, status_code: int, code: str) -> dict[str, Any]:
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["type"] == PROBLEM + code, problem
    return problem


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"valid_from": LAST, "expires_on": FIRST}, "invalid-validity"),  # ends before it starts
        ({"expires_on": FIRST}, "invalid-validity"),  # valid from today: ends 2,000 years before
        ({"valid_from": "0000-12-31"}, "invalid-request"),  # no date: Python's calendar starts at the year 1
        ({"expires_on": "10000-01-01"}, "invalid-request"),
        ({"expires_on": "9999-12-32"}, "invalid-request"),
    ],
)
async def test_a_licence_draft_with_dates_at_or_past_the_calendars_ends_in_the_wrong_order_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    changes: dict[str, str],
    code: str,
) -> None:
    officer = await auth("licensing-officer")
    body = await _licence_body(client, officer, **changes)
    before = await _counts(conn)
    _refused(
        await client.post("/api/v1/licences", json=body, headers=officer), 422 if "validity" in code else 400, code
    )
    assert await _counts(conn) == before


# A line's quantity is 1 to 2^53 - 1 (what a JSON number holds exactly): the edges and what lies past them.
QUANTITIES_REFUSED = [0, -1, 2**53, 2**63 - 1, 2**63, 2**64 + 1, 1e3, 1.0, "1"]


@pytest.mark.parametrize("quantity", QUANTITIES_REFUSED, ids=repr)
async def test_a_licence_line_quantity_past_its_bounds_is_invalid_request(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    quantity: object,
) -> None:
    officer = await auth("licensing-officer")
    body = await _licence_body(client, officer)
    body["lines"][1]["quantity"] = quantity
    before = await _counts(conn)
    problem = _refused(await client.post("/api/v1/licences", json=body, headers=officer), 400, "invalid-request")
    assert "quantity" in str(problem.get("errors")), problem
    assert await _counts(conn) == before


async def test_a_number_past_a_double_is_invalid_request_not_a_500(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """``1e400`` (no float holds it) and an integer of hundreds of digits, written into the JSON text as they are."""
    officer = await auth("licensing-officer")
    body = await _licence_body(client, officer)
    body["lines"][1]["quantity"] = 7
    text = msgspec.json.encode(body).decode()
    before = await _counts(conn)
    for number in ("1e400", "1" * 400, "-1e400"):
        sent = text.replace('"quantity":7', f'"quantity":{number}')
        assert sent != text
        response = await client.post(
            "/api/v1/licences", content=sent, headers=officer | {"Content-Type": "application/json"}
        )
        _refused(response, 400, "invalid-request")
    assert await _counts(conn) == before


async def test_the_largest_quantity_a_line_holds_is_issued_and_debited_to_zero(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """2^53 - 1 cartridges: issued, checked at the exit in one consignment, the balance 0 (the licence exhausted)."""
    officer, customs = await auth("licensing-officer"), await auth("customs-officer")
    body = await _licence_body(client, officer)
    body["lines"] = [body["lines"][1] | {"line": 1, "quantity": 2**53 - 1}]
    created = await client.post("/api/v1/licences", json=body, headers=officer)
    assert created.status_code == 201, created.text
    base = f"/api/v1/licences/{created.json()['licence_id']}"
    assert (await client.post(f"{base}/submit", json={"reason": "complete"}, headers=officer)).status_code == 200
    consent = {"transit_state": "CZ", "decision": "no-objection", "decided_on": TODAY}
    assert (await client.post(f"{base}/transit-consents", json=consent, headers=officer)).status_code == 201
    assert (await client.post(f"{base}/issue", json={"reason": "ok"}, headers=officer)).status_code == 200
    number = created.json()["licence"]["number"]
    lines = [{"line": 1, "quantity": 2**53 - 1}]
    check = check_body("export", lines=lines, licence_number=number, crossing_point="AT-Wullowitz")
    cleared = await client.post("/api/v1/checks", json=check, headers=customs)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["verdict"] == "clear", cleared.json()
    balances = await client.get(f"{base}/balances", headers=officer)
    assert [(line["issued"], line["remaining"]) for line in balances.json()["lines"]] == [(2**53 - 1, 0)]
    again = check_body(
        "export", lines=[{"line": 1, "quantity": 1}], licence_number=number, crossing_point="AT-Wullowitz"
    )
    refused = await client.post("/api/v1/checks", json=again, headers=customs)
    assert refused.status_code == 200, refused.text
    assert refused.json()["verdict"] == "refuse"


@pytest.mark.parametrize("quantity", [*QUANTITIES_REFUSED], ids=repr)
async def test_a_check_line_quantity_past_its_bounds_is_invalid_request(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    quantity: object,
) -> None:
    customs = await auth("customs-officer")
    before = await changes(conn)
    body = check_body("export", lines=[{"line": 2, "quantity": quantity}], crossing_point="AT-Wullowitz")
    _refused(await client.post("/api/v1/checks", json=body, headers=customs), 400, "invalid-request")
    assert await changes(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0


@pytest.mark.parametrize(
    ("decision", "code"),
    [
        ({"decided_on": LAST}, "decision-in-future"),
        ({"decided_on": TODAY, "valid_until": FIRST}, "invalid-validity"),
    ],
)
async def test_a_transit_consent_dated_at_the_calendars_ends_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    decision: dict[str, str],
    code: str,
) -> None:
    officer = await auth("licensing-officer")
    created = await client.post("/api/v1/licences", json=await _licence_body(client, officer), headers=officer)
    base = f"/api/v1/licences/{created.json()['licence_id']}"
    assert (await client.post(f"{base}/submit", json={"reason": "complete"}, headers=officer)).status_code == 200
    before = await _counts(conn)
    sent = {"transit_state": "CZ", "decision": "no-objection", **decision}
    _refused(await client.post(f"{base}/transit-consents", json=sent, headers=officer), 422, code)
    assert await _counts(conn) == before


async def _notice(client: Client, raw: bytes) -> tuple[int, str | None, str | None]:
    """(HTTP status, receipt status or problem type, receipt reason)."""
    response = await client.post("/exchange/v1/notices", content=raw)
    if response.status_code == 202:
        receipt = decode_receipt(response.content).receipt
        return 202, receipt.status, receipt.reason
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.status_code, response.json()["type"].rsplit("/", 1)[1], None


@pytest.mark.parametrize(
    ("created_at", "status_code", "code"),
    [
        ("0001-01-01T00:00:00Z", 403, "unknown-key"),  # before the key's validity (from 1970 at the earliest)
        ("9999-12-31T23:59:59Z", 400, "clock-skew"),
        ("2026-12-31T23:59:60Z", 400, "malformed-notice"),  # a leap second: no time Python (or PROTOCOL §2) has
        ("2026-12-31T24:00:00Z", 400, "malformed-notice"),
    ],
)
async def test_a_notice_created_at_the_calendars_ends_is_refused_with_a_problem(
    de: tuple[Client, db.Conn], created_at: str, status_code: int, code: str
) -> None:
    client, conn = de
    before = await changes(conn)
    raw = envelope(
        AT_KEY, recipient="DE", type_="export-licence.issued", body={"licence": LICENCE}, created_at=created_at
    )
    assert await _notice(client, raw) == (status_code, code, None)
    assert await changes(conn) == before


async def test_a_partner_licence_valid_from_the_year_1_to_9999_is_taken_and_times_past_them_are_invalid_bodies(
    de: tuple[Client, db.Conn],
) -> None:
    """Dates at the calendar's ends are a partner's to give (they are legitimate here too); a time is PROTOCOL §2's.

    A time with an offset, a fraction, or past 9999 in UTC is ``invalid-body``, its sequence used, nothing stored.
    """
    client, conn = de
    sequence = 0

    async def send(type_: str, body: dict[str, Any]) -> tuple[int, str | None, str | None]:
        nonlocal sequence
        sequence += 1
        return await _notice(client, envelope(AT_KEY, recipient="DE", sequence=sequence, type_=type_, body=body))

    widest = LICENCE | {"valid_from": FIRST, "expires_on": LAST}
    assert await send("export-licence.issued", {"licence": widest}) == (202, "accepted", None)
    admin = await _admin(conn)
    read = await client.get(f"/api/v1/foreign-licences/AT/{LICENCE['number']}", headers=admin)
    assert read.status_code == 200, read.text
    assert (read.json()["licence"]["valid_from"], read.json()["licence"]["expires_on"]) == (FIRST, LAST)
    stored = await conn.fetchval("SELECT count(*) FROM foreign_licence")
    for moment in (
        "9999-12-31T23:00:00-05:00",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59.999999Z",
        # protocol times all, but outside 1970-9998: the first moment of the year 1 was stored as -infinity, read back
        # without a zone, and the next customs check on the licence compared it with an aware time (a 500)
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "9999-01-01T00:00:00Z",
    ):
        change = {
            "licence_number": LICENCE["number"],
            "issuing_state": "AT",
            "version": 1,
            "status": "suspended",
            "reason": "inquiry",
            "effective_at": moment,
        }
        assert await send("licence.status-changed", change) == (202, "rejected", "invalid-body"), moment
        dispatched = {
            "licence_number": LICENCE["number"],
            "shipment_id": "SHP-1",
            "dispatched_at": moment,
            "items": [{"line": 2, "quantity": 1}],
        }
        assert await send("shipment.dispatched", dispatched) == (202, "rejected", "invalid-body"), moment
    assert await conn.fetchval("SELECT count(*) FROM foreign_licence") == stored
    assert await conn.fetchval("SELECT status FROM foreign_licence") == "issued"
    assert await conn.fetchval("SELECT count(*) FROM shipment_dispatch") == 0
    chain = await client.get("/api/v1/journal/verify", headers=admin)
    assert chain.json()["intact"] is True


@pytest.mark.parametrize(
    ("event", "dates", "status_code", "code"),
    [
        ("stolen", {"occurred_on": LAST}, 422, "date-in-future"),
        ("deactivated", {"certificate_date": LAST}, 422, "date-in-future"),
        ("lost", {"occurred_on": FIRST}, 422, "date-before-manufacture"),  # made in 2019
        ("lost", {"occurred_on": "0000-12-31"}, 400, "invalid-request"),
    ],
)
async def test_an_item_event_dated_at_the_calendars_ends_is_refused_by_its_rule(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    event: str,
    dates: dict[str, str],
    status_code: int,
    code: str,
) -> None:
    officer = await auth("records-officer")
    item_id = (await client.post("/api/v1/items", json=rifle("EDGE-1"), headers=officer)).json()["item_id"]
    if event == "deactivated":
        mark = await client.post(f"/api/v1/items/{item_id}/markings", json=DEACTIVATION_MARK, headers=officer)
        assert mark.status_code == 201, mark.text
    before = await changes(conn)
    response = await client.post(f"/api/v1/items/{item_id}/events", json=event_body(event, **dates), headers=officer)
    _refused(response, status_code, code)
    assert await changes(conn) == before


async def test_an_event_dated_0001_01_01_on_an_item_of_unknown_year_is_kept_and_read(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """No rule refuses it (the item's year of making is unknown): its history, the item and the exports read it."""
    officer = await auth("records-officer")
    body = rifle("EDGE-2")
    del body["year_of_manufacture"]
    item_id = (await client.post("/api/v1/items", json=body, headers=officer)).json()["item_id"]
    lost = await client.post(
        f"/api/v1/items/{item_id}/events", json=event_body("lost", occurred_on=FIRST), headers=officer
    )
    assert lost.status_code == 201, lost.text
    assert lost.json()["occurred_on"] == FIRST
    history = await client.get(f"/api/v1/items/{item_id}/history", headers=officer)
    assert history.status_code == 200, history.text
    assert FIRST in history.text, history.json()
    assert (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()["status"] == "lost"
    exported = await client.get("/api/v1/items/export?format=ndjson", headers=officer)
    assert exported.status_code == 200, exported.text
    assert f'"occurred_on":"{FIRST}"' in exported.text


@pytest.mark.parametrize("year", [1, 1299, 10000, 2**31, 2**63, 1e3, 2019.0, "2019"], ids=repr)
async def test_a_marking_year_past_its_bounds_is_invalid_request(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    year: object,
) -> None:
    officer = await auth("records-officer")
    item_id = (await client.post("/api/v1/items", json=rifle("EDGE-3"), headers=officer)).json()["item_id"]
    before = await changes(conn)
    mark = {"kind": "proof", "stamped": "BP", "year": year}
    _refused(await client.post(f"/api/v1/items/{item_id}/markings", json=mark, headers=officer), 400, "invalid-request")
    assert await changes(conn) == before


@pytest.mark.parametrize("received_on", [LAST, "later"])
async def test_a_receipt_confirmed_on_a_day_after_the_notice_arrived_is_an_invalid_body(
    client: AsyncTestClient,  # type: ignore[type-arg]
    conn: db.Conn,
    settings: Settings,
    received_on: str,
) -> None:
    """The importing State confirms a receipt that happened: dated 9999-12-31 (or two days ahead), it is refused.

    As a lost or stolen report's day (a day's grace for the time zones). Before, it was stored, and the shipment's
    ``received_on`` (the latest part's) read 9999-12-31 for ever after.
    """
    day = (clock.today(dt.UTC) + dt.timedelta(days=2)).isoformat() if received_on == "later" else received_on
    number = (await issued_export(conn, settings, await register_parties(conn))).licence.number
    await _trust(conn, "AT", "DE", "DE")
    confirmed = {
        "licence_number": number,
        "shipment_id": "SHP-1",
        "received_on": day,
        "customs_document": "ATB-2026-1",
        "items": [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}],
    }
    raw = envelope(DE_SIGNING_KEY, sender="DE", recipient="AT", type_="receipt.confirmed", body=confirmed)
    assert await _notice(client, raw) == (202, "rejected", "invalid-body")
    assert await conn.fetchval("SELECT count(*) FROM shipment_record") == 0
    tomorrow = (clock.today(dt.UTC) + dt.timedelta(days=1)).isoformat()  # the grace day: a zone ahead of UTC
    raw = envelope(
        DE_SIGNING_KEY,
        sender="DE",
        recipient="AT",
        sequence=2,
        type_="receipt.confirmed",
        body=confirmed | {"received_on": tomorrow},
    )
    assert await _notice(client, raw) == (202, "accepted", None)


@pytest.mark.parametrize("ahead", ["9998-12-31T23:59:59Z", "an hour"])
async def test_a_dispatch_timed_after_its_notice_arrived_is_an_invalid_body(
    de: tuple[Client, db.Conn], ahead: str
) -> None:
    """The exporting State reports a dispatch that happened: one timed ahead of the notice's arrival (beyond
    PROTOCOL's 300 s of clock skew) is refused. Before, it was stored, and the shipment's ``dispatched_at`` (the
    latest part's) read 9998 for ever after.
    """
    client, conn = de
    moment = make_time(utc_now() + dt.timedelta(hours=1)) if ahead == "an hour" else ahead
    assert await _notice(
        client, envelope(AT_KEY, recipient="DE", type_="export-licence.issued", body={"licence": LICENCE})
    ) == (
        202,
        "accepted",
        None,
    )
    dispatched = {
        "licence_number": LICENCE["number"],
        "shipment_id": "SHP-1",
        "dispatched_at": moment,
        "items": [{"line": 2, "quantity": 1}],
    }
    raw = envelope(AT_KEY, recipient="DE", sequence=2, type_="shipment.dispatched", body=dispatched)
    assert await _notice(client, raw) == (202, "rejected", "invalid-body")
    assert await conn.fetchval("SELECT count(*) FROM shipment_dispatch") == 0
    just_now = dispatched | {"dispatched_at": make_time(utc_now() + dt.timedelta(seconds=60))}  # within the skew
    raw = envelope(AT_KEY, recipient="DE", sequence=3, type_="shipment.dispatched", body=just_now)
    assert await _notice(client, raw) == (202, "accepted", None)
