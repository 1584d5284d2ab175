"""Records cannot be changed behind the application's back, enumerated from the catalogue (DESIGN §6).

Every table of the migrated schema is found in ``pg_catalog``; a new one is swept without anyone listing it
here. For each, a row is written the way someone with database access would (guards off, its CHECK and
foreign keys out of the way, in a transaction that is rolled back), then with the guards on: every column is
set to another value, the row is deleted, the table truncated. Each must be refused by the database
(``restrict_violation`` naming the table), except what :data:`MUTABLE` allows, table by table, with why.
A table missing from it that lets anything through fails until someone decides.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import asyncpg
import pytest

import tests.exchange_util  # noqa: F401  # registers test.ping
from firearms import db, outbox


class Allowed(NamedTuple):
    columns: frozenset[str]  # may be set to another value; every other column is still refused
    delete: bool  # a row may be deleted
    truncate: bool  # the table may be truncated
    why: str


def _allow(*columns: str, delete: bool = False, truncate: bool = False, why: str) -> Allowed:
    return Allowed(frozenset(columns), delete, truncate, why)


MUTABLE: dict[str, Allowed] = {
    # Queues and bookkeeping: nothing in them is a record.
    "journal_pending": _allow(
        "entry_id",
        delete=True,
        truncate=True,
        why="the sealer's queue; a row leaves it only with its entry linked or set aside, checked at commit",
    ),
    "pending_registry_key": _allow(
        "key_id",
        "public_key",
        "not_before",
        "replaces",
        "created_at",
        "switched_at",
        delete=True,
        truncate=True,
        why="a rotation waiting for its switch; the key is journaled and kept in registry_key once switched",
    ),
    "schema_migration": _allow(
        "name",
        "sha256",
        "applied_at",
        delete=True,
        truncate=True,
        why="migrate()'s own bookkeeping (created by migrate(), not by a migration); checked on every start",
    ),
    # Current state beside an append-only history (the journal, licence_version, licence_event, ...).
    "party": _allow("status", "updated_at", why="the register status; each change journaled as party.<status>"),
    "licence": _allow(
        "status",
        "version",
        "valid_from",
        "expires_on",
        "exporting_state",
        "importing_state",
        "transit_states",
        "issued_at",
        "updated_at",
        why="the current version and status; every version in licence_version, every status in licence_event",
    ),
    "licence_version": _allow(
        "issued_at", "key_id", "signature", why="signed once when issued (licence_version_sign_once)"
    ),
    "licence_line": _allow(
        "category",
        "quantity",
        "serials",
        delete=True,
        why="the current version's lines; an amendment drops lines nothing was debited from (debited_check)",
    ),
    "licence_counter": _allow("last", why="the last number given of a kind in a year"),
    # identity_duplicate_of is set only to the first record of the item's own identity, once
    # (item_identity_duplicate_of_rule, tests/db/test_manufacturer_identity.py): the sweep's value is refused.
    "item": _allow(
        "status",
        "category",
        "make",
        "model",
        "calibre",
        "year_of_manufacture",
        "firearm_type",
        "headstamp",
        "quantity",
        why="status and category follow the item's events (item_status_only, checked at commit); the descriptive"
        " fields their corrections in item_correction (item_fields_follow_corrections, at commit: a bare UPDATE"
        " is refused there, tests/api/test_item_corrections.py)",
    ),
    "marking": _allow(
        "stamped",
        "manufacturer",
        "place",
        "country",
        "serial",
        "year",
        "model",
        "symbol_code",
        "alphanumeric_code",
        why="the text as stamped and its parsed fields follow their corrections in item_correction"
        " (marking_fields_follow_corrections, at commit: a bare UPDATE is refused there,"
        " tests/api/test_item_corrections.py); its kind and item never change, and no marking is deleted",
    ),
    "foreign_licence": _allow(
        "kind",
        "version",
        "status",
        "status_reason",
        "status_effective_at",
        "licence",
        "confidentiality",
        "notice_id",
        "updated_at",
        why="a partner's licence as last received; every notice kept in notice_inbox",
    ),
    "shipment_record": _allow(
        "dispatched_at",
        "items",
        "confirmation_requested_at",
        "received_on",
        "customs_document",
        "received_items",
        "confirmed_by",
        "confidentiality",
        "updated_at",
        why="a shipment's sum of its parts; each dispatch and receipt kept in shipment_dispatch/shipment_receipt",
    ),
    "consent_request_received": _allow(
        "status",
        "decision",
        "reason",
        "valid_until",
        "decided_by",
        "decided_at",
        "reply_notice_id",
        "superseded_by",
        why="a partner's request and this State's answer to it (journaled; the answer kept in the outbox)",
    ),
    "transit_consent_request": _allow(
        "requested_on",
        "shipment_from",
        "shipment_to",
        "requested_at",
        "requested_by",
        "licence_version",
        why="this State's request to a transit State, asked again about a later version",
    ),
    "notice_outbox": _allow(
        "sequence",
        "envelope",
        "status",
        "attempts",
        "last_error",
        "last_attempt_at",
        "next_attempt_at",
        "lease_owner",
        "lease_until",
        "delivered_at",
        "receipt",
        "receipt_reason",
        "expected_sequence",
        "id_conflict_at",
        why="delivery state; the notice stays. envelope: set once, cleared only with a new number (test below);"
        " signing_key_id: only to a key of this registry with the envelope cleared, while queued (keys replace)",
    ),
    "peer": _allow(
        "base_url",
        "enabled",
        "last_sent_sequence",
        "updated_at",
        "quota_notices",
        "quota_bytes",
        why="the trust list's settings, a partner's quota among them",
    ),
    "peer_quota_window": _allow(
        "notices",
        "bytes",
        "refused",
        "first_refused_at",
        "last_refused_at",
        why="what a partner stored and was refused for its quota in an hour: counts, not records",
    ),
    "peer_key": _allow("revoked_at", why="a partner's key revoked"),
    "officer_token": _allow("revoked_at", "revoked_by", why="a token revoked"),
    "registry_key": _allow("revoked_at", why="this registry's key revoked"),
}

# Two values of each column type: the row is written with the first (NULL where allowed), every column then
# set to the second.
SAMPLES: dict[str, tuple[str, str]] = {
    "text": ("'a'", "'b'"),
    "smallint": ("1", "2"),
    "integer": ("1", "2"),
    "bigint": ("1", "2"),
    "boolean": ("true", "false"),
    "uuid": ("'00000000-0000-0000-0000-000000000001'", "'00000000-0000-0000-0000-000000000002'"),
    "date": ("'2026-01-01'", "'2026-01-02'"),
    "timestamp with time zone": ("'2026-01-01T00:00:00Z'", "'2026-01-02T00:00:00Z'"),
    "bytea": ("'\\x00'", "'\\x01'"),
    "jsonb": ("'{}'", "'{\"a\": 1}'"),
    "text[]": ("'{}'", "'{a}'"),
    "uuid[]": ("'{}'", "'{00000000-0000-0000-0000-000000000001}'"),
    "integer[]": ("'{}'", "'{1}'"),
}

TABLES = """
SELECT c.relname
  FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
 ORDER BY c.relname
"""

COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
       a.attidentity = 'a' AS always_identity, a.attgenerated <> '' AS generated
  FROM pg_attribute AS a
 WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum
"""

# Out of the way for the sample row only (the transaction is rolled back): CHECKs and foreign keys.
CONSTRAINTS = "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype IN ('c', 'f')"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first(column: asyncpg.Record) -> str:
    """The sample row's value: NULL where the column takes one (a signature not yet given), else the first sample."""
    return f"{SAMPLES[column['type']][0]}::{column['type']}" if column["attnotnull"] else "NULL"


async def _refused(conn: db.Conn, table: str, sql: str, *args: object) -> str | None:
    """``None`` when the statement was refused by a guard naming the table, else what happened instead.

    Undone either way (a savepoint rolled back), so that every statement meets the sample row as written.
    """
    savepoint = conn.transaction()
    await savepoint.start()
    try:
        status = await conn.execute(sql, *args)
    except asyncpg.RestrictViolationError as error:
        named = re.search(rf"(^|[^a-z_]){re.escape(table)}([^a-z_]|$)", str(error))
        return None if named else str(error)
    except asyncpg.PostgresError as error:
        return f"{type(error).__name__}: {error}"
    finally:
        await savepoint.rollback()
    assert not status.endswith(" 0"), f"{sql} met no row: the sweep is broken"
    return f"done ({status})"


async def _sweep(conn: db.Conn, table: str) -> list[str]:
    """What the database let through on ``table`` that :data:`MUTABLE` does not allow (and the reverse)."""
    allowed = MUTABLE.get(table, Allowed(frozenset(), delete=False, truncate=False, why=""))
    name = _quoted(table)
    columns = await conn.fetch(COLUMNS, name)
    found = [
        f"{table}.{column}: allowed, but no such column" for column in allowed.columns - {c["attname"] for c in columns}
    ]
    unknown = {column["type"] for column in columns if column["type"] not in SAMPLES}
    if unknown:
        return [*found, f"{table}: no sample values for {sorted(unknown)}: add them to SAMPLES"]
    tx = conn.transaction()
    await tx.start()
    try:
        for (constraint,) in await conn.fetch(CONSTRAINTS, name):
            await conn.execute(f"ALTER TABLE {name} DROP CONSTRAINT {_quoted(constraint)}")
        written = [column for column in columns if not column["always_identity"] and not column["generated"]]
        await conn.execute("SET LOCAL session_replication_role = replica")  # no guard, no BEFORE INSERT check
        ctid = await conn.fetchval(
            f"INSERT INTO {name} ({', '.join(_quoted(c['attname']) for c in written)})"  # noqa: S608  # catalogue names
            f" VALUES ({', '.join(_first(c) for c in written)}) RETURNING ctid"
        )
        await conn.execute("SET LOCAL session_replication_role = origin")
        for column in columns:
            if column["generated"]:
                continue  # computed from the others: it changes only when they do
            value = "DEFAULT" if column["always_identity"] else f"{SAMPLES[column['type']][1]}::{column['type']}"
            outcome = await _refused(
                conn,
                table,
                f"UPDATE {name} SET {_quoted(column['attname'])} = {value} WHERE ctid = $1",  # noqa: S608
                ctid,
            )
            may = column["attname"] in allowed.columns
            if not may and outcome is not None:
                found.append(f"{table}.{column['attname']}: UPDATE {outcome}")
            if may and outcome is None:
                found.append(f"{table}.{column['attname']}: listed as changing, but refused")
        outcome = await _refused(conn, table, f"DELETE FROM {name} WHERE ctid = $1", ctid)  # noqa: S608
        if not allowed.delete and outcome is not None:
            found.append(f"{table}: DELETE {outcome}")
        # CASCADE: a table others refer to cannot be truncated alone; its own trigger fires first.
        outcome = await _refused(conn, table, f"TRUNCATE {name} CASCADE")
        if not allowed.truncate and outcome is not None:
            found.append(f"{table}: TRUNCATE {outcome}")
    finally:
        await tx.rollback()
    return found


async def test_every_table_refuses_changes_to_its_records(conn: db.Conn) -> None:
    tables = [row["relname"] for row in await conn.fetch(TABLES)]
    assert {"journal_entry", "party", "licence", "item", "notice_outbox"} <= set(tables)
    assert not set(MUTABLE) - set(tables), "tables allowed that no longer exist"
    found = [problem for table in tables for problem in await _sweep(conn, table)]
    assert not found, "\n".join(found)


async def test_an_outgoing_notices_signed_bytes_are_kept(conn: db.Conn) -> None:
    """The delivery state changes (MUTABLE), the signed envelope only from NULL or with a new number."""
    await conn.execute(
        "INSERT INTO peer (state, base_url, enabled, created_at, updated_at)"
        " VALUES ('DE', 'https://registry.example.de', true, now(), now())"
    )
    notice_id = await outbox.enqueue(conn, "DE", "test.ping", {"n": 1})
    signed = "UPDATE notice_outbox SET sequence = 1, envelope = '\\x01' WHERE notice_id = $1"
    assert await conn.execute(signed, notice_id) == "UPDATE 1"  # signed once, when first sent
    for change in ("envelope = '\\x02'", "envelope = NULL", "envelope = '\\x02', sequence = 2"):
        with pytest.raises(asyncpg.RestrictViolationError, match="envelope is kept"):
            await conn.execute(f"UPDATE notice_outbox SET {change} WHERE notice_id = $1", notice_id)  # noqa: S608
    # A resequence parks the number, then gives a new one and clears the bytes (signed again when sent).
    await conn.execute("UPDATE notice_outbox SET sequence = -sequence WHERE notice_id = $1", notice_id)
    cleared = "UPDATE notice_outbox SET sequence = 5, envelope = NULL, attempts = 1 WHERE notice_id = $1"
    assert await conn.execute(cleared, notice_id) == "UPDATE 1"
    assert await conn.fetchval("SELECT envelope FROM notice_outbox WHERE notice_id = $1", notice_id) is None


K2, K3 = "2" * 32, "3" * 32  # key ids of this registry (32 hex characters)


async def test_a_queued_notice_changes_its_signing_key_only_to_a_key_here_with_its_bytes_cleared(
    conn: db.Conn,
) -> None:
    """keys replace signs queued notices again with a new key: the key and the cleared bytes change together."""
    await conn.execute(
        "INSERT INTO peer (state, base_url, enabled, created_at, updated_at)"
        " VALUES ('DE', 'https://registry.example.de', true, now(), now())"
    )
    await conn.execute(
        "INSERT INTO registry_key (key_id, public_key, not_before, created_at)"
        " VALUES ($1, decode(repeat('02', 32), 'hex'), now(), now()),"
        " ($2, decode(repeat('03', 32), 'hex'), now(), now())",
        K2,
        K3,
    )
    notice_id = await outbox.enqueue(conn, "DE", "test.ping", {"n": 1})
    await conn.execute("UPDATE notice_outbox SET sequence = 1, envelope = '\\x01' WHERE notice_id = $1", notice_id)
    for change in (f"signing_key_id = '{K2}'", f"signing_key_id = '{'0' * 32}', envelope = NULL", "envelope = NULL"):
        with pytest.raises(asyncpg.RestrictViolationError, match="notice_outbox"):
            await conn.execute(f"UPDATE notice_outbox SET {change} WHERE notice_id = $1", notice_id)  # noqa: S608
    resigned = "UPDATE notice_outbox SET signing_key_id = $2, envelope = NULL WHERE notice_id = $1"
    assert await conn.execute(resigned, notice_id, K2) == "UPDATE 1"
    await conn.execute("UPDATE notice_outbox SET status = 'delivered' WHERE notice_id = $1", notice_id)
    with pytest.raises(asyncpg.RestrictViolationError, match="signing key of a notice changes only while it is queued"):
        await conn.execute("UPDATE notice_outbox SET signing_key_id = $2 WHERE notice_id = $1", notice_id, K3)
