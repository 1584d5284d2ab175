"""Database access: the connection alias, the pool, the named-query loader and ``migrate()``.

SQL lives in ``sql/``: forward-only migrations in ``sql/migrations/`` and named queries in
``sql/queries/*.sql`` as ``-- name: verb_object`` blocks (procrastinate's layout).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from firearms.errors import MigrationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from asyncpg.transaction import Transaction

__all__ = [
    "CONNECTION_LOST",
    "EDITED_MIGRATIONS",
    "MIGRATION_LOCK",
    "QUERIES",
    "SERVICE_ROLE",
    "SQL_DIR",
    "WRITE_REFUSED",
    "CommitUnansweredError",
    "Conn",
    "Connection",
    "Pool",
    "TransactionAbortedError",
    "WriteRefusal",
    "answers",
    "close_unanswered",
    "closed",
    "commit",
    "connect",
    "connection_lost",
    "create_pool",
    "first_line",
    "load_queries",
    "lost_connection",
    "lost_under",
    "migrate",
    "read_only",
    "transaction",
    "write_refused",
]

if TYPE_CHECKING:
    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:  # asyncpg's classes are generic only in its stubs; Litestar evaluates these names at run time
    Conn = asyncpg.Connection | PoolConnectionProxy
    Pool = asyncpg.Pool


def _find_sql_dir() -> Path:
    packaged = Path(__file__).parent / "sql"  # a wheel carries sql/ inside the package
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "sql"


SQL_DIR = _find_sql_dir()
_NAME = re.compile(r"^--\s*name:\s*([a-z][a-z0-9_]*)\s*$", re.MULTILINE)
MIGRATION_LOCK = 7_310_001  # pg_advisory_lock key: one migrator at a time across processes
SERVICE_ROLE = "firearms_app"  # the role the service connects as (README "Database roles"); the migrations name it
# The one applied migration ever edited, and the digest it had when registries applied it: it failed on the
# data the edit is for (broker numbers differing only in case or spaces), and does on any other data what it
# did (see the file's head). A registry that applied it then migrates on; any other edit is refused.
EDITED_MIGRATIONS: Mapping[str, str] = {
    "20261129160200_broker_registration_once.sql": "b5d780447309ecb865d3006eaa568477bc2c3adf8d71cde90b47817fcb9983d5",
}


def load_queries(directory: Path) -> dict[str, str]:
    """Parse every ``-- name: x`` block of ``directory/*.sql`` into ``{name: sql}``.

    Raises:
        ValueError: a name is defined twice, or a file holds text before its first name.
    """
    queries: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        parts = _NAME.split(text)
        if parts[0].strip():
            raise ValueError(f"{path.name}: text before the first '-- name:' line")
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            if name in queries:
                raise ValueError(f"{path.name}: query {name!r} is defined twice")
            queries[name] = body.strip()
    return queries


QUERIES: Mapping[str, str] = load_queries(SQL_DIR / "queries")


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, schema="pg_catalog", encoder=_encode_json, decoder=msgspec.json.decode, format="text"
        )
    await conn.set_type_codec("date", schema="pg_catalog", encoder=_encode_date, decoder=_decode_date, format="tuple")


# A date on the wire (binary): whole days from 2000-01-01, PostgreSQL's epoch; infinity and -infinity the ends of int32.
_DATE_EPOCH = dt.date(2000, 1, 1).toordinal()
_DATE_INFINITY = 2**31 - 1
_DATE_MINUS_INFINITY = -(2**31)


def _encode_date(day: dt.date) -> tuple[int]:
    """Every date as the date it is, the first and last of Python's calendar too.

    asyncpg's own codec writes 0001-01-01 and 9999-12-31 (``date.min``, ``date.max``) as ``-infinity`` and
    ``infinity``: read back in Python they were the same dates, but every statement that turns a date into text or
    JSON wrote ``"infinity"`` (an item's history and export, the import authorisation a customs check reads, which
    then failed: a 500 at the border), and a licence valid until 9999-12-31 was valid for ever to SQL.
    """
    return (day.toordinal() - _DATE_EPOCH,)


def _decode_date(value: tuple[int]) -> dt.date:
    """A date as read; ``infinity``/``-infinity`` (written by asyncpg's codec before) as 9999-12-31/0001-01-01, as then.

    Raises:
        ValueError: a date Python's calendar does not have (before the year 1, after 9999), as asyncpg's codec did.
    """
    days = value[0]
    if days == _DATE_INFINITY:
        return dt.date.max
    if days == _DATE_MINUS_INFINITY:
        return dt.date.min
    return dt.date.fromordinal(days + _DATE_EPOCH)


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode("utf-8")


_SERVER_SETTINGS = {"timezone": "UTC", "application_name": "firearms"}
_COMMIT = re.compile(r"\s*(?:COMMIT|END)(?:\s+(?:WORK|TRANSACTION))?\s*;?\s*", re.IGNORECASE)


class TransactionAbortedError(Exception):
    """A ``COMMIT`` the server answered ``ROLLBACK``: the transaction had failed, and nothing of it was recorded.

    A statement that failed inside a transaction aborts all of it; PostgreSQL then takes a ``COMMIT`` as a
    ``ROLLBACK`` and says so only in the command tag, which asyncpg's transaction block never reads. Code that
    caught the statement's error without a savepoint (``db.transaction`` nested) would have answered success for
    records that were never written: :class:`Connection` raises this instead.
    """


if TYPE_CHECKING:
    _Connection: TypeAlias = asyncpg.Connection[asyncpg.Record]
else:
    _Connection = asyncpg.Connection


class Connection(_Connection):
    """asyncpg's connection, whose ``COMMIT`` of a failed transaction raises :class:`TransactionAbortedError`.

    Every connection of the service is one (:func:`connect`, :func:`create_pool`): the check costs no round trip,
    it reads the tag the ``COMMIT`` is answered with, whichever code sent it (asyncpg's transaction block sends it
    through ``execute``).
    """

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str:  # noqa: ASYNC109  # asyncpg's signature
        """:meth:`asyncpg.Connection.execute`; a ``COMMIT`` answered ``ROLLBACK`` raises.

        Raises:
            TransactionAbortedError: the ``COMMIT`` found the transaction failed and rolled it back.
        """
        status = await super().execute(query, *args, timeout=timeout)
        if status == "ROLLBACK" and not args and _COMMIT.fullmatch(query):
            raise TransactionAbortedError(
                "the transaction had failed (a statement's error was caught inside it without a savepoint);"
                " its COMMIT rolled it back and nothing of it was recorded"
            )
        return status


async def connect(url: str) -> asyncpg.Connection[asyncpg.Record]:
    """One connection with the codecs the store expects (CLI commands, migrations)."""
    conn = await asyncpg.connect(url, server_settings=_SERVER_SETTINGS, connection_class=Connection)
    await _init_connection(conn)
    return conn


async def create_pool(
    url: str,
    *,
    max_size: int = 20,
    min_size: int = 1,
    session: Mapping[str, str] | None = None,
    command_timeout: float | None = None,
) -> Pool:
    """A pool whose connections decode json/jsonb with msgspec and speak UTC.

    ``session``: further settings every connection starts with (the API's ``lock_timeout`` and
    ``statement_timeout``), sent when it opens: they cost a request no round trip, and ``RESET`` returns to them.
    ``command_timeout``: seconds a statement waits for the server's answer before ``TimeoutError`` (asyncpg then
    cancels it, and closes the connection if the cancellation fails in as long); ``None``, as long as it takes.
    """
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        init=_init_connection,
        reset=_keep_session,
        connection_class=Connection,
        server_settings={**_SERVER_SETTINGS, **(session or {})},
    )


async def answers(pool: Pool, seconds: float) -> bool:
    """The database answers a query on a connection of ``pool`` within ``seconds``, the whole round trip bounded.

    A frozen server (a stopped host, a dead link: no answer and no closed connection) would otherwise hold the
    caller for as long as the operating system keeps the connection. A connection that did not answer in time
    is closed, not given back: the pool would wait on it for the server to take the cancellation. A pooled
    connection the server closed (a restart) fails its query though the database answers: a second
    connection is asked, within the same bound (``/health`` is 200 when the database answers, DESIGN §10). The query
    is :func:`read_only`'s (``transaction_read_only``), as cheap as ``SELECT 1``.
    """
    return await read_only(pool, seconds) is not None


async def read_only(pool: Pool, seconds: float) -> bool | None:
    """Whether the database takes no write here, asked as :func:`answers` asks (one round trip); ``None``: no answer.

    ``transaction_read_only`` of a new transaction: on for a hot standby (a failover onto a node that is still one)
    and under ``default_transaction_read_only = on`` (``ALTER SYSTEM`` and a reload, or ``ALTER DATABASE`` for the
    connections opened after it). A full disk or a right revoked is not seen here: only a write meets it
    (:func:`write_refused`).
    """
    try:
        async with asyncio.timeout(seconds):
            found = await _probe(pool)
            return found if found is not None else await _probe(pool)
    except TimeoutError:
        return None


CONNECTION_LOST: tuple[type[Exception], ...] = (
    ConnectionError,  # refused (the server is not listening: stopped, restarting), reset, a broken pipe
    FileNotFoundError,  # the embedded server's Unix socket, removed when it stopped (see connection_lost)
    asyncpg.PostgresConnectionError,  # class 08: the connection was lost
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,  # 57P01: terminated by a shutdown
    asyncpg.CrashShutdownError,  # 57P02: terminated as another backend crashed
)
"""The exceptions that may mean the connection to the database is refused, lost or closed by a shutdown: the
worker's outage probe and the API's 503 ``database-unavailable`` both go by :func:`connection_lost`."""


def connection_lost(exc: BaseException) -> bool:
    """``exc`` is a connection to the database refused, lost or closed by a shutdown (:data:`CONNECTION_LOST`).

    A ``FileNotFoundError`` is one only when it names no file: connecting to a Unix socket that is gone raises it
    without a name, while a file the code reads (a key file, an import) names itself.
    """
    if isinstance(exc, FileNotFoundError):
        return exc.filename is None
    if isinstance(exc, CommitUnansweredError):  # the COMMIT's answer was lost with the connection, or never came
        return exc.__cause__ is not None and connection_lost(exc.__cause__)
    return isinstance(exc, CONNECTION_LOST)


WriteRefusal: TypeAlias = Literal["read-only", "full", "misconfigured"]

WRITE_REFUSED: Mapping[type[asyncpg.PostgresError], WriteRefusal] = {
    asyncpg.ReadOnlySQLTransactionError: "read-only",  # 25006: a hot standby, default_transaction_read_only = on
    asyncpg.DiskFullError: "full",  # 53100: no space left for the data or the WAL
    asyncpg.InsufficientPrivilegeError: "misconfigured",  # 42501: the service's role lost a right it needs
}
"""The errors of a database that answers but takes no write here, by what they mean (:func:`write_refused`)."""


def first_line(exc: BaseException) -> str:
    """An error's first line, or its name when it has no words.

    The database's words: a ``DETAIL`` or ``HINT`` follows on lines of their own.
    """
    return f"{exc}".splitlines()[0] if f"{exc}" else type(exc).__name__


def write_refused(exc: BaseException) -> WriteRefusal | None:
    """Why the database refused ``exc``'s write, when it is one of :data:`WRITE_REFUSED`; else ``None``.

    ``read-only`` and ``full`` pass (a standby promoted, the setting reset, space freed); ``misconfigured`` lasts
    until an administrator grants the right again.
    """
    return next((why for kind, why in WRITE_REFUSED.items() if isinstance(exc, kind)), None)


def lost_connection(exc: BaseException) -> Exception | None:
    """The lost connection ``exc`` is (:func:`connection_lost`), or that it stands over; ``None`` if neither.

    Leaving asyncpg's own transaction block on a lost connection raises ``InterfaceError`` over the error that lost
    it (its ``__context__``): that error is the loss.
    """
    under = exc.__context__ if isinstance(exc, asyncpg.InterfaceError) else exc
    return under if isinstance(under, Exception) and connection_lost(under) else None


class CommitUnansweredError(Exception):
    """A ``COMMIT`` was sent and no answer came back: the transaction may have committed, or not (:func:`commit`)."""


async def commit(conn: Conn, transaction: Transaction) -> None:
    """Commit ``transaction``, telling a ``COMMIT`` that got no answer from a failure before it was sent.

    The server commits a ``COMMIT`` it has read whatever becomes of the client: one that got no answer (the pool's
    ``command_timeout``, or the connection lost under it: :func:`connection_lost`) may have committed. That is
    :class:`CommitUnansweredError`, never the "nothing was recorded" of a transaction that failed before its
    ``COMMIT``; the connection is closed, not waited on (a cancellation a frozen server cannot take). A connection
    asyncpg found lost before (:func:`closed`: the server restarted while the transaction did something else) takes
    no ``COMMIT``: that is the lost connection, nothing committed, never this error. A refusal
    of the server's (a deferred constraint, a serialisation failure) is its answer, raised as it came, and so is a
    ``COMMIT`` answered ``ROLLBACK`` (:class:`TransactionAbortedError`, :class:`Connection`). A
    cancellation while the ``COMMIT`` awaits its answer (a command stopped, a server shutting down) stays the
    ``CancelledError`` it is, for the task must end cancelled; its outcome is as unknown, and the connection, whose
    answer is still owed, is closed all the same. Every transaction a request or a partner's notice commits goes
    through here: ``api.deps.provide_conn`` and :func:`transaction`.

    Raises:
        CommitUnansweredError: the ``COMMIT`` was sent and no answer came back.
    """
    if closed(conn):  # lost while the transaction did something else: no COMMIT can be sent, and none was
        raise asyncpg.ConnectionDoesNotExistError("the connection to the database was lost before the COMMIT")
    try:
        await transaction.commit()
    except Exception as exc:
        if not (isinstance(exc, TimeoutError) or connection_lost(exc)):
            raise
        close_unanswered(conn)
        raise CommitUnansweredError(f"no answer to the commit: {type(exc).__name__}") from exc
    except BaseException:
        close_unanswered(conn)  # cancelled awaiting the answer: the COMMIT left, and may have committed
        raise


@contextlib.asynccontextmanager
async def transaction(
    conn: Conn, *, isolation: Literal["read_committed", "repeatable_read"] | None = None, readonly: bool = False
) -> AsyncIterator[None]:
    """``async with conn.transaction()`` whose ``COMMIT`` without an answer is :class:`CommitUnansweredError`.

    For the transactions a handler runs itself (a partner's notice, a key rotation, an import, the journal's
    listing and checkpoint), as ``api.deps.provide_conn`` for a request's: both commit through :func:`commit`.
    An error in the block rolls back, as asyncpg's does. Inside another transaction it is a savepoint, as
    asyncpg's: releasing one commits nothing, and its failure is only a failure.

    A connection lost under the block is the error that lost it (:func:`lost_under`), not the ``InterfaceError`` of
    a ``ROLLBACK`` that cannot be sent: the server rolled the transaction back as the connection went. A statement
    that got no answer within ``command_timeout`` (``TimeoutError``: a frozen host) closes the connection, as
    rather than wait as long again for a ``ROLLBACK`` (a savepoint's ``ROLLBACK TO`` may have waited for the
    cancellation already).

    Raises:
        CommitUnansweredError: the ``COMMIT`` was sent and no answer came back.
        asyncpg.ConnectionDoesNotExistError: the connection was lost between two statements, or before the
            ``COMMIT`` (asyncpg's ``InterfaceError`` on the connection it closed then): nothing was committed.
    """
    outermost = not conn.is_in_transaction()
    block = conn.transaction(isolation=isolation, readonly=readonly)
    await block.start()
    try:
        yield
    except BaseException as exc:
        if closed(conn):
            lost = lost_under(exc)
            if lost is exc:
                raise
            raise lost from exc
        if isinstance(exc, TimeoutError):  # no answer at all (a frozen host): a ROLLBACK would wait as long again
            close_unanswered(conn)  # the server rolls back a transaction whose connection is gone
            raise
        # a connection asyncpg closed under the ROLLBACK: the block's own error is the answer, not the InterfaceError
        with contextlib.suppress(asyncpg.InterfaceError):
            await block.rollback()
        raise
    if outermost:
        await commit(conn, block)
    else:
        await block.commit()


def closed(conn: Conn) -> bool:
    """``conn`` is closed: lost (asyncpg closes a connection it finds lost, even between two statements) or closed.

    A pool's connection that asyncpg closed is taken back by the pool at once: its proxy then refuses every call,
    ``is_closed()`` too, with an ``InterfaceError`` ("released back to the pool").
    """
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:
        return True


def lost_under(exc: BaseException) -> BaseException:
    """What ``exc``, raised on a connection that is :func:`closed`, is: the lost connection.

    asyncpg refuses a statement, a ``COMMIT`` or a ``ROLLBACK`` on a connection it closed with an ``InterfaceError``
    ("the underlying connection is closed", "released back to the pool") that names no loss: the loss it is is a
    ``ConnectionDoesNotExistError`` (class 08, :data:`CONNECTION_LOST`), the 503 ``database-unavailable`` of the API
    and the one line of a command. Any other error (the one that lost the connection) is itself.
    """
    if isinstance(exc, asyncpg.InterfaceError):
        return asyncpg.ConnectionDoesNotExistError(f"the connection to the database was lost ({exc})")
    return exc


def close_unanswered(conn: Conn) -> None:
    """Close a connection the database did not answer on, unless asyncpg closed it already.

    asyncpg closes a connection that was lost, or whose cancellation went unanswered, and hands it back to the
    pool: ``terminate()`` on it again raises ``InterfaceError``.
    """
    with contextlib.suppress(asyncpg.InterfaceError):
        conn.terminate()


async def _probe(pool: Pool) -> bool | None:
    """One pooled connection's ``transaction_read_only`` (``None``: no answer).

    A connection that failed or was cut short is closed, not given back.
    """
    conn = None
    try:
        conn = await pool.acquire()
        found = await conn.fetchval("SELECT current_setting('transaction_read_only') = 'on'")
    except BaseException as exc:  # the bound's cancellation too: the connection is closed before it goes back
        if conn is not None:
            # out of the worker's outage handling, the InterfaceError of closing it again stopped the worker
            close_unanswered(conn)
            await pool.release(conn)
        if isinstance(exc, Exception):
            return None
        raise
    await pool.release(conn)
    return bool(found)


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Return a connection to the pool without asyncpg's reset query: one round trip fewer per request.

    asyncpg still rolls back a transaction left open. Nothing in this code leaves other session state
    behind: settings are ``SET LOCAL`` or ``set_config(..., true)``, advisory locks are transaction-scoped,
    temporary tables are ``ON COMMIT DROP``, nothing listens or keeps a cursor (the bulk import's
    ``temp_buffers`` is meant to stay with the session).
    """
    del conn


async def migrate(conn: Conn, directory: Path | None = None) -> list[str]:
    """Apply pending migrations in file-name order, each in its own transaction, under an advisory lock.

    Every applied file is recorded with its SHA-256; an applied file whose bytes changed is refused, but
    for the digest an edited migration had before its one edit (:data:`EDITED_MIGRATIONS`). Then, still under the
    lock, the service role (:data:`SERVICE_ROLE`) is granted its rights again (``grant_service_role()``) when a
    migration was applied or a table is not granted to it: a table a migration added, a database restored from a
    backup, which holds no privileges.

    Returns:
        The names of the files applied by this call.

    Raises:
        MigrationError: an applied migration was edited, or a migration failed (nothing of it stays).
    """
    directory = SQL_DIR / "migrations" if directory is None else directory
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        # only when missing: IF NOT EXISTS still asks for CREATE on the schema, which the service's login has not,
        # and a registry with nothing to migrate starts on that login alone (README "Database roles")
        if await conn.fetchval("SELECT to_regclass('schema_migration')") is None:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migration (
                       name text CONSTRAINT schema_migration_pkey PRIMARY KEY,
                       sha256 text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
        applied = {row["name"]: row["sha256"] for row in await conn.fetch("SELECT name, sha256 FROM schema_migration")}
        for path in sorted(directory.glob("*.sql")):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if path.name in applied:
                if applied[path.name] not in {digest, EDITED_MIGRATIONS.get(path.name)}:
                    raise MigrationError(
                        f"migration {path.name} was changed after it was applied; add a new migration instead",
                        migration=path.name,
                    )
                continue
            try:
                async with conn.transaction():
                    await conn.execute(path.read_text(encoding="utf-8"))
                    await conn.execute("INSERT INTO schema_migration (name, sha256) VALUES ($1, $2)", path.name, digest)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {path.name} failed: {exc}", migration=path.name) from exc
            applied_now.append(path.name)
        granting = await conn.fetchval("SELECT to_regprocedure('grant_service_role()') IS NOT NULL")
        if granting and (applied_now or await conn.fetchval(_UNGRANTED, SERVICE_ROLE)):
            try:
                async with conn.transaction():
                    await conn.execute("SELECT grant_service_role()")
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"granting the service role {SERVICE_ROLE} its rights failed: {exc}", migration="grant_service_role"
                ) from exc
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied_now


# the service role does not exist, or a table or view of the schema is not granted to it (a view is read in place
# of its table: the border's look-up reads open_foreign_item_report)
_UNGRANTED = """
SELECT CASE WHEN NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $1) THEN true
                ELSE EXISTS (SELECT FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                              WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
                                AND NOT has_table_privilege($1, c.oid, 'SELECT')) END
"""
