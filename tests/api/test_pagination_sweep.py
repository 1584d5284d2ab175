"""``?after=`` on every paginated list, enumerated from the app's own route table (README "Problem types").

A list route is a GET whose handler takes an ``after`` cursor; a new one is swept without anyone listing it here.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import db, journal, tokens
from firearms.settings import Settings
from tests.conftest import TokenFactory

_PATH = re.compile(r"\{(\w+):(\w+)\}")
_PATH_SAMPLES = {"uuid": str(uuid.UUID(int=1)), "int": "1", "str": "XX"}
# Query parameters a list requires besides its cursor, with a value it takes (a new one fails the sweep below
# until it is given one here).
_QUERY_SAMPLES = {
    "q": "SSG08",
    "issuing_state": "AT",
    "licence_number": "AT-EXP-2026-000123",
    "certificate_number": "AT-DEAC-2026-17",
}
# Lists whose handler asks one of several optional filters (422 invalid-check-filter without one).
_FILTERS = {"/api/v1/checks": "serial=SSG08-001&"}


def list_routes() -> list[tuple[str, HTTPRouteHandler]]:
    settings = Settings(state="AT", home=Path("/nonexistent"), database_url="postgresql://unused/unused")
    app = create_app(settings)
    return sorted(
        (route.path, handler)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        if "GET" in handler.http_methods and "after" in handler.parsed_fn_signature.parameters
    )


def _url(path: str, handler: HTTPRouteHandler) -> str:
    dependencies = handler.resolve_dependencies()
    in_path = set(_PATH.findall(path))
    required = [
        name
        for name, parameter in handler.parsed_fn_signature.parameters.items()
        if name not in dependencies
        and name not in {name for name, _ in in_path}
        and name not in {"after", "request", "conn"}
        and not parameter.has_default
    ]
    missing = [name for name in required if name not in _QUERY_SAMPLES]
    assert not missing, f"{path} requires {missing}: give them a sample"
    query = "&".join(f"{name}={_QUERY_SAMPLES[name]}" for name in required)
    filters = _FILTERS.get(path, "")
    return (
        f"{_PATH.sub(lambda match: _PATH_SAMPLES[match.group(2)], path)}?{filters}{query + '&' if query else ''}after="
    )


async def test_an_empty_after_cursor_is_refused_on_every_list(
    client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    # "?after=" is a client that lost its cursor: every list answered the first page again, and a walk that
    # builds its URL from an empty "next" restarted silently, for ever. It is refused, as any bad query parameter.
    routes = list_routes()
    assert len(routes) >= 18  # every list of the registry (tokens, journal, items, licences, checks, ...)
    for path, handler in routes:
        role: tokens.Role = sorted(handler.opt.get("roles", ("admin",)))[0]
        url = _url(path, handler)
        response = await client.get(url, headers=await auth(role))
        assert response.status_code == 400, f"{url}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"].endswith("/invalid-request"), url
        assert [error["key"] for error in problem["errors"]] == ["after"], url


async def test_the_journal_walked_page_by_page_misses_no_entry_that_commits_late(
    client: AsyncTestClient[Litestar], auth: TokenFactory, conn: db.Conn, database: str
) -> None:
    # An entry's id is taken when it is written, not when its transaction commits: an entry written by a
    # transaction still open when a later one committed got a smaller id than entries already listed, and a walk
    # by entry id went past it for ever (an auditor's copy of the journal lacked it). The list follows the chain,
    # which links entries in commit order.
    auditor = await auth("auditor")
    slow = await db.connect(database)
    try:
        open_transaction = slow.transaction()
        await open_transaction.start()
        late = await journal.record(
            slow, actor="officer:slow", action="probe.made", entity="probe", entity_id="late", payload={}
        )
        quick = [
            await journal.record(
                conn, actor="officer:quick", action="probe.made", entity="probe", entity_id=str(n), payload={}
            )
            for n in range(3)
        ]
        first = await client.get("/api/v1/journal", params={"entity": "probe", "limit": 2}, headers=auditor)
        assert first.status_code == 200, first.text
        await open_transaction.commit()
    finally:
        await slow.close()
    seen = [item["entry_id"] for item in first.json()["items"]]
    cursor = first.json()["next"]
    assert cursor is not None
    while cursor is not None:
        following = await client.get(
            "/api/v1/journal", params={"entity": "probe", "limit": 2, "after": cursor}, headers=auditor
        )
        assert following.status_code == 200, following.text
        seen += [item["entry_id"] for item in following.json()["items"]]
        cursor = following.json()["next"]
    assert sorted(seen) == sorted([late, *quick])
    assert len(seen) == len(set(seen))
