"""A registry populated by old code, upgraded by every migration since.

Records are kept ten to thirty years across many upgrades. Each folder of ``tests/data/upgrade`` holds the backups
(``firearms backup``) of AT and DE after the golden path of DESIGN §4, run over loopback by the code of the commit
before the migration the folder is named after (``before-20261130002000``: the newest dozen migrations since;
``before-20261129200000``: 29), then records registered on AT (one deactivated, one stolen), an import licence
valid until 2056, a printed export licence, a checkpoint, AT's key rotated and the old one revoked, and a second
checkpoint; how they were made is in the first folder's README.
"""

from __future__ import annotations

import collections
import json
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

import tests.exchange_util  # noqa: F401  # registers test.ping
from api import create_app
from firearms import backup, db, journal, licence_reads, outbox, restore, tokens
from firearms.backup_archive import run_client
from firearms.canonical import parse_time
from firearms.exchange import delivery, trust
from firearms.exchange.checks import key_validity
from firearms.exchange.protocol import NOTICE_PREFIX, decode_receipt, verify_receipt_signature
from firearms.licence_views import licence_message
from firearms.settings import Settings
from firearms.signing import b64url_decode, verify

UPGRADE = Path(__file__).parents[1] / "data" / "upgrade"
MIGRATIONS = sorted(path.name for path in (db.SQL_DIR / "migrations").glob("*.sql"))


class Point(msgspec.Struct, frozen=True, kw_only=True):
    """An old registry: the folder of its backups, the facts noted when they were made, the migrations since."""

    folder: Path
    facts: dict[str, Any]
    newer: list[str]


@pytest.fixture(params=["before-20261130002000", "before-20261129200000"])
def point(request: pytest.FixtureRequest) -> Point:
    folder = UPGRADE / request.param
    first = request.param.removeprefix("before-")
    return Point(
        folder=folder,
        facts=json.loads((folder / "facts.json").read_text()),
        newer=[name for name in MIGRATIONS if name >= first],
    )


# What the migrations add to a populated registry, by design (each with its test): the journal entries of the
# migrations that record what they decided (`system:migration`), and nothing else.
APPENDED = {"journal_entry", "journal_pending"}
POPULATED = (  # what the old code wrote, which the migrations since must leave as it was
    "item",
    "item_event",
    "marking",
    "party",
    "licence",
    "licence_version",
    "ledger_entry",
    "customs_check",
    "transit_consent",
    "consent_decision_received",
    "shipment_record",
    "notice_outbox",
    "notice_inbox",
    "registry_key",
    "peer_key",
    "officer_token",
    "journal_entry",
    "journal_link",
    "journal_checkpoint",
)


async def _restored_as_it_was(url: str, archive: Path) -> db.Conn:
    """The archive restored as the old code left it: no migration applied."""
    await run_client("pg_restore", ["--exit-on-error", "--single-transaction", "--no-owner"], url, str(archive))
    return await db.connect(url)


async def _every_row(conn: db.Conn) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the registry, as JSON objects."""
    tables = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname"
    )
    rows = {}
    for table in tables:
        name = table["relname"]
        # the names come from the catalogue, quoted; no value is built into the statement
        found = await conn.fetch(f'SELECT to_jsonb(t)::text AS row FROM "{name}" AS t')  # noqa: S608
        rows[name] = [json.loads(row["row"]) for row in found]
    return rows


def _changed(before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per table, the rows of ``before`` no longer there as they were (their old columns), and rows added."""
    changes: dict[str, Any] = {}
    for table, rows in before.items():
        if table == "schema_migration":
            continue
        columns = set(rows[0]) if rows else set()
        kept = collections.Counter(
            json.dumps({k: v for k, v in row.items() if k in columns}, sort_keys=True) for row in after.get(table, [])
        )
        old = collections.Counter(json.dumps(row, sort_keys=True) for row in rows)
        lost = old - kept
        added = sum((kept - old).values())
        if lost or (added and table not in APPENDED):
            changes[table] = {"lost": sorted(lost), "added": added}
    return changes


async def test_a_registry_populated_by_old_code_upgrades_without_a_row_changed(
    point: Point, empty_database: str, tmp_path: Path
) -> None:
    manifest = json.loads((point.folder / "at.dump.manifest.json").read_text())
    assert manifest["migrations"] == MIGRATIONS[: len(MIGRATIONS) - len(point.newer)]
    printed = point.facts["licence"]
    conn = await _restored_as_it_was(empty_database, point.folder / "at.dump")
    try:
        before = await _every_row(conn)
        assert [table for table in POPULATED if not before[table]] == []

        assert await db.migrate(conn) == point.newer

        after = await _every_row(conn)
        assert _changed(before, after) == {}
        verified = await journal.verify(conn, state="AT")
        assert (verified.intact, verified.problem, verified.checkpoints) == (True, None, 2)
        head = await conn.fetchval("SELECT hash FROM journal_link WHERE seq = $1", manifest["journal_seq"])
        assert head.hex() == manifest["journal_hash"]
        # the upgraded registry signs a new checkpoint with its current key, and the chain still verifies
        home = tmp_path / "home"
        (home / "keys").mkdir(parents=True, mode=0o700)
        key_file = home / "keys" / f"{point.facts['keys']['new']}.pem"
        shutil.copy(point.folder / key_file.name, key_file)
        key_file.chmod(0o600)
        checkpoint = await journal.checkpoint(conn, state="AT", home=home)
        assert checkpoint is not None
        assert checkpoint.key_id == point.facts["keys"]["new"]
        verified = await journal.verify(conn, state="AT")
        assert (verified.intact, verified.checkpoints) == (True, 3)
        # every licence version the old code signed (the printed one under the key revoked since) still verifies,
        # its signed statement rebuilt by this code from what is stored
        signed = await conn.fetch(
            "SELECT v.licence_id, v.version, v.signature, k.public_key, k.revoked_at FROM licence_version v"
            " JOIN registry_key k USING (key_id) ORDER BY v.licence_id, v.version"
        )
        assert {
            (row["licence_id"] == uuid.UUID(printed["licence_id"]), row["revoked_at"] is not None) for row in signed
        } >= {(True, True)}
        for row in signed:
            version = await licence_reads.get_version(conn, row["licence_id"], row["version"])
            statement = msgspec.structs.replace(version.licence, status="issued")
            assert verify(row["public_key"], licence_message(statement), row["signature"]), row["licence_id"]
        secret, _ = await tokens.create_token(conn, role="auditor", name="after the upgrade", actor="test")
    finally:
        await conn.close()

    settings = Settings(state="AT", home=home, database_url=empty_database, run_worker=False)
    headers = {"Authorization": f"Bearer {secret}"}
    async with AsyncTestClient(app=create_app(settings)) as client:
        items = point.facts["items"]
        statuses = {}
        for serial, item_id in items.items():
            response = await client.get(f"/api/v1/items/{item_id}", headers=headers)
            assert response.status_code == 200, response.text
            statuses[serial] = (response.json()["serial"], response.json()["status"])
        assert statuses == {
            "LT-001": ("LT-001", "active"),
            "LT-002": ("LT-002", "deactivated"),
            "LT-003": ("LT-003", "stolen"),
        }
        # a deactivation recorded before the registry took its certificate (20261130063000) says so, not a 500
        certificate = await client.get(f"/api/v1/items/{items['LT-002']}/deactivation-certificate", headers=headers)
        assert (certificate.status_code, certificate.json()["type"]) == (
            409,
            "tag:firearms-registry,2026:problems/certificate-not-recorded",
        )
        verified_page = await client.get(
            f"/api/v1/verify/{printed['number']}", params={"code": printed["verification_code"]}, headers=headers
        )
        assert verified_page.status_code == 200, verified_page.text
        answer = verified_page.json()
        assert (answer["status"], answer["code_matches"], answer["verification_code"]) == (
            "exhausted",
            True,
            printed["verification_code"],
        )
        long = await client.get(f"/api/v1/licences/{point.facts['long_licence']['licence_id']}", headers=headers)
        assert long.status_code == 200, long.text
        assert (long.json()["status"], long.json()["licence"]["expires_on"]) == ("issued", "2056-12-31")
        keys = (await client.get("/exchange/v1/keys")).json()
        assert keys["current_key_id"] == point.facts["keys"]["new"]
        old = next(key for key in keys["keys"] if key["key_id"] == point.facts["keys"]["old"])
        assert old["revoked_at"] is not None
        chain = await client.get("/api/v1/journal/verify", headers=headers)
        assert chain.status_code == 200, chain.text
        assert chain.json()["intact"] is True


async def test_what_a_partner_signed_with_a_key_it_later_revoked_still_verifies_from_what_is_stored(
    point: Point, empty_database: str, tmp_path: Path
) -> None:
    # DE received AT's notices signed by AT's first key, then AT rotated and revoked that key. After DE's upgrade,
    # every notice and receipt of AT that DE keeps verifies from its stored bytes under the key on DE's trust list,
    # and that key was valid when each was made (revoked only after).
    conn = await _restored_as_it_was(empty_database, point.folder / "de.dump")
    try:
        await db.migrate(conn)
        keys = {key.key_id: key for key in await trust.trusted_keys(conn, "AT") or []}
        assert keys[point.facts["keys"]["old"]].revoked_at is not None
        received = await conn.fetch(
            "SELECT sequence, key_id, notice, signature, created_at FROM notice_inbox"
            " WHERE sender = 'AT' ORDER BY sequence"
        )
        signed_by = collections.Counter(row["key_id"] for row in received)
        assert signed_by[point.facts["keys"]["old"]] > 0
        assert signed_by[point.facts["keys"]["new"]] > 0
        for row in received:
            key = keys[row["key_id"]]
            assert verify(key.public_key, NOTICE_PREFIX + bytes(row["notice"]), b64url_decode(row["signature"]))
            assert key_validity(key, row["created_at"]) is None
        receipts = await conn.fetch(
            "SELECT receipt FROM notice_outbox WHERE recipient = 'AT' AND receipt IS NOT NULL ORDER BY sequence"
        )
        assert receipts
        by_old = 0
        for row in receipts:
            envelope = decode_receipt(bytes(row["receipt"]))
            key = keys[envelope.signature.key_id]
            by_old += key.key_id == point.facts["keys"]["old"]
            assert verify_receipt_signature(envelope, key.public_key)
            assert key_validity(key, parse_time(envelope.receipt.received_at)) is None
        assert by_old > 0
        verified = await journal.verify(conn, state="DE")
        assert (verified.intact, verified.problem) == (True, None)
        secret, _ = await tokens.create_token(conn, role="admin", name="after the upgrade", actor="test")
    finally:
        await conn.close()
    # and the administrator still sees each of them, with the key that signed it
    settings = Settings(state="DE", home=tmp_path, database_url=empty_database, run_worker=False)
    shown = []
    async with AsyncTestClient(app=create_app(settings)) as client:
        after = None
        while True:
            response = await client.get(
                "/api/v1/notices/received",
                params={"limit": 10} | ({"after": after} if after else {}),
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert response.status_code == 200, response.text
            shown += [(item["sequence"], item["key_id"]) for item in response.json()["items"] if item["sender"] == "AT"]
            if (after := response.json()["next"]) is None:
                break
    assert sorted(shown) == sorted((row["sequence"], row["key_id"]) for row in received)


async def test_a_backup_made_by_old_code_restores_and_verifies(
    point: Point, empty_database: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    # copied as an operator keeps them (restore refuses an archive others can write: a checkout's mode is the umask's)
    kept = tmp_path / "backups"
    kept.mkdir(mode=0o700)
    for name in ("at.dump", "at.dump.manifest.json"):
        shutil.copyfile(point.folder / name, kept / name)
        (kept / name).chmod(0o600)
    restored = await restore.restore(empty_database, kept / "at.dump", state="AT", home=home)
    assert restored.migrations_applied == point.newer
    assert (restored.head_matches, restored.verify_intact, restored.problem) == (True, True, None)
    assert restored.journal_entries == json.loads((point.folder / "at.dump.manifest.json").read_text())["journal_seq"]
    # the private key is not in a backup: restore names the file to copy, and the home is not refused
    assert restored.missing_key_files == [f"{point.facts['keys']['new']}.pem"]
    assert restore.failed_restore(home) is None
    conn = await db.connect(empty_database)
    try:
        trusted = {state: await trust.trusted_keys(conn, state) for state in ("CZ", "DE")}
        assert all(trusted.values())
    finally:
        await conn.close()


async def test_the_upgraded_registry_backs_up_and_restores_to_the_same_rows(
    point: Point, make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    # A restore computes the generated columns again (pg_dump leaves them out) and builds every constraint and index
    # anew: a value a migration left stale in place (as 20261129191200 and 20261129201000 once did, see README
    # "Identity duplicates") would come back otherwise, or refuse the restore. Upgraded in place, backed up, restored:
    # every row of every table is what it was.
    upgraded, target = await make_empty_database(), await make_empty_database()
    conn = await _restored_as_it_was(upgraded, point.folder / "at.dump")
    try:
        await db.migrate(conn)
        await journal.seal(conn)
        before = await _every_row(conn)
    finally:
        await conn.close()
    path = tmp_path / "upgraded.dump"
    await backup.backup(upgraded, path, state="AT", actor="test:operator")
    restored = await restore.restore(target, path, state="AT", home=tmp_path / "home")
    assert (restored.migrations_applied, restored.verify_intact, restored.problem) == ([], True, None)
    conn = await db.connect(target)
    try:
        after = await _every_row(conn)
    finally:
        await conn.close()
    # and the restore's own walk of the restored chain, recorded after them (queued for the sealer)
    added = [row for row in after["journal_entry"] if row not in before["journal_entry"]]
    assert [(row["action"], row["actor"]) for row in added] == [("journal.verified", "system:restore")]
    after["journal_entry"] = [row for row in after["journal_entry"] if row not in added]
    after["journal_pending"] = [row for row in after["journal_pending"] if row["entry_id"] != added[0]["entry_id"]]
    assert {table: rows for table, rows in before.items() if _sorted(rows) != _sorted(after[table])} == {}


def _sorted(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(row, sort_keys=True) for row in rows)


async def _upgraded(point: Point, state: str, url: str, home: Path, key_id: str) -> tuple[Settings, db.Pool]:
    """The old registry of ``state`` restored into ``url`` and upgraded, with its current private key in ``home``."""
    conn = await _restored_as_it_was(url, point.folder / f"{state.lower()}.dump")
    try:
        await db.migrate(conn)
    finally:
        await conn.close()
    (home / "keys").mkdir(parents=True, mode=0o700)
    shutil.copyfile(point.folder / f"{key_id}.pem", home / "keys" / f"{key_id}.pem")
    (home / "keys" / f"{key_id}.pem").chmod(0o600)
    settings = Settings(state=state, home=home, database_url=url, run_worker=False, exchange_retry_base=0.05)
    return settings, await db.create_pool(url, max_size=4)


async def test_two_upgraded_registries_go_on_with_their_conversation(
    point: Point, make_empty_database: Callable[[], Awaitable[str]], tmp_path: Path
) -> None:
    # AT and DE, both upgraded, each send the other a notice: numbered after what they exchanged before the upgrade,
    # signed with the key in use (AT's second), accepted, and its receipt verified and kept.
    at_url, de_url = await make_empty_database(), await make_empty_database()
    at, at_pool = await _upgraded(point, "AT", at_url, tmp_path / "at", point.facts["keys"]["new"])
    de, de_pool = await _upgraded(point, "DE", de_url, tmp_path / "de", point.facts["de_key"])
    try:
        async with (
            AsyncTestClient(app=create_app(at)) as at_client,
            AsyncTestClient(app=create_app(de)) as de_client,
        ):
            for sender, pool, recipient, client in ((at, at_pool, "DE", de_client), (de, de_pool, "AT", at_client)):
                async with pool.acquire() as conn:
                    held = await conn.fetchval(
                        "SELECT max(sequence) FROM notice_outbox WHERE recipient = $1", recipient
                    )
                    async with conn.transaction():
                        notice_id = await outbox.enqueue(conn, recipient, "test.ping", {"n": 1})
                deadline = time.monotonic() + 15
                while True:
                    await delivery.deliver_due(pool, sender, client, "w1")
                    async with pool.acquire() as conn:
                        sent = await conn.fetchrow(
                            "SELECT sequence, status, receipt FROM notice_outbox WHERE notice_id = $1", notice_id
                        )
                        assert sent is not None
                        if sent["status"] != "queued":
                            break
                        await conn.execute(
                            "UPDATE notice_outbox SET next_attempt_at = now() WHERE notice_id = $1", notice_id
                        )
                    assert time.monotonic() < deadline, sent
                assert (sent["sequence"], sent["status"]) == (held + 1, "delivered")
                receipt = decode_receipt(bytes(sent["receipt"]))
                assert (receipt.receipt.status, receipt.receipt.sequence) == ("accepted", held + 1)
            signed_by = await de_pool.fetchval(
                "SELECT key_id FROM notice_inbox WHERE sender = 'AT' ORDER BY sequence DESC LIMIT 1"
            )
            assert signed_by == point.facts["keys"]["new"]
        for settings, pool in ((at, at_pool), (de, de_pool)):
            async with pool.acquire() as conn:
                verified = await journal.verify(conn, state=settings.state)
            assert (verified.intact, verified.problem) == (True, None)
    finally:
        await at_pool.close()
        await de_pool.close()
