"""The ``Idempotency-Key`` header: a retried creation answers the first answer and creates nothing twice."""

from __future__ import annotations

import json
from typing import Any

from litestar.testing import AsyncTestClient

from firearms import db
from tests.api.test_licences_api import _counts, _problem, _setup
from tests.conftest import TokenFactory

LICENCES = "/api/v1/licences"


def _keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_a_retried_draft_answers_the_first_answer_and_drafts_one_licence(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    first = await client.post(LICENCES, json=body, headers=_keyed(officer, "6f1c2a9e-draft-1"))
    assert first.status_code == 201, first.text
    before = await _counts(conn)
    # the client timed out and sends the same request again (its members in another order)
    again = await client.post(LICENCES, json=dict(reversed(body.items())), headers=_keyed(officer, "6f1c2a9e-draft-1"))
    assert (again.status_code, again.headers["content-type"], again.content) == (
        201,
        first.headers["content-type"],
        first.content,
    )
    # nothing created; the licence shown again (it names its parties) is journaled as a read (licence.read)
    after = await _counts(conn)
    assert (after[:5], after[5], after[6:]) == (before[:5], before[5] + 1, before[6:])
    read = await conn.fetchrow("SELECT action, payload FROM journal_entry ORDER BY entry_id DESC LIMIT 1")
    assert read is not None
    assert (read["action"], read["payload"]) == ("licence.read", {"ids": [first.json()["licence_id"]]})
    assert await conn.fetchval("SELECT count(*) FROM licence") == 1
    # the structured-field form of the same key ("...") is the same key
    quoted = await client.post(LICENCES, json=body, headers=_keyed(officer, '"6f1c2a9e-draft-1"'))
    assert (quoted.status_code, quoted.content) == (201, first.content)
    entry = await conn.fetchrow(
        "SELECT entity_id, payload FROM journal_entry WHERE action = 'idempotency-key.recorded'"
    )
    assert entry is not None
    assert entry["entity_id"].endswith("/6f1c2a9e-draft-1")
    assert entry["payload"]["request"] == "POST /api/v1/licences"
    # without a key nothing changes: each request is a new draft
    assert (await client.post(LICENCES, json=body, headers=officer)).status_code == 201
    assert await conn.fetchval("SELECT count(*) FROM licence") == 2


async def test_a_key_reused_for_another_request_is_refused_and_creates_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    assert (await client.post(LICENCES, json=body, headers=_keyed(officer, "k-1"))).status_code == 201
    before = await _counts(conn)
    other = await client.post(LICENCES, json={**body, "place_of_issue": "Graz"}, headers=_keyed(officer, "k-1"))
    problem = _problem(other, 409, "idempotency-key-reused")
    assert (problem["idempotency_key"], problem["first_request"]) == ("k-1", "POST /api/v1/licences")
    party = {"kind": "exporter", "name": "Waffen Huber GmbH", "country": "AT", "address": "Hauptstraße 1, Steyr"}
    elsewhere = await client.post("/api/v1/parties", json=party, headers=_keyed(officer, "k-1"))
    _problem(elsewhere, 409, "idempotency-key-reused")
    assert await _counts(conn) == before


async def test_a_retry_naming_a_key_twice_is_refused_not_answered_with_the_first_answer(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A key is bound to the body as decoded, where ``{"kind": "a", "kind": "a", ...}`` reads as the first request.

    Such a retry is refused (400, as any body naming a key twice) before its key is looked at, and changes nothing.
    """
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    first = await client.post(LICENCES, json=body, headers=_keyed(officer, "twice-1"))
    assert first.status_code == 201, first.text
    before = await _rows(conn)
    name, value = next(iter(body.items()))
    doubled = (
        b"{" + json.dumps(name).encode() + b": " + json.dumps(value).encode() + b", " + json.dumps(body)[1:].encode()
    )
    assert json.loads(doubled) == body
    again = await client.post(
        LICENCES, content=doubled, headers={**_keyed(officer, "twice-1"), "Content-Type": "application/json"}
    )
    problem = _problem(again, 400, "invalid-request")
    assert problem["detail"] == f"Object names the key `{name}` twice"
    assert await _rows(conn) == before


async def test_keys_belong_to_the_officers_token(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    colleague = await auth("licensing-officer")
    body = await _setup(client, officer)
    mine = await client.post(LICENCES, json=body, headers=_keyed(officer, "draft-1"))
    theirs = await client.post(LICENCES, json=body, headers=_keyed(colleague, "draft-1"))
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["licence_id"] != theirs.json()["licence_id"]
    assert await conn.fetchval("SELECT count(*) FROM licence") == 2


async def test_a_malformed_key_is_refused_before_anything_runs(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    before = await _counts(conn)
    for key in ("x" * 256, "has space", "semi;colon", "comma,key", '"unclosed', ""):
        response = await client.post(LICENCES, json=body, headers=_keyed(officer, key))
        problem = _problem(response, 400, "invalid-request")
        assert any(error["source"] == "header" for error in problem["errors"]), key
    assert await _counts(conn) == before
    longest = await client.post(LICENCES, json=body, headers=_keyed(officer, "x" * 255))
    assert longest.status_code == 201, longest.text


async def test_a_failed_request_keeps_nothing_and_its_retry_runs(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    body = await _setup(client, officer)
    bad = {**body, "route": ["AT", "DE", "CZ"]}
    _problem(await client.post(LICENCES, json=bad, headers=_keyed(officer, "k-2")), 422, "invalid-route")
    assert await conn.fetchval("SELECT count(*) FROM idempotency_key") == 0
    assert (await client.post(LICENCES, json=body, headers=_keyed(officer, "k-2"))).status_code == 201


async def _twice(
    client: AsyncTestClient,  # type: ignore[type-arg]
    conn: db.Conn,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    key: str,
    read: str | None = None,
) -> dict[str, object]:
    """The request, then its retry: the same status and bytes, and not one row more anywhere.

    But ``read``: the journal entry of a replay whose answer shows personal data the officer did not type (the parties
    a licence names), journaled as the route's reads are (DESIGN §6), with the id shown.
    """
    first = await client.post(url, json=body, headers=_keyed(headers, key))
    assert first.status_code in {200, 201}, first.text
    before = await _rows(conn)
    last = await conn.fetchval("SELECT max(entry_id) FROM journal_entry")
    again = await client.post(url, json=body, headers=_keyed(headers, key))
    assert (again.status_code, again.content) == (first.status_code, first.content), url
    answer: dict[str, object] = first.json()
    written = await conn.fetch("SELECT action, payload FROM journal_entry WHERE entry_id > $1 ORDER BY entry_id", last)
    expected = [] if read is None else [(read, {"ids": [str(answer["licence_id"])]})]
    assert [tuple(row) for row in written] == expected, url
    assert await _rows(conn) == {**before, "journal_entry": before["journal_entry"] + len(expected)}, url
    return answer


async def _rows(conn: db.Conn) -> dict[str, int]:
    tables = [
        "party",
        "licence",
        "licence_version",
        "licence_event",
        "transit_consent",
        "transit_consent_request",
        "item",
        "marking",
        "item_event",
        "notice_outbox",
        "journal_entry",
        "idempotency_key",
    ]
    counts = {}
    for table in tables:
        counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608  # names above
    return counts


async def test_every_creating_endpoint_answers_a_retry_with_its_first_answer(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    officer = await auth("licensing-officer")
    records = await auth("records-officer")
    party = {"kind": "carrier", "name": "Spedition Gruber", "country": "AT", "address": "Linz"}
    await _twice(client, conn, "/api/v1/parties", party, officer, "party-1")
    body = await _setup(client, officer)
    licence = await _twice(client, conn, LICENCES, body, officer, "licence-1", read="licence.read")
    base = f"{LICENCES}/{licence['licence_id']}"
    amended = {**body, "place_of_issue": "Graz", "reason": "issued in Graz"}
    amend = await _twice(client, conn, f"{base}/versions", amended, officer, "amend-1", read="licence.read")
    assert amend["version"] == 2
    asked = {"transit_state": "CZ", "shipment_from": "2027-01-04", "shipment_to": "2027-01-29"}
    await _twice(client, conn, f"{base}/transit-consent-requests", asked, officer, "ask-1")
    decided = {
        "transit_state": "CZ",
        "decision": "no-objection",
        "decided_on": body["valid_from"],
        "licence_version": 2,
    }
    await _twice(client, conn, f"{base}/transit-consents", decided, officer, "consent-1")
    serial = "SSG08-777"
    item = {
        "kind": "firearm",
        "firearm_type": "rifle",
        "manufacturer": "Steyr Mannlicher",
        "country_of_manufacture": "AT",
        "serial": serial,
        "make": "Steyr",
        "model": "SSG 08",
        "calibre": ".308 Win",
        "year_of_manufacture": 2019,
        "markings": [{"kind": "manufacture", "stamped": f"STEYR AUSTRIA {serial}", "serial": serial}],
    }
    registered = await _twice(client, conn, "/api/v1/items", item, records, "item-1")
    url = f"/api/v1/items/{registered['item_id']}"
    await _twice(client, conn, f"{url}/markings", {"kind": "proof", "stamped": "BP 2019"}, records, "marking-1")
    moved = {"event": "transferred", "occurred_on": body["valid_from"], "to_party": "Waffen Huber KG"}
    await _twice(client, conn, f"{url}/events", moved, records, "event-1")
    assert await conn.fetchval("SELECT count(*) FROM idempotency_key") == 8


async def test_a_replay_sends_the_stored_answer_as_an_older_version_left_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """The stored bytes and status, not the stored answer decoded into today's type and encoded again."""
    officer = await auth("licensing-officer")
    party = {"kind": "carrier", "name": "Spedition Gruber", "country": "AT", "address": "Linz"}
    first = await client.post("/api/v1/parties", json=party, headers=_keyed(officer, "party-now"))
    assert first.status_code == 201, first.text
    assert first.content == await conn.fetchval("SELECT answer FROM idempotency_key")  # sent as kept
    row = await conn.fetchrow("SELECT token_id, request, fingerprint FROM idempotency_key")
    assert row is not None
    # What an older version kept for the same request: other order of members, a member since renamed
    # (a key kept before 20261129211000 has no status: the route's own is sent).
    older = dict(reversed(first.json().items())) | {"registration_number": None}
    stored = {
        "party-older": (json.dumps(older, separators=(",", ":")).encode(), None, 201),
        "party-older-200": (json.dumps({"party_id": first.json()["party_id"]}).encode(), 200, 200),
    }
    for key, (answer, status_code, expected) in stored.items():
        await conn.execute(
            "INSERT INTO idempotency_key (token_id, idempotency_key, request, fingerprint, answer, created_at)"
            " VALUES ($1, $2, $3, $4, $5, now())",
            row["token_id"],
            key,
            row["request"],
            row["fingerprint"],
            answer,
        )
        if status_code is not None:  # the column is new: written apart so the insert above reads as before
            await conn.execute("ALTER TABLE idempotency_key DISABLE TRIGGER idempotency_key_append_only")
            await conn.execute(
                "UPDATE idempotency_key SET status_code = $1 WHERE idempotency_key = $2", status_code, key
            )
            await conn.execute("ALTER TABLE idempotency_key ENABLE TRIGGER idempotency_key_append_only")
        before = await _rows(conn)
        replay = await client.post("/api/v1/parties", json=party, headers=_keyed(officer, key))
        assert (replay.status_code, replay.headers["content-type"], replay.content) == (
            expected,
            "application/json",
            answer,
        ), key
        assert await _rows(conn) == before


async def test_one_request_spelled_two_ways_is_one_request(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """The path's identifiers as resolved, not as written: /items/007 is /items/7, a UUID in capitals the same."""
    officer = await auth("licensing-officer")
    records = await auth("records-officer")
    body = await _setup(client, officer)
    licence = (await client.post(LICENCES, json=body, headers=officer)).json()
    asked = {"transit_state": "CZ", "shipment_from": "2027-01-04", "shipment_to": "2027-01-29"}
    licence_id = str(licence["licence_id"])
    spellings = [
        f"{LICENCES}/{licence_id.upper()}/transit-consent-requests",
        f"{LICENCES}/{licence_id}/transit-consent-requests",
    ]
    first = await client.post(spellings[0], json=asked, headers=_keyed(officer, "ask-1"))
    assert first.status_code == 201, first.text
    before = await _rows(conn)
    again = await client.post(spellings[1], json=asked, headers=_keyed(officer, "ask-1"))
    assert (again.status_code, again.content) == (201, first.content)
    assert await _rows(conn) == before
    serial = "SSG08-778"
    item = {
        "kind": "firearm",
        "firearm_type": "rifle",
        "manufacturer": "Steyr Mannlicher",
        "country_of_manufacture": "AT",
        "serial": serial,
        "markings": [{"kind": "manufacture", "stamped": f"STEYR AUSTRIA {serial}", "serial": serial}],
    }
    item_id = (await client.post("/api/v1/items", json=item, headers=records)).json()["item_id"]
    marking = {"kind": "proof", "stamped": "BP 2019"}
    first = await client.post(f"/api/v1/items/{item_id:03d}/markings", json=marking, headers=_keyed(records, "m-1"))
    assert first.status_code == 201, first.text
    before = await _rows(conn)
    for path in (f"/api/v1/items/{item_id}/markings", f"/api/v1/items/{item_id}/markings/"):
        again = await client.post(path, json=marking, headers=_keyed(records, "m-1"))
        assert (again.status_code, again.content) == (201, first.content), path
    assert await _rows(conn) == before
    # what the key is bound to reads as the resolved request, for people too
    assert await conn.fetchval("SELECT request FROM idempotency_key WHERE idempotency_key = 'm-1'") == (
        f"POST /api/v1/items/{item_id}/markings"
    )
    # another item is another request
    other = (
        await client.post(
            "/api/v1/items",
            json={
                **item,
                "serial": "SSG08-779",
                "markings": [{"kind": "manufacture", "stamped": "STEYR AUSTRIA SSG08-779", "serial": "SSG08-779"}],
            },
            headers=records,
        )
    ).json()
    elsewhere = await client.post(
        f"/api/v1/items/{other['item_id']}/markings", json=marking, headers=_keyed(records, "m-1")
    )
    _problem(elsewhere, 409, "idempotency-key-reused")


async def test_the_openapi_document_describes_the_header(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    schema = (await client.get("/schema/openapi.json")).json()
    parameters = schema["paths"]["/api/v1/licences"]["post"]["parameters"]
    (header,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
    assert (header["in"], header["required"]) == ("header", False)
    assert "idempotency-key-reused" in header["description"]


async def test_a_malformed_key_is_refused_saying_the_form_it_takes(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """It said ``header parameter 'idempotency_key': expected `str` matching regex '^(?:[A-Za-z0-9._:~+/=-]...``:
    the handler's own name for the header, and the pattern instead of the rule."""
    body = {"kind": "ammunition", "manufacturer": "RWS", "country_of_manufacture": "DE", "serial": "K-1", "quantity": 1}
    headers = await auth("records-officer") | {"Idempotency-Key": "a key with spaces"}
    response = await client.post("/api/v1/items", json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    message = "header 'Idempotency-Key' must be 1-255 of A-Z a-z 0-9 . _ : ~ + / = -, optionally in double quotes"
    assert response.json()["errors"] == [{"message": message, "key": "Idempotency-Key", "source": "header"}]
    assert response.json()["detail"] == message
    assert await conn.fetchval("SELECT count(*) FROM item") == 0
