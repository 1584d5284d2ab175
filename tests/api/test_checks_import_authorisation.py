"""A customs check judges the import authorisation the export licence names (Protocol Art. 10(1)-(2)).

At entry the importing State's own authorisation, issued here and in force on the day of the check; at exit the
importing State's, as received by notice with every later status change applied. ``import-not-authorised``,
``refuse``: nothing tallied, nothing debited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, checks, db, licence_reads, licences, received
from firearms.check_rules import CheckRequest
from firearms.licence_object import ImportAuthorisation
from firearms.licence_views import LicenceStatus
from firearms.settings import Settings
from tests.check_helpers import at_licence, authorise_import, check_body, de_authorisation, receive, register_firearm
from tests.conftest import TokenFactory
from tests.licensing_helpers import TODAY, issued_export, register_parties

Client = AsyncTestClient[Litestar]
DAY = dt.timedelta(days=1)


@pytest.fixture
async def de(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[Client]:
    """The API of DE's registry (the importing State)."""
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, state="DE"))) as client:
        yield client


def entry(**changes: Any) -> dict[str, Any]:
    return check_body("import", crossing_point="DE-Passau", **changes)


async def post_check(client: Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/checks", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def nothing_taken(conn: db.Conn) -> None:
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 0


async def test_entry_on_an_authorisation_this_state_never_gave_is_refused(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await receive(conn, at_licence(), state="DE", authorised=False)
    answer = await post_check(de, await auth("customs-officer"), entry())
    assert answer["verdict"] == "refuse"
    assert answer["reasons"] == [
        {
            "code": "import-not-authorised",
            "line": None,
            "serial": None,
            "detail": "DE holds no import authorisation DE-IMP-2026-42 of its own",
        }
    ]
    await nothing_taken(conn)
    journaled = await conn.fetchval("SELECT payload FROM journal_entry WHERE action = 'check.recorded'")
    assert (journaled["verdict"], journaled["reasons"], journaled["lines"]) == ("refuse", ["import-not-authorised"], [])


@pytest.mark.parametrize(
    ("status", "changes", "detail"),
    [
        ("revoked", {}, "import authorisation DE-IMP-2026-42 is revoked"),
        ("suspended", {}, "import authorisation DE-IMP-2026-42 is suspended"),
        ("expired", {}, "import authorisation DE-IMP-2026-42 is expired"),
        ("draft", {}, "import authorisation DE-IMP-2026-42 is draft"),
        (
            "issued",
            {"valid_from": TODAY - 30 * DAY, "expires_on": TODAY - DAY},
            f"import authorisation DE-IMP-2026-42 expired on {(TODAY - DAY).isoformat()}",
        ),
        (
            "issued",
            {"valid_from": TODAY + 3 * DAY},
            f"import authorisation DE-IMP-2026-42 is valid from {(TODAY + 3 * DAY).isoformat()}",
        ),
        ("issued", {"exporting_state": "CZ"}, "import authorisation DE-IMP-2026-42 is for goods from CZ, not AT"),
    ],
    ids=["revoked", "suspended", "expired", "draft", "past-its-last-day", "not-yet-valid", "other-exporter"],
)
async def test_entry_on_an_authorisation_not_in_force_is_refused(
    status: str, changes: dict[str, Any], detail: str, de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await authorise_import(conn, status=status, **changes)
    await receive(conn, at_licence(), state="DE")
    answer = await post_check(de, await auth("customs-officer"), entry())
    assert (answer["verdict"], answer["reasons"]) == (
        "refuse",
        [{"code": "import-not-authorised", "line": None, "serial": None, "detail": detail}],
    )
    await nothing_taken(conn)


async def test_entry_on_a_licence_naming_another_states_authorisation_is_refused(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await authorise_import(conn, "FR-IMP-2026-7", issuing_state="FR", importing_state="FR")
    named = ImportAuthorisation(number="FR-IMP-2026-7", state="FR", issued_on=TODAY - DAY, expires_on=TODAY + DAY)
    await receive(conn, at_licence(import_authorisation=named), state="DE")
    answer = await post_check(de, await auth("customs-officer"), entry())
    assert answer["verdict"] == "refuse"
    assert [(reason["code"], reason["detail"]) for reason in answer["reasons"]] == [
        ("import-not-authorised", "the export licence names FR-IMP-2026-7 of FR, not an import authorisation of DE")
    ]
    await nothing_taken(conn)


async def test_entry_on_an_authorisation_in_force_clears(de: Client, conn: db.Conn, auth: TokenFactory) -> None:
    await authorise_import(conn, valid_from=TODAY, expires_on=TODAY)  # its first and last day: in force
    await receive(conn, at_licence(), state="DE")
    await register_firearm(conn, "SSG08-001", import_marking="DE")
    await register_firearm(conn, "SSG08-002", import_marking="DE")
    answer = await post_check(de, await auth("customs-officer"), entry())
    assert (answer["verdict"], answer["reasons"]) == ("clear", [])
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 802


async def test_a_replayed_entry_check_answers_as_first_recorded_after_the_authorisation_is_revoked(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    licence_id = await authorise_import(conn)
    await receive(conn, at_licence(), state="DE")
    headers = await auth("customs-officer")
    body = entry(lines=[{"line": 2, "quantity": 800}])
    first = await post_check(de, headers, body)
    assert first["verdict"] == "clear"
    async with conn.transaction():
        await licences.transition(conn, licence_id=licence_id, to="revoked", actor="officer:de", reason="fraud")
    assert await post_check(de, headers, body) == first
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 800
    later = await post_check(de, headers, entry(lines=[{"line": 1, "quantity": 2, "serials": ["SSG08-001"]}]))
    assert [reason["code"] for reason in later["reasons"]][:1] == ["import-not-authorised"]


@pytest.mark.parametrize("status", ["suspended", "revoked"])
async def test_a_held_entry_is_not_released_once_the_authorisation_is_out_of_force(
    status: LicenceStatus, de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    licence_id = await authorise_import(conn)
    await receive(conn, at_licence(), state="DE")
    await register_firearm(conn, "SSG08-001")  # without DE's import marking: held
    await register_firearm(conn, "SSG08-002", import_marking="DE")
    headers = await auth("customs-officer")
    body = entry()
    held = await post_check(de, headers, body)
    assert (held["verdict"], [reason["code"] for reason in held["reasons"]]) == ("hold", ["import-marking-missing"])
    async with conn.transaction():
        await licences.transition(conn, licence_id=licence_id, to=status, actor="officer:de", reason="inquiry")
    released = await de.post(f"/api/v1/checks/{body['check_id']}/release", json={"reason": "ok"}, headers=headers)
    assert released.status_code == 409, released.text
    problem = released.json()
    assert problem["type"].endswith("/licence-not-usable")
    assert problem["reasons"] == ["import-not-authorised"]
    assert await conn.fetchval("SELECT count(*) FROM check_decision") == 0
    await nothing_taken(conn)


async def exit_check(conn: db.Conn, number: str) -> tuple[str, list[tuple[str, str]]]:
    body = check_body("export", licence_number=number, crossing_point="AT-Wullowitz")
    async with conn.transaction():
        answer = await checks.perform_check(
            conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    return answer.verdict, [(reason.code, reason.detail) for reason in answer.reasons]


@pytest.mark.parametrize("status", ["suspended", "revoked", None])
async def test_an_exit_after_the_importing_state_withdrew_its_authorisation_is_refused(
    status: LicenceStatus | None, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """AT holds DE's authorisation as received; DE's licence.status-changed applied to it stops the exit."""
    async with conn.transaction():
        await received.record_received(conn, de_authorisation(), registry_state="AT", actor="peer:DE")
    licence = await issued_export(conn, settings, await register_parties(conn))
    if status is not None:
        async with conn.transaction():
            await received.apply_status(
                conn, issuing_state="DE", number="DE-IMP-2026-42", status=status, reason="fraud", actor="peer:DE"
            )
    assert (await licence_reads.get_licence(conn, licence.licence_id)).status == "issued"  # nothing suspends it
    verdict, reasons = await exit_check(conn, licence.licence.number)
    if status is None:
        assert (verdict, reasons) == ("clear", [])
        return
    assert (verdict, reasons) == (
        "refuse",
        [("import-not-authorised", f"import authorisation DE-IMP-2026-42 is {status}")],
    )
    await nothing_taken(conn)


async def test_an_exit_resting_on_an_authorisation_recorded_only_in_the_licence_clears(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """The export gate lets a licence rest on an authorisation typed into it; the exit judges its recorded dates."""
    licence = await issued_export(conn, settings, await register_parties(conn))
    assert await exit_check(conn, licence.licence.number) == ("clear", [])
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 2


async def test_a_check_reads_the_authorisation_in_the_same_statement(conn: db.Conn) -> None:
    """No round trip is added: ``get_check_context`` returns the authorisation named and the row held."""
    await authorise_import(conn, status="suspended")
    await receive(conn, at_licence(), state="DE")
    context = await conn.fetchrow(
        "SELECT import_authorisation FROM check_context($1, $2, $3, $4, $5, $6)",
        "AT",
        "AT-EXP-2026-000123",
        "DE",
        TODAY,
        "import",
        [],
    )
    assert context is not None
    held = context["import_authorisation"]
    assert (held["number"], held["state"], held["held"]["status"], held["held"]["origin"]) == (
        "DE-IMP-2026-42",
        "DE",
        "suspended",
        "local",
    )
    transit = await conn.fetchval(
        "SELECT import_authorisation FROM check_context('AT', 'AT-EXP-2026-000123', 'CZ', $1, 'transit', '{}')",
        TODAY,
    )
    assert transit is None


async def test_an_exit_on_the_authorisations_last_day_clears_until_it_ends_on_this_calendar(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """DE's authorisation expired by DE's timer at DE's midnight is judged as AT's own licence is (README dates).

    A post whose day is behind DE's (Los Angeles, in the tests of the dates) cleared the licence for the last hours
    of its last day, but refused ``import-not-authorised`` on the authorisation's: the same expiry, two calendars.
    An expiry that took effect before any State's last day could end still refuses at once.
    """
    async with conn.transaction():
        stored = await received.record_received(
            conn, de_authorisation(expires_on=TODAY), registry_state="AT", actor="peer:DE"
        )
    licence = await issued_export(conn, settings, await register_parties(conn), expires_on=TODAY)
    async with conn.transaction():
        await received.apply_status(
            conn, issuing_state="DE", number="DE-IMP-2026-42", status="expired", reason="ended", actor="peer:DE"
        )
    zone = ZoneInfo("America/Los_Angeles")
    last_hours = dt.datetime.combine(TODAY, dt.time(23, 0), tzinfo=zone).astimezone(dt.UTC)

    async def exit_at(moment: dt.datetime, expired_at: dt.datetime) -> tuple[str, list[str]]:
        # the row's time is when DE's change was applied here; the test's moment stands for it
        await conn.execute("UPDATE licence SET updated_at = $1 WHERE licence_id = $2", expired_at, stored.licence_id)
        body = check_body("export", licence_number=licence.licence.number, crossing_point="AT-Wullowitz")
        async with conn.transaction():
            answer = await checks.perform_check(
                conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=zone, actor="customs:at", now=moment
            )
        return answer.verdict, [reason.code for reason in answer.reasons]

    de_midnight = dt.datetime.combine(TODAY + DAY, dt.time(), tzinfo=ZoneInfo("Europe/Berlin")).astimezone(dt.UTC)
    early = dt.datetime.combine(TODAY, dt.time(9, 59, 59), tzinfo=dt.UTC)
    assert await exit_at(last_hours, early) == ("refuse", ["import-not-authorised"])  # DE's decision, not its date
    next_day = last_hours + dt.timedelta(hours=1)  # the licence's last day too
    assert await exit_at(next_day, de_midnight) == ("refuse", ["licence-expired", "import-not-authorised"])
    assert await exit_at(last_hours, de_midnight) == ("clear", [])


async def test_entry_beyond_what_the_authorisation_covers_is_refused(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """DE authorised 600 cartridges; AT's licence says 800 (issued on the number and dates typed at AT, or before DE
    lowered it). DE's entry clears up to 600 of them, counted over the licence's entries, and refuses the rest: before,
    it cleared all 800 on an authorisation of 600."""
    lines = at_licence().lines
    await authorise_import(conn, lines=[lines[0], msgspec.structs.replace(lines[1], quantity=600)])
    await receive(conn, at_licence(), state="DE")
    headers = await auth("customs-officer")
    first = await post_check(de, headers, entry(lines=[{"line": 2, "quantity": 500}]))
    assert (first["verdict"], first["reasons"]) == ("clear", [])
    second = await post_check(de, headers, entry(lines=[{"line": 2, "quantity": 200}]))
    assert second["verdict"] == "refuse"
    assert [(reason["code"], reason["detail"]) for reason in second["reasons"]] == [
        (
            "import-not-authorised",
            "import authorisation DE-IMP-2026-42 authorises 600 ammunition items; 500 passed under this licence and"
            " 200 more presented",
        )
    ]
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 500


async def test_an_exit_beyond_what_the_received_authorisation_now_covers_is_refused(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """DE lowered its authorisation, as AT received it, to 600 cartridges under AT's issued licence for 800."""
    licence = await issued_export(conn, settings, await register_parties(conn))
    lines = de_authorisation().lines
    lowered = de_authorisation(lines=[lines[0], msgspec.structs.replace(lines[1], quantity=600)])
    async with conn.transaction():
        await received.record_received(conn, lowered, registry_state="AT", actor="peer:DE")
    body = check_body("export", lines=[{"line": 2, "quantity": 700}], licence_number=licence.licence.number)
    async with conn.transaction():
        answer = await checks.perform_check(
            conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    assert answer.verdict == "refuse"
    assert [reason.code for reason in answer.reasons] == ["import-not-authorised"]
    assert await conn.fetchval("SELECT count(*) FROM ledger_entry") == 0


async def test_entry_counts_what_passed_under_every_licence_on_the_authorisation(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """DE authorised 600 cartridges; AT drew two licences of 800 on it. 500 entered under the first: the second may
    bring in 100 more, not 200. Before, each licence's entries were counted alone, and 700 entered on 600."""
    lines = at_licence().lines
    await authorise_import(conn, lines=[lines[0], msgspec.structs.replace(lines[1], quantity=600)])
    await receive(conn, at_licence(), state="DE")
    await receive(conn, at_licence(number="AT-EXP-2026-000124"), state="DE")
    headers = await auth("customs-officer")
    first = await post_check(de, headers, entry(lines=[{"line": 2, "quantity": 500}]))
    assert (first["verdict"], first["reasons"]) == ("clear", [])
    second = await post_check(
        de, headers, entry(licence_number="AT-EXP-2026-000124", lines=[{"line": 2, "quantity": 200}])
    )
    assert second["verdict"] == "refuse"
    assert [(reason["code"], reason["detail"]) for reason in second["reasons"]] == [
        (
            "import-not-authorised",
            "import authorisation DE-IMP-2026-42 authorises 600 ammunition items; 0 passed under this licence,"
            " 500 under AT-EXP-2026-000123, and 200 more presented",
        )
    ]
    third = await post_check(
        de, headers, entry(licence_number="AT-EXP-2026-000124", lines=[{"line": 2, "quantity": 100}])
    )
    assert (third["verdict"], third["reasons"]) == ("clear", [])
    assert await conn.fetchval("SELECT sum(quantity) FROM passage_tally") == 600


async def test_entry_counts_what_entered_under_a_licence_since_amended_onto_another_authorisation(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """500 cartridges entered under AT's first licence while it named DE-IMP-2026-42 (600); AT then amended it onto
    DE-IMP-2026-43. Those 500 entered under DE-IMP-2026-42: the second licence may bring in 100 more on it, not 200.
    Before, only a licence whose current version names the authorisation counted, and the amendment gave the 500
    back."""
    lines = at_licence().lines
    cartridges = [lines[0], msgspec.structs.replace(lines[1], quantity=600)]
    await authorise_import(conn, lines=cartridges)
    await authorise_import(conn, "DE-IMP-2026-43", lines=cartridges)
    first = at_licence()
    await receive(conn, first, state="DE")
    await receive(conn, at_licence(number="AT-EXP-2026-000124"), state="DE")
    headers = await auth("customs-officer")
    entered = await post_check(de, headers, entry(lines=[{"line": 2, "quantity": 500}]))
    assert (entered["verdict"], entered["reasons"]) == ("clear", [])
    assert first.import_authorisation is not None
    moved = msgspec.structs.replace(
        first,
        version=2,
        import_authorisation=msgspec.structs.replace(first.import_authorisation, number="DE-IMP-2026-43"),
    )
    await receive(conn, moved, state="DE")
    second = await post_check(
        de, headers, entry(licence_number="AT-EXP-2026-000124", lines=[{"line": 2, "quantity": 200}])
    )
    assert [(reason["code"], reason["detail"]) for reason in second["reasons"]] == [
        (
            "import-not-authorised",
            "import authorisation DE-IMP-2026-42 authorises 600 ammunition items; 0 passed under this licence,"
            " 500 under AT-EXP-2026-000123, and 200 more presented",
        )
    ]
    third = await post_check(
        de, headers, entry(licence_number="AT-EXP-2026-000124", lines=[{"line": 2, "quantity": 100}])
    )
    assert (third["verdict"], third["reasons"]) == ("clear", [])


async def test_entry_on_an_authorisation_valid_until_the_last_day_python_has_clears(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """9999-12-31, the last day of Python's calendar, is kept as that date (asyncpg wrote it as ``infinity``).

    The check reads the authorisation in one statement that writes its dates into JSON: ``"infinity"``, which is no
    date, and the check was a 500 at the border.
    """
    await authorise_import(conn, valid_from=dt.date.min, expires_on=dt.date.max)
    assert await conn.fetchval("SELECT valid_from::text || ' ' || expires_on::text FROM licence") == (
        "0001-01-01 9999-12-31"
    )
    await receive(conn, at_licence(), state="DE")
    await register_firearm(conn, "SSG08-001", import_marking="DE")
    await register_firearm(conn, "SSG08-002", import_marking="DE")
    answer = await post_check(de, await auth("customs-officer"), entry())
    assert (answer["verdict"], answer["reasons"]) == ("clear", [])
