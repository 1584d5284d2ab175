"""One import authorisation, several export licences: its quantity is a balance they share (Protocol Art. 10(2)(a)).

DE authorised the import of 100 cartridges. Before, each export licence naming that authorisation was judged against
the whole of it: AT issued two licences of 60, and its customs cleared both at exit, 120 cartridges on an
authorisation of 100. Now every other export licence drawn on it holds its share (the whole of an issued or suspended
licence, at its latest version; what a revoked, expired or exhausted one took at exit), and the exit judges what left
under every licence naming it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from firearms import bootstrap, checks, db, licence_reads, licence_versions, licences, received
from firearms.check_rules import CheckRequest
from firearms.errors import ConflictError
from firearms.licence_object import LicenceLine
from firearms.licence_rules import DraftImportAuthorisation, DraftLine
from firearms.settings import Settings
from tests.check_helpers import check_body, clear_at_export, de_authorisation
from tests.conftest import TokenFactory
from tests.licensing_helpers import ACTOR, TODAY, Parties, draft_json, export_draft, issued_export, register_parties
from tests.races import race

ROUTE = ["AT", "DE"]  # a direct export: no transit State to ask


def cartridges(quantity: int) -> LicenceLine:
    return LicenceLine(
        line=1,
        category="ammunition",
        type="cartridge",
        make="Hirtenberger",
        model="",
        calibre=".308 Win",
        quantity=quantity,
    )


def authorisation(quantity: int, version: int = 1) -> Any:
    """DE's import authorisation of ``quantity`` cartridges from AT, as AT receives it."""
    return de_authorisation(lines=[cartridges(quantity)], version=version)


@pytest.fixture
async def at(conn: db.Conn, initialised: bootstrap.Initialised) -> Parties:
    """AT's parties, and DE's authorisation of 100 cartridges as AT received it."""
    async with conn.transaction():
        await received.record_received(conn, authorisation(100), registry_state="AT", actor="peer:DE")
    return await register_parties(conn)


def _draft(at: Parties, quantity: int, **changes: Any) -> Any:
    line = DraftLine(**msgspec.structs.asdict(cartridges(quantity)))
    return export_draft(at, route=ROUTE, lines=[line], **changes)


async def issue(conn: db.Conn, settings: Settings, at: Parties, quantity: int) -> Any:
    return await issued_export(
        conn, settings, at, route=ROUTE, lines=[DraftLine(**msgspec.structs.asdict(cartridges(quantity)))]
    )


async def pending(conn: db.Conn, settings: Settings, at: Parties, quantity: int) -> uuid.UUID:
    async with conn.transaction():
        draft = await licence_versions.create_draft(conn, _draft(at, quantity), settings=settings, actor=ACTOR)
        await licences.transition(
            conn, licence_id=draft.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )
    return draft.licence_id


async def refused_issue(conn: db.Conn, settings: Settings, licence_id: uuid.UUID) -> dict[str, Any]:
    """Issuing is refused on the shared cover alone; the gate as the problem shows it."""
    with pytest.raises(ConflictError) as caught:
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=licence_id, to="issued", actor=ACTOR, reason="try", settings=settings
            )
    assert caught.value.code == "gates-unmet"
    unmet: list[dict[str, Any]] = caught.value.facts["unmet"]
    assert [(gate["gate"], gate["state"]) for gate in unmet] == [("goods-beyond-import-authorisation", "DE")]
    assert (await licence_reads.get_licence(conn, licence_id)).status == "pending"
    return unmet[0]


async def test_a_second_licence_beyond_what_the_authorisation_has_left_is_not_issued(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    first = await issue(conn, settings, at, 60)
    second = await pending(conn, settings, at, 60)
    gate = await refused_issue(conn, settings, second)
    assert gate["cover"] == {
        "number": "DE-IMP-2026-42",
        "state": "DE",
        "category": "ammunition",
        "authorised": 100,
        "held": 60,
        "asked": 60,
        "licences": [{"number": first.licence.number, "status": "issued", "quantity": 60}],
    }
    assert first.licence.number in gate["detail"]
    assert "100" in gate["detail"]
    assert await licence_reads.get_licence(conn, first.licence_id) == first  # the first one is untouched


async def test_licences_that_share_the_authorisation_within_it_are_all_issued(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    await issue(conn, settings, at, 60)
    assert (await issue(conn, settings, at, 40)).status == "issued"
    assert await licences.pending_gates(conn, await pending(conn, settings, at, 1), today=TODAY) != []


@pytest.mark.parametrize(
    ("status", "free"),
    [
        ("revoked", True),  # out of force, nothing left under it: its share is free again
        ("expired", True),
        ("suspended", False),  # it may be reinstated: it keeps its share
    ],
)
async def test_a_licence_out_of_force_frees_its_share_and_a_suspended_one_keeps_it(
    status: str, free: bool, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    first = await issue(conn, settings, at, 60)
    async with conn.transaction():
        await licences.transition(conn, licence_id=first.licence_id, to=status, actor=ACTOR, reason="test")  # type: ignore[arg-type]
    second = await pending(conn, settings, at, 60)
    if free:
        async with conn.transaction():
            issued = await licences.transition(
                conn, licence_id=second, to="issued", actor=ACTOR, reason="gates hold", settings=settings
            )
        assert issued.status == "issued"
    else:
        gate = await refused_issue(conn, settings, second)
        assert gate["cover"]["licences"] == [{"number": first.licence.number, "status": "suspended", "quantity": 60}]


async def test_what_left_under_an_expired_licence_still_counts(conn: db.Conn, settings: Settings, at: Parties) -> None:
    """30 cartridges left under a licence of 60 that then expired: 70 are left of the authorisation, not 100."""
    first = await issue(conn, settings, at, 60)
    await clear_at_export(conn, first.licence.number, [{"line": 1, "quantity": 30}])
    async with conn.transaction():
        await licences.transition(conn, licence_id=first.licence_id, to="expired", actor=ACTOR, reason="test")
    too_many = await pending(conn, settings, at, 71)
    gate = await refused_issue(conn, settings, too_many)
    assert (gate["cover"]["held"], gate["cover"]["licences"]) == (
        30,
        [{"number": first.licence.number, "status": "expired", "quantity": 30}],
    )
    assert (await issue(conn, settings, at, 70)).status == "issued"


async def test_an_amendment_beyond_what_the_authorisation_has_left_is_refused(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """Each licence is counted once, at its latest version: amended down, it frees the rest; up, it is judged."""
    first = await issue(conn, settings, at, 60)
    second = await issue(conn, settings, at, 40)
    with pytest.raises(ConflictError) as blocked:
        async with conn.transaction():
            await licence_versions.amend(
                conn, second.licence_id, _draft(at, 60, reason="more"), settings=settings, actor=ACTOR
            )
    unmet = blocked.value.facts["unmet"]
    assert [(gate["gate"], gate["cover"]["held"], gate["cover"]["asked"]) for gate in unmet] == [
        ("goods-beyond-import-authorisation", 60, 60)
    ]
    after = await licence_reads.get_licence(conn, second.licence_id)
    assert (after.version, after.licence.lines[0].quantity) == (1, 40)
    async with conn.transaction():
        lowered = await licence_versions.amend(
            conn, first.licence_id, _draft(at, 50, reason="fewer"), settings=settings, actor=ACTOR
        )
    assert lowered.version == 2
    async with conn.transaction():
        raised = await licence_versions.amend(
            conn, second.licence_id, _draft(at, 50, reason="the rest"), settings=settings, actor=ACTOR
        )
    assert (raised.version, raised.status, raised.licence.lines[0].quantity) == (2, "issued", 50)


async def test_two_licences_issued_at_once_do_not_both_take_the_authorisation(
    conn: db.Conn, database: str, settings: Settings, at: Parties
) -> None:
    """The second issue waits for the first's lock on the authorisation, then sees its share and is refused."""
    first = await pending(conn, settings, at, 60)
    second = await pending(conn, settings, at, 60)

    def issuing(licence_id: uuid.UUID) -> Any:
        async def work(other: db.Conn) -> Any:
            return await licences.transition(
                other, licence_id=licence_id, to="issued", actor=ACTOR, reason="race", settings=settings
            )

        return work

    won, lost = await race(database, issuing(first), issuing(second), may_pass=True)
    assert won.status == "issued"
    assert isinstance(lost, ConflictError)
    assert [gate["gate"] for gate in lost.facts["unmet"]] == ["goods-beyond-import-authorisation"]
    assert (await licence_reads.get_licence(conn, second)).status == "pending"


async def test_an_exit_counts_what_left_under_every_licence_on_the_authorisation(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """60 left under the first licence; DE lowered its authorisation to 80: the second may take 20 more, not 40.

    Before, the exit counted what left under the licence checked only, and cleared 60 + 30 on 80.
    """
    first = await issue(conn, settings, at, 60)
    second = await issue(conn, settings, at, 40)
    await clear_at_export(conn, first.licence.number, [{"line": 1, "quantity": 60}])
    async with conn.transaction():
        await received.record_received(conn, authorisation(80, version=2), registry_state="AT", actor="peer:DE")
    body = check_body(
        "export",
        lines=[{"line": 1, "quantity": 30}],
        licence_number=second.licence.number,
        crossing_point="AT-Wullowitz",
    )
    async with conn.transaction():
        answer = await checks.perform_check(
            conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    assert answer.verdict == "refuse"
    assert [(reason.code, reason.detail) for reason in answer.reasons] == [
        (
            "import-not-authorised",
            "import authorisation DE-IMP-2026-42 authorises 80 ammunition items; 0 passed under this licence,"
            f" 60 under {first.licence.number}, and 30 more presented",
        )
    ]
    assert (
        await conn.fetchval("SELECT sum(quantity) FROM ledger_entry WHERE licence_id = $1", second.licence_id) is None
    )
    await clear_at_export(conn, second.licence.number, [{"line": 1, "quantity": 20}])


async def test_two_exits_at_once_under_two_licences_do_not_both_take_the_authorisation(
    conn: db.Conn, database: str, settings: Settings, at: Parties
) -> None:
    """DE lowered its authorisation to 80 under AT's licences of 60 and 40: 60 leave under the first while 30 are
    presented under the second. The second exit waits for the first (the authorisation's row, locked while another
    licence names it), then counts its 60 and is refused; before, both cleared, 90 on 80."""
    first = await issue(conn, settings, at, 60)
    second = await issue(conn, settings, at, 40)
    async with conn.transaction():
        await received.record_received(conn, authorisation(80, version=2), registry_state="AT", actor="peer:DE")

    def exit_of(number: str, quantity: int) -> Any:
        async def work(other: db.Conn) -> Any:
            body = check_body(
                "export",
                lines=[{"line": 1, "quantity": quantity}],
                licence_number=number,
                crossing_point="AT-Wullowitz",
            )
            return await checks.perform_check(
                other, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
            )

        return work

    cleared, refused = await race(
        database, exit_of(first.licence.number, 60), exit_of(second.licence.number, 30), may_pass=True
    )
    assert (cleared.verdict, refused.verdict) == ("clear", "refuse")
    assert [reason.code for reason in refused.reasons] == ["import-not-authorised"]
    assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry") == 60


async def test_the_issue_is_refused_with_a_problem_naming_the_authorisation_and_the_licences_holding_it(
    conn: db.Conn, settings: Settings, at: Parties, client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    first = await issue(conn, settings, at, 60)
    second = await pending(conn, settings, at, 60)
    response = await client.post(
        f"/api/v1/licences/{second}/issue", json={"reason": "try"}, headers=await auth("licensing-officer")
    )
    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/gates-unmet")
    assert problem["unmet"] == [
        {
            "gate": "goods-beyond-import-authorisation",
            "state": "DE",
            "detail": f"the licence names 60 ammunition items; import authorisation DE-IMP-2026-42 of DE authorises"
            f" 100, of which other licences hold 60; {first.licence.number} (issued) holds 60",
            "cover": {
                "number": "DE-IMP-2026-42",
                "state": "DE",
                "category": "ammunition",
                "authorised": 100,
                "held": 60,
                "asked": 60,
                "licences": [{"number": first.licence.number, "status": "issued", "quantity": 60}],
            },
        }
    ]
    assert (await licence_reads.get_licence(conn, second)).status == "pending"


@pytest.mark.parametrize("query", ["list_import_authorisation_shares", "list_authorisation_cover"])
async def test_the_licences_naming_an_authorisation_are_found_by_the_index(query: str, conn: db.Conn) -> None:
    """The gate and the check find the licences drawn on an authorisation on the index, not by reading every version."""
    args: list[Any] = ["DE", "DE-IMP-2026-42", uuid.uuid4()] + (
        ["export"] if query == "list_authorisation_cover" else []
    )
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in await conn.fetch("EXPLAIN " + db.QUERIES[query], *args))
    assert "licence_version_import_authorisation_idx" in plan


async def test_a_suspended_licence_is_reinstated_only_within_what_the_others_left(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """DE lowered its authorisation to 80 under licences of 60 and 40; the first, suspended meanwhile, comes back only
    once amended down to what the second leaves (a suspended licence's amendment runs no gate; its reinstatement
    runs every one)."""
    first = await issue(conn, settings, at, 60)
    second = await issue(conn, settings, at, 40)
    async with conn.transaction():
        await licences.transition(conn, licence_id=first.licence_id, to="suspended", actor=ACTOR, reason="test")
        await received.record_received(conn, authorisation(80, version=2), registry_state="AT", actor="peer:DE")
    with pytest.raises(ConflictError) as blocked:
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=first.licence_id, to="issued", actor=ACTOR, reason="back", settings=settings
            )
    [gate] = blocked.value.facts["unmet"]
    assert (gate["gate"], gate["cover"]["authorised"], gate["cover"]["licences"]) == (
        "goods-beyond-import-authorisation",
        80,
        [{"number": second.licence.number, "status": "issued", "quantity": 40}],
    )
    async with conn.transaction():
        await licence_versions.amend(
            conn, first.licence_id, _draft(at, 40, reason="what DE left"), settings=settings, actor=ACTOR
        )
        back = await licences.transition(
            conn, licence_id=first.licence_id, to="issued", actor=ACTOR, reason="back", settings=settings
        )
    assert (back.status, back.version, back.licence.lines[0].quantity) == ("issued", 2, 40)


def _naming(number: str) -> DraftImportAuthorisation:
    return DraftImportAuthorisation(
        number=number, state="DE", issued_on=TODAY - dt.timedelta(days=5), expires_on=TODAY + dt.timedelta(days=360)
    )


async def test_an_amendment_onto_another_authorisation_is_judged_against_the_whole_of_it(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """An issued licence for 60 on DE-IMP-2026-42 (100) amended to name DE-IMP-2026-43, an authorisation of 10.

    The version in force asked nothing of DE-IMP-2026-43: the whole of the amendment is new to it. Before, the gate
    compared the 60 with the 60 of the version in force (on the other authorisation), found nothing raised, and
    issued 60 cartridges on an authorisation of 10, to a consignee it did not name.
    """
    async with conn.transaction():
        other = authorisation(10)
        other = msgspec.structs.replace(
            other,
            number="DE-IMP-2026-43",
            consignee=msgspec.structs.replace(other.consignee, name="Schützenverein Passau e.V."),
        )
        await received.record_received(conn, other, registry_state="AT", actor="peer:DE")
    first = await issue(conn, settings, at, 60)
    with pytest.raises(ConflictError) as blocked:
        async with conn.transaction():
            await licence_versions.amend(
                conn,
                first.licence_id,
                _draft(at, 60, reason="the other authorisation", import_authorisation=_naming("DE-IMP-2026-43")),
                settings=settings,
                actor=ACTOR,
            )
    unmet = blocked.value.facts["unmet"]
    assert [(gate["gate"], gate["state"]) for gate in unmet] == [
        ("goods-beyond-import-authorisation", "DE"),
        ("consignee-not-on-import-authorisation", "DE"),
    ]
    assert (unmet[0]["cover"]["number"], unmet[0]["cover"]["authorised"], unmet[0]["cover"]["asked"]) == (
        "DE-IMP-2026-43",
        10,
        60,
    )
    after = await licence_reads.get_licence(conn, first.licence_id)
    assert (after.version, after.licence.import_authorisation) == (1, first.licence.import_authorisation)


async def test_what_left_under_an_authorisation_still_counts_after_the_licence_names_another(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """30 cartridges left under a licence while it named DE-IMP-2026-42 (100); it was then amended onto another
    authorisation of DE. Those 30 were imported under DE-IMP-2026-42: 70 are left of it, not 100.

    Before, a licence counted only while its current version named the authorisation, so the amendment gave the 30
    back: a licence for 100 more was issued on it, and the exit counted nothing of the 30.
    """
    async with conn.transaction():
        await received.record_received(
            conn,
            msgspec.structs.replace(authorisation(100), number="DE-IMP-2026-43"),
            registry_state="AT",
            actor="peer:DE",
        )
    first = await issue(conn, settings, at, 60)
    await clear_at_export(conn, first.licence.number, [{"line": 1, "quantity": 30}])
    async with conn.transaction():
        moved = await licence_versions.amend(
            conn,
            first.licence_id,
            _draft(at, 60, reason="the rest on the new authorisation", import_authorisation=_naming("DE-IMP-2026-43")),
            settings=settings,
            actor=ACTOR,
        )
    assert (moved.version, moved.status) == (2, "issued")
    too_many = await pending(conn, settings, at, 71)
    gate = await refused_issue(conn, settings, too_many)
    assert (gate["cover"]["number"], gate["cover"]["held"], gate["cover"]["licences"]) == (
        "DE-IMP-2026-42",
        30,
        [{"number": first.licence.number, "status": "issued", "quantity": 30}],
    )
    second = await issue(conn, settings, at, 70)
    async with conn.transaction():  # DE lowers its authorisation to 90: 60 more may leave under it, not 70
        await received.record_received(conn, authorisation(90, version=2), registry_state="AT", actor="peer:DE")
    body = check_body(
        "export",
        lines=[{"line": 1, "quantity": 70}],
        licence_number=second.licence.number,
        crossing_point="AT-Wullowitz",
    )
    async with conn.transaction():
        answer = await checks.perform_check(
            conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    assert [(reason.code, reason.detail) for reason in answer.reasons] == [
        (
            "import-not-authorised",
            "import authorisation DE-IMP-2026-42 authorises 90 ammunition items; 0 passed under this licence,"
            f" 30 under {first.licence.number}, and 70 more presented",
        )
    ]
    await clear_at_export(conn, second.licence.number, [{"line": 1, "quantity": 60}])


@pytest.mark.parametrize("number", ["de-imp-2026-42", "DE-IMP-2026-42 ", " DE-IMP-2026-42", "DE IMP 2026 42"])
async def test_the_authorisation_number_is_written_one_way_only(
    number: str,
    conn: db.Conn,
    at: Parties,
    client: AsyncTestClient[Litestar],
    auth: TokenFactory,
) -> None:
    """A licensing officer cannot dodge the shared balance by writing the number another way: a number is upper
    case, digits and ``./-`` (``LicenceNumber``, as in a received notice), so another case or spacing is refused at
    the draft (400) and never names the authorisation as another one."""
    body = draft_json(_draft(at, 60))
    body["import_authorisation"]["number"] = number
    before = await conn.fetchval("SELECT count(*) FROM licence")
    response = await client.post("/api/v1/licences", json=body, headers=await auth("licensing-officer"))
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("/invalid-request")
    assert await conn.fetchval("SELECT count(*) FROM licence") == before


async def test_a_licence_moved_onto_a_new_authorisation_for_what_is_left_asks_only_that_of_it(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """30 of a licence's 60 cartridges left under DE-IMP-2026-42; DE then authorised the other 30 under DE-IMP-2026-43
    and AT amended the licence onto it. The new authorisation is asked for what is left (30), not for the goods that
    left under the first one, and the exit under it counts what left under it only: the last 30 clear."""
    async with conn.transaction():
        await received.record_received(
            conn,
            msgspec.structs.replace(authorisation(30), number="DE-IMP-2026-43"),
            registry_state="AT",
            actor="peer:DE",
        )
    first = await issue(conn, settings, at, 60)
    await clear_at_export(conn, first.licence.number, [{"line": 1, "quantity": 30}])
    async with conn.transaction():
        moved = await licence_versions.amend(
            conn,
            first.licence_id,
            _draft(at, 60, reason="the rest on the new authorisation", import_authorisation=_naming("DE-IMP-2026-43")),
            settings=settings,
            actor=ACTOR,
        )
    assert (moved.version, moved.status) == (2, "issued")
    async with conn.transaction():  # another licence on the new authorisation: the first holds 30 of it, not 60
        draft = _draft(at, 1, import_authorisation=_naming("DE-IMP-2026-43"))
        other = (await licence_versions.create_draft(conn, draft, settings=settings, actor=ACTOR)).licence_id
        await licences.transition(conn, licence_id=other, to="pending", actor=ACTOR, reason="submit", settings=settings)
    gate = await refused_issue(conn, settings, other)
    assert (gate["cover"]["authorised"], gate["cover"]["licences"]) == (
        30,
        [{"number": first.licence.number, "status": "issued", "quantity": 30}],
    )
    await clear_at_export(conn, first.licence.number, [{"line": 1, "quantity": 30}])
    assert await conn.fetchval("SELECT sum(quantity) FROM ledger_entry") == 60


async def test_a_licence_moved_onto_an_authorisation_is_judged_when_it_is_raised_on_it(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """30 of a licence's 60 cartridges left under DE-IMP-2026-43; it was moved onto DE-IMP-2026-42 (100), where it
    holds 30, and another licence took 60 of it. Raising the first to 80 asks 50 of DE-IMP-2026-42: 110 on 100, the
    amendment is refused (what left under the other authorisation is taken off both the amendment and the version in
    force, so the raise is seen)."""
    async with conn.transaction():
        await received.record_received(
            conn,
            msgspec.structs.replace(authorisation(100), number="DE-IMP-2026-43"),
            registry_state="AT",
            actor="peer:DE",
        )
    first = await issued_export(
        conn,
        settings,
        at,
        route=ROUTE,
        lines=[DraftLine(**msgspec.structs.asdict(cartridges(60)))],
        import_authorisation=_naming("DE-IMP-2026-43"),
    )
    await clear_at_export(conn, first.licence.number, [{"line": 1, "quantity": 30}])
    async with conn.transaction():
        await licence_versions.amend(
            conn,
            first.licence_id,
            _draft(at, 60, reason="the rest on DE-IMP-2026-42", import_authorisation=_naming("DE-IMP-2026-42")),
            settings=settings,
            actor=ACTOR,
        )
    await issue(conn, settings, at, 60)
    with pytest.raises(ConflictError) as blocked:
        async with conn.transaction():
            await licence_versions.amend(
                conn, first.licence_id, _draft(at, 80, reason="more"), settings=settings, actor=ACTOR
            )
    unmet = blocked.value.facts["unmet"]
    assert [(gate["gate"], gate["cover"]["held"], gate["cover"]["asked"]) for gate in unmet] == [
        ("goods-beyond-import-authorisation", 60, 50)
    ]
    assert (await licence_reads.get_licence(conn, first.licence_id)).version == 2
