"""The exchange wired to the licensing area: own licences send their notices; received ones feed the gates."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest

from firearms import bootstrap, checks, consents, db, licence_reads, licence_versions, licence_views, licences
from firearms.canonical import format_time, parse_time
from firearms.check_rules import CheckRequest
from firearms.errors import ConflictError, InvalidInputError
from firearms.exchange import inbox, trust
from firearms.exchange.protocol import decode_receipt
from firearms.licence_rules import DraftLine
from firearms.settings import Settings
from firearms.signing import SigningKey, b64url_encode
from firearms.store import received as received_store
from tests.check_helpers import check_body
from tests.exchange_fixtures import clone_template, receiver
from tests.exchange_util import AT_KEY, DE_KEY, OTHER_KEY, VECTORS, envelope, trust_cz_and_de
from tests.licensing_helpers import (
    ACTOR,
    LINES,
    TODAY,
    Parties,
    export_draft,
    issue_unmet,
    issued_export,
    no_objection,
    register_parties,
)


@pytest.fixture
async def at(conn: db.Conn, initialised: bootstrap.Initialised) -> Parties:
    """AT trusting CZ (the OTHER vector key) and DE (its vector key); registered parties."""
    await trust_cz_and_de(conn)
    return await register_parties(conn)


async def _outbox(conn: db.Conn) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT recipient, type, body, in_reply_to FROM notice_outbox ORDER BY created_at, sequence"
    )
    return [dict(row) for row in rows]


async def _receive(conn: db.Conn, settings: Settings, raw: bytes) -> tuple[str, str | None]:
    async with conn.transaction():
        delivered = await inbox.receive(conn, raw, state="AT", home=settings.home, time_zone=settings.time_zone)
    receipt = decode_receipt(delivered.receipt).receipt
    return receipt.status, receipt.reason


async def _submitted(conn: db.Conn, settings: Settings, at: Parties) -> tuple[licence_views.Licence, str]:
    """An export draft to CZ's route submitted (pending), and the id of the consent request it sent CZ."""
    async with conn.transaction():
        draft = await licence_versions.create_draft(conn, export_draft(at), settings=settings, actor=ACTOR)
        await licences.transition(
            conn, licence_id=draft.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )
    return draft, await conn.fetchval("SELECT notice_id::text FROM notice_outbox")


async def test_issuing_and_revoking_an_export_licence_tell_every_state_concerned(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    issued = await issued_export(conn, settings, at)
    sent = await _outbox(conn)
    assert [(row["recipient"], row["type"]) for row in sent] == [
        ("CZ", "transit-consent.requested"),
        ("DE", "export-licence.issued"),
        ("CZ", "export-licence.issued"),
    ]
    wire = sent[1]["body"]["licence"]
    assert (wire["number"], wire["status"], wire["version"]) == (issued.licence.number, "issued", 1)
    assert msgspec.convert(wire, type(issued.licence)).lines == issued.licence.lines
    async with conn.transaction():
        await licences.transition(conn, licence_id=issued.licence_id, to="suspended", actor=ACTOR, reason="audit")
        await licences.transition(conn, licence_id=issued.licence_id, to="revoked", actor=ACTOR, reason="fraud")
    changes = [row for row in await _outbox(conn) if row["type"] == "licence.status-changed"]
    assert [(row["recipient"], row["body"]["status"]) for row in changes] == [
        ("DE", "suspended"),
        ("CZ", "suspended"),
        ("DE", "revoked"),
        ("CZ", "revoked"),
    ]
    assert changes[-1]["body"]["reason"] == "fraud"


async def test_reinstatement_sends_the_version_amended_while_suspended(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    issued = await issued_export(conn, settings, at)
    async with conn.transaction():
        await licences.transition(conn, licence_id=issued.licence_id, to="suspended", actor=ACTOR, reason="audit")
        await licences.transition(
            conn, licence_id=issued.licence_id, to="issued", actor=ACTOR, reason="cleared", settings=settings
        )
    reinstated = await _outbox(conn)
    assert [(row["type"], row["body"].get("status")) for row in reinstated[-2:]] == [
        ("licence.status-changed", "issued"),
        ("licence.status-changed", "issued"),
    ]  # nothing amended: the partners have the content already
    async with conn.transaction():
        await licences.transition(conn, licence_id=issued.licence_id, to="suspended", actor=ACTOR, reason="audit")
        amended = await licence_versions.amend(
            conn, issued.licence_id, export_draft(at, reason="new consignee address"), settings=settings, actor=ACTOR
        )
    assert amended.version == 2
    assert (await _outbox(conn))[-1]["type"] == "licence.status-changed"  # the amendment itself is not sent
    async with conn.transaction():
        await licences.transition(
            conn, licence_id=issued.licence_id, to="issued", actor=ACTOR, reason="cleared", settings=settings
        )
    sent = (await _outbox(conn))[len(reinstated) + 2 :]
    assert [(row["recipient"], row["type"]) for row in sent] == [
        ("DE", "export-licence.issued"),
        ("CZ", "export-licence.issued"),
        ("DE", "licence.status-changed"),
        ("CZ", "licence.status-changed"),
    ]
    assert {row["body"]["licence"]["version"] for row in sent[:2]} == {2}
    assert {row["body"]["licence"]["status"] for row in sent[:2]} == {"issued"}


async def test_received_no_objection_satisfies_the_transit_gate(conn: db.Conn, settings: Settings, at: Parties) -> None:
    async with conn.transaction():
        draft = await licence_versions.create_draft(conn, export_draft(at), settings=settings, actor=ACTOR)
        await licences.transition(
            conn, licence_id=draft.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
        )
    (request,) = await _outbox(conn)
    assert request["type"] == "transit-consent.requested"
    assert request["body"]["licence"]["status"] == "pending"
    assert request["body"]["shipment_window"] == {
        "from": draft.licence.valid_from.isoformat(),
        "to": draft.licence.expires_on.isoformat(),
    }
    request_id = await conn.fetchval("SELECT notice_id::text FROM notice_outbox")
    with pytest.raises(ConflictError) as blocked:
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=draft.licence_id, to="issued", actor=ACTOR, reason="try", settings=settings
            )
    assert "transit-consent-missing" in str(blocked.value.facts)
    decision = {"licence_number": draft.licence.number, "decision": "no-objection", "reason": None, "valid_until": None}
    raw = envelope(
        OTHER_KEY, sender="CZ", recipient="AT", type_="transit-consent.decided", body=decision, in_reply_to=request_id
    )
    assert await _receive(conn, settings, raw) == ("accepted", None)
    latest = await consents.latest_decisions(conn, draft.licence_id)
    assert (latest["CZ"].decision, latest["CZ"].source) == ("no-objection", "notice")
    async with conn.transaction():
        issued = await licences.transition(
            conn, licence_id=draft.licence_id, to="issued", actor=ACTOR, reason="gates hold", settings=settings
        )
    assert issued.status == "issued"


async def test_the_licensing_record_of_a_received_decision_keeps_its_confidentiality(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """Art. 12(5), PROTOCOL §3: the receiver keeps the level with the record -- the received copy and the decision
    recorded on the own licence (what the gate and the officers read); an officer's own record carries none.

    Before, the licensing side's ``transit_consent`` kept the reason and no level: the consents read and the
    gate quoting the objection showed a confidential reason as if it had none.
    """
    draft, request_id = await _submitted(conn, settings, at)
    objection = {
        "licence_number": draft.licence.number,
        "decision": "objection",
        "reason": "the consignee is under investigation here",
        "valid_until": None,
    }
    raw = envelope(
        OTHER_KEY,
        sender="CZ",
        recipient="AT",
        type_="transit-consent.decided",
        body=objection,
        in_reply_to=request_id,
        confidentiality="confidential",
    )
    assert await _receive(conn, settings, raw) == ("accepted", None)
    (row,) = await received_store.list_consent_decisions(conn, draft.licence.number)
    assert (row["reason"], row["confidentiality"]) == ("the consignee is under investigation here", "confidential")
    latest = (await consents.latest_decisions(conn, draft.licence_id))["CZ"]
    assert (latest.source, latest.reason, latest.confidentiality) == (
        "notice",
        "the consignee is under investigation here",
        "confidential",
    )
    (listed,) = await consents.list_decisions(conn, draft.licence_id, after=0, limit=10)
    assert listed.confidentiality == "confidential"
    (gate,) = [
        gate
        for gate in await licences.pending_gates(conn, draft.licence_id, today=TODAY)
        if gate.gate == "transit-consent-objected"
    ]
    assert (gate.detail, gate.confidentiality) == (
        "CZ objected: the consignee is under investigation here",
        "confidential",
    )
    entry = await conn.fetchval(
        "SELECT payload FROM journal_entry WHERE action = 'transit-consent.objection' ORDER BY entry_id DESC LIMIT 1"
    )
    assert entry["confidentiality"] == "confidential"
    async with conn.transaction():
        own = await consents.record_decision(
            conn,
            licence_id=draft.licence_id,
            transit_state="CZ",
            decision="no-objection",
            decided_on=TODAY,
            valid_until=None,
            reason=None,
            source="officer",
            today=TODAY,
            actor=ACTOR,
        )
    assert own.confidentiality is None
    assert await licences.pending_gates(conn, draft.licence_id, today=TODAY) == []


@pytest.mark.parametrize(("zone", "dated"), [("UTC", TODAY - dt.timedelta(days=1)), ("Europe/Vienna", TODAY)])
async def test_a_received_decision_is_dated_by_the_day_it_was_sent_in_the_registry_zone(
    zone: str, dated: dt.date, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    settings = msgspec.structs.replace(settings, time_zone=ZoneInfo(zone))
    draft, request_id = await _submitted(conn, settings, at)
    sent = dt.datetime.combine(TODAY - dt.timedelta(days=1), dt.time(23, 30), tzinfo=dt.UTC)  # 00:30 in Vienna
    decision = {"licence_number": draft.licence.number, "decision": "no-objection", "reason": None, "valid_until": None}
    raw = envelope(
        OTHER_KEY,
        sender="CZ",
        recipient="AT",
        type_="transit-consent.decided",
        body=decision,
        created_at=format_time(sent),
        in_reply_to=request_id,
    )
    assert await _receive(conn, settings, raw) == ("accepted", None)
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decided_on == dated


async def test_received_objection_blocks_issue_and_unknown_licence_is_rejected(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    draft, request_id = await _submitted(conn, settings, at)
    objection = {
        "licence_number": draft.licence.number,
        "decision": "objection",
        "reason": "embargo",
        "valid_until": None,
    }
    raw = envelope(
        OTHER_KEY, sender="CZ", recipient="AT", type_="transit-consent.decided", body=objection, in_reply_to=request_id
    )
    assert await _receive(conn, settings, raw) == ("accepted", None)
    with pytest.raises(ConflictError) as blocked:
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=draft.licence_id, to="issued", actor=ACTOR, reason="try", settings=settings
            )
    assert "transit-consent-objected" in str(blocked.value.facts)
    unknown = {**objection, "licence_number": "AT-EXP-2026-999999"}
    raw = envelope(
        OTHER_KEY,
        sender="CZ",
        recipient="AT",
        sequence=2,
        type_="transit-consent.decided",
        body=unknown,
        in_reply_to=request_id,
    )
    assert await _receive(conn, settings, raw) == ("rejected", "unknown-licence")


async def test_consent_answers_the_version_it_was_asked_about(conn: db.Conn, settings: Settings, at: Parties) -> None:
    """Amending a pending licence asks CZ again; a late answer to the first request does not open the gate."""
    draft, first = await _submitted(conn, settings, at)
    rifles, cartridges = export_draft(at).lines
    more = msgspec.structs.replace(cartridges, quantity=8000)
    async with conn.transaction():
        amended = await licence_versions.amend(
            conn,
            draft.licence_id,
            export_draft(at, reason="the importer ordered more", lines=[rifles, more]),
            settings=settings,
            actor=ACTOR,
        )
    requests = [row for row in await _outbox(conn) if row["type"] == "transit-consent.requested"]
    assert [(row["recipient"], row["body"]["licence"]["version"]) for row in requests] == [("CZ", 1), ("CZ", 2)]
    assert requests[1]["body"]["licence"]["lines"][1]["quantity"] == 8000
    (request,) = await consents.list_requests(conn, draft.licence_id)
    assert request.licence_version == amended.licence.version == 2
    second = await conn.fetchval(
        "SELECT notice_id::text FROM notice_outbox WHERE (body -> 'licence' ->> 'version')::int = 2"
    )

    def answer(sequence: int, in_reply_to: str | None) -> bytes:
        body = {"licence_number": draft.licence.number, "decision": "no-objection", "reason": None, "valid_until": None}
        return envelope(
            OTHER_KEY,
            sender="CZ",
            recipient="AT",
            sequence=sequence,
            type_="transit-consent.decided",
            body=body,
            in_reply_to=in_reply_to,
        )

    # CZ said yes to 800 cartridges; that says nothing about 8,000.
    assert await _receive(conn, settings, answer(1, first)) == ("accepted", None)
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].licence_version == 1
    assert await issue_unmet(conn, settings, draft.licence_id) == [("transit-consent-outdated", "CZ")]
    # An answer that names no request of ours, or another licence's, is rejected and records nothing.
    assert await _receive(conn, settings, answer(2, None)) == ("rejected", "unknown-request")
    assert await _receive(conn, settings, answer(3, str(uuid.uuid4()))) == ("rejected", "unknown-request")
    assert len(await consents.list_decisions(conn, draft.licence_id, after=0, limit=10)) == 1
    # The answer to the second request opens the gate; a later objection to the first (a withdrawal of the
    # no-objection to version 1) is taken but does not close it: the consent to version 2 is another decision.
    assert await _receive(conn, settings, answer(4, second)) == ("accepted", None)
    objection = envelope(
        OTHER_KEY,
        sender="CZ",
        recipient="AT",
        sequence=5,
        type_="transit-consent.decided",
        body={"licence_number": draft.licence.number, "decision": "objection", "reason": "late", "valid_until": None},
        in_reply_to=first,
    )
    assert await _receive(conn, settings, objection) == ("accepted", None)
    latest = (await consents.latest_decisions(conn, draft.licence_id))["CZ"]
    assert (latest.decision, latest.licence_version) == ("no-objection", 2)
    async with conn.transaction():
        issued = await licences.transition(
            conn, licence_id=draft.licence_id, to="issued", actor=ACTOR, reason="gates hold", settings=settings
        )
    assert issued.status == "issued"


async def test_received_import_authorisation_feeds_the_gate_and_its_revocation_blocks(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    authorisation = {
        **VECTORS["notice"]["envelope"]["notice"]["body"]["licence"],
        "number": "DE-IMP-2026-42",
        "issuing_state": "DE",
        "kind": "import",
        "transit_states": [],
        "import_authorisation": None,
        "valid_from": TODAY.isoformat(),
        "expires_on": (TODAY + dt.timedelta(days=360)).isoformat(),
    }
    raw = envelope(
        DE_KEY, sender="DE", recipient="AT", type_="import-authorisation.issued", body={"licence": authorisation}
    )
    assert await _receive(conn, settings, raw) == ("accepted", None)
    received = await licence_reads.find_licence(conn, "DE", "DE-IMP-2026-42")
    assert (received.origin, received.status) == ("received", "issued")
    revoked = {
        "licence_number": "DE-IMP-2026-42",
        "issuing_state": "DE",
        "version": 1,
        "status": "revoked",
        "reason": "importer lost its licence",
        "effective_at": "2026-11-29T10:00:00Z",
    }
    raw = envelope(DE_KEY, sender="DE", recipient="AT", sequence=2, type_="licence.status-changed", body=revoked)
    assert await _receive(conn, settings, raw) == ("accepted", None)
    assert (await licence_reads.find_licence(conn, "DE", "DE-IMP-2026-42")).status == "revoked"
    with pytest.raises(ConflictError) as blocked:
        await issued_export(conn, settings, at)
    assert "import-authorisation-not-valid" in str(blocked.value.facts)


async def test_a_state_is_added_to_an_issued_route_by_suspending_amending_and_reinstating(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """The route of an issued licence changes only while it cannot be used; the new State consents first."""
    issued = await issued_export(conn, settings, at)
    via_sk = export_draft(at, route=["AT", "CZ", "SK", "DE"], reason="the carrier goes through Slovakia")
    with pytest.raises(ConflictError) as refused:
        async with conn.transaction():
            await licence_versions.amend(conn, issued.licence_id, via_sk, settings=settings, actor=ACTOR)
    assert [(gate["gate"], gate["state"]) for gate in refused.value.facts["unmet"]] == [
        ("transit-consent-missing", "SK")
    ]
    assert (await licence_reads.get_licence(conn, issued.licence_id)).licence.version == issued.licence.version
    async with conn.transaction():
        await licences.transition(
            conn, licence_id=issued.licence_id, to="suspended", actor=ACTOR, reason="route change", settings=settings
        )
        amended = await licence_versions.amend(conn, issued.licence_id, via_sk, settings=settings, actor=ACTOR)
    assert (amended.status, amended.licence.transit_states) == ("suspended", ["CZ", "SK"])
    requests = {
        request.transit_state: request.licence_version
        for request in await consents.list_requests(conn, issued.licence_id)
    }
    # SK is asked about the new version; CZ's consent to the content it was asked about still stands.
    assert requests == {"CZ": 1, "SK": amended.licence.version}
    assert await issue_unmet(conn, settings, issued.licence_id) == [("transit-consent-missing", "SK")]
    async with conn.transaction():
        await no_objection(conn, issued.licence_id, "SK")
        back = await licences.transition(
            conn, licence_id=issued.licence_id, to="issued", actor=ACTOR, reason="SK consented", settings=settings
        )
    assert (back.status, back.licence.version) == ("issued", amended.licence.version)
    # The new version reaches the States concerned that are on the trust list (SK is not).
    sent = [
        (row["recipient"], row["body"]["licence"]["version"], row["body"]["licence"]["transit_states"])
        for row in await _outbox(conn)
        if row["type"] == "export-licence.issued" and row["body"]["licence"]["version"] == amended.licence.version
    ]
    assert sorted(sent) == [
        ("CZ", amended.licence.version, ["CZ", "SK"]),
        ("DE", amended.licence.version, ["CZ", "SK"]),
    ]


async def test_a_state_put_back_on_a_suspended_route_is_asked_again(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """CZ left the route and came back: it is new on the route, so its consent to version 1 does not count."""
    issued = await issued_export(conn, settings, at)
    async with conn.transaction():
        await licences.transition(
            conn, licence_id=issued.licence_id, to="suspended", actor=ACTOR, reason="route change", settings=settings
        )
        await licence_versions.amend(
            conn,
            issued.licence_id,
            export_draft(at, route=["AT", "DE"], reason="straight to Germany"),
            settings=settings,
            actor=ACTOR,
        )
        back = await licence_versions.amend(
            conn,
            issued.licence_id,
            export_draft(at, route=["AT", "CZ", "DE"], reason="through Czechia after all"),
            settings=settings,
            actor=ACTOR,
        )
    (request,) = await consents.list_requests(conn, issued.licence_id)
    assert (request.transit_state, request.licence_version) == ("CZ", back.licence.version)
    requests = [row for row in await _outbox(conn) if row["type"] == "transit-consent.requested"]
    assert [(row["recipient"], row["body"]["licence"]["version"]) for row in requests][-1] == (
        "CZ",
        back.licence.version,
    )
    assert await issue_unmet(conn, settings, issued.licence_id) == [("transit-consent-outdated", "CZ")]


async def test_more_goods_on_an_issued_licence_wait_for_the_transit_states_consent(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """CZ consented to 800 cartridges: 8,000 need its consent again, which an issued licence cannot wait for."""
    issued = await issued_export(conn, settings, at)
    rifles, cartridges = export_draft(at).lines
    more = export_draft(
        at, reason="the importer ordered more", lines=[rifles, msgspec.structs.replace(cartridges, quantity=8000)]
    )
    with pytest.raises(ConflictError) as refused:
        async with conn.transaction():
            await licence_versions.amend(conn, issued.licence_id, more, settings=settings, actor=ACTOR)
    assert refused.value.code == "amendment-needs-consent"
    assert refused.value.facts["asks_more"] == ["line 2 rises from 800 to 8000"]
    assert (await licence_reads.get_licence(conn, issued.licence_id)).licence.version == issued.licence.version
    # Fewer cartridges ask nothing more: amended while issued, CZ's consent still covers it.
    fewer = export_draft(
        at, reason="part of the order cancelled", lines=[rifles, msgspec.structs.replace(cartridges, quantity=500)]
    )
    async with conn.transaction():
        smaller = await licence_versions.amend(conn, issued.licence_id, fewer, settings=settings, actor=ACTOR)
    assert smaller.status == "issued"
    # Suspended, the licence takes the larger content; CZ is asked about it and the reinstatement waits.
    async with conn.transaction():
        await licences.transition(
            conn, licence_id=issued.licence_id, to="suspended", actor=ACTOR, reason="larger order", settings=settings
        )
        larger = await licence_versions.amend(conn, issued.licence_id, more, settings=settings, actor=ACTOR)
    (request,) = await consents.list_requests(conn, issued.licence_id)
    assert (request.transit_state, request.licence_version) == ("CZ", larger.licence.version)
    asked = [row for row in await _outbox(conn) if row["type"] == "transit-consent.requested"]
    assert asked[-1]["body"]["licence"]["lines"][1]["quantity"] == 8000
    assert await issue_unmet(conn, settings, issued.licence_id) == [("transit-consent-outdated", "CZ")]
    async with conn.transaction():
        await no_objection(conn, issued.licence_id, "CZ")
        back = await licences.transition(
            conn, licence_id=issued.licence_id, to="issued", actor=ACTOR, reason="CZ consented", settings=settings
        )
    assert (back.status, back.licence.lines[1].quantity) == ("issued", 8000)


async def test_an_issued_licence_may_return_to_what_its_transit_states_consented_to(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """CZ consented to 800 cartridges; taken down to 500, the licence may go back to 800 without asking CZ again."""
    issued = await issued_export(conn, settings, at)
    rifles, cartridges = export_draft(at).lines
    for quantity, reason in ((500, "part of the order cancelled"), (800, "the cancellation withdrawn")):
        draft = export_draft(at, reason=reason, lines=[rifles, msgspec.structs.replace(cartridges, quantity=quantity)])
        async with conn.transaction():
            amended = await licence_versions.amend(conn, issued.licence_id, draft, settings=settings, actor=ACTOR)
        assert (amended.status, amended.licence.lines[1].quantity) == ("issued", quantity)
    # Above what CZ consented to is still refused, whatever the version before said.
    more = export_draft(at, reason="larger", lines=[rifles, msgspec.structs.replace(cartridges, quantity=801)])
    with pytest.raises(ConflictError) as refused:
        async with conn.transaction():
            await licence_versions.amend(conn, issued.licence_id, more, settings=settings, actor=ACTOR)
    assert refused.value.facts["asks_more"] == ["line 2 rises from 800 to 801"]


async def test_an_issued_licence_is_not_taken_off_a_states_hands_without_suspending_it(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    # CZ received version 1 (issued). A version 2 straight AT -> DE never reaches CZ (it refuses a licence that
    # does not name it), so CZ would keep version 1 as issued and its customs clear goods under it
    issued = await issued_export(conn, settings, at)
    before = await _outbox(conn)
    with pytest.raises(ConflictError) as refused:
        async with conn.transaction():
            await licence_versions.amend(
                conn,
                issued.licence_id,
                export_draft(at, route=["AT", "DE"], reason="direct route"),
                settings=settings,
                actor=ACTOR,
            )
    assert (refused.value.code, refused.value.facts["leaves"]) == ("route-change-needs-suspension", ["CZ"])
    assert (await licence_reads.get_licence(conn, issued.licence_id)).version == 1
    assert await _outbox(conn) == before


async def test_a_state_taken_off_a_suspended_route_is_not_told_the_licence_is_back(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    issued = await issued_export(conn, settings, at)
    async with conn.transaction():
        await licences.transition(conn, licence_id=issued.licence_id, to="suspended", actor=ACTOR, reason="reroute")
        await licence_versions.amend(
            conn,
            issued.licence_id,
            export_draft(at, route=["AT", "DE"], reason="direct route"),
            settings=settings,
            actor=ACTOR,
        )
        await licences.transition(
            conn, licence_id=issued.licence_id, to="issued", actor=ACTOR, reason="rerouted", settings=settings
        )
        await licences.transition(conn, licence_id=issued.licence_id, to="revoked", actor=ACTOR, reason="fraud")
    changes = [row for row in await _outbox(conn) if row["type"] == "licence.status-changed"]
    # CZ keeps version 1 suspended (it is no longer on the route) until it hears of the revocation
    assert [(row["recipient"], row["body"]["status"]) for row in changes] == [
        ("DE", "suspended"),
        ("CZ", "suspended"),
        ("DE", "issued"),
        ("DE", "revoked"),
        ("CZ", "revoked"),
    ]


async def test_a_transit_state_taken_off_a_suspended_route_hears_that_the_licence_no_longer_concerns_it(
    conn: db.Conn, settings: Settings, at: Parties, pg_admin_uri: str, tmp_path: Path
) -> None:
    """AT suspends, drops SK from the route and reinstates: SK's record must not stay suspended for ever.

    What AT queues for SK is relayed to an SK registry of its own (signed with AT's vector key, which SK
    trusts), whose customs then refuse the licence ``state-not-on-route``.
    """
    async with conn.transaction():
        await trust.add_peer(
            conn,
            own_state="AT",
            state="SK",
            base_url="http://sk.example",
            public_key=b64url_encode(SigningKey.generate().public_key),
            not_before=parse_time("2026-01-01T00:00:00Z"),
            actor="test",
        )
    issued = await issued_export(conn, settings, at, route=["AT", "CZ", "SK", "DE"])
    async with conn.transaction():
        await licences.transition(
            conn, licence_id=issued.licence_id, to="suspended", actor=ACTOR, reason="route change", settings=settings
        )
        await licence_versions.amend(
            conn, issued.licence_id, export_draft(at, reason="not through Slovakia"), settings=settings, actor=ACTOR
        )
        back = await licences.transition(
            conn, licence_id=issued.licence_id, to="issued", actor=ACTOR, reason="route changed", settings=settings
        )
    assert (back.status, back.licence.version, back.licence.transit_states) == ("issued", 2, ["CZ"])
    to_sk = [row for row in await _outbox(conn) if row["recipient"] == "SK"]
    assert [(row["type"], row["body"].get("status") or row["body"]["licence"]["version"]) for row in to_sk] == [
        ("transit-consent.requested", 1),
        ("export-licence.issued", 1),
        ("licence.status-changed", "suspended"),
        ("export-licence.issued", 2),  # the version that no longer names SK
    ]
    assert to_sk[-1]["body"]["licence"]["transit_states"] == ["CZ"]
    # CZ and DE hear the new version and the reinstatement, as before
    last = [(row["recipient"], row["type"]) for row in (await _outbox(conn))[-5:]]
    assert sorted(last) == [
        ("CZ", "export-licence.issued"),
        ("CZ", "licence.status-changed"),
        ("DE", "export-licence.issued"),
        ("DE", "licence.status-changed"),
        ("SK", "export-licence.issued"),
    ]

    sk_url = await clone_template(pg_admin_uri)
    sk_settings, sk = await receiver("SK", sk_url, tmp_path / "sk")
    try:
        for sequence, row in enumerate(to_sk, start=1):
            raw = envelope(AT_KEY, recipient="SK", sequence=sequence, type_=row["type"], body=row["body"])
            async with sk.transaction():
                delivered = await inbox.receive(
                    sk, raw, state="SK", home=sk_settings.home, time_zone=sk_settings.time_zone
                )
            receipt = decode_receipt(delivered.receipt).receipt
            assert (receipt.status, receipt.reason) == ("accepted", None), row["type"]
        record = await licence_reads.find_licence(sk, "AT", issued.licence.number)
        assert (record.status, record.licence.version, record.licence.transit_states) == ("issued", 2, ["CZ"])
        async with sk.transaction():
            answer = await checks.perform_check(
                sk,
                msgspec.convert(
                    check_body(licence_number=issued.licence.number, crossing_point="SK-Kittsee"), CheckRequest
                ),
                state="SK",
                time_zone=sk_settings.time_zone,
                actor="officer:sk",
            )
        assert (answer.verdict, [reason.code for reason in answer.reasons]) == ("refuse", ["state-not-on-route"])
    finally:
        await sk.close()
        admin = await asyncpg.connect(pg_admin_uri)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{sk_url.rsplit("/", 1)[1].split("?")[0]}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_a_licence_whose_notice_would_be_no_envelope_is_refused_and_nothing_changes(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """PROTOCOL §3: an envelope is at most 256 KiB, and every partner refuses a larger one (check 1).

    A licence of 140 lines described at length (2000 characters each) is a notice of about 290 KiB. Before, its
    consent request was queued, signed and refused ``malformed-notice`` by CZ on every attempt, for ever, and every
    later notice to CZ waited behind it (strictly in order). The change that would send it is refused instead.
    """
    lines = [
        DraftLine(**(msgspec.structs.asdict(LINES[1]) | {"line": number, "description": "Lot " + "x" * 1996}))
        for number in range(1, 141)
    ]
    async with conn.transaction():
        draft = await licence_versions.create_draft(conn, export_draft(at, lines=lines), settings=settings, actor=ACTOR)
    with pytest.raises(InvalidInputError) as refused:
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=draft.licence_id, to="pending", actor=ACTOR, reason="submit", settings=settings
            )
    assert refused.value.code == "notice-too-large"
    assert refused.value.facts["max_bytes"] == 256 * 1024
    assert await conn.fetchval("SELECT status FROM licence WHERE licence_id = $1", draft.licence_id) == "draft"
    assert await _outbox(conn) == []
