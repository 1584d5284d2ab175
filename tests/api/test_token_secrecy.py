"""A token's secret is shown once, in the answer that makes it, and nowhere else (README "Security")."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from firearms import db
from tests.conftest import TokenFactory


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
