"""Correcting an item's descriptive data and its markings (DESIGN §3; README "Correcting data and markings").

Before, a `corrected` event could only undo an event or the registration record as a whole: a mistyped model, year,
calibre, make or marking stayed wrong for good, or forced a new registration. A correction is now a new record
(`item_correction`, append-only) naming each field's value before and after and why, journaled in the same
transaction; the reads show the value after, the history both.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from firearms import db
from firearms.tokens import ROLES
from tests.api.test_items_api import DEACTIVATION_MARK, PROBLEM, event_body, register, rifle, row_counts
from tests.conftest import TokenFactory

WRITERS = {"records-officer", "admin"}


def imported_rifle(serial: str) -> dict[str, Any]:
    return rifle(
        serial,
        markings=[
            {"kind": "manufacture", "stamped": f"STEYR AUSTRIA {serial}", "serial": serial},
            {"kind": "import", "stamped": "CZ 2021", "country": "CZ", "year": 2021},
        ],
    )


async def counts(conn: db.Conn) -> tuple[int, int, int, int, int]:
    row = await conn.fetchrow("SELECT (SELECT count(*) FROM item_correction), (SELECT count(*) FROM journal_entry)")
    assert row is not None
    return (*await row_counts(conn), row[0], row[1])


async def test_correcting_model_and_year_shows_the_new_values_and_keeps_the_old_in_history(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("records-officer")
    item_id = (await register(client, officer, rifle("FIX-1", model="SSG 80", year_of_manufacture=2018)))["item_id"]
    answer = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"model": "SSG 08", "year_of_manufacture": 2019}, "reason": "typed from the wrong form"},
        headers=officer,
    )
    assert answer.status_code == 201, answer.text
    correction = answer.json()
    assert correction["changes"] == {
        "model": {"before": "SSG 80", "after": "SSG 08"},
        "year_of_manufacture": {"before": 2018, "after": 2019},
    }
    assert correction["marking_id"] is None
    assert correction["reason"] == "typed from the wrong form"

    item = (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()
    assert (item["model"], item["year_of_manufacture"]) == ("SSG 08", 2019)
    listed = await client.get("/api/v1/items", params={"model": "SSG 08", "serial": "FIX-1"}, headers=officer)
    assert [row["item_id"] for row in listed.json()["items"]] == [item_id]
    found = await client.get("/api/v1/items/search", params={"q": "FIX-1"}, headers=officer)
    assert found.json()["items"][0]["model"] == "SSG 08"

    history = (await client.get(f"/api/v1/items/{item_id}/history", headers=officer)).json()["items"]
    entry = next(e for e in history if e["source"] == "correction")
    assert entry["detail"]["correction_id"] == correction["correction_id"]
    assert entry["detail"]["changes"]["model"] == {"before": "SSG 80", "after": "SSG 08"}
    assert entry["detail"]["reason"] == "typed from the wrong form"

    # journaled, in the same transaction as the correction and the item's new values
    journaled = await conn.fetchrow(
        "SELECT j.actor, j.payload, j.xmin::text = c.xmin::text AS one_transaction,"
        " i.xmin::text = c.xmin::text AS item_too"
        " FROM journal_entry AS j, item_correction AS c, item AS i"
        " WHERE j.action = 'item.fields-corrected' AND c.correction_id = $1 AND i.item_id = $2"
        " ORDER BY j.entry_id DESC LIMIT 1",
        correction["correction_id"],
        item_id,
    )
    assert journaled is not None
    assert journaled["one_transaction"]
    assert journaled["item_too"]
    payload = journaled["payload"]
    assert payload["correction_id"] == correction["correction_id"]
    assert payload["changes"]["year_of_manufacture"] == {"before": 2018, "after": 2019}


async def test_correcting_the_import_marking_shows_it_in_the_item_history_and_export(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("records-officer")
    created = await register(client, officer, imported_rifle("FIX-2"))
    item_id = created["item_id"]
    marking = next(m for m in created["markings"] if m["kind"] == "import")
    answer = await client.post(
        f"/api/v1/items/{item_id}/markings/{marking['marking_id']}/corrections",
        json={"changes": {"country": "SK", "year": 2022, "stamped": "SK 2022"}, "reason": "misread the stamp"},
        headers=officer,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["marking_id"] == marking["marking_id"]
    assert answer.json()["changes"]["country"] == {"before": "CZ", "after": "SK"}

    item = (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()
    shown = next(m for m in item["markings"] if m["marking_id"] == marking["marking_id"])
    assert (shown["country"], shown["year"], shown["stamped"]) == ("SK", 2022, "SK 2022")
    history = (await client.get(f"/api/v1/items/{item_id}/history", headers=officer)).json()["items"]
    recorded = next(e for e in history if e["source"] == "marking" and e["detail"]["kind"] == "import")
    assert recorded["detail"]["country"] == "SK"  # the marking as it reads now
    correction = next(e for e in history if e["source"] == "correction")
    assert correction["detail"]["marking_id"] == marking["marking_id"]
    assert correction["detail"]["changes"]["stamped"] == {"before": "CZ 2021", "after": "SK 2022"}

    exported = await client.get("/api/v1/items/export", params={"format": "csv"}, headers=officer)
    rows = list(csv.DictReader(io.StringIO(exported.text.removeprefix("\ufeff"))))
    row = next(r for r in rows if r["item_id"] == str(item_id))
    assert (row["import_country"], row["import_year"], row["import_stamped"]) == ("SK", "2022", "SK 2022")


async def test_the_same_field_corrected_twice_and_back_keeps_every_step(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("records-officer")
    item_id = (await register(client, officer, rifle("FIX-3", calibre=".308 Win")))["item_id"]
    url = f"/api/v1/items/{item_id}/corrections"
    steps = [".300 Win Mag", "6.5 Creedmoor", ".308 Win"]
    for calibre in steps:
        answer = await client.post(
            url, json={"changes": {"calibre": calibre}, "reason": f"calibre is {calibre}"}, headers=officer
        )
        assert answer.status_code == 201, answer.text
    item = (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()
    assert item["calibre"] == ".308 Win"
    history = (await client.get(f"/api/v1/items/{item_id}/history", headers=officer)).json()["items"]
    changes = [e["detail"]["changes"]["calibre"] for e in history if e["source"] == "correction"]
    assert changes == [
        {"before": ".308 Win", "after": ".300 Win Mag"},
        {"before": ".300 Win Mag", "after": "6.5 Creedmoor"},
        {"before": "6.5 Creedmoor", "after": ".308 Win"},
    ]
    # a value can be cleared too (null), and given again
    cleared = await client.post(url, json={"changes": {"make": None}, "reason": "make unknown"}, headers=officer)
    assert cleared.status_code == 201, cleared.text
    assert (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()["make"] is None


BAD = [
    ("unknown field", {"changes": {"colour": "black"}, "reason": "r"}, 400, "invalid-request"),
    ("wrong type", {"changes": {"year_of_manufacture": "2019"}, "reason": "r"}, 400, "invalid-request"),
    ("empty reason", {"changes": {"model": "X"}, "reason": ""}, 400, "invalid-request"),
    ("padded reason", {"changes": {"model": "X"}, "reason": " r"}, 400, "invalid-request"),
    ("no reason", {"changes": {"model": "X"}}, 400, "invalid-request"),
    ("no changes", {"changes": {}, "reason": "r"}, 422, "correction-changes-nothing"),
    ("same value", {"changes": {"model": "SSG 08"}, "reason": "r"}, 422, "correction-changes-nothing"),
    ("padded value", {"changes": {"model": "SSG 08 "}, "reason": "r"}, 422, "padded-value"),
    ("empty value", {"changes": {"make": ""}, "reason": "r"}, 422, "invalid-text"),
    ("future year", {"changes": {"year_of_manufacture": 9999}, "reason": "r"}, 422, "year-in-future"),
    ("field of a lot", {"changes": {"quantity": 5}, "reason": "r"}, 422, "invalid-kind-fields"),
    ("headstamp on a firearm", {"changes": {"headstamp": "S&B"}, "reason": "r"}, 422, "invalid-kind-fields"),
    ("serial", {"changes": {"serial": "FIX-40"}, "reason": "r"}, 422, "field-not-correctable"),
    ("manufacturer", {"changes": {"manufacturer": "Steyr"}, "reason": "r"}, 422, "field-not-correctable"),
    ("country", {"changes": {"country_of_manufacture": "DE"}, "reason": "r"}, 422, "field-not-correctable"),
    ("category", {"changes": {"category": "A"}, "reason": "r"}, 422, "field-not-correctable"),
    ("year after a marking", {"changes": {"year_of_manufacture": 2022}, "reason": "r"}, 422, "year-before-manufacture"),
]


@pytest.mark.parametrize(("body", "status", "code"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
async def test_bad_corrections_are_refused_and_write_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    officer = await auth("records-officer")
    created = await register(client, officer, imported_rifle("FIX-4"))
    before = await counts(conn)
    answer = await client.post(f"/api/v1/items/{created['item_id']}/corrections", json=body, headers=officer)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"] == PROBLEM + code
    if code == "field-not-correctable":
        assert "register" in answer.json()["detail"]
        assert answer.json()["fields"]
    assert await counts(conn) == before
    item = (await client.get(f"/api/v1/items/{created['item_id']}", headers=officer)).json()
    assert {name: item[name] for name in ("make", "model", "year_of_manufacture", "serial")} == {
        "make": "Steyr",
        "model": "SSG 08",
        "year_of_manufacture": 2019,
        "serial": "FIX-4",
    }


MARKING_BAD = [
    ("unknown field", {"changes": {"kind": "proof"}, "reason": "r"}, 400, "invalid-request"),
    ("bad country", {"changes": {"country": "XX"}, "reason": "r"}, 422, "invalid-country"),
    ("import without country", {"changes": {"country": None}, "reason": "r"}, 422, "invalid-marking"),
    ("year before manufacture", {"changes": {"year": 2000}, "reason": "r"}, 422, "year-before-manufacture"),
    ("empty stamped", {"changes": {"stamped": ""}, "reason": "r"}, 422, "invalid-text"),
    ("same value", {"changes": {"year": 2021}, "reason": "r"}, 422, "correction-changes-nothing"),
]


@pytest.mark.parametrize(
    ("body", "status", "code"), [case[1:] for case in MARKING_BAD], ids=[case[0] for case in MARKING_BAD]
)
async def test_bad_marking_corrections_are_refused_and_write_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    officer = await auth("records-officer")
    created = await register(client, officer, imported_rifle("FIX-5"))
    marking_id = next(m for m in created["markings"] if m["kind"] == "import")["marking_id"]
    before = await counts(conn)
    url = f"/api/v1/items/{created['item_id']}/markings/{marking_id}/corrections"
    answer = await client.post(url, json=body, headers=officer)
    assert answer.status_code == status, answer.text
    assert answer.json()["type"] == PROBLEM + code
    assert await counts(conn) == before


async def test_a_marking_of_another_item_or_no_item_is_404(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("records-officer")
    one = await register(client, officer, imported_rifle("FIX-6"))
    other = await register(client, officer, imported_rifle("FIX-7"))
    before = await counts(conn)
    body = {"changes": {"year": 2022}, "reason": "r"}
    url = f"/api/v1/items/{other['item_id']}/markings/{one['markings'][0]['marking_id']}/corrections"
    assert (await client.post(url, json=body, headers=officer)).status_code == 404
    missing = await client.post("/api/v1/items/999999/corrections", json={"changes": {"model": "X"}, "reason": "r"})
    assert missing.status_code in {401, 404}
    missing = await client.post(
        "/api/v1/items/999999/corrections", json={"changes": {"model": "X"}, "reason": "r"}, headers=officer
    )
    assert missing.status_code == 404
    assert await counts(conn) == before


async def test_only_records_officers_and_admins_correct(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("records-officer")
    created = await register(client, officer, imported_rifle("FIX-8"))
    marking_id = created["markings"][0]["marking_id"]
    for number, role in enumerate(ROLES):
        headers = await auth(role)
        for url, body in (
            (f"/api/v1/items/{created['item_id']}/corrections", {"model": f"M{number}"}),
            (f"/api/v1/items/{created['item_id']}/markings/{marking_id}/corrections", {"stamped": f"S{number}"}),
        ):
            answer = await client.post(url, json={"changes": body, "reason": "r"}, headers=headers)
            if role in WRITERS:
                assert answer.status_code == 201, (role, answer.text)
            else:
                assert answer.status_code == 403, (role, answer.status_code)


async def test_a_lot_takes_its_quantity_and_headstamp_corrected(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("records-officer")
    lot = {
        "kind": "ammunition",
        "manufacturer": "Hirtenberger",
        "country_of_manufacture": "AT",
        "serial": "LOT-FIX-1",
        "quantity": 500,
        "headstamp": "HP",
    }
    item_id = (await register(client, officer, lot))["item_id"]
    answer = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"quantity": 5000, "headstamp": "HP 21"}, "reason": "a zero dropped"},
        headers=officer,
    )
    assert answer.status_code == 201, answer.text
    item = (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()
    assert (item["quantity"], item["headstamp"]) == (5000, "HP 21")
    wrong = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"firearm_type": "rifle"}, "reason": "r"},
        headers=officer,
    )
    assert wrong.status_code == 422
    assert wrong.json()["type"] == PROBLEM + "invalid-kind-fields"


async def test_the_database_refuses_a_bare_change_or_a_correction_the_row_does_not_follow(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("records-officer")
    created = await register(client, officer, imported_rifle("FIX-9"))
    item_id = created["item_id"]
    with pytest.raises(asyncpg.RestrictViolationError):
        async with conn.transaction():
            await conn.execute("UPDATE item SET model = 'X' WHERE item_id = $1", item_id)
    with pytest.raises(asyncpg.RestrictViolationError):
        async with conn.transaction():
            await conn.execute("UPDATE marking SET year = 2023 WHERE item_id = $1", item_id)
    with pytest.raises(asyncpg.RestrictViolationError):
        async with conn.transaction():
            await conn.execute("UPDATE marking SET kind = 'proof' WHERE item_id = $1", item_id)
    with pytest.raises(asyncpg.RestrictViolationError):
        async with conn.transaction():
            await conn.execute("UPDATE item SET serial = 'FIX-90' WHERE item_id = $1", item_id)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("DELETE FROM marking WHERE item_id = $1", item_id)
    insert = (
        "INSERT INTO item_correction (item_id, marking_id, changes, reason, recorded_at, recorded_by)"
        " VALUES ($1, NULL, $2::jsonb, 'r', now(), 'test')"
    )
    # a correction whose "before" is not the value the row holds
    with pytest.raises(asyncpg.RestrictViolationError):
        async with conn.transaction():
            await conn.execute(insert, item_id, {"model": {"before": "nope", "after": "X"}})
    # a correction written without moving the row
    with pytest.raises(asyncpg.RestrictViolationError):
        async with conn.transaction():
            await conn.execute(insert, item_id, {"model": {"before": "SSG 08", "after": "X"}})
    # an identity field
    with pytest.raises(asyncpg.CheckViolationError):
        async with conn.transaction():
            await conn.execute(insert, item_id, {"serial": {"before": "FIX-9", "after": "FIX-90"}})
    correction_id = await conn.fetchval("SELECT max(correction_id) FROM item_correction")
    assert correction_id is None or correction_id > 0
    answer = await client.post(
        f"/api/v1/items/{item_id}/corrections", json={"changes": {"model": "X"}, "reason": "r"}, headers=officer
    )
    assert answer.status_code == 201
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE item_correction SET reason = 'other' WHERE item_id = $1", item_id)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("DELETE FROM item_correction WHERE item_id = $1", item_id)


async def test_a_corrected_year_of_manufacture_bounds_the_dates_from_then_on(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    officer = await auth("records-officer")
    item_id = (await register(client, officer, rifle("FIX-10", year_of_manufacture=2019)))["item_id"]
    events = f"/api/v1/items/{item_id}/events"
    early = {"event": "transferred", "occurred_on": "2016-05-01", "to_party": "Jane Doe"}
    refused = await client.post(events, json=early, headers=officer)
    assert refused.json()["type"] == PROBLEM + "date-before-manufacture"
    answer = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"year_of_manufacture": 2015}, "reason": "the proof mark says 2015"},
        headers=officer,
    )
    assert answer.status_code == 201, answer.text
    taken = await client.post(events, json=early, headers=officer)
    assert taken.status_code == 201, taken.text
    # and the year cannot now be corrected past that event
    later = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"year_of_manufacture": 2017}, "reason": "r"},
        headers=officer,
    )
    assert later.status_code == 422
    assert later.json()["type"] == PROBLEM + "date-before-manufacture"


async def test_a_year_of_manufacture_after_a_deactivation_certificate_in_effect_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A deactivation's certificate is dated no earlier than the item was made, like the event itself (README
    "Dates"); a corrected year is held to it as to the events' dates. Before, the year of a firearm whose certificate
    is dated 2015 was corrected to 2018, and its certificate was printed as issued three years before it was made.
    """
    officer = await auth("records-officer")
    item_id = (await register(client, officer, rifle("FIX-DEAC", year_of_manufacture=2010)))["item_id"]
    mark = await client.post(f"/api/v1/items/{item_id}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert mark.status_code == 201, mark.text
    event = await client.post(
        f"/api/v1/items/{item_id}/events",
        json=event_body("deactivated", certificate_date="2015-03-02"),
        headers=officer,
    )
    assert event.status_code == 201, event.text
    before = await counts(conn)
    answer = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"year_of_manufacture": 2018}, "reason": "the proof mark says 2018"},
        headers=officer,
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"] == PROBLEM + "date-before-manufacture"
    assert (problem["field"], problem["certificate_date"], problem["not_before"]) == (
        "year_of_manufacture",
        "2015-03-02",
        "2018-01-01",
    )
    assert await counts(conn) == before
    item = (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()
    assert item["year_of_manufacture"] == 2010
    taken = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"year_of_manufacture": 2015}, "reason": "the proof mark says 2015"},
        headers=officer,
    )
    assert taken.status_code == 201, taken.text


async def test_a_correction_replayed_with_its_key_is_recorded_once_and_another_body_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """The same key and body give the first answer again, even after another correction moved the field; the same
    key with another body, or on the item's own corrections, is 409 ``idempotency-key-reused`` and writes nothing."""
    officer = await auth("records-officer")
    created = await register(client, officer, imported_rifle("FIX-KEY"))
    item_id = created["item_id"]
    marking_id = next(m for m in created["markings"] if m["kind"] == "import")["marking_id"]
    url = f"/api/v1/items/{item_id}/markings/{marking_id}/corrections"
    keyed = {**officer, "Idempotency-Key": "fix-key-1"}
    body = {"changes": {"country": "SK"}, "reason": "misread the stamp"}
    first = await client.post(url, json=body, headers=keyed)
    assert first.status_code == 201, first.text
    moved = await client.post(url, json={"changes": {"country": "PL"}, "reason": "misread again"}, headers=officer)
    assert moved.status_code == 201, moved.text
    before = await counts(conn)
    again = await client.post(url, json=body, headers=keyed)
    assert (again.status_code, again.content) == (201, first.content)
    other = await client.post(url, json={"changes": {"country": "HU"}, "reason": "misread the stamp"}, headers=keyed)
    assert other.status_code == 409, other.text
    assert other.json()["type"] == PROBLEM + "idempotency-key-reused"
    fields = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"model": "SSG 09"}, "reason": "misread the stamp"},
        headers=keyed,
    )
    assert fields.status_code == 409, fields.text
    assert await counts(conn) == before
    item = (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()
    assert next(m for m in item["markings"] if m["marking_id"] == marking_id)["country"] == "PL"


async def test_an_antique_deactivated_since_keeps_its_year_before_1900(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A firearm registered ``antique`` (made 1890) and deactivated since (category C) is still an antique by its
    registration: a correction of its deactivation gives that category back. A year of 1900 or later is refused
    (``antique-too-recent``) as while it was antique. Before, the year became 1950 under category C, and correcting
    the deactivation left an antique made in 1950.
    """
    officer = await auth("records-officer")
    item_id = (
        await register(client, officer, rifle("FIX-ANT", year_of_manufacture=1890, category="antique", make="Mauser"))
    )["item_id"]
    mark = await client.post(f"/api/v1/items/{item_id}/markings", json=DEACTIVATION_MARK, headers=officer)
    assert mark.status_code == 201, mark.text
    event = await client.post(f"/api/v1/items/{item_id}/events", json=event_body("deactivated"), headers=officer)
    assert event.status_code == 201, event.text
    assert (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()["category"] == "C"
    before = await counts(conn)
    answer = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"year_of_manufacture": 1950}, "reason": "the proof mark says 1950"},
        headers=officer,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == PROBLEM + "antique-too-recent"
    assert await counts(conn) == before
    taken = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"year_of_manufacture": 1895}, "reason": "the proof mark says 1895"},
        headers=officer,
    )
    assert taken.status_code == 201, taken.text


@pytest.mark.parametrize("event", ["destroyed", "exported", "stolen"])
async def test_a_record_is_corrected_whatever_the_status_and_the_status_stays(
    event: str,
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """A record is kept for its retention period after the firearm is gone (destroyed, exported, stolen ...), and a
    mistyped model in it is as wrong then: the correction is taken whatever the status, and moves no status."""
    officer = await auth("records-officer")
    item_id = (await register(client, officer, rifle(f"FIX-ST-{event}", model="SSG 80")))["item_id"]
    moved = await client.post(f"/api/v1/items/{item_id}/events", json=event_body(event), headers=officer)
    assert moved.status_code == 201, moved.text
    status = moved.json()["status_after"]
    answer = await client.post(
        f"/api/v1/items/{item_id}/corrections",
        json={"changes": {"model": "SSG 08"}, "reason": "typed from the wrong form"},
        headers=officer,
    )
    assert answer.status_code == 201, answer.text
    item = (await client.get(f"/api/v1/items/{item_id}", headers=officer)).json()
    assert (item["model"], item["status"]) == ("SSG 08", status)
