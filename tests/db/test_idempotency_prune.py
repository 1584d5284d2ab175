"""Pruning old Idempotency-Keys: each deletion journaled, the rest of the table append-only as before.

The service's role prunes through ``prune_idempotency_keys()``, a function that runs as the tables' owner and
deletes only keys stored more than a day ago; the role itself may not DELETE a key (migration 20261130181000).
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import asyncpg
import pytest

from firearms import backup, db, idempotency, restore, tokens
from firearms.embedded import with_user

ACTOR = "test:operator"
REQUEST = "POST /api/v1/parties"


async def _key(conn: db.Conn, token_id: uuid.UUID, key: str, days_ago: float) -> None:
    """A key as a request stored it ``days_ago`` days ago."""
    await conn.execute(
        "INSERT INTO idempotency_key (token_id, idempotency_key, request, fingerprint, answer, status_code,"
        " created_at) VALUES ($1, $2, $3, $4, '{}', 201, now() - $5::float8 * interval '1 day')",
        token_id,
        key,
        REQUEST,
        idempotency.fingerprint(REQUEST, {"key": key}),
        days_ago,
    )


async def _keys_left(conn: db.Conn) -> list[str]:
    rows = await conn.fetch("SELECT idempotency_key FROM idempotency_key ORDER BY idempotency_key")
    return [row["idempotency_key"] for row in rows]


async def test_keys_older_than_the_retention_are_deleted_each_journaled_and_free_again(
    conn: db.Conn, service: db.Conn
) -> None:
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    for key, days_ago in [("old-1", 40), ("old-2", 35), ("old-3", 31), ("kept-1", 29), ("kept-2", 1)]:
        await _key(conn, token.token_id, key, days_ago)
    shown: list[int] = []
    pruned = await idempotency.prune(  # as the service prunes: through prune_idempotency_keys()
        service, older_than=dt.timedelta(days=30), actor=ACTOR, batch=2, progress=shown.append
    )
    assert (pruned, shown) == (3, [2, 3])  # two batches, oldest first
    left = await conn.fetch("SELECT idempotency_key FROM idempotency_key ORDER BY idempotency_key")
    assert [row["idempotency_key"] for row in left] == ["kept-1", "kept-2"]
    entries = await conn.fetch(
        "SELECT entry_id, actor, entity, entity_id, payload FROM journal_entry"
        " WHERE action = 'idempotency-key.pruned' ORDER BY entry_id"
    )
    assert [(e["actor"], e["entity"], e["entity_id"]) for e in entries] == [
        (ACTOR, "idempotency_key", f"{token.token_id}/{key}") for key in ("old-1", "old-2", "old-3")
    ]
    assert entries[0]["payload"]["request"] == REQUEST
    assert entries[0]["payload"]["fingerprint"] == idempotency.fingerprint(REQUEST, {"key": "old-1"}).hex()
    assert entries[0]["payload"]["stored_before"].endswith("Z")
    queued = await conn.fetchval(
        "SELECT count(*) FROM journal_pending WHERE entry_id = ANY($1::bigint[])", [e["entry_id"] for e in entries]
    )
    assert queued == 3
    # nothing is left to prune: asked again, nothing more
    assert await idempotency.prune(service, older_than=dt.timedelta(days=30), actor=ACTOR) == 0
    # a pruned key is free: the same request with it creates anew
    created: list[str] = []

    async def create() -> dict[str, str]:
        created.append("again")
        return {"party_id": "new"}

    answer = await idempotency.once(
        conn,
        token_id=token.token_id,
        key="old-1",
        request=REQUEST,
        body={"key": "old-1"},
        status_code=201,
        create=create,
        actor=ACTOR,
    )
    assert (created, answer.body) == (["again"], b'{"party_id":"new"}')


async def test_outside_the_prune_the_keys_stay_append_only(conn: db.Conn) -> None:
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    await _key(conn, token.token_id, "old-1", 40)
    for statement in ("DELETE FROM idempotency_key", "UPDATE idempotency_key SET answer = '[]'"):
        with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
            await conn.execute(statement)
    # the prune's permission is its transaction's alone
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        async with conn.transaction():
            await conn.execute(
                "SELECT set_config('firearms.idempotency_prune', 'on', true); UPDATE idempotency_key SET answer = '[]'"
            )
    with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
        await conn.execute("DELETE FROM idempotency_key")
    assert await conn.fetchval("SELECT count(*) FROM idempotency_key") == 1


async def _delete_with_setting(service: db.Conn, setting: str, statement: str) -> None:
    """``statement`` in a transaction that set the prune's marker to ``setting`` first."""
    async with service.transaction():
        await service.execute("SELECT set_config('firearms.idempotency_prune', $1, true)", setting)
        await service.execute(statement)


async def test_the_service_role_cannot_delete_a_key_even_with_the_prunes_setting(
    conn: db.Conn, service: db.Conn
) -> None:
    """``firearms.idempotency_prune`` is a setting any session may set: it let the service delete fresh keys."""
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    await _key(conn, token.token_id, "fresh", 0)
    await _key(conn, token.token_id, "old", 40)
    for statement in ("DELETE FROM idempotency_key", "DELETE FROM idempotency_key WHERE idempotency_key = 'fresh'"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await _delete_with_setting(service, "on", statement)
    assert await _keys_left(conn) == ["fresh", "old"]


async def test_a_delete_by_hand_is_refused_by_the_guard_even_where_the_role_was_granted_delete(
    conn: db.Conn, service: db.Conn
) -> None:
    """The guard lets a DELETE through only inside prune_idempotency_keys(), which runs as the tables' owner.

    A DELETE granted by hand (grant_service_role() takes it back at the next migration) still meets the trigger:
    the setting the service may set itself is not enough, the deleting role must be the owner.
    """
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    await _key(conn, token.token_id, "fresh", 0)
    await _key(conn, token.token_id, "old", 40)
    await conn.execute("GRANT DELETE ON idempotency_key TO firearms_app")
    for setting in ("on", "off"):
        with pytest.raises(asyncpg.RestrictViolationError, match="firearms idempotency prune"):
            await _delete_with_setting(service, setting, "DELETE FROM idempotency_key")
    assert await _keys_left(conn) == ["fresh", "old"]


@pytest.mark.parametrize("bound", ["now() + interval '1 hour'", "now() - interval '23 hours 59 minutes'"])
async def test_the_prune_function_refuses_a_bound_less_than_a_day_ago(
    conn: db.Conn, service: db.Conn, bound: str
) -> None:
    """The service's role cannot lower the floor: a key younger than a day is never pruned, whatever it asks."""
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    await _key(conn, token.token_id, "fresh", 0)
    await _key(conn, token.token_id, "hours", 0.5)
    before = await conn.fetchval("SELECT count(*) FROM journal_entry")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="at least a day ago"):
        await service.fetchval(f"SELECT prune_idempotency_keys({bound}, 1000, now(), 'mallory', 'now')")
    assert await _keys_left(conn) == ["fresh", "hours"]
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == before


async def test_a_prune_of_one_day_takes_the_keys_older_than_a_day_and_keeps_the_younger(
    conn: db.Conn, service: db.Conn
) -> None:
    """``--older-than 1``, the least the command takes, is the function's floor: its bound is always allowed."""
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    for key, days_ago in [("day-and-hour", 25 / 24), ("day-less-hour", 23 / 24), ("fresh", 0)]:
        await _key(conn, token.token_id, key, days_ago)
    assert await idempotency.prune(service, older_than=dt.timedelta(days=1), actor=ACTOR) == 1
    assert await _keys_left(conn) == ["day-less-hour", "fresh"]


@pytest.mark.parametrize(
    ("bound", "max_keys", "refused", "left"),
    [
        ("NULL", "1000", asyncpg.InvalidParameterValueError, ["fresh", "hours", "old"]),
        ("'infinity'", "1000", asyncpg.InvalidParameterValueError, ["fresh", "hours", "old"]),
        ("'-infinity'", "1000", None, ["fresh", "hours", "old"]),
        ("'0001-01-01 00:00:00+00'", "NULL", None, ["fresh", "hours", "old"]),
        ("now() - interval '1 day'", "NULL", None, ["fresh", "hours"]),
        ("now() - interval '1 day'", "2147483647", None, ["fresh", "hours"]),
        ("now() - interval '1 day'", "-1", asyncpg.InvalidRowCountInLimitClauseError, ["fresh", "hours", "old"]),
    ],
)
async def test_no_argument_of_the_service_roles_makes_the_prune_take_a_key_younger_than_a_day(
    conn: db.Conn, service: db.Conn, bound: str, max_keys: str, refused: type[Exception] | None, left: list[str]
) -> None:
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    for key, days_ago in [("old", 40), ("hours", 0.9), ("fresh", 0)]:
        await _key(conn, token.token_id, key, days_ago)
    call = f"SELECT prune_idempotency_keys({bound}, {max_keys}, now(), 'mallory', 'whenever')"
    if refused is None:
        await service.fetchval(call)
    else:
        with pytest.raises(refused):
            await service.fetchval(call)
    assert await _keys_left(conn) == left


async def test_a_failed_prune_leaves_no_marker_and_the_role_still_deletes_nothing(
    conn: db.Conn, service: db.Conn
) -> None:
    """The function sets the guard's marker for its run; failing after it (here a journal entry without an actor),
    inside a savepoint, takes the marker back with the savepoint. Even set, the marker lets no DELETE of the
    service's role through: the guard asks for the table's owner too (here with DELETE granted by hand)."""
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    await _key(conn, token.token_id, "old", 40)
    await _key(conn, token.token_id, "fresh", 0)
    await conn.execute("GRANT DELETE ON idempotency_key TO firearms_app")
    marker = "SELECT current_setting('firearms.idempotency_prune', true)"
    async with service.transaction():
        with pytest.raises(asyncpg.NotNullViolationError):
            async with service.transaction():  # a savepoint
                await service.fetchval(
                    "SELECT prune_idempotency_keys(now() - interval '30 days', 10, now(), NULL, 'x')"
                )
        assert await service.fetchval(marker) in {None, "", "off"}
        assert (
            await service.fetchval("SELECT prune_idempotency_keys(now() - interval '30 days', 10, now(), 'a', 'x')")
            == 1
        )
        assert await service.fetchval(marker) == "off"
        await service.execute("SELECT set_config('firearms.idempotency_prune', 'on', true)")
        with pytest.raises(asyncpg.RestrictViolationError):
            async with service.transaction():
                await service.execute("DELETE FROM idempotency_key")
    assert await _keys_left(conn) == ["fresh"]


async def test_a_temporary_table_named_idempotency_key_is_not_the_one_the_prune_deletes_from(
    conn: db.Conn, service: db.Conn
) -> None:
    """The function's search path is pinned to public first: the service's temporary tables stand in for nothing."""
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    await _key(conn, token.token_id, "old", 40)
    async with service.transaction():
        await service.execute(
            "CREATE TEMPORARY TABLE idempotency_key ON COMMIT DROP AS"
            " SELECT token_id, idempotency_key, request, fingerprint, created_at FROM public.idempotency_key"
        )
        assert (
            await service.fetchval("SELECT prune_idempotency_keys(now() - interval '30 days', 10, now(), 'a', 'x')")
            == 1
        )
        assert await service.fetchval("SELECT count(*) FROM pg_temp.idempotency_key") == 1
    assert await _keys_left(conn) == []


async def test_a_restored_registry_prunes_through_the_function_and_only_the_service_role_may_call_it(
    conn: db.Conn, database: str, empty_database: str, tmp_path: Path
) -> None:
    """A backup holds no privileges (pg_dump --no-privileges): a restored function may be run by PUBLIC until the
    restore's migrate() runs grant_service_role(), which gives EXECUTE back to the service's role alone."""
    _, token = await tokens.create_token(conn, role="licensing-officer", name="Kim", actor=ACTOR)
    await _key(conn, token.token_id, "old", 40)
    await _key(conn, token.token_id, "fresh", 0)
    path = tmp_path / "at.dump"
    await backup.backup(database, path, state="AT", actor=ACTOR)
    await restore.restore(empty_database, path, state="AT", home=tmp_path / "new-home")
    restored = await db.connect(empty_database)
    try:
        acl = await restored.fetchval("SELECT proacl::text[] FROM pg_proc WHERE oid = $1::regprocedure", PRUNE_FUNCTION)
        assert not [item for item in acl if item.startswith("=")]  # nothing for PUBLIC
        assert await restored.fetchval(
            "SELECT has_function_privilege($1, $2::regprocedure, 'EXECUTE')", db.SERVICE_ROLE, PRUNE_FUNCTION
        )
    finally:
        await restored.close()
    service = await db.connect(with_user(empty_database, db.SERVICE_ROLE))
    try:
        assert await idempotency.prune(service, older_than=dt.timedelta(days=30), actor=ACTOR) == 1
        assert await _keys_left(service) == ["fresh"]
    finally:
        await service.close()


PRUNE_FUNCTION = "prune_idempotency_keys(timestamptz, integer, timestamptz, text, text)"
