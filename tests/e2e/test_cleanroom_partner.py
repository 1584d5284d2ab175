"""Clean-room conformance: a partner written from PROTOCOL.md alone (``tests/e2e/cleanroom.py``) against a real
``firearms serve`` (one for the module; each test reads sequences relative to what came before it, so the tests
pass in any order and spread over xdist workers, each starting its own).

First the partner is checked against every known-answer vector, so that it is right before it judges the registry;
then it delivers to the registry (§4: receipts, duplicates, gaps, conflicts and every refusal), plays the exporting
and importing States of licences that cross, leave and enter the registry's State (§5: what the registry sends,
verified and acknowledged by the partner's own receiver), and changes keys (§6). Nothing here builds a notice or
checks a signature with the registry's code; the registry is started, and the partner entered on its trust list,
the way an operator does it (``firearms serve``, ``firearms peers add``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.e2e import cleanroom as cr
from tests.e2e.registries import Node, free_port, trusting, wait_for

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent.parent / "data" / "vectors.json").read_text("utf-8"))


# --- the partner against the vectors -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["canonical"], ids=lambda case: case["canonical_utf8"][:24])
def test_partner_canonical_form_matches_every_vector(case: dict[str, Any]) -> None:
    assert cr.canonical(case["value"]) == case["canonical_utf8"].encode("utf-8")


@pytest.mark.parametrize("name", sorted(VECTORS["keys"]))
def test_partner_keys_match_every_vector(name: str) -> None:
    vector = VECTORS["keys"][name]
    key = cr.Key.from_seed(bytes.fromhex(vector["seed_hex"]))
    assert (key.public_key, key.key_id) == (vector["public_key"], vector["key_id"])


def test_partner_signs_and_verifies_the_notice_vector() -> None:
    vector = VECTORS["notice"]
    notice = vector["envelope"]["notice"]
    assert cr.signing_input("notice", notice) == vector["signing_input_utf8"].encode("utf-8")
    assert cr.digest(notice) == vector["signing_input_sha256_b64u"]
    at = cr.Key.from_seed(bytes.fromhex(VECTORS["keys"]["AT"]["seed_hex"]))
    # Ed25519 is deterministic: the partner's own signature is the vector's, byte for byte
    assert cr.envelope(notice, at) == vector["envelope"]
    trust = {"AT": [cr.TrustedKey(at.public_key, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))]}
    raw = json.dumps(vector["envelope"], ensure_ascii=False).encode()
    clock = cr.parse_time(notice["created_at"])
    assert cr.check_notice(raw, "DE", trust, clock) == notice


def test_partner_signs_and_verifies_the_receipt_vector() -> None:
    vector = VECTORS["receipt"]
    receipt = vector["envelope"]["receipt"]
    assert cr.signing_input("receipt", receipt) == vector["signing_input_utf8"].encode("utf-8")
    de = cr.Key.from_seed(bytes.fromhex(VECTORS["keys"]["DE"]["seed_hex"]))
    assert cr.receipt_envelope(receipt, de) == vector["envelope"]
    de_keys = [cr.TrustedKey(de.public_key, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))]
    raw = json.dumps(vector["envelope"]).encode()
    checked, _ = cr.check_receipt(raw, VECTORS["notice"]["envelope"]["notice"], de_keys)
    assert checked == receipt


@pytest.mark.parametrize("case", VECTORS["must_refuse"]["cases"], ids=lambda case: case["why"])
def test_partner_refuses_every_must_refuse_vector_with_its_problem(case: dict[str, Any]) -> None:
    refuse = VECTORS["must_refuse"]
    trust = {
        state: [
            cr.TrustedKey(
                key["public_key"],
                cr.parse_time(key["not_before"]),
                cr.parse_time(key["not_after"]) if key["not_after"] else None,
                cr.parse_time(key["revoked_at"]) if key["revoked_at"] else None,
            )
            for key in keys
        ]
        for state, keys in refuse["trust_list"].items()
    }
    raw = json.dumps(case["envelope"], ensure_ascii=False).encode()
    with pytest.raises(cr.RefusedError) as refused:
        cr.check_notice(raw, refuse["receiver_state"], trust, dt.datetime(2026, 11, 28, 10, 15, 5, tzinfo=dt.UTC))
    assert refused.value.problem == case["problem"]


# --- the partner against a running registry -----------------------------------------------------------------------

PROBLEM_TYPES = {
    # PROTOCOL §4's table: status and the last path segment of the problem type
    "malformed-notice": 400,
    "wrong-recipient": 400,
    "unknown-sender": 403,
    "unknown-key": 403,
    "key-revoked": 403,
    "bad-signature": 403,
    "clock-skew": 400,
    "notice-id-conflict": 409,
    "sequence-gap": 409,
}
TODAY = dt.datetime.now(dt.UTC).date()


def licence(status: str = "issued", version: int = 1, number: str = "AT-EXP-2026-CR1") -> dict[str, Any]:
    """An export licence AT -> CZ -> DE as PROTOCOL §5 lists its content."""
    party = {"name": "Jagdbedarf Müller KG", "country": "DE", "address": "Marktplatz 3, 94032 Passau"}
    return {
        "number": number,
        "issuing_state": "AT",
        "kind": "export",
        "version": version,
        "status": status,
        "issued_at": cr.time_text(cr.now() - dt.timedelta(hours=1)),
        "place_of_issue": "Wien",
        "issuing_authority": "Bundesministerium für Inneres",
        "valid_from": TODAY.isoformat(),
        "expires_on": (TODAY + dt.timedelta(days=300)).isoformat(),
        "exporting_state": "AT",
        "importing_state": "DE",
        "transit_states": ["CZ"],
        "exporter": {"name": "Waffen Huber GmbH", "country": "AT", "address": "Hauptstraße 1, 4400 Steyr"},
        "consignee": party,
        "final_recipient": party,
        "brokers": [],
        "import_authorisation": {
            "number": "DE-IMP-2026-CR1",
            "state": "DE",
            "issued_on": TODAY.isoformat(),
            "expires_on": (TODAY + dt.timedelta(days=360)).isoformat(),
        },
        "purpose": "commercial",
        "lines": [
            {
                "line": 1,
                "category": "firearm",
                "type": "rifle",
                "make": "Steyr Mannlicher",
                "model": "SSG 08",
                "calibre": ".308 Win",
                "quantity": 2,
                "serials": ["CR-SSG08-001", "CR-SSG08-002"],
                "description": "bolt-action rifle",
            }
        ],
    }


class World:
    """The registry (CZ) under test, and the partner speaking for AT and DE."""

    def __init__(self, registry: Node, partner: cr.Partner, http: httpx.AsyncClient) -> None:
        self.registry = registry
        self.partner = partner
        self.http = http
        self.at = partner.states["AT"]
        self.de = partner.states["DE"]
        # one registry serves the whole module: what each State had from CZ before this test
        self.before = {
            name: len(state.inboxes["CZ"].notices) if "CZ" in state.inboxes else 0
            for name, state in partner.states.items()
        }

    async def from_registry(self, state: str, count: int) -> list[dict[str, Any]]:
        """The first ``count`` notices CZ sent ``state`` during this test, waited for."""
        base = self.before[state]
        return (await self.partner.wait(state, "CZ", base + count))[base:]

    def sequence(self, state: str, nth: int) -> int:
        """The sequence of CZ's ``nth`` notice to ``state`` in this test."""
        return self.before[state] + nth

    def next_sequence(self, state: str = "AT") -> int:
        """The sequence the partner's ``state`` gives its next notice to CZ."""
        return self.partner.states[state].sequences.get("CZ", 0) + 1

    @property
    def registry_keys(self) -> list[cr.TrustedKey]:
        """The registry's keys as the partner trusts them."""
        return self.at.trust["CZ"]

    async def post(self, document: Any, *, raw: bytes | None = None) -> httpx.Response:
        """POST an envelope (or raw bytes) to the registry, as PROTOCOL §4 says."""
        content = raw if raw is not None else json.dumps(document, ensure_ascii=False).encode()
        return await self.http.post(
            self.registry.base_url + "/exchange/v1/notices",
            content=content,
            headers={"Content-Type": "application/json"},
        )

    async def deliver(self, notice: dict[str, Any], key: cr.Key | None = None) -> dict[str, Any]:
        """Send ``notice`` signed by ``key`` (its sender's by default): 202 and a receipt the partner verifies."""
        response = await self.post(cr.envelope(notice, key or self.partner.states[notice["sender"]].key))
        assert response.status_code == 202, response.text
        assert response.headers["content-type"].startswith("application/json"), response.headers
        receipt, _ = cr.check_receipt(response.content, notice, self.registry_keys)
        return receipt

    async def refused(self, document: Any, problem: str, *, raw: bytes | None = None) -> dict[str, Any]:
        """Send and expect PROTOCOL §4's problem ``problem`` (status, media type, the type's last segment)."""
        response = await self.post(document, raw=raw)
        assert response.status_code == PROBLEM_TYPES[problem], (problem, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), response.headers
        answer: dict[str, Any] = response.json()
        assert answer["type"].rsplit("/", 1)[-1] == problem, (problem, answer)
        assert answer["status"] == PROBLEM_TYPES[problem], answer
        return answer

    async def drained(self) -> bool:
        """The registry's outbox holds nothing queued (every notice delivered against a receipt)."""
        page = await self.registry.get("/api/v1/notices?status=queued")
        return page is not None and page["items"] == []


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(
    pg_admin_uri: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Node, cr.Partner]]:
    """CZ's registry as ``firearms serve`` (one for the module); the partner (AT, DE) listening on loopback and
    entered on CZ's trust list with ``firearms peers add``; CZ's key taken out of band from ``firearms keys show``
    and compared with ``GET /exchange/v1/keys``."""
    del template_url
    partner = cr.Partner(cr.PartnerState("AT", cr.Key.generate()), cr.PartnerState("DE", cr.Key.generate()))
    await partner.start(free_port())
    roles = ("admin", "licensing-officer", "customs-officer")
    try:
        async with (
            trusting(("CZ",), pg_admin_uri, tmp_path_factory.mktemp("cleanroom"), roles=roles) as nodes,
            httpx.AsyncClient(timeout=10) as http,
        ):
            cz = nodes["CZ"]
            shown = json.loads(await cz.cli("keys", "show"))
            published = (await http.get(cz.base_url + "/exchange/v1/keys")).json()
            assert published["state"] == "CZ"
            assert published["current_key_id"] == shown["key_id"]
            (entry,) = [key for key in published["keys"] if key["key_id"] == shown["key_id"]]
            assert entry["public_key"] == shown["public_key"]
            assert cr.key_id_of(cr.unb64u(shown["public_key"])) == shown["key_id"], "key_id is not PROTOCOL §1's"
            # one trust entry for CZ, shared by both States the partner speaks for
            trusted = [cr.TrustedKey(shown["public_key"], dt.datetime(1970, 1, 1, tzinfo=dt.UTC))]
            for state in partner.states.values():
                state.trust["CZ"] = trusted
                await cz.cli(
                    "peers",
                    "add",
                    state.state,
                    "--url",
                    partner.base_url(state.state),
                    "--public-key",
                    state.key.public_key,
                )
            yield cz, partner
    finally:
        await partner.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def world(running: tuple[Node, cr.Partner]) -> AsyncIterator[World]:
    """The module's registry and partner, as this test finds them."""
    async with httpx.AsyncClient(timeout=10) as http:
        yield World(*running, http)


@pytest.mark.asyncio(loop_scope="module")
async def test_delivery_receipts_duplicates_gaps_conflicts_and_every_refusal(world: World) -> None:
    """PROTOCOL §4 from the sender's side: every check's problem, a signed receipt, a duplicate's first receipt."""
    at = world.at
    n = world.next_sequence()  # the sequence of this test's first notice
    first = at.notice("CZ", "export-licence.issued", {"licence": licence()})
    first_answer = await world.post(cr.envelope(first, at.key))
    assert first_answer.status_code == 202, first_answer.text
    receipt, _ = cr.check_receipt(first_answer.content, first, world.registry_keys)
    assert (receipt["status"], receipt["reason"]) == ("accepted", None)

    # a duplicate: the same receipt, byte for byte, with 200; also when the same notice travels re-serialised
    again = await world.post(cr.envelope(first, at.key))
    assert (again.status_code, again.content) == (200, first_answer.content)
    reordered = {"signature": cr.envelope(first, at.key)["signature"], "notice": first, "protocol": cr.PROTOCOL}
    spaced = json.dumps(reordered, indent=2, ensure_ascii=True).encode()
    again = await world.post(None, raw=spaced)
    assert (again.status_code, again.content) == (200, first_answer.content)

    # 7: the same id with other canonical bytes (signed properly)
    changed = {**first, "body": {"licence": licence(version=2)}}
    await world.refused(cr.envelope(changed, at.key), "notice-id-conflict")
    # 8: a gap names the sequence expected
    gap = at.notice("CZ", "export-licence.issued", {"licence": licence(version=2)}, sequence=n + 2)
    assert (await world.refused(cr.envelope(gap, at.key), "sequence-gap"))["expected_sequence"] == n + 1
    # 2: another State's notice
    await world.refused(
        cr.envelope(at.notice("FR", "export-licence.issued", {}, sequence=1), at.key), "wrong-recipient"
    )
    # 3: a sender nobody entered
    stranger = cr.PartnerState("ZZ", cr.Key.generate())
    await world.refused(cr.envelope(stranger.notice("CZ", "export-licence.issued", {}), stranger.key), "unknown-sender")
    # 4: a key that is not AT's
    second = at.notice("CZ", "export-licence.issued", {"licence": licence(version=2)}, sequence=n + 1)
    await world.refused(cr.envelope(second, cr.Key.generate()), "unknown-key")
    # 4: DE's key (on the trust list, but another State's) signing for AT
    await world.refused(cr.envelope(second, world.de.key), "unknown-key")
    # 5: a signature that does not verify
    forged = cr.envelope(second, at.key)
    value = cr.unb64u(forged["signature"]["value"])
    forged["signature"]["value"] = cr.b64u(bytes([value[0] ^ 1]) + value[1:])
    await world.refused(forged, "bad-signature")
    # 5: the body changed after signing
    tampered = cr.envelope(second, at.key)
    tampered["notice"] = {**second, "body": {"licence": licence(version=3)}}
    await world.refused(tampered, "bad-signature")
    # 6: more than 300 s ahead of the registry's clock
    ahead = {**second, "created_at": cr.time_text(cr.now() + dt.timedelta(seconds=400))}
    await world.refused(cr.envelope(ahead, at.key), "clock-skew")
    # 1: malformed, each way PROTOCOL names
    extra = cr.envelope({**second, "priority": 1}, at.key)
    await world.refused(extra, "malformed-notice")
    await world.refused({**cr.envelope(second, at.key), "extra": 1}, "malformed-notice")
    await world.refused({**cr.envelope(second, at.key), "protocol": "firearms-exchange/2"}, "malformed-notice")
    await world.refused(None, "malformed-notice", raw=b"{not json")
    floating = json.dumps(cr.envelope(second, at.key)).replace('"quantity": 2,', '"quantity": 2.0,').encode()
    assert b"2.0" in floating
    await world.refused(None, "malformed-notice", raw=floating)
    huge = at.notice("CZ", "export-licence.issued", {"licence": licence(), "pad": "x" * (256 * 1024)}, sequence=n + 1)
    await world.refused(cr.envelope(huge, at.key), "malformed-notice")
    await world.refused({"protocol": cr.PROTOCOL, "notice": second}, "malformed-notice")
    # §4: the checks run in order, and the first that fails answers
    skewed = {**second, "created_at": cr.time_text(cr.now() + dt.timedelta(seconds=400))}
    elsewhere = cr.envelope({**second, "recipient": "FR"}, at.key)
    elsewhere["signature"]["value"] = forged["signature"]["value"]
    await world.refused(elsewhere, "wrong-recipient")  # 2 before 5
    await world.refused(cr.envelope(skewed, cr.Key.generate()), "unknown-key")  # 4 before 6
    skewed_forged = cr.envelope(skewed, at.key)
    skewed_forged["signature"]["value"] = forged["signature"]["value"]
    await world.refused(skewed_forged, "bad-signature")  # 5 before 6
    conflicting = {**first, "sequence": n + 5, "body": {"licence": licence(version=9)}}
    await world.refused(cr.envelope(conflicting, at.key), "notice-id-conflict")  # 7 before 8
    fraction = {**second, "created_at": cr.time_text(cr.now()).replace("Z", ".5Z")}
    await world.refused(cr.envelope(fraction, at.key), "malformed-notice")
    await world.refused(cr.envelope({**second, "confidentiality": "secret"}, at.key), "malformed-notice")
    await world.refused(cr.envelope({**second, "id": "notice-2"}, at.key), "malformed-notice")

    # none of the refusals stored anything: sequence n + 1 is still the one expected. A created_at long past is no
    # refusal (§4 bounds only how far ahead it may be), and unknown fields inside ``body`` are kept and ignored.
    additive = licence(version=2)
    additive["remarks"] = "an additive field in the licence"
    additive["lines"][0]["colour"] = "black"
    additive["exporter"] = {**additive["exporter"], "email": "office@example.at"}
    stale = {
        **second,
        "created_at": cr.time_text(cr.now() - dt.timedelta(days=2)),
        "body": {"licence": additive, "note": "an additive field"},
    }
    taken = await world.deliver(stale)
    assert taken["status"] == "accepted", taken
    at.sequences["CZ"] = n + 1
    stored = await world.registry.get("/api/v1/foreign-licences/AT/AT-EXP-2026-CR1", "customs-officer")
    assert stored["version"] == 2

    # §3: an envelope of exactly 256 KiB is taken (sent with a charset parameter), one byte more is malformed
    padded = at.notice("CZ", "export-licence.issued", {"licence": licence(version=3), "pad": ""})
    size = len(json.dumps(cr.envelope(padded, at.key), ensure_ascii=False, separators=(",", ":")).encode())
    padded["body"]["pad"] = "x" * (cr.MAX_ENVELOPE - size)
    exact = json.dumps(cr.envelope(padded, at.key), ensure_ascii=False, separators=(",", ":")).encode()
    assert len(exact) == cr.MAX_ENVELOPE
    over = exact.replace(b'"pad":"', b'"pad":"x', 1)
    await world.refused(None, "malformed-notice", raw=over)
    response = await world.http.post(
        world.registry.base_url + "/exchange/v1/notices",
        content=exact,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 202, response.text
    padded_receipt = cr.check_receipt(response.content, padded, world.registry_keys)[0]
    assert padded_receipt["status"] == "accepted", padded_receipt

    # §4 check 6 bounds created_at at 300 s ahead: exactly that far ahead (to the second) is taken
    edge = at.notice(
        "CZ",
        "export-licence.issued",
        {"licence": licence(version=4)},
        created_at=cr.parse_time(cr.time_text(cr.now())) + dt.timedelta(seconds=300),
    )
    assert (await world.deliver(edge))["status"] == "accepted"
    # a type this registry does not know cannot be applied: stored rejected, the sequence consumed
    unknown = await world.deliver(at.notice("CZ", "example.noticed", {"anything": [1, "two"]}))
    assert unknown["status"] == "rejected"
    assert unknown["reason"]

    # a body invalid for its type still consumes its sequence: stored "rejected" with a reason, the queue moves on
    invalid = at.notice("CZ", "export-licence.issued", {"licence": {"number": "AT-EXP-2026-CR1"}})
    rejected = await world.deliver(invalid)
    assert rejected["status"] == "rejected"
    assert isinstance(rejected["reason"], str)
    assert rejected["reason"]
    after = await world.deliver(at.notice("CZ", "export-licence.issued", {"licence": licence(version=5)}))
    assert (after["sequence"], after["status"]) == (n + 6, "accepted")
    stored = await world.registry.get("/api/v1/foreign-licences/AT/AT-EXP-2026-CR1", "customs-officer")
    assert stored["version"] == 5
    # a duplicate is a duplicate whatever came after it
    again = await world.post(cr.envelope(first, at.key))
    assert (again.status_code, again.content) == (200, first_answer.content)


BODY_FIELDS = {
    # PROTOCOL §5's table, for the notices the registry sends the partner here
    "transit-consent.decided": {"licence_number", "decision", "reason", "valid_until"},
    "transit.passage-recorded": {
        "licence_number",
        "issuing_state",
        "shipment_id",
        "check_id",
        "verdict",
        "reasons",
        "checked_at",
        "crossing_point",
        "items",
    },
    "registry.key-announced": {"key_id", "public_key", "not_before", "not_after"},
}


def _check_sent(notice: dict[str, Any], type_: str, sequence: int) -> dict[str, Any]:
    """A notice the registry sent the partner: its type, sequence and body as PROTOCOL §5 lists them."""
    assert notice["type"] == type_, notice
    assert notice["sender"] == "CZ", notice
    assert notice["sequence"] == sequence, notice
    body: dict[str, Any] = notice["body"]
    assert set(body) == BODY_FIELDS[type_], (
        f"{type_} body {sorted(body)}, PROTOCOL §5 lists {sorted(BODY_FIELDS[type_])}"
    )
    return body


@pytest.mark.asyncio(loop_scope="module")
async def test_a_licence_crossing_the_registrys_state_consent_answer_and_passage(world: World) -> None:
    """PROTOCOL §5 with the registry as the transit State: the partner (AT) asks for consent, the registry's officer
    answers, the partner's receiver verifies and acknowledges the answer; AT issues, dispatches; the registry's
    customs records the passage and tells AT and DE; AT revokes and the registry's border refuses."""
    at, cz = world.at, world.registry
    NUMBER = "AT-EXP-2026-CR4"  # noqa: N806
    window = {"from": TODAY.isoformat(), "to": (TODAY + dt.timedelta(days=60)).isoformat()}
    request = at.notice(
        "CZ",
        "transit-consent.requested",
        {"licence": licence(status="pending", number=NUMBER), "shipment_window": window},
    )
    answered = await world.deliver(request)
    assert answered["status"] == "accepted", answered
    page = await cz.get("/api/v1/consent-requests?status=pending", "licensing-officer")
    (pending,) = [item for item in page["items"] if item["notice_id"] == request["id"]]
    assert pending["licence_number"] == NUMBER
    decided = await cz.post(
        f"/api/v1/consent-requests/AT/{request['id']}/decision", {"decision": "no-objection"}, "licensing-officer"
    )
    assert decided.status_code == 200, decided.text

    (answer,) = await world.from_registry("AT", 1)
    body = _check_sent(answer, "transit-consent.decided", world.sequence("AT", 1))
    assert answer["in_reply_to"] == request["id"]
    assert (body["licence_number"], body["decision"], body["reason"]) == (NUMBER, "no-objection", None)

    issued = at.notice("CZ", "export-licence.issued", {"licence": licence(number=NUMBER)})
    assert (await world.deliver(issued))["status"] == "accepted"
    items = [{"line": 1, "quantity": 2, "serials": ["CR-SSG08-001", "CR-SSG08-002"]}]
    dispatched = {
        "licence_number": NUMBER,
        "shipment_id": "CR-SHP-1",
        "dispatched_at": cr.time_text(cr.now()),
        "items": items,
    }
    assert (await world.deliver(at.notice("CZ", "shipment.dispatched", dispatched)))["status"] == "accepted"

    check = {
        "check_id": str(uuid.uuid4()),
        "movement": "transit",
        "licence_number": NUMBER,
        "issuing_state": "AT",
        "crossing_point": "CZ-Dolni Dvoriste",
        "shipment_id": "CR-SHP-1",
        "lines": items,
    }
    cleared = await cz.post("/api/v1/checks", check, "customs-officer")
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["verdict"] == "clear", cleared.text

    (_, passage) = await world.from_registry("AT", 2)
    (to_de,) = await world.from_registry("DE", 1)
    for notice, sequence in ((passage, world.sequence("AT", 2)), (to_de, world.sequence("DE", 1))):
        body = _check_sent(notice, "transit.passage-recorded", sequence)
        assert (body["licence_number"], body["issuing_state"]) == (NUMBER, "AT")
        assert (body["check_id"], body["verdict"], body["shipment_id"]) == (check["check_id"], "clear", "CR-SHP-1")
        assert body["reasons"] == []
        assert body["crossing_point"] == "CZ-Dolni Dvoriste"
        cr.parse_time(body["checked_at"])

    # every notice the registry sent was acknowledged by the partner's own receipts, and the registry took them
    await wait_for(world.drained, "CZ's outbox drains against the partner's receipts")
    sent = await cz.fetch(
        "SELECT recipient, sequence, status, notice_id, receipt FROM notice_outbox WHERE notice_id = ANY($1::uuid[])"
        " ORDER BY recipient, sequence",
        [answer["id"], passage["id"], to_de["id"]],
    )
    assert [(row["recipient"], row["sequence"], row["status"]) for row in sent] == [
        ("AT", world.sequence("AT", 1), "delivered"),
        ("AT", world.sequence("AT", 2), "delivered"),
        ("DE", world.sequence("DE", 1), "delivered"),
    ]
    for row in sent:
        _, given = world.partner.states[row["recipient"]].inboxes["CZ"].stored[str(row["notice_id"])]
        assert json.loads(bytes(row["receipt"])) == json.loads(given), "CZ keeps the receipt the partner signed"

    # The partner's side of §4's sending rules, seen from the registry's sender: DE's receiver is restored from a
    # backup taken before CZ's last notice (it expects that sequence again and says so with a sequence-gap problem of
    # its own problem base: a sender matches the type's last segment), and AT's answers the next attempt with a 503
    # (the same bytes are sent again).
    # And DE's first answers after that are receipts that prove nothing (another key's signature, another digest,
    # another sequence): CZ sends the notice again each time.
    restored = world.de.inboxes["CZ"]
    lost = restored.notices.pop()
    del restored.stored[lost["id"]]
    restored.expected -= 1
    assert lost["id"] == to_de["id"]
    refusals = len(world.de.refusals)
    world.de.forged_receipts = ["key", "digest", "sequence"]
    world.at.unavailable = 1
    attempts = len(world.at.attempts)

    # AT revokes: the registry applies the status change and its border refuses the licence
    changed = {
        "licence_number": NUMBER,
        "issuing_state": "AT",
        "version": 1,
        "status": "revoked",
        "reason": "exporter's licence withdrawn",
        "effective_at": cr.time_text(cr.now()),
    }
    assert (await world.deliver(at.notice("CZ", "licence.status-changed", changed)))["status"] == "accepted"
    refused = await cz.post("/api/v1/checks", {**check, "check_id": str(uuid.uuid4())}, "customs-officer")
    assert refused.status_code == 200, refused.text
    assert refused.json()["verdict"] == "refuse"
    assert "licence-revoked" in [reason["code"] for reason in refused.json()["reasons"]]
    (_, _, refused_passage) = await world.from_registry("AT", 3)
    assert _check_sent(refused_passage, "transit.passage-recorded", world.sequence("AT", 3))["verdict"] == "refuse"
    first_try, second_try = world.at.attempts[attempts : attempts + 2]
    assert first_try == second_try, "a 503 is retried with the same bytes"
    again, next_one = await world.from_registry("DE", 2)
    assert (again["id"], again["sequence"]) == (to_de["id"], to_de["sequence"]), "CZ resends from expected_sequence"
    assert (_check_sent(next_one, "transit.passage-recorded", world.sequence("DE", 2)))["verdict"] == "refuse"
    assert world.de.refusals[refusals:] == [
        "sequence-gap",
        "forged-receipt:key",
        "forged-receipt:digest",
        "forged-receipt:sequence",
    ]
    await wait_for(world.drained, "CZ's outbox drains again")
    kept = await cz.fetch("SELECT notice_id, receipt FROM notice_outbox WHERE recipient = 'DE' ORDER BY sequence")
    for row in kept:
        _, given = world.de.inboxes["CZ"].stored[str(row["notice_id"])]
        assert json.loads(bytes(row["receipt"])) == json.loads(given), "CZ keeps only the receipt that verifies"


LICENCE_FIELDS = {
    # PROTOCOL §5's licence object, and its line
    "number",
    "issuing_state",
    "kind",
    "version",
    "status",
    "issued_at",
    "place_of_issue",
    "issuing_authority",
    "valid_from",
    "expires_on",
    "exporting_state",
    "importing_state",
    "transit_states",
    "exporter",
    "consignee",
    "final_recipient",
    "brokers",
    "import_authorisation",
    "purpose",
    "lines",
}
LINE_FIELDS = {"line", "category", "type", "make", "model", "calibre", "quantity", "serials", "description"}


def _check_licence(value: dict[str, Any], status: str) -> None:
    assert set(value) == LICENCE_FIELDS, f"licence members {sorted(value)}, PROTOCOL §5 lists {sorted(LICENCE_FIELDS)}"
    assert value["status"] == status, value
    for line in value["lines"]:
        assert set(line) == LINE_FIELDS, line
    for party in (value["exporter"], value["consignee"], value["final_recipient"]):
        assert {"name", "country", "address"} <= set(party) <= {"name", "country", "address", "registration"}, party


@pytest.mark.asyncio(loop_scope="module")
async def test_the_registry_exporting_through_the_partner_asks_it_and_takes_its_answer(world: World) -> None:
    """PROTOCOL §5 with the registry as the exporting State: DE (the partner) sends its import authorisation; the
    registry's submitted licence asks AT (the partner) for transit consent; AT's own reply opens the gate; the issued
    licence reaches AT and DE, each verified by the partner and acknowledged with its own receipt."""
    cz, at, de = world.registry, world.at, world.de
    days = {"issued_on": TODAY.isoformat(), "expires_on": (TODAY + dt.timedelta(days=360)).isoformat()}
    authorisation = {
        **licence(number="DE-IMP-2026-CR2"),
        "issuing_state": "DE",
        "kind": "import",
        "exporting_state": "CZ",
        "importing_state": "DE",
        "transit_states": ["AT"],
        "exporter": {"name": "Ceska Zbrojovka a.s.", "country": "CZ", "address": "Svatopluka Cecha 1283, Uhersky Brod"},
        "place_of_issue": "Köln",
        "issuing_authority": "Bundesamt für Wirtschaft und Ausfuhrkontrolle",
        # PROTOCOL §5 gives no "or null": an import licence names itself as the import authorisation
        "import_authorisation": {"number": "DE-IMP-2026-CR2", "state": "DE", **days},
        "expires_on": days["expires_on"],
    }
    taken = await world.deliver(de.notice("CZ", "import-authorisation.issued", {"licence": authorisation}))
    assert taken["status"] == "accepted", taken

    async def party(kind: str, name: str, country: str, address: str) -> str:
        response = await cz.post(
            "/api/v1/parties", {"kind": kind, "name": name, "country": country, "address": address}, "licensing-officer"
        )
        assert response.status_code == 201, response.text
        party_id: str = response.json()["party_id"]
        return party_id

    exporter = await party("exporter", "Ceska Zbrojovka a.s.", "CZ", "Svatopluka Cecha 1283, Uhersky Brod")
    consignee = await party("consignee", "Jagdbedarf Müller KG", "DE", "Marktplatz 3, 94032 Passau")
    draft = {
        "kind": "export",
        "place_of_issue": "Praha",
        "issuing_authority": "Policejni prezidium",
        "valid_from": TODAY.isoformat(),
        "expires_on": (TODAY + dt.timedelta(days=300)).isoformat(),
        "exporting_state": "CZ",
        "importing_state": "DE",
        "route": ["CZ", "AT", "DE"],
        "exporter_id": exporter,
        "consignee_id": consignee,
        "final_recipient_id": consignee,
        "import_authorisation": {"number": "DE-IMP-2026-CR2", "state": "DE", **days},
        "lines": licence()["lines"],
    }
    created = await cz.post("/api/v1/licences", draft, "licensing-officer")
    assert created.status_code == 201, created.text
    licence_id = created.json()["licence_id"]
    submitted = await cz.post(f"/api/v1/licences/{licence_id}/submit", {"reason": "complete"}, "licensing-officer")
    assert submitted.status_code == 200, submitted.text

    (request,) = await world.from_registry("AT", 1)
    assert (request["type"], request["in_reply_to"]) == ("transit-consent.requested", None)
    assert request["sequence"] == world.sequence("AT", 1)
    assert set(request["body"]) == {"licence", "shipment_window"}
    asked = request["body"]["licence"]
    _check_licence(asked, "pending")
    # the registry sends a pending licence's issue time as null (README "Where this differs")
    assert asked["issued_at"] is None
    assert (asked["kind"], asked["exporting_state"], asked["transit_states"]) == ("export", "CZ", ["AT"])
    assert set(request["body"]["shipment_window"]) == {"from", "to"}

    decision = {"licence_number": asked["number"], "decision": "no-objection", "reason": None, "valid_until": None}
    answered = await world.deliver(at.notice("CZ", "transit-consent.decided", decision, in_reply_to=request["id"]))
    assert answered["status"] == "accepted", answered

    async def gates_hold() -> bool:
        gates = await cz.get(f"/api/v1/licences/{licence_id}/gates", "licensing-officer")
        return gates is not None and gates["unmet"] == []

    await wait_for(gates_hold, "the partner's answer and import authorisation open CZ's gates")
    issued = await cz.post(f"/api/v1/licences/{licence_id}/issue", {"reason": "gates hold"}, "licensing-officer")
    assert issued.status_code == 200, issued.text

    (_, to_at) = await world.from_registry("AT", 2)
    (to_de,) = await world.from_registry("DE", 1)
    for notice, sequence in ((to_at, world.sequence("AT", 2)), (to_de, world.sequence("DE", 1))):
        assert (notice["type"], notice["sequence"]) == ("export-licence.issued", sequence)
        assert set(notice["body"]) == {"licence"}
        _check_licence(notice["body"]["licence"], "issued")
        cr.parse_time(notice["body"]["licence"]["issued_at"])
        assert notice["body"]["licence"]["number"] == asked["number"]

    # CZ's customs clear a first rifle at exit: AT and DE hear of the dispatch; CZ revokes: they hear of that too
    items = [{"line": 1, "quantity": 1, "serials": ["CR-SSG08-001"]}]
    check = {
        "check_id": str(uuid.uuid4()),
        "movement": "export",
        "licence_number": asked["number"],
        "issuing_state": "CZ",
        "crossing_point": "CZ-Ceske Velenice",
        "shipment_id": "CR-SHP-2",
        "lines": items,
    }
    cleared = await cz.post("/api/v1/checks", check, "customs-officer")
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["verdict"] == "clear", cleared.text
    revoked = await cz.post(f"/api/v1/licences/{licence_id}/revoke", {"reason": "exporter closed"}, "licensing-officer")
    assert revoked.status_code == 200, revoked.text
    dispatch_fields = {"licence_number", "shipment_id", "dispatched_at", "items"}
    status_fields = {"licence_number", "issuing_state", "version", "status", "reason", "effective_at"}
    for state, first in (("AT", 3), ("DE", 2)):
        dispatched, changed = (await world.from_registry(state, first + 1))[first - 1 :]
        assert (dispatched["type"], dispatched["sequence"]) == ("shipment.dispatched", world.sequence(state, first))
        assert set(dispatched["body"]) == dispatch_fields, sorted(dispatched["body"])
        assert (dispatched["body"]["licence_number"], dispatched["body"]["shipment_id"]) == (
            asked["number"],
            "CR-SHP-2",
        )
        cr.parse_time(dispatched["body"]["dispatched_at"])
        assert [(item["line"], item["quantity"], item["serials"]) for item in dispatched["body"]["items"]] == [
            (1, 1, ["CR-SSG08-001"])
        ]
        assert changed["type"] == "licence.status-changed", changed
        assert set(changed["body"]) == status_fields, sorted(changed["body"])
        assert (changed["body"]["licence_number"], changed["body"]["issuing_state"]) == (asked["number"], "CZ")
        assert (changed["body"]["status"], changed["body"]["version"]) == ("revoked", asked["version"])
        cr.parse_time(changed["body"]["effective_at"])
    await wait_for(world.drained, "CZ's outbox drains against the partner's receipts")


@pytest.mark.asyncio(loop_scope="module")
async def test_keys_over_time_announced_revoked_ended_and_the_registrys_own_rotation(world: World) -> None:
    """PROTOCOL §6 both ways: the partner announces keys and signs with them, revokes its first (a notice it signs
    afterwards is refused, one created before stays good), and a key past its ``not_after`` is refused; the
    registry's own rotation is announced to the partner, verified with the key trusted before, and its receipts are
    then signed with the new key."""
    at = world.at
    NUMBER = "AT-EXP-2026-CR5"  # noqa: N806
    n = world.next_sequence()  # the sequence of this test's first notice
    first, second, third = at.key, cr.Key.generate(), cr.Key.generate()
    start = cr.now()
    # valid from a week back: the module's other tests go on signing with it, a notice dated days back among them
    since = cr.time_text(start - dt.timedelta(days=7))
    announced = {"key_id": second.key_id, "public_key": second.public_key, "not_before": since}
    taken = await world.deliver(at.notice("CZ", "registry.key-announced", {**announced, "not_after": None}), first)
    assert taken["status"] == "accepted", taken
    at.key = second
    signed_new = at.notice("CZ", "export-licence.issued", {"licence": licence(number=NUMBER)})
    first_answer = await world.post(cr.envelope(signed_new, second))
    assert first_answer.status_code == 202, first_answer.text
    assert cr.check_receipt(first_answer.content, signed_new, world.registry_keys)[0]["status"] == "accepted"
    # the same notice signed again with the other valid key: the same canonical bytes, so a duplicate (§4)
    again = await world.post(cr.envelope(signed_new, first))
    assert (again.status_code, again.content) == (200, first_answer.content)

    # an announcement signed by a key CZ never trusted for AT adds nothing
    stranger = cr.Key.generate()
    forged = {"key_id": stranger.key_id, "public_key": stranger.public_key, "not_before": cr.time_text(start)}
    refused = at.notice("CZ", "registry.key-announced", {**forged, "not_after": None}, sequence=n + 2)
    await world.refused(cr.envelope(refused, stranger), "unknown-key")

    # the first key revoked from now: what it signs afterwards fails check 4, what it signed before stays good
    revoked_at = cr.now()
    revocation = {"key_id": first.key_id, "revoked_at": cr.time_text(revoked_at), "reason": "retired"}
    assert (await world.deliver(at.notice("CZ", "registry.key-revoked", revocation)))["status"] == "accepted"
    late = at.notice("CZ", "export-licence.issued", {"licence": licence(number=NUMBER, version=2)}, sequence=n + 3)
    late["created_at"] = cr.time_text(revoked_at + dt.timedelta(seconds=5))
    await world.refused(cr.envelope(late, first), "key-revoked")
    at_revocation = {**late, "created_at": cr.time_text(revoked_at)}  # "revoked at or before created_at" (§1)
    await world.refused(cr.envelope(at_revocation, first), "key-revoked")
    early = {**late, "created_at": cr.time_text(revoked_at - dt.timedelta(seconds=60))}
    assert (await world.deliver(early, first))["status"] == "accepted"
    at.sequences["CZ"] = n + 3

    # a key announced with an end: good before it, unknown after it (PROTOCOL §1: created_at < not_after)
    end = cr.now() + dt.timedelta(seconds=60)
    bounded = {
        "key_id": third.key_id,
        "public_key": third.public_key,
        "not_before": cr.time_text(cr.now()),
        "not_after": cr.time_text(end),
    }
    assert (await world.deliver(at.notice("CZ", "registry.key-announced", bounded), second))["status"] == "accepted"
    after_end = at.notice("CZ", "export-licence.issued", {"licence": licence(number=NUMBER, version=3)}, sequence=n + 5)
    after_end["created_at"] = cr.time_text(end + dt.timedelta(seconds=60))
    await world.refused(cr.envelope(after_end, third), "unknown-key")
    at_end = {**after_end, "created_at": cr.time_text(end)}  # "created_at < not_after" (§1)
    await world.refused(cr.envelope(at_end, third), "unknown-key")
    within = {**after_end, "created_at": cr.time_text(cr.now())}
    assert (await world.deliver(within, third))["status"] == "accepted"
    at.sequences["CZ"] = n + 5
    at.key = second

    # the registry rotates: the announcement reaches AT and DE signed by the key they trust, and names the new key
    old = world.registry_keys[0].key_id
    rotated = json.loads(await world.registry.cli("keys", "rotate"))
    for state in ("AT", "DE"):
        (notice,) = await world.from_registry(state, 1)
        body = _check_sent(notice, "registry.key-announced", world.sequence(state, 1))
        assert body["key_id"] == rotated["key_id"] == cr.key_id_of(cr.unb64u(body["public_key"]))
        assert body["not_after"] is None or cr.parse_time(body["not_after"]) > cr.parse_time(body["not_before"])
    assert world.registry_keys[0].key_id == old
    world.registry_keys.append(
        cr.TrustedKey(
            body["public_key"],
            cr.parse_time(body["not_before"]),
            cr.parse_time(body["not_after"]) if body["not_after"] else None,
        )
    )

    async def switched() -> bool:
        document = (await world.http.get(world.registry.base_url + "/exchange/v1/keys")).json()
        return bool(document["current_key_id"] == rotated["key_id"])

    await wait_for(switched, "CZ signs with its new key once AT and DE acknowledged it")
    # §6: every public key it ever used stays in GET /exchange/v1/keys, each named by its own §1 key_id
    published = (await world.http.get(world.registry.base_url + "/exchange/v1/keys")).json()
    listed = {key["key_id"]: key for key in published["keys"]}
    assert {old, rotated["key_id"]} <= set(listed)
    assert all(cr.key_id_of(cr.unb64u(key["public_key"])) == key_id for key_id, key in listed.items())
    assert listed[rotated["key_id"]]["public_key"] == body["public_key"]
    after = await world.deliver(
        at.notice("CZ", "export-licence.issued", {"licence": licence(number=NUMBER, version=4)})
    )
    assert after["status"] == "accepted"
    last = at.notice("CZ", "export-licence.issued", {"licence": licence(number=NUMBER, version=5)})
    answer = await world.post(cr.envelope(last, at.key))
    _, signature = cr.check_receipt(answer.content, last, world.registry_keys)
    assert signature["key_id"] == rotated["key_id"], "CZ's receipts are signed with its new key"


@pytest.mark.asyncio(loop_scope="module")
async def test_the_registry_importing_confirms_receipt_and_answers_a_confirmation_request(world: World) -> None:
    """PROTOCOL §5 with the registry as the importing State: AT (the partner) issues and dispatches; the registry's
    entry check confirms receipt to AT by itself, and AT's ``receipt.confirmation-requested`` is answered with a
    ``receipt.confirmed`` — each verified by the partner and acknowledged with its own receipt."""
    at, cz = world.at, world.registry
    # CZ's officer issues its import licence; CZ tells AT by itself (import-authorisation.issued, verified here)
    parties = {}
    for kind, name, country, address in (
        ("exporter", "Waffen Huber GmbH", "AT", "Hauptstraße 1, 4400 Steyr"),
        ("consignee", "Zbrojnice Brno s.r.o.", "CZ", "Namesti Svobody 1, Brno"),
    ):
        made = await cz.post(
            "/api/v1/parties", {"kind": kind, "name": name, "country": country, "address": address}, "licensing-officer"
        )
        assert made.status_code == 201, made.text
        parties[kind] = made.json()["party_id"]
    draft = {
        "kind": "import",
        "place_of_issue": "Praha",
        "issuing_authority": "Policejni prezidium",
        "valid_from": TODAY.isoformat(),
        "expires_on": (TODAY + dt.timedelta(days=360)).isoformat(),
        "exporting_state": "AT",
        "importing_state": "CZ",
        "route": ["AT", "CZ"],
        "exporter_id": parties["exporter"],
        "consignee_id": parties["consignee"],
        "final_recipient_id": parties["consignee"],
        "lines": licence()["lines"],
    }
    created = await cz.post("/api/v1/licences", draft, "licensing-officer")
    assert created.status_code == 201, created.text
    licence_id = created.json()["licence_id"]
    submitted = await cz.post(f"/api/v1/licences/{licence_id}/submit", {"reason": "complete"}, "licensing-officer")
    assert submitted.status_code == 200, submitted.text
    issued = await cz.post(f"/api/v1/licences/{licence_id}/issue", {"reason": "complete"}, "licensing-officer")
    assert issued.status_code == 200, issued.text
    (authorised,) = await world.from_registry("AT", 1)
    assert (authorised["type"], authorised["sequence"]) == ("import-authorisation.issued", world.sequence("AT", 1))
    assert set(authorised["body"]) == {"licence"}
    own = authorised["body"]["licence"]
    _check_licence(own, "issued")
    assert (own["kind"], own["issuing_state"], own["importing_state"]) == ("import", "CZ", "CZ")

    imported = {
        **licence(number="AT-EXP-2026-CR3"),
        "importing_state": "CZ",
        "transit_states": [],
        "consignee": {"name": "Zbrojnice Brno s.r.o.", "country": "CZ", "address": "Namesti Svobody 1, Brno"},
        "final_recipient": {"name": "Zbrojnice Brno s.r.o.", "country": "CZ", "address": "Namesti Svobody 1, Brno"},
        "import_authorisation": {
            "number": own["number"],
            "state": "CZ",
            "issued_on": TODAY.isoformat(),
            "expires_on": own["expires_on"],
        },
    }
    assert (await world.deliver(at.notice("CZ", "export-licence.issued", {"licence": imported})))["status"] == (
        "accepted"
    )
    items = [{"line": 1, "quantity": 2, "serials": ["CR-SSG08-001", "CR-SSG08-002"]}]
    dispatched = {
        "licence_number": "AT-EXP-2026-CR3",
        "shipment_id": "CR-SHP-3",
        "dispatched_at": cr.time_text(cr.now()),
        "items": items,
    }
    assert (await world.deliver(at.notice("CZ", "shipment.dispatched", dispatched)))["status"] == "accepted"
    check = {
        "check_id": str(uuid.uuid4()),
        "movement": "import",
        "licence_number": "AT-EXP-2026-CR3",
        "issuing_state": "AT",
        "crossing_point": "CZ-Breclav",
        "shipment_id": "CR-SHP-3",
        "customs_document": "CZ-ATB-2026-3",
        "lines": items,
    }
    entry = await cz.post("/api/v1/checks", check, "customs-officer")
    assert entry.status_code == 200, entry.text
    if entry.json()["verdict"] == "hold":
        released = await cz.post(
            f"/api/v1/checks/{check['check_id']}/release", {"reason": "inspected"}, "customs-officer"
        )
        assert released.status_code == 200, released.text
    else:
        assert entry.json()["verdict"] == "clear", entry.text

    fields = {"licence_number", "shipment_id", "received_on", "customs_document", "items"}
    notices = await world.from_registry("AT", 2)
    confirmed = [notice for notice in notices if notice["type"] == "receipt.confirmed"]
    assert confirmed, [notice["type"] for notice in notices]
    body = confirmed[0]["body"]
    assert set(body) == fields, f"receipt.confirmed body {sorted(body)}, PROTOCOL §5 lists {sorted(fields)}"
    assert (body["licence_number"], body["shipment_id"], body["customs_document"]) == (
        "AT-EXP-2026-CR3",
        "CR-SHP-3",
        "CZ-ATB-2026-3",
    )
    dt.date.fromisoformat(body["received_on"])
    assert [(item["line"], item["quantity"], item["serials"]) for item in body["items"]] == [
        (1, 2, ["CR-SSG08-001", "CR-SSG08-002"])
    ]

    # AT stores CZ's answer but its receipt is lost on the way (503): CZ sends the same notice again and takes the
    # duplicate's 200 with the first receipt (§4) as its proof of delivery
    world.at.lost_receipts = 1
    refusals = len(world.at.refusals)
    count = len(world.at.inboxes["CZ"].notices)
    previous = world.at.inboxes["CZ"].notices[-1]["sequence"]
    asked = at.notice(
        "CZ", "receipt.confirmation-requested", {"licence_number": "AT-EXP-2026-CR3", "shipment_id": "CR-SHP-3"}
    )
    assert (await world.deliver(asked))["status"] == "accepted"
    answers = await world.partner.wait("AT", "CZ", count + 1)
    answer = answers[-1]
    assert answer["type"] == "receipt.confirmed", answer
    assert answer["sequence"] == previous + 1
    assert set(answer["body"]) == fields
    assert answer["body"]["shipment_id"] == "CR-SHP-3"
    await wait_for(world.drained, "CZ's outbox drains against the partner's receipts")
    assert world.at.refusals[refusals:] == ["lost-receipt"]
    resent = [raw for raw in world.at.attempts if json.loads(raw)["notice"]["id"] == answer["id"]]
    assert len(resent) == 2, "sent again after the lost receipt"
    assert resent[0] == resent[1], "the same bytes"
    (row,) = await cz.fetch("SELECT status, receipt FROM notice_outbox WHERE notice_id = $1::uuid", answer["id"])
    _, given = world.at.inboxes["CZ"].stored[answer["id"]]
    assert (row["status"], json.loads(bytes(row["receipt"]))) == ("delivered", json.loads(given))
