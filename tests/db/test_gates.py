from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import msgspec

from firearms import (
    bootstrap,
    consents,
    db,
    gates,
    item_events,
    items,
    journal,
    licence_reads,
    licence_versions,
    licence_views,
    licences,
    parties,
)
from firearms.errors import ConflictError
from firearms.item_types import NewEvent
from firearms.licence_object import ImportAuthorisation
from firearms.parties import StatusChange
from firearms.settings import Settings
from tests.db.test_items_store import rifle
from tests.licensing_helpers import (
    ACTOR,
    TODAY,
    export_draft,
    issue_unmet,
    issued_export,
    no_objection,
    register_parties,
)
from tests.races import blocked_on_lock


async def _pending(conn: db.Conn, settings: Settings, **changes: object) -> licence_views.Licence:
    p = await register_parties(conn)
    async with conn.transaction():
        lic = await licence_versions.create_draft(conn, export_draft(p, **changes), settings=settings, actor=ACTOR)
        return await licences.transition(
            conn, licence_id=lic.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )


async def _received_authorisation(conn: db.Conn, status: str, valid_from: dt.date, expires_on: dt.date) -> None:
    """DE's import authorisation DE-IMP-2026-42 as stored on receipt of DE's notices, in ``status``."""
    await conn.execute(
        """INSERT INTO licence (licence_id, issuing_state, number, kind, origin, status, version, valid_from,
                                expires_on, exporting_state, importing_state, transit_states, created_at,
                                created_by, updated_at)
           VALUES ($1, 'DE', 'DE-IMP-2026-42', 'import', 'received', $2, 1, $3, $4, 'AT', 'DE', '{CZ}',
                   now(), 'notice', now())""",
        uuid.uuid4(),
        status,
        valid_from,
        expires_on,
    )


async def _cz_decides(
    conn: db.Conn, licence_id: uuid.UUID, decision: consents.Decision, reason: str | None = None
) -> None:
    """CZ's decision on the transit, as received by notice, in a transaction of its own."""
    async with conn.transaction():
        await consents.record_decision(
            conn,
            licence_id=licence_id,
            transit_state="CZ",
            decision=decision,
            decided_on=TODAY,
            valid_until=None,
            reason=reason,
            source="notice",
            actor="peer:CZ",
            today=TODAY,
            confidentiality="restricted",
        )


async def test_every_unmet_gate_is_listed_at_once(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await _pending(
        conn,
        settings,
        valid_from=TODAY - dt.timedelta(days=20),
        expires_on=TODAY - dt.timedelta(days=1),
        route=["AT", "CZ", "SK", "DE"],
        import_authorisation=ImportAuthorisation(
            number="DE-IMP-1",
            state="DE",
            issued_on=TODAY - dt.timedelta(days=30),
            expires_on=TODAY - dt.timedelta(days=2),
        ),
    )
    async with conn.transaction():
        await consents.record_decision(
            conn,
            licence_id=lic.licence_id,
            transit_state="SK",
            decision="objection",
            decided_on=TODAY,
            valid_until=None,
            reason="no",
            source="officer",
            actor=ACTOR,
            today=TODAY,
        )
    no_tacit = msgspec.structs.replace(settings, tacit_consent=False)
    assert sorted(await issue_unmet(conn, no_tacit, lic.licence_id)) == [
        ("import-authorisation-expired", "DE"),
        ("transit-consent-missing", "CZ"),
        ("transit-consent-objected", "SK"),
        ("validity-beyond-import-authorisation", "DE"),
        ("validity-ended", None),
    ]
    assert (await licence_reads.get_licence(conn, lic.licence_id)).status == "pending"
    assert await conn.fetchval("SELECT count(*) FROM licence_version WHERE signature IS NOT NULL") == 0


async def test_consent_window_and_lapse_gates(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await _pending(conn, settings)
    async with conn.transaction():
        await consents.request_consent(
            conn,
            licence_id=lic.licence_id,
            transit_state="CZ",
            shipment_from=TODAY - dt.timedelta(days=1),
            shipment_to=TODAY + dt.timedelta(days=10),
            actor=ACTOR,
            today=TODAY,
        )
        await consents.record_decision(
            conn,
            licence_id=lic.licence_id,
            transit_state="CZ",
            decision="no-objection",
            decided_on=TODAY,
            valid_until=TODAY,
            reason=None,
            source="officer",
            actor=ACTOR,
            today=TODAY,
        )
    assert await licences.pending_gates(conn, lic.licence_id, today=TODAY) == [
        gates.Gate(
            gate="transit-consent-after-shipment",
            state="CZ",
            detail=f"CZ's consent of {TODAY} is dated after the shipment start {TODAY - dt.timedelta(days=1)}",
        )
    ]
    later = await licences.pending_gates(conn, lic.licence_id, today=TODAY + dt.timedelta(days=1))
    assert [gate.gate for gate in later] == ["transit-consent-after-shipment", "transit-consent-lapsed"]


async def test_received_import_authorisation_must_still_be_issued(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await _pending(conn, settings)
    # a DE import licence as the exchange issue will store it on receipt, since revoked by DE
    await _received_authorisation(conn, "revoked", TODAY, TODAY + dt.timedelta(days=300))
    await _cz_decides(conn, lic.licence_id, "no-objection")
    assert await issue_unmet(conn, settings, lic.licence_id) == [("import-authorisation-not-valid", "DE")]


async def test_import_licence_has_no_export_gates_and_is_journaled(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    draft = export_draft(p, kind="import", exporting_state="DE", importing_state="AT", route=["DE", "AT"])
    draft = msgspec.structs.replace(draft, import_authorisation=None)
    async with conn.transaction():
        lic = await licence_versions.create_draft(conn, draft, settings=settings, actor=ACTOR)
    assert lic.licence.number.startswith(f"AT-IMP-{dt.datetime.now(dt.UTC).year}-")
    async with conn.transaction():
        await licences.transition(
            conn, licence_id=lic.licence_id, to="pending", actor=ACTOR, reason="ok", settings=settings
        )
        issued = await licences.transition(
            conn, licence_id=lic.licence_id, to="issued", actor=ACTOR, reason="ok", settings=settings
        )
    assert issued.status == "issued"
    assert await consents.list_requests(conn, lic.licence_id) == []
    await journal.seal(conn)
    actions = [
        row["action"]
        for row in await conn.fetch(
            "SELECT action FROM journal_entry WHERE entity = 'licence' AND entity_id = $1 ORDER BY entry_id",
            str(lic.licence_id),
        )
    ]
    assert actions == ["licence.drafted", "licence.pending", "licence.issued"]
    assert (await journal.verify(conn, state="AT")).intact


async def _waiting_on_locks(observer: db.Conn, count: int) -> None:
    """Until ``count`` sessions of this database wait on a lock (deadline 10 s)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    deadline = asyncio.get_running_loop().time() + 10
    while await observer.fetchval(query) < count:
        assert asyncio.get_running_loop().time() < deadline, f"fewer than {count} sessions ever waited on a lock"
        await asyncio.sleep(0.01)


async def test_concurrent_issue_issues_once(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await _pending(conn, settings)
    async with conn.transaction():
        await no_objection(conn, lic.licence_id, "CZ")
    pool = await db.create_pool(database, max_size=4)

    async def issue() -> str:
        async with pool.acquire() as c:
            try:
                async with c.transaction():
                    await licences.transition(
                        c, licence_id=lic.licence_id, to="issued", actor=ACTOR, reason="go", settings=settings
                    )
            except ConflictError as exc:
                return exc.code
            return "issued"

    observer = await db.connect(database)
    try:
        # Hold the licence row until all four wait on it: run one after another, each would find the licence
        # already issued without any lock, so the test would show nothing about concurrent issues.
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM licence WHERE licence_id = $1 FOR UPDATE", lic.licence_id)
            racing = [asyncio.create_task(issue()) for _ in range(4)]
            await _waiting_on_locks(observer, 4)
        results = await asyncio.gather(*racing)
    finally:
        await pool.close()
        await observer.close()
    assert sorted(results) == ["illegal-transition"] * 3 + ["issued"]
    assert await conn.fetchval("SELECT count(*) FROM licence_event WHERE to_status = 'issued'") == 1


async def test_reinstating_an_export_licence_runs_the_gates_again(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    async with conn.transaction():
        await licences.transition(conn, licence_id=lic.licence_id, to="suspended", actor=ACTOR, reason="inquiry")
    # while it was suspended DE revoked the import authorisation and CZ objected
    await _received_authorisation(conn, "revoked", TODAY, TODAY + dt.timedelta(days=300))
    await _cz_decides(conn, lic.licence_id, "objection", "route closed")
    assert await issue_unmet(conn, settings, lic.licence_id) == [
        ("import-authorisation-not-valid", "DE"),
        ("transit-consent-objected", "CZ"),
    ]
    assert (await licence_reads.get_licence(conn, lic.licence_id)).status == "suspended"


async def test_a_decision_waits_for_a_concurrent_revocation_and_is_then_refused(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    pool = await db.create_pool(database, max_size=2)
    observer = await db.connect(database)
    deciding: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def decide() -> str:
        async with pool.acquire() as c:
            deciding.set_result(c.get_server_pid())
            try:
                async with c.transaction():
                    await no_objection(c, lic.licence_id, "CZ", source="notice", actor="peer:CZ")
            except ConflictError as exc:
                return exc.code
            return "recorded"

    try:
        async with conn.transaction():
            await licences.transition(conn, licence_id=lic.licence_id, to="revoked", actor=ACTOR, reason="fraud")
            decision = asyncio.create_task(decide())
            # the decision waits on the revocation's lock, not merely starts after it committed
            await blocked_on_lock(observer, await deciding)
        assert await decision == "licence-closed"
    finally:
        await pool.close()
        await observer.close()
    assert await conn.fetchval("SELECT count(*) FROM transit_consent WHERE licence_id = $1", lic.licence_id) == 1


async def test_the_import_authorisation_as_received_sets_the_validity_limit(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # the officer typed DE's authorisation as running a year; DE's own notice says 100 days
    lic = await _pending(conn, settings)
    await _received_authorisation(conn, "issued", TODAY - dt.timedelta(days=5), TODAY + dt.timedelta(days=100))
    await _cz_decides(conn, lic.licence_id, "no-objection")
    assert await issue_unmet(conn, settings, lic.licence_id) == [("validity-beyond-import-authorisation", "DE")]
    later = await licences.pending_gates(conn, lic.licence_id, today=TODAY + dt.timedelta(days=101))
    assert [gate.gate for gate in later] == [
        "import-authorisation-expired",
        "validity-beyond-import-authorisation",
    ]


async def test_the_licence_cannot_be_usable_before_the_import_authorisation_is(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # the importing State's authorisation is dated next month: goods must not leave under it before then
    starts = TODAY + dt.timedelta(days=30)
    auth = ImportAuthorisation(
        number="DE-IMP-2026-42", state="DE", issued_on=starts, expires_on=TODAY + dt.timedelta(days=360)
    )
    p = await register_parties(conn)
    async with conn.transaction():
        lic = await licence_versions.create_draft(
            conn, export_draft(p, import_authorisation=auth), settings=settings, actor=ACTOR
        )
        await licences.transition(
            conn, licence_id=lic.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )
    await _cz_decides(conn, lic.licence_id, "no-objection")
    assert await issue_unmet(conn, settings, lic.licence_id) == [("validity-before-import-authorisation", "DE")]
    # amended to start when the authorisation does, it may be issued (CZ answers the new version)
    async with conn.transaction():
        await licence_versions.amend(
            conn,
            lic.licence_id,
            export_draft(p, import_authorisation=auth, valid_from=starts, reason="starts with the authorisation"),
            settings=settings,
            actor=ACTOR,
        )
    await _cz_decides(conn, lic.licence_id, "no-objection")
    assert await licences.pending_gates(conn, lic.licence_id, today=TODAY) == []


async def test_the_import_authorisation_as_received_sets_the_first_day_too(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # the officer typed DE's authorisation as issued days ago; DE's own notice says it is valid from next week
    lic = await _pending(conn, settings)
    await _received_authorisation(conn, "issued", TODAY + dt.timedelta(days=7), TODAY + dt.timedelta(days=300))
    await _cz_decides(conn, lic.licence_id, "no-objection")
    assert await issue_unmet(conn, settings, lic.licence_id) == [("validity-before-import-authorisation", "DE")]


async def test_a_party_struck_off_while_the_licence_waited_stops_its_issue(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    async with conn.transaction():
        lic = await licence_versions.create_draft(
            conn, export_draft(p, broker_ids=[p.broker]), settings=settings, actor=ACTOR
        )
        await licences.transition(
            conn, licence_id=lic.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )
    await _cz_decides(conn, lic.licence_id, "no-objection")
    # weeks may pass waiting for the transit State: meanwhile the broker is struck off, the exporter suspended
    async with conn.transaction():
        await parties.change_party_status(conn, p.broker, StatusChange(status="revoked", reason="Art. 15"), actor=ACTOR)
        await parties.change_party_status(
            conn, p.exporter, StatusChange(status="suspended", reason="audit"), actor=ACTOR
        )
    assert await issue_unmet(conn, settings, lic.licence_id) == [
        ("party-not-active", None),
        ("broker-not-active", None),
    ]
    async with conn.transaction():
        await parties.change_party_status(
            conn, p.exporter, StatusChange(status="active", reason="cleared"), actor=ACTOR
        )
    assert [gate.gate for gate in await licences.pending_gates(conn, lic.licence_id, today=TODAY)] == [
        "broker-not-active"
    ]


async def test_a_firearm_reported_stolen_after_the_draft_stops_the_issue_until_it_is_recovered(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """Art. 10: the draft was judged when it was written; the licence is issued only for firearms still here.

    A rifle on the pending licence reported stolen before the issue was licensed for export all the same (the
    customs check would hold it at the border, on a licence that should not have been issued for it).
    """
    lic = await _pending(conn, settings)
    for state in lic.licence.transit_states:
        await no_objection(conn, lic.licence_id, state)
    registered = await items.register_item(conn, rifle("ssg08 002"), actor=ACTOR, today=TODAY)
    stolen = NewEvent(event="stolen", occurred_on=TODAY)
    await item_events.record_event(conn, registered.item_id, stolen, actor=ACTOR, today=TODAY)
    assert await issue_unmet(conn, settings, lic.licence_id) == [("item-not-exportable", None)]
    shown = await licences.pending_gates(conn, lic.licence_id, today=TODAY)
    assert [gate.gate for gate in shown] == ["item-not-exportable"]
    assert "SSG08-002" in shown[0].detail
    recovered = NewEvent(event="recovered", occurred_on=TODAY)
    await item_events.record_event(conn, registered.item_id, recovered, actor=ACTOR, today=TODAY)
    async with conn.transaction():
        issued = await licences.transition(
            conn, licence_id=lic.licence_id, to="issued", actor=ACTOR, reason="recovered", settings=settings
        )
    assert issued.status == "issued"
