"""``GET /api/v1/status`` and ``firearms status`` (README "Status"): one overview, the same object, an exit code."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.testing import AsyncTestClient

from cli.main import main
from firearms import db, journal, keys, outbox, restore
from firearms.exchange import trust
from firearms.settings import Settings
from tests.conftest import TokenFactory
from tests.e2e.test_database_bounds import registry
from tests.exchange_util import VECTORS  # its import registers test.ping
from tests.roles import database_env

Client = AsyncTestClient[Litestar]
PATH = "/api/v1/status"
# what differs between two reads a moment apart
MOMENT = {"checked_at", "oldest_queued_age_seconds", "oldest_unsealed_age_seconds", "oldest_held_check_age_seconds",
          "oldest_consent_request_age_seconds", "rotation_age_seconds"}  # fmt: skip


def _steady(value: Any) -> Any:
    """The overview without the time it was read at and the ages counted from it."""
    if isinstance(value, dict):
        return {key: _steady(item) for key, item in value.items() if key not in MOMENT}
    if isinstance(value, list):
        return [_steady(item) for item in value]
    return value


async def _cli(database: str, home: Path, *args: str) -> Result:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), **database_env(database)}
    return await asyncio.to_thread(CliRunner().invoke, main, ["status", *args], env=env)


async def test_admins_and_auditors_read_the_status_and_nothing_is_journaled(
    client: Client, auth: TokenFactory, conn: db.Conn
) -> None:
    admin, auditor = await auth("admin"), await auth("auditor")
    entries = await conn.fetchval("SELECT count(*) FROM journal_entry")
    for headers in (admin, auditor):
        response = await client.get(PATH, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["service"]["state"] == "AT"
        assert body["partners"] == []
        assert body["attention"] == []
    # not a personal read: nothing journaled (and nothing sealed)
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == entries
    assert await conn.fetchval("SELECT count(*) FROM journal_link") == 0


async def test_other_roles_are_refused(client: Client, auth: TokenFactory) -> None:
    for role in ("customs-officer", "records-officer", "licensing-officer", "verifier"):
        response = await client.get(PATH, headers=await auth(role))
        assert response.status_code == 403, role
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/forbidden")
    assert (await client.get(PATH)).status_code == 401


async def test_the_command_prints_the_apis_object_and_exits_0_when_all_is_well(
    client: Client, auth: TokenFactory, database: str, home: Path
) -> None:
    api = (await client.get(PATH, headers=await auth("auditor"))).json()
    result = await _cli(database, home, "--json")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    printed = json.loads(line)
    assert set(printed) == set(api)
    assert _steady(printed) == _steady(api)
    table = await _cli(database, home)
    assert table.exit_code == 0, table.output
    assert "registry AT" in table.stdout
    assert table.stdout.rstrip().endswith("all is well")


async def test_something_needing_attention_exits_3_with_its_line(
    client: Client, auth: TokenFactory, conn: db.Conn, database: str, home: Path
) -> None:
    admin = await auth("admin")
    # the worker stopped an hour ago: an entry it would have sealed waits since
    async with db.transaction(conn):
        entry_id = await conn.fetchval(
            "INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)"
            " VALUES ($1, 'test', 'test.waited', 'test', '1', '{}') RETURNING entry_id",
            dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        )
        await conn.execute("INSERT INTO journal_pending (entry_id) VALUES ($1)", entry_id)
    result = await _cli(database, home)
    assert result.exit_code == 3, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("attention:")]
    assert line.startswith("attention: journal-unsealed: ")
    assert "over 5 minutes" in line
    printed = await _cli(database, home, "--json")
    assert printed.exit_code == 3
    api = (await client.get(PATH, headers=admin)).json()
    assert [item["code"] for item in api["attention"]] == ["journal-unsealed"]
    assert _steady(api)["attention"] == _steady(json.loads(printed.stdout))["attention"]


async def test_a_partners_words_and_escapes_in_a_last_error_reach_neither_the_table_the_json_nor_the_api(
    client: Client, auth: TokenFactory, conn: db.Conn, database: str, home: Path
) -> None:
    """The head's error kind only (README "Status"): a problem ``type`` naming a serial and a name, a ``detail``
    with ANSI escapes that would clear an operator's terminal and retitle it."""
    async with db.transaction(conn):
        await trust.add_peer(
            conn,
            own_state="AT",
            state="DE",
            base_url="http://127.0.0.1:9",
            public_key=VECTORS["keys"]["DE"]["public_key"],
            not_before=None,
            actor="test",
        )
        await outbox.enqueue(conn, "DE", "test.ping", {"n": 1})
        await conn.execute(
            "UPDATE notice_outbox SET attempts = 2, last_error = $1 WHERE recipient = 'DE'",
            "HTTP 422 SSG08-002\x1b[2J\x1b]0;Max Mustermann\x07: \x1b[31mserial SSG08-002 of Max Mustermann\x1b[0m",
        )
    api = await client.get(PATH, headers=await auth("admin"))
    table = await _cli(database, home)
    printed = await _cli(database, home, "--json")
    assert api.json()["partners"][0]["head_last_error"] == "HTTP 422"
    assert json.loads(printed.stdout)["partners"][0]["head_last_error"] == "HTTP 422"
    assert "attempts 2: HTTP 422" in table.stdout
    for text in (api.text, table.stdout, printed.stdout):
        for word in ("SSG08-002", "Mustermann", "\x1b", "\\u001b", "\x07"):
            assert word not in text


async def test_a_key_file_missing_from_the_home_is_flagged_by_the_api_and_the_command(
    client: Client, auth: TokenFactory, conn: db.Conn, database: str, home: Path
) -> None:
    """A restore whose key files were not copied back: both read the home they serve (README "Status")."""
    key_id = await keys.current_key_id(conn)
    assert key_id is not None
    keys.key_path(home, key_id).unlink()
    answer = await client.get(PATH, headers=await auth("auditor"))
    api = answer.json()
    assert api["keys"]["missing_key_files"] == [f"{key_id}.pem"]
    assert api["keys"]["unchecked_key_files"] == []
    assert [item["code"] for item in api["attention"]] == ["signing-key-missing"]
    # the auditor reads the folder's name, not the server's path (the command, run on the server, names it)
    assert "is not in FIREARMS_HOME/keys:" in api["attention"][0]["reason"]
    assert str(home) not in answer.text
    table = await _cli(database, home)
    assert table.exit_code == 3, table.output
    assert f"missing files {key_id}.pem" in table.stdout
    (line,) = [line for line in table.stdout.splitlines() if line.startswith("attention:")]
    assert line.startswith(f"attention: signing-key-missing: the private key file {key_id}.pem (the key in use)")
    assert f"is not in {keys.keys_folder(home)}:" in line


async def test_a_broken_verification_is_flagged_by_the_api_and_the_command_alike(
    client: Client, auth: TokenFactory, conn: db.Conn, database: str, home: Path
) -> None:
    """The nightly ``journal verify`` found the chain broken: both say ``journal-broken``, the same members."""
    await journal.seal(conn)
    changed: int = await conn.fetchval("SELECT entry_id FROM journal_link WHERE seq = 1")
    async with conn.transaction():  # behind the guards, as someone with the database's files
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", changed)
    result = await journal.verify(conn, state="AT")
    await journal.record_verification(conn, actor="cli:alice", result=result)
    api = (await client.get(PATH, headers=await auth("auditor"))).json()
    assert [item["code"] for item in api["attention"]] == ["journal-broken"]
    assert {key: api["journal"][key] for key in ("broken_seq", "broken_entry_id", "broken_kind")} == {
        "broken_seq": 1,
        "broken_entry_id": changed,
        "broken_kind": "entry-changed",
    }
    printed = await _cli(database, home, "--json")
    assert printed.exit_code == 3, printed.output
    assert _steady(json.loads(printed.stdout))["journal"] == _steady(api)["journal"]
    assert _steady(json.loads(printed.stdout))["attention"] == _steady(api)["attention"]


async def test_a_failed_restores_reason_names_no_server_path_in_the_api_the_command_keeps_it(
    client: Client, auth: TokenFactory, database: str, home: Path, tmp_path: Path
) -> None:
    """The failed restore's note in the home names the archive restored (a restore stopped before its checks) or
    itself (a note that cannot be read): the auditor reads ``restore-failed`` without the server's paths, the home
    as ``FIREARMS_HOME`` and the archive by its file name; the command, run on the server, names them."""
    archive = tmp_path / "backups" / "at-20261129.dump"
    problem = f"the restore of {archive} did not finish its checks: what it restored was never checked"
    restore.note_failed_restore(
        home,
        restore.Restored(
            restored=str(archive),
            state="AT",
            journal_seq=3,
            journal_entries=0,
            head_matches=False,
            verify_intact=False,
            migrations_applied=[],
            missing_key_files=[],
            problem=problem,
        ),
    )
    answer = await client.get(PATH, headers=await auth("auditor"))
    (item,) = [item for item in answer.json()["attention"] if item["code"] == "restore-failed"]
    assert item["reason"].startswith(
        "the restore into this home failed its checks (the restore of at-20261129.dump did not finish its checks:"
    )
    for path in (str(tmp_path), str(home), str(archive.parent)):
        assert path not in answer.text
    table = await _cli(database, home)
    assert table.exit_code == 3, table.output
    assert f"attention: restore-failed: the restore into this home failed its checks ({problem})" in table.stdout
    # a note that cannot be read names itself
    (home / restore.FAILED_RESTORE_FILE).write_bytes(b"\x00 not a note")
    answer = await client.get(PATH, headers=await auth("auditor"))
    (item,) = [item for item in answer.json()["attention"] if item["code"] == "restore-failed"]
    assert item["reason"].startswith(
        f"the restore into this home failed its checks (FIREARMS_HOME/{restore.FAILED_RESTORE_FILE} cannot be read)"
    )
    assert str(home) not in answer.text
    table = await _cli(database, home)
    assert f"({home / restore.FAILED_RESTORE_FILE} cannot be read)" in table.stdout


async def test_the_apis_overview_is_read_in_one_snapshot_as_the_commands(
    settings: Settings, auth: TokenFactory, database: str
) -> None:
    """The overview's parts are five queries. Under read committed (the request's transaction) each saw what had
    committed when it began: a transaction committed between two of them was in the later parts and not in the earlier
    ones, an overview of no moment. Here a writer adds a partner and a journal entry in one transaction while holding
    the journal's queue: the request reads the partners (no DE), then waits for the journal's part; the writer commits.
    In one ``REPEATABLE READ READ ONLY`` snapshot, as ``firearms status`` reads it, the journal's part does not see
    the entry either; before, it did (``unsealed`` one more than the moment of the partners' part held). Served on a
    loopback port: the test client would hold this event loop for the request's whole wait."""
    headers = await auth("auditor")
    async with registry(settings) as client:
        unsealed = (await client.get(PATH, headers=headers)).json()["journal"]["unsealed"]
        writer, observer = await db.connect(database), await db.connect(database)
        try:
            block = writer.transaction()
            await block.start()
            await writer.execute("LOCK TABLE journal_pending IN ACCESS EXCLUSIVE MODE")
            await writer.execute(
                "INSERT INTO peer (state, base_url, enabled, created_at, updated_at)"
                " VALUES ('DE', 'http://127.0.0.1:9/de', true, now(), now())"
            )
            entry_id = await writer.fetchval(
                "INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)"
                " VALUES (now(), 'test', 'peer.added', 'peer', 'DE', '{}') RETURNING entry_id"
            )
            await writer.execute("INSERT INTO journal_pending (entry_id) VALUES ($1)", entry_id)
            reading = asyncio.create_task(client.get(PATH, headers=headers))
            await blocked_on_lock(observer, reading)
            await block.commit()
            answer = await reading
        finally:
            await writer.close()
            await observer.close()
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert found["partners"] == []  # read before the commit
        assert found["journal"]["unsealed"] == unsealed  # and so, in the same snapshot, the journal's part
        after = (await client.get(PATH, headers=headers)).json()
    assert [partner["state"] for partner in after["partners"]] == ["DE"]
    assert after["journal"]["unsealed"] == unsealed + 1


async def blocked_on_lock(observer: db.Conn, reading: asyncio.Task[Any]) -> None:
    """Until a session of the test's database waits on a lock (deadline 10 s); the request must not end first."""
    deadline = asyncio.get_running_loop().time() + 10
    while not await observer.fetchval(
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ):
        assert asyncio.get_running_loop().time() < deadline, "the overview never waited for the journal's part"
        assert not reading.done(), (await reading).text
        await asyncio.sleep(0.01)
