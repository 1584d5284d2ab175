from __future__ import annotations

import base64
import hashlib

import asyncpg
import msgspec
import pytest

from firearms import bootstrap, db, keys, licence_reads, licence_versions
from firearms.licence_views import licence_message
from firearms.settings import Settings
from firearms.signing import verify
from tests.licensing_helpers import ACTOR, export_draft, issued_export, register_parties


async def test_issued_version_is_signed_by_the_registry_key_and_code_derives_from_it(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    row = await conn.fetchrow(
        "SELECT signature, key_id, issued_at FROM licence_version WHERE licence_id = $1 AND version = 1",
        lic.licence_id,
    )
    assert row is not None
    key = await keys.current_signing_key(conn, settings.home)
    assert row["key_id"] == key.key_id
    version = await licence_reads.get_version(conn, lic.licence_id, 1)
    signed = msgspec.structs.replace(version.licence, status="issued")
    assert verify(key.public_key, licence_message(signed), row["signature"])
    tampered = msgspec.structs.replace(signed, expires_on=signed.valid_from)
    assert not verify(key.public_key, licence_message(tampered), row["signature"])
    # README "Documents": the first 10 base32 characters of SHA-256(version signature), as XXXXX-XXXXX
    code = base64.b32encode(hashlib.sha256(row["signature"]).digest()).decode("ascii")[:10]
    assert version.verification_code == f"{code[:5]}-{code[5:]}"
    # a version is signed once: the row refuses a second signature or an edit
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute(
            "UPDATE licence_version SET signature = '\\x00'::bytea WHERE licence_id = $1", lic.licence_id
        )
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE licence_version SET content = '{}' WHERE licence_id = $1", lic.licence_id)


async def test_an_unsigned_version_is_append_only_too_except_for_its_one_signature(
    conn: db.Conn, settings: Settings, initialised: bootstrap.Initialised
) -> None:
    p = await register_parties(conn)
    async with conn.transaction():
        lic = await licence_versions.create_draft(conn, export_draft(p), settings=settings, actor=ACTOR)
        await licence_versions.amend(
            conn, lic.licence_id, export_draft(p, reason="new content"), settings=settings, actor=ACTOR
        )
    # version 1 was never signed; who named whom, and why, must not be rewritten behind the application
    for change in (
        "reason = 'rewritten'",
        f"consignee_id = '{p.exporter}'",
        f"broker_ids = '{{{p.broker}}}'",
        "created_by = 'someone else'",
    ):
        with pytest.raises(asyncpg.RestrictViolationError):
            await conn.execute(
                f"UPDATE licence_version SET {change} WHERE licence_id = $1 AND version = 1",  # noqa: S608
                lic.licence_id,
            )
    first = await conn.fetchrow(
        "SELECT reason, consignee_id, broker_ids FROM licence_version WHERE licence_id = $1 AND version = 1",
        lic.licence_id,
    )
    assert first is not None
    assert (first["reason"], first["consignee_id"], first["broker_ids"]) == (None, p.consignee, [])
