"""Two administrators entering one key at the same moment, for two States: a key speaks for one State.

The first holds its entry in an open transaction; the second is started and runs until it either waits on the
first or is done, and then the first commits. Before, the check that no other State has the key read only what
was committed, so both passed it and both entries were stored: either State's registry could then sign as the
other.
"""

from __future__ import annotations

import pytest

from firearms import bootstrap, db, journal
from firearms.errors import ConflictError
from firearms.exchange import trust
from firearms.signing import key_id_of
from tests.exchange_util import VECTORS
from tests.races import Work, race

KEY = VECTORS["keys"]["DE"]["public_key"]


def add_peer(state: str) -> Work:
    async def work(conn: db.Conn) -> trust.Peer:
        return await trust.add_peer(
            conn,
            own_state="AT",
            state=state,
            base_url=f"https://registry.example.{state.lower()}",
            public_key=KEY,
            not_before=None,
            actor="test",
        )

    return work


def add_peer_key(state: str) -> Work:
    async def work(conn: db.Conn) -> trust.Peer:
        return await trust.add_peer_key(conn, state=state, public_key=KEY, not_before=None, actor="test")

    return work


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (add_peer("DE"), add_peer("FR")),
        (add_peer("DE"), add_peer_key("CZ")),
        (add_peer_key("CZ"), add_peer("DE")),
    ],
    ids=["two-new-partners", "new-partner-then-further-key", "further-key-then-new-partner"],
)
async def test_one_key_entered_for_two_states_at_once_is_taken_for_one(
    first: Work, second: Work, database: str, conn: db.Conn, initialised: bootstrap.Initialised
) -> None:
    other = VECTORS["keys"]["OTHER"]["public_key"]
    await trust.add_peer(
        conn, own_state="AT", state="CZ", base_url="https://registry.example.cz", public_key=other,
        not_before=None, actor="test",
    )  # fmt: skip
    won, lost = await race(database, first, second, may_pass=True)
    assert isinstance(won, trust.Peer)
    assert isinstance(lost, ConflictError), lost
    assert lost.code == "peer-key-exists"
    assert lost.facts["states"] == [won.state]
    key_id = key_id_of(trust.parse_public_key(KEY))
    assert await conn.fetchval("SELECT array_agg(state) FROM peer_key WHERE key_id = $1", key_id) == [won.state]
    assert (await journal.verify(conn, state="AT")).intact
