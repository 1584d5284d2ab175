"""``firearms peers``, ``firearms notices``, ``firearms keys rotate|revoke`` and ``firearms trace-requests`` through
click's runner."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from click.testing import CliRunner

from cli import main
from cli.common import cli_actor
from firearms import bootstrap, db, items, trace_types, traces
from firearms.canonical import utc_now
from firearms.exchange import trust
from firearms.exchange.trace_bodies import TraceRequested, Weapon
from firearms.item_types import NewItem, NewMarking
from firearms.signing import SigningKey, b64url_decode, b64url_encode, key_id_of
from tests.changes import CHANGES, changes_at
from tests.check_helpers import register_firearm
from tests.exchange_util import VECTORS
from tests.roles import database_env

DE_KEY = VECTORS["keys"]["DE"]["public_key"]
CZ_KEY = b64url_encode(SigningKey.generate().public_key)


@pytest.fixture
def env(database: str, home: Path, initialised: bootstrap.Initialised) -> dict[str, str]:
    return {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), **database_env(database)}


def _run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_peers_add_list_disable_enable(env: dict[str, str]) -> None:
    code, out, _ = _run(env, "peers", "add", "de", "--url", "http://127.0.0.1:8081/", "--public-key", DE_KEY)
    assert code == 0
    peer = json.loads(out)
    assert (peer["state"], peer["base_url"], peer["enabled"]) == ("DE", "http://127.0.0.1:8081", True)
    assert peer["keys"][0]["key_id"] == VECTORS["keys"]["DE"]["key_id"]
    assert peer["keys"][0]["provenance"] == "admin"
    assert _run(env, "peers", "disable", "DE")[1] == "DE disabled\n"
    listed = [json.loads(line) for line in _run(env, "peers", "list")[1].splitlines()]
    assert [(item["state"], item["enabled"]) for item in listed] == [("DE", False)]
    assert _run(env, "peers", "enable", "DE")[1] == "DE enabled\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["peers", "add", "DE", "--url", "ftp://x", "--public-key", DE_KEY], "is not an http(s) base URL"),
        (
            ["peers", "add", "DE", "--url", "https://u:pw@x.example", "--public-key", DE_KEY],
            "is not an http(s) base URL",
        ),
        (
            ["peers", "add", "DE", "--url", "https://x.example:99999", "--public-key", DE_KEY],
            "is not an http(s) base URL",
        ),
        (
            ["peers", "add", "DE", "--url", "https://x.example:80a", "--public-key", DE_KEY],
            "is not an http(s) base URL",
        ),
        (["peers", "add", "DE", "--url", "https://:8080/x", "--public-key", DE_KEY], "is not an http(s) base URL"),
        (["peers", "add", "DE", "--url", "https://x.example/" + "a" * 500, "--public-key", DE_KEY], "500 characters"),
        (["peers", "add", "DE", "--url", "http://x", "--public-key", DE_KEY + "="], "not unpadded base64url"),
        (["peers", "add", "DE", "--url", "http://x", "--public-key", "AAAA"], "32 bytes"),
        (["peers", "add", "DE", "--url", "http://x", "--public-key", "_" * 42 + "8"], "not an Ed25519 public key"),
        (["peers", "add", "DE", "--url", "http://x", "--public-key", "AQ" + "A" * 41], "not an Ed25519 public key"),
        (["peers", "add", "XX", "--url", "http://x", "--public-key", DE_KEY], "not an ISO 3166-1"),
        (["peers", "add", "AT", "--url", "http://x", "--public-key", DE_KEY], "its own State"),
        (["peers", "disable", "FR"], "not on the trust list"),
        (["peers", "resequence", "FR", "--from", "7"], "not on the trust list"),
    ],
)
def test_peers_errors_are_one_line(env: dict[str, str], args: list[str], message: str) -> None:
    code, out, err = _run(env, *args)
    assert code == 1
    assert out == ""
    assert err.startswith("firearms: error:")
    assert err.count("\n") == 1
    assert message in err


def test_peers_add_refuses_this_registrys_own_url(env: dict[str, str]) -> None:
    """A partner at this registry's own address would be posted its notices by this registry's worker."""
    code, out, err = _run(env, "peers", "add", "DE", "--url", "http://localhost:8080/", "--public-key", DE_KEY)
    assert (code, out) == (1, "")
    assert err == (
        "firearms: error: http://localhost:8080 is this registry's own address (it serves on 127.0.0.1:8080):"
        " its notices for the partner would be posted to itself\n"
    )
    public = env | {"FIREARMS_PUBLIC_URL": "https://registry.example.at"}
    code, _, err = _run(
        public, "peers", "add", "DE", "--url", "https://Registry.example.at:443", "--public-key", DE_KEY
    )
    assert code == 1
    assert "is this registry's own address (FIREARMS_PUBLIC_URL https://registry.example.at)" in err
    assert _run(env, "peers", "list")[1] == ""
    assert _run(public, "peers", "add", "DE", "--url", "https://registry.example.de", "--public-key", DE_KEY)[0] == 0


def test_peers_add_refuses_this_registrys_own_key(env: dict[str, str]) -> None:
    """The key ``keys show`` prints is this registry's: entered for a partner, it was taken."""
    own = json.loads(_run(env, "keys", "show")[1])
    code, out, err = _run(env, "peers", "add", "DE", "--url", "https://x.example", "--public-key", own["public_key"])
    assert (code, out) == (1, "")
    assert err.startswith(f"firearms: error: key {own['key_id']} is this registry's own signing key")
    assert err.count("\n") == 1
    assert _run(env, "peers", "list")[1] == ""


def test_peers_add_knows_serves_address_from_the_environment_and_from_serve(env: dict[str, str], home: Path) -> None:
    # Walking the README with 'serve --port 18080': the command line, which reads the environment, took the
    # registry's own http://127.0.0.1:18080 for a partner's, whose notices the worker then posted to itself
    on_18080 = env | {"FIREARMS_PORT": "18080"}
    code, _, err = _run(on_18080, "peers", "add", "DE", "--url", "http://127.0.0.1:18080", "--public-key", DE_KEY)
    assert code == 1
    assert "(it serves on 127.0.0.1:18080)" in err
    trust.record_served_address(home, "127.0.0.1", 18090)  # what 'serve --port 18090' notes in its home
    code, _, err = _run(env, "peers", "add", "DE", "--url", "http://localhost:18090/", "--public-key", DE_KEY)
    assert code == 1
    assert "(the last 'firearms serve' on this home bound 127.0.0.1:18090, noted in its serve.json)" in err
    code, _, err = _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:8080", "--public-key", DE_KEY)
    assert code == 1  # the environment's address (FIREARMS_PORT unset: 8080) still counts
    assert "(it serves on 127.0.0.1:8080)" in err
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:18091", "--public-key", DE_KEY)[0] == 0


def test_peers_add_twice_and_bad_time(env: dict[str, str]) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://x", "--public-key", DE_KEY)[0] == 0
    code, _, err = _run(env, "peers", "add", "DE", "--url", "http://x", "--public-key", DE_KEY)
    assert code == 1
    assert "already on the trust list" in err
    # the operator is told where the partner is and how a further key is entered
    assert "('firearms peers list'): enter another of its keys with 'firearms peers add-key DE'" in err
    code, _, err = _run(
        env, "peers", "add", "CZ", "--url", "http://x", "--public-key", DE_KEY, "--not-before", "yesterday"
    )
    assert code == 2
    assert "RFC 3339" in err


def test_rotate_announces_and_notices_lists_the_outbox(env: dict[str, str]) -> None:
    old = json.loads(_run(env, "keys", "show")[1])["key_id"]
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    code, out, err = _run(env, "keys", "rotate")
    assert code == 0
    rotation = json.loads(out)
    assert (rotation["replaces"], rotation["announced_to"], rotation["switched"]) == (old, ["DE"], False)
    assert "acknowledged" in err
    assert json.loads(_run(env, "keys", "show")[1])["key_id"] == old  # not switched before DE has it
    code, out, _ = _run(env, "notices")
    assert code == 0
    assert "-> DE #- registry.key-announced queued attempts=0" in out  # numbered when the worker takes it
    (notice,) = [json.loads(line) for line in _run(env, "notices", "--status", "queued", "--json")[1].splitlines()]
    assert notice["type"] == "registry.key-announced"
    assert _run(env, "notices", "--status", "delivered")[1:] == ("No notices with status delivered.\n", "")
    code, _, err = _run(env, "keys", "rotate")
    assert code == 1
    assert "already waiting" in err


def test_switch_uses_the_waiting_key_before_every_acknowledgement(env: dict[str, str]) -> None:
    code, _, err = _run(env, "keys", "switch")
    assert code == 1
    assert "no new key is waiting" in err
    old = json.loads(_run(env, "keys", "show")[1])["key_id"]
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    rotation = json.loads(_run(env, "keys", "rotate")[1])
    assert rotation["switched"] is False
    code, out, err = _run(env, "keys", "switch")
    assert code == 0
    assert json.loads(out) == {"key_id": rotation["key_id"], "unacknowledged": ["DE"]}
    assert "DE will learn the new key" in err
    shown = json.loads(_run(env, "keys", "show")[1])
    assert shown["key_id"] == rotation["key_id"] != old
    code, _, err = _run(env, "keys", "switch")
    assert code == 1  # nothing waits any more
    (notice,) = [json.loads(line) for line in _run(env, "notices", "--json")[1].splitlines()]
    assert notice["type"] == "registry.key-announced"  # still queued for DE, ahead of anything signed later


def test_keys_cancel_abandons_the_waiting_rotation(env: dict[str, str]) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:8081", "--public-key", DE_KEY)[0] == 0
    old = json.loads(_run(env, "keys", "show")[1])["key_id"]
    rotation = json.loads(_run(env, "keys", "rotate")[1])
    code, out, _ = _run(env, "keys", "cancel", rotation["key_id"], "--reason", "started by mistake")
    assert code == 0
    cancelled = json.loads(out)
    assert (cancelled["key_id"], cancelled["replaces"], cancelled["revoked_to"]) == (rotation["key_id"], old, ["DE"])
    assert _run(env, "keys", "cancel", rotation["key_id"], "--reason", "again") == (0, out, "")
    assert json.loads(_run(env, "keys", "show")[1])["key_id"] == old
    code, _, err = _run(env, "keys", "cancel", old, "--reason", "mistake")
    assert code == 1
    assert err.startswith("firearms: error:")
    assert "only a rotation still waiting can be cancelled" in err
    assert _run(env, "keys", "cancel", rotation["key_id"])[0] == 2  # --reason is required
    queued = [json.loads(line)["type"] for line in _run(env, "notices", "--json")[1].splitlines()]
    assert sorted(queued) == ["registry.key-announced", "registry.key-revoked"]


def test_rotate_without_partners_switches_at_once_then_revoke(env: dict[str, str]) -> None:
    old = json.loads(_run(env, "keys", "show")[1])["key_id"]
    code, _, err = _run(env, "keys", "revoke", old, "--reason", "test")
    assert code == 1
    assert "key in use" in err
    rotation = json.loads(_run(env, "keys", "rotate")[1])
    assert rotation["switched"] is True
    shown = json.loads(_run(env, "keys", "show")[1])
    assert shown["key_id"] == rotation["key_id"]
    assert [key["key_id"] for key in shown["keys"]] == [old, rotation["key_id"]]
    code, out, _ = _run(env, "keys", "revoke", old, "--reason", "retired")
    assert code == 0
    assert json.loads(out)["key_id"] == old
    code, _, err = _run(env, "keys", "revoke", old, "--reason", "again")
    assert code == 1
    assert "already revoked" in err


def test_peers_resequence_prints_what_it_did(env: dict[str, str]) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:8081", "--public-key", DE_KEY)[0] == 0
    code, out, _ = _run(env, "peers", "resequence", "de", "--from", "7")
    assert code == 0
    assert json.loads(out) == {"recipient": "DE", "first_sequence": 7, "renumbered": 0, "last_sent_sequence": 6}
    assert _run(env, "peers", "resequence", "DE", "--from", "0")[0] == 2


def test_peers_add_refuses_a_not_before_postgresql_keeps_as_infinity(env: dict[str, str]) -> None:
    # and one whose offset puts it before the year 1 or after 9999 in UTC: the same refusal, naming it as given
    # (before, "not an RFC 3339 time", which it is)
    for edge in (
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
    ):
        code, out, err = _run(
            env, "peers", "add", "DE", "--url", "http://x", "--public-key", DE_KEY, "--not-before", edge
        )
        assert (code, out) == (1, ""), edge
        assert err.startswith("firearms: error:")
        assert err.count("\n") == 1
        assert "is not a time between 1970 and 9998" in err
    assert _run(env, "peers", "list")[1] == ""


def test_keys_revoke_refuses_a_blank_or_overlong_reason_and_revokes_nothing(env: dict[str, str]) -> None:
    old = json.loads(_run(env, "keys", "show")[1])["key_id"]
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    assert json.loads(_run(env, "keys", "rotate")[1])["switched"] is False
    assert _run(env, "keys", "switch")[0] == 0
    # partners take a reason of at most 2000 characters: a longer one would have every partner reject the notice
    for reason in ("", "   ", "x" * 2001):
        code, out, err = _run(env, "keys", "revoke", old, "--reason", reason)
        assert (code, out) == (1, ""), len(reason)
        assert err.startswith("firearms: error:")
        assert err.count("\n") == 1
    shown = json.loads(_run(env, "keys", "show")[1])
    assert [key["revoked_at"] for key in shown["keys"] if key["key_id"] == old] == [None]
    types = [json.loads(line)["type"] for line in _run(env, "notices", "--json")[1].splitlines()]
    assert "registry.key-revoked" not in types


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ([], "No notices."),
        (["--status", "rejected"], "No notices with status rejected."),
        (["--recipient", "de"], "No notices for DE."),
        (["--status", "queued", "--recipient", "DE", "--limit", "5"], "No notices with status queued for DE."),
    ],
)
def test_notices_says_so_when_none_is_listed(env: dict[str, str], args: list[str], line: str) -> None:
    # an empty outbox printed nothing at all: an operator could not tell it from a command that did not run
    assert _run(env, "notices", *args) == (0, f"{line}\n", "")
    # one JSON object a line stays so (none: no line), the words go to standard error
    assert _run(env, "notices", *args, "--json") == (0, "", f"{line}\n")


def test_peers_list_says_so_when_there_is_no_partner(env: dict[str, str]) -> None:
    assert _run(env, "peers", "list") == (0, "", "No partners.\n")
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    code, out, err = _run(env, "peers", "list")
    assert (code, err) == (0, "")
    assert [json.loads(line)["state"] for line in out.splitlines()] == ["DE"]


@pytest.mark.parametrize("recipient", ["DEU", "D", "1E", ""])
def test_notices_refuses_a_recipient_that_is_no_state_code(env: dict[str, str], recipient: str) -> None:
    code, out, err = _run(env, "notices", "--recipient", recipient)
    assert (code, out) == (2, "")  # was an empty list, as if nothing were queued for it (the API answers 400)
    assert "--recipient" in err


def test_keys_revoke_of_the_waiting_key_says_it_is_waiting(env: dict[str, str]) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    waiting = json.loads(_run(env, "keys", "rotate")[1])["key_id"]
    code, out, err = _run(env, "keys", "revoke", waiting, "--reason", "rotated by mistake")
    assert (code, out) == (1, "")
    assert "still waiting for partners' acknowledgements" in err  # was "is not a key of this registry"
    assert err.count("\n") == 1


def test_notices_prints_a_partners_error_text_on_one_line_without_control_characters(
    env: dict[str, str], database: str
) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    assert _run(env, "keys", "rotate")[0] == 0  # one notice queued for DE

    async def fail_it() -> None:
        conn = await asyncpg.connect(database)
        try:  # the partner's problem detail, as the worker stores it: a terminal escape and a line of its own
            await conn.execute(
                "UPDATE notice_outbox SET attempts = 1, last_error = $1",
                "HTTP 403 unknown-sender: \x1b[2J\x1b[32mall delivered\n2026-11-29T00:00:00Z fake -> DE #1 x delivered",
            )
        finally:
            await conn.close()

    asyncio.run(fail_it())
    code, out, _ = _run(env, "notices")
    assert code == 0
    assert out.count("\n") == 1
    assert "\x1b" not in out
    assert "last error: HTTP 403 unknown-sender:" in out


def test_rotate_names_only_the_enabled_partners_the_switch_waits_for(env: dict[str, str]) -> None:
    # Walking the README: with DE disabled, 'keys rotate' said "used once CZ, DE acknowledged", yet the worker
    # switched as soon as CZ had (it waits for enabled partners only), and no acknowledgement from DE ever came.
    cz_key = b64url_encode(SigningKey.generate().public_key)
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    assert _run(env, "peers", "add", "CZ", "--url", "http://127.0.0.1:10", "--public-key", cz_key)[0] == 0
    assert _run(env, "peers", "disable", "DE")[0] == 0
    code, out, err = _run(env, "keys", "rotate")
    assert code == 0
    rotation = json.loads(out)
    assert (rotation["announced_to"], rotation["awaiting"], rotation["switched"]) == (["CZ", "DE"], ["CZ"], False)
    assert "the new key is used once CZ acknowledged its announcement" in err
    assert "DE (disabled) will get the announcement once enabled; the switch does not wait for it" in err


def test_keys_replace_uses_a_new_key_at_once_and_signs_the_queue_again(env: dict[str, str]) -> None:
    old = json.loads(_run(env, "keys", "show")[1])["key_id"]
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    code, out, err = _run(env, "keys", "replace", "--reason", "restored from a backup")
    assert code == 0
    done = json.loads(out)
    assert done["replaces"] == old
    assert done["resigned"] == []  # nothing was queued
    assert "'firearms peers add-key AT' or POST /api/v1/peers/AT/keys" in err
    shown = json.loads(_run(env, "keys", "show")[1])
    assert shown["key_id"] == done["key_id"] != old
    code, _, err = _run(env, "keys", "replace", "--reason", "")
    assert code == 1
    assert "gives its reason" in err


def test_peers_add_key_trusts_a_further_key_of_a_partner(env: dict[str, str], database: str) -> None:
    """A partner that ran 'keys replace' gives its new key out of band; the operator enters it here."""
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    further = SigningKey.generate()
    public_key = b64url_encode(further.public_key)
    code, out, err = _run(
        env, "peers", "add-key", " de", "--public-key", public_key, "--not-before", "2026-11-30 04:15:00+01:00"
    )
    assert (code, err) == (0, "")
    assert out.count("\n") == 1
    peer = json.loads(out)
    assert peer["state"] == "DE"
    added = {key["key_id"]: key for key in peer["keys"]}[key_id_of(further.public_key)]
    assert (added["public_key"], added["not_before"], added["provenance"]) == (
        public_key,
        "2026-11-30T03:15:00Z",
        "admin",
    )
    listed = [json.loads(line) for line in _run(env, "peers", "list")[1].splitlines()]
    assert [sorted(key["key_id"] for key in item["keys"]) for item in listed] == [
        sorted([VECTORS["keys"]["DE"]["key_id"], key_id_of(further.public_key)])
    ]
    without = b64url_encode(SigningKey.generate().public_key)
    code, out, _ = _run(env, "peers", "add-key", "DE", "--public-key", without)
    assert code == 0
    assert {key["public_key"]: key["not_before"] for key in json.loads(out)["keys"]}[without] == "1970-01-01T00:00:00Z"

    async def journaled() -> list[tuple[str, str, str]]:
        conn = await asyncpg.connect(database)
        try:
            rows = await conn.fetch(
                "SELECT actor, entity_id, payload->>'key_id' AS key_id FROM journal_entry"
                " WHERE action = 'peer.key-added' ORDER BY entry_id"
            )
        finally:
            await conn.close()
        return [(row["actor"], row["entity_id"], row["key_id"]) for row in rows]

    actor = cli_actor()
    assert asyncio.run(journaled()) == [
        (actor, "DE", key_id_of(further.public_key)),
        (actor, "DE", key_id_of(b64url_decode(without))),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["FR", "--public-key", CZ_KEY], "FR is not on the trust list"),
        (["Germany", "--public-key", CZ_KEY], "GERMANY is not on the trust list"),
        (["DE", "--public-key", DE_KEY], "of DE is already on the trust list"),  # peer-key-exists
        (["DE", "--public-key", CZ_KEY + "="], "not unpadded base64url"),
        (["DE", "--public-key", "AAAA"], "32 bytes"),
        (["DE", "--public-key", "AQ" + "A" * 41], "not an Ed25519 public key"),
        (["DE", "--public-key", CZ_KEY, "--not-before", "0001-01-01T00:00:00Z"], "not a time between 1970 and 9998"),
    ],
)
def test_peers_add_key_refusals_are_one_line_and_change_nothing(
    env: dict[str, str], args: list[str], message: str
) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    before = _run(env, "peers", "list")[1]
    code, out, err = _run(env, "peers", "add-key", *args)
    assert (code, out) == (1, "")
    assert err.startswith("firearms: error:")
    assert err.count("\n") == 1
    assert message in err
    assert _run(env, "peers", "list")[1] == before


def test_peers_add_key_refuses_another_states_key_and_this_registrys_own(env: dict[str, str]) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    assert _run(env, "peers", "add", "CZ", "--url", "http://127.0.0.1:10", "--public-key", CZ_KEY)[0] == 0
    before = _run(env, "peers", "list")[1]
    code, out, err = _run(env, "peers", "add-key", "DE", "--public-key", CZ_KEY)
    assert (code, out) == (1, "")
    cz_key_id = key_id_of(b64url_decode(CZ_KEY))
    assert err == f"firearms: error: key {cz_key_id} is on the trust list for CZ: a key speaks for one State\n"
    own = json.loads(_run(env, "keys", "show")[1])
    code, out, err = _run(env, "peers", "add-key", "DE", "--public-key", own["public_key"])
    assert (code, out) == (1, "")
    assert err.startswith(f"firearms: error: key {own['key_id']} is this registry's own signing key")
    assert err.count("\n") == 1
    assert _run(env, "peers", "list")[1] == before


def test_peers_add_key_takes_not_before_as_peers_add_does(env: dict[str, str]) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    for bad in ("yesterday", "2026-11-30T04:15:00", "2026-02-30T00:00:00Z"):
        code, out, err = _run(env, "peers", "add-key", "DE", "--public-key", CZ_KEY, "--not-before", bad)
        assert (code, out) == (2, ""), bad
        assert "RFC 3339" in err
    code, out, _ = _run(env, "peers", "add-key", "DE", "--public-key", CZ_KEY, "--not-before", "2026-11-30t03:15:00z")
    assert code == 0
    assert {key["public_key"]: key["not_before"] for key in json.loads(out)["keys"]}[CZ_KEY] == "2026-11-30T03:15:00Z"


def test_rotating_before_the_first_start_made_a_key_is_refused_and_changes_nothing(database: str, home: Path) -> None:
    """``no-signing-key``: its only way, since the key in use is never revoked and the API is served after the start."""
    # 'firearms migrate' sets the schema up; the first signing key is made by the first 'serve' (or 'worker')
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), "FIREARMS_DATABASE_URL": database}
    assert _run(env, "migrate")[0] == 0

    async def counts() -> tuple[int, ...]:
        conn = await asyncpg.connect(database)
        try:
            row = await conn.fetchrow(CHANGES)
            assert row is not None
            return tuple(row)
        finally:
            await conn.close()

    before = asyncio.run(counts())
    code, out, err = _run(env, "keys", "rotate")
    assert code == 1
    assert out == ""
    assert err == (
        "firearms: error: this registry has no valid signing key to rotate from: its first start"
        " ('firearms serve' or 'firearms worker') makes one\n"
    )
    assert asyncio.run(counts()) == before
    assert not (home / "keys").exists() or not any((home / "keys").iterdir())  # no key file left behind


def test_trace_requests_lists_sent_and_received_and_the_overdue_ones(env: dict[str, str], database: str) -> None:
    assert _run(env, "trace-requests") == (0, "No trace requests.\n", "")
    assert _run(env, "trace-requests", "--direction", "incoming", "--overdue")[1] == (
        "No incoming overdue trace requests.\n"
    )
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0

    today = dt.datetime.now(dt.UTC).date()
    later = today + dt.timedelta(days=300)  # never overdue while the test runs; a request asks at most a year ahead

    async def ask() -> None:
        conn = await db.connect(database)
        try:
            async with db.transaction(conn):
                for answer_by in (today + dt.timedelta(days=200), later):
                    await traces.request_trace(
                        conn,
                        trace_types.NewTraceRequest(
                            recipient="DE",
                            weapon=trace_types.NewWeapon(kind="firearm", serial="CLI-1"),
                            circumstances="seized",
                            intended_use="investigation",
                            answer_by=answer_by,
                        ),
                        own_state="AT",
                        today=today,
                        answer_days=30,
                        actor="test",
                    )
            async with db.transaction(conn):  # the first one's day passed (behind the guards: it never changes)
                await conn.execute("SET LOCAL session_replication_role = replica")
                await conn.execute("UPDATE trace_request SET answer_by = '2026-01-05' WHERE trace_request_id = 1")
        finally:
            await conn.close()

    asyncio.run(ask())
    code, out, _ = _run(env, "trace-requests")
    assert code == 0
    assert out.splitlines() == [
        "#1 outgoing -> DE open due 2026-01-05 OVERDUE serials=CLI-1",
        f"#2 outgoing -> DE open due {later} serials=CLI-1",
    ]
    code, out, _ = _run(env, "trace-requests", "--overdue", "--json")
    assert code == 0
    (listed,) = [json.loads(line) for line in out.splitlines()]
    assert (listed["trace_request_id"], listed["overdue"], listed["circumstances"]) == (1, True, "seized")
    assert _run(env, "trace-requests", "--status", "answered")[1] == "No answered trace requests.\n"

    async def reads() -> list[Any]:
        conn = await db.connect(database)
        try:
            return list(await conn.fetch("SELECT payload FROM journal_entry WHERE action = 'trace-request.read'"))
        finally:
            await conn.close()

    assert [row["payload"] for row in asyncio.run(reads())] == [{"ids": ["1"]}]  # --json only


def test_trace_requests_tell_the_findings_left_out_and_an_answer_naming_an_item_not_matching(
    env: dict[str, str], database: str
) -> None:
    """A received request's line: how many items it found and how many more the 50 findings leave out; an answer
    found naming an item the request is not about (the officer said why) is marked so."""
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:9", "--public-key", DE_KEY)[0] == 0
    today = dt.datetime.now(dt.UTC).date()
    answer_by = today + dt.timedelta(days=30)

    async def receive() -> int:
        conn = await db.connect(database)
        try:
            for n in range(52):  # one serial, 52 manufacturers
                async with db.transaction(conn):
                    await items.register_item(
                        conn,
                        NewItem(
                            kind="firearm",
                            firearm_type="pistol",
                            manufacturer=f"Maker {n}",
                            country_of_manufacture="AT",
                            serial="CLI-52",
                            markings=[NewMarking(kind="manufacture", stamped=f"MAKER {n} CLI-52", serial="CLI-52")],
                        ),
                        actor="test",
                        today=today,
                    )
            other = await register_firearm(conn, "CLI-OTHER")
            for n, serial in enumerate(("CLI-52", "CLI-NONE"), start=1):
                async with db.transaction(conn):
                    request_id = await traces.receive_request(
                        conn,
                        TraceRequested(
                            weapon=Weapon(kind="firearm", serial=serial),
                            circumstances="seized",
                            intended_use="investigation",
                            answer_by=answer_by,
                        ),
                        sender="DE",
                        notice_id=f"0193a1f2-6c1e-7a55-b1a0-3f0d2b8c9e0{n}",
                        confidentiality="restricted",
                        received_at=utc_now(),
                        received_on=today,
                    )
            async with db.transaction(conn):
                await traces.answer(
                    conn,
                    request_id,
                    trace_types.NewTraceAnswer(outcome="found", item_id=other, unmatched_because="re-stamped serial"),
                    today=today,
                    actor="test",
                )
            return other
        finally:
            await conn.close()

    other = asyncio.run(receive())
    code, out, _ = _run(env, "trace-requests")
    assert code == 0
    assert out.splitlines() == [
        f"#1 incoming <- DE acknowledged due {answer_by} serials=CLI-52 findings=50 (+2 not listed)",
        f"#2 incoming <- DE answered (found, item {other} not matching) due {answer_by} serials=CLI-NONE findings=0",
    ]
    code, out, _ = _run(env, "trace-requests", "--json")
    assert code == 0
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(r["findings_omitted"], r["answer"] and r["answer"]["unmatched_because"]) for r in listed] == [
        (2, None),
        (0, "re-stamped serial"),
    ]


def test_peers_quota_sets_a_partners_bound_shown_by_peers_list_and_journaled(
    env: dict[str, str], database: str
) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:8081", "--public-key", DE_KEY)[0] == 0
    code, out, _ = _run(env, "peers", "quota", "de", "--notices", "500", "--bytes", "1048576")
    assert code == 0
    assert (json.loads(out)["quota_notices"], json.loads(out)["quota_bytes"]) == (500, 1_048_576)
    listed = [json.loads(line) for line in _run(env, "peers", "list")[1].splitlines()]
    assert [(item["state"], item["quota_notices"], item["quota_bytes"]) for item in listed] == [("DE", 500, 1_048_576)]
    code, out, _ = _run(env, "peers", "quota", "DE", "--notices", "default", "--bytes", "default")  # the settings'
    assert (code, json.loads(out)["quota_notices"], json.loads(out)["quota_bytes"]) == (0, None, None)

    async def journaled() -> list[Any]:
        conn = await db.connect(database)
        try:
            rows = await conn.fetch(
                "SELECT actor, payload FROM journal_entry WHERE action = 'peer.quota-set' ORDER BY entry_id"
            )
            return [(row["actor"], row["payload"]) for row in rows]
        finally:
            await conn.close()

    entries = asyncio.run(journaled())
    assert [payload["quota_notices"] for _, payload in entries] == [500, None]
    assert entries[1][1]["before"] == {"quota_notices": 500, "quota_bytes": 1_048_576}
    assert {actor for actor, _ in entries} == {cli_actor()}
    code, _, err = _run(env, "peers", "quota", "FR", "--notices", "5")
    assert code != 0
    assert "FR is not on the trust list" in err


def test_peers_quota_keeps_a_bound_not_given_and_default_returns_one_to_the_setting(
    env: dict[str, str], database: str
) -> None:
    assert _run(env, "peers", "add", "DE", "--url", "http://127.0.0.1:8081", "--public-key", DE_KEY)[0] == 0
    assert _run(env, "peers", "quota", "DE", "--notices", "500", "--bytes", "1048576")[0] == 0
    code, out, _ = _run(env, "peers", "quota", "DE", "--notices", "600")  # the bytes bound stays as it is
    assert (code, json.loads(out)["quota_notices"], json.loads(out)["quota_bytes"]) == (0, 600, 1_048_576)
    code, out, _ = _run(env, "peers", "quota", "DE", "--bytes", "default")  # back to FIREARMS_PARTNER_QUOTA_BYTES
    assert (code, json.loads(out)["quota_notices"], json.loads(out)["quota_bytes"]) == (0, 600, None)
    code, out, _ = _run(env, "peers", "quota", "DE", "--notices", "DEFAULT", "--bytes", "2097152")
    assert (code, json.loads(out)["quota_notices"], json.loads(out)["quota_bytes"]) == (0, None, 2_097_152)
    before = changes_at(database)
    code, out, err = _run(env, "peers", "quota", "DE")  # neither bound: nothing to set
    assert (code, out, err.count("\n")) == (2, "", 1)
    assert err.startswith("firearms: error: ")
    assert "--notices" in err
    assert "--bytes" in err
    code, out, err = _run(env, "peers", "quota", "DE", "--notices", "many")
    assert (code, out) == (2, "")
    assert "'many' is neither a whole number nor 'default'" in err
    assert changes_at(database) == before

    async def journaled() -> list[Any]:
        conn = await db.connect(database)
        try:
            rows = await conn.fetch(
                "SELECT payload FROM journal_entry WHERE action = 'peer.quota-set' ORDER BY entry_id"
            )
            return [row["payload"] for row in rows]
        finally:
            await conn.close()

    assert [
        ((p["before"]["quota_notices"], p["before"]["quota_bytes"]), (p["quota_notices"], p["quota_bytes"]))
        for p in asyncio.run(journaled())
    ] == [
        ((None, None), (500, 1_048_576)),
        ((500, 1_048_576), (600, 1_048_576)),
        ((600, 1_048_576), (600, None)),
        ((600, None), (None, 2_097_152)),
    ]


@pytest.mark.parametrize(
    ("variable", "value"), [("FIREARMS_PARTNER_QUOTA_NOTICES", "0"), ("FIREARMS_PARTNER_QUOTA_BYTES", "1024")]
)
def test_serve_refuses_a_partner_quota_no_notice_could_meet_in_one_line(
    env: dict[str, str], variable: str, value: str
) -> None:
    code, out, err = _run({**env, variable: value}, "serve", "--no-worker", "--port", "9")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert f"{variable}={value!r}" in err
