"""``GET /api/v1/journal?action=...``: an auditor's list of one action (README "The journal").

An auditor asking for every ``licence.revoked`` or ``check.recorded`` walked the whole journal and filtered it
themselves; the parameter was refused as unknown.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from firearms import db
from tests.conftest import TokenFactory

PROBLEM = "tag:firearms-registry,2026:problems/invalid-request"
RULE = (
    "query parameter 'action' must be an action's name: 3-100 characters, lower-case words of a-z, 0-9 and '-'"
    " joined by '.', such as licence.revoked"
)


def _party(number: int) -> dict[str, str]:
    return {"kind": "exporter", "name": f"Exporter {number}", "country": "AT", "address": f"Ring {number}, 1010 Wien"}


async def _walk(client: AsyncTestClient[Litestar], headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    """Every page of the list, following ``next``."""
    entries: list[dict[str, Any]] = []
    query: dict[str, Any] = dict(params)
    while True:
        response = await client.get("/api/v1/journal", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        entries.extend(body["items"])
        if body["next"] is None:
            return entries
        query = {**params, "after": body["next"]}
        query.pop("after_seq", None)


async def test_the_journal_lists_the_entries_of_one_action_across_pages(
    client: AsyncTestClient[Litestar], auth: TokenFactory, conn: db.Conn
) -> None:
    licensing = await auth("licensing-officer")
    ids = []
    for number in range(5):  # registrations with reads between them
        created = await client.post("/api/v1/parties", json=_party(number), headers=licensing)
        ids.append(created.json()["party_id"])
        assert (await client.get(f"/api/v1/parties/{ids[-1]}", headers=licensing)).status_code == 200
    auditor = await auth("auditor")

    registered = await _walk(client, auditor, action="party.registered", limit=2)
    assert [(entry["action"], entry["entity_id"]) for entry in registered] == [
        ("party.registered", party_id) for party_id in ids
    ]
    seqs = [entry["seq"] for entry in registered]
    assert seqs == sorted(seqs)
    # exactly the entries of that action the whole journal holds, in chain order
    everything = await _walk(client, auditor, limit=500)
    assert [e["entry_id"] for e in everything if e["action"] == "party.registered"] == [
        e["entry_id"] for e in registered
    ]

    # with the other filters and with after_seq
    one = await _walk(client, auditor, action="party.read", entity="party", entity_id=ids[3])
    assert [(entry["action"], entry["entity_id"]) for entry in one] == [("party.read", ids[3])]
    later = await _walk(client, auditor, action="party.registered", after_seq=seqs[2], limit=1)
    assert [entry["entry_id"] for entry in later] == [entry["entry_id"] for entry in registered[3:]]
    # an action nobody did (yet) is an empty list, not a refusal
    assert await _walk(client, auditor, action="licence.revoked") == []

    # the read of a page is journaled with the ids shown, as any page of the journal
    first = await client.get("/api/v1/journal", params={"action": "party.registered", "limit": 2}, headers=auditor)
    shown = [str(entry["entry_id"]) for entry in first.json()["items"]]
    read = await conn.fetchrow(
        "SELECT actor, payload FROM journal_entry WHERE action = 'journal.read' ORDER BY entry_id DESC LIMIT 1"
    )
    assert read is not None
    assert read["actor"] == "officer:test auditor"
    assert read["payload"]["ids"] == shown


@pytest.mark.parametrize(
    "action",
    ["", "party", "Party.Registered", "party registered", "party..registered", ".party", "party.", "a" * 99 + ".b"],
)
async def test_an_action_that_is_no_action_name_is_refused_naming_the_rule(
    client: AsyncTestClient[Litestar], auth: TokenFactory, conn: db.Conn, action: str
) -> None:
    auditor = await auth("auditor")
    before = await conn.fetchval("SELECT count(*) FROM journal_entry")
    response = await client.get("/api/v1/journal", params={"action": action}, headers=auditor)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEM
    assert problem["errors"] == [{"message": RULE, "key": "action", "source": "query"}]
    assert problem["detail"] == RULE
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == before  # no journal.read, nothing else
