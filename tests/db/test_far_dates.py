"""Dates far ahead: a licence valid until the end of the century is issued, checked and verified like any other.

Records are kept ten to thirty years; licences and import authorisations valid for decades must not meet a
date, counter or integer that runs out first.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from firearms import bootstrap, checks, db, documents, journal
from firearms.check_records import CheckAnswer
from firearms.check_rules import CheckRequest
from firearms.settings import Settings
from tests.check_helpers import check_body
from tests.licensing_helpers import export_draft, issued_export, register_parties

LAST_DAY = dt.date(2099, 12, 31)


async def test_a_licence_valid_until_2099_clears_on_its_last_day_and_is_expired_the_day_after(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    parties = await register_parties(conn)
    authorisation = export_draft(parties).import_authorisation
    assert authorisation is not None
    lic = await issued_export(
        conn,
        settings,
        parties,
        expires_on=LAST_DAY,
        import_authorisation=msgspec.structs.replace(authorisation, expires_on=LAST_DAY),
    )
    assert (lic.status, lic.licence.expires_on) == ("issued", LAST_DAY)
    number = lic.licence.number

    async def check(moment: dt.datetime, serial: str) -> CheckAnswer:
        lines = [{"line": 1, "quantity": 1, "serials": [serial]}]
        body = check_body("export", lines=lines, licence_number=number, crossing_point="AT-Wullowitz")
        async with conn.transaction():
            return await checks.perform_check(
                conn,
                msgspec.convert(body | {"check_id": str(uuid.uuid4())}, CheckRequest),
                state="AT",
                time_zone=dt.UTC,
                actor="customs:at",
                now=moment,
            )

    last = await check(dt.datetime(2099, 12, 31, 23, 59, 59, tzinfo=dt.UTC), "SSG08-001")
    assert (last.verdict, last.reasons) == ("clear", [])
    assert last.checked_at.year == 2099
    after = await check(dt.datetime(2100, 1, 1, 0, 0, 1, tzinfo=dt.UTC), "SSG08-002")
    assert after.verdict == "refuse"
    assert [reason.code for reason in after.reasons] == ["licence-expired"]
    verified = await documents.verify(conn, state="AT", today=LAST_DAY, issuing_state=None, number=number)
    assert (verified.expires_on, [line.remaining for line in verified.lines]) == (LAST_DAY, [1, 800])
    assert verified.in_validity_period
    after_it = await documents.verify(conn, state="AT", today=dt.date(2100, 1, 1), issuing_state=None, number=number)
    assert (after_it.status, after_it.in_validity_period) == ("issued", False)
    chain = await journal.verify(conn, state="AT")
    assert (chain.intact, chain.problem) == (True, None)
