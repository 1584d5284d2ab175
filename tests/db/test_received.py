from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from firearms import bootstrap, db, licence_reads, licences, received
from firearms.errors import ConflictError, InvalidInputError
from firearms.licence_object import LicenceObject
from firearms.settings import Settings
from tests.licensing_helpers import TODAY, issued_export, no_objection, register_parties


async def _at_licence(conn: db.Conn, settings: Settings) -> LicenceObject:
    lic = await issued_export(conn, settings, await register_parties(conn))
    return lic.licence


async def test_partner_licence_is_stored_superseded_and_follows_status_notices(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    # AT's licence, seen from CZ (a transit State): first as a consent request, then issued, then v2
    at_licence = await _at_licence(conn, settings)
    cz = msgspec.structs.replace(settings, state="CZ")
    pending = msgspec.structs.replace(at_licence, status="pending", issued_at=None, number="AT-EXP-2026-777777")
    async with conn.transaction():
        stored = await received.record_received(conn, pending, registry_state=cz.state, actor="peer:AT")
    assert (stored.origin, stored.status, stored.version) == ("received", "pending", 1)
    assert stored.licence == pending
    async with conn.transaction():
        decision = await no_objection(conn, stored.licence_id, "CZ")
    assert decision.transit_state == "CZ"
    issued = msgspec.structs.replace(pending, status="issued", issued_at=at_licence.issued_at)
    async with conn.transaction():
        now_issued = await received.record_received(conn, issued, registry_state="CZ", actor="peer:AT")
    assert now_issued.status == "issued"
    assert now_issued.licence.issued_at == at_licence.issued_at
    v2 = msgspec.structs.replace(issued, version=2, expires_on=issued.expires_on.replace(day=1))
    async with conn.transaction():
        await received.record_received(conn, v2, registry_state="CZ", actor="peer:AT")
        await received.record_received(conn, issued, registry_state="CZ", actor="peer:AT")  # late v1: ignored
    found = await licence_reads.find_licence(conn, "AT", "AT-EXP-2026-777777")
    assert (found.version, found.licence.expires_on) == (2, v2.expires_on)
    assert (await licence_reads.get_version(conn, found.licence_id, 1)).licence.expires_on == issued.expires_on
    async with conn.transaction():
        revoked = await received.apply_status(
            conn, issuing_state="AT", number=v2.number, status="revoked", reason="fraud", actor="peer:AT"
        )
    assert revoked.status == "revoked"
    with pytest.raises(ConflictError) as caught:
        async with conn.transaction():
            await received.apply_status(
                conn, issuing_state="AT", number=v2.number, status="issued", reason="x", actor="peer:AT"
            )
    assert caught.value.code == "illegal-transition"


async def test_own_or_local_numbers_are_not_taken_as_received(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    at_licence = await _at_licence(conn, settings)
    with pytest.raises(InvalidInputError) as own:
        await received.record_received(conn, at_licence, registry_state="AT", actor="peer:AT")
    assert own.value.code == "not-a-partner-licence"
    with pytest.raises(ConflictError) as caught:
        await received.record_received(conn, at_licence, registry_state="CZ", actor="peer:AT")
    assert caught.value.code == "licence-not-received"


async def test_a_partner_licence_expires_by_its_issuing_states_word_not_by_our_timer(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    at_licence = await _at_licence(conn, settings)
    short = msgspec.structs.replace(at_licence, number="AT-EXP-2026-888888", expires_on=TODAY + dt.timedelta(days=1))
    async with conn.transaction():
        stored = await received.record_received(conn, short, registry_state="CZ", actor="peer:AT")
    # our timer runs past its last day, while AT's extension is still on its way (AT was down)
    async with conn.transaction():
        assert await licences.expire_due(conn, today=TODAY + dt.timedelta(days=2)) == 0
    assert (await licence_reads.get_licence(conn, stored.licence_id)).status == "issued"
    extended = msgspec.structs.replace(short, version=2, expires_on=TODAY + dt.timedelta(days=30))
    async with conn.transaction():
        now = await received.record_received(conn, extended, registry_state="CZ", actor="peer:AT")
    assert (now.status, now.version, now.licence.expires_on) == ("issued", 2, extended.expires_on)
