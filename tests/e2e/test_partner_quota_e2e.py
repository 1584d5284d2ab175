"""DE bounds what AT's notices may store an hour; AT's worker meets the bound (429) and its notices arrive later, once
and in order (two ``firearms serve`` processes on loopback; README "What one partner can make this registry store")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.registries import Node, trusting, wait_for


@pytest.fixture
async def nodes(pg_admin_uri: str, template_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Node]]:
    """AT and DE running, each trusting the other (peers added with the real CLI)."""
    del template_url
    async with trusting(("AT", "DE"), pg_admin_uri, tmp_path) as started:
        yield started


async def test_a_partner_over_its_quota_is_refused_429_and_its_notices_arrive_once_in_order_later(
    nodes: dict[str, Node],
) -> None:
    at, de = nodes["AT"], nodes["DE"]
    await de.cli("peers", "quota", "AT", "--notices", "2")
    ids = [await at.enqueue("DE", "test.ping", {"n": n}) for n in range(4)]

    async def refused() -> bool:
        head = await at.fetch("SELECT last_error FROM notice_outbox WHERE recipient = 'DE' AND sequence = 3")
        return bool(head) and (head[0]["last_error"] or "").startswith("HTTP 429 quota-exceeded")

    await wait_for(refused, "AT's third notice refused for DE's quota")
    stored = await de.fetch("SELECT notice_id, sequence FROM notice_inbox ORDER BY sequence")
    assert [row["sequence"] for row in stored] == [1, 2]
    (window,) = await de.fetch("SELECT notices, refused FROM peer_quota_window WHERE state = 'AT'")
    assert window["notices"] == 2
    assert window["refused"] >= 1
    # the bound raised (as the next hour would let them in): the same notices arrive, once, in order
    await de.cli("peers", "quota", "AT", "--notices", "default")
    # AT's worker honours DE's Retry-After (the seconds until DE's hour ends): that hour is made to end now
    await at.fetch(
        "UPDATE notice_outbox SET next_attempt_at = now() WHERE recipient = 'DE' AND status = 'queued'"
        " RETURNING notice_id"
    )

    async def all_answered() -> bool:
        return not await at.fetch("SELECT 1 FROM notice_outbox WHERE recipient = 'DE' AND status = 'queued'")

    await wait_for(all_answered, "AT's queue for DE delivered")
    stored = await de.fetch("SELECT notice_id, sequence FROM notice_inbox ORDER BY sequence")
    assert [str(row["notice_id"]) for row in stored] == ids
    assert [row["sequence"] for row in stored] == [1, 2, 3, 4]
