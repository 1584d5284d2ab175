"""``POST /api/v1/journal/checkpoints``: 201 for a checkpoint signed now, 200 for the head's stored one (README).

Asked again with nothing journaled since, the registry returns the checkpoint it stored for that head
(``tests/db/test_journal.py``), but answered 201 Created: a client keeping checkpoints outside could not tell a new
statement from one it already held.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from firearms import db
from tests.conftest import TokenFactory

PATH = "/api/v1/journal/checkpoints"


async def test_a_repeated_checkpoint_is_200_with_the_stored_one_and_a_new_one_201(
    client: AsyncTestClient[Litestar], auth: TokenFactory, conn: db.Conn
) -> None:
    auditor = await auth("auditor")
    made = await client.post(PATH, headers=auditor)
    assert made.status_code == 201, made.text
    assert made.headers["content-type"] == "application/json"
    again = await client.post(PATH, headers=auditor)
    assert again.status_code == 200, again.text
    assert again.headers["content-type"] == "application/json"
    assert again.json() == made.json()
    assert await conn.fetchval("SELECT count(*) FROM journal_checkpoint") == 1
    # something journaled since (a page of the journal read): a new head, a new checkpoint
    assert (await client.get("/api/v1/journal?limit=1", headers=auditor)).status_code == 200
    later = await client.post(PATH, headers=auditor)
    assert later.status_code == 201, later.text
    assert later.json()["seq"] > made.json()["seq"]
    assert await conn.fetchval("SELECT count(*) FROM journal_checkpoint") == 2


async def test_the_openapi_document_gives_both_answers_of_a_checkpoint(client: AsyncTestClient[Litestar]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    responses = document["paths"][PATH]["post"]["responses"]
    assert {"200", "201"} <= set(responses)
    for status in ("200", "201"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert "Checkpoint" in str(schema), (status, schema)
    assert "already" in responses["200"]["description"]
