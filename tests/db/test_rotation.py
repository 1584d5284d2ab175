"""Key rotation against partners (PROTOCOL §6): the new key is used only once every partner has taken it."""

from __future__ import annotations

import asyncio
import time

import msgspec

from firearms import keys
from firearms.canonical import utc_now
from firearms.exchange import delivery, rotation, trust
from firearms.exchange.protocol import (
    Envelope,
    Receipt,
    digest_of,
    encode,
    make_time,
    notice_signing_input,
    sign_receipt,
)
from firearms.signing import b64url_encode
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import OTHER_KEY, partner

__all__ = ["at_de"]


async def _deliver_to_de(at: Registry, de: Registry) -> None:
    """Deliver AT's queue for DE to DE's app until none is left."""
    deadline = time.monotonic() + 15
    done = "SELECT count(*) = 0 FROM notice_outbox WHERE recipient = 'DE' AND status = 'queued'"
    while not await at.conn.fetchval(done):
        assert time.monotonic() < deadline, "AT's notices for DE were not all delivered"
        await delivery.deliver_due(at.pool, at.settings, de.client, "w1")
        await asyncio.sleep(0.02)


async def test_an_announcement_the_partner_rejected_is_not_an_acknowledgement(
    at_de: tuple[Registry, Registry],
) -> None:
    """A partner that stored the announcement ``rejected`` does not trust the new key: do not sign with it."""
    at, de = at_de
    old = (await keys.current_signing_key(at.conn, at.settings.home)).key_id
    async with at.conn.transaction():
        new = (await rotation.rotate(at.conn, at.settings.home, actor="test")).key_id
    de_key = await keys.current_signing_key(de.conn, de.settings.home)

    async def rejecting(raw: bytes) -> tuple[int, bytes]:  # a partner that does not implement key announcements
        notice = msgspec.json.decode(raw, type=Envelope).notice
        receipt = Receipt(
            notice_id=notice.id,
            sender=notice.sender,
            recipient=notice.recipient,
            sequence=notice.sequence,
            digest=digest_of(notice_signing_input(notice)),
            status="rejected",
            reason="unsupported-type",
            received_at=make_time(utc_now()),
        )
        return 202, encode(sign_receipt(receipt, de_key))

    async with partner(rejecting) as url, delivery.new_client(at.settings) as client:
        await at.conn.execute("UPDATE peer SET base_url = $1 WHERE state = 'DE'", url)
        assert await delivery.deliver_due(at.pool, at.settings, client, "w1") == 1
    assert await at.conn.fetchval("SELECT status FROM notice_outbox") == "rejected"
    assert await rotation.switch_announced_keys(at.conn) == []
    assert (await keys.current_signing_key(at.conn, at.settings.home)).key_id == old
    async with at.conn.transaction():
        switch = await rotation.switch_now(at.conn, actor="test")
    assert (switch.key_id, switch.unacknowledged) == (new, ["DE"])


async def test_a_partner_added_while_a_new_key_waits_is_told_about_it_before_the_switch(
    at_de: tuple[Registry, Registry],
) -> None:
    """Its administrator entered the key in use (the waiting one is not published yet); it must learn the new one."""
    at, de = at_de
    old = (await keys.current_signing_key(at.conn, at.settings.home)).key_id
    async with at.conn.transaction():
        new = await rotation.rotate(at.conn, at.settings.home, actor="test")
        await trust.add_peer(
            at.conn,
            own_state="AT",
            state="CZ",
            base_url="http://127.0.0.1:9",
            public_key=b64url_encode(OTHER_KEY.public_key),
            not_before=None,
            actor="test",
        )
    announcements = await at.conn.fetch(
        "SELECT recipient, body, signing_key_id, confidentiality FROM notice_outbox"
        " WHERE type = 'registry.key-announced' ORDER BY recipient"
    )
    assert [row["recipient"] for row in announcements] == ["CZ", "DE"]
    assert announcements[0]["body"] == announcements[1]["body"]
    assert announcements[0]["body"]["key_id"] == new.key_id
    assert {(row["signing_key_id"], row["confidentiality"]) for row in announcements} == {(old, "public")}
    await _deliver_to_de(at, de)
    assert await rotation.switch_announced_keys(at.conn) == []  # CZ has not acknowledged it yet
    assert (await keys.current_signing_key(at.conn, at.settings.home)).key_id == old
