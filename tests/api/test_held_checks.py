"""An officer's decision on a held customs check (DESIGN §5): what a release may still take, and how it answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, db, licences
from firearms.licence_views import LicenceStatus
from firearms.settings import Settings
from tests.check_helpers import at_licence, check_body, receive, register_firearm, register_stolen
from tests.conftest import TokenFactory
from tests.licensing_helpers import LINES, issued_export, register_parties

Client = AsyncTestClient[Litestar]
# Held: SSG08-002 is reported stolen here. The cartridges are what other checks may use up meanwhile.
HELD_LINES: list[dict[str, Any]] = [{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}, {"line": 2, "quantity": 500}]


@pytest.fixture
async def cz(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[Client]:
    """The API of CZ's registry (a transit State)."""
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, state="CZ"))) as client:
        yield client


@pytest.fixture
async def de(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[Client]:
    """The API of DE's registry (the importing State)."""
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, state="DE"))) as client:
        yield client


async def post_check(client: Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/checks", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def held_at_cz(cz: Client, conn: db.Conn, headers: dict[str, str]) -> dict[str, Any]:
    await receive(conn, at_licence(), state="CZ")
    await register_stolen(conn, "SSG08-002")
    body = check_body(lines=HELD_LINES)
    held = await post_check(cz, headers, body)
    assert (held["verdict"], [reason["code"] for reason in held["reasons"]]) == (
        "hold",
        ["item-reported-lost-or-stolen"],
    )
    return body


async def footprint(conn: db.Conn) -> dict[str, int]:
    """What a decision writes: nothing of it may stay behind a refused one."""
    counts = {}
    for table in ("check_decision", "passage_tally", "cleared_serial", "ledger_entry", "notice_outbox"):
        counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608  # names above
    counts["decisions journaled"] = await conn.fetchval(
        "SELECT count(*) FROM journal_entry WHERE action IN ('check.released', 'check.refused')"
    )
    return counts


async def test_a_release_after_other_clears_used_the_balance_is_409_naming_the_line_and_takes_nothing(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    headers = await auth("customs-officer")
    body = await held_at_cz(cz, conn, headers)
    assert (await post_check(cz, headers, check_body(lines=[{"line": 2, "quantity": 400}])))["verdict"] == "clear"
    before = await footprint(conn)
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "seen"}, headers=headers)
    assert released.status_code == 409, released.text
    assert released.headers["content-type"] == "application/problem+json"
    problem = released.json()
    assert problem["type"].endswith("/quantity-exceeds-balance")
    assert (problem["line"], problem["remaining"]) == (2, 400)
    assert "500" in problem["detail"]
    assert await footprint(conn) == before
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 400
    record = await cz.get(f"/api/v1/checks/{body['check_id']}", headers=headers)
    assert record.json()["decision"] is None  # still held: the officer refuses it, or checks what is left


async def test_a_release_after_a_version_lowering_its_line_is_409_and_takes_nothing(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    headers = await auth("customs-officer")
    body = await held_at_cz(cz, conn, headers)
    lowered = [LINES[0], msgspec.structs.replace(LINES[1], quantity=300)]
    await receive(conn, at_licence(version=2, lines=lowered), state="CZ", consent=False)
    before = await footprint(conn)
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "seen"}, headers=headers)
    assert released.status_code == 409, released.text
    assert (released.json()["type"].rsplit("/", 1)[-1], released.json()["remaining"]) == (
        "quantity-exceeds-balance",
        300,
    )
    assert await footprint(conn) == before


async def test_a_release_after_a_version_that_no_longer_lists_its_serial_is_not_released(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    headers = await auth("customs-officer")
    body = await held_at_cz(cz, conn, headers)
    other = [msgspec.structs.replace(LINES[0], serials=["SSG08-001", "SSG08-003"]), LINES[1]]
    await receive(conn, at_licence(version=2, lines=other), state="CZ", consent=False)
    before = await footprint(conn)
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "seen"}, headers=headers)
    assert released.status_code == 409, released.text
    assert (released.json()["type"].rsplit("/", 1)[-1], released.json()["reasons"]) == (
        "serials-need-correction",
        ["serial-not-on-licence"],
    )
    assert await footprint(conn) == before


async def test_a_release_after_its_serial_cleared_in_another_check_is_409_naming_the_serial(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    headers = await auth("customs-officer")
    three = msgspec.structs.replace(LINES[0], quantity=3, serials=["SSG08-001", "SSG08-002", "SSG08-003"])
    await receive(conn, at_licence(lines=[three, LINES[1]]), state="CZ")
    await register_stolen(conn, "SSG08-002")
    body = check_body()  # two rifles and the cartridges: held for SSG08-002; the line has room for both
    assert (await post_check(cz, headers, body))["verdict"] == "hold"
    other = check_body(lines=[{"line": 1, "quantity": 1, "serials": ["ssg08 001"]}])
    assert (await post_check(cz, headers, other))["verdict"] == "clear"
    before = await footprint(conn)
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "seen"}, headers=headers)
    assert released.status_code == 409, released.text
    problem = released.json()
    assert problem["type"].endswith("/serial-already-passed")
    assert problem["serials"] == ["SSG08-001"]  # as this consignment presented it
    assert "SSG08-001" in problem["detail"]
    assert await footprint(conn) == before


@pytest.mark.parametrize("verdict", ["clear", "refuse"])
async def test_only_a_held_check_is_decided(verdict: str, cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    headers = await auth("customs-officer")
    await receive(conn, at_licence(), state="CZ")
    body = check_body() if verdict == "clear" else check_body(lines=[{"line": 9, "quantity": 1}])
    assert (await post_check(cz, headers, body))["verdict"] == verdict
    before = await footprint(conn)
    for decision in ("release", "refuse"):
        response = await cz.post(f"/api/v1/checks/{body['check_id']}/{decision}", json={"reason": "x"}, headers=headers)
        assert response.status_code == 409, response.text
        problem = response.json()
        assert (problem["type"].rsplit("/", 1)[-1], problem["verdict"], problem["decision"]) == (
            "check-not-held",
            verdict,
            None,
        )
    assert await footprint(conn) == before


async def test_a_decision_on_an_unknown_check_is_404(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    headers = await auth("customs-officer")
    unknown = uuid.uuid4()
    for decision in ("release", "refuse"):
        response = await cz.post(f"/api/v1/checks/{unknown}/{decision}", json={"reason": "x"}, headers=headers)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert (response.json()["type"].rsplit("/", 1)[-1], response.json()["check_id"]) == ("not-found", str(unknown))
    assert set((await footprint(conn)).values()) == {0}


@pytest.mark.parametrize(
    "reason",
    [
        "",
        "   ",
        " seen the police report",
        "seen the police report\u00a0",
        "seen\nthe police report",
        "seen the police report\n",
        "seen \x1b[31mthe police report",
        "seen the police report\u0085",
        "x" * 2001,
    ],
)
async def test_a_reason_that_is_empty_padded_has_a_control_character_or_is_too_long_is_400(
    reason: str, cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    headers = await auth("customs-officer")
    body = await held_at_cz(cz, conn, headers)
    before = await footprint(conn)
    for decision in ("release", "refuse"):
        response = await cz.post(
            f"/api/v1/checks/{body['check_id']}/{decision}", json={"reason": reason}, headers=headers
        )
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["type"].endswith("/invalid-request")
        assert [error["key"] for error in problem["errors"]] == ["reason"]
        assert "regex" not in response.text
    assert await footprint(conn) == before


async def test_the_longest_reason_is_recorded_whole(cz: Client, conn: db.Conn, auth: TokenFactory) -> None:
    headers = await auth("customs-officer")
    body = await held_at_cz(cz, conn, headers)
    reason = "Polizeibericht gesehen: Fahrzeug überprüft. " * 45 + "x" * 20  # 2,000 characters
    assert len(reason) == 2000
    refused = await cz.post(f"/api/v1/checks/{body['check_id']}/refuse", json={"reason": reason}, headers=headers)
    assert refused.status_code == 200, refused.text
    assert refused.json()["decision_reason"] == reason


async def test_a_decision_is_journaled_with_who_and_why_and_shown_on_the_check(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    headers = await auth("customs-officer")
    body = await held_at_cz(cz, conn, headers)
    released = await cz.post(
        f"/api/v1/checks/{body['check_id']}/release", json={"reason": "report withdrawn by police"}, headers=headers
    )
    assert released.status_code == 200, released.text
    record = (await cz.get(f"/api/v1/checks/{body['check_id']}", headers=await auth("auditor"))).json()
    assert record == released.json()
    assert record["answer"]["verdict"] == "hold"  # the answer stays as given; the decision is beside it
    assert (record["decision"], record["decision_reason"]) == ("release", "report withdrawn by police")
    entry = await conn.fetchrow(
        "SELECT actor, payload FROM journal_entry WHERE action = 'check.released' AND entity_id = $1", body["check_id"]
    )
    assert entry is not None
    assert entry["actor"] == record["decided_by"] == record["checked_by"]
    assert entry["payload"]["reason"] == "report withdrawn by police"
    decided = await conn.fetchval("SELECT xmin::text FROM check_decision WHERE check_id = $1", body["check_id"])
    journaled = await conn.fetchval(
        "SELECT xmin::text FROM journal_entry WHERE action = 'check.released' AND entity_id = $1", body["check_id"]
    )
    tallied = await conn.fetchval("SELECT DISTINCT xmin::text FROM passage_tally WHERE check_id = $1", body["check_id"])
    assert decided == journaled == tallied  # one transaction


@pytest.mark.parametrize("decision", ["release", "refuse"])
async def test_a_decision_sent_again_with_its_idempotency_key_answers_the_first_answer(
    decision: str, cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # A client that never heard the answer (a timeout; database-outcome-unknown says to send it again with the
    # key) got 409 check-not-held, and could not tell its own release from another officer's.
    headers = await auth("customs-officer")
    body = await held_at_cz(cz, conn, headers)
    url = f"/api/v1/checks/{body['check_id']}/{decision}"
    keyed = headers | {"Idempotency-Key": "decision-1"}
    first = await cz.post(url, json={"reason": "seen"}, headers=keyed)
    assert first.status_code == 200, first.text
    after = await footprint(conn)
    again = await cz.post(url, json={"reason": "seen"}, headers=keyed)
    assert (again.status_code, again.content) == (200, first.content)
    assert await footprint(conn) == after
    other = await cz.post(url, json={"reason": "seen twice"}, headers=keyed)
    assert other.status_code == 409, other.text
    assert other.json()["type"].endswith("/idempotency-key-reused")
    unkeyed = await cz.post(url, json={"reason": "seen"}, headers=headers)
    assert unkeyed.status_code == 409, unkeyed.text
    assert (unkeyed.json()["type"].rsplit("/", 1)[-1], unkeyed.json()["decision"]) == ("check-not-held", decision)
    assert await footprint(conn) == after


@pytest.mark.parametrize(("decision", "tally"), [("release", 1), ("refuse", None)])
async def test_a_held_entry_check_released_adds_to_the_tally_once_refused_adds_nothing(
    decision: str, tally: int | None, de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    headers = await auth("customs-officer")
    await receive(conn, at_licence(), state="DE")
    await register_firearm(conn, "SSG08-001")  # registered here without DE's import marking
    body = check_body(
        "import", lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}], crossing_point="DE-Passau"
    )
    held = await post_check(de, headers, body)
    assert [reason["code"] for reason in held["reasons"]] == ["import-marking-missing"]
    decided = await de.post(f"/api/v1/checks/{body['check_id']}/{decision}", json={"reason": "seen"}, headers=headers)
    assert decided.status_code == 200, decided.text
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally WHERE movement = 'import'") == tally
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == (1 if tally else 0)
    again = await de.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "seen"}, headers=headers)
    assert again.status_code == 409
    assert await post_check(de, headers, body) == held  # a replay of the check takes nothing either
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally WHERE movement = 'import'") == tally


async def test_a_released_entry_leaves_what_remains_to_the_next_check(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    headers = await auth("customs-officer")
    two = [msgspec.structs.replace(LINES[0], quantity=2), LINES[1]]
    await receive(conn, at_licence(lines=two), state="DE")
    await register_firearm(conn, "SSG08-001")
    body = check_body(
        "import", lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}], crossing_point="DE-Passau"
    )
    assert (await post_check(de, headers, body))["verdict"] == "hold"
    released = await de.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "seen"}, headers=headers)
    assert released.status_code == 200, released.text
    rest = check_body("import", lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}])
    answer = await post_check(de, headers, rest)
    assert "quantity-exceeds-balance" in [reason["code"] for reason in answer["reasons"]]
    last = check_body("import", lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-002"]}])
    answer = await post_check(de, headers, last)
    assert answer["verdict"] == "clear"
    assert answer["licence"]["lines"][0] == {"line": 1, "remaining": 0}


@pytest.mark.parametrize("to", ["suspended", "revoked"])
async def test_a_release_at_the_exit_after_the_licence_was_suspended_or_revoked_takes_nothing_from_the_ledger(
    to: LicenceStatus, client: Client, conn: db.Conn, settings: Settings, auth: TokenFactory
) -> None:
    licence = await issued_export(conn, settings, await register_parties(conn))
    await register_stolen(conn, "SSG08-001")
    headers = await auth("customs-officer")
    body = check_body(
        "export",
        licence_number=licence.licence.number,
        crossing_point="AT-Wullowitz",
        lines=[{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}, {"line": 2, "quantity": 300}],
    )
    assert (await post_check(client, headers, body))["verdict"] == "hold"
    async with conn.transaction():
        await licences.transition(conn, licence_id=licence.licence_id, to=to, actor="officer:l", reason="inquiry")
    before = await footprint(conn)
    url = f"/api/v1/checks/{body['check_id']}/release"
    released = await client.post(url, json={"reason": "seen"}, headers=headers)
    assert released.status_code == 409, released.text
    assert (released.json()["type"].rsplit("/", 1)[-1], released.json()["reasons"]) == (
        "licence-not-usable",
        [f"licence-{to}"],
    )
    assert await footprint(conn) == before
    if to == "suspended":  # reinstated, the licence allows it again: the release takes what the check would have
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=licence.licence_id, to="issued", actor="officer:l", reason="cleared", settings=settings
            )
        released = await client.post(url, json={"reason": "seen"}, headers=headers)
        assert released.status_code == 200, released.text
        assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry") == 301


async def test_a_release_after_a_version_without_its_line_says_the_line_is_gone(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # Before, the line the version dropped counted as one with nothing left: 409 quantity-exceeds-balance,
    # "line 2 has 0 left", as if other checks had used it.
    headers = await auth("customs-officer")
    body = await held_at_cz(cz, conn, headers)
    await receive(conn, at_licence(version=2, lines=[LINES[0]]), state="CZ", consent=False)
    before = await footprint(conn)
    released = await cz.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "seen"}, headers=headers)
    assert released.status_code == 409, released.text
    assert (released.json()["type"].rsplit("/", 1)[-1], released.json()["reasons"]) == (
        "licence-not-usable",
        ["line-not-on-licence"],
    )
    assert await footprint(conn) == before


async def test_a_release_at_entry_is_refused_for_a_firearm_unmarked_here_since_the_hold(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    # The officer held the consignment for SSG08-002 (reported stolen) and looked at it; SSG08-001 was registered
    # here without DE's import marking only after the hold. A check now holds it (import-marking-missing): the
    # release let it in unseen.
    headers = await auth("customs-officer")
    await receive(conn, at_licence(), state="DE")
    await register_stolen(conn, "SSG08-002")
    body = check_body(
        "import",
        lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}],
        crossing_point="DE-Passau",
    )
    held = await post_check(de, headers, body)
    assert {(reason["code"], reason["serial"]) for reason in held["reasons"]} == {
        ("item-reported-lost-or-stolen", "SSG08-002"),
        ("import-marking-missing", "SSG08-002"),
    }
    await register_firearm(conn, "SSG08-001")
    before = await footprint(conn)
    released = await de.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "seen"}, headers=headers)
    assert released.status_code == 409, released.text
    assert released.headers["content-type"] == "application/problem+json"
    problem = released.json()
    assert (problem["type"].rsplit("/", 1)[-1], problem["serials"]) == ("import-marking-missing", ["SSG08-001"])
    assert await footprint(conn) == before
    refused = await de.post(f"/api/v1/checks/{body['check_id']}/refuse", json={"reason": "unmarked"}, headers=headers)
    assert refused.status_code == 200, refused.text
