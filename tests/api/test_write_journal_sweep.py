"""Every successful write is journaled in its transaction (DESIGN §6), enumerated from the app's route table.

Each write route (the same enumeration as ``test_bad_input_sweep``) is either in :data:`SCENARIOS`, a
cheap successful request built through the API (and the domain for what the API cannot do alone), or in
:data:`NOT_COVERED` with why; a new route fails :func:`test_every_write_route_is_swept_or_excused` until
someone decides. A scenario's request must answer 2xx, leave at least one new journal entry naming the
record (its id from the path or the answer), and leave a chain that still verifies.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import msgspec
import pytest
from litestar.testing import AsyncTestClient

import tests.exchange_util  # noqa: F401  # registers test.ping
from api import create_app
from firearms import bootstrap, db, journal, outbox, tokens
from firearms.settings import Settings
from tests.api.test_bad_input_sweep import _settings, write_routes
from tests.api.test_exchange_admin import CZ_KEY, DE_KEY
from tests.check_helpers import check_body, register_stolen
from tests.conftest import TokenFactory
from tests.exchange_util import DE_KEY as DE_SIGNING_KEY
from tests.exchange_util import VECTORS, envelope
from tests.licensing_helpers import TODAY, draft_json, export_draft, issued_export, no_objection, register_parties


class Context(NamedTuple):
    client: AsyncTestClient  # type: ignore[type-arg]
    conn: db.Conn
    settings: Settings
    admin: dict[str, str]
    auth: TokenFactory


class Request(NamedTuple):
    """The request under test, after its scenario built what it needs.

    ``body`` is sent as JSON; ``content`` (with its ``content_type``) as it is: an import file, a signed
    notice. ``role`` is the officer who sends it (an admin may not do what only customs officers do).
    ``created``: for a request whose answer does not hold the id of what it stored, a query run after it
    that gives those ids as the journal names them (a queued notice, a received one).
    """

    path: str
    body: Any = None
    role: tokens.Role = "admin"
    content: bytes | None = None
    content_type: str | None = None
    created: str | None = None


Scenario = Callable[[Context], Awaitable[Request]]

PARTY = {"kind": "exporter", "name": "Jana Novak", "country": "AT", "address": "Hauptplatz 1, Graz"}
RIFLE = {
    "kind": "firearm",
    "firearm_type": "rifle",
    "manufacturer": "Steyr Mannlicher",
    "country_of_manufacture": "AT",
    "serial": "SSG08-001",
    "markings": [{"kind": "manufacture", "stamped": "STEYR AUSTRIA SSG08-001", "serial": "SSG08-001"}],
}
REASON = {"reason": "the sweep"}


async def _post(ctx: Context, path: str, body: Any = None) -> dict[str, Any]:
    response = await ctx.client.post(path, json=body, headers=ctx.admin)
    assert response.is_success, f"{path}: {response.text}"
    answer: dict[str, Any] = response.json()
    return answer


async def _party(ctx: Context) -> str:
    return str((await _post(ctx, "/api/v1/parties", PARTY))["party_id"])


async def _item(ctx: Context) -> int:
    item_id: int = (await _post(ctx, "/api/v1/items", RIFLE))["item_id"]
    return item_id


async def _marking(ctx: Context) -> tuple[int, int]:
    item = await _post(ctx, "/api/v1/items", RIFLE)
    return item["item_id"], item["markings"][0]["marking_id"]


async def _draft(ctx: Context) -> str:
    parties = await register_parties(ctx.conn)
    return str((await _post(ctx, "/api/v1/licences", draft_json(export_draft(parties))))["licence_id"])


async def _pending(ctx: Context) -> str:
    licence_id = await _draft(ctx)
    await _post(ctx, f"/api/v1/licences/{licence_id}/submit", REASON)
    return licence_id


async def _issued(ctx: Context) -> str:
    async with ctx.conn.transaction():
        issued = await issued_export(ctx.conn, ctx.settings, await register_parties(ctx.conn))
    return str(issued.licence_id)


async def _amend(ctx: Context) -> Request:
    parties = await register_parties(ctx.conn)
    licence_id = (await _post(ctx, "/api/v1/licences", draft_json(export_draft(parties))))["licence_id"]
    amended = export_draft(parties, place_of_issue="Linz", reason="the sweep")
    return Request(f"/api/v1/licences/{licence_id}/versions", draft_json(amended))


async def _issue(ctx: Context) -> Request:
    licence_id = await _pending(ctx)
    async with ctx.conn.transaction():
        await no_objection(ctx.conn, uuid.UUID(licence_id), "CZ")
    return Request(f"/api/v1/licences/{licence_id}/issue", REASON)


async def _reinstate(ctx: Context) -> Request:
    licence_id = await _issued(ctx)
    await _post(ctx, f"/api/v1/licences/{licence_id}/suspend", REASON)
    return Request(f"/api/v1/licences/{licence_id}/reinstate", REASON)


async def _token(ctx: Context) -> str:
    return str((await _post(ctx, "/api/v1/tokens", {"role": "auditor", "name": "sweep"}))["info"]["token_id"])


async def _peer(ctx: Context) -> str:
    await _post(ctx, "/api/v1/peers", {"state": "DE", "base_url": "https://registry.example.de", "public_key": DE_KEY})
    return "DE"


async def _rotated(ctx: Context) -> str:
    """A rotation waiting for a partner's acknowledgement (without partners it switches at once)."""
    await _peer(ctx)
    return str((await _post(ctx, "/api/v1/keys/rotate"))["key_id"])


async def _switched_from(ctx: Context) -> str:
    """The key in use before a rotation and switch: one that may be revoked."""
    first = str(await ctx.conn.fetchval("SELECT key_id FROM registry_key ORDER BY not_before LIMIT 1"))
    await _rotated(ctx)
    await _post(ctx, "/api/v1/keys/switch")
    return first


async def _export_check(ctx: Context, *, held: bool = False) -> Request:
    """A customs check at exit against an issued licence of this registry; ``held``: a serial reported stolen here."""
    async with ctx.conn.transaction():
        issued = await issued_export(ctx.conn, ctx.settings, await register_parties(ctx.conn))
    if held:
        await register_stolen(ctx.conn, "SSG08-002")
    body = check_body("export", licence_number=issued.licence.number, crossing_point="AT-Wullowitz")
    return Request("/api/v1/checks", body, role="customs-officer")


async def _decide_held(ctx: Context, decision: str) -> Request:
    held = await _export_check(ctx, held=True)
    response = await ctx.client.post(held.path, json=held.body, headers=await ctx.auth("customs-officer"))
    assert response.json()["verdict"] == "hold", response.text
    return Request(f"/api/v1/checks/{held.body['check_id']}/{decision}", REASON, role="customs-officer")


async def _confirmation_request(ctx: Context) -> Request:
    """The exporting State asks the importing one (a partner) to confirm a shipment's receipt."""
    async with ctx.conn.transaction():
        issued = await issued_export(ctx.conn, ctx.settings, await register_parties(ctx.conn))
    await _peer(ctx)
    body = {"licence_number": issued.licence.number, "shipment_id": "SHP-1"}
    return Request(
        "/api/v1/shipments/confirmation-requests",
        body,
        role="customs-officer",
        created="SELECT notice_id::text FROM notice_outbox WHERE type = 'receipt.confirmation-requested'",
    )


async def _resequence(ctx: Context) -> Request:
    """A partner that answered sequence-gap expecting 9 (what the worker records: tests/db/test_outbox_delivery)."""
    state = await _peer(ctx)
    async with ctx.conn.transaction():
        await outbox.enqueue(ctx.conn, state, "test.ping", {"n": 1})
    await outbox.number_queued(ctx.conn)
    await ctx.conn.execute("UPDATE notice_outbox SET expected_sequence = 9")
    return Request(f"/api/v1/peers/{state}/resequence", {"first_sequence": 9})


async def _notice(ctx: Context) -> Request:
    """A partner's signed notice: DE, trusted with its key, sends this registry its first one."""
    state = await _peer(ctx)
    raw = envelope(DE_SIGNING_KEY, sender=state, recipient=ctx.settings.state, sequence=1)
    return Request(
        "/exchange/v1/notices",
        content=raw,
        content_type="application/json",
        created="SELECT sender || '/' || notice_id FROM notice_inbox",
    )


def _de_licence_through(state: str) -> dict[str, Any]:
    """The test vectors' licence as DE's export to CZ through ``state``, pending DE's requests for consent."""
    licence: dict[str, Any] = copy.deepcopy(VECTORS["notice"]["envelope"]["notice"]["body"]["licence"])
    de_party = {"name": "Waffen Schmidt GmbH", "country": "DE", "address": "Hauptstrasse 1, 94032 Passau"}
    cz_party = {"name": "Zbrojni Novak s.r.o.", "country": "CZ", "address": "Namesti 3, 38101 Cesky Krumlov"}
    authorisation = {"number": "CZ-IMP-2026-42", "state": "CZ", "issued_on": "2026-11-20", "expires_on": "2027-11-19"}
    return licence | {
        "number": "DE-EXP-2026-000123",
        "issuing_state": "DE",
        "status": "pending",
        "issued_at": None,
        "place_of_issue": "Berlin",
        "issuing_authority": "Bundesamt",
        "exporting_state": "DE",
        "importing_state": "CZ",
        "transit_states": [state],
        "exporter": de_party,
        "consignee": cz_party,
        "final_recipient": cz_party,
        "import_authorisation": authorisation,
    }


async def _consent_decision(ctx: Context) -> Request:
    """DE asks this registry's consent to a transit by signed notice; its licensing officer decides."""
    state = await _peer(ctx)
    body = {
        "licence": _de_licence_through(ctx.settings.state),
        "shipment_window": {"from": "2026-12-01", "to": "2026-12-20"},
    }
    raw = envelope(
        DE_SIGNING_KEY, sender=state, recipient=ctx.settings.state, type_="transit-consent.requested", body=body
    )
    response = await ctx.client.post("/exchange/v1/notices", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text
    notice_id = msgspec.json.decode(raw)["notice"]["id"]
    return Request(
        f"/api/v1/consent-requests/{state}/{notice_id}/decision", {"decision": "no-objection"}, role="licensing-officer"
    )


IMPORT_FILE = (
    b"kind,firearm_type,manufacturer,country_of_manufacture,serial,marking_stamped\n"
    b"firearm,pistol,Glock GmbH,AT,SWEEP-1,GLOCK SWEEP-1\n"
)


async def _dispatched_consent_request(ctx: Context) -> Request:
    return Request(f"/api/v1/licences/{await _pending(ctx)}/transit-consent-requests", {"transit_state": "CZ"})


async def _trace_answer(ctx: Context) -> Request:
    """DE asks this registry to trace a weapon by signed notice; its records officer answers."""
    state = await _peer(ctx)
    body = {
        "weapon": {"kind": "firearm", "serial": "SWEEP-9"},
        "circumstances": "seized",
        "intended_use": "investigation",
        "answer_by": str(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)),  # at most a year after the notice
    }
    raw = envelope(DE_SIGNING_KEY, sender=state, recipient=ctx.settings.state, type_="trace.requested", body=body)
    response = await ctx.client.post("/exchange/v1/notices", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 202, response.text
    request_id = await ctx.conn.fetchval("SELECT trace_request_id FROM trace_request WHERE direction = 'incoming'")
    return Request(f"/api/v1/trace-requests/{request_id}/answer", {"outcome": "not-found"}, role="records-officer")


async def _trace_request(ctx: Context) -> Request:
    state = await _peer(ctx)
    body = {
        "recipient": state,
        "weapon": {"kind": "firearm", "serial": "SWEEP-9"},
        "circumstances": "seized",
        "intended_use": "investigation",
    }
    return Request("/api/v1/trace-requests", body, role="records-officer")


SCENARIOS: dict[str, Scenario] = {
    "POST /api/v1/parties": lambda ctx: _const(Request("/api/v1/parties", PARTY)),
    "POST /api/v1/parties/{party_id:uuid}/status": lambda ctx: _then(
        _party(ctx), lambda p: Request(f"/api/v1/parties/{p}/status", {"status": "suspended", **REASON})
    ),
    "POST /api/v1/items": lambda ctx: _const(Request("/api/v1/items", RIFLE)),
    "POST /api/v1/items/{item_id:int}/events": lambda ctx: _then(
        _item(ctx),
        lambda i: Request(
            f"/api/v1/items/{i}/events", {"event": "transferred", "occurred_on": str(TODAY), "to_party": "Jane Doe"}
        ),
    ),
    "POST /api/v1/items/{item_id:int}/markings": lambda ctx: _then(
        _item(ctx), lambda i: Request(f"/api/v1/items/{i}/markings", {"kind": "proof", "stamped": "BP"})
    ),
    "POST /api/v1/items/{item_id:int}/corrections": lambda ctx: _then(
        _item(ctx),
        lambda i: Request(f"/api/v1/items/{i}/corrections", {"changes": {"model": "SSG 69"}, "reason": "mistyped"}),
    ),
    "POST /api/v1/items/{item_id:int}/markings/{marking_id:int}/corrections": lambda ctx: _then(
        _marking(ctx),
        lambda m: Request(
            f"/api/v1/items/{m[0]}/markings/{m[1]}/corrections", {"changes": {"stamped": "STEYR"}, "reason": "misread"}
        ),
    ),
    "POST /api/v1/licences": lambda ctx: _then(
        register_parties(ctx.conn), lambda p: Request("/api/v1/licences", draft_json(export_draft(p)))
    ),
    "POST /api/v1/licences/{licence_id:uuid}/versions": _amend,
    "POST /api/v1/licences/{licence_id:uuid}/submit": lambda ctx: _then(
        _draft(ctx), lambda lic: Request(f"/api/v1/licences/{lic}/submit", REASON)
    ),
    "POST /api/v1/licences/{licence_id:uuid}/issue": _issue,
    "POST /api/v1/licences/{licence_id:uuid}/suspend": lambda ctx: _then(
        _issued(ctx), lambda lic: Request(f"/api/v1/licences/{lic}/suspend", REASON)
    ),
    "POST /api/v1/licences/{licence_id:uuid}/reinstate": _reinstate,
    "POST /api/v1/licences/{licence_id:uuid}/revoke": lambda ctx: _then(
        _issued(ctx), lambda lic: Request(f"/api/v1/licences/{lic}/revoke", REASON)
    ),
    "POST /api/v1/licences/{licence_id:uuid}/transit-consents": lambda ctx: _then(
        _pending(ctx),
        lambda lic: Request(
            f"/api/v1/licences/{lic}/transit-consents",
            {"transit_state": "CZ", "decision": "no-objection", "decided_on": str(TODAY)},
        ),
    ),
    "POST /api/v1/licences/{licence_id:uuid}/transit-consent-requests": _dispatched_consent_request,
    "POST /api/v1/tokens": lambda ctx: _const(Request("/api/v1/tokens", {"role": "auditor", "name": "sweep"})),
    "POST /api/v1/tokens/{token_id:uuid}/revoke": lambda ctx: _then(
        _token(ctx), lambda t: Request(f"/api/v1/tokens/{t}/revoke")
    ),
    "POST /api/v1/peers": lambda ctx: _const(
        Request("/api/v1/peers", {"state": "DE", "base_url": "https://registry.example.de", "public_key": DE_KEY})
    ),
    "POST /api/v1/peers/{peer_state:str}/disable": lambda ctx: _then(
        _peer(ctx), lambda s: Request(f"/api/v1/peers/{s}/disable")
    ),
    "POST /api/v1/peers/{peer_state:str}/enable": lambda ctx: _then(
        _peer(ctx), lambda s: Request(f"/api/v1/peers/{s}/enable")
    ),
    "POST /api/v1/peers/{peer_state:str}/keys": lambda ctx: _then(
        _peer(ctx), lambda s: Request(f"/api/v1/peers/{s}/keys", {"public_key": CZ_KEY})
    ),
    "POST /api/v1/keys/rotate": lambda ctx: _const(Request("/api/v1/keys/rotate")),
    "POST /api/v1/keys/replace": lambda ctx: _const(Request("/api/v1/keys/replace", REASON)),
    "POST /api/v1/keys/switch": lambda ctx: _then(_rotated(ctx), lambda _: Request("/api/v1/keys/switch")),
    "POST /api/v1/keys/{key_id:str}/cancel": lambda ctx: _then(
        _rotated(ctx), lambda k: Request(f"/api/v1/keys/{k}/cancel", REASON)
    ),
    "POST /api/v1/keys/{key_id:str}/revoke": lambda ctx: _then(
        _switched_from(ctx), lambda k: Request(f"/api/v1/keys/{k}/revoke", REASON)
    ),
    "POST /api/v1/checks": _export_check,
    "POST /api/v1/checks/{check_id:uuid}/release": lambda ctx: _decide_held(ctx, "release"),
    "POST /api/v1/checks/{check_id:uuid}/refuse": lambda ctx: _decide_held(ctx, "refuse"),
    "POST /api/v1/shipments/confirmation-requests": _confirmation_request,
    "POST /api/v1/peers/{peer_state:str}/resequence": _resequence,
    "POST /api/v1/imports": lambda ctx: _const(
        Request("/api/v1/imports", content=IMPORT_FILE, content_type="text/csv", role="records-officer")
    ),
    "POST /exchange/v1/notices": _notice,
    "POST /api/v1/consent-requests/{requesting_state:str}/{notice_id:str}/decision": _consent_decision,
    "POST /api/v1/trace-requests": _trace_request,
    "POST /api/v1/trace-requests/{trace_request_id:int}/answer": _trace_answer,
}

NOT_COVERED = {
    "POST /api/v1/journal/checkpoints": "signs the journal's head: a checkpoint is kept beside the chain, not in it",
}


async def _const(request: Request) -> Request:
    return request


async def _then(prerequisite: Awaitable[Any], build: Callable[[Any], Request]) -> Request:
    return build(await prerequisite)


def test_every_write_route_is_swept_or_excused() -> None:
    routes = {str(route) for route in write_routes(create_app(_settings()))}
    assert not set(SCENARIOS) & set(NOT_COVERED)
    assert routes - set(SCENARIOS) - set(NOT_COVERED) == set(), "a write route nobody decided about"
    assert set(SCENARIOS) | set(NOT_COVERED) == routes, "a route listed that no longer exists"


def _ids(value: Any) -> set[str]:
    """Every identifier an answer holds (``*_id`` members, a partner's ``state``, nested ones included)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if (key.endswith("_id") or key == "state") and isinstance(inner, str | int):
                found.add(str(inner))
            found |= _ids(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _ids(inner)
    return found


@pytest.mark.parametrize("route", sorted(SCENARIOS))
async def test_a_successful_write_is_journaled_naming_the_record(
    route: str,
    client: AsyncTestClient,  # type: ignore[type-arg]
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
    auth: TokenFactory,
) -> None:
    del initialised  # the signing key and the first token
    ctx = Context(client, conn, settings, await auth("admin"), auth)
    request = await SCENARIOS[route](ctx)
    headers = ctx.admin if request.role == "admin" else await auth(request.role)
    before = await conn.fetchval("SELECT coalesce(max(entry_id), 0) FROM journal_entry")
    if request.content is None:
        response = await client.post(request.path, json=request.body, headers=headers)
    else:
        response = await client.post(
            request.path, content=request.content, headers=headers | {"content-type": request.content_type or ""}
        )
    assert response.is_success, f"{route}: {response.status_code} {response.text}"
    named = {part for part in request.path.split("/") if part} | _ids(response.json())
    if request.created is not None:
        named |= {row[0] for row in await conn.fetch(request.created)}
    entries = await conn.fetch(
        "SELECT action, entity, entity_id FROM journal_entry WHERE entry_id > $1 ORDER BY entry_id", before
    )
    assert entries, f"{route}: nothing journaled"
    assert any(entry["entity_id"] in named for entry in entries), (
        f"{route}: no entry names the record ({sorted(named)}): {[tuple(e) for e in entries]}"
    )
    await journal.seal(conn)
    verified = await journal.verify(conn, state="AT")
    assert verified.intact, verified
