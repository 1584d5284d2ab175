"""Key rotation against partners (PROTOCOL §6): the new key is used only once every partner has taken it."""

from __future__ import annotations

import msgspec

from firearms import keys
from firearms.canonical import utc_now
from firearms.exchange import delivery, rotation
from firearms.exchange.protocol import (
    Envelope,
    Receipt,
    digest_of,
    encode,
    make_time,
    notice_signing_input,
    sign_receipt,
)
from tests.exchange_fixtures import Registry, at_de
from tests.exchange_util import partner

__all__ = ["at_de"]


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
