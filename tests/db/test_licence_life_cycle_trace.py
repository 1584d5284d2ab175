"""Every status change of a licence leaves its trace; every refused one leaves none (DESIGN §3, §6).

The matrix of :mod:`tests.db.test_transitions` shows which moves are allowed; here each allowed move writes exactly one
``licence_event`` and one journal entry, in its own transaction, naming the actor and the reason, and each refused
move writes nothing at all. Two officers moving one licence at once (suspend, revoke, amend) end in one of the
outcomes the two moves give one after the other.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from firearms import bootstrap, db, licence_reads, licence_versions, licence_views, licences
from firearms.errors import ConflictError
from firearms.licence_views import LICENCE_STATUSES
from firearms.licences import TRANSITIONS
from firearms.settings import Settings
from tests.db.test_licence_races import amend_line_2, move
from tests.licensing_helpers import export_draft, issued_export, register_parties
from tests.races import race

OFFICER = "officer:lena"


class _UndoError(Exception):
    pass


async def _trace(conn: db.Conn) -> tuple[Any, ...]:
    """Everything a status change may write: the licence row, its events, the journal, the outbox."""
    return (
        tuple(await conn.fetch("SELECT * FROM licence ORDER BY licence_id")),
        tuple(await conn.fetch("SELECT * FROM licence_event ORDER BY 1")),
        await conn.fetchval("SELECT count(*) FROM journal_entry"),
        await conn.fetchval("SELECT count(*) FROM notice_outbox"),
    )


async def test_each_allowed_move_is_traced_with_actor_and_reason_and_each_refused_one_writes_nothing(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    draft = msgspec.structs.replace(
        export_draft(p), kind="import", exporting_state="DE", importing_state="AT", route=["DE", "AT"]
    )
    draft = msgspec.structs.replace(draft, import_authorisation=None)
    async with conn.transaction():
        lic = await licence_versions.create_draft(conn, draft, settings=settings, actor=OFFICER)
    checked = 0
    for start in LICENCE_STATUSES:
        for target in LICENCE_STATUSES:
            reason = f"{start} to {target}: file 2026/{checked}"
            try:
                async with conn.transaction():
                    await conn.execute("UPDATE licence SET status = $1 WHERE licence_id = $2", start, lic.licence_id)
                    before = await _trace(conn)
                    journal_before = await conn.fetchval("SELECT max(entry_id) FROM journal_entry")
                    try:
                        await licences.transition(
                            conn,
                            licence_id=lic.licence_id,
                            to=target,
                            actor=OFFICER,
                            reason=reason,
                            settings=settings,
                        )
                    except ConflictError as exc:
                        refused = (exc.code, exc.facts["licence_status"])
                        assert target not in TRANSITIONS[start], (start, target)
                        assert refused == ("illegal-transition", start)
                        assert await _trace(conn) == before, (start, target)
                    else:
                        assert target in TRANSITIONS[start], (start, target)
                        events = await conn.fetch(
                            "SELECT from_status, to_status, actor, reason FROM licence_event"
                            " WHERE licence_id = $1 AND reason = $2",
                            lic.licence_id,
                            reason,
                        )
                        assert [tuple(event) for event in events] == [(start, target, OFFICER, reason)]
                        entries = await conn.fetch(
                            "SELECT action, actor, payload FROM journal_entry"
                            " WHERE entry_id > $1 AND entity = 'licence' AND action LIKE 'licence.%'",
                            journal_before,
                        )
                        assert [(entry["action"], entry["actor"]) for entry in entries] == [
                            (f"licence.{target}", OFFICER)
                        ]
                        payload = entries[0]["payload"]
                        assert (payload["from"], payload["to"], payload["reason"]) == (start, target, reason)
                    checked += 1
                    raise _UndoError
            except _UndoError:
                pass
    assert checked == len(LICENCE_STATUSES) ** 2


def _moves(licence_id: Any, settings: Settings, p: Any, name: str) -> Any:
    if name == "amend":
        return amend_line_2(licence_id, p, settings, 500)
    return move(licence_id, name, settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("first", "second", "final", "second_refused"),
    [
        ("suspended", "revoked", ("revoked", 1), None),
        ("revoked", "suspended", ("revoked", 1), "illegal-transition"),
        ("revoked", "amend", ("revoked", 1), "licence-not-amendable"),
        ("amend", "revoked", ("revoked", 2), None),
        ("suspended", "amend", ("suspended", 2), None),
        ("amend", "suspended", ("suspended", 2), None),
        ("suspended", "suspended", ("suspended", 1), "illegal-transition"),
    ],
)
async def test_two_moves_of_one_licence_at_once_end_as_one_after_the_other(
    first: str,
    second: str,
    final: tuple[str, int],
    second_refused: str | None,
    database: str,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    p = await register_parties(conn)
    licence = await issued_export(conn, settings, p)
    _, answer = await race(
        database,
        _moves(licence.licence_id, settings, p, first),
        _moves(licence.licence_id, settings, p, second),
        may_pass=True,
    )
    if second_refused is None:
        assert isinstance(answer, licence_views.Licence), answer
    else:
        assert isinstance(answer, ConflictError)
        assert answer.code == second_refused
    after = await licence_reads.get_licence(conn, licence.licence_id)
    assert (after.status, after.version) == final
    # the status history is a chain: each event starts where the one before ended
    events = await conn.fetch(
        "SELECT from_status, to_status FROM licence_event WHERE licence_id = $1 ORDER BY licence_event_id",
        licence.licence_id,
    )
    assert all(earlier["to_status"] == later["from_status"] for earlier, later in itertools.pairwise(events))
    assert events[-1]["to_status"] == final[0]


async def test_licence_numbers_are_distinct_in_sequence_and_never_given_again(
    database: str, conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    """Two drafts at once get consecutive numbers (the counter row is locked); a revoked licence keeps its number."""
    p = await register_parties(conn)

    def draft(_: Any = None) -> Any:
        async def work(c: db.Conn) -> licence_views.Licence:
            return await licence_versions.create_draft(c, export_draft(p), settings=settings, actor=OFFICER)

        return work

    first, second = await race(database, draft(), draft())
    year = first.licence.number.split("-")[2]
    assert (first.licence.number, second.licence.number) == (f"AT-EXP-{year}-000001", f"AT-EXP-{year}-000002")
    # a draft whose transaction rolled back was never seen: its number is the next one's, and there is no gap
    failed = conn.transaction()
    await failed.start()
    assert (await draft()(conn)).licence.number == f"AT-EXP-{year}-000003"
    await failed.rollback()
    revoked = await issued_export(conn, settings, p)
    assert revoked.licence.number == f"AT-EXP-{year}-000003"
    async with conn.transaction():
        await licences.transition(conn, licence_id=revoked.licence_id, to="revoked", actor=OFFICER, reason="fraud")
    following = await draft()(conn)
    assert following.licence.number == f"AT-EXP-{year}-000004"
    numbers = await conn.fetch("SELECT number FROM licence WHERE origin = 'local' ORDER BY number")
    assert [row["number"] for row in numbers] == [f"AT-EXP-{year}-{n:06d}" for n in range(1, 5)]
