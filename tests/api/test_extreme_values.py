"""Extreme but well-formed dates, times and numbers over the real app: a clear problem or a right answer, never a 500.

Records are kept 10 to 30 years: a value at the edge of what Python's ``date``/``datetime`` or a column holds (the years
1 and 9999, an offset that moves a time past them) must be refused with a problem that names it, and nothing stored,
or be stored so that every later read works.
"""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from firearms import db
from tests.changes import changes
from tests.conftest import TokenFactory
from tests.exchange_util import VECTORS

PROBLEM = "tag:firearms-registry,2026:problems/"
DE_KEY = VECTORS["keys"]["DE"]["public_key"]
CZ_KEY = VECTORS["keys"]["OTHER"]["public_key"]

# Times a JSON body may carry (RFC 3339 with an offset) whose UTC moment lies before the year 1 or after 9999:
# Python cannot convert them to UTC (OverflowError).
BEYOND_UTC = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"]


@pytest.mark.parametrize("not_before", BEYOND_UTC)
async def test_a_key_start_whose_utc_moment_is_beyond_the_years_1_to_9999_is_refused_naming_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    not_before: str,
) -> None:
    """``POST /peers`` and ``POST /peers/{state}/keys``: a 422 naming the time as given, not a 500, nothing stored.

    Before, the refusal's words converted the time to UTC (``format_time``) and the conversion overflowed.
    """
    admin = await auth("admin")
    body = {"state": "CZ", "base_url": "http://cz.example", "public_key": CZ_KEY}
    assert (await client.post("/api/v1/peers", json=body, headers=admin)).status_code == 201
    before = await changes(conn)
    peer = {"state": "DE", "base_url": "http://de.example", "public_key": DE_KEY, "not_before": not_before}
    key = {"public_key": DE_KEY, "not_before": not_before}
    for url, sent in (("/api/v1/peers", peer), ("/api/v1/peers/CZ/keys", key)):
        response = await client.post(url, json=sent, headers=admin)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == PROBLEM + "invalid-input"
        assert not_before in problem["detail"]
        assert "between 1970 and 9998" in problem["detail"]
    assert await changes(conn) == before
    assert await conn.fetchval("SELECT count(*) FROM peer_key") == 1
