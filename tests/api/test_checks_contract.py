"""DESIGN §5 (contract) line by line where ``tests/api/test_checks_api.py`` pins the behaviour but not the shape:
the answer's exact members, each reason's, the licence summary's, ``checked_at``'s form, and that a refusal is
recorded and debits nothing."""

from __future__ import annotations

import asyncio
import re
import uuid

from firearms import db
from firearms.exchange import trust
from firearms.settings import Settings
from tests.api.test_checks_api import Client, customs, cz, post_check
from tests.check_helpers import at_licence, check_body, receive
from tests.conftest import TokenFactory
from tests.exchange_util import VECTORS

__all__ = ["cz"]

ANSWER = {"check_id", "verdict", "reasons", "licence", "checked_at"}
REASON = {"code", "line", "serial", "detail"}
SUMMARY = {"number", "issuing_state", "status", "expires_on", "lines"}


async def test_the_answer_reason_and_licence_summary_have_exactly_the_contracts_members(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """``{"check_id", "verdict", "reasons", "licence": {"number", "issuing_state", "status", "expires_on",
    "lines": [{"line", "remaining"}]}, "checked_at"}``; each reason ``{"code", "line", "serial", "detail"}``
    with ``line`` an integer or null and ``serial`` a string or null."""
    licence = at_licence()
    await receive(conn, licence, state="CZ")
    headers = await customs(auth)
    body = check_body(lines=[{"line": 1, "quantity": 1, "serials": ["NOT-ON-IT"]}, {"line": 2, "quantity": 900}])
    response = await cz.post("/api/v1/checks", json=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert set(answer) == ANSWER
    assert answer["check_id"] == body["check_id"]
    assert answer["verdict"] in ("clear", "hold", "refuse")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", answer["checked_at"])
    assert answer["reasons"]
    for reason in answer["reasons"]:
        assert set(reason) == REASON
        assert isinstance(reason["code"], str)
        assert isinstance(reason["detail"], str)
        assert reason["line"] is None or type(reason["line"]) is int
        assert reason["serial"] is None or isinstance(reason["serial"], str)
    by_code = {reason["code"]: reason for reason in answer["reasons"]}
    assert (by_code["serial-not-on-licence"]["line"], by_code["serial-not-on-licence"]["serial"]) == (1, "NOT-ON-IT")
    assert (by_code["quantity-exceeds-balance"]["line"], by_code["quantity-exceeds-balance"]["serial"]) == (2, None)
    summary = answer["licence"]
    assert set(summary) == SUMMARY
    assert (summary["number"], summary["issuing_state"], summary["status"]) == (licence.number, "AT", "issued")
    assert summary["expires_on"] == licence.expires_on.isoformat()
    assert summary["lines"] == [{"line": 1, "remaining": 2}, {"line": 2, "remaining": 800}]


async def test_an_unknown_licence_is_a_recorded_refusal_that_debits_nothing(
    cz: Client, conn: db.Conn, auth: TokenFactory
) -> None:
    """An unknown licence is a verdict (``refuse``, ``licence-unknown``), not a 404; the reason concerns no line
    or serial; ``hold`` and ``refuse`` record the check and debit nothing."""
    await receive(conn, at_licence(), state="CZ")
    headers = await customs(auth)
    body = check_body(licence_number="AT-EXP-2026-999999", check_id=str(uuid.uuid4()))
    answer = await post_check(cz, headers, body)
    assert set(answer) == ANSWER
    assert (answer["verdict"], answer["licence"]) == ("refuse", None)
    assert answer["reasons"][0] | {"detail": ""} == {
        "code": "licence-unknown",
        "line": None,
        "serial": None,
        "detail": "",
    }
    record = await cz.get(f"/api/v1/checks/{body['check_id']}", headers=await auth("auditor"))
    assert record.status_code == 200
    assert record.json()["answer"] == answer
    assert await conn.fetchval("SELECT count(*) FROM passage_tally") == 0
    assert await conn.fetchval("SELECT count(*) FROM cleared_serial") == 0


async def test_a_check_never_calls_the_issuing_state(
    cz: Client, conn: db.Conn, auth: TokenFactory, settings: Settings
) -> None:
    """ "It never calls the issuing State during a check": CZ answers from the licence as AT's notice brought it.

    AT is on CZ's trust list at a loopback port this test listens on; every connection made to it is recorded
    with the first line it sent. After the check a probe of the test's own connects, so that the listener is
    shown to record (and a connection the check started without waiting for it is in by then).
    """
    seen: list[bytes] = []
    probed = asyncio.Event()

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
        finally:
            writer.close()
        seen.append(line)
        if line == b"probe\n":
            probed.set()

    listener = await asyncio.start_server(record, "127.0.0.1", 0)
    port: int = listener.sockets[0].getsockname()[1]
    try:
        async with conn.transaction():
            await trust.add_peer(
                conn,
                own_state="CZ",
                state="AT",
                base_url=f"http://127.0.0.1:{port}",
                public_key=VECTORS["keys"]["AT"]["public_key"],
                not_before=None,
                actor="test",
                own=[trust.own_address(settings)],
            )
        licence = at_licence()
        await receive(conn, licence, state="CZ")
        answer = await post_check(cz, await customs(auth), check_body())
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"probe\n")
        await writer.drain()
        writer.close()
        await asyncio.wait_for(probed.wait(), timeout=10)
    finally:
        listener.close()
        await listener.wait_closed()
    assert seen == [b"probe\n"]  # the check made no connection to AT
    assert (answer["verdict"], answer["reasons"]) == ("clear", [])
    assert (answer["licence"]["number"], answer["licence"]["issuing_state"]) == (licence.number, "AT")
    assert answer["licence"]["lines"] == [{"line": 1, "remaining": 0}, {"line": 2, "remaining": 0}]
