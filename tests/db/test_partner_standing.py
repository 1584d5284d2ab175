"""A partner speaks only for what is its own: a trusted, validly signing partner gone rogue (PROTOCOL §5).

What each notice type may change is its "from -> to": the State that sends it has that role in the licence.

Each notice here passes checks 1-8 (the partner's key is on the trust list and its signature verifies); what it
asks for is not the sender's to give, so it is stored ``rejected`` with a reason and changes nothing else.
"""

from __future__ import annotations

import pytest

from firearms import consents, db
from firearms.settings import Settings
from firearms.store import received as received_store
from tests.db.test_exchange_licensing import _receive, _submitted, at
from tests.exchange_util import OTHER_KEY, envelope
from tests.licensing_helpers import Parties

__all__ = ["at"]


@pytest.mark.parametrize(
    ("first", "second"),
    [("objection", "no-objection"), ("no-objection", "objection"), ("no-objection", "no-objection")],
)
async def test_a_transit_state_answers_a_request_once_and_a_second_answer_changes_nothing(
    first: str, second: str, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """A decision stands (as an officer's here: ``consent-already-decided``); the exporting State asks again.

    Before, every answer to the same request was recorded and the latest counted: a transit State that objected
    could turn its objection into a no-objection (or back) on a request already answered.
    """
    draft, request_id = await _submitted(conn, settings, at)

    def answer(sequence: int, decision: str) -> bytes:
        body = {"licence_number": draft.licence.number, "decision": decision, "reason": "r", "valid_until": None}
        return envelope(
            OTHER_KEY,
            sender="CZ",
            recipient="AT",
            sequence=sequence,
            type_="transit-consent.decided",
            body=body,
            in_reply_to=request_id,
        )

    assert await _receive(conn, settings, answer(1, first)) == ("accepted", None)
    assert await _receive(conn, settings, answer(2, second)) == ("rejected", "consent-already-decided")
    assert [row.decision for row in await consents.list_decisions(conn, draft.licence_id, after=0, limit=10)] == [first]
    assert [row["decision"] for row in await received_store.list_consent_decisions(conn, draft.licence.number)] == [
        first
    ]
    assert (await consents.latest_decisions(conn, draft.licence_id))["CZ"].decision == first
