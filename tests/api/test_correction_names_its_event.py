"""A correction names the event it corrects, ``null`` for the registration record: left out, it is refused (README).

``corrects_event_id`` defaulted to null, so an officer who forgot it corrected the registration record instead of
the event meant: the item's year of manufacture then no longer bounded its dates and markings, for good, and the
correction stood in the history and the journal, which are append-only.
"""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from firearms import db
from tests.api.test_items_api import PROBLEM, TODAY, register, rifle, row_counts
from tests.conftest import TokenFactory


async def test_a_correction_without_corrects_event_id_is_refused_and_changes_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("records-officer")
    item_id = (await register(client, officer, rifle(year_of_manufacture=2019)))["item_id"]
    url = f"/api/v1/items/{item_id}/events"
    stolen = await client.post(url, json={"event": "stolen", "occurred_on": TODAY}, headers=officer)
    assert stolen.status_code == 201, stolen.text
    counts = await row_counts(conn)
    entries = await conn.fetchval("SELECT count(*) FROM journal_entry")

    forgot = await client.post(
        url, json={"event": "corrected", "occurred_on": TODAY, "reason": "not stolen after all"}, headers=officer
    )
    assert forgot.status_code == 422, forgot.text
    assert forgot.headers["content-type"] == "application/problem+json"
    problem = forgot.json()
    assert problem["type"] == PROBLEM + "invalid-event-fields"
    assert "corrects_event_id" in problem["detail"]
    assert await row_counts(conn) == counts
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == entries
    # the year of manufacture still bounds the dates: the registration record was not corrected
    early = await client.post(url, json={"event": "recovered", "occurred_on": "2018-01-01"}, headers=officer)
    assert early.status_code == 422, early.text

    meant = {"event": "corrected", "occurred_on": TODAY, "reason": "not stolen after all"}
    corrected = await client.post(url, json={**meant, "corrects_event_id": stolen.json()["event_id"]}, headers=officer)
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["status_after"] == "active"
    registration = await client.post(url, json={**meant, "corrects_event_id": None}, headers=officer)
    assert registration.status_code == 201, registration.text
    assert registration.json()["corrects_event_id"] is None
