"""Who looked at one record: ``GET /api/v1/journal?entity=party&entity_id=X`` holds every read of X (README).

A page of several records is journaled as one entry, ``entity_id`` ``*`` and the ids in ``payload.ids``
(``firearms.journal.record_read``). The filter compared ``entity_id`` alone, so an auditor asking who looked at a
person was shown the reads of that person's record alone and none of the lists that showed it beside another: the
answer looked complete and was not.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import TokenFactory

ANNA = {"kind": "exporter", "name": "Anna Huber", "country": "AT", "address": "Ring 1, 1010 Wien"}
BERT = {"kind": "consignee", "name": "Bert Maier", "country": "DE", "address": "Hauptstrasse 1, 97228 Rottendorf"}
CARL = {"kind": "carrier", "name": "Carl Berger", "country": "AT", "address": "Gasse 2, 4020 Linz"}


async def test_a_list_that_showed_a_record_is_among_its_reads(
    client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    licensing = await auth("licensing-officer")
    anna = (await client.post("/api/v1/parties", json=ANNA, headers=licensing)).json()["party_id"]
    bert = (await client.post("/api/v1/parties", json=BERT, headers=licensing)).json()["party_id"]
    listed = await client.get("/api/v1/parties?kind=exporter", headers=licensing)  # Anna alone
    assert [party["party_id"] for party in listed.json()["items"]] == [anna]
    both = await client.get("/api/v1/parties", headers=licensing)  # Anna and Bert: one entry, entity_id '*'
    assert {party["party_id"] for party in both.json()["items"]} == {anna, bert}
    carl = (await client.post("/api/v1/parties", json=CARL, headers=licensing)).json()["party_id"]
    assert (await client.get(f"/api/v1/parties/{carl}", headers=licensing)).status_code == 200

    auditor = await auth("auditor")
    page = await client.get(f"/api/v1/journal?entity=party&entity_id={anna}", headers=auditor)
    assert page.status_code == 200, page.text
    entries = page.json()["items"]
    assert [(entry["action"], entry["entity_id"]) for entry in entries] == [
        ("party.registered", anna),
        ("party.read", anna),
        ("party.read", "*"),
    ]
    assert anna in entries[2]["payload"]["ids"]
    # Carl was never on a page with Anna or Bert: his registration and his own read
    carls = (await client.get(f"/api/v1/journal?entity=party&entity_id={carl}", headers=auditor)).json()["items"]
    assert [(entry["action"], entry["entity_id"]) for entry in carls] == [
        ("party.registered", carl),
        ("party.read", carl),
    ]
    # without 'entity' the id alone finds the same entries
    bare = (await client.get(f"/api/v1/journal?entity_id={bert}", headers=auditor)).json()["items"]
    assert [(entry["action"], entry["entity_id"]) for entry in bare] == [
        ("party.registered", bert),
        ("party.read", "*"),
    ]
