"""The service connects as a role that may neither own nor bypass the registry's guards (README "Security").

Migrations, backups and restores run as the tables' owner; the API, the worker and the commands that only read
and write records run as ``firearms_app``, which may SELECT and INSERT, UPDATE only the columns that hold
current state and DELETE only from queues (:data:`tests.db.test_append_only_sweep.MUTABLE`). What a superuser or
the owner could do to records behind the application's back -- switch the guards off, drop them, truncate --
the database refuses it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from firearms import backup, bootstrap, db, items, journal, restore
from firearms.embedded import with_user
from firearms.errors import MigrationError
from firearms.settings import Settings
from tests.db.test_append_only_sweep import MUTABLE
from tests.db.test_items_store import rifle

# Columns the database's guards let change, which the service never writes itself
NOT_WRITTEN = {"pending_registry_key": frozenset({"key_id", "public_key", "not_before", "replaces", "created_at"})}
# Changed by the service only under a guard that refuses the sweep's bare UPDATE: a key replacement signs queued
# notices again with a new key; an item correction changes descriptive fields and markings beside its
# item_correction row (migration 20261130162000)
ALSO_UPDATED = {
    "notice_outbox": frozenset({"signing_key_id"}),
    "item": frozenset({"make", "model", "calibre", "year_of_manufacture", "firearm_type", "headstamp", "quantity"}),
    "marking": frozenset(
        {"stamped", "manufacturer", "place", "country", "serial", "year", "model", "symbol_code", "alphanumeric_code"}
    ),
}
# Deleted by the service other than by a bare DELETE: none. Idempotency keys go only through
# prune_idempotency_keys(), which runs as the owner (migration 20261130181000): the role may not DELETE them.
ALSO_DELETED: frozenset[str] = frozenset()


async def test_the_service_role_is_no_superuser_and_owns_nothing(service: db.Conn) -> None:
    role = await service.fetchrow(
        "SELECT current_user AS name, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication"
        "  FROM pg_roles WHERE rolname = current_user"
    )
    assert role is not None
    assert role["name"] == db.SERVICE_ROLE
    assert not any(
        role[flag] for flag in ("rolsuper", "rolcreaterole", "rolcreatedb", "rolbypassrls", "rolreplication")
    )
    owned = await service.fetch(
        "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'MEMBER')"
    )
    assert owned == []
    assert await service.fetchval("SELECT count(*) FROM journal_entry") > 0  # it reads the records


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal_entry SET actor = 'someone else'",
        "UPDATE journal_link SET hash = '\\x00'",
        "DELETE FROM journal_entry",
        "DELETE FROM journal_checkpoint",
        "DELETE FROM item",
        "DELETE FROM officer_token",
        "DELETE FROM idempotency_key",
        "UPDATE item SET serial = 'X'",
        "UPDATE marking SET kind = 'import'",
        "ALTER TABLE journal_entry DISABLE TRIGGER journal_entry_append_only",
        "ALTER TABLE journal_entry DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
        "SET LOCAL session_replication_role = replica",
        "TRUNCATE journal_entry",
        "TRUNCATE journal_pending",
        "TRUNCATE item CASCADE",
        "DROP TRIGGER journal_entry_append_only ON journal_entry",
        "DROP TABLE journal_checkpoint",
        "ALTER TABLE journal_entry OWNER TO firearms_app",
        "CREATE TABLE shadow (x int)",
        "DROP FUNCTION grant_service_role()",
        "SELECT grant_service_role()",
        "INSERT INTO schema_migration (name, sha256) VALUES ('x.sql', 'x')",
    ],
)
async def test_the_service_role_cannot_change_records_behind_the_guards(service: db.Conn, statement: str) -> None:
    before = await service.fetchval("SELECT count(*) FROM journal_entry")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with service.transaction():
            await service.execute(statement)
    assert await service.fetchval("SELECT count(*) FROM journal_entry") == before
    assert await service.fetchval("SHOW session_replication_role") == "origin"


async def test_the_service_role_may_update_and_delete_only_what_the_code_changes(service: db.Conn) -> None:
    """Privileges, column by column, equal what the append-only sweep lets change (and nothing is truncated)."""
    tables = [
        row["relname"]
        for row in await service.fetch(
            "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
        )
    ]
    found: list[str] = []
    for table in tables:
        columns = await service.fetch(
            "SELECT attname, has_column_privilege(current_user, attrelid, attnum, 'UPDATE') AS may_update"
            "  FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
            table,
        )
        updated = {row["attname"] for row in columns if row["may_update"]}
        allowed = MUTABLE[table].columns if table in MUTABLE else frozenset()
        expected = (allowed - NOT_WRITTEN.get(table, frozenset())) | ALSO_UPDATED.get(table, frozenset())
        if table == "schema_migration":
            expected = frozenset()  # migrate()'s own: the service only reads it
        if updated != expected:
            found.append(f"{table}: UPDATE on {sorted(updated)}, expected {sorted(expected)}")
        may_delete = await service.fetchval("SELECT has_table_privilege(current_user, $1, 'DELETE')", table)
        deletes = (table in MUTABLE and MUTABLE[table].delete and table != "schema_migration") or table in ALSO_DELETED
        if may_delete != deletes:
            found.append(f"{table}: DELETE {'granted' if may_delete else 'refused'}")
        for privilege in ("TRUNCATE", "REFERENCES", "TRIGGER"):
            if await service.fetchval("SELECT has_table_privilege(current_user, $1, $2)", table, privilege):
                found.append(f"{table}: {privilege} granted")
        if not await service.fetchval("SELECT has_table_privilege(current_user, $1, 'SELECT')", table):
            found.append(f"{table}: SELECT refused")
    assert not found, "\n".join(found)


async def test_migrate_grants_again_what_a_restore_without_privileges_lost(
    conn: db.Conn, service: db.Conn, database: str
) -> None:
    """A backup holds no privileges (pg_dump --no-privileges): migrate() grants the service role its rights again."""
    await conn.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM firearms_app")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await service.fetchval("SELECT count(*) FROM journal_entry")
    assert await db.migrate(conn) == []
    assert await service.fetchval("SELECT count(*) FROM journal_entry") > 0
    del database


async def test_a_view_lends_the_service_role_no_right_of_its_own(service: db.Conn) -> None:
    """Every view reads with the service role's own rights on its tables (``security_invoker``), and it may not
    insert, update, delete or truncate through one. ``open_foreign_item_report`` is updatable (one table, no
    aggregate): before migration 20261201030000 the role could INSERT through it (``GRANT SELECT, INSERT ON ALL
    TABLES`` covers views), though no code writes through a view; now a view is granted SELECT only."""
    views = await service.fetch(
        "SELECT c.relname, coalesce('security_invoker=true' = ANY (c.reloptions), false) AS invoker,"
        "       has_table_privilege(current_user, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS writes"
        "  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') ORDER BY c.relname"
    )
    assert "open_foreign_item_report" in [view["relname"] for view in views]
    assert [view["relname"] for view in views if not view["invoker"] or view["writes"]] == []
    for view in views:
        name = view["relname"]
        column = await service.fetchval(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0"
            " ORDER BY attnum DESC LIMIT 1",
            name,
        )
        # a view of one table is updatable and refuses the role; one joining tables can be written by nobody
        updatable = await service.fetchval("SELECT pg_relation_is_updatable($1::regclass, false) <> 0", name)
        refusal = asyncpg.InsufficientPrivilegeError if updatable else asyncpg.ObjectNotInPrerequisiteStateError
        for statement in (
            f"INSERT INTO {name} DEFAULT VALUES",
            f"UPDATE {name} SET {column} = {column}",  # noqa: S608  # names from pg_catalog
            f"DELETE FROM {name}",  # noqa: S608
        ):
            with pytest.raises(refusal):
                await service.execute(statement)
    assert await service.fetchval("SELECT count(*) FROM foreign_item_report") == 0


async def test_migrate_grants_again_a_view_whose_grant_was_lost(conn: db.Conn, service: db.Conn) -> None:
    """migrate() looked for a table the service role may not read, not a view: a view alone without its grant (the
    border's look-up reads ``open_foreign_item_report``) stayed so."""
    await conn.execute("REVOKE ALL ON open_foreign_item_report FROM firearms_app")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await service.fetchval("SELECT count(*) FROM open_foreign_item_report")
    assert await db.migrate(conn) == []
    assert await service.fetchval("SELECT count(*) FROM open_foreign_item_report") == 0


async def test_the_apps_pools_connect_as_the_service_role(client: AsyncTestClient, conn: db.Conn) -> None:  # type: ignore[type-arg]
    """The app's connections (seen from the server: the app's pools run on the test client's own event loop)."""
    answer = await client.get("/api/v1/journal/verify")
    assert answer.status_code == 401  # a request that reached the app; the pools are open
    users = await conn.fetch(
        "SELECT DISTINCT usename FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'firearms' AND pid <> pg_backend_pid()"
    )
    assert [row["usename"] for row in users] == [db.SERVICE_ROLE]


async def test_serve_warns_of_a_service_url_that_could_switch_the_guards_off(service: db.Conn, conn: db.Conn) -> None:
    """One FIREARMS_DATABASE_URL (an earlier version's setup) still works, as its superuser: serve says so."""
    assert await bootstrap.service_role_problem(service) is None
    problem = await bootstrap.service_role_problem(conn)
    assert problem is not None
    assert "a superuser" in problem
    assert "FIREARMS_MIGRATION_DATABASE_URL" in problem


async def test_a_temporary_table_cannot_stand_in_for_a_record_table_behind_a_guard(service: db.Conn) -> None:
    """A session's temporary table comes first in its search path: a guard that looked up ``item_event`` read it.

    The service may create temporary tables (an import stages its rows in them); as firearms_app, one named
    ``item_event`` holding a made-up event let ``UPDATE item SET status = 'destroyed'`` through its guard, no event
    recorded. Every function that reads the tables looks in ``public`` first (migration 20261130170000).
    """
    today = dt.datetime.now(dt.UTC).date()
    item = await items.register_item(service, rifle(serial="SHADOW-1"), actor="test", today=today)
    transaction = service.transaction()
    await transaction.start()
    await service.execute(
        "CREATE TEMP TABLE item_event (event_id bigint, item_id bigint, status_after text, category_after text)"
        " ON COMMIT DROP"
    )
    await service.execute("INSERT INTO item_event VALUES (1, $1, 'destroyed', 'B')", item.item_id)
    await service.execute("UPDATE item SET status = 'destroyed' WHERE item_id = $1", item.item_id)
    with pytest.raises(asyncpg.RestrictViolationError, match="record an event instead"):
        await transaction.commit()  # the guard is checked at commit
    assert await service.fetchval("SELECT status FROM item WHERE item_id = $1", item.item_id) == "active"
    assert await service.fetchval("SELECT count(*) FROM item_event WHERE item_id = $1", item.item_id) == 0


async def test_every_function_reading_the_tables_looks_in_the_schema_before_temporary_tables(service: db.Conn) -> None:
    """Each function of the schema but the immutable ones (which read no table) and pg_trgm's pins its search path."""
    unpinned = await service.fetch(
        "SELECT p.proname FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.provolatile <> 'i'"
        "   AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid"
        "                    AND d.deptype = 'e')"
        "   AND NOT coalesce('search_path=public, pg_temp' = ANY (p.proconfig), false)"
        " ORDER BY 1"
    )
    assert [row["proname"] for row in unpinned] == []


async def test_serve_warns_of_a_service_url_that_owns_the_database_but_not_its_tables(
    pg_admin_uri: str, database: str, service: db.Conn
) -> None:
    """The database's owner owns its schema ``public`` (pg_database_owner): it may DROP any table or rename the schema.

    A login that owns the database but none of the tables was not warned about.
    """
    name = urlsplit(database).path.lstrip("/")
    login = f"dbowner_{name}"
    admin = await asyncpg.connect(pg_admin_uri)
    try:
        await admin.execute(f'CREATE ROLE "{login}" LOGIN')
        await admin.execute(f'ALTER DATABASE "{name}" OWNER TO "{login}"')
        owner_of_database = await db.connect(with_user(database, login))
        try:
            problem = await bootstrap.service_role_problem(owner_of_database)
        finally:
            await owner_of_database.close()
        await admin.execute(f'ALTER DATABASE "{name}" OWNER TO CURRENT_USER')
    finally:
        await admin.execute(f'DROP ROLE IF EXISTS "{login}"')
        await admin.close()
    assert problem is not None
    assert f"as {login}, the owner of the registry's database" in problem
    assert await bootstrap.service_role_problem(service) is None


async def test_the_service_login_alone_starts_a_registry_with_nothing_to_migrate(database: str, home: Path) -> None:
    """``serve`` with ``FIREARMS_DATABASE_URL`` alone, the service's login: the owner's password stays off its host.

    Its first step migrates; with nothing pending it needs no owner, but ``CREATE TABLE IF NOT EXISTS
    schema_migration`` asked for CREATE on the schema even with the table there, and the start failed.
    """
    service_url = with_user(database, db.SERVICE_ROLE)
    settings = Settings(state="AT", home=home, database_url=service_url, run_worker=False)
    done = await bootstrap.initialise(settings, service_url, db.connect)
    assert done.migrations == []
    conn = await db.connect(service_url)
    try:
        assert await bootstrap.service_role_problem(conn) is None
        assert await conn.fetchval("SELECT count(*) FROM registry_key") == 1
    finally:
        await conn.close()


async def test_the_service_login_alone_cannot_apply_a_migration(database: str, tmp_path: Path) -> None:
    """A migration pending, the service's login is refused in one line, and nothing of the migration stays."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for path in sorted((db.SQL_DIR / "migrations").glob("*.sql")):
        (migrations / path.name).write_bytes(path.read_bytes())
    (migrations / "29991231000000_create_later.sql").write_text("CREATE TABLE later (x int);\n", encoding="utf-8")
    conn = await db.connect(with_user(database, db.SERVICE_ROLE))
    try:
        with pytest.raises(MigrationError, match=r"29991231000000_create_later\.sql failed: permission denied"):
            await db.migrate(conn, migrations)
        assert await conn.fetchval("SELECT to_regclass('later')") is None
    finally:
        await conn.close()


# Every privilege firearms_app holds after migrate(), directly or through PUBLIC, read as the owner from the catalogue
# (has_*_privilege). A migration that grants it more fails test_the_service_roles_privileges_are_the_allow_list until
# the grant is added here, deliberately. SECURITY DEFINER functions run as the owner: each is listed, and only the
# service's own two may be executed by it.
ALLOWED_PRIVILEGES: list[str] = [
    "database: CONNECT, TEMPORARY",
    "schema public: USAGE",
    "table cancelled_registry_key: INSERT, SELECT",
    "table check_decision: INSERT, SELECT",
    "table check_serial: INSERT, SELECT",
    "table cleared_serial: INSERT, SELECT",
    "table consent_decision_received: INSERT, SELECT",
    "table consent_request_decision: INSERT, SELECT",
    "table consent_request_deemed: INSERT, SELECT",
    "table consent_request_received: INSERT, SELECT; UPDATE (decided_at, decided_by, decision, reason, "
    "reply_notice_id, status, superseded_by, valid_until)",
    "table customs_check: INSERT, SELECT",
    "table foreign_item_report: INSERT, SELECT",
    "table foreign_item_report_withdrawal: INSERT, SELECT",
    "table foreign_licence: INSERT, SELECT; UPDATE (confidentiality, kind, licence, notice_id, status, "
    "status_effective_at, status_reason, updated_at, version)",
    "table idempotency_key: INSERT, SELECT",
    "table item: INSERT, SELECT; UPDATE (calibre, category, firearm_type, headstamp, make, model, quantity, status, "
    "year_of_manufacture)",
    "table item_correction: INSERT, SELECT",
    "sequence item_correction_correction_id_seq: SELECT, USAGE",
    "table item_event: INSERT, SELECT",
    "sequence item_event_event_id_seq: SELECT, USAGE",
    "table item_import: INSERT, SELECT",
    "sequence item_import_import_id_seq: SELECT, USAGE",
    "sequence item_item_id_seq: SELECT, USAGE",
    "table journal_checkpoint: INSERT, SELECT",
    "table journal_entry: INSERT, SELECT",
    "sequence journal_entry_entry_id_seq: SELECT, USAGE",
    "table journal_link: INSERT, SELECT",
    "table journal_pending: DELETE, INSERT, SELECT; UPDATE (entry_id)",
    "table ledger_entry: INSERT, SELECT",
    "sequence ledger_entry_ledger_entry_id_seq: SELECT, USAGE",
    "table ledger_serial: INSERT, SELECT",
    "table licence: INSERT, SELECT; UPDATE (expires_on, exporting_state, importing_state, issued_at, status, "
    "transit_states, updated_at, valid_from, version)",
    "table licence_counter: INSERT, SELECT; UPDATE (last)",
    "table licence_document: INSERT, SELECT",
    "table licence_event: INSERT, SELECT",
    "sequence licence_event_licence_event_id_seq: SELECT, USAGE",
    "table licence_line: DELETE, INSERT, SELECT; UPDATE (category, quantity, serials)",
    "table licence_version: INSERT, SELECT; UPDATE (issued_at, key_id, signature)",
    "table marking: INSERT, SELECT; UPDATE (alphanumeric_code, country, manufacturer, model, place, serial, stamped, "
    "symbol_code, year)",
    "sequence marking_marking_id_seq: SELECT, USAGE",
    "table notice_inbox: INSERT, SELECT",
    "table notice_outbox: INSERT, SELECT; UPDATE (attempts, delivered_at, envelope, expected_sequence, "
    "id_conflict_at, last_attempt_at, last_error, lease_owner, lease_until, next_attempt_at, receipt, receipt_reason, "
    "sequence, signing_key_id, status)",
    "sequence notice_outbox_queued_order_seq: SELECT, USAGE",
    "table officer_token: INSERT, SELECT; UPDATE (revoked_at, revoked_by)",
    "view open_foreign_item_report: SELECT",
    "table party: INSERT, SELECT; UPDATE (status, updated_at)",
    "table passage_tally: INSERT, SELECT",
    "table peer: INSERT, SELECT; UPDATE (base_url, enabled, last_sent_sequence, quota_bytes, quota_notices, "
    "updated_at)",
    "table peer_key: INSERT, SELECT; UPDATE (revoked_at)",
    "table peer_quota_window: INSERT, SELECT; UPDATE (bytes, first_refused_at, last_refused_at, notices, refused)",
    "table pending_registry_key: DELETE, INSERT, SELECT; UPDATE (switched_at)",
    "table registry_key: INSERT, SELECT; UPDATE (revoked_at)",
    "table registry_state: INSERT, SELECT",
    "table schema_migration: SELECT",
    "table shipment_dispatch: INSERT, SELECT",
    "table shipment_passage: INSERT, SELECT",
    "table shipment_receipt: INSERT, SELECT",
    "table shipment_record: INSERT, SELECT; UPDATE (confidentiality, confirmation_requested_at, confirmed_by, "
    "customs_document, dispatched_at, items, received_items, received_on, updated_at)",
    "table trace_acknowledgement: INSERT, SELECT",
    "table trace_answer: INSERT, SELECT",
    "table trace_request: INSERT, SELECT",
    "view trace_request_state: SELECT",
    "sequence trace_request_trace_request_id_seq: SELECT, USAGE",
    "table transit_consent: INSERT, SELECT",
    "table transit_consent_request: INSERT, SELECT; UPDATE (licence_version, requested_at, requested_by, "
    "requested_on, shipment_from, shipment_to)",
    "sequence transit_consent_transit_consent_id_seq: SELECT, USAGE",
    "function grant_service_role(): nothing",
    "function prune_idempotency_keys(timestamp with time zone,integer,timestamp with time zone,text,text): "
    "SECURITY DEFINER, EXECUTE",
    "function record_journal_verification(timestamp with time zone,text,bigint,bigint,bigint,bigint): "
    "SECURITY DEFINER, EXECUTE",
    "member of: no role",
]


async def _privileges(conn: db.Conn, role: str) -> list[str]:
    """What ``role`` may do in this database, one line per object, as :data:`ALLOWED_PRIVILEGES` lists it."""
    held: list[str] = []
    database = await conn.fetchval(
        "SELECT array_to_string(array_agg(p ORDER BY p), ', ')"
        "  FROM unnest(ARRAY['CONNECT', 'CREATE', 'TEMPORARY']) AS p"
        " WHERE has_database_privilege($1, current_database(), p)",
        role,
    )
    held.append(f"database: {database}")
    for row in await conn.fetch(
        "SELECT n.nspname, array_to_string(array_agg(p ORDER BY p), ', ') AS privileges"
        "  FROM pg_namespace AS n CROSS JOIN unnest(ARRAY['CREATE', 'USAGE']) AS p"
        " WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"
        "   AND has_schema_privilege($1, n.oid, p)"
        " GROUP BY n.nspname ORDER BY n.nspname",
        role,
    ):
        held.append(f"schema {row['nspname']}: {row['privileges']}")
    for row in await conn.fetch(
        """
        SELECT CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                              WHEN 'f' THEN 'foreign table' ELSE 'table' END AS kind,
               c.relname,
               array_to_string(ARRAY(
                   SELECT p FROM unnest(CASE WHEN c.relkind = 'S' THEN ARRAY['SELECT', 'UPDATE', 'USAGE']
                                             ELSE ARRAY['DELETE', 'INSERT', 'MAINTAIN', 'REFERENCES', 'SELECT',
                                                        'TRIGGER', 'TRUNCATE', 'UPDATE'] END) AS p
                    WHERE CASE WHEN c.relkind = 'S' THEN has_sequence_privilege($1, c.oid, p)
                               ELSE has_table_privilege($1, c.oid, p) END
                    ORDER BY p), ', ') AS privileges,
               array_to_string(ARRAY(
                   SELECT p || ' (' || string_agg(a.attname, ', ' ORDER BY a.attname) || ')'
                     FROM unnest(ARRAY['INSERT', 'REFERENCES', 'SELECT', 'UPDATE']) AS p
                     JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                    WHERE c.relkind <> 'S' AND NOT has_table_privilege($1, c.oid, p)
                      AND has_column_privilege($1, c.oid, a.attnum, p)
                    GROUP BY p ORDER BY p), '; ') AS columns
          FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
         ORDER BY c.relname
        """,
        role,
    ):
        privileges = "; ".join(part for part in (row["privileges"], row["columns"]) if part)
        held.append(f"{row['kind']} {row['relname']}: {privileges or 'nothing'}")
    for row in await conn.fetch(
        "SELECT p.oid::regprocedure::text AS routine, p.prosecdef, has_function_privilege($1, p.oid, 'EXECUTE') AS runs"
        "  FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND (p.prosecdef OR NOT has_function_privilege($1, p.oid, 'EXECUTE'))"
        " ORDER BY 1",
        role,
    ):
        definer = "SECURITY DEFINER, " if row["prosecdef"] else ""
        held.append(f"function {row['routine']}: {definer}{'EXECUTE' if row['runs'] else 'nothing'}")
    member_of = await conn.fetchval(
        "SELECT array_to_string(array_agg(g.rolname ORDER BY g.rolname), ', ') FROM pg_auth_members AS m"
        "  JOIN pg_roles AS g ON g.oid = m.roleid JOIN pg_roles AS r ON r.oid = m.member WHERE r.rolname = $1",
        role,
    )
    held.append(f"member of: {member_of or 'no role'}")
    return held


async def test_the_service_roles_privileges_are_the_allow_list(conn: db.Conn, service: db.Conn) -> None:
    """Every right ``firearms_app`` holds after ``migrate()``: tables, columns, views, sequences, the schema, the
    database, SECURITY DEFINER functions and any function it may not run, role memberships. A new grant (or a new
    table, view, sequence or definer function) is an edit of :data:`ALLOWED_PRIVILEGES`."""
    del service  # the registry started: the role exists and migrate() granted it
    held = await _privileges(conn, db.SERVICE_ROLE)
    assert held == ALLOWED_PRIVILEGES, "\n".join(f'    "{line}",' for line in held)


async def test_granting_again_takes_back_what_was_granted_by_hand(conn: db.Conn, service: db.Conn) -> None:
    """``grant_service_role()`` grants exactly the list, however often it runs (``migrate()`` runs it again)."""
    del service
    for grant in (
        "GRANT INSERT, UPDATE ON open_foreign_item_report TO firearms_app",
        "GRANT UPDATE (actor) ON journal_entry TO firearms_app",
        "GRANT TRUNCATE, TRIGGER ON journal_link TO firearms_app",
        "GRANT UPDATE ON journal_entry_entry_id_seq TO firearms_app",
    ):
        await conn.execute(grant)
    held = await _privileges(conn, db.SERVICE_ROLE)
    assert sorted(set(held) - set(ALLOWED_PRIVILEGES)) == [
        "sequence journal_entry_entry_id_seq: SELECT, UPDATE, USAGE",
        "table journal_entry: INSERT, SELECT; UPDATE (actor)",
        "table journal_link: INSERT, SELECT, TRIGGER, TRUNCATE",
        "view open_foreign_item_report: INSERT, SELECT, UPDATE",
    ]
    for _ in range(2):
        await conn.execute("SELECT grant_service_role()")
        assert await _privileges(conn, db.SERVICE_ROLE) == ALLOWED_PRIVILEGES


async def test_a_restored_registry_gives_the_service_role_exactly_the_allowed_rights(
    settings: Settings, conn: db.Conn, service: db.Conn, database: str, empty_database: str, tmp_path: Path
) -> None:
    """A backup holds no privileges: the restore's ``migrate()`` grants the list again, and the journal's checks
    (links recomputed, verifications only through the owner's function) hold in the restored database too."""
    await items.register_item(service, rifle(serial="RESTORED-1"), actor="test", today=dt.datetime.now(dt.UTC).date())
    assert await journal.checkpoint(service, state="AT", home=settings.home) is not None
    path = tmp_path / "at.dump"
    await backup.backup(database, path, state="AT", actor="test")
    restored = await restore.restore(empty_database, path, state="AT", home=tmp_path / "new-home")
    assert restored.verify_intact
    owner = await db.connect(empty_database)
    again = await db.connect(with_user(empty_database, db.SERVICE_ROLE))
    try:
        assert await _privileges(owner, db.SERVICE_ROLE) == ALLOWED_PRIVILEGES
        head = await again.fetchrow("SELECT seq, hash FROM journal_link ORDER BY seq DESC LIMIT 1")
        assert head is not None
        await journal.record(again, actor="test", action="thing.made", entity="thing", entity_id="x", payload={})
        queued: int = await again.fetchval("SELECT entry_id FROM journal_pending")
        with pytest.raises(asyncpg.RestrictViolationError, match="is not SHA-256"):
            await again.execute(
                "INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at) VALUES ($1, $2, $3, $4, now())",
                head["seq"] + 1,
                queued,
                head["hash"],
                bytes(32),
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="record_journal_verification"):
            await journal.record(
                again, actor="x", action=journal.VERIFIED_ACTION, entity="journal", entity_id="1", payload={}
            )
        verdict = await journal.verify(again, state="AT")
        assert verdict.intact, verdict.problem
        await journal.record_verification(again, actor="test", result=verdict)
        recorded = await again.fetch("SELECT actor FROM journal_entry WHERE action = 'journal.verified' ORDER BY 1")
        assert [row["actor"] for row in recorded] == ["system:restore", "test"]  # the restore's walk, and this one
    finally:
        await again.close()
        await owner.close()
