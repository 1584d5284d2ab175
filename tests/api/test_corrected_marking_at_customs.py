"""A customs check reads an item's markings as corrected (README "Correcting data and markings").

An import marking misread at registration (the country of another State) held the firearm at the border for want of
this State's import marking; once the marking is corrected, the next check finds it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap, db, item_corrections
from firearms.item_types import MarkingChanges, NewMarkingCorrection
from firearms.settings import Settings
from tests.api.test_checks_api import Client, customs, post_check
from tests.check_helpers import at_licence, check_body, receive, register_firearm
from tests.conftest import TokenFactory
from tests.licensing_helpers import TODAY


@pytest.fixture
async def de(settings: Settings, initialised: bootstrap.Initialised) -> AsyncIterator[Client]:
    """The API of DE's registry (the importing State)."""
    async with AsyncTestClient(app=create_app(msgspec.structs.replace(settings, state="DE"))) as client:
        yield client


async def test_a_corrected_import_marking_clears_the_hold_it_caused(
    de: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    await receive(conn, at_licence(), state="DE")
    misread = await register_firearm(conn, "SSG08-001", import_marking="CZ")
    await register_firearm(conn, "SSG08-002", import_marking="DE")
    headers = await customs(auth)
    held = await post_check(de, headers, check_body("import", crossing_point="DE-Passau"))
    assert held["verdict"] == "hold"
    assert [(reason["code"], reason["serial"]) for reason in held["reasons"]] == [
        ("import-marking-missing", "SSG08-001")
    ]

    marking_id = await conn.fetchval("SELECT marking_id FROM marking WHERE item_id = $1 AND kind = 'import'", misread)
    async with conn.transaction():
        correction = await item_corrections.correct_marking(
            conn,
            misread,
            marking_id,
            NewMarkingCorrection(changes=MarkingChanges(country="DE", stamped="DE 26"), reason="read CZ for DE"),
            actor="officer:records",
            today=TODAY,
        )
    assert correction.changes["country"].before == "CZ"

    cleared = await post_check(de, headers, check_body("import", crossing_point="DE-Passau"))
    assert cleared["reasons"] == []
    assert cleared["verdict"] == "clear"
