"""A command whose database connection is lost under it, or whose ``COMMIT`` gets no answer: one line, exit 1."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner

from cli import main
from cli.common import run, with_database
from firearms import bootstrap, db
from firearms.exchange import trust
from firearms.settings import Settings
from tests.exchange_util import VECTORS

DE_KEY = VECTORS["keys"]["DE"]["public_key"]


async def test_a_command_whose_connection_is_terminated_says_so_in_one_line(
    database: str, home: Path, conn: db.Conn, initialised: bootstrap.Initialised
) -> None:
    """``peers add DE`` waits behind another administrator's uncommitted DE; its backend is then terminated."""
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), "FIREARMS_DATABASE_URL": database}
    holder = await db.connect(database)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await trust.add_peer(
            holder, own_state="AT", state="DE", base_url="https://registry.example.de", public_key=DE_KEY,
            not_before=None, actor="test",
        )  # fmt: skip
        args = ["peers", "add", "DE", "--url", "https://other.example.de", "--public-key", DE_KEY]
        command = asyncio.create_task(asyncio.to_thread(CliRunner().invoke, main, args, env=env))
        pid = None
        for _ in range(500):
            pid = await conn.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> ALL($1::int[])"
                " AND wait_event_type = 'Lock'",
                [holder.get_server_pid(), conn.get_server_pid()],
            )
            if pid is not None or command.done():
                break
            await asyncio.sleep(0.02)
        assert pid is not None, "the command never waited behind the uncommitted partner"
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        result = await command
        await transaction.rollback()
    finally:
        await holder.close()
    assert result.exit_code == 1, (result.output, repr(result.exception))
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, (result.stderr, repr(result.exception))
    assert lines[0].startswith("firearms: error: the connection to the database was lost ("), lines[0]
    assert "was not recorded" in lines[0]
    assert await conn.fetchval("SELECT count(*) FROM peer") == 0


def test_a_commit_without_an_answer_says_it_may_have_been_recorded(capsys: pytest.CaptureFixture[str]) -> None:
    async def unanswered() -> None:
        raise db.CommitUnansweredError("COMMIT") from asyncpg.ConnectionDoesNotExistError("connection was closed")

    with pytest.raises(SystemExit) as ended:
        run(unanswered())
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("firearms: error: the database did not confirm the change")
    assert "it may have been recorded" in err


def test_an_error_that_is_no_lost_connection_is_not_called_one() -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        run(broken())


@pytest.mark.parametrize(
    "lost",
    [
        ConnectionResetError(104, "Connection reset by peer"),  # the server killed, a link reset
        BrokenPipeError(32, "Broken pipe"),
        ConnectionRefusedError(111, "Connection refused"),  # a pool's next connection, the server stopped
        FileNotFoundError(2, "No such file or directory"),  # the same on the embedded server's socket, gone
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_connection_lost_as_an_os_error_says_the_connection_was_lost(
    capsys: pytest.CaptureFixture[str], lost: OSError
) -> None:
    """The lost connections that are ``OSError``s were caught as a file of the home's: the line named no database,
    and the embedded server's socket gone read as a missing file (``FileNotFoundError: [Errno 2] No such file``)."""

    async def cut_off() -> None:
        raise lost

    with pytest.raises(SystemExit) as ended:
        run(cut_off())
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"firearms: error: the connection to the database was lost ({type(lost).__name__}: "), err
    assert "was not recorded" in err


def test_a_file_the_command_cannot_read_is_still_named(capsys: pytest.CaptureFixture[str]) -> None:
    async def unreadable() -> None:
        raise FileNotFoundError(2, "No such file or directory", "/srv/home/keys")

    with pytest.raises(SystemExit):
        run(unreadable())
    assert capsys.readouterr().err == "firearms: error: /srv/home/keys: No such file or directory\n"


def test_a_command_whose_connection_is_lost_between_statements_says_so_in_one_line(
    database: str, home: Path, initialised: bootstrap.Initialised, capsys: pytest.CaptureFixture[str]
) -> None:
    """A command's connection lost while it did something else (the server restarted between two statements): its
    next statement met a connection asyncpg had closed, and asyncpg's ``InterfaceError`` ("connection is closed")
    names no loss: a traceback. It is the lost connection's one line."""
    settings = Settings(state="AT", home=home, database_url=database)

    async def work(conn: db.Conn) -> None:
        async with conn.transaction():
            await conn.execute("CREATE TABLE lost_between (a int)")
            other = await db.connect(database)
            try:
                assert await other.fetchval("SELECT pg_terminate_backend($1)", conn.get_server_pid())
            finally:
                await other.close()
            deadline = time.monotonic() + 10
            while not conn.is_closed():
                assert time.monotonic() < deadline, "asyncpg never noticed its backend was terminated"
                await asyncio.sleep(0.02)
            await conn.execute("INSERT INTO lost_between VALUES (1)")

    with pytest.raises(SystemExit) as ended:
        with_database(settings, work)
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("firearms: error: the connection to the database was lost ("), err
    assert "was not recorded" in err


def test_a_failed_transaction_says_nothing_was_recorded_and_where(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    """A command whose code caught a database error without a savepoint: the ``COMMIT`` is answered ``ROLLBACK``.

    It is a bug, but the operator must learn in one line that nothing was recorded (not a traceback to read), and
    the line names the code that committed, for the report.
    """

    async def swallowed() -> None:
        conn = await db.connect(database)
        try:
            async with db.transaction(conn):
                await conn.execute("CREATE TEMPORARY TABLE scratch (x int PRIMARY KEY)")
                await conn.execute("INSERT INTO scratch VALUES (1)")
                with pytest.raises(asyncpg.UniqueViolationError):
                    await conn.execute("INSERT INTO scratch VALUES (1)")
        finally:
            await conn.close()

    with pytest.raises(SystemExit) as ended:
        run(swallowed())
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("firearms: error: the database refused to record the change"), err
    assert "nothing of it was recorded" in err
    assert "test_cli_database_lost.py:" in err  # the innermost frame of ours that committed
    assert "this is a bug" in err
