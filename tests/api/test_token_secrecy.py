"""A token's secret is shown once, in the answer that makes it, and nowhere else (README "Security")."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from firearms import db
from tests.changes import changes
from tests.conftest import TokenFactory
from tests.exchange_util import OTHER_KEY, envelope


async def test_a_token_is_never_logged_journaled_or_stored(
    client: AsyncTestClient[Litestar], auth: TokenFactory, conn: db.Conn, caplog: pytest.LogCaptureFixture
) -> None:
    """Made, used, refused for its role, sent with a bad body, revoked and used again: the secret is in no log
    line, no journal entry, no stored answer and no other answer; the database keeps its SHA-256 alone."""
    admin = await auth("admin")
    with caplog.at_level(logging.DEBUG):
        made = await client.post("/api/v1/tokens", json={"role": "verifier", "name": "Vera"}, headers=admin)
        assert made.status_code == 201, made.text
        secret, token_id = made.json()["token"], made.json()["info"]["token_id"]
        assert secret.startswith("fr_")
        assert made.headers["cache-control"] == "no-store"
        bearer = {"Authorization": f"Bearer {secret}"}
        answers = [
            await client.get("/api/v1/me", headers=bearer),
            await client.get("/api/v1/tokens", headers=bearer),  # 403: the verifier's role
            await client.post("/api/v1/items", content=b"{", headers=bearer),  # 403 before the body is read
            await client.get("/api/v1/items?limit=0", headers=bearer),  # 400
            await client.get("/api/v1/tokens", headers=admin),
            await client.post(f"/api/v1/tokens/{token_id}/revoke", headers=admin),
            await client.get("/api/v1/me", headers=bearer),  # 401: revoked
            await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}x"}),  # 401: unknown
        ]
    assert [answer.status_code for answer in answers] == [200, 403, 403, 400, 200, 200, 401, 401]
    for answer in answers:
        assert secret not in answer.text
        assert secret not in str(answer.headers)
    assert caplog.records
    assert not [record for record in caplog.records if secret in record.getMessage() or secret in caplog.text]
    stored = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM journal_entry AS t")
    assert "Vera" in stored
    assert secret not in stored
    tokens = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM officer_token AS t")
    assert secret not in tokens
    assert secret.encode() not in await conn.fetchval("SELECT string_agg(token_hash, '') FROM officer_token")
    keys = await conn.fetchval("SELECT coalesce(string_agg(k::text, ' '), '') FROM idempotency_key AS k")
    assert secret not in keys


async def test_an_officer_token_opens_nothing_on_the_partner_surface_nor_a_signature_on_the_officers(
    client: AsyncTestClient[Litestar], auth: TokenFactory, conn: db.Conn
) -> None:
    """The partner surface authenticates by signature alone (PROTOCOL §4): an administrator's token with a notice
    signed by a key no partner holds is refused as the notice alone is, and stores nothing; a partner's signed
    notice sent to an officer endpoint is a 401 there."""
    admin = await auth("admin")
    notice = envelope(OTHER_KEY, sender="CZ", recipient="AT")
    before = await changes(conn)
    for headers in ({}, admin):
        refused = await client.post(
            "/exchange/v1/notices", content=notice, headers={**headers, "Content-Type": "application/json"}
        )
        assert refused.status_code in {400, 403}, refused.text
        assert refused.json()["type"].startswith("tag:firearms-exchange,2026:problems/")
    assert (await changes(conn))[1:3] == before[1:3]  # no notice stored, in or out
    assert await conn.fetchval("SELECT count(*) FROM notice_inbox") == 0
    for method, path in (("POST", "/api/v1/peers"), ("GET", "/api/v1/notices/received"), ("GET", "/api/v1/me")):
        answer = await client.request(
            method, path, content=notice if method == "POST" else None, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 401, (path, answer.text)


async def test_a_name_a_live_token_holds_is_refused(
    client: AsyncTestClient[Litestar], auth: TokenFactory, conn: db.Conn
) -> None:
    """The journal names an officer ``officer:<token name>``: a second live token of that name (in another case, a
    space after it) made two officers one actor. 409 ``token-name-taken``, nothing stored; once revoked, the name
    may be given again."""
    admin = await auth("admin")
    first = await client.post("/api/v1/tokens", json={"role": "auditor", "name": "Kim Lee"}, headers=admin)
    assert first.status_code == 201, first.text
    before = await conn.fetchval("SELECT count(*) FROM officer_token")
    journaled = await changes(conn)
    for name in ("Kim Lee", "kim lee", " KIM LEE "):
        again = await client.post("/api/v1/tokens", json={"role": "verifier", "name": name}, headers=admin)
        assert again.status_code == 409, again.text
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["type"].endswith("/token-name-taken")
        assert again.json()["token_id"] == first.json()["info"]["token_id"]
        assert "token" not in again.json() or again.json()["token"] is None
    assert await conn.fetchval("SELECT count(*) FROM officer_token") == before
    assert await changes(conn) == journaled
    revoked = await client.post(f"/api/v1/tokens/{first.json()['info']['token_id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    later = await client.post("/api/v1/tokens", json={"role": "verifier", "name": "Kim Lee"}, headers=admin)
    assert later.status_code == 201, later.text
