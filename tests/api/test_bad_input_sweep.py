"""Bad input on every write endpoint, enumerated from the app's own route table (README "Bad input").

A new POST/PUT/PATCH/DELETE route is swept without anyone listing it here: the cases are built from the
route's path parameters, its ``data`` annotation, its body size limit and its roles. Each case must be a
4xx ``application/problem+json`` with ``type``, ``title`` and the HTTP status, never a 5xx, and must
leave the journal, the outbox, the inbox, the keys and the checkpoints as they were. One migrated
database and one app serve every case of the module.
"""

from __future__ import annotations

import re
import typing
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import pytest
import pytest_asyncio
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, db, tokens
from firearms.settings import Settings
from tests.changes import changes
from tests.conftest import _scratch_database

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNKNOWN_FIELD = "zz_not_a_field"
BAD_INPUT = frozenset(
    {
        "invalid-request",
        "unauthenticated",
        "body-too-large",
        "unsupported-media-type",
        "malformed-notice",
        "import-invalid-file",
    }
)
"""The problem types that refuse a request for its form (README "Problem types"), whatever the record."""


def _settings() -> Settings:
    """Settings as the app reads them (only the route table is used, before any database is needed)."""
    return Settings(state="AT", home=Path("/nonexistent"), database_url="postgresql://unused/unused", run_worker=False)


class Route(NamedTuple):
    method: str
    path: str  # Litestar's template, "/api/v1/items/{item_id:int}/events"
    handler: HTTPRouteHandler

    @property
    def body_type(self) -> Any:
        data = self.handler.parsed_fn_signature.parameters.get("data")
        return None if data is None else data.annotation

    @property
    def role(self) -> tokens.Role | None:
        """A role that may call it (``None`` on the partner surface, which takes no token)."""
        roles = sorted(self.handler.opt.get("roles", ()))
        return roles[0] if roles else None

    @property
    def max_body(self) -> int:
        limit = self.handler.resolve_request_max_body_size()
        assert isinstance(limit, int), f"{self} has no body size limit"
        return limit

    def url(self, **override: str) -> str:
        def sample(match: re.Match[str]) -> str:
            name, kind = match.group(1), match.group(2)
            return override.get(name, _SAMPLES[kind])

        return _PARAM.sub(sample, self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


_PARAM = re.compile(r"\{(\w+):(\w+)\}")
_SAMPLES = {"uuid": str(uuid.UUID(int=1)), "int": "1", "str": "XX"}
# Values of the wrong type, out of range, or text no column takes, for each kind of path parameter.
_WRONG = {
    "uuid": ["not-a-uuid", "00000000-0000-0000-0000"],
    "int": ["x", "0", "-1", "99999999999999999999"],
    "str": ["%00", "x" * 1000],
}


def write_routes(app: Litestar) -> list[Route]:
    found = [
        Route(method, route.path, handler)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in sorted(handler.http_methods & WRITE_METHODS)
    ]
    return sorted(found, key=str)


class Case(NamedTuple):
    route: Route
    name: str
    url: str
    content: bytes
    headers: Mapping[str, str | bytes]  # bytes: what httpx would not encode (a non-ASCII token)


def _json_cases(route: Route) -> Iterator[Case]:
    json = {"Content-Type": "application/json"}
    bodies = {
        "malformed JSON": b'{"a": ',
        "a JSON array": b"[]",
        "a JSON number": b"7",
        "a JSON string": b'"x"',
        "JSON null": b"null",
        "an unknown field": b'{"' + UNKNOWN_FIELD.encode() + b'": 1}',
        "invalid UTF-8": b'{"a": "\xff"}',
        "a byte-order mark": b"\xef\xbb\xbf{}",
        "a huge number": b'{"a": 1' + b"0" * 400 + b"}",
        "a number too large for a float": b'{"a": 1e400}',
        "no body": b"",
        "white space only": b" \n",
        "nested too deeply": b"[" * 100_000 + b"]" * 100_000,
        "a NUL in a key": b'{"a\\u0000": 1}',
    }
    for name, body in bodies.items():
        yield Case(route, name, route.url(), body, json)
    # A field of the body named twice (the last would win, silently): {"role": 1, "role": 1}.
    first = msgspec.structs.fields(route.body_type)[0].encode_name if route.body_type is not None else "protocol"
    yield Case(route, "a key twice", route.url(), f'{{"{first}": 1, "{first}": 1}}'.encode(), json)
    yield Case(route, "a body over the size limit", route.url(), b'"' + b"x" * route.max_body + b'"', json)
    yield Case(route, "text/plain", route.url(), b"{}", {"Content-Type": "text/plain"})
    yield Case(route, "a form", route.url(), b"a=1", {"Content-Type": "application/x-www-form-urlencoded"})
    yield Case(route, "a Content-Length that is no number", route.url(), b"{}", json | {"Content-Length": "x"})
    yield Case(route, "a Content-Length above the limit", route.url(), b"{}", json | {"Content-Length": "9" * 30})


def _path_cases(route: Route) -> Iterator[Case]:
    """No body, so that a route that takes none reaches its handler with the wrong value."""
    for name, kind in _PARAM.findall(route.path):
        for wrong in _WRONG[kind]:
            yield Case(route, f"{name}={wrong}", route.url(**{name: wrong}), b"", {})


def _file_cases(route: Route) -> Iterator[Case]:
    """A file (CSV or NDJSON) the handler streams to disk: the size is refused from Content-Length before reading."""
    yield Case(route, "a JSON body", route.url(), b'{"a": 1}', {"Content-Type": "application/json"})
    yield Case(route, "no Content-Type", route.url(), b"kind\n", {})
    too_large = {"Content-Type": "text/csv", "Content-Length": str(route.max_body + 1)}
    yield Case(route, "a body over the size limit", route.url(), b"kind\n", too_large)


def _no_body_cases(route: Route) -> Iterator[Case]:
    """A handler that reads no body: any body is refused, not dropped while the action is done."""
    json = {"Content-Type": "application/json"}
    yield Case(route, "an empty object", route.url(), b"{}", json)
    yield Case(route, "malformed JSON", route.url(), b'{"a": ', json)
    yield Case(route, "text/plain", route.url(), b"why", {"Content-Type": "text/plain"})
    yield Case(route, "a body over the size limit", route.url(), b"x" * (route.max_body + 1), json)


def _auth_cases(route: Route) -> Iterator[Case]:
    """An officer route with a malformed token: 401 before anything is read."""
    if route.role is None:
        return
    tokens: dict[str, str | bytes] = {
        "a Bearer without a token": "Bearer",
        "a Basic credential": "Basic YTpi",
        "a token of 10000 characters": "Bearer fr_" + "x" * 10_000,
        "a token with a non-ASCII letter": "Bearer fr_\u00e9".encode(),  # UTF-8 bytes in the header
    }
    for name, value in tokens.items():
        yield Case(route, name, route.url(), b"{}", {"Content-Type": "application/json", "Authorization": value})


def cases(app: Litestar) -> list[Case]:
    found: list[Case] = []
    for route in write_routes(app):
        if route.body_type is not None or route.path.startswith("/exchange/"):
            found.extend(_json_cases(route))
        elif route.handler.opt.get("reads_body"):
            found.extend(_file_cases(route))
        else:
            found.extend(_no_body_cases(route))
        found.extend(_path_cases(route))
        found.extend(_auth_cases(route))
    return found


CASES = cases(create_app(_settings()))


class Registry(NamedTuple):
    client: AsyncTestClient  # type: ignore[type-arg]
    conn: db.Conn
    headers: dict[str | None, dict[str, str]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def registry(
    pg_admin_uri: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Registry]:
    """One migrated database and one app for the whole sweep, with a token of every role."""
    del template_url  # built: the clone below is of it
    async with _scratch_database(pg_admin_uri, 'TEMPLATE "firearms_template" STRATEGY FILE_COPY') as url:
        home = tmp_path_factory.mktemp("sweep-home")
        settings = Settings(state="AT", home=home, database_url=url, run_worker=False)
        await bootstrap.initialise(settings, url)
        conn = await db.connect(url)
        try:
            headers: dict[str | None, dict[str, str]] = {None: {}}
            for role in tokens.ROLES:
                secret, _ = await tokens.create_token(conn, role=role, name=f"sweep {role}", actor="test")
                headers[role] = {"Authorization": f"Bearer {secret}"}
            async with AsyncTestClient(app=create_app(settings)) as client:
                yield Registry(client, conn, headers)
        finally:
            await conn.close()


def test_the_sweep_finds_the_write_endpoints() -> None:
    """The enumeration itself: it must see the endpoints it is meant to, and every kind of body."""
    routes = {str(route) for route in write_routes(create_app(_settings()))}
    assert {"POST /api/v1/items", "POST /api/v1/checks", "POST /api/v1/imports", "POST /exchange/v1/notices"} <= routes
    assert len(CASES) > 5 * len(routes)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.route} {case.name}")
async def test_bad_input_is_a_problem_and_changes_nothing(registry: Registry, case: Case) -> None:
    before = await changes(registry.conn)
    response = await registry.client.request(
        case.route.method,
        case.url,
        content=case.content,
        headers=[
            (name.encode(), value if isinstance(value, bytes) else value.encode())
            for name, value in {**registry.headers[case.route.role], **case.headers}.items()
        ],
    )
    assert response.status_code < 500, response.text
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    problem = response.json()
    assert isinstance(problem, dict), problem
    assert isinstance(problem.get("type"), str), problem
    assert problem["type"], problem
    assert isinstance(problem.get("title"), str), problem
    assert problem["title"], problem
    assert problem.get("status") == response.status_code, problem
    # refused as bad input, before any handler acted: a 4xx from the handler's own logic (a 409 because the
    # body was dropped and the action tried, a 404 for a record the sample id names) is not a refusal
    refusals = BAD_INPUT | ({"not-found"} if case.url != case.route.url() else set())  # a path that matches no route
    assert problem["type"].rsplit("/", 1)[-1] in refusals, problem
    if case.name == "an unknown field" and case.route.body_type is not None:
        assert UNKNOWN_FIELD in response.text, f"the unknown field is not what was refused: {problem}"
    if case.name == "a key twice" and case.route.body_type is not None:
        assert "twice" in problem["detail"], f"the key named twice is not what was refused: {problem}"
    assert await changes(registry.conn) == before


def _structs(annotation: Any, seen: set[type]) -> Iterator[type[msgspec.Struct]]:
    """Every Struct a request body may hold, nested ones included."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        if annotation in seen:
            return
        seen.add(annotation)
        yield annotation
        for hint in typing.get_type_hints(annotation, include_extras=True).values():
            yield from _structs(hint, seen)
        return
    for argument in typing.get_args(annotation):
        yield from _structs(argument, seen)


def test_every_request_struct_forbids_unknown_fields() -> None:
    """A nested Struct that took unknown fields would drop a misspelt field silently (DESIGN §7)."""
    seen: set[type] = set()
    lenient = [
        f"{route}: {struct.__qualname__}"
        for route in write_routes(create_app(_settings()))
        if route.body_type is not None
        for struct in _structs(route.body_type, seen)
        if not struct.__struct_config__.forbid_unknown_fields
    ]
    assert not lenient
