"""A State in a URL path: ``de`` is ``DE``, as in the query; anything that is no two letters names the parameter.

Before, a lower-case State in a path was looked up as typed and answered 404 ``not-found`` ("no partner de"),
though the record was there under ``DE``: an officer read that the partner or the licence did not exist.
"""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from tests.api.test_state_queries import _without_request_id, assert_no_state
from tests.conftest import TokenFactory
from tests.exchange_util import VECTORS

# (path with {} for the State, the path parameter, a role that may read it)
STATE_PATHS = [
    ("/api/v1/peers/{}", "peer_state", "admin"),
    ("/api/v1/licences/by-number/{}/AT-EXP-1", "issuing_state", "auditor"),
    ("/api/v1/foreign-licences/{}/DE-EXP-1", "issuing_state", "auditor"),
    ("/api/v1/shipments/{}/S-1", "exporting_state", "auditor"),
    ("/api/v1/consent-requests/{}/0d6f5a3e-2b1c-4f7e-9a8d-1c2b3a4d5e6f", "requesting_state", "auditor"),
]


@pytest.mark.parametrize(("url", "parameter", "role"), STATE_PATHS)
async def test_a_state_in_the_path_is_taken_in_either_case(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    url: str,
    parameter: str,
    role: str,
) -> None:
    headers = await auth(role)  # type: ignore[arg-type]
    upper = await client.get(url.format("DE"), headers=headers)
    lower = await client.get(url.format("de"), headers=headers)
    assert upper.status_code != 400, upper.text
    assert _without_request_id(lower) == _without_request_id(upper), parameter


@pytest.mark.parametrize(("url", "parameter", "role"), STATE_PATHS)
@pytest.mark.parametrize("given", ["Germany", "D", "d3", "%C3%84T"])
async def test_a_state_in_the_path_that_is_no_two_letters_names_the_parameter(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    url: str,
    parameter: str,
    role: str,
    given: str,
) -> None:
    answer = await client.get(url.format(given), headers=await auth(role))  # type: ignore[arg-type]
    assert_no_state(answer, parameter, "path")


async def test_a_partner_named_in_lower_case_is_that_partner(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """``/peers/de`` was 404 ``no partner de`` for the partner DE on the trust list; a change to it was refused too."""
    admin = await auth("admin")
    peer = {"state": "DE", "base_url": "http://127.0.0.1:9", "public_key": VECTORS["keys"]["DE"]["public_key"]}
    assert (await client.post("/api/v1/peers", json=peer, headers=admin)).status_code == 201
    shown = await client.get("/api/v1/peers/de", headers=admin)
    assert shown.status_code == 200, shown.text
    assert shown.json()["state"] == "DE"
    disabled = await client.post("/api/v1/peers/de/disable", headers=admin)
    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["state"], disabled.json()["enabled"]) == ("DE", False)
    assert (await client.get("/api/v1/peers/DE", headers=admin)).json()["enabled"] is False
