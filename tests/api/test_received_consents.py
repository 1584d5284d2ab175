"""A transit State and the requests it received: its own silence becomes deemed consent (Reg. 258/2012
Art. 7(2)); the partner's licence is the partner's to ask about and to hear other States' answers on."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from firearms import consents, db, status, tokens
from firearms.exchange import consents as received_consents
from firearms.licence_timers import run_licence_timers
from firearms.settings import Settings
from tests.check_helpers import check_body
from tests.exchange_fixtures import Client, cz
from tests.exchange_util import AT_KEY, FRIDAY, VECTORS, current_licence, envelope, shipment_window

__all__ = ["cz"]

LICENCE: dict[str, Any] = current_licence(VECTORS["notice"]["envelope"]["notice"]["body"]["licence"])
# Counted from the Friday the requests are moved back to (the last one before today), so that a decision by today's
# clock falls within the silent period on any day: 20 working days from the Monday after, one of them a holiday here
# (the Tuesday of the second week), end on the Monday five weeks later.
HOLIDAY = FRIDAY + dt.timedelta(days=11)
DUE = FRIDAY + dt.timedelta(days=31)
LATE = FRIDAY + dt.timedelta(days=94)  # long after any silent period of a request received on FRIDAY


async def _post(client: Client, sequence: int, type_: str, body: dict[str, Any]) -> str:
    raw = envelope(AT_KEY, recipient="CZ", sequence=sequence, type_=type_, body=body)
    response = await client.post("/exchange/v1/notices", content=raw)
    assert response.status_code == 202, response.text
    return str(msgspec.json.decode(raw)["notice"]["id"])


async def _headers(conn: db.Conn, role: tokens.Role) -> dict[str, str]:
    secret, _ = await tokens.create_token(conn, role=role, name=f"test {role}", actor="test")
    return {"Authorization": f"Bearer {secret}"}


async def _no_objection(client: Client, officer: dict[str, str], request_id: str) -> None:
    """CZ's licensing officer answers a received request with a no-objection."""
    decided = await client.post(
        f"/api/v1/consent-requests/AT/{request_id}/decision", json={"decision": "no-objection"}, headers=officer
    )
    assert decided.status_code == 200, decided.text


async def _transit_check(client: Client, customs: dict[str, str]) -> dict[str, Any]:
    """A transit check of 100 cartridges of line 2 (each with its own check id): the answer."""
    body = check_body(lines=[{"line": 2, "quantity": 100}])
    answer: dict[str, Any] = (await client.post("/api/v1/checks", json=body, headers=customs)).json()
    return answer


async def _received_on_friday(conn: db.Conn, notice_id: str | None = None) -> None:
    """Move requests' arrival back to FRIDAY 09:00, behind the guards (received_at never changes otherwise)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            "UPDATE consent_request_received SET received_at = $2 WHERE $1::text IS NULL OR notice_id = $1",
            notice_id,
            dt.datetime.combine(FRIDAY, dt.time(9), tzinfo=dt.UTC),
        )


async def _requested_friday(client: Client, conn: db.Conn, **changes: Any) -> str:
    """AT asks CZ's consent; the request arrived on FRIDAY (moved back to run the silent period)."""
    pending = copy.deepcopy(LICENCE) | {"status": "pending", "issued_at": None} | changes
    window = shipment_window()
    request_id = await _post(client, 1, "transit-consent.requested", {"licence": pending, "shipment_window": window})
    await _received_on_friday(conn)
    return request_id


async def test_a_request_left_unanswered_becomes_deemed_consent_and_transit_clears(
    cz: tuple[Client, db.Conn], tmp_path: Path
) -> None:
    client, conn = cz
    settings = Settings(state="CZ", home=tmp_path, holidays=(HOLIDAY,))
    request_id = await _requested_friday(client, conn)
    await _post(client, 2, "export-licence.issued", {"licence": LICENCE})  # AT issued on its own count
    customs = await _headers(conn, "customs-officer")
    before = (await client.post("/api/v1/checks", json=check_body(), headers=customs)).json()
    assert [reason["code"] for reason in before["reasons"]] == ["transit-consent-missing"]

    due = DUE  # the 20th working day after FRIDAY, HOLIDAY a holiday here
    # The 20th working day is still within the period (Art. 7(2) "within 20 working days"): this State's officer
    # may answer all that day. Before, the timer deemed the silence at its first minute.
    assert await run_licence_timers(conn, settings, today=due) == (0, 0)
    officer = await _headers(conn, "licensing-officer")
    path = f"/api/v1/consent-requests/AT/{request_id}"
    assert (await client.get(path, headers=officer)).json()["status"] == "pending"

    assert await run_licence_timers(conn, settings, today=due + dt.timedelta(days=1)) == (0, 1)
    request = (await client.get(path, headers=officer)).json()
    assert (request["status"], request["decision"], request["decided_by"]) == ("deemed", None, "system:consent-timer")
    assert request["reason"] == f"no answer within 20 working days of its receipt on {FRIDAY.isoformat()}"
    licence_id = await conn.fetchval("SELECT licence_id FROM licence WHERE number = $1", LICENCE["number"])
    deemed = (await consents.latest_decisions(conn, licence_id))["CZ"]
    assert (deemed.decision, deemed.decided_on, deemed.source) == ("deemed", due, "timer")
    sent = await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'transit-consent.decided'")
    assert sent == 0  # AT counts the period itself
    entry = await conn.fetchrow(
        "SELECT entity_id, payload FROM journal_entry"
        " WHERE action = 'transit-consent.deemed' AND entity = 'consent_request_received'"
    )
    assert entry is not None
    assert (entry["entity_id"], entry["payload"]["deemed_on"]) == (f"AT/{request_id}", due.isoformat())
    assert await run_licence_timers(conn, settings, today=due + dt.timedelta(days=1)) == (0, 0)

    after = (await client.post("/api/v1/checks", json=check_body(), headers=customs)).json()
    assert (after["verdict"], after["reasons"]) == ("clear", [])
    late = await client.post(f"{path}/decision", json={"decision": "no-objection"}, headers=officer)
    assert late.status_code == 409
    assert (late.json()["type"].rsplit("/", 1)[1], late.json()["decision"]) == ("consent-already-decided", "deemed")
    listed = (await client.get("/api/v1/consent-requests?status=deemed", headers=officer)).json()
    assert [item["notice_id"] for item in listed["items"]] == [request_id]


async def test_no_deemed_consent_where_this_state_does_not_allow_it(cz: tuple[Client, db.Conn], tmp_path: Path) -> None:
    client, conn = cz
    await _requested_friday(client, conn)
    late = LATE
    for settings in (
        Settings(state="CZ", home=tmp_path, tacit_consent=False),
        Settings(state="CZ", home=tmp_path, tacit_consent_refused_by=("CZ",)),
    ):
        assert await run_licence_timers(conn, settings, today=late) == (0, 0)
    assert await conn.fetchval("SELECT status FROM consent_request_received") == "pending"
    assert await conn.fetchval("SELECT count(*) FROM transit_consent") == 0


async def test_a_superseded_or_decided_request_is_not_deemed(cz: tuple[Client, db.Conn], tmp_path: Path) -> None:
    client, conn = cz
    request_id = await _requested_friday(client, conn)
    officer = await _headers(conn, "licensing-officer")
    decided = await client.post(
        f"/api/v1/consent-requests/AT/{request_id}/decision",
        json={"decision": "objection", "reason": "route closed"},
        headers=officer,
    )
    assert decided.status_code == 200, decided.text
    settings = Settings(state="CZ", home=tmp_path)
    assert await run_licence_timers(conn, settings, today=LATE) == (0, 0)
    assert await conn.fetchval("SELECT status FROM consent_request_received") == "decided"
    assert [row["decision"] for row in await conn.fetch("SELECT decision FROM transit_consent")] == ["objection"]


async def test_on_a_partners_licence_only_this_states_own_decision_is_recorded_and_nothing_is_asked(
    cz: tuple[Client, db.Conn],
) -> None:
    client, conn = cz
    await _requested_friday(client, conn, transit_states=["CZ", "SK"])
    licence_id = await conn.fetchval("SELECT licence_id FROM licence WHERE number = $1", LICENCE["number"])
    officer = await _headers(conn, "licensing-officer")
    base = f"/api/v1/licences/{licence_id}"
    asked = await client.post(f"{base}/transit-consent-requests", json={"transit_state": "SK"}, headers=officer)
    assert asked.status_code == 409, asked.text
    assert asked.json()["type"].endswith("/licence-not-own")
    decision = {"decision": "no-objection", "decided_on": FRIDAY.isoformat()}
    for_sk = await client.post(f"{base}/transit-consents", json={**decision, "transit_state": "SK"}, headers=officer)
    assert for_sk.status_code == 409, for_sk.text
    assert for_sk.json()["type"].endswith("/licence-not-own")
    assert await conn.fetchval("SELECT count(*) FROM transit_consent") == 0
    assert await conn.fetchval("SELECT count(*) FROM transit_consent_request") == 0
    # CZ's own answer, given on paper, is recorded for its customs
    own = await client.post(f"{base}/transit-consents", json={**decision, "transit_state": "CZ"}, headers=officer)
    assert own.status_code in {200, 201}, own.text
    assert await conn.fetchval("SELECT transit_state FROM transit_consent") == "CZ"


async def test_a_transit_check_clears_only_on_a_consent_that_covers_the_version_received(
    cz: tuple[Client, db.Conn],
) -> None:
    # CZ consented to version 1 of AT's licence; AT later sent version 3, which asks for ten times the
    # cartridges. CZ's customs cleared it on the consent to version 1: any no-objection on the licence was
    # taken for consent to whatever it had become.
    client, conn = cz
    pending = copy.deepcopy(LICENCE) | {"status": "pending", "issued_at": None}
    window = shipment_window()
    request_id = await _post(client, 1, "transit-consent.requested", {"licence": pending, "shipment_window": window})
    officer = await _headers(conn, "licensing-officer")
    await _no_objection(client, officer, request_id)
    await _post(client, 2, "export-licence.issued", {"licence": LICENCE})
    customs = await _headers(conn, "customs-officer")

    async def transit() -> tuple[str, list[dict[str, Any]]]:
        answer = await _transit_check(client, customs)
        return answer["verdict"], answer["reasons"]

    assert await transit() == ("clear", [])
    lines = copy.deepcopy(LICENCE["lines"])
    lines[1]["quantity"] = 600  # fewer cartridges: the consent to version 1 still covers it
    await _post(client, 3, "export-licence.issued", {"licence": LICENCE | {"version": 2, "lines": lines}})
    assert await transit() == ("clear", [])
    lines[1]["quantity"] = 8000
    more = LICENCE | {"version": 3, "lines": lines}
    await _post(client, 4, "export-licence.issued", {"licence": more})
    verdict, reasons = await transit()
    assert (verdict, [reason["code"] for reason in reasons]) == ("refuse", ["transit-consent-missing"])
    assert "version 3" in reasons[0]["detail"]
    assert "version 1" in reasons[0]["detail"]
    # asked again about version 3, CZ consents: the consignment passes
    asked = {"licence": more | {"status": "pending", "issued_at": None}, "shipment_window": window}
    again = await _post(client, 5, "transit-consent.requested", asked)
    await _no_objection(client, officer, again)
    assert await transit() == ("clear", [])


async def test_the_officers_decision_on_a_request_is_recorded_on_the_version_the_request_carried(
    cz: tuple[Client, db.Conn], tmp_path: Path
) -> None:
    # AT issued on its own count of the silent period, then amended the issued licence (version 2): CZ's
    # request, still open, carried version 1, and CZ's officer decides on what that request showed.
    client, conn = cz
    request_id = await _requested_friday(client, conn)
    await _post(client, 2, "export-licence.issued", {"licence": LICENCE})
    await _post(client, 3, "export-licence.issued", {"licence": LICENCE | {"version": 2}})
    officer = await _headers(conn, "licensing-officer")
    await _no_objection(client, officer, request_id)
    assert await conn.fetchval("SELECT version FROM licence WHERE number = $1", LICENCE["number"]) == 2
    assert [row["licence_version"] for row in await conn.fetch("SELECT licence_version FROM transit_consent")] == [1]
    # the timer likewise answers the version the request carried
    other = await _post(
        client,
        4,
        "transit-consent.requested",
        {
            "licence": LICENCE | {"number": "AT-EXP-2026-000124", "status": "pending", "issued_at": None},
            "shipment_window": shipment_window(),
        },
    )
    await _post(
        client, 5, "export-licence.issued", {"licence": LICENCE | {"number": "AT-EXP-2026-000124", "version": 2}}
    )
    await _received_on_friday(conn, other)
    assert await run_licence_timers(conn, Settings(state="CZ", home=tmp_path), today=LATE) == (0, 1)
    deemed = await conn.fetchval(
        "SELECT c.licence_version FROM transit_consent c JOIN licence l USING (licence_id) WHERE l.number = $1",
        "AT-EXP-2026-000124",
    )
    assert deemed == 1


async def test_a_decision_retried_with_its_idempotency_key_answers_the_first_answer_and_sends_once(
    cz: tuple[Client, db.Conn],
) -> None:
    client, conn = cz
    request_id = await _requested_friday(client, conn)
    officer = await _headers(conn, "licensing-officer") | {"Idempotency-Key": "decide-1"}
    url = f"/api/v1/consent-requests/AT/{request_id}/decision"
    first = await client.post(url, json={"decision": "no-objection"}, headers=officer)
    last = await conn.fetchval("SELECT max(entry_id) FROM journal_entry")
    again = await client.post(url, json={"decision": "no-objection"}, headers=officer)
    assert (first.status_code, again.status_code, again.content) == (200, 200, first.content)
    sent = await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'transit-consent.decided'")
    assert sent == 1
    # the answer again holds AT's licence as received, its parties: a read, journaled as the request's reads are
    written = await conn.fetch("SELECT action, payload FROM journal_entry WHERE entry_id > $1 ORDER BY entry_id", last)
    assert [tuple(row) for row in written] == [("consent-request.read", {"ids": [f"AT/{request_id}"]})]
    other = await client.post(url, json={"decision": "objection", "reason": "closed"}, headers=officer)
    assert (other.status_code, other.json()["type"].rsplit("/", 1)[1]) == (409, "idempotency-key-reused")


async def test_a_decision_retried_with_the_state_in_the_other_case_is_the_same_request(
    cz: tuple[Client, db.Conn],
) -> None:
    # /consent-requests/at/... is /consent-requests/AT/... (a State in a path is taken in either case): a retry
    # under the same Idempotency-Key is the same request, answered the first answer, not 409 "another request".
    client, conn = cz
    request_id = await _requested_friday(client, conn)
    officer = await _headers(conn, "licensing-officer") | {"Idempotency-Key": "decide-case"}
    body = {"decision": "no-objection"}
    first = await client.post(f"/api/v1/consent-requests/at/{request_id}/decision", json=body, headers=officer)
    again = await client.post(f"/api/v1/consent-requests/AT/{request_id}/decision", json=body, headers=officer)
    assert (first.status_code, again.status_code, again.content) == (200, 200, first.content), again.text
    sent = await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'transit-consent.decided'")
    assert sent == 1


async def test_a_late_answer_to_an_earlier_version_does_not_hide_the_objection_to_the_current_one(
    cz: tuple[Client, db.Conn],
) -> None:
    # CZ objected to version 2 of AT's licence; its no-objection to version 1, given on paper, was recorded
    # afterwards. The licensing views count the decision on the latest version answered (the objection), but
    # the customs check took the latest recorded: version 2 asks less than version 1, so the consent to
    # version 1 "covered" it and the consignment cleared at the border of a State that objected to it.
    client, conn = cz
    await _post(client, 1, "export-licence.issued", {"licence": LICENCE})
    lines = copy.deepcopy(LICENCE["lines"])
    lines[1]["quantity"] = 600  # fewer cartridges than version 1
    await _post(client, 2, "export-licence.issued", {"licence": LICENCE | {"version": 2, "lines": lines}})
    licence_id = await conn.fetchval("SELECT licence_id FROM licence WHERE number = $1", LICENCE["number"])
    officer = await _headers(conn, "licensing-officer")
    base = f"/api/v1/licences/{licence_id}/transit-consents"
    decided = {"transit_state": "CZ", "decided_on": FRIDAY.isoformat()}
    objection = {**decided, "decision": "objection", "reason": "route closed", "licence_version": 2}
    assert (await client.post(base, json=objection, headers=officer)).status_code in {200, 201}
    late = {**decided, "decision": "no-objection", "licence_version": 1}
    assert (await client.post(base, json=late, headers=officer)).status_code in {200, 201}
    assert (await consents.latest_decisions(conn, licence_id))["CZ"].decision == "objection"
    customs = await _headers(conn, "customs-officer")
    answer = await _transit_check(client, customs)
    assert answer["verdict"] != "clear", answer
    assert [reason["code"] for reason in answer["reasons"]] == ["transit-consent-missing"]


async def test_a_consent_to_a_version_asked_about_after_issue_counts_for_that_version(
    cz: tuple[Client, db.Conn],
) -> None:
    # AT issued version 1, then amended it (version 2, ten times the cartridges) and asked CZ again. CZ's
    # licensing tables keep the issued version 1 (a request never takes an issued licence back), and CZ's
    # no-objection was recorded as an answer to version 1: once AT issued version 2, CZ's customs refused it
    # transit-consent-missing ("CZ consented to version 1"), although CZ had consented to exactly that version.
    client, conn = cz
    await _post(client, 1, "export-licence.issued", {"licence": LICENCE})
    lines = copy.deepcopy(LICENCE["lines"])
    lines[1]["quantity"] = 8000
    more = LICENCE | {"version": 2, "lines": lines}
    window = shipment_window()
    asked = {"licence": more | {"status": "pending", "issued_at": None}, "shipment_window": window}
    request_id = await _post(client, 2, "transit-consent.requested", asked)
    officer = await _headers(conn, "licensing-officer")
    await _no_objection(client, officer, request_id)
    assert await conn.fetchval("SELECT licence_version FROM transit_consent") == 2
    await _post(client, 3, "export-licence.issued", {"licence": more})
    customs = await _headers(conn, "customs-officer")
    answer = await _transit_check(client, customs)
    assert (answer["verdict"], answer["reasons"]) == ("clear", [])


async def test_a_consent_to_a_version_never_issued_covers_a_later_one_asking_no_more(
    cz: tuple[Client, db.Conn],
) -> None:
    # AT issued version 1, asked CZ about its amendment (version 2, 8000 cartridges) and CZ consented; AT then
    # issued version 3 (6000 cartridges: no more than CZ consented to, so AT did not ask again). CZ's tables
    # never held version 2 (the request did not take the issued licence back), and its customs could not
    # compare version 3 with it: refused although CZ consented to more than version 3 asks.
    client, conn = cz
    await _post(client, 1, "export-licence.issued", {"licence": LICENCE})
    lines = copy.deepcopy(LICENCE["lines"])
    lines[1]["quantity"] = 8000
    window = shipment_window()
    pending = LICENCE | {"version": 2, "lines": lines, "status": "pending", "issued_at": None}
    request_id = await _post(client, 2, "transit-consent.requested", {"licence": pending, "shipment_window": window})
    officer = await _headers(conn, "licensing-officer")
    await _no_objection(client, officer, request_id)
    fewer = copy.deepcopy(lines)
    fewer[1]["quantity"] = 6000
    await _post(client, 3, "export-licence.issued", {"licence": LICENCE | {"version": 3, "lines": fewer}})
    customs = await _headers(conn, "customs-officer")
    answer = await _transit_check(client, customs)
    assert (answer["verdict"], answer["reasons"]) == ("clear", []), answer
    fewer[1]["quantity"] = 9000  # more than CZ consented to: refused, naming both versions
    await _post(client, 4, "export-licence.issued", {"licence": LICENCE | {"version": 4, "lines": fewer}})
    answer = await _transit_check(client, customs)  # another check
    assert (answer["verdict"], [reason["code"] for reason in answer["reasons"]]) == (
        "refuse",
        ["transit-consent-missing"],
    )
    assert "version 2" in answer["reasons"][0]["detail"]
    assert "version 4" in answer["reasons"][0]["detail"]


async def test_the_status_shows_a_pending_request_and_the_day_it_becomes_deemed_consent(
    cz: tuple[Client, db.Conn], tmp_path: Path
) -> None:
    """README "Status": the oldest request waiting for this State's officer, and when its silence counts as consent."""
    client, conn = cz
    await _requested_friday(client, conn)
    settings = Settings(state="CZ", home=tmp_path, holidays=(HOLIDAY,))
    received = dt.datetime.combine(FRIDAY, dt.time(9), tzinfo=dt.UTC)
    early = await status.read_status(conn, settings, now=received + dt.timedelta(days=4))  # the Tuesday after
    assert (early.waiting.consent_requests, early.waiting.oldest_consent_request_at) == (1, received)
    # deemed the day after the 20th working day (DUE, a Monday), as the timer deems it
    deemed_on = DUE + dt.timedelta(days=1)
    assert (early.waiting.deemed_consent_on, early.waiting.deemed_consent_near) == (deemed_on, False)
    near = await status.read_status(conn, settings, now=received + dt.timedelta(days=29))  # the Saturday before
    assert (near.waiting.deemed_consent_on, near.waiting.deemed_consent_near) == (deemed_on, True)
    never = await status.read_status(conn, msgspec.structs.replace(settings, tacit_consent=False))
    assert (never.waiting.consent_requests, never.waiting.deemed_consent_on) == (1, None)
    assert not never.waiting.deemed_consent_near


async def _received_on(conn: db.Conn, when: dt.datetime) -> None:
    """Move the requests' arrival back to ``when``, behind the guards (received_at never changes otherwise)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("UPDATE consent_request_received SET received_at = $1", when)


async def test_a_decision_after_the_silent_period_is_refused_naming_the_day_it_ended_before_and_after_the_timer(
    cz: tuple[Client, db.Conn], tmp_path: Path
) -> None:
    """This State's silence is consent from the day after the period's last working day, whenever the timer runs.

    Before, an officer's objection on a request whose period had ended was sent while the timer had not yet passed
    (the exporting State, counting the period too, may have issued on the deemed consent already), and once it had,
    the refusal named no day. The day is the one the timer counted, kept with the request, not counted again with
    the holidays configured since.
    """
    client, conn = cz
    request_id = await _requested_friday(client, conn)
    await _received_on(conn, dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC))  # a Thursday: 20 working days end 29 Oct
    officer = await _headers(conn, "licensing-officer")
    path = f"/api/v1/consent-requests/AT/{request_id}/decision"

    def refused(response: Any, ended: str, deemed: str) -> None:
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"].rsplit("/", 1)[1] == "consent-already-decided"
        assert (problem["decision"], problem["silent_period_end"], problem["deemed_consent_on"]) == (
            "deemed",
            ended,
            deemed,
        )
        assert f"ended on {ended}" in problem["detail"]

    late = await client.post(path, json={"decision": "objection", "reason": "a rifle is stolen"}, headers=officer)
    refused(late, "2026-10-29", "2026-10-30")  # the timer has not passed yet: the silence is consent all the same
    assert await conn.fetchval("SELECT status FROM consent_request_received") == "pending"
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'transit-consent.decided'") == 0
    assert await conn.fetchval("SELECT count(*) FROM transit_consent") == 0
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'transit-consent.decided'") == 0

    # the timer passes with 28 October a holiday here: the period ended a day later, and that day is kept
    timer = Settings(state="CZ", home=tmp_path, holidays=(dt.date(2026, 10, 28),))
    assert await run_licence_timers(conn, timer, today=dt.date(2026, 12, 1)) == (0, 1)
    assert await conn.fetchval("SELECT silent_period_end FROM consent_request_deemed") == dt.date(2026, 10, 30)
    for decision in ({"decision": "no-objection"}, {"decision": "objection", "reason": "a rifle is stolen"}):
        refused(await client.post(path, json=decision, headers=officer), "2026-10-30", "2026-10-31")
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'transit-consent.decided'") == 0


async def test_where_silence_is_not_consent_a_decision_after_the_period_is_taken(
    cz: tuple[Client, db.Conn], tmp_path: Path
) -> None:
    client, conn = cz
    request_id = await _requested_friday(client, conn)
    await _received_on(conn, dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC))
    for settings in (
        Settings(state="CZ", home=tmp_path, tacit_consent=False),
        Settings(state="CZ", home=tmp_path, tacit_consent_refused_by=("CZ",)),
    ):
        transaction = conn.transaction()
        await transaction.start()
        try:
            decided = await received_consents.decide(
                conn,
                "AT",
                request_id,
                settings=settings,
                decision="objection",
                reason="a rifle is stolen",
                valid_until=None,
                actor="officer:test",
            )
        finally:
            await transaction.rollback()  # each settings' decision on the same pending request
        assert (decided.status, decided.decision) == ("decided", "objection")
