from __future__ import annotations

import msgspec

from firearms import bootstrap, db, licence_versions, licences
from firearms.errors import ConflictError
from firearms.licence_views import LICENCE_STATUSES
from firearms.licences import TRANSITIONS
from firearms.settings import Settings
from tests.licensing_helpers import ACTOR, export_draft, register_parties


class _UndoError(Exception):
    pass


async def test_every_transition_legal_and_illegal(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    # an import licence: no export gates, so every legal move succeeds on its own
    draft = msgspec.structs.replace(
        export_draft(p),
        kind="import",
        exporting_state="DE",
        importing_state="AT",
        route=["DE", "AT"],
        import_authorisation=None,
    )
    async with conn.transaction():
        lic = await licence_versions.create_draft(conn, draft, settings=settings, actor=ACTOR)
    outcome: dict[tuple[str, str], str] = {}
    for start in LICENCE_STATUSES:
        for target in LICENCE_STATUSES:
            try:
                async with conn.transaction():
                    await conn.execute("UPDATE licence SET status = $1 WHERE licence_id = $2", start, lic.licence_id)
                    try:
                        moved = await licences.transition(
                            conn, licence_id=lic.licence_id, to=target, actor=ACTOR, reason="matrix", settings=settings
                        )
                        outcome[start, target] = moved.status
                    except ConflictError as exc:
                        outcome[start, target] = (
                            "refused"
                            if exc.code == "illegal-transition" and exc.facts["allowed"] == list(TRANSITIONS[start])
                            else f"unexpected {exc.code}"
                        )
                    raise _UndoError
            except _UndoError:
                pass
    for (origin, goal), result in outcome.items():
        expected = goal if goal in TRANSITIONS[origin] else "refused"
        assert result == expected, (origin, goal)
    legal = sorted(key for key, result in outcome.items() if result != "refused")
    assert legal == sorted(
        [
            ("draft", "pending"),
            ("pending", "issued"),
            ("issued", "suspended"),
            ("issued", "revoked"),
            ("issued", "expired"),
            ("issued", "exhausted"),
            ("suspended", "issued"),
            ("suspended", "revoked"),
            ("suspended", "expired"),
        ]
    )
    assert await conn.fetchval("SELECT status FROM licence WHERE licence_id = $1", lic.licence_id) == "draft"
