"""``GET /api/v1/imports`` and ``GET /api/v1/imports/{import_id}``: the bulk-import batches (README "Records").

Every import that stored rows is an ``item_import`` row (file name, SHA-256, counts, who and when), and items and
markings point at it by ``import_id``, but no endpoint listed them: an officer asked "what came in last week, from
which file" of the journal, or of an export filtered by an ``import_id`` they had to know already.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from firearms import db
from tests.conftest import TokenFactory

PROBLEM = "tag:firearms-registry,2026:problems/"
HEADER = "kind,firearm_type,manufacturer,country_of_manufacture,serial,model,marking_stamped\n"


def _csv(*serials: str, bad: int = 0) -> bytes:
    rows = [f"firearm,pistol,Glock GmbH,AT,{serial},17,GLOCK {serial}\n" for serial in serials]
    rows += ["firearm,pistol,Glock GmbH,XX,BAD-1,17,X\n"] * bad
    return (HEADER + "".join(rows)).encode()


async def _import(client: AsyncTestClient[Litestar], headers: dict[str, str], name: str, body: bytes) -> Any:
    response = await client.post(
        "/api/v1/imports", content=body, params={"file_name": name}, headers={**headers, "Content-Type": "text/csv"}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_import_batches_are_listed_newest_first_page_by_page(
    client: AsyncTestClient[Litestar], auth: TokenFactory, conn: db.Conn
) -> None:
    officer = await auth("records-officer")
    auditor = await auth("auditor")
    empty = await client.get("/api/v1/imports", headers=auditor)
    assert (empty.status_code, empty.json()) == (200, {"items": [], "next": None})

    first_body, second_body = _csv("B-1", "B-2", bad=1), _csv("B-3")
    first = await _import(client, officer, "dealer-2026-01.csv", first_body)
    second = await _import(client, officer, "dealer-2026-02.csv", second_body)
    assert await _import(client, officer, "again.csv", second_body) == {  # nothing inserted: no batch
        **second,
        "import_id": None,
        "file_name": "again.csv",
        "inserted": 0,
        "already_registered": 1,
        "rejections": [
            {
                "line": 2,
                "reason": "already-registered",
                "serial": "B-3",
                "item_id": 3,
                "reasons": ["already-registered"],
            }
        ],
    }
    journaled = await conn.fetchval("SELECT count(*) FROM journal_entry")

    page = await client.get("/api/v1/imports", params={"limit": 1}, headers=auditor)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "application/json"
    (newest,) = page.json()["items"]
    rest = await client.get("/api/v1/imports", params={"limit": 1, "after": page.json()["next"]}, headers=officer)
    (oldest,) = rest.json()["items"]
    assert rest.json()["next"] is None  # the re-run stored no batch

    assert [newest["import_id"], oldest["import_id"]] == [second["import_id"], first["import_id"]]
    assert {key: oldest[key] for key in ("file_name", "format", "sha256", "rows_read", "inserted", "rejected")} == {
        "file_name": "dealer-2026-01.csv",
        "format": "csv",
        "sha256": hashlib.sha256(first_body).hexdigest(),
        "rows_read": 3,
        "inserted": 2,
        "rejected": 1,
    }
    assert oldest["sha256"] == first["sha256"]
    assert (oldest["already_registered"], oldest["imported_by"]) == (0, "officer:test records-officer")
    assert oldest["imported_at"].endswith("Z")
    # one batch by its id, as listed
    one = await client.get(f"/api/v1/imports/{first['import_id']}", headers=auditor)
    assert (one.status_code, one.json()) == (200, oldest)
    # no personal data: the reads are not journaled (README: an item or a list shows no party)
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == journaled


async def test_an_import_batch_that_does_not_exist_is_a_404_and_a_bad_id_a_400(
    client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    officer = await auth("records-officer")
    missing = await client.get("/api/v1/imports/99", headers=officer)
    assert missing.status_code == 404, missing.text
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == PROBLEM + "not-found"
    assert missing.json()["import_id"] == 99
    for bad in ("0", str(2**63)):  # no id of the column (bigint, from 1)
        refused = await client.get(f"/api/v1/imports/{bad}", headers=officer)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["type"] == PROBLEM + "invalid-request"
        assert [error["key"] for error in refused.json()["errors"]] == ["import_id"]
    cursor = await client.get("/api/v1/imports", params={"after": "nonsense"}, headers=officer)
    assert cursor.status_code == 422, cursor.text
    assert cursor.json()["type"] == PROBLEM + "invalid-cursor"
