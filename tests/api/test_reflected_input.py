"""A 400 names the parameter and what is wrong with it, never the URL or a value the caller chose (README "Security").

Litestar's own messages quoted the request's path and query string (a missing query parameter) or the value sent
(``Invalid enum value '<script>'``): a link can put anything there, and the answer handed it back. A name the
caller chose (an unknown field, a key or query parameter given twice) is quoted only when it is a plain name.
"""

from __future__ import annotations

import httpx
import pytest
from litestar.testing import AsyncTestClient

from tests.check_helpers import check_body
from tests.conftest import TokenFactory
from tests.exchange_util import AT_KEY, envelope

PROBLEM = "tag:firearms-registry,2026:problems/invalid-request"
HOSTILE = "<script>alert(1)</script>"
HOSTILE_QUERY = "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
PARTY = {"kind": "exporter", "name": "Anna Huber", "country": "AT", "address": "Ring 1, Wien"}


def _refused(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "<" not in response.text, response.text
    assert "script" not in response.text, response.text
    problem: dict[str, object] = response.json()
    assert problem["type"] == PROBLEM
    return problem


async def test_a_missing_query_parameter_is_named_without_the_url(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """``GET /items/search`` without ``q`` answered ``Missing required query parameter 'q' for path
    /api/v1/items/search?make=<script>...``: the whole URL, its query string included, came back."""
    response = await client.get(f"/api/v1/items/search?make={HOSTILE_QUERY}", headers=await auth("admin"))
    problem = _refused(response)
    assert problem["detail"] == "query parameter 'q' is required"
    assert problem["errors"] == [{"message": "query parameter 'q' is required", "key": "q", "source": "query"}]
    assert "/api/v1" not in response.text
    assert "make" not in response.text


# the values a parameter takes are the registry's words: listed, never the one sent (tests/api/test_enum_choices.py)
_TAKES = {
    "status": "draft, exhausted, expired, issued, pending, revoked, suspended",
    "kind": "ammunition, component, firearm",
}


@pytest.mark.parametrize(
    ("url", "key"),
    [
        (f"/api/v1/licences?status={HOSTILE_QUERY}", "status"),
        (f"/api/v1/items/search?q=x&kind={HOSTILE_QUERY}", "kind"),
    ],
)
async def test_a_query_value_outside_its_values_is_not_quoted_back(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    url: str,
    key: str,
) -> None:
    problem = _refused(await client.get(url, headers=await auth("admin")))
    message = f"query parameter '{key}' is not one of the values it takes: {_TAKES[key]}"
    assert problem["detail"] == message
    assert problem["errors"] == [{"message": message, "key": key, "source": "query"}]


async def test_a_query_value_of_another_type_names_the_parameter(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """``?limit=abc`` said ``Expected `int`, got `str``` alone: which parameter was only in ``errors``."""
    response = await client.get("/api/v1/licences?limit=abc", headers=await auth("admin"))
    problem = _refused(response)
    message = "query parameter 'limit': expected `int`, got `str`"
    assert problem["detail"] == message
    assert problem["errors"] == [{"message": message, "key": "limit", "source": "query"}]
    assert "abc" not in response.text


async def test_a_body_value_outside_its_values_is_not_quoted_back(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    body = {"kind": HOSTILE, "name": "Anna Huber", "country": "AT", "address": "Ring 1, Wien"}
    problem = _refused(await client.post("/api/v1/parties", json=body, headers=await auth("admin")))
    message = (
        "'kind' is not one of the values it takes: broker, carrier, consignee, dealer, exporter, final-recipient,"
        " importer, manufacturer"
    )
    assert problem["errors"] == [{"message": message, "key": "kind", "source": "body"}]


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        (HOSTILE, "Object contains an unknown field"),
        ("zz_not_a_field", "Object contains unknown field `zz_not_a_field`"),
    ],
)
async def test_an_unknown_field_is_named_only_when_its_name_is_plain(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    name: str,
    quoted: str,
) -> None:
    body = {"kind": "exporter", "name": "Anna Huber", "country": "AT", "address": "Ring 1, Wien", name: 1}
    response = await client.post("/api/v1/parties", json=body, headers=await auth("admin"))
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == quoted
    assert "<" not in response.text


@pytest.mark.parametrize(
    ("url", "role", "body", "key"),
    [
        ("/api/v1/parties", "admin", {**PARTY, "$." + HOSTILE: 1}, "data"),
        # a name that ends as msgspec's place does is read as one: only its plain tail, as a plain name may be
        ("/api/v1/parties", "admin", {**PARTY, "$.<i>` - at `$.x": 1}, "x"),
        (
            "/api/v1/checks",
            "customs-officer",
            check_body(lines=[{"line": 1, "quantity": 1, "$." + HOSTILE: 1}]),
            "lines[0]",
        ),
    ],
)
async def test_an_unknown_field_is_not_quoted_back_as_the_errors_key(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    url: str,
    role: str,
    body: dict[str, object],
    key: str,
) -> None:
    """``errors[].key`` is where in the body the error is, read from msgspec's `` - at `$...` ``: a field named
    ``$.<script>...`` was taken for that place, and its name handed back in ``key``."""
    problem = _refused(await client.post(url, json=body, headers=await auth(role)))  # type: ignore[arg-type]
    assert problem["errors"] == [{"message": "Object contains an unknown field", "key": key, "source": "body"}]


@pytest.mark.parametrize(
    ("name", "detail"),
    [
        (HOSTILE_QUERY, "a query parameter is given twice: give it once"),
        ("status", "the query parameter `status` is given twice: give it once"),
    ],
)
async def test_a_query_parameter_given_twice_is_named_only_when_its_name_is_plain(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    name: str,
    detail: str,
) -> None:
    response = await client.get(f"/api/v1/items?{name}=a&{name}=b", headers=await auth("admin"))
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == detail
    assert "<" not in response.text


async def test_a_key_named_twice_is_named_only_when_its_name_is_plain(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    admin = await auth("admin") | {"Content-Type": "application/json"}
    hostile = b'{"role": "auditor", "name": "x", "<b>": 1, "<b>": 2}'
    response = await client.post("/api/v1/tokens", content=hostile, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "Object names a key twice"
    assert "<" not in response.text
    plain = b'{"role": "auditor", "name": "x", "name": "y"}'
    response = await client.post("/api/v1/tokens", content=plain, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "Object names the key `name` twice"


MALFORMED = "tag:firearms-exchange,2026:problems/malformed-notice"


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"<script>": 1}', "the envelope is malformed: Object contains an unknown field"),
        (b'{"zz_extra": 1}', "the envelope is malformed: Object contains unknown field `zz_extra`"),
        (
            envelope(AT_KEY, recipient="AT", confidentiality=HOSTILE),
            "the envelope is malformed: Invalid value: not one of those the field takes"
            " - at `$.notice.confidentiality`",
        ),
        (
            envelope(AT_KEY, recipient="AT").replace(b'"firearms-exchange/1"', b'"<script>alert(1)</script>"'),
            "the protocol is not 'firearms-exchange/1'",
        ),
    ],
)
async def test_a_malformed_envelope_is_refused_without_quoting_the_senders_text(
    client: AsyncTestClient,  # type: ignore[type-arg]
    raw: bytes,
    detail: str,
) -> None:
    """The partner surface takes anyone's POST: PROTOCOL §4 check 1 says what is wrong, never the text sent."""
    response = await client.post("/exchange/v1/notices", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == MALFORMED
    assert problem["detail"] == detail
    assert "<" not in response.text


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (
            {"Content-Type": "text/" + HOSTILE},
            "an envelope is sent as Content-Type: application/json (UTF-8), not another media type",
        ),
        (
            {"Content-Type": "application/json", "Content-Encoding": "gzip, " + HOSTILE},
            "an envelope is sent as its bytes: a Content-Encoding is not decoded here",
        ),
    ],
)
async def test_a_notice_sent_as_another_media_type_or_coding_is_refused_without_quoting_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    header: dict[str, str],
    detail: str,
) -> None:
    """README "Security": ``malformed-notice`` never hands back what the sender wrote; these headers were quoted."""
    raw = envelope(AT_KEY, recipient="AT")
    response = await client.post("/exchange/v1/notices", content=raw, headers=header)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["type"] == MALFORMED
    assert problem["detail"] == detail
    assert "<" not in response.text
