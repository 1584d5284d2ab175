"""Partners' lost and stolen reports at this State's border, one test a rule (README "Notice types beyond PROTOCOL §5").

Every movement consults them; a report is keyed by its sender and id (another State cannot withdraw it, a later
report of the same id supersedes it); a hold for one may be released once it is withdrawn.
"""

from __future__ import annotations

from typing import Any

import msgspec

from firearms import db
from firearms.canonical import parse_time
from firearms.exchange import trust
from firearms.settings import Settings
from firearms.store import foreign_item_reports as store
from tests.api.test_checks_api import Client, de, post_check
from tests.api.test_exchange_effects import _send, _token
from tests.api.test_missing_reports import REPORT, WITHDRAWN, _check, _report
from tests.check_helpers import at_licence, check_body, receive, register_firearm
from tests.conftest import TokenFactory
from tests.exchange_fixtures import cz as cz_registry
from tests.exchange_util import DE_KEY, VECTORS
from tests.licensing_helpers import LINES, TODAY, issued_export, register_parties

__all__ = ["cz_registry", "de"]

CYRILLIC = "\u0410\u0411"  # the Cyrillic capitals A and BE


async def _reported_by(conn: db.Conn, sender: str, serial: str) -> None:
    """A partner's open theft report of a Steyr Mannlicher rifle ``serial``, stored as its effect stores it."""
    now = await conn.fetchval("SELECT now()")
    async with conn.transaction():
        await store.insert_foreign_item_report(
            conn, sender, "4711", f"{sender}-n-1", 1, "stolen", TODAY, "firearm", "rifle", "Steyr Mannlicher", None,
            None, "Steyr Mannlicher", "AT", serial, [], "restricted", now, None,
        )  # fmt: skip


def _partner_reasons(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["code"], r["serial"]) for r in answer["reasons"] if r["code"] == "reported-missing-by-partner"]


async def test_an_import_check_is_held_for_a_partners_report(de: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await receive(conn, at_licence(), state="DE")
    for serial in ("SSG08-001", "SSG08-002"):
        await register_firearm(conn, serial, import_marking="DE")
    await _reported_by(conn, "CZ", "ssg08.002")
    answer = await post_check(de, await auth("customs-officer"), check_body("import", crossing_point="DE-Passau"))
    assert (answer["verdict"], _partner_reasons(answer)) == ("hold", [("reported-missing-by-partner", "SSG08-002")])


async def test_an_export_check_is_held_for_a_partners_report(
    client: Client, conn: db.Conn, settings: Settings, auth: TokenFactory
) -> None:
    await issued_export(conn, settings, await register_parties(conn))
    number = await conn.fetchval("SELECT number FROM licence")
    await _reported_by(conn, "DE", "SSG08 001")
    body = check_body("export", licence_number=number, crossing_point="AT-Wullowitz")
    answer = await post_check(client, await auth("customs-officer"), body)
    assert (answer["verdict"], _partner_reasons(answer)) == ("hold", [("reported-missing-by-partner", "SSG08-001")])
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 0


async def test_a_release_goes_through_once_the_report_the_hold_named_is_withdrawn(
    cz_registry: tuple[Client, db.Conn],
) -> None:
    client, conn = cz_registry
    await receive(conn, at_licence(), state="CZ")
    assert await _send(client, 1, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    held = await _check(client, conn)
    assert held["verdict"] == "hold"
    assert await _send(client, 2, "item.report-withdrawn", WITHDRAWN, recipient="CZ") == ("accepted", None)
    customs = await _token(conn, "customs-officer")
    released = await client.post(
        f"/api/v1/checks/{held['check_id']}/release", json={"reason": "AT recovered it"}, headers=customs
    )
    assert released.status_code == 200, released.text
    assert released.json()["decision"] == "release"
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 2


async def test_another_state_can_neither_withdraw_nor_replace_a_report(cz_registry: tuple[Client, db.Conn]) -> None:
    client, conn = cz_registry
    await receive(conn, at_licence(), state="CZ")
    async with conn.transaction():
        await trust.add_peer(
            conn,
            own_state="CZ",
            state="DE",
            base_url="http://127.0.0.1:9",
            public_key=VECTORS["keys"]["DE"]["public_key"],
            not_before=parse_time("2026-01-01T00:00:00Z"),
            actor="test",
        )
    assert await _send(client, 1, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    by_de = {"sender": "DE", "key": DE_KEY, "recipient": "CZ"}
    assert await _send(client, 1, "item.report-withdrawn", WITHDRAWN, **by_de) == ("accepted", None)
    assert await conn.fetchval(
        "SELECT payload ->> 'report_known' FROM journal_entry WHERE action = 'foreign-item-report.withdrawn'"
    ) == "false"  # fmt: skip
    # DE's report 4711 is DE's own: another rifle, beside AT's 4711
    assert await _send(client, 2, "item.reported-missing", _report(serial="SSG08-002"), **by_de) == ("accepted", None)
    held = await _check(client, conn)
    assert [(r["serial"], r["detail"]) for r in held["reasons"]] == [
        ("SSG08-001", f"reported stolen by AT (report 4711, {TODAY.isoformat()})"),
        ("SSG08-002", f"reported stolen by DE (report 4711, {TODAY.isoformat()})"),
    ]


async def test_a_report_sent_again_under_its_id_with_another_item_supersedes_it(
    cz_registry: tuple[Client, db.Conn],
) -> None:
    client, conn = cz_registry
    await receive(conn, at_licence(), state="CZ")
    assert await _send(client, 1, "item.reported-missing", REPORT, recipient="CZ") == ("accepted", None)
    corrected = {**_report(serial="SSG08-002"), "status": "lost"}
    assert await _send(client, 2, "item.reported-missing", corrected, recipient="CZ") == ("accepted", None)
    held = await _check(client, conn)
    assert [(r["code"], r["serial"], r["detail"]) for r in held["reasons"]] == [
        ("reported-missing-by-partner", "SSG08-002", f"reported lost by AT (report 4711, {TODAY.isoformat()})")
    ]
    listed = await client.get("/api/v1/foreign-item-reports", headers=await _token(conn, "auditor"))
    assert [(i["report_id"], i["serial"], i["status"]) for i in listed.json()["items"]] == [
        ("4711", "SSG08-002", "lost")
    ]


async def test_a_report_of_a_serial_in_another_script_holds_the_serial_as_the_licence_lists_it(
    cz_registry: tuple[Client, db.Conn],
) -> None:
    """A serial the registry would not register (Cyrillic) is matched as every serial is: its normalised form.

    Only a-z change case and the separators go: the Cyrillic letters stay as they are, so the report holds the rifle
    the partner's licence lists with them, and not a Latin look-alike.
    """
    client, conn = cz_registry
    rifle = LINES[0]
    cyrillic_line = msgspec.structs.replace(rifle, serials=[f"{CYRILLIC}-08 001", "SSG08-002"])
    await receive(conn, at_licence(lines=[cyrillic_line, *LINES[1:]]), state="CZ")
    assert await _send(
        client, 1, "item.reported-missing", _report(serial=f"{CYRILLIC.lower()}08.001"), recipient="CZ"
    ) == (
        "accepted",
        None,
    )
    assert await _send(client, 2, "item.reported-missing", {**_report(serial=f"{CYRILLIC}08001"), "report_id": "2"},
                       recipient="CZ") == ("accepted", None)  # fmt: skip
    lines = [{"line": 1, "quantity": 2, "serials": [f"{CYRILLIC}-08 001", "SSG08-002"]}]
    held = await client.post(
        "/api/v1/checks", json=check_body(lines=lines), headers=await _token(conn, "customs-officer")
    )
    assert held.status_code == 200, held.text
    # the lower-case Cyrillic report names another serial: only a-z change case
    assert [(r["code"], r["serial"], r["detail"]) for r in held.json()["reasons"]] == [
        ("reported-missing-by-partner", f"{CYRILLIC}-08 001", f"reported stolen by AT (report 2, {TODAY.isoformat()})")
    ]
