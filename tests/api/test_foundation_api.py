from __future__ import annotations

import base64
import gzip
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Request
from litestar.exceptions import InternalServerException
from litestar.testing import AsyncTestClient

from api import create_app
from api.problems import _http_error
from firearms import bootstrap, db
from firearms.embedded import ensure_database, start_embedded, stop_embedded
from firearms.settings import Settings
from firearms.tokens import Role
from tests.changes import changes
from tests.conftest import TokenFactory
from tests.exchange_util import OTHER_KEY, envelope
from tests.licensing_helpers import issued_export, register_parties


async def test_health_answers_when_database_answers(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "state": "AT"}
    assert response.headers["x-request-id"]


async def test_request_id_is_echoed_when_sane_and_replaced_otherwise(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    given = await client.get("/health", headers={"X-Request-Id": "3f2b9c1e-notice"})
    assert given.headers.get_list("x-request-id") == ["3f2b9c1e-notice"]
    insane = await client.get("/health", headers={"X-Request-Id": "no spaces\tor tabs"})
    assert len(insane.headers.get_list("x-request-id")) == 1
    assert insane.headers["x-request-id"] != "no spaces\tor tabs"
    assert len(insane.headers["x-request-id"]) == 32


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/no/such/page", 404), ("GET", "/api/v1/checks/not-a-uuid", 404), ("DELETE", "/health", 405)],
)
async def test_requests_no_route_takes_get_a_request_id_and_an_access_line(
    client: AsyncTestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    status: int,
) -> None:
    """The router's own 404 and 405 come before any route's middleware: the id is given around the router."""
    with caplog.at_level(logging.INFO, logger="firearms.access"):
        response = await client.request(method, path, headers={"X-Request-Id": "probe-1"})
    assert response.status_code == status
    assert (response.headers.get_list("x-request-id"), response.json().get("request_id")) == (["probe-1"], "probe-1")
    lines = [record.getMessage() for record in caplog.records if record.name == "firearms.access"]
    assert len(lines) == 1
    assert re.fullmatch(rf"{method} {re.escape(path)} {status} [0-9.]+ms id=probe-1", lines[0]), lines


def test_client_gone_before_its_body_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """Litestar reports a client that hung up mid-body as a 500; it is logged as a warning, not an error."""
    scope: Any = {"type": "http", "method": "POST", "path": "/api/v1/checks", "headers": [], "state": {}}
    request: Request[Any, Any, Any] = Request(scope)
    with caplog.at_level(logging.INFO, logger="firearms.api"):
        gone = _http_error(request, InternalServerException("client disconnected prematurely"))
        failed = _http_error(request, InternalServerException("something else broke"))
    assert (gone.status_code, failed.status_code) == (500, 500)
    assert [(record.levelno, "went away" in record.getMessage()) for record in caplog.records] == [
        (logging.WARNING, True),
        (logging.ERROR, False),
    ]


async def test_missing_token_is_401_problem(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/unauthenticated")


async def test_a_restart_after_every_admin_token_was_revoked_prints_no_new_admin_token(
    client: AsyncTestClient,  # type: ignore[type-arg]
    conn: db.Conn,
    settings: Settings,
    database: str,
    initialised: bootstrap.Initialised,
) -> None:
    """The first admin token is printed once, on the first start only: never again into a service's log.

    An administrator who revoked every admin token (a leaked one) makes a new one on purpose with
    ``firearms token create``; a restart must not mint one and print its secret to stderr.
    """
    assert initialised.admin_token
    first = {"Authorization": f"Bearer {initialised.admin_token}"}
    token_id = (await client.get("/api/v1/me", headers=first)).json()["token_id"]
    assert (await client.post(f"/api/v1/tokens/{token_id}/revoke", headers=first)).status_code == 200
    again = await bootstrap.initialise(settings, database)
    assert again.admin_token is None
    assert await conn.fetchval("SELECT count(*) FROM officer_token WHERE role = 'admin'") == 1


async def test_wrong_role_is_403_problem(client: AsyncTestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    headers = await auth("customs-officer")
    response = await client.get("/api/v1/tokens", headers=headers)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")
    assert response.json()["allowed_roles"] == ["admin"]


async def test_token_lifecycle_create_list_revoke(client: AsyncTestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    admin = await auth("admin")
    created = await client.post("/api/v1/tokens", json={"role": "verifier", "name": "Vera"}, headers=admin)
    assert created.status_code == 201
    secret = created.json()["token"]
    token_id = created.json()["info"]["token_id"]
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["role"] == "verifier"

    listed = await client.get("/api/v1/tokens", headers=admin)
    assert secret not in listed.text
    assert any(item["token_id"] == token_id for item in listed.json()["items"])

    revoked = await client.post(f"/api/v1/tokens/{token_id}/revoke", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    after = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert after.status_code == 401
    again = await client.post(f"/api/v1/tokens/{token_id}/revoke", headers=admin)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/token-already-revoked")


async def test_token_list_is_paginated(client: AsyncTestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    admin = await auth("admin")
    for number in range(5):
        await client.post("/api/v1/tokens", json={"role": "auditor", "name": f"a{number}"}, headers=admin)
    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        params = {"limit": "2"} | ({"after": cursor} if cursor else {})
        page = (await client.get("/api/v1/tokens", params=params, headers=admin)).json()
        sizes.append(len(page["items"]))
        seen.extend(item["token_id"] for item in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7  # first admin, the test admin, five auditors
    assert sizes == [2, 2, 2, 1]  # full pages of the limit, then the rest, and no empty page after it
    bad = await client.get("/api/v1/tokens", params={"after": "not-a-cursor"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["type"].endswith("/invalid-cursor")
    too_many = await client.get("/api/v1/tokens", params={"limit": "100000"}, headers=admin)
    assert too_many.status_code == 400


async def count_tokens(client: AsyncTestClient, admin: dict[str, str]) -> int:  # type: ignore[type-arg]
    return len((await client.get("/api/v1/tokens", params={"limit": "500"}, headers=admin)).json()["items"])


async def test_bad_bodies_are_problems_and_store_nothing(client: AsyncTestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    admin = await auth("admin")
    before = await count_tokens(client, admin)
    json_headers = admin | {"Content-Type": "application/json"}
    cases = [
        b'{"role": "auditor", "name": ',  # malformed JSON
        b'{"role": "auditor", "name": 7}',  # wrong type
        b'{"role": "wizard", "name": "x"}',  # not a role
        b'{"role": "auditor", "name": "x", "admin": true}',  # unknown field
        b'{"role": "auditor", "name": "x", "role": "admin"}',  # a key twice: the last one won, an admin token
        b'{"role": "auditor"}',  # missing field
        b'{"role": "auditor", "name": ""}',  # empty name
        b'{"role": "auditor", "name": "   "}',  # a blank name (the CLI refused it, the API took it)
        b'{"role": "auditor", "name": "a\\u0000b"}',  # control character
        b'{"role": "auditor", "name": "a\\u009bb"}',  # C1 control character (a terminal's CSI)
        b"[]",
    ]
    for body in cases:
        response = await client.post("/api/v1/tokens", content=body, headers=json_headers)
        assert response.status_code == 400, body
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"].endswith("/invalid-request")
        assert problem["status"] == 400
        assert "Traceback" not in response.text
    huge = b'{"role": "auditor", "name": "' + b"x" * 2_000_000 + b'"}'
    response = await client.post("/api/v1/tokens", content=huge, headers=json_headers)
    assert response.status_code == 413
    assert response.json()["type"].endswith("/body-too-large")
    assert await count_tokens(client, admin) == before


async def test_a_body_that_says_it_is_not_json_is_415_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    admin = await auth("admin")
    before = await count_tokens(client, admin)
    body = b'{"role": "auditor", "name": "border post 7"}'
    for media in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", "json"):
        response = await client.post("/api/v1/tokens", content=body, headers=admin | {"Content-Type": media})
        assert response.status_code == 415, media
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/unsupported-media-type")
        assert "application/json" in response.json()["detail"]
    assert await count_tokens(client, admin) == before
    # Authentication comes first: without a token the answer is 401 whatever the body.
    anonymous = await client.post("/api/v1/tokens", content=body, headers={"Content-Type": "text/plain"})
    assert anonymous.status_code == 401
    # each under a name of its own: a live token's name is not given twice (token-name-taken)
    for number, media in enumerate(
        ("application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.firearms+json")
    ):
        named = body.replace(b"post 7", f"post {number}".encode())
        response = await client.post("/api/v1/tokens", content=named, headers=admin | {"Content-Type": media})
        assert response.status_code == 201, media
    # No Content-Type at all: read as JSON.
    bare = await client.post("/api/v1/tokens", content=body, headers=admin)
    assert "content-type" not in bare.request.headers
    assert bare.status_code == 201
    assert await count_tokens(client, admin) == before + 4


async def test_a_json_body_declared_in_another_charset_than_utf8_is_415_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """JSON is read as UTF-8 (RFC 8259 §8.1): a body that says it is Latin-1 would be misread, not converted.

    Before, ``charset=iso-8859-1`` was ignored and the bytes read as UTF-8: Latin-1 ``Ã¶`` (C3 B6) was stored as
    ``ö``. The partner surface and the imports already refused another charset.
    """
    admin = await auth("admin")
    before = await count_tokens(client, admin)
    body = '{"role": "auditor", "name": "Grenzposten M\u00c3\u00bcller"}'.encode("latin-1")
    for charset in ("iso-8859-1", "latin-1", "utf-16", '"windows-1252"'):
        media = f"application/json; charset={charset}"
        response = await client.post("/api/v1/tokens", content=body, headers=admin | {"Content-Type": media})
        assert response.status_code == 415, (media, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/unsupported-media-type")
        assert "UTF-8" in response.json()["detail"]
    assert await count_tokens(client, admin) == before
    for number, charset in enumerate(("utf-8", "UTF-8", '"utf-8"', "utf8")):
        media = f"application/json; charset={charset}"
        content = body.replace(b"Grenzposten", charset.strip('"').encode() + b" %d" % number)
        response = await client.post("/api/v1/tokens", content=content, headers=admin | {"Content-Type": media})
        assert response.status_code == 201, (media, response.text)


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/items?status=active&status=stolen",
        "/api/v1/tokens?limit=1&limit=500",
        "/api/v1/journal?entity=item&entity=licence",
        "/api/v1/items/export?format=csv&format=ndjson",
        "/api/v1/items/export?format=csv&country=AT&country=DE",
        "/api/v1/licences?kind=export&kind=import",
    ],
)
async def test_a_query_parameter_given_twice_is_refused_and_changes_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    query: str,
) -> None:
    """``?status=active&status=stolen`` answered for one of the two, silently (and an export was journaled)."""
    admin = await auth("admin")
    before = await changes(conn)
    response = await client.get(query, headers=admin)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/invalid-request")
    name = query.rsplit("&", 1)[1].split("=", maxsplit=1)[0]
    assert f"`{name}`" in problem["detail"], problem
    assert await changes(conn) == before
    assert (await client.get(query.rsplit("&", 1)[0], headers=admin)).status_code == 200


async def test_a_query_parameter_given_twice_on_a_write_is_refused_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("records-officer")
    before = await changes(conn)
    header = b"kind,firearm_type,manufacturer,country_of_manufacture,serial,model,marking_stamped\n"
    body = header + b"firearm,pistol,G,AT,Q-1,17,G\n"
    response = await client.post(
        "/api/v1/imports?file_name=a.csv&file_name=b.csv", content=body, headers={**officer, "Content-Type": "text/csv"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("/invalid-request")
    assert await changes(conn) == before


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate", "x-unknown", "gzip, identity"])
async def test_a_json_body_with_a_content_coding_is_415_and_stores_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    coding: str,
) -> None:
    """The registry decodes no content coding (RFC 9110 §8.4): a compressed body is refused, not read as it is.

    Before, ``Content-Encoding: gzip`` was ignored: a plain body saying it was compressed was stored (201), and a
    really compressed one was a 400 about malformed JSON that did not name the cause.
    """
    admin = await auth("admin")
    before = await count_tokens(client, admin)
    body = b'{"role": "auditor", "name": "border post 8"}'
    for content in (body, gzip.compress(body)):
        headers = admin | {"Content-Type": "application/json", "Content-Encoding": coding}
        response = await client.post("/api/v1/tokens", content=content, headers=headers)
        assert response.status_code == 415, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/unsupported-media-type")
        assert "Content-Encoding" in response.json()["detail"]
    assert await count_tokens(client, admin) == before
    identity = admin | {"Content-Type": "application/json", "Content-Encoding": "identity"}
    assert (await client.post("/api/v1/tokens", content=body, headers=identity)).status_code == 201


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        (
            "admin",
            "POST",
            "/api/v1/parties",
            {"kind": "exporter", "name": "a\x00b", "country": "AT", "address": "Ring 1"},
        ),
        (
            "customs-officer",
            "POST",
            "/api/v1/checks",
            {
                "check_id": "0b9f3c9e-2f4a-4d7e-9a51-7c1e2d3f4a5b",
                "movement": "export",
                "licence_number": "AT-EXP\x00",
                "issuing_state": "AT",
                "crossing_point": "AT-Wullowitz",
                "lines": [{"line": 1, "quantity": 1}],
            },
        ),
        ("admin", "GET", "/api/v1/checks?serial=SSG%00", None),
        ("admin", "GET", "/api/v1/items?serial=SSG%00", None),
        ("admin", "GET", "/api/v1/verify/AT-EXP%00", None),
    ],
)
async def test_a_nul_character_is_a_400_problem_not_a_500(
    role: Role,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    client: AsyncTestClient,  # type: ignore[type-arg]
    conn: db.Conn,
    auth: TokenFactory,
) -> None:
    """PostgreSQL text cannot hold U+0000: such input is the client's error, and nothing is stored."""
    response = await client.request(method, path, json=body, headers=await auth(role))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/invalid-request")
    assert await conn.fetchval("SELECT count(*) FROM party") == 0
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0


@pytest.mark.parametrize(("role", "path"), [("admin", "/api/v1/tokens"), ("customs-officer", "/api/v1/checks")])
async def test_json_nested_too_deeply_is_a_400_problem_not_a_500(
    role: Role,
    path: str,
    client: AsyncTestClient,  # type: ignore[type-arg]
    conn: db.Conn,
    auth: TokenFactory,
) -> None:
    headers = await auth(role) | {"Content-Type": "application/json"}
    tokens_before = await conn.fetchval("SELECT count(*) FROM officer_token")
    response = await client.post(path, content=b"[" * 100_000, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/invalid-request")
    assert await conn.fetchval("SELECT count(*) FROM officer_token") == tokens_before
    assert await conn.fetchval("SELECT count(*) FROM customs_check") == 0


def cursor(*key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("records-officer", f"/api/v1/items?after={cursor(2**63)}"),
        ("records-officer", f"/api/v1/items/1/history?after={cursor('2026-11-29T10:00:00Z', 2**63, 1)}"),
        ("records-officer", f"/api/v1/items/1/history?after={cursor('2026-11-29T10:00:00Z', 2**31, 1)}"),
        ("auditor", f"/api/v1/journal?after={cursor(2**63)}"),
        # a time with an offset that moves it before year 1 or after year 9999 in UTC
        (
            "admin",
            f"/api/v1/tokens?after={cursor('0001-01-01T00:00:00+14:00', '00000000-0000-0000-0000-000000000000')}",
        ),
        ("records-officer", f"/api/v1/items/1/history?after={cursor('9999-12-31T23:59:59-12:00', 2, 1)}"),
    ],
)
async def test_a_cursor_beyond_what_its_columns_hold_is_invalid_cursor_not_a_500(
    role: Role,
    path: str,
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """An integer beyond 64 bits (or its column), or a time beyond the years UTC holds, was never given out."""
    response = await client.get(path, headers=await auth(role))
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/invalid-cursor")


async def test_an_integer_beyond_its_column_in_a_path_query_or_cursor_is_a_4xx_not_a_500(
    client: AsyncTestClient,  # type: ignore[type-arg]
    conn: db.Conn,
    settings: Settings,
    auth: TokenFactory,
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    officer = await auth("licensing-officer")
    records = await auth("records-officer")
    cases = [
        (records, f"/api/v1/items/{2**63}", 400),
        (records, f"/api/v1/items/{2**63}/history", 400),
        (records, f"/api/v1/items/export?import_id={2**63}", 400),
        (officer, f"/api/v1/licences/{licence.licence_id}/versions/{2**31}", 400),
        (officer, f"/api/v1/licences/{licence.licence_id}/versions/{2**31}/document", 400),
        (officer, f"/api/v1/licences/{licence.licence_id}/versions?after={cursor(2**31)}", 422),
    ]
    for headers, path, status in cases:
        response = await client.get(path, headers=headers)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_unknown_route_and_method_are_problems(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    missing = await client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/not-found")
    wrong = await client.delete("/health")
    assert wrong.status_code == 405
    assert wrong.json()["type"].endswith("/method-not-allowed")


@pytest.mark.parametrize("path", ["/schema/no-such-viewer", "/schema/%00", "/schema/x.json", "/schema/%E2%80%AE"])
async def test_a_schema_path_that_names_nothing_is_a_not_found_problem(client: AsyncTestClient, path: str) -> None:  # type: ignore[type-arg]
    """Litestar answers an unknown page under ``/schema`` with an HTML page of its own: refused as every 404 is."""
    response = await client.get(path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    assert response.json()["type"].endswith("/not-found")
    assert response.json()["status"] == 404


async def test_openapi_document_lists_the_endpoints(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert "/health" in document["paths"]
    assert "/api/v1/tokens" in document["paths"]
    root = await client.get("/schema")  # the same document: no HTML viewer (README "Security")
    assert root.status_code == 200
    assert root.json() == document


async def test_auditor_verifies_and_checkpoints_the_journal(client: AsyncTestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    auditor = await auth("auditor")
    made = await client.post("/api/v1/journal/checkpoints", headers=auditor)
    assert made.status_code == 201
    verified = await client.get("/api/v1/journal/verify", headers=auditor)
    assert verified.json()["intact"] is True
    assert verified.json()["checkpoints"] == 1
    entries = await client.get("/api/v1/journal", params={"entity": "officer_token"}, headers=auditor)
    assert {item["action"] for item in entries.json()["items"]} == {"token.created"}


@pytest.mark.parametrize(
    ("path", "request_id"),
    [
        ("/no/such/page%0aINFO - forged line%0d%1b[31m", "probe-2"),
        ("/health", "probe-3\n"),
    ],
)
async def test_an_access_line_is_one_line_whatever_the_path_or_request_id(
    client: AsyncTestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
    path: str,
    request_id: str,
) -> None:
    """A path is percent-decoded before it is logged and ``$`` matches before a final newline: neither may
    start a forged line in the access log, or send a control character to the operator's terminal."""
    with caplog.at_level(logging.INFO, logger="firearms.access"):
        response = await client.get(path, headers={"X-Request-Id": request_id})
    lines = [record.getMessage() for record in caplog.records if record.name == "firearms.access"]
    assert len(lines) == 1
    assert all(char.isprintable() for char in lines[0]), lines
    assert all(char.isprintable() for char in response.headers["x-request-id"])


async def test_a_path_that_reaches_the_problem_log_stays_on_one_line(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A NUL in a path parameter is logged with the path: a decoded newline there must not forge a line."""
    with caplog.at_level(logging.INFO, logger="firearms.api"):
        response = await client.get("/api/v1/verify/%00%0aERROR%20forged%1b[2J", headers=await auth("customs-officer"))
    assert response.status_code == 400
    lines = [record.getMessage() for record in caplog.records if record.name == "firearms.api"]
    assert lines
    assert all(line.isprintable() for line in lines), lines


async def test_a_database_gone_away_is_a_503_problem_on_officer_endpoints_too(short_tmp: Path) -> None:
    """A PostgreSQL of its own, stopped under the running app: every officer request (its token is looked up)
    was a 500 internal-error with a traceback in the log; it is the 503 /health already answers."""
    home = short_tmp / "home"
    url = await ensure_database(start_embedded(home))
    running = True
    try:
        settings = Settings(state="AT", home=home, database_url=url, run_worker=False)
        done = await bootstrap.initialise(settings, url)
        assert done.admin_token is not None
        headers = {"Authorization": f"Bearer {done.admin_token}"}
        async with AsyncTestClient(app=create_app(settings)) as client:
            assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
            stop_embedded(home)
            running = False
            for path in ("/api/v1/me", "/api/v1/me", "/api/v1/tokens", "/health"):
                response = await client.get(path, headers=headers)
                assert response.status_code == 503, (path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"].endswith("/database-unavailable")
    finally:
        if running:  # the test failed before it stopped the server
            stop_embedded(home)


async def test_a_database_gone_away_is_a_503_problem_where_a_handler_takes_its_own_connection(short_tmp: Path) -> None:
    """A partner's notice (no token: no guard took a connection first) on a database that no longer answers
    was a 500 internal-error: the handler took its connection from pool.acquire(), whose OSError nothing
    translated. Every connection the API takes now comes from api.deps.connection: the 503 problem."""
    home = short_tmp / "home"
    url = await ensure_database(start_embedded(home))
    running = True
    try:
        settings = Settings(state="AT", home=home, database_url=url, run_worker=False)
        done = await bootstrap.initialise(settings, url)
        headers = {"Authorization": f"Bearer {done.admin_token}"}
        async with AsyncTestClient(app=create_app(settings)) as client:
            assert (await client.get("/api/v1/journal/verify", headers=headers)).status_code == 200
            stop_embedded(home)
            running = False
            # a notice for AT (a malformed one or one for another State is refused before any connection)
            notice = envelope(OTHER_KEY, sender="CZ", recipient="AT")
            for method, path, body in (
                ("POST", "/exchange/v1/notices", notice),
                ("POST", "/exchange/v1/notices", notice),
                ("GET", "/api/v1/journal/verify", b""),
                ("POST", "/api/v1/journal/checkpoints", b""),
            ):
                response = await client.request(
                    method, path, content=body, headers={**headers, "content-type": "application/json"}
                )
                assert response.status_code == 503, (path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["type"].endswith("/database-unavailable")
    finally:
        if running:  # the test failed before it stopped the server
            stop_embedded(home)
