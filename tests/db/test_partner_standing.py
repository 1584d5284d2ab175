"""A partner speaks only for what is its own: a trusted, validly signing partner gone rogue (PROTOCOL §5).

What each notice type may change is its "from -> to": the State that sends it has that role in the licence.

Each notice here passes checks 1-8 (the partner's key is on the trust list and its signature verifies); what it
asks for is not the sender's to give, so it is stored ``rejected`` with a reason and changes nothing else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest

from firearms import checks, consents, db, documents, licence_reads, licence_views, licences
from firearms.check_rules import CheckRequest
from firearms.errors import ConflictError
from firearms.exchange import inbox
from firearms.exchange.protocol import decode_receipt
from firearms.licence_rules import DraftImportAuthorisation
from firearms.settings import Settings
from firearms.signing import SigningKey
from firearms.store import received as received_store
from tests.check_helpers import check_body
from tests.db.test_exchange_licensing import _receive, _submitted, at
from tests.exchange_fixtures import Client, cz
from tests.exchange_util import AT_KEY, DE_KEY, OTHER_KEY, VECTORS, envelope
from tests.licensing_helpers import ACTOR, TODAY, Parties, issued_export
from tests.races import Work, race

__all__ = ["at", "cz"]

VECTOR_LICENCE: dict[str, Any] = VECTORS["notice"]["envelope"]["notice"]["body"]["licence"]
# DE's import authorisation for goods from AT: what DE may tell AT (PROTOCOL §5: importing -> exporting State).
AUTHORISATION: dict[str, Any] = {
    **VECTOR_LICENCE,
    "number": "DE-IMP-2026-42",
    "issuing_state": "DE",
    "kind": "import",
    "transit_states": [],
    "import_authorisation": None,
    "valid_from": TODAY.isoformat(),
    "expires_on": (TODAY + dt.timedelta(days=360)).isoformat(),
}


def _from_de(sequence: int, type_: str, body: dict[str, Any]) -> bytes:
    return envelope(DE_KEY, sender="DE", recipient="AT", sequence=sequence, type_=type_, body=body)


async def _rows(conn: db.Conn, table: str) -> int:
    count: int = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608  # a table name of this test
    return count


def _answer(licence_number: str, request_id: str, sequence: int, decision: str) -> bytes:
    body = {"licence_number": licence_number, "decision": decision, "reason": "r", "valid_until": None}
    return envelope(
        OTHER_KEY,
        sender="CZ",
        recipient="AT",
        sequence=sequence,
        type_="transit-consent.decided",
        body=body,
        in_reply_to=request_id,
    )


@pytest.mark.parametrize(("first", "second"), [("objection", "no-objection"), ("no-objection", "no-objection")])
async def test_a_transit_state_answers_a_request_once_and_a_second_answer_changes_nothing(
    first: str, second: str, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """A decision stands (as an officer's here: ``consent-already-decided``); the exporting State asks again.

    Before, every answer to the same request was recorded and the latest counted: a transit State that objected
    could turn its objection into a no-objection on a request already answered.
    """
    draft, request_id = await _submitted(conn, settings, at)

    number = draft.licence.number
    assert await _receive(conn, settings, _answer(number, request_id, 1, first)) == ("accepted", None)
    assert await _receive(conn, settings, _answer(number, request_id, 2, second)) == (
        "rejected",
        "consent-already-decided",
    )
    assert [row.decision for row in await consents.list_decisions(conn, draft.licence_id, after=0, limit=10)] == [first]
    assert [row["decision"] for row in await received_store.list_consent_decisions(conn, number)] == [first]
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decision == first


async def test_a_transit_state_withdraws_its_no_objection_and_then_decides_no_more(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """An objection after a no-objection to the same request is a withdrawal (it asks less of nobody): taken, and
    the transit gate shuts. The objection then stands: a no-objection after it is ``consent-already-decided``."""
    draft, request_id = await _submitted(conn, settings, at)
    number = draft.licence.number
    assert await _receive(conn, settings, _answer(number, request_id, 1, "no-objection")) == ("accepted", None)
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decision == "no-objection"
    assert await _receive(conn, settings, _answer(number, request_id, 2, "objection")) == ("accepted", None)
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decision == "objection"
    for sequence, decision in ((3, "no-objection"), (4, "objection")):
        assert await _receive(conn, settings, _answer(number, request_id, sequence, decision)) == (
            "rejected",
            "consent-already-decided",
        )
    assert [row["decision"] for row in await received_store.list_consent_decisions(conn, number)] == [
        "no-objection",
        "objection",
    ]
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decision == "objection"


@pytest.mark.parametrize(
    "received",
    [
        # a later version of DE's authorisation, for goods from FR: it supersedes the one naming AT
        pytest.param(
            [
                ("import-authorisation.issued", AUTHORISATION),
                ("import-authorisation.issued", {**AUTHORISATION, "version": 2, "exporting_state": "FR"}),
            ],
            id="superseded-for-another-exporter",
        ),
        # DE's export licence to AT under the authorisation's number: no import authorisation at all
        pytest.param(
            [
                (
                    "export-licence.issued",
                    {**AUTHORISATION, "kind": "export", "exporting_state": "DE", "importing_state": "AT"},
                )
            ],
            id="an-export-licence",
        ),
    ],
)
async def test_the_export_gate_opens_only_on_an_import_authorisation_of_goods_from_this_state(
    received: list[tuple[str, dict[str, Any]]], conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """Art. 10(2)(a): the importing State authorised the import of these goods from this State.

    Before, the gate read any issued licence of the importing State under the authorisation's number: one
    authorising an import from another State (a later version DE sent, which supersedes the one naming AT),
    or an export licence of DE's, opened it.
    """
    for sequence, (type_, licence) in enumerate(received, start=1):
        assert await _receive(conn, settings, _from_de(sequence, type_, {"licence": licence})) == ("accepted", None)
    with pytest.raises(ConflictError) as blocked:
        await issued_export(conn, settings, at)
    assert [gate["gate"] for gate in blocked.value.facts["unmet"]] == ["import-authorisation-not-valid"]
    assert await conn.fetchval("SELECT count(*) FROM licence WHERE origin = 'local' AND status = 'issued'") == 0


async def test_only_the_exporting_state_dispatches_and_asks_for_a_confirmation_of_receipt(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """PROTOCOL §5: ``shipment.dispatched`` and ``receipt.confirmation-requested`` come from the exporting State.

    DE issued an import authorisation to AT (AT exports): DE neither dispatches under it nor asks AT, the exporting
    State, to confirm a receipt. Before, both were recorded as a shipment of DE's.
    """
    assert await _receive(conn, settings, _from_de(1, "import-authorisation.issued", {"licence": AUTHORISATION})) == (
        "accepted",
        None,
    )
    dispatched = {
        "licence_number": "DE-IMP-2026-42",
        "shipment_id": "SHP-1",
        "dispatched_at": "2026-11-29T10:00:00Z",
        "items": [{"line": 1, "quantity": 1, "serials": ["SSG08-001"]}],
    }
    asked = {"licence_number": "DE-IMP-2026-42", "shipment_id": "SHP-1"}
    assert await _receive(conn, settings, _from_de(2, "shipment.dispatched", dispatched)) == (
        "rejected",
        "unknown-licence",
    )
    assert await _receive(conn, settings, _from_de(3, "receipt.confirmation-requested", asked)) == (
        "rejected",
        "unknown-licence",
    )
    assert await _rows(conn, "shipment_record") == await _rows(conn, "shipment_dispatch") == 0
    assert await _rows(conn, "notice_outbox") == 0


async def test_a_dispatch_or_a_confirmation_request_reaches_only_a_state_with_a_part_in_the_licence(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """A dispatch goes to the transit and importing States, a confirmation request to the importing State only.

    DE's export licence through AT to FR (AT a transit State), then its later version to FR without AT. Before,
    both were recorded at AT.
    """
    export = {
        **AUTHORISATION,
        "number": "DE-EXP-2026-7",
        "kind": "export",
        "exporting_state": "DE",
        "importing_state": "FR",
        "transit_states": ["AT"],
    }
    asked = {"licence_number": "DE-EXP-2026-7", "shipment_id": "SHP-1"}
    dispatched = {**asked, "dispatched_at": "2026-11-29T10:00:00Z", "items": [{"line": 2, "quantity": 10}]}
    assert await _receive(conn, settings, _from_de(1, "export-licence.issued", {"licence": export})) == (
        "accepted",
        None,
    )
    assert await _receive(conn, settings, _from_de(2, "receipt.confirmation-requested", asked)) == (
        "rejected",
        "not-on-route",
    )
    direct = {**export, "version": 2, "transit_states": []}
    assert await _receive(conn, settings, _from_de(3, "export-licence.issued", {"licence": direct})) == (
        "accepted",
        None,
    )
    assert await _receive(conn, settings, _from_de(4, "shipment.dispatched", dispatched)) == (
        "rejected",
        "not-on-route",
    )
    assert await _rows(conn, "shipment_record") == await _rows(conn, "shipment_dispatch") == 0


async def _to_cz(client: Client, sequence: int, type_: str, body: dict[str, Any]) -> tuple[str, str | None]:
    raw = envelope(AT_KEY, recipient="CZ", sequence=sequence, type_=type_, body=body)
    response = await client.post("/exchange/v1/notices", content=raw)
    assert response.status_code == 202, response.text
    receipt = decode_receipt(response.content).receipt
    return receipt.status, receipt.reason


def _asking(licence: dict[str, Any]) -> dict[str, Any]:
    pending = {**licence, "status": "pending", "issued_at": None}
    return {"licence": pending, "shipment_window": {"from": "2026-12-01", "to": "2026-12-20"}}


@pytest.mark.parametrize("held", ["issued", "asked"])
async def test_a_consent_request_shows_the_officer_the_content_of_the_version_it_names(
    held: str, cz: tuple[Client, db.Conn]
) -> None:
    """A transit State consents to a version: its officer must see that version's content, not other words for it.

    CZ holds version 1 of AT's licence (issued, or asked about before). Before, a request about version 1 with other
    content (one rifle instead of two) was put before the officer, whose no-objection was recorded on version 1 as
    CZ holds it: customs then cleared what the officer never saw (the consent's version is the licence's, so no
    comparison is made); likewise an issued version 2 whose content is not the one a request about version 2
    showed, when CZ held version 1 issued. Now each is ``version-conflict`` (a request about an earlier version
    than the one held ``stale-version``), and nothing is recorded.
    """
    client, conn = cz
    if held == "issued":
        assert await _to_cz(client, 1, "export-licence.issued", {"licence": VECTOR_LICENCE}) == ("accepted", None)
    else:
        assert await _to_cz(client, 1, "transit-consent.requested", _asking(VECTOR_LICENCE)) == ("accepted", None)
    asked_before = await _rows(conn, "consent_request_received")
    lines = [{**VECTOR_LICENCE["lines"][0], "quantity": 1, "serials": ["SSG08-001"]}, *VECTOR_LICENCE["lines"][1:]]
    other = _asking({**VECTOR_LICENCE, "lines": lines})
    assert await _to_cz(client, 2, "transit-consent.requested", other) == ("rejected", "version-conflict")
    # the same content asked about again is a request as before (a licence put back on a suspended route, say)
    assert await _to_cz(client, 3, "transit-consent.requested", _asking(VECTOR_LICENCE)) == ("accepted", None)
    newer = {**VECTOR_LICENCE, "version": 2, "lines": lines}
    assert await _to_cz(client, 4, "transit-consent.requested", _asking(newer)) == ("accepted", None)
    older = {**VECTOR_LICENCE, "lines": lines}
    expected = "stale-version" if held == "asked" else "version-conflict"  # version 2 is held, or version 1 as issued
    assert await _to_cz(client, 5, "transit-consent.requested", _asking(older)) == ("rejected", expected)
    assert await _rows(conn, "consent_request_received") == asked_before + 2
    # and version 2 issued is the content asked about, not other content under the number asked about
    issued = {**VECTOR_LICENCE, "version": 2}
    assert await _to_cz(client, 6, "export-licence.issued", {"licence": issued}) == ("rejected", "version-conflict")
    assert await conn.fetchval("SELECT version FROM foreign_licence") == (1 if held == "issued" else None)


def _change(number: str, issuing_state: str, status: str, version: int = 1) -> dict[str, Any]:
    return {
        "licence_number": number,
        "issuing_state": issuing_state,
        "version": version,
        "status": status,
        "reason": "said so",
        "effective_at": "2026-11-29T10:00:00Z",
    }


async def test_a_partner_changes_no_licence_of_this_state_nor_of_another_partner(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """PROTOCOL §5: a licence's issuing State alone issues, amends and changes the status of it.

    DE and CZ are trusted and sign validly; neither moves AT's own licence, nor the other's, whatever the body
    names as the issuing State. A number DE gives that AT gave too is DE's licence, beside AT's (licences are
    keyed by issuing State and number), and AT's is what AT's number finds.
    """
    own = await issued_export(conn, settings, at)
    number = own.licence.number
    events = await _rows(conn, "licence_event")
    own_as_des = {**VECTOR_LICENCE, "number": number}  # AT's licence, as DE words it
    des = {
        **AUTHORISATION,
        "number": number,
        "kind": "export",
        "exporting_state": "DE",
        "importing_state": "AT",
        "import_authorisation": None,
    }
    assert await _receive(conn, settings, _from_de(1, "licence.status-changed", _change(number, "AT", "revoked"))) == (
        "rejected",
        "not-issuer",
    )
    assert await _receive(conn, settings, _from_de(2, "export-licence.issued", {"licence": own_as_des})) == (
        "rejected",
        "not-issuer",
    )
    assert await _receive(conn, settings, _from_de(3, "export-licence.issued", {"licence": des})) == ("accepted", None)

    def from_cz(sequence: int, type_: str, body: dict[str, Any]) -> bytes:
        return envelope(OTHER_KEY, sender="CZ", recipient="AT", sequence=sequence, type_=type_, body=body)

    for sequence, issuer, reason in ((1, "DE", "not-issuer"), (2, "AT", "not-issuer"), (3, "CZ", "unknown-licence")):
        change = _change(number, issuer, "revoked")
        assert await _receive(conn, settings, from_cz(sequence, "licence.status-changed", change)) == (
            "rejected",
            reason,
        )
    mine = await licence_reads.find_licence(conn, "AT", number)
    assert (mine.origin, mine.status, mine.licence.version, mine.licence.exporting_state) == (
        "local",
        "issued",
        1,
        "AT",
    )
    theirs = await licence_reads.find_licence(conn, "DE", number)
    assert (theirs.origin, theirs.status, theirs.licence.exporting_state) == ("received", "issued", "DE")
    assert await _rows(conn, "licence_event") == events + 1  # DE's licence received, nothing else
    assert (
        await documents.verify(conn, state="AT", today=TODAY, issuing_state=None, number=number)
    ).issuing_state == "AT"


async def test_a_licence_its_issuer_revoked_is_not_put_back_in_force_by_its_issuer(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """A revoked licence stays revoked (as this registry's own): neither ``issued`` again nor a later version."""
    des = {**AUTHORISATION, "number": "DE-EXP-2026-9", "kind": "export", "exporting_state": "DE"}
    des |= {"importing_state": "AT", "import_authorisation": None}
    assert await _receive(conn, settings, _from_de(1, "export-licence.issued", {"licence": des})) == ("accepted", None)
    revoked = _change("DE-EXP-2026-9", "DE", "revoked")
    assert await _receive(conn, settings, _from_de(2, "licence.status-changed", revoked)) == ("accepted", None)
    again = _change("DE-EXP-2026-9", "DE", "issued")
    assert await _receive(conn, settings, _from_de(3, "licence.status-changed", again)) == (
        "rejected",
        "illegal-transition",
    )
    later = {**des, "version": 2}
    assert await _receive(conn, settings, _from_de(4, "export-licence.issued", {"licence": later})) == (
        "rejected",
        "illegal-transition",
    )
    held = await licence_reads.find_licence(conn, "DE", "DE-EXP-2026-9")
    assert (held.status, held.licence.version) == ("revoked", 1)
    assert tuple(await conn.fetchrow("SELECT status, version FROM foreign_licence") or ()) == ("revoked", 1)


async def test_a_state_not_asked_answers_no_consent_request(conn: db.Conn, settings: Settings, at: Parties) -> None:
    """Only the State a request went to answers it: DE (the importing State, asked nothing) answering AT's request
    to CZ, even naming it, is ``unknown-request``; nothing is recorded and the transit gate still waits for CZ."""
    draft, request_id = await _submitted(conn, settings, at)
    body = {"licence_number": draft.licence.number, "decision": "no-objection", "reason": None, "valid_until": None}
    raw = envelope(
        DE_KEY, sender="DE", recipient="AT", type_="transit-consent.decided", body=body, in_reply_to=request_id
    )
    assert await _receive(conn, settings, raw) == ("rejected", "unknown-request")
    assert await consents.list_decisions(conn, draft.licence_id, after=0, limit=10) == []
    assert await _rows(conn, "consent_decision_received") == 0


async def test_a_partner_revokes_no_key_of_another_state(conn: db.Conn, settings: Settings, at: Parties) -> None:
    """PROTOCOL §6: a registry revokes its own keys. DE naming CZ's key is ``unknown-key``; CZ's notices still pass."""
    revoke = {"key_id": OTHER_KEY.key_id, "revoked_at": "2026-06-01T00:00:00Z", "reason": "compromised"}
    assert await _receive(conn, settings, _from_de(1, "registry.key-revoked", revoke)) == ("rejected", "unknown-key")
    assert await conn.fetchval("SELECT revoked_at FROM peer_key WHERE key_id = $1", OTHER_KEY.key_id) is None
    ping = envelope(OTHER_KEY, sender="CZ", recipient="AT", type_="test.ping")
    assert await _receive(conn, settings, ping) == ("accepted", None)


async def test_a_receipt_is_confirmed_only_into_the_shipment_of_its_own_licence(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """A shipment id this State holds under one licence takes no confirmation under another (as a dispatch's).

    AT exports under two licences, to DE and to CZ, and both shipments were given the id SHP-1 (an id an officer
    types). Before, CZ's confirmation under its own licence was added to the shipment DE had confirmed under the
    other: CZ's items counted as received under DE's licence, and CZ was named as the State that confirmed it.
    """
    to_de = await issued_export(conn, settings, at)
    auth = DraftImportAuthorisation(
        number="CZ-IMP-2026-1", state="CZ", issued_on=TODAY, expires_on=TODAY + dt.timedelta(days=360)
    )
    to_cz = await issued_export(conn, settings, at, importing_state="CZ", route=["AT", "CZ"], import_authorisation=auth)

    def confirmed(key: SigningKey, sender: str, number: str) -> bytes:
        body = {
            "licence_number": number,
            "shipment_id": "SHP-1",
            "received_on": TODAY.isoformat(),
            "customs_document": f"{sender}-DOC-1",
            "items": [{"line": 2, "quantity": 100}],
        }
        return envelope(key, sender=sender, recipient="AT", type_="receipt.confirmed", body=body)

    assert await _receive(conn, settings, confirmed(DE_KEY, "DE", to_de.licence.number)) == ("accepted", None)
    before = await conn.fetchrow("SELECT * FROM shipment_record")
    assert await _receive(conn, settings, confirmed(OTHER_KEY, "CZ", to_cz.licence.number)) == (
        "rejected",
        "shipment-licence-mismatch",
    )
    assert await conn.fetchrow("SELECT * FROM shipment_record") == before
    assert await _rows(conn, "shipment_receipt") == 1


async def test_the_parts_of_one_shipment_carry_no_more_than_the_licence_authorises(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """A shipment is of goods one licence authorises: its parts together hold at most each line's quantity.

    Each part was held to the licence alone: a partner could send parts without end under one shipment id (each
    within the line), and the record summed them past the licence and grew with each, rewritten whole every time.
    Now a part that would take the shipment past a line's quantity is ``item-not-on-licence`` and adds nothing; a
    confirmation repeating one recorded (the same part) still adds nothing and is taken.
    """
    own = await issued_export(conn, settings, at)  # 800 cartridges on line 2

    def confirmed(sequence: int, document: str, quantity: int) -> bytes:
        body = {
            "licence_number": own.licence.number,
            "shipment_id": "SHP-1",
            "received_on": TODAY.isoformat(),
            "customs_document": document,
            "items": [{"line": 2, "quantity": quantity}],
        }
        return envelope(DE_KEY, sender="DE", recipient="AT", sequence=sequence, type_="receipt.confirmed", body=body)

    des = {**AUTHORISATION, "number": "DE-EXP-2026-9", "kind": "export", "exporting_state": "DE"}
    des |= {"importing_state": "AT", "import_authorisation": None}

    def dispatched(sequence: int, quantity: int) -> bytes:
        body = {
            "licence_number": "DE-EXP-2026-9",
            "shipment_id": "SHP-1",
            "dispatched_at": "2026-11-29T10:00:00Z",
            "items": [{"line": 2, "quantity": quantity}],
        }
        return _from_de(sequence, "shipment.dispatched", body)

    assert await _receive(conn, settings, confirmed(1, "DOC-1", 500)) == ("accepted", None)
    assert await _receive(conn, settings, confirmed(2, "DOC-2", 400)) == ("rejected", "item-not-on-licence")
    assert await _receive(conn, settings, confirmed(3, "DOC-1", 500)) == ("accepted", None)  # the same part again
    assert await _receive(conn, settings, confirmed(4, "DOC-3", 300)) == ("accepted", None)
    assert await _receive(conn, settings, confirmed(5, "DOC-4", 1)) == ("rejected", "item-not-on-licence")
    received = await conn.fetchval("SELECT received_items FROM shipment_record WHERE exporting_state = 'AT'")
    assert received == [{"line": 2, "quantity": 800, "serials": []}]
    assert await _receive(conn, settings, _from_de(6, "export-licence.issued", {"licence": des})) == ("accepted", None)
    assert await _receive(conn, settings, dispatched(7, 500)) == ("accepted", None)
    assert await _receive(conn, settings, dispatched(8, 400)) == ("rejected", "item-not-on-licence")
    assert await _receive(conn, settings, dispatched(9, 300)) == ("accepted", None)
    items = await conn.fetchval("SELECT items FROM shipment_record WHERE exporting_state = 'DE'")
    assert items == [{"line": 2, "quantity": 800, "serials": []}]
    assert await _rows(conn, "shipment_dispatch") == 2


async def test_a_firearm_is_in_one_part_of_a_shipment_only(conn: db.Conn, settings: Settings, at: Parties) -> None:
    """A serial named by an earlier part of the same shipment is not taken again by a later part.

    Each part was held to the licence alone, so a second part naming a firearm an earlier part had carried (its
    serial in another spelling, under another customs document) was summed in: the record said two rifles were
    received, both SSG08-001, and the line was full, so the confirmation of the real second rifle was refused.
    """
    own = await issued_export(conn, settings, at)  # line 1: two rifles, SSG08-001 and SSG08-002

    def confirmed(sequence: int, document: str, serial: str) -> bytes:
        body = {
            "licence_number": own.licence.number,
            "shipment_id": "SHP-1",
            "received_on": TODAY.isoformat(),
            "customs_document": document,
            "items": [{"line": 1, "quantity": 1, "serials": [serial]}],
        }
        return envelope(DE_KEY, sender="DE", recipient="AT", sequence=sequence, type_="receipt.confirmed", body=body)

    des = {**AUTHORISATION, "number": "DE-EXP-2026-9", "kind": "export", "exporting_state": "DE"}
    des |= {"importing_state": "AT", "import_authorisation": None}

    def dispatched(sequence: int, serial: str) -> bytes:
        body = {
            "licence_number": "DE-EXP-2026-9",
            "shipment_id": "SHP-1",
            "dispatched_at": "2026-11-29T10:00:00Z",
            "items": [{"line": 1, "quantity": 1, "serials": [serial]}],
        }
        return _from_de(sequence, "shipment.dispatched", body)

    assert await _receive(conn, settings, confirmed(1, "DOC-1", "SSG08-001")) == ("accepted", None)
    assert await _receive(conn, settings, confirmed(2, "DOC-1", "SSG08-001")) == ("accepted", None)  # the same part
    assert await _receive(conn, settings, confirmed(3, "DOC-2", "ssg08 001")) == ("rejected", "item-not-on-licence")
    assert await _receive(conn, settings, confirmed(4, "DOC-3", "SSG08-002")) == ("accepted", None)
    received = await conn.fetchval("SELECT received_items FROM shipment_record WHERE exporting_state = 'AT'")
    assert received == [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}]
    assert await _receive(conn, settings, _from_de(5, "export-licence.issued", {"licence": des})) == ("accepted", None)
    assert await _receive(conn, settings, dispatched(6, "SSG08-001")) == ("accepted", None)
    assert await _receive(conn, settings, dispatched(7, "ssg08 001")) == ("rejected", "item-not-on-licence")
    assert await _receive(conn, settings, dispatched(8, "SSG08-002")) == ("accepted", None)
    items = await conn.fetchval("SELECT items FROM shipment_record WHERE exporting_state = 'DE'")
    assert items == [{"line": 1, "quantity": 2, "serials": ["SSG08-001", "SSG08-002"]}]
    assert await _rows(conn, "shipment_dispatch") == 2


async def test_a_passage_is_reported_only_to_the_exporting_and_importing_states(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """PROTOCOL §5: ``transit.passage-recorded`` goes from a transit State to the exporting and importing States.

    DE exports to FR through CZ and AT: CZ's report of its border check is no business of AT's, another transit
    State. Before, it was recorded at AT as a passage under DE's licence.
    """
    through = {
        **AUTHORISATION,
        "number": "DE-EXP-2026-11",
        "kind": "export",
        "exporting_state": "DE",
        "importing_state": "FR",
        "transit_states": ["CZ", "AT"],
        "import_authorisation": None,
    }
    assert await _receive(conn, settings, _from_de(1, "export-licence.issued", {"licence": through})) == (
        "accepted",
        None,
    )
    passage = {
        "licence_number": "DE-EXP-2026-11",
        "issuing_state": "DE",
        "shipment_id": None,
        "check_id": "CZ-CHECK-1",
        "verdict": "hold",
        "reasons": ["serial-not-on-licence"],
        "checked_at": "2026-11-29T10:00:00Z",
        "crossing_point": "Rozvadov",
        "items": [],
    }
    raw = envelope(OTHER_KEY, sender="CZ", recipient="AT", type_="transit.passage-recorded", body=passage)
    assert await _receive(conn, settings, raw) == ("rejected", "not-on-route")
    assert await _rows(conn, "shipment_passage") == 0


async def test_a_withdrawal_of_the_no_objection_under_an_issued_licence_suspends_it(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """CZ withdraws the no-objection AT's issued licence rests on: the licence no longer clears AT's exit.

    Before, the withdrawal shut only the issue gate: an issued licence went on clearing exits into a transit State
    that had withdrawn its consent. It is suspended (CZ's word, journaled, told to DE and CZ); its reinstatement
    runs the gates, shut while the objection stands.
    """
    draft, request_id = await _submitted(conn, settings, at)
    number = draft.licence.number
    assert await _receive(conn, settings, _answer(number, request_id, 1, "no-objection")) == ("accepted", None)
    async with conn.transaction():
        await licences.transition(
            conn, licence_id=draft.licence_id, to="issued", actor=ACTOR, reason="gates hold", settings=settings
        )
    assert await _receive(conn, settings, _answer(number, request_id, 2, "objection")) == ("accepted", None)
    after = await licence_reads.get_licence(conn, draft.licence_id)
    assert after.status == "suspended"
    told = await conn.fetch(
        "SELECT recipient, body->>'status' AS status FROM notice_outbox WHERE type = 'licence.status-changed'"
        " ORDER BY recipient"
    )
    assert [(row["recipient"], row["status"]) for row in told] == [("CZ", "suspended"), ("DE", "suspended")]
    body = check_body("export", lines=[{"line": 2, "quantity": 100}], licence_number=number, crossing_point="AT-W")
    async with conn.transaction():
        answer = await checks.perform_check(
            conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    assert (answer.verdict, [reason.code for reason in answer.reasons]) == ("refuse", ["licence-suspended"])
    with pytest.raises(ConflictError) as blocked:
        async with conn.transaction():
            await licences.transition(
                conn, licence_id=draft.licence_id, to="issued", actor=ACTOR, reason="reinstate", settings=settings
            )
    assert [gate["gate"] for gate in blocked.value.facts["unmet"]] == ["transit-consent-objected"]


@pytest.mark.parametrize("late", ["objection", "no-objection"])
async def test_a_late_answer_after_the_consent_was_deemed_is_recorded_and_an_objection_suspends_the_licence(
    late: str, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """CZ stayed silent, AT's timer deemed its consent and AT issued; CZ's objection arrives after all.

    Before, the objection was recorded and counted for CZ, but the licence issued on the deemed consent went on
    clearing exits into a State that objects. A late objection is taken as the withdrawal of a consent (a deemed one,
    as a no-objection's is): the licence is suspended, the reason naming the day the consent was deemed, and the
    journal entry of the answer says it came after. A late no-objection is recorded and changes nothing else.
    """
    draft, request_id = await _submitted(conn, settings, at)
    number = draft.licence.number
    asked_on = TODAY - dt.timedelta(days=60)
    await conn.execute("UPDATE transit_consent_request SET requested_on = $1", asked_on)
    deemed_on = consents.add_working_days(asked_on, settings.tacit_consent_days, settings.holidays)
    async with conn.transaction():
        issued = await licences.transition(
            conn, licence_id=draft.licence_id, to="issued", actor=ACTOR, reason="gates hold", settings=settings
        )
    assert issued.status == "issued"
    deemed = (await consents.latest_decisions(conn, draft.licence_id))["CZ"]
    assert (deemed.decision, deemed.decided_on) == ("deemed", deemed_on)

    assert await _receive(conn, settings, _answer(number, request_id, 1, late)) == ("accepted", None)
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decision == late
    entry = await conn.fetchval(
        "SELECT payload FROM journal_entry WHERE action = 'transit-consent.received' ORDER BY entry_id DESC LIMIT 1"
    )
    assert entry["after_deemed_on"] == deemed_on.isoformat()
    after = await licence_reads.get_licence(conn, draft.licence_id)
    if late == "no-objection":
        assert after.status == "issued"
        return
    assert after.status == "suspended"
    reason = await conn.fetchval(
        "SELECT reason FROM licence_event WHERE licence_id = $1 AND to_status = 'suspended'", draft.licence_id
    )
    notice_id = await conn.fetchval("SELECT notice_id FROM consent_decision_received")
    assert (
        reason
        == f"CZ objected to the transit after its consent was deemed on {deemed_on.isoformat()} (notice {notice_id})"
    )
    body = check_body("export", lines=[{"line": 2, "quantity": 100}], licence_number=number, crossing_point="AT-W")
    async with conn.transaction():
        answer = await checks.perform_check(
            conn, msgspec.convert(body, CheckRequest), state="AT", time_zone=dt.UTC, actor="customs:at"
        )
    assert (answer.verdict, [reason.code for reason in answer.reasons]) == ("refuse", ["licence-suspended"])


def _withdrawal(number: str, request_id: str, settings: Settings) -> Work:
    async def work(conn: db.Conn) -> str:
        delivered = await inbox.receive(
            conn,
            _answer(number, request_id, 2, "objection"),
            state="AT",
            home=settings.home,
            time_zone=settings.time_zone,
        )
        return decode_receipt(delivered.receipt).receipt.status

    return work


def _issue(licence_id: Any, settings: Settings) -> Work:
    async def work(conn: db.Conn) -> str:
        try:
            issued = await licences.transition(
                conn, licence_id=licence_id, to="issued", actor=ACTOR, reason="gates hold", settings=settings
            )
        except ConflictError as exc:
            return ",".join(gate["gate"] for gate in exc.facts["unmet"])
        return issued.status

    return work


@pytest.mark.parametrize("issue_first", [True, False])
async def test_a_withdrawal_racing_the_issue_leaves_the_licence_unusable_either_way(
    issue_first: bool, database: str, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """The issue's gate check and the withdrawal's effect are ordered by the licence's row lock (the issue locks it
    first; the effect records the decision under it): issued first, the withdrawal then suspends it; withdrawn
    first, the issue meets the objection. Never an issued licence resting on a withdrawn consent."""
    draft, request_id = await _submitted(conn, settings, at)
    number = draft.licence.number
    assert await _receive(conn, settings, _answer(number, request_id, 1, "no-objection")) == ("accepted", None)
    issue, withdraw = _issue(draft.licence_id, settings), _withdrawal(number, request_id, settings)
    if issue_first:
        assert await race(database, issue, withdraw) == ("issued", "accepted")
        expected = "suspended"
    else:
        assert await race(database, withdraw, issue) == ("accepted", "transit-consent-objected")
        expected = "pending"
    assert (await licence_reads.get_licence(conn, draft.licence_id)).status == expected
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decision == "objection"


@pytest.mark.parametrize("issue_first", [True, False])
async def test_a_late_objection_racing_the_issue_on_deemed_consent_leaves_the_licence_unusable_either_way(
    issue_first: bool, database: str, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """CZ's objection arrives after its silent period while the officer issues: the issue deems CZ's consent and
    holds the licence's lock; the objection waits for it, then comes after a deemed consent like any late one.

    Before, the effect looked for the deemed consent before it took the licence's lock: it found none (the issue had
    not committed), recorded the objection as an answer in time and suspended nothing; the licence stayed issued on
    the deemed consent of a State that objects, clearing exits, and the journal said ``after_deemed_on`` null.
    The objection first, the issue deems nothing over it and meets it.
    """
    draft, request_id = await _submitted(conn, settings, at)
    number = draft.licence.number
    asked_on = TODAY - dt.timedelta(days=60)
    await conn.execute("UPDATE transit_consent_request SET requested_on = $1", asked_on)
    deemed_on = consents.add_working_days(asked_on, settings.tacit_consent_days, settings.holidays)

    async def objection(inbox_conn: db.Conn) -> str:
        delivered = await inbox.receive(
            inbox_conn,
            _answer(number, request_id, 1, "objection"),
            state="AT",
            home=settings.home,
            time_zone=settings.time_zone,
        )
        return decode_receipt(delivered.receipt).receipt.status

    if not issue_first:
        assert await race(database, objection, _issue(draft.licence_id, settings)) == (
            "accepted",
            "transit-consent-objected",
        )
        assert (await licence_reads.get_licence(conn, draft.licence_id)).status == "pending"
        assert [row.decision for row in await consents.list_decisions(conn, draft.licence_id, after=0, limit=9)] == [
            "objection"
        ]
        return
    assert await race(database, _issue(draft.licence_id, settings), objection) == ("issued", "accepted")
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decision == "objection"
    assert (await licence_reads.get_licence(conn, draft.licence_id)).status == "suspended"
    entry = await conn.fetchval(
        "SELECT payload FROM journal_entry WHERE action = 'transit-consent.received' ORDER BY entry_id DESC LIMIT 1"
    )
    assert entry["after_deemed_on"] == deemed_on.isoformat()


async def test_a_licence_suspended_by_a_late_objection_is_told_to_the_route_and_reinstated_on_a_new_consent(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """README "transit-consent.decided": the suspension by an objection after deemed consent is told to every State
    on the route, as any suspension is; its reinstatement meets the shut gate, the timer does not deem the consent
    again over the objection, and once the officer asked again and the transit State consented, it is reinstated."""
    draft, request_id = await _submitted(conn, settings, at)
    number = draft.licence.number
    await conn.execute("UPDATE transit_consent_request SET requested_on = $1", TODAY - dt.timedelta(days=60))
    async with conn.transaction():
        await licences.transition(
            conn, licence_id=draft.licence_id, to="issued", actor=ACTOR, reason="gates hold", settings=settings
        )
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decision == "deemed"
    assert await _receive(conn, settings, _answer(number, request_id, 1, "objection")) == ("accepted", None)
    assert (await licence_reads.get_licence(conn, draft.licence_id)).status == "suspended"
    told = await conn.fetch(
        "SELECT recipient, body->>'status' AS status FROM notice_outbox WHERE type = 'licence.status-changed'"
        " ORDER BY recipient"
    )
    assert [(row["recipient"], row["status"]) for row in told] == [("CZ", "suspended"), ("DE", "suspended")]

    async def reinstate() -> licence_views.Licence:
        async with conn.transaction():
            return await licences.transition(
                conn, licence_id=draft.licence_id, to="issued", actor=ACTOR, reason="reinstate", settings=settings
            )

    with pytest.raises(ConflictError) as blocked:
        await reinstate()
    assert [gate["gate"] for gate in blocked.value.facts["unmet"]] == ["transit-consent-objected"]
    async with conn.transaction():  # the objection answered version 1: the timer has nothing to deem
        assert await consents.deem_silent(conn, settings=settings, today=TODAY + dt.timedelta(days=30)) == 0
        await consents.request_consent(
            conn,
            licence_id=draft.licence_id,
            transit_state="CZ",
            shipment_from=None,
            shipment_to=None,
            today=TODAY,
            actor=ACTOR,
        )
    again = await conn.fetchval(
        "SELECT notice_id::text FROM notice_outbox WHERE type = 'transit-consent.requested' AND notice_id::text <> $1",
        request_id,
    )
    with pytest.raises(ConflictError):
        await reinstate()  # asked again, not yet answered: the objection still counts
    assert await _receive(conn, settings, _answer(number, again, 2, "no-objection")) == ("accepted", None)
    assert (await reinstate()).status == "issued"
    told = await conn.fetch(
        "SELECT recipient FROM notice_outbox WHERE type = 'licence.status-changed' AND body->>'status' = 'issued'"
        " ORDER BY recipient"
    )
    assert [row["recipient"] for row in told] == ["CZ", "DE"]
