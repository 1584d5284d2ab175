"""Partners' lost and stolen reports received, stored, and named at this State's border (Art. 11-12)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import asyncpg
import pytest

from firearms import db, item_events
from firearms.exchange import trust
from firearms.item_types import NewEvent
from firearms.lifecycle import EventKind
from firearms.store import foreign_item_reports as store
from tests.api.test_exchange_effects import _request, _send, _token
from tests.check_helpers import at_licence, check_body, receive, register_firearm
from tests.exchange_fixtures import Client, clone_template, cz
from tests.exchange_util import trust_cz_and_de
from tests.licensing_helpers import TODAY

__all__ = ["cz"]

REPORT: dict[str, Any] = {
    "report_id": "4711",
    "status": "stolen",
    "occurred_on": TODAY.isoformat(),
    "item": {
        "kind": "firearm",
        "type": "rifle",
        "make": "Steyr Mannlicher",
        "model": "SSG 08",
        "calibre": ".308 Win",
        "manufacturer": "Steyr Mannlicher",
        "country_of_manufacture": "AT",
        "serial": "ssg08 001",
        "serial_normalised": "SSG08001",
        "markings": [{"kind": "manufacture", "stamped": "STEYR AUSTRIA SSG08-001"}],
    },
}
WITHDRAWN = {"report_id": "4711", "reason": "recovered", "occurred_on": TODAY.isoformat()}


def _report(**item: Any) -> dict[str, Any]:
    body = copy.deepcopy(REPORT)
    body["item"].update(item)
    return body


async def _check(client: Client, conn: db.Conn) -> Any:
    response = await client.post("/api/v1/checks", json=check_body(), headers=await _token(conn, "customs-officer"))
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_partners_stolen_report_holds_the_serial_until_it_is_withdrawn(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    await receive(conn, at_licence(), state="CZ")
    assert await _send(client, 1, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    held = await _check(client, conn)
    assert held["verdict"] == "hold"
    assert [(r["code"], r["line"], r["serial"]) for r in held["reasons"]] == [
        ("reported-missing-by-partner", 1, "SSG08-001")
    ]
    assert held["reasons"][0]["detail"] == f"reported stolen by AT (report 4711, {TODAY.isoformat()})"
    assert await _send(client, 2, "item.report-withdrawn", WITHDRAWN, recipient="CZ") == ("accepted", None)
    assert (await _check(client, conn))["verdict"] == "clear"
    actions = await conn.fetch(
        "SELECT action, entity_id FROM journal_entry WHERE entity = 'foreign_item_report' ORDER BY entry_id"
    )
    assert [(row["action"], row["entity_id"]) for row in actions] == [
        ("foreign-item-report.received", "AT/4711"),
        ("foreign-item-report.withdrawn", "AT/4711"),
    ]


async def test_the_same_serial_of_another_manufacturer_or_kind_is_not_held(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    await receive(conn, at_licence(), state="CZ")
    other_maker = _report(make="Sako", manufacturer="Sako Ltd", country_of_manufacture="FI")
    assert await _send(client, 1, "item.reported-missing", other_maker, recipient="CZ") == ("accepted", None)
    barrel = {**_report(kind="component", type="barrel"), "report_id": "4712"}
    assert await _send(client, 2, "item.reported-missing", barrel, recipient="CZ") == ("accepted", None)
    # the make in the registry's manufacturer identity form: case and runs of white space do not matter
    same = {**_report(make="STEYR  mannlicher", manufacturer="Steyr Arms GmbH"), "report_id": "4713"}
    assert await _send(client, 3, "item.reported-missing", same, recipient="CZ") == ("accepted", None)
    assert [(r["code"], r["serial"]) for r in (await _check(client, conn))["reasons"]] == [
        ("reported-missing-by-partner", "SSG08-001")
    ]
    assert await _send(client, 4, "item.report-withdrawn", {**WITHDRAWN, "report_id": "4713"}, recipient="CZ") == (
        "accepted",
        None,
    )
    assert (await _check(client, conn))["verdict"] == "clear"


async def test_invalid_reports_are_rejected_and_store_nothing(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    invalid = [
        {**REPORT, "status": "seized"},
        _report(kind="cannon"),
        _report(serial=""),
        _report(country_of_manufacture="Austria"),
        {key: value for key, value in REPORT.items() if key != "item"},
        {**REPORT, "occurred_on": "2999-01-01"},
        {**REPORT, "report_id": "a\nb"},
    ]
    for sequence, body in enumerate(invalid, start=1):
        assert await _send(client, sequence, "item.reported-missing", body, recipient="CZ") == (
            "rejected",
            "invalid-body",
        ), body
    bad_withdrawal = {**WITHDRAWN, "reason": "forgotten"}
    assert await _send(client, 8, "item.report-withdrawn", bad_withdrawal, recipient="CZ") == (
        "rejected",
        "invalid-body",
    )
    assert await conn.fetchval("SELECT count(*) FROM foreign_item_report") == 0
    assert await conn.fetchval("SELECT count(*) FROM foreign_item_report_withdrawal") == 0


async def test_a_withdrawal_before_its_report_is_kept_and_a_later_report_opens_again(
    cz: tuple[Client, db.Conn],
) -> None:
    client, conn = cz
    await receive(conn, at_licence(), state="CZ")
    assert await _send(client, 1, "item.report-withdrawn", WITHDRAWN, recipient="CZ") == ("accepted", None)
    assert await conn.fetchval("SELECT payload ->> 'report_known' FROM journal_entry WHERE action = $1",
                               "foreign-item-report.withdrawn") == "false"  # fmt: skip
    assert await _send(client, 2, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    assert (await _check(client, conn))["verdict"] == "hold"
    assert await _send(client, 3, "item.report-withdrawn", WITHDRAWN, recipient="CZ") == ("accepted", None)
    assert (await _check(client, conn))["verdict"] == "clear"
    # the recovery corrected at AT: the same report again, open again
    assert await _send(client, 4, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    again = await _check(client, conn)
    assert ("reported-missing-by-partner", "SSG08-001") in [(r["code"], r["serial"]) for r in again["reasons"]]


async def test_an_older_notice_never_overrides_a_newer_one(cz: tuple[Client, db.Conn]) -> None:
    """The state of a report is its highest sequence from the sender, whatever the order rows were written in."""
    _, conn = cz
    await receive(conn, at_licence(), state="CZ")
    licence_id = await conn.fetchval("SELECT licence_id FROM licence WHERE number = 'AT-EXP-2026-000123'")
    now = await conn.fetchval("SELECT now()")
    async with conn.transaction():
        await store.insert_foreign_item_report_withdrawal(conn, "AT", "9", "n-5", 5, "recovered", TODAY, now)
        await store.insert_foreign_item_report(
            conn, "AT", "9", "n-3", 3, "stolen", TODAY, "firearm", "rifle", "Steyr Mannlicher", None, None,
            "Steyr Mannlicher", "AT", "SSG08-001", [], "restricted", now, None,
        )  # fmt: skip
    assert await store.find_partner_reported_serials(conn, licence_id, [1], ["SSG08001"]) == []
    async with conn.transaction():
        await store.insert_foreign_item_report(
            conn, "AT", "9", "n-7", 7, "lost", TODAY, "firearm", "rifle", "Steyr Mannlicher", None, None,
            "Steyr Mannlicher", "AT", "SSG08-001", [], "restricted", now, None,
        )  # fmt: skip
    (found,) = await store.find_partner_reported_serials(conn, licence_id, [1], ["SSG08001"])
    assert (found["sender_state"], found["report_id"], found["status"]) == ("AT", "9", "lost")


async def test_reports_are_append_only(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    assert await _send(client, 1, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    for statement in ("UPDATE foreign_item_report SET status = 'lost'", "DELETE FROM foreign_item_report"):
        with pytest.raises(asyncpg.RestrictViolationError):
            await conn.execute(statement)


async def test_a_partners_open_report_fails_the_transit_consent_precheck(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    assert await _send(client, 1, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    other_maker = {**_report(make="Sako", manufacturer="Sako Ltd"), "report_id": "4712", "status": "lost"}
    other_maker["item"]["serial"] = "SSG08-002"
    assert await _send(client, 2, "item.reported-missing", other_maker, recipient="CZ") == ("accepted", None)
    assert await _send(client, 3, "transit-consent.requested", _request(), recipient="CZ") == ("accepted", None)
    findings = await conn.fetchval("SELECT findings FROM consent_request_received")
    (stolen,) = [item for item in findings if item["code"] == "no-item-reported-lost-or-stolen"]
    assert (stolen["result"], stolen["detail"]) == ("fail", "SSG08-001 reported stolen by AT (report 4711)")


async def test_officers_list_partners_reports_by_state_status_and_serial(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    assert await _send(client, 1, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    lost = {**_report(serial="SSG08-002"), "report_id": "4712", "status": "lost"}
    assert await _send(client, 2, "item.reported-missing", lost, recipient="CZ") == ("accepted", None)
    assert await _send(client, 3, "item.report-withdrawn", WITHDRAWN, recipient="CZ") == ("accepted", None)
    customs = await _token(conn, "customs-officer")

    async def listed(query: str) -> list[tuple[str, str, bool, str | None]]:
        response = await client.get(f"/api/v1/foreign-item-reports{query}", headers=customs)
        assert response.status_code == 200, response.text
        return [(i["report_id"], i["status"], i["open"], i["withdrawal_reason"]) for i in response.json()["items"]]

    assert await listed("") == [("4712", "lost", True, None), ("4711", "stolen", False, "recovered")]
    assert await listed("?status=lost&state=at") == [("4712", "lost", True, None)]
    assert await listed("?status=stolen") == []
    assert await listed("?status=withdrawn") == [("4711", "stolen", False, "recovered")]
    assert await listed("?serial=ssg08.002") == [("4712", "lost", True, None)]
    assert await listed("?state=DE") == []
    first = await client.get("/api/v1/foreign-item-reports?limit=1", headers=customs)
    second = await client.get(f"/api/v1/foreign-item-reports?limit=1&after={first.json()['next']}", headers=customs)
    assert [i["report_id"] for i in second.json()["items"]] == ["4711"]
    assert second.json()["next"] is None
    for role in ("records-officer", "licensing-officer", "admin", "auditor"):
        response = await client.get("/api/v1/foreign-item-reports", headers=await _token(conn, role))
        assert response.status_code == 200, role
    refused = await client.get("/api/v1/foreign-item-reports", headers=await _token(conn, "verifier"))
    assert refused.status_code == 403
    bad = await client.get("/api/v1/foreign-item-reports?status=found", headers=customs)
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_a_release_refuses_a_serial_a_partner_reported_since_the_hold(cz: tuple[Client, db.Conn]) -> None:
    client, conn = cz
    await receive(conn, at_licence(), state="CZ")
    customs = await _token(conn, "customs-officer")
    assert await _send(client, 1, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    held = await _check(client, conn)
    assert held["verdict"] == "hold"
    since = {**_report(serial="SSG08-002"), "report_id": "4712"}
    assert await _send(client, 2, "item.reported-missing", since, recipient="CZ") == ("accepted", None)
    refused = await client.post(f"/api/v1/checks/{held['check_id']}/release", json={"reason": "seen"}, headers=customs)
    assert refused.status_code == 409, refused.text
    assert (refused.json()["type"].rsplit("/", 1)[1], refused.json()["serials"]) == (
        "reported-missing-by-partner",
        ["SSG08-002"],
    )
    assert await conn.fetchval("SELECT count(*) FROM check_decision") == 0
    # the report the hold named was before the officer: once the later one is withdrawn, the release goes through
    assert await _send(client, 3, "item.report-withdrawn", {**WITHDRAWN, "report_id": "4712"}, recipient="CZ") == (
        "accepted",
        None,
    )
    released = await client.post(f"/api/v1/checks/{held['check_id']}/release", json={"reason": "seen"}, headers=customs)
    assert released.status_code == 200, released.text


async def test_a_report_with_text_the_registry_refuses_is_rejected_and_stores_nothing(
    cz: tuple[Client, db.Conn],
) -> None:
    """A marking with a control character, a padded manufacturer or make, a serial of separators alone: invalid-body.

    The registry refuses each of these in its own records (so its own reports never carry them); received, a padded
    make or manufacturer never equals a licence line's make, and a serial without a letter or digit names nothing at
    the border: the report would be stored, accepted, and hold nothing.
    """
    client, conn = cz
    marking = {"kind": "manufacture", "stamped": "STEYR AUSTRIA SSG08-001"}
    invalid = [
        _report(markings=[{**marking, "stamped": "STEYR\nAUSTRIA"}]),
        _report(markings=[{**marking, "stamped": "\x1b[31mSTEYR"}]),
        _report(markings=[{**marking, "stamped": ""}]),
        _report(manufacturer=" Steyr Mannlicher"),
        _report(make="Steyr Mannlicher\u00a0"),
        _report(make=""),
        _report(serial="--/--"),
        _report(markings=[marking] * 51),
        _report(markings=[marking] * 50, markings_omitted=0),
    ]
    for sequence, body in enumerate(invalid, start=1):
        assert await _send(client, sequence, "item.reported-missing", body, recipient="CZ") == (
            "rejected",
            "invalid-body",
        ), body
    assert await conn.fetchval("SELECT count(*) FROM foreign_item_report") == 0
    # at the limit: 50 markings and the count of those left out
    at_limit = _report(markings=[marking] * 50, markings_omitted=7)
    assert await _send(client, 10, "item.reported-missing", at_limit, recipient="CZ") == ("accepted", None)
    assert await conn.fetchval("SELECT jsonb_array_length(markings) FROM foreign_item_report") == 50


async def test_the_officer_sees_how_many_markings_a_report_left_out(cz: tuple[Client, db.Conn]) -> None:
    """A report carries the first 50 markings and the count of the rest; the officer is told both, not 50 alone."""
    client, conn = cz
    marking = {"kind": "proof", "stamped": "PROOF"}
    many = {**_report(markings=[marking] * 50, markings_omitted=7), "report_id": "4712"}
    assert await _send(client, 1, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    assert await _send(client, 2, "item.reported-missing", many, recipient="CZ") == ("accepted", None)
    response = await client.get("/api/v1/foreign-item-reports", headers=await _token(conn, "customs-officer"))
    assert [(i["report_id"], len(i["markings"]), i["markings_omitted"]) for i in response.json()["items"]] == [
        ("4712", 50, 7),
        ("4711", 1, None),
    ]
    journaled = await conn.fetch(
        "SELECT payload ->> 'markings_omitted' AS omitted FROM journal_entry"
        " WHERE action = 'foreign-item-report.received' ORDER BY entry_id"
    )
    assert [row["omitted"] for row in journaled] == [None, "7"]


async def test_a_partner_enabled_again_ends_with_the_reports_open_at_the_sender(
    cz: tuple[Client, db.Conn], pg_admin_uri: str
) -> None:
    """AT's notices queued to CZ, disabled and enabled again there, delivered in order: CZ holds what AT has open.

    A report withdrawn while CZ was disabled is withdrawn at CZ; the item stolen again is a new report, open; a report
    whose recovery was corrected is open under its id; one opened and withdrawn while disabled never reaches CZ.
    """
    client, conn = cz
    await receive(conn, at_licence(), state="CZ")
    at = await db.connect(await clone_template(pg_admin_uri))
    try:

        async def event(item_id: int, kind: EventKind, days_ago: int, **fields: Any) -> int:
            async with at.transaction():
                recorded = await item_events.record_event(
                    at,
                    item_id,
                    NewEvent(event=kind, occurred_on=TODAY - dt.timedelta(days=days_ago), **fields),
                    actor="police",
                    today=TODAY,
                )
            return recorded.event_id

        async def enable(enabled: bool) -> None:
            async with at.transaction():
                await trust.set_peer_enabled(at, "CZ", enabled=enabled, actor="admin")

        await trust_cz_and_de(at)
        rifle = await register_firearm(at, "SSG08-001")
        first = await event(rifle, "stolen", 9)
        other = await register_firearm(at, "SSG08-002")
        lost = await event(other, "lost", 9)
        await enable(False)
        await event(rifle, "recovered", 6)
        second = await event(rifle, "stolen", 2)
        recovered = await event(other, "recovered", 5)
        await event(other, "corrected", 4, corrects_event_id=recovered, reason="another rifle was found")
        passing = await register_firearm(at, "SSG08-003")
        await event(passing, "stolen", 3)
        await event(passing, "recovered", 1)
        await enable(True)
        await enable(False)
        await enable(True)  # again: the open reports again (they supersede there), the withdrawal not
        queued = await at.fetch(
            "SELECT type, body FROM notice_outbox WHERE recipient = 'CZ' ORDER BY queued_order", timeout=10
        )
    finally:
        await at.close()
    assert [(row["type"], row["body"]["report_id"]) for row in queued] == [
        ("item.reported-missing", str(first)),
        ("item.reported-missing", str(lost)),
        ("item.report-withdrawn", str(first)),
        ("item.reported-missing", str(lost)),
        ("item.reported-missing", str(second)),
        ("item.reported-missing", str(lost)),
        ("item.reported-missing", str(second)),
    ]
    assert queued[2]["body"] == {
        "report_id": str(first),
        "reason": "recovered",
        "occurred_on": (TODAY - dt.timedelta(days=6)).isoformat(),
    }
    for sequence, row in enumerate(queued, start=1):
        assert await _send(client, sequence, row["type"], row["body"], recipient="CZ") == ("accepted", None)
    held = await _check(client, conn)
    assert held["verdict"] == "hold"
    assert sorted((r["serial"], r["detail"]) for r in held["reasons"]) == [
        ("SSG08-001", f"reported stolen by AT (report {second}, {(TODAY - dt.timedelta(days=2)).isoformat()})"),
        ("SSG08-002", f"reported lost by AT (report {lost}, {(TODAY - dt.timedelta(days=9)).isoformat()})"),
    ]
