"""Under ``/schema``: the OpenAPI document only, nothing that loads from another origin (README "Security").

The page Litestar's Scalar plugin rendered at ``/schema`` and ``/schema/scalar`` ran ``cdn.jsdelivr.net``'s
``@latest`` script in the registry's origin, where officers paste bearer tokens, and stayed blank at an air-gapped
border post. Every page under ``/schema`` is taken from the app's own route table and what it serves is parsed.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

# Attributes that make a browser fetch or navigate (HTML 5, SVG's xlink:href); CSS url(...) and @import alike.
_FETCHING = frozenset({"src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset", "background"})
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""", re.IGNORECASE)
# Pages that no renderer serves now: Litestar's other viewers' default paths and the Scalar page that was.
_FORMER_VIEWERS = ("/schema/scalar", "/schema/swagger", "/schema/redoc", "/schema/rapidoc", "/schema/elements")


class _References(HTMLParser):
    """Every URL a page would make a browser load (its fetching attributes and CSS), and its tags."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if value and name in _FETCHING:
                self.urls.extend(part.split()[0] for part in value.split(",") if part.strip())
            if value and name == "style":
                self.urls.extend(url for match in _CSS_URL.findall(value) for url in match if url)

    def handle_data(self, data: str) -> None:
        self.urls.extend(url for match in _CSS_URL.findall(data) for url in match if url)


def _third_party(url: str) -> bool:
    """A URL that leaves the registry's origin: absolute (``https://``), protocol-relative (``//cdn``) or ``data:``."""
    parts = urlsplit(url.strip())
    return bool(parts.scheme or parts.netloc)


def test_the_reference_parser_finds_a_cdn_script() -> None:
    """The parser below does find what the former page held (else the sweep would pass on anything)."""
    page = _References()
    page.feed(
        '<html><head><link rel="stylesheet" href="https://cdn.jsdelivr.net/x.css"></head>'
        '<body><script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference@latest" crossorigin></script>'
        "<style>@import '//fonts.example/f.css';</style><img src=/own.png></body></html>"
    )
    assert [url for url in page.urls if _third_party(url)] == [
        "https://cdn.jsdelivr.net/x.css",
        "https://cdn.jsdelivr.net/npm/@scalar/api-reference@latest",
        "//fonts.example/f.css",
    ]


async def test_no_page_under_schema_loads_anything_from_another_origin(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    paths = sorted(
        {
            route.path
            for route in client.app.routes
            if isinstance(route, HTTPRoute) and route.path.startswith("/schema") and "GET" in route.methods
        }
    )
    assert "/schema/openapi.json" in paths
    served = [path.replace("{path:str}", "no-such-page") for path in paths]
    for path in [*served, *_FORMER_VIEWERS]:
        response = await client.get(path)
        media = response.headers["content-type"]
        page = _References()
        page.feed(response.text)
        assert not [url for url in page.urls if _third_party(url)], f"{path} loads {page.urls}"
        assert not media.startswith("text/html"), f"{path} is a page: {response.text[:200]}"
        # Whatever it is, the browser may run and load nothing from it, nor frame it.
        policy = {
            directive.strip().split(" ", 1)[0]: directive.strip()
            for directive in response.headers["content-security-policy"].split(";")
        }
        assert policy["default-src"] == "default-src 'none'", (path, policy)
        assert policy["frame-ancestors"] == "frame-ancestors 'none'", (path, policy)
        assert "script-src" not in policy, (path, policy)
        assert response.headers["x-content-type-options"] == "nosniff"
        if path in _FORMER_VIEWERS or path.endswith("no-such-page"):
            assert response.status_code == 404, path
            assert media == "application/problem+json", path
        else:
            assert response.status_code == 200, path
            document = response.json()
            assert document["openapi"].startswith("3.1"), path
            assert "/api/v1/tokens" in document["paths"], path


async def test_every_answer_without_a_policy_of_its_own_runs_and_loads_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    """A JSON answer quoting what the caller sent, opened as a page, still runs nothing: ``default-src 'none'``."""
    for path in ("/health", "/exchange/v1/keys", "/no-such-route", "/api/v1/me"):
        response = await client.get(path)
        assert response.headers.get_list("content-security-policy") == [
            "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ], path
