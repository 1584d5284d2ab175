"""The trust list and the outbox through the officer API (admin)."""

from __future__ import annotations

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import db, keys, outbox
from firearms.settings import Settings
from firearms.signing import SigningKey, b64url_decode, b64url_encode, key_id_of
from tests.changes import changes
from tests.conftest import TokenFactory
from tests.exchange_util import VECTORS

DE_KEY = VECTORS["keys"]["DE"]["public_key"]
CZ_KEY = VECTORS["keys"]["OTHER"]["public_key"]
PROBLEM = "tag:firearms-registry,2026:problems/"
FR_KEY = b64url_encode(SigningKey.from_seed(b"\x07" * 32).public_key)


async def test_peer_admin_endpoints(client: AsyncTestClient, auth: TokenFactory) -> None:  # type: ignore[type-arg]
    admin = await auth("admin")
    body = {"state": "DE", "base_url": "https://registry.example.de", "public_key": DE_KEY}
    created = await client.post("/api/v1/peers", json=body, headers=admin)
    assert created.status_code == 201
    assert created.json()["keys"][0]["key_id"] == VECTORS["keys"]["DE"]["key_id"]
    again = await client.post("/api/v1/peers", json=body, headers=admin)
    assert again.status_code == 409
    assert again.json()["type"].endswith("/peer-already-exists")
    bad = await client.post("/api/v1/peers", json={**body, "state": "CZ", "public_key": "A" * 42 + "*"}, headers=admin)
    assert bad.status_code == 422
    assert bad.json()["type"].endswith("/invalid-public-key")
    unknown_field = await client.post("/api/v1/peers", json={**body, "state": "CZ", "trust": True}, headers=admin)
    assert unknown_field.status_code == 400
    key = await client.post("/api/v1/peers/DE/keys", json={"public_key": CZ_KEY}, headers=admin)
    assert key.status_code == 201
    assert len(key.json()["keys"]) == 2
    disabled = await client.post("/api/v1/peers/DE/disable", headers=admin)
    assert disabled.json()["enabled"] is False
    assert (await client.get("/api/v1/peers/FR", headers=admin)).status_code == 404
    listed = await client.get("/api/v1/peers", headers=admin)
    assert [peer["state"] for peer in listed.json()["items"]] == ["DE"]


async def test_a_key_speaks_for_one_state_only(client: AsyncTestClient, auth: TokenFactory, conn: db.Conn) -> None:  # type: ignore[type-arg]
    """PROTOCOL §1: a registry speaks for one State. A key on the trust list for one State is refused for another.

    Before, DE's key pasted by mistake for FR (or for CZ as a further key) was taken: DE's registry could then
    send notices as FR, and they passed every check.
    """
    admin = await auth("admin")
    body = {"state": "DE", "base_url": "https://registry.example.de", "public_key": DE_KEY}
    assert (await client.post("/api/v1/peers", json=body, headers=admin)).status_code == 201
    cz = {"state": "CZ", "base_url": "https://registry.example.cz", "public_key": CZ_KEY}
    assert (await client.post("/api/v1/peers", json=cz, headers=admin)).status_code == 201
    before = await conn.fetchval("SELECT count(*) FROM journal_entry")
    as_france = await client.post("/api/v1/peers", json={**body, "state": "FR"}, headers=admin)
    assert as_france.status_code == 409
    assert as_france.json()["type"].endswith("/peer-key-exists")
    as_czech = await client.post("/api/v1/peers/CZ/keys", json={"public_key": DE_KEY}, headers=admin)
    assert as_czech.status_code == 409
    assert as_czech.json()["type"].endswith("/peer-key-exists")
    assert (await client.get("/api/v1/peers/FR", headers=admin)).status_code == 404
    assert await conn.fetchval("SELECT count(*) FROM peer_key WHERE state = 'CZ'") == 1
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == before


async def test_resequencing_a_partner_through_the_api(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    body = {"state": "DE", "base_url": "https://registry.example.de", "public_key": DE_KEY}
    assert (await client.post("/api/v1/peers", json=body, headers=admin)).status_code == 201
    async with conn.transaction():
        await outbox.enqueue(conn, "DE", "test.ping", {"n": 1})
    await outbox.number_queued(conn)
    too_low = await client.post("/api/v1/peers/DE/resequence", json={"first_sequence": 1}, headers=admin)
    assert too_low.status_code == 422
    assert (too_low.json()["type"].endswith("/sequence-not-ahead"), too_low.json()["highest_sequence"]) == (True, 1)
    for bad in ({"first_sequence": 0}, {"first_sequence": "9"}, {"first_sequence": 9, "force": True}, {}):
        assert (await client.post("/api/v1/peers/DE/resequence", json=bad, headers=admin)).status_code == 400, bad
    assert await conn.fetchval("SELECT sequence FROM notice_outbox") == 1
    # DE has not refused notice 1: it may hold it (taken after a backup this registry was restored from)
    early = await client.post("/api/v1/peers/DE/resequence", json={"first_sequence": 9}, headers=admin)
    assert early.status_code == 409
    assert early.headers["content-type"].startswith("application/problem+json")
    assert (early.json()["type"].endswith("/no-sequence-gap"), early.json()["queued"]) == (True, 1)
    assert await conn.fetchval("SELECT sequence FROM notice_outbox") == 1
    # what the worker records when DE answers sequence-gap expecting 9 (tests/db/test_outbox_delivery.py)
    await conn.execute("UPDATE notice_outbox SET expected_sequence = 9")
    # any other number would be refused by DE again; one above 9 would strand the queue for good (DE asks
    # for 9, which nothing here carries, and no resequencing may go back below the numbers stored)
    for other in (8, 10):
        wrong = await client.post("/api/v1/peers/DE/resequence", json={"first_sequence": other}, headers=admin)
        assert wrong.status_code == 409, other
        assert (wrong.json()["type"].endswith("/sequence-not-expected"), wrong.json()["expected_sequence"]) == (
            True,
            9,
        )
    assert await conn.fetchval("SELECT sequence FROM notice_outbox") == 1
    done = await client.post("/api/v1/peers/DE/resequence", json={"first_sequence": 9}, headers=admin)
    assert done.status_code == 200
    assert done.json() == {"recipient": "DE", "first_sequence": 9, "renumbered": 1, "last_sent_sequence": 9}
    assert tuple(await conn.fetchrow("SELECT sequence, expected_sequence FROM notice_outbox") or ()) == (9, None)
    missing = await client.post("/api/v1/peers/FR/resequence", json={"first_sequence": 9}, headers=admin)
    assert missing.status_code == 404


async def test_notices_list_is_paginated_and_filtered(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    await client.post(
        "/api/v1/peers", json={"state": "DE", "base_url": "http://127.0.0.1:9", "public_key": DE_KEY}, headers=admin
    )
    async with conn.transaction():
        ids = [str(await outbox.enqueue(conn, "DE", "test.ping", {"n": n})) for n in range(5)]
    first = (await client.get("/api/v1/notices?limit=3", headers=admin)).json()
    second = (await client.get(f"/api/v1/notices?limit=3&after={first['next']}", headers=admin)).json()
    assert second["next"] is None
    seen = [item["notice_id"] for item in first["items"] + second["items"]]
    assert sorted(seen) == sorted(ids)
    assert all(item["status"] == "queued" and item["attempts"] == 0 for item in first["items"])
    assert (await client.get("/api/v1/notices?status=delivered", headers=admin)).json()["items"] == []
    one = await client.get(f"/api/v1/notices/{ids[0]}", headers=admin)
    assert one.json()["sequence"] is None  # numbered by the worker when it first takes the notice
    assert await outbox.number_queued(conn) == 5
    one = await client.get(f"/api/v1/notices/{ids[0]}", headers=admin)
    assert one.json()["sequence"] == 1
    assert (await client.get("/api/v1/notices?status=lost", headers=admin)).status_code == 400


async def test_key_rotation_switch_and_revocation_endpoints(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    old = await conn.fetchval("SELECT key_id FROM registry_key")
    nothing = await client.post("/api/v1/keys/switch", headers=admin)
    assert nothing.status_code == 409
    assert nothing.json()["type"].endswith("/no-rotation-pending")
    await client.post(
        "/api/v1/peers", json={"state": "DE", "base_url": "http://127.0.0.1:9", "public_key": DE_KEY}, headers=admin
    )
    rotated = await client.post("/api/v1/keys/rotate", headers=admin)
    assert rotated.status_code == 201
    assert (rotated.json()["announced_to"], rotated.json()["switched"]) == (["DE"], False)
    in_use = await client.post(f"/api/v1/keys/{old}/revoke", json={"reason": "retired"}, headers=admin)
    assert in_use.status_code == 409  # still the key in use: DE has not acknowledged the new one
    switched = await client.post("/api/v1/keys/switch", headers=admin)
    assert switched.status_code == 200
    assert switched.json() == {"key_id": rotated.json()["key_id"], "unacknowledged": ["DE"]}
    entry = await conn.fetchrow("SELECT actor, payload FROM journal_entry WHERE action = 'key.switched'")
    assert entry is not None
    assert entry["payload"] == {"unacknowledged": ["DE"]}
    assert entry["actor"] == "officer:test admin"  # the admin who switched (auth names tokens "test <role>")
    revoked = await client.post(f"/api/v1/keys/{old}/revoke", json={"reason": "retired"}, headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["announced_to"] == ["DE"]


async def test_a_peer_key_time_that_is_naive_or_out_of_range_is_refused_and_nothing_stored(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    body = {"state": "DE", "base_url": "https://registry.example.de", "public_key": DE_KEY}
    naive = await client.post("/api/v1/peers", json={**body, "not_before": "2026-11-29T10:00:00"}, headers=admin)
    assert naive.status_code == 400  # was a 500: the naive time reached the journal's time format
    assert naive.json()["type"].endswith("/invalid-request")
    for edge in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"):
        # PostgreSQL keeps these as -infinity / infinity, which come back as naive datetimes: every later
        # notice check of the partner's key then compared naive with aware times (a 500 on /exchange/v1/notices)
        refused = await client.post("/api/v1/peers", json={**body, "not_before": edge}, headers=admin)
        assert refused.status_code == 422, edge
        assert refused.json()["type"].endswith("/invalid-input")
    assert await conn.fetchval("SELECT count(*) FROM peer") == 0
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action LIKE 'peer.%'") == 0
    assert (await client.post("/api/v1/peers", json=body, headers=admin)).status_code == 201
    for edge in ("2026-11-29T10:00:00", "0001-01-01T00:00:00Z"):
        key = await client.post("/api/v1/peers/DE/keys", json={"public_key": CZ_KEY, "not_before": edge}, headers=admin)
        assert key.status_code in {400, 422}, edge
    assert await conn.fetchval("SELECT count(*) FROM peer_key") == 1


async def test_a_public_key_that_is_no_usable_ed25519_point_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    body = {"state": "DE", "base_url": "https://registry.example.de"}
    not_a_point = "_" * 42 + "8"  # 32 bytes of 0xff
    identity = "AQ" + "A" * 41  # the identity point: any notice "signed" R = identity, S = 0 would verify
    for key in (not_a_point, identity):
        refused = await client.post("/api/v1/peers", json={**body, "public_key": key}, headers=admin)
        assert refused.status_code == 422, key
        assert refused.json()["type"].endswith("/invalid-public-key")
    assert await conn.fetchval("SELECT count(*) FROM peer") == 0
    assert (await client.post("/api/v1/peers", json={**body, "public_key": DE_KEY}, headers=admin)).status_code == 201
    added = await client.post("/api/v1/peers/DE/keys", json={"public_key": identity}, headers=admin)
    assert added.status_code == 422
    assert await conn.fetchval("SELECT count(*) FROM peer_key") == 1


async def test_a_base_url_with_credentials_or_a_bad_port_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    for url in ("https://u:pw@registry.example.de", "https://registry.example.de:99999", "http://[::1", "https://:80"):
        body = {"state": "DE", "base_url": url, "public_key": DE_KEY}
        refused = await client.post("/api/v1/peers", json=body, headers=admin)
        assert refused.status_code == 422, url
        assert refused.json()["type"].endswith("/invalid-url")
    assert await conn.fetchval("SELECT count(*) FROM peer") == 0
    body = {"state": "DE", "base_url": "http://[::1]:8081/exchange/", "public_key": DE_KEY}
    assert (await client.post("/api/v1/peers", json=body, headers=admin)).json()[
        "base_url"
    ] == "http://[::1]:8081/exchange"


async def _rotated_out(client: AsyncTestClient, conn: db.Conn, admin: dict[str, str]) -> str:  # type: ignore[type-arg]
    """The registry's first key, after a rotation switched away from it at once (no partners to wait for)."""
    old: str = await conn.fetchval("SELECT key_id FROM registry_key")
    assert (await client.post("/api/v1/keys/rotate", headers=admin)).json()["switched"] is True
    return old


async def test_revoking_a_key_with_a_blank_reason_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    old = await _rotated_out(client, conn, admin)
    blank = await client.post(f"/api/v1/keys/{old}/revoke", json={"reason": "  \n "}, headers=admin)
    assert blank.status_code == 422
    assert blank.json()["type"].endswith("/reason-required")
    assert await conn.fetchval("SELECT revoked_at FROM registry_key WHERE key_id = $1", old) is None


async def test_resequencing_past_the_largest_protocol_integer_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    body = {"state": "DE", "base_url": "https://registry.example.de", "public_key": DE_KEY}
    assert (await client.post("/api/v1/peers", json=body, headers=admin)).status_code == 201
    async with conn.transaction():
        for n in range(3):
            await outbox.enqueue(conn, "DE", "test.ping", {"n": n})
    assert await outbox.number_queued(conn) == 3
    # what the worker records when DE refuses notice 1 with a sequence-gap (tests/db/test_outbox_delivery.py)
    last = 2**53 - 1
    await conn.execute("UPDATE notice_outbox SET expected_sequence = $1 WHERE sequence = 1", last - 2)
    # numbers past 2^53 - 1 cannot be signed (PROTOCOL §2): the queue would be stuck for good, and no later
    # resequencing could bring it back below the first queued number
    for first in (last - 1, last):
        refused = await client.post("/api/v1/peers/DE/resequence", json={"first_sequence": first}, headers=admin)
        assert refused.status_code == 422, first
        assert refused.json()["type"].endswith("/invalid-input")
    assert await conn.fetchval("SELECT array_agg(sequence ORDER BY sequence) FROM notice_outbox") == [1, 2, 3]
    assert await conn.fetchval("SELECT last_sent_sequence FROM peer WHERE state = 'DE'") == 3
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.resequenced'") == 0
    done = await client.post("/api/v1/peers/DE/resequence", json={"first_sequence": last - 2}, headers=admin)
    assert done.status_code == 200
    assert await conn.fetchval("SELECT max(sequence) FROM notice_outbox") == last  # the last one a notice can carry


@pytest.mark.parametrize("when", ["statement", "commit"])
async def test_a_rotation_whose_transaction_fails_leaves_no_key_file(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
    when: str,
) -> None:
    """The database refuses the rotation for real: in its statements (a trigger), or only at commit (a deferred
    constraint trigger). No key file may stay behind: a private key no record names, that no backup lists."""
    admin = await auth("admin")
    folder = keys.keys_folder(settings.home)
    before = sorted(path.name for path in folder.iterdir())
    await conn.execute(
        "CREATE FUNCTION test_refuse_key() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
    )
    if when == "statement":
        await conn.execute(
            "CREATE TRIGGER test_refuse_key BEFORE INSERT ON pending_registry_key"
            " FOR EACH ROW EXECUTE FUNCTION test_refuse_key()"
        )
    else:
        await conn.execute(
            "CREATE CONSTRAINT TRIGGER test_refuse_key AFTER INSERT ON pending_registry_key"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_key()"
        )
    refused = await client.post("/api/v1/keys/rotate", headers=admin)
    assert refused.status_code == 500
    assert await conn.fetchval("SELECT count(*) FROM pending_registry_key") == 0
    assert await conn.fetchval("SELECT count(*) FROM registry_key") == 1
    assert sorted(path.name for path in folder.iterdir()) == before
    await conn.execute("DROP TRIGGER test_refuse_key ON pending_registry_key")
    rotated = await client.post("/api/v1/keys/rotate", headers=admin)
    assert rotated.status_code == 201
    assert sorted(path.name for path in folder.iterdir()) == sorted([*before, f"{rotated.json()['key_id']}.pem"])


async def test_cancelling_a_rotation_through_the_api(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
) -> None:
    admin = await auth("admin")
    old = await conn.fetchval("SELECT key_id FROM registry_key")
    peer = {"state": "DE", "base_url": "http://127.0.0.1:9", "public_key": DE_KEY}
    assert (await client.post("/api/v1/peers", json=peer, headers=admin)).status_code == 201
    new = (await client.post("/api/v1/keys/rotate", headers=admin)).json()["key_id"]
    assert keys.key_path(settings.home, new).exists()
    auditor = await auth("auditor")
    forbidden = await client.post(f"/api/v1/keys/{new}/cancel", json={"reason": "mistake"}, headers=auditor)
    assert forbidden.status_code == 403
    blank = await client.post(f"/api/v1/keys/{new}/cancel", json={"reason": "  "}, headers=admin)
    assert (blank.status_code, blank.json()["type"].endswith("/reason-required")) == (422, True)
    assert (await client.post(f"/api/v1/keys/{new}/cancel", json={}, headers=admin)).status_code == 400
    cancelled = await client.post(f"/api/v1/keys/{new}/cancel", json={"reason": "mistake"}, headers=admin)
    assert cancelled.status_code == 200
    assert {k: v for k, v in cancelled.json().items() if k != "cancelled_at"} == {
        "key_id": new,
        "replaces": old,
        "revoked_to": ["DE"],
    }
    assert not keys.key_path(settings.home, new).exists()
    again = await client.post(f"/api/v1/keys/{new}/cancel", json={"reason": "mistake"}, headers=admin)
    assert (again.status_code, again.json()) == (200, cancelled.json())
    assert await conn.fetchval("SELECT count(*) FROM notice_outbox WHERE type = 'registry.key-revoked'") == 1
    nothing = await client.post("/api/v1/keys/switch", headers=admin)
    assert nothing.json()["type"].endswith("/no-rotation-pending")
    late = await client.post(f"/api/v1/keys/{old}/cancel", json={"reason": "mistake"}, headers=admin)
    assert late.status_code == 409
    assert late.headers["content-type"].startswith("application/problem+json")
    assert (late.json()["type"].endswith("/key-already-switched"), late.json()["key_id"]) == (True, old)
    unknown = await client.post(f"/api/v1/keys/{'0' * 32}/cancel", json={"reason": "mistake"}, headers=admin)
    assert unknown.status_code == 404


async def test_a_base_url_with_control_characters_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A control character (ESC, DEL, a C1) in a base URL would reach the trust list, every listing and the log."""
    admin = await auth("admin")
    for url in (
        "https://registry.example.de/\x1b[2J",
        "https://registry\x7f.example.de",
        "https://registry.example.de/\x85x",
        "https://registry.example.de/\x00",
    ):
        body = {"state": "DE", "base_url": url, "public_key": DE_KEY}
        refused = await client.post("/api/v1/peers", json=body, headers=admin)
        assert refused.status_code == 422, url
        assert refused.json()["type"].endswith("/invalid-url")
    assert await conn.fetchval("SELECT count(*) FROM peer") == 0


@pytest.mark.parametrize(
    ("public_url", "host", "own", "other"),
    [
        (
            "https://registry.example.at/firearms",
            "10.1.2.3",
            [
                "https://registry.example.at/firearms",
                "https://REGISTRY.example.at.:443/firearms/",
                "http://registry.example.at:443/firearms",
                "http://10.1.2.3:8443",
                "http://10.1.2.3:8443/elsewhere",
            ],
            ["https://registry.example.at", "https://registry.example.de/firearms", "http://127.0.0.1:8443"],
        ),
        (
            "",
            "127.0.0.1",
            ["http://127.0.0.1:8443", "http://localhost:8443/", "http://127.0.0.2:8443", "http://[::1]:8443"],
            ["http://127.0.0.1:8444", "http://registry.example.de:8443", "http://10.1.2.3:8443"],
        ),
        (
            "",
            "0.0.0.0",  # noqa: S104  # the registry under test binds every interface (nothing is bound here)
            ["http://127.0.0.1:8443", "http://localhost:8443", "http://[::ffff:127.0.0.1]:8443"],
            ["http://127.0.0.1:8080", "https://registry.example.de"],
        ),
    ],
    ids=["its public URL, or the interface it binds", "unset: its loopback port", "binding every interface"],
)
async def test_a_partner_url_that_is_this_registrys_own_is_refused(
    settings: Settings,
    auth: TokenFactory,
    conn: db.Conn,
    public_url: str,
    host: str,
    own: list[str],
    other: list[str],
) -> None:
    """Its worker would post the partner's notices to itself: ``own-url``, like its own State (``invalid-state``).

    Before, such a peer was taken and every notice for it was posted to this registry, which refused it as
    ``wrong-recipient`` for ever.
    """
    admin = await auth("admin")
    own_settings = msgspec.structs.replace(settings, public_url=public_url, host=host, port=8443)
    async with AsyncTestClient(app=create_app(own_settings)) as client:
        for url in own:
            refused = await client.post(
                "/api/v1/peers", json={"state": "DE", "base_url": url, "public_key": DE_KEY}, headers=admin
            )
            assert refused.status_code == 422, url
            assert refused.headers["content-type"] == "application/problem+json"
            problem = refused.json()
            assert problem["type"].endswith("/own-url"), url
            assert problem["title"] == "The base URL is this registry's own"
            assert problem["base_url"] == url.rstrip("/")
        assert await conn.fetchval("SELECT count(*) FROM peer") == 0
        assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'peer.added'") == 0
        for (state, key), url in zip((("DE", DE_KEY), ("CZ", CZ_KEY), ("FR", FR_KEY)), other, strict=False):
            body = {"state": state, "base_url": url, "public_key": key}
            added = await client.post("/api/v1/peers", json=body, headers=admin)
            assert added.status_code == 201, (url, added.text)


async def test_a_partner_key_that_is_this_registrys_own_is_refused(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    """A key speaks for one State (PROTOCOL §1): one of this registry's own keys is no partner's.

    Before, this registry's key pasted for DE (the administrator copied the wrong ``keys show``) was taken: DE's
    trust entry then held a key whose private half is here, and notices this registry signs as DE passed every
    check. Refused, 422 ``own-key``, for the key in use, one waiting for its switch, and one retired by a switch.
    """
    admin = await auth("admin")
    current = (await client.get("/exchange/v1/keys")).json()["keys"][0]["public_key"]

    async def refused_as_own(public_key: str) -> None:
        body = {"state": "DE", "base_url": "https://registry.example.de", "public_key": public_key}
        refused = await client.post("/api/v1/peers", json=body, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"].endswith("/own-key")
        assert problem["title"] == "The key is this registry's own"
        assert problem["key_id"] == key_id_of(b64url_decode(public_key))
        further = await client.post("/api/v1/peers/CZ/keys", json={"public_key": public_key}, headers=admin)
        assert further.status_code == 422, further.text
        assert further.json()["type"].endswith("/own-key")

    cz = {"state": "CZ", "base_url": "https://registry.example.cz", "public_key": CZ_KEY}
    assert (await client.post("/api/v1/peers", json=cz, headers=admin)).status_code == 201
    before = await conn.fetchval("SELECT count(*) FROM journal_entry")
    await refused_as_own(current)
    assert await conn.fetchval("SELECT count(*) FROM journal_entry") == before
    assert (await client.post("/api/v1/keys/rotate", headers=admin)).status_code in {200, 201}
    waiting = await conn.fetchval("SELECT public_key FROM pending_registry_key WHERE switched_at IS NULL")
    await refused_as_own(b64url_encode(waiting))
    assert (await client.post("/api/v1/keys/switch", headers=admin)).status_code in {200, 201}
    await refused_as_own(current)  # retired by the switch: still this registry's
    assert await conn.fetchval("SELECT count(*) FROM peer") == 1
    assert await conn.fetchval("SELECT count(*) FROM peer_key") == 1
    added = {"state": "DE", "base_url": "https://registry.example.de", "public_key": DE_KEY}
    assert (await client.post("/api/v1/peers", json=added, headers=admin)).status_code == 201


async def test_key_replace_endpoint_signs_the_queue_again_with_a_new_key_in_use_at_once(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    old = await conn.fetchval("SELECT key_id FROM registry_key")
    await client.post(
        "/api/v1/peers", json={"state": "DE", "base_url": "http://127.0.0.1:9", "public_key": DE_KEY}, headers=admin
    )
    async with conn.transaction():
        queued = await outbox.enqueue(conn, "DE", "registry.key-revoked", {"key_id": "0" * 32, "revoked_at": "x"})
    blank = await client.post("/api/v1/keys/replace", json={"reason": ""}, headers=admin)
    assert blank.status_code == 400
    replaced = await client.post("/api/v1/keys/replace", json={"reason": "restored"}, headers=admin)
    assert replaced.status_code == 201
    done = replaced.json()
    assert done["replaces"] == old
    assert [(row["recipient"], row["notices"]) for row in done["resigned"]] == [("DE", 1)]
    assert (await client.get("/exchange/v1/keys")).json()["current_key_id"] == done["key_id"]
    assert (
        await conn.fetchval("SELECT signing_key_id FROM notice_outbox WHERE notice_id = $1", queued) == done["key_id"]
    )
    rotated = await client.post("/api/v1/keys/rotate", headers=admin)
    assert rotated.status_code == 201
    waiting = await client.post("/api/v1/keys/replace", json={"reason": "again"}, headers=admin)
    assert waiting.status_code == 409
    assert waiting.json()["type"].endswith("/rotation-pending")
    assert waiting.json()["key_id"] == rotated.json()["key_id"]


async def test_revoking_the_key_in_use_is_refused_and_changes_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    current = await conn.fetchval("SELECT key_id FROM registry_key")
    before = await changes(conn)
    in_use = await client.post(f"/api/v1/keys/{current}/revoke", json={"reason": "retired"}, headers=admin)
    assert in_use.status_code == 409
    assert in_use.headers["content-type"].startswith("application/problem+json")
    assert in_use.json()["type"] == PROBLEM + "key-in-use"
    assert in_use.json()["key_id"] == current
    assert "keys rotate" in in_use.json()["detail"]
    assert await changes(conn) == before
    assert await conn.fetchval("SELECT revoked_at FROM registry_key WHERE key_id = $1", current) is None


async def test_revoking_a_key_twice_is_refused_and_changes_nothing(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
) -> None:
    admin = await auth("admin")
    old = await _rotated_out(client, conn, admin)
    first = await client.post(f"/api/v1/keys/{old}/revoke", json={"reason": "retired"}, headers=admin)
    assert first.status_code == 200
    revoked_at = await conn.fetchval("SELECT revoked_at FROM registry_key WHERE key_id = $1", old)
    before = await changes(conn)
    again = await client.post(f"/api/v1/keys/{old}/revoke", json={"reason": "retired again"}, headers=admin)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["type"] == PROBLEM + "key-already-revoked"
    assert again.json()["key_id"] == old
    assert await changes(conn) == before
    assert await conn.fetchval("SELECT revoked_at FROM registry_key WHERE key_id = $1", old) == revoked_at
