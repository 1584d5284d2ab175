"""An empty text filter (``?serial=``) is refused on every officer GET, enumerated from the app's route table.

``GET /api/v1/items?serial=`` (a scanner that read nothing, a script whose variable was empty) answered 200 with no
item: read as "not registered". No record holds an empty text (the API refuses one, ``invalid-text``), so an
empty filter can only ever match nothing; like an empty cursor (``?after=``), it is a 400 naming the parameter.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import tokens
from firearms.settings import Settings
from tests.api.test_pagination_sweep import _PATH, _PATH_SAMPLES, _QUERY_SAMPLES
from tests.conftest import TokenFactory


def text_filters() -> list[tuple[str, HTTPRouteHandler, str, list[str]]]:
    """Each officer GET's optional text query parameters: path, handler, the parameter, the required ones."""
    settings = Settings(state="AT", home=Path("/nonexistent"), database_url="postgresql://unused/unused")
    app = create_app(settings)
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/api/v1"):
            continue
        for method, (handler, model) in route.route_handler_map.items():
            if method != "GET":
                continue
            signature = handler.parsed_fn_signature.parameters
            required = sorted(p.field_alias for p in model.expected_query_params if p.is_required)
            for parameter in model.expected_query_params:
                if parameter.field_alias != "after" and signature[parameter.field_name].annotation == str | None:
                    found.append((route.path, handler, parameter.field_alias, required))
    return sorted(found, key=lambda row: (row[0], row[2]))


async def test_an_empty_text_filter_is_refused_on_every_officer_get(
    client: AsyncTestClient[Litestar], auth: TokenFactory
) -> None:
    filters = text_filters()
    named = {(path, name) for path, _, name, _ in filters}
    assert {("/api/v1/items", "serial"), ("/api/v1/journal", "entity"), ("/api/v1/checks", "licence_number")} <= named
    for path, handler, name, required in filters:
        role: tokens.Role = sorted(handler.opt.get("roles", ("admin",)))[0]
        given = "".join(f"{other}={_QUERY_SAMPLES[other]}&" for other in required)
        url = f"{_PATH.sub(lambda match: _PATH_SAMPLES[match.group(2)], path)}?{given}{name}="
        response = await client.get(url, headers=await auth(role))
        assert response.status_code == 400, f"{url}: {response.status_code} {response.text[:300]}"
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"].endswith("/invalid-request"), url
        assert [error["key"] for error in problem["errors"]] == [name], url
