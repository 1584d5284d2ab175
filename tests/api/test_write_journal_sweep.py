"""Every successful write is journaled in its transaction (DESIGN §6), enumerated from the app's route table.

Each write route (the same enumeration as ``test_bad_input_sweep``) is either in :data:`SCENARIOS`, a
cheap successful request built through the API (and the domain for what the API cannot do alone), or in
:data:`NOT_COVERED` with why; a new route fails :func:`test_every_write_route_is_swept_or_excused` until
someone decides. A scenario's request must answer 2xx, leave at least one new journal entry naming the
record (its id from the path or the answer), and leave a chain that still verifies.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, db, journal
from firearms.settings import Settings
from tests.api.test_bad_input_sweep import _settings, write_routes
from tests.api.test_exchange_admin import CZ_KEY, DE_KEY
from tests.conftest import TokenFactory
from tests.licensing_helpers import TODAY, draft_json, export_draft, issued_export, no_objection, register_parties


class Context(NamedTuple):
    client: AsyncTestClient  # type: ignore[type-arg]
    conn: db.Conn
    settings: Settings
    admin: dict[str, str]


class Request(NamedTuple):
    """The request under test, after its scenario built what it needs."""

    path: str
    body: Any = None


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


async def _dispatched_consent_request(ctx: Context) -> Request:
    return Request(f"/api/v1/licences/{await _pending(ctx)}/transit-consent-requests", {"transit_state": "CZ"})


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
    "POST /api/v1/keys/switch": lambda ctx: _then(_rotated(ctx), lambda _: Request("/api/v1/keys/switch")),
    "POST /api/v1/keys/{key_id:str}/cancel": lambda ctx: _then(
        _rotated(ctx), lambda k: Request(f"/api/v1/keys/{k}/cancel", REASON)
    ),
    "POST /api/v1/keys/{key_id:str}/revoke": lambda ctx: _then(
        _switched_from(ctx), lambda k: Request(f"/api/v1/keys/{k}/revoke", REASON)
    ),
}

NOT_COVERED = {
    "POST /api/v1/journal/checkpoints": "signs the journal's head: a checkpoint is kept beside the chain, not in it",
    "POST /api/v1/checks": "needs an issued licence and its customs context (tests/api/test_checks_api.py)",
    "POST /api/v1/checks/{check_id:uuid}/refuse": "needs a check held for a decision (test_checks_api)",
    "POST /api/v1/checks/{check_id:uuid}/release": "needs a check held for a decision (test_checks_api)",
    "POST /api/v1/consent-requests/{requesting_state:str}/{notice_id:str}/decision": "needs a signed notice "
    "received from a partner (tests/api/test_received_consents.py)",
    "POST /api/v1/imports": "an import file streamed to disk and run by the worker (tests/api/test_records_io_api.py)",
    "POST /api/v1/shipments/confirmation-requests": "needs a dispatched shipment (test_receipt_confirmation)",
    "POST /api/v1/peers/{peer_state:str}/resequence": "needs a partner ahead after a restore (test_outbox_delivery)",
    "POST /exchange/v1/notices": "a partner's signed notice (tests/api/test_exchange_receive.py)",
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
    ctx = Context(client, conn, settings, await auth("admin"))
    request = await SCENARIOS[route](ctx)
    before = await conn.fetchval("SELECT coalesce(max(entry_id), 0) FROM journal_entry")
    response = await client.post(request.path, json=request.body, headers=ctx.admin)
    assert response.is_success, f"{route}: {response.status_code} {response.text}"
    named = {part for part in request.path.split("/") if part} | _ids(response.json())
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
