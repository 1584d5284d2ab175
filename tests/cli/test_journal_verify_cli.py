"""``firearms journal verify --since-checkpoint``: bounded by the entries since a signed checkpoint."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner

from cli import main
from firearms import bootstrap, db
from firearms.embedded import with_user
from tests.unanswered_commit import HOLD_VERIFICATION_COMMIT, standby_awaited, terminate_held_commit


@pytest.fixture
def env(database: str, home: Path, initialised: bootstrap.Initialised) -> dict[str, str]:
    return {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), "FIREARMS_DATABASE_URL": database}


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def behind_the_back(database: str, sql: str, *args: object) -> None:
    async def work() -> None:
        conn = await asyncpg.connect(database)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute(sql, *args)
        finally:
            await conn.close()

    asyncio.run(work())


def entry_at(database: str, seq: int) -> int:
    async def work() -> int:
        conn = await asyncpg.connect(database)
        try:
            entry_id: int = await conn.fetchval("SELECT entry_id FROM journal_link WHERE seq = $1", seq)
            return entry_id
        finally:
            await conn.close()

    return asyncio.run(work())


def actor_of(database: str, entry_id: int) -> str:
    async def work() -> str:
        conn = await asyncpg.connect(database)
        try:
            actor: str = await conn.fetchval("SELECT actor FROM journal_entry WHERE entry_id = $1", entry_id)
            return actor
        finally:
            await conn.close()

    return asyncio.run(work())


_TOKENS = itertools.count()  # a live token's name is its own: each entry's token is named anew


def make_entries(env: dict[str, str], count: int) -> None:
    for _ in range(count):
        code, _, stderr = run(env, "token", "create", "--role", "auditor", "--name", f"Auditor {next(_TOKENS)}")
        assert code == 0, stderr


def test_since_checkpoint_walks_from_the_checkpoint_the_last_verification_reached(env: dict[str, str]) -> None:
    code, stdout, stderr = run(env, "journal", "verify", "--since-checkpoint")
    assert code == 0
    assert "no verification recorded at a checkpoint yet: verifying the whole chain" in stderr
    assert stdout.startswith("journal intact: 2 entries")  # the first key's and the first token's
    code, stdout, _ = run(env, "journal", "checkpoint")
    assert code == 0
    seq = json.loads(stdout)["seq"]
    assert seq == 3  # the verification's own entry
    assert run(env, "journal", "verify")[0] == 0  # reaches the checkpoint: the next starts there
    make_entries(env, 3)
    code, stdout, stderr = run(env, "journal", "verify", "--since-checkpoint")
    assert code == 0, stderr
    assert stdout.startswith(f"journal intact since checkpoint {seq}: 5 entries, 1 checkpoint, 0 pending")
    assert "verifying the whole chain" not in stderr
    code, stdout, _ = run(env, "journal", "verify", "--since-checkpoint", "--json")
    verdict = json.loads(stdout)
    assert code == 0
    assert (verdict["intact"], verdict["since_checkpoint"], verdict["entries"]) == (True, seq, 6)
    assert verdict["head_seq"] == seq + 5


def test_since_checkpoint_names_a_change_after_it_and_leaves_one_before_it_to_the_full_verification(
    env: dict[str, str], database: str
) -> None:
    make_entries(env, 3)
    code, stdout, _ = run(env, "journal", "checkpoint")
    seq = json.loads(stdout)["seq"]
    assert run(env, "journal", "verify")[0] == 0  # recorded: the next --since-checkpoint starts at seq
    make_entries(env, 2)
    before = entry_at(database, seq - 2)
    behind_the_back(database, "UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", before)
    code, stdout, stderr = run(env, "journal", "verify", "--since-checkpoint")
    assert code == 0, stderr
    assert f"since checkpoint {seq}" in stdout
    code, _, stderr = run(env, "journal", "verify")
    assert code == 1
    assert f"seq {seq - 2}, entry {before}" in stderr

    after = entry_at(database, seq + 1)
    behind_the_back(database, "UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", after)
    code, _, stderr = run(env, "journal", "verify", "--since-checkpoint")
    assert code == 1
    assert f"journal BROKEN at seq {seq + 1}, entry {after}: the entry was changed after it was sealed" in stderr
    assert f"(walked from checkpoint {seq}; 1 entry verified before it)" in stderr
    code, stdout, _ = run(env, "journal", "verify", "--since-checkpoint", "--json")
    verdict = json.loads(stdout)
    assert code == 1
    assert (verdict["intact"], verdict["bad_seq"], verdict["bad_entry_id"], verdict["since_checkpoint"]) == (
        False,
        seq + 1,
        after,
        seq,
    )


def test_since_checkpoint_refuses_a_forged_checkpoint(env: dict[str, str], database: str) -> None:
    code, stdout, _ = run(env, "journal", "checkpoint")
    seq = json.loads(stdout)["seq"]
    assert run(env, "journal", "verify")[0] == 0
    behind_the_back(database, "UPDATE journal_checkpoint SET signature = $1 WHERE seq = $2", bytes(64), seq)
    code, _, stderr = run(env, "journal", "verify", "--since-checkpoint")
    assert code == 1
    assert f"checkpoint at {seq} has a bad signature" in stderr


def test_help_says_what_since_checkpoint_does_not_prove() -> None:
    result = CliRunner().invoke(main, ["journal", "verify", "--help"], terminal_width=200)
    text = " ".join(result.stdout.split())
    assert result.exit_code == 0
    assert "--since-checkpoint" in text
    assert "found only by the full verification" in text
    assert "daily" in text
    assert "monthly" in text


def test_a_broken_verification_is_flagged_by_the_overview_until_an_intact_one_exit_3(
    env: dict[str, str], database: str
) -> None:
    """The nightly verification finds the chain broken: the morning's ``firearms status`` says so, first of its
    journal lines, in the table and the JSON; before, nothing until 48 hours after the last intact verification."""
    make_entries(env, 2)
    assert run(env, "journal", "verify")[0] == 0
    seq = 3
    changed = entry_at(database, seq)
    sealed = actor_of(database, changed)
    behind_the_back(database, "UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", changed)
    code, _, stderr = run(env, "journal", "verify", "--since-checkpoint")
    assert code == 1
    assert f"journal BROKEN at seq {seq}, entry {changed}" in stderr
    code, stdout, _ = run(env, "status", "--json")
    assert code == 3
    overview = json.loads(stdout)
    assert [item["code"] for item in overview["attention"]] == ["journal-broken"]
    assert (overview["journal"]["broken_seq"], overview["journal"]["broken_entry_id"]) == (seq, changed)
    assert overview["journal"]["broken_kind"] == "entry-changed"
    code, stdout, _ = run(env, "status")
    assert code == 3
    (line,) = [line for line in stdout.splitlines() if line.startswith("attention:")]
    assert line.startswith("attention: journal-broken: the journal verification at ")
    assert f"found the chain broken at seq {seq} (entry {changed}): entry-changed" in line
    # mended as it was sealed: the next intact verification (it walks over the break) clears the line
    behind_the_back(database, "UPDATE journal_entry SET actor = $1 WHERE entry_id = $2", sealed, changed)
    assert run(env, "journal", "verify", "--since-checkpoint")[0] == 0
    code, stdout, _ = run(env, "status", "--json")
    assert code == 0, stdout
    assert json.loads(stdout)["journal"]["broken_at"] is None


def test_a_broken_verification_whose_record_cannot_be_written_still_says_broken_exit_1(
    env: dict[str, str], database: str
) -> None:
    """The record of the failure is written after the walk, in a transaction of its own; the service's role may not
    write it (its INSERT on the journal taken back, as a database administrator might): the verdict is still printed,
    the exit still 1, and a line says the failure was not recorded, so ``firearms status`` will not flag it. Before,
    the write's error was the command's one line: no verdict, no position."""
    make_entries(env, 1)
    assert run(env, "journal", "verify")[0] == 0
    changed = entry_at(database, 2)
    behind_the_back(database, "UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", changed)
    behind_the_back(database, "REVOKE INSERT ON journal_entry FROM firearms_app")
    as_service = {**env, "FIREARMS_DATABASE_URL": with_user(database, "firearms_app")}
    for args in (("journal", "verify"), ("journal", "verify", "--json")):
        code, stdout, stderr = run(as_service, *args)
        assert code == 1, stderr
        if "--json" in args:
            assert (json.loads(stdout)["bad_entry_id"], json.loads(stdout)["seal_refused"]) == (
                changed,
                False,
            )  # the seal went through
        else:
            assert f"journal BROKEN at seq 2, entry {changed}" in stderr
        assert "the broken verification could not be recorded (permission denied for table journal_entry)" in stderr
        assert "Traceback" not in stderr


def test_an_intact_verification_whose_record_cannot_be_written_still_says_intact_exit_1(
    env: dict[str, str], database: str
) -> None:
    """As a broken one's, and as ``backup --verify``'s: the service's role lost its right to record the walk
    (``record_journal_verification()``); the verdict is printed (``--json`` too), the exit is 1 and a line says the
    verification was not recorded. Before, the write's error was the command's one line, with no verdict."""
    make_entries(env, 1)
    behind_the_back(
        database,
        "REVOKE EXECUTE ON FUNCTION record_journal_verification(timestamptz, text, bigint, bigint, bigint, bigint)"
        " FROM firearms_app",
    )
    as_service = {**env, "FIREARMS_DATABASE_URL": with_user(database, "firearms_app")}
    for args in (("journal", "verify"), ("journal", "verify", "--json")):
        code, stdout, stderr = run(as_service, *args)
        assert code == 1, stderr
        if "--json" in args:
            assert json.loads(stdout)["intact"] is True
        else:
            assert stdout.startswith("journal intact: ")
        assert (
            "firearms: error: the journal verification could not be recorded (permission denied for function"
            " record_journal_verification): 'firearms status' will not count it, and the next 'journal verify"
            " --since-checkpoint' does not start from it"
        ) in stderr.splitlines()
        assert "Traceback" not in stderr


async def test_a_verification_whose_record_got_no_answer_at_commit_is_not_said_unrecorded(
    env: dict[str, str], database: str, conn: db.Conn
) -> None:
    """The record's ``COMMIT`` was taken by the server and its answer lost with the connection (the backend
    terminated while the commit waited for a standby): the entry is there. The command said "could not be recorded
    (...): 'firearms status' will not count it", which was false; it must say it may have been recorded, after its
    verdict."""
    await conn.execute(HOLD_VERIFICATION_COMMIT)
    async with standby_awaited(conn):
        command = asyncio.ensure_future(asyncio.to_thread(run, env, "journal", "verify"))
        await terminate_held_commit(conn, await conn.fetchval("SELECT current_database()"), command)
        code, stdout, stderr = await command
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'journal.verified'") == 1
    assert code == 1, stderr
    assert stdout.startswith("journal intact: ")
    assert "could not be recorded" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("firearms: error:")]
    assert len(errors) == 1, stderr
    assert "may have been recorded" in errors[0], errors
    assert "Traceback" not in stderr


def refuse_writes(database: str, how: str) -> None:
    """The database will not take a write from the service: read-only for every role (a hot standby, or
    ``default_transaction_read_only`` set during an incident or an audit; new connections), or a role that may not
    write (its ``DELETE`` on the sealer's queue taken back)."""
    if how == "read-only":
        name = fetch_value(database, "SELECT current_database()")
        behind_the_back(database, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    else:
        behind_the_back(database, "REVOKE DELETE ON journal_pending FROM firearms_app")


def fetch_value(database: str, sql: str) -> object:
    async def work() -> object:
        conn = await asyncpg.connect(database)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(work())


def journal_rows(database: str) -> tuple[object, ...]:
    """What a command could have written to the journal: entries, links, the sealer's queue."""
    return tuple(
        fetch_value(database, f"SELECT count(*) FROM {table}")  # noqa: S608  # the table names are ours
        for table in ("journal_entry", "journal_link", "journal_pending")
    )


@pytest.mark.parametrize(
    ("how", "why"),
    [
        ("read-only", "cannot execute SELECT in a read-only transaction"),
        ("no right", "permission denied for table journal_pending"),
    ],
)
def test_a_verification_on_a_database_that_takes_no_write_walks_what_is_sealed_and_says_what_it_left(
    env: dict[str, str], database: str, how: str, why: str
) -> None:
    """A read-only copy (a hot standby, ``default_transaction_read_only = on``) or a role that may not write refuses
    the seal the walk begins with: the command ended on that error, with no verdict. It walks what is sealed, prints
    the verdict, says how many entries were left unsealed and not verified and that the verification was not
    recorded, exit 1 (as for a record the database refuses), and writes nothing."""
    make_entries(env, 2)
    assert run(env, "journal", "verify")[0] == 0  # 4 entries sealed; its own record and the next token's wait
    make_entries(env, 1)
    refuse_writes(database, how)
    before = journal_rows(database)
    as_service = {**env, "FIREARMS_DATABASE_URL": with_user(database, "firearms_app")}
    for args in (("journal", "verify"), ("journal", "verify", "--json"), ("journal", "verify", "--since-checkpoint")):
        code, stdout, stderr = run(as_service, *args)
        assert code == 1, stderr
        if "--json" in args:
            verdict = json.loads(stdout)
            assert (verdict["intact"], verdict["entries"], verdict["pending"], verdict["seal_refused"]) == (
                True,
                4,
                2,
                True,
            )
        else:  # the verdict line alone (stdout kept apart from stderr) does not read as the whole journal intact
            assert stdout == (
                "journal intact: 4 entries, 0 checkpoints, 2 pending (not sealed: the database takes no write here;"
                " the pending entries are not verified)\n"
            )
        errors = [line for line in stderr.splitlines() if line.startswith("firearms: error:")]
        assert errors == [
            f"firearms: error: the journal could not be sealed ({why}): 2 entries waiting for the sealer were left"
            " unsealed and not verified, and the journal verification was not recorded: 'firearms status' will not"
            " count it, and the next 'journal verify --since-checkpoint' does not start from it"
        ], stderr
        assert "Traceback" not in stderr
    assert journal_rows(database) == before


@pytest.mark.parametrize(
    ("how", "why"),
    [
        ("read-only", "cannot execute SELECT in a read-only transaction"),
        ("no right", "permission denied for table journal_pending"),
    ],
)
def test_a_broken_chain_on_a_database_that_takes_no_write_is_still_said_broken(
    env: dict[str, str], database: str, how: str, why: str
) -> None:
    """The break wins: the verdict names it, exit 1, and a line before it says the seal was refused, what was left
    unverified and that the broken verification was not recorded (so ``firearms status`` will not flag it)."""
    make_entries(env, 1)
    assert run(env, "journal", "verify")[0] == 0
    changed = entry_at(database, 2)
    behind_the_back(database, "UPDATE journal_entry SET actor = 'mallory' WHERE entry_id = $1", changed)
    refuse_writes(database, how)
    before = journal_rows(database)
    as_service = {**env, "FIREARMS_DATABASE_URL": with_user(database, "firearms_app")}
    for args in (("journal", "verify"), ("journal", "verify", "--json")):
        code, stdout, stderr = run(as_service, *args)
        assert code == 1, stderr
        if "--json" in args:
            assert (json.loads(stdout)["bad_entry_id"], json.loads(stdout)["seal_refused"]) == (changed, True)
        else:
            assert f"journal BROKEN at seq 2, entry {changed}" in stderr
        assert (
            f"firearms: the journal could not be sealed ({why}): 1 entry waiting for the sealer was left unsealed and"
            " not verified, and the broken verification was not recorded: 'firearms status' will not flag it"
        ) in stderr.splitlines(), stderr
        assert "Traceback" not in stderr
    assert journal_rows(database) == before
