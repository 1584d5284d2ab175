"""Two administrators entering one key at the same moment, for two States: a key speaks for one State.

The first holds its entry in an open transaction; the second is started and runs until it either waits on the
first or is done, and then the first commits. Before, the check that no other State has the key read only what
was committed, so both passed it and both entries were stored: either State's registry could then sign as the
other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from firearms import bootstrap, db, journal
from firearms.errors import ConflictError
from firearms.exchange import trust
from firearms.signing import key_id_of
from tests.exchange_util import VECTORS

KEY = VECTORS["keys"]["DE"]["public_key"]
Work = Callable[[db.Conn], Awaitable[Any]]


async def waiting_or_done(observer: db.Conn, pid: int, task: asyncio.Task[Any]) -> None:
    """Wait (deadline 10 s) until backend ``pid`` waits on a lock or ``task`` has finished without waiting."""
    deadline = asyncio.get_running_loop().time() + 10
    while asyncio.get_running_loop().time() < deadline:
        if task.done() or await observer.fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid
        ):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second writer neither waited nor finished")


async def meet(database: str, first_work: Work, second_work: Work) -> tuple[Any, Any]:
    """``first_work`` in an open transaction; ``second_work`` waits on it or finishes; then the first commits.

    Returns each writer's result or the exception it raised.
    """
    first, second, observer = await db.connect(database), await db.connect(database), await db.connect(database)
    try:
        transaction = first.transaction()
        await transaction.start()
        first_result = await first_work(first)

        async def in_transaction() -> Any:
            async with second.transaction():
                return await second_work(second)

        pending = asyncio.create_task(in_transaction())
        await waiting_or_done(observer, second.get_server_pid(), pending)
        await transaction.commit()
        return first_result, (await asyncio.gather(pending, return_exceptions=True))[0]
    finally:
        for conn in (first, second, observer):
            await conn.close()


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
    won, lost = await meet(database, first, second)
    assert isinstance(won, trust.Peer)
    assert isinstance(lost, ConflictError), lost
    assert lost.code == "peer-key-exists"
    assert lost.facts["states"] == [won.state]
    key_id = key_id_of(trust.parse_public_key(KEY))
    assert await conn.fetchval("SELECT array_agg(state) FROM peer_key WHERE key_id = $1", key_id) == [won.state]
    assert (await journal.verify(conn, state="AT")).intact
