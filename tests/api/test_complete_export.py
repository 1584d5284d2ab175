"""The NDJSON export is the complete record of each item (ITI para 13; Protocol Art. 7): every marking, event and
correction, in the shapes of the item's history; the CSV export stays flat; both import into another registry."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from firearms import db, imports
from tests.api.test_items_api import DEACTIVATION_MARK, event_body, register, rifle
from tests.conftest import TokenFactory

# The CSV export's header as it was before the NDJSON export carried the complete record: unchanged.
CSV_HEADER = (
    "item_id,status,serial_normalised,registered_at,import_id,parent_item_id,kind,firearm_type,component_type,make,"
    "model,calibre,year_of_manufacture,country_of_manufacture,category,manufacturer,serial,headstamp,quantity,"
    "marking_kind,marking_stamped,symbol_code,alphanumeric_code,import_country,import_year,import_stamped"
)
SOURCES = {
    "markings": ("marking", "marking_id"),
    "events": ("event", "event_id"),
    "corrections": ("correction", "correction_id"),
}


def whole_rifle(serial: str) -> dict[str, Any]:
    """A rifle with two manufacture markings (receiver and barrel), an import marking and a proof mark."""
    return rifle(
        serial,
        markings=[
            {"kind": "manufacture", "stamped": f"STEYR AUSTRIA {serial}", "serial": serial, "country": "AT"},
            {"kind": "manufacture", "stamped": f"STEYR {serial} LAUF", "serial": serial, "model": "SSG 08"},
            {"kind": "import", "stamped": "CZ 2021", "country": "CZ", "year": 2021},
            {"kind": "proof", "stamped": "WIEN 2019", "place": "Wien", "country": "AT", "year": 2019},
        ],
    )


def ammunition_lot(lot: str) -> dict[str, Any]:
    return {
        "kind": "ammunition",
        "manufacturer": "Hirtenberger",
        "country_of_manufacture": "AT",
        "serial": lot,
        "calibre": "9x19",
        "headstamp": "HP 9x19",
        "quantity": 1000,
    }


async def post(client: AsyncTestClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:  # type: ignore[type-arg]
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def whole_history(client: AsyncTestClient, item_id: int, headers: dict[str, str]) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    entries: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"limit": "100", **({"after": after} if after else {})}
        response = await client.get(f"/api/v1/items/{item_id}/history", params=params, headers=headers)
        assert response.status_code == 200, response.text
        entries += response.json()["items"]
        after = response.json()["next"]
        if after is None:
            return entries


async def ndjson_export(
    client: AsyncTestClient,  # type: ignore[type-arg]
    headers: dict[str, str],
    **filters: str,
) -> dict[int, dict[str, Any]]:
    response = await client.get("/api/v1/items/export", params={"format": "ndjson", **filters}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    records = [json.loads(line) for line in response.text.splitlines()]
    return {record["item_id"]: record for record in records}


async def test_the_ndjson_export_carries_every_marking_event_and_correction_as_the_history_shows_them(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("records-officer")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    created = await register(client, officer, whole_rifle("WHOLE-1"))
    item_id = created["item_id"]
    url = f"/api/v1/items/{item_id}"
    lot = (await register(client, officer, ammunition_lot("LOT-7")))["item_id"]

    events = [
        await post(client, f"{url}/events", event_body("transferred", from_party="Steyr", document="TR-1"), officer),
        await post(client, f"{url}/events", event_body("transferred", to_party="Jäger Maier"), officer),
    ]
    corrected = event_body("corrected", corrects_event_id=events[1]["event_id"], reason="recorded twice")
    events.append(await post(client, f"{url}/events", corrected, officer))
    events.append(await post(client, f"{url}/events", event_body("lost", note="left on a train"), officer))
    events.append(await post(client, f"{url}/events", event_body("recovered", document="police report 7"), officer))
    await post(client, f"{url}/markings", DEACTIVATION_MARK, officer)
    events.append(await post(client, f"{url}/events", event_body("deactivated"), officer))
    import_marking = next(m for m in created["markings"] if m["kind"] == "import")
    fixes = [
        await post(
            client,
            f"{url}/markings/{import_marking['marking_id']}/corrections",
            {"changes": {"country": "SK", "stamped": "SK 2021"}, "reason": "misread the stamp"},
            officer,
        ),
        await post(client, f"{url}/corrections", {"changes": {"calibre": ".300 Win Mag"}, "reason": "typo"}, officer),
    ]

    auditor = await auth("auditor")
    exported = await ndjson_export(client, auditor)
    assert sorted(exported) == [item_id, lot]
    record = exported[item_id]

    # every marking (two manufacture, import as corrected, proof, deactivation), every event, every correction
    item = (await client.get(url, headers=officer)).json()
    assert [m["marking_id"] for m in record["markings"]] == [m["marking_id"] for m in item["markings"]]
    assert [m["kind"] for m in record["markings"]] == ["manufacture", "manufacture", "import", "proof", "deactivation"]
    assert [e["event_id"] for e in record["events"]] == [e["event_id"] for e in events]
    assert [e["event"] for e in record["events"]] == [
        "transferred",
        "transferred",
        "corrected",
        "lost",
        "recovered",
        "deactivated",
    ]
    assert [c["correction_id"] for c in record["corrections"]] == [c["correction_id"] for c in fixes]

    # each entry field by field as the item's history shows it, with its time, without the officer
    history = await whole_history(client, item_id, officer)
    for key, (source, id_name) in SOURCES.items():
        shown = {entry["detail"][id_name]: entry for entry in history if entry["source"] == source}
        assert sorted(shown) == sorted(entry[id_name] for entry in record[key])
        for entry in record[key]:
            expected = {name: value for name, value in shown[entry[id_name]]["detail"].items() if name != "recorded_by"}
            assert set(entry) == {*expected, "recorded_at"}
            for name, value in expected.items():
                assert entry[name] == value, (key, entry[id_name], name)
            at = dt.datetime.fromisoformat(shown[entry[id_name]]["at"])
            assert dt.datetime.fromisoformat(entry["recorded_at"]) == at

    # and against what was recorded: the marking as corrected, the deactivation's certificate, what a correction names
    import_shown = next(m for m in record["markings"] if m["marking_id"] == import_marking["marking_id"])
    assert (import_shown["country"], import_shown["stamped"], import_shown["year"]) == ("SK", "SK 2021", 2021)
    # the flat columns read the same rows: the first import marking and the item's fields as corrected
    assert (record["import_country"], record["import_stamped"], record["import_year"]) == ("SK", "SK 2021", 2021)
    assert record["calibre"] == ".300 Win Mag"
    first_mark = next(m for m in record["markings"] if m["kind"] in {"manufacture", "geometric"})
    assert (record["marking_kind"], record["marking_stamped"]) == (first_mark["kind"], first_mark["stamped"])
    for marking, stored in zip(record["markings"], item["markings"], strict=True):
        assert {
            name: marking.get(name) for name in stored if name not in {"item_id", "recorded_by", "recorded_at"}
        } == {name: value for name, value in stored.items() if name not in {"item_id", "recorded_by", "recorded_at"}}
    for event, stored in zip(record["events"], events, strict=True):
        assert {name: event.get(name) for name in stored if name not in {"item_id", "recorded_by", "recorded_at"}} == {
            name: value for name, value in stored.items() if name not in {"item_id", "recorded_by", "recorded_at"}
        }
    deactivation = record["events"][-1]
    assert (deactivation["status_before"], deactivation["status_after"]) == ("active", "deactivated")
    assert (deactivation["certificate_number"], deactivation["certificate_date"]) == ("AT-DEAC-2026-17", today)
    assert (deactivation["deactivator"], deactivation["verifier"]) == (
        "Büchsenmacher Huber, Steyr",
        "Beschussamt Wien",
    )
    assert (deactivation.get("category_before"), deactivation["category_after"]) == (None, "C")  # none registered
    assert record["events"][2]["corrects_event_id"] == events[1]["event_id"]
    assert record["events"][2]["reason"] == "recorded twice"
    assert record["corrections"][0]["changes"]["country"] == {"before": "CZ", "after": "SK"}
    assert record["corrections"][1] | {"recorded_at": None} == {
        "correction_id": fixes[1]["correction_id"],
        "marking_id": None,
        "changes": {"calibre": {"before": ".308 Win", "after": ".300 Win Mag"}},
        "reason": "typo",
        "recorded_at": None,
    }
    # the flat columns as before: the current values, the first manufacture and first import markings
    assert (record["status"], record["calibre"], record["import_country"]) == ("deactivated", ".300 Win Mag", "SK")
    assert record["marking_stamped"] == "STEYR AUSTRIA WHOLE-1"

    # an item with no marking, event or correction: empty lists
    assert {key: exported[lot][key] for key in SOURCES} == {"markings": [], "events": [], "corrections": []}

    # no officer: not who registered, nor who recorded a marking, event or correction
    raw = (await client.get("/api/v1/items/export", params={"format": "ndjson"}, headers=auditor)).content
    recorders = await conn.fetch("SELECT DISTINCT recorded_by FROM item_event UNION SELECT recorded_by FROM marking")
    assert recorders
    assert not [r[0] for r in recorders if r[0].encode() in raw]
    assert b"recorded_by" not in raw
    assert b"registered_by" not in raw
    journaled = await conn.fetch(
        "SELECT payload->>'format' FROM journal_entry WHERE action = 'items.exported' ORDER BY entry_id"
    )
    assert [row[0] for row in journaled] == ["ndjson", "ndjson"]


async def test_the_complete_export_keeps_its_filters_and_the_csv_export_stays_flat(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("records-officer")
    kept = (await register(client, officer, whole_rifle("FLT-1")))["item_id"]
    lost = (await register(client, officer, whole_rifle("FLT-2")))["item_id"]
    lot = (await register(client, officer, ammunition_lot("FLT-3")))["item_id"]
    await post(client, f"/api/v1/items/{lost}/events", event_body("stolen"), officer)

    stolen = await ndjson_export(client, officer, status="stolen")
    assert list(stolen) == [lost]
    assert [e["event"] for e in stolen[lost]["events"]] == ["stolen"]
    assert len(stolen[lost]["markings"]) == 4
    assert list(await ndjson_export(client, officer, kind="ammunition")) == [lot]
    assert list(await ndjson_export(client, officer, status="active", kind="firearm")) == [kept]

    flat = await client.get("/api/v1/items/export", params={"format": "csv"}, headers=officer)
    assert flat.status_code == 200
    lines = flat.content.decode("utf-8-sig").splitlines()
    assert lines[0] == CSV_HEADER
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert [row["item_id"] for row in rows] == [str(kept), str(lost), str(lot)]
    assert (rows[1]["status"], rows[1]["marking_stamped"], rows[1]["import_country"]) == (
        "stolen",
        "STEYR AUSTRIA FLT-2",
        "CZ",
    )


async def test_a_complete_export_imports_into_another_registry_as_it_is(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    empty_database: str,
    tmp_path: Path,
) -> None:
    officer = await auth("records-officer")
    item_id = (await register(client, officer, whole_rifle("MOVE-1")))["item_id"]
    await register(client, officer, ammunition_lot("MOVE-2"))
    await post(client, f"/api/v1/items/{item_id}/events", event_body("transferred"), officer)
    export = await client.get("/api/v1/items/export", params={"format": "ndjson"}, headers=officer)
    assert export.status_code == 200
    assert all(json.loads(line)["markings"] is not None for line in export.text.splitlines())

    # into this registry again: every item already registered, no line malformed
    again = await client.post(
        "/api/v1/imports", content=export.content, headers={**officer, "Content-Type": "application/x-ndjson"}
    )
    assert again.status_code == 201, again.text
    assert (again.json()["already_registered"], again.json()["rejected"]) == (2, 0)

    # into another registry: both items, each with the flat columns' markings
    path = tmp_path / "hand-over.ndjson"
    path.write_bytes(export.content)
    other = await db.connect(empty_database)
    try:
        await db.migrate(other)
        result = await imports.import_file(other, path, actor="DE records", today=dt.datetime.now(dt.UTC).date())
        assert (result.inserted, result.rejected) == (2, 0)
        got = await other.fetch(
            "SELECT i.serial, array_agg(m.kind ORDER BY m.marking_id) FILTER (WHERE m.kind IS NOT NULL)"
            "  FROM item AS i LEFT JOIN marking AS m USING (item_id) GROUP BY i.serial ORDER BY i.serial"
        )
        assert [(r[0], r[1]) for r in got] == [("MOVE-1", ["manufacture", "import"]), ("MOVE-2", None)]
    finally:
        await other.close()
