from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from firearms.canonical import canonical, format_time, key_named_twice, parse_time
from firearms.errors import ConfigError, InvalidInputError
from firearms.pagination import decode_cursor, encode_cursor
from firearms.settings import load_settings
from firearms.signing import SigningKey, b64url_decode, b64url_encode, is_public_key, verify


def test_settings_read_environment_and_overrides(tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "CZ", "FIREARMS_HOME": str(tmp_path), "FIREARMS_PORT": "9000"}
    settings = load_settings(env)
    assert (settings.state, settings.home, settings.port) == ("CZ", tmp_path.resolve(), 9000)
    assert settings.database_url is None
    assert load_settings(env, port=9100, host=None).port == 9100
    assert settings.base_url == "http://127.0.0.1:9000"
    public = load_settings(env | {"FIREARMS_PUBLIC_URL": " https://registry.example.at/firearms/ "})
    assert public.base_url == "https://registry.example.at/firearms"
    with pytest.raises(ConfigError, match="--host"):
        load_settings(env, host="")


@pytest.mark.parametrize(
    ("variable", "option", "value"),
    [("FIREARMS_PORT", "port", 9100), ("FIREARMS_WORKERS", "workers", 2), ("FIREARMS_HOST", "host", "::1")],
)
def test_an_option_overrides_its_variable_even_when_the_variable_is_invalid(
    tmp_path: Path, variable: str, option: str, value: object
) -> None:
    """DESIGN §9: command-line options override the environment; ``--port 9100`` over ``FIREARMS_PORT=http`` serves.

    Before, ``FIREARMS_HOST=""`` gave way to ``--host`` but ``FIREARMS_PORT`` and ``FIREARMS_WORKERS`` were
    judged first, and the command stopped on a variable its option had replaced.
    """
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path), variable: "" if option == "host" else "http"}
    with pytest.raises(ConfigError, match=variable):
        load_settings(env)
    assert getattr(load_settings(env, **{option: value}), option) == value


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "FIREARMS_STATE is not set"),
        ({"FIREARMS_STATE": "ZZ"}, "not an ISO 3166-1"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_PORT": "http"}, "FIREARMS_PORT"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_PORT": "70000"}, "FIREARMS_PORT"),
        # str.isdigit() accepts superscripts that int() refuses: a ValueError, not a ConfigError
        ({"FIREARMS_STATE": "AT", "FIREARMS_PORT": "8²"}, "FIREARMS_PORT"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_WORKERS": "²"}, "FIREARMS_WORKERS"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_RETENTION_YEARS": "2²"}, "FIREARMS_RETENTION_YEARS"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_TACIT_CONSENT_DAYS": "²"}, "FIREARMS_TACIT_CONSENT_DAYS"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_AMMUNITION_LIMITS": "hunting=²"}, "FIREARMS_AMMUNITION_LIMITS"),
        # blank is not "unset": serve would listen on every interface, not on the default 127.0.0.1
        ({"FIREARMS_STATE": "AT", "FIREARMS_HOST": ""}, "FIREARMS_HOST"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_HOST": "  "}, "FIREARMS_HOST"),
        # the URL partners reach this registry at: what peers add takes for a partner's
        ({"FIREARMS_STATE": "AT", "FIREARMS_PUBLIC_URL": "registry.example.at"}, "FIREARMS_PUBLIC_URL"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_PUBLIC_URL": "ftp://registry.example.at"}, "FIREARMS_PUBLIC_URL"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_PUBLIC_URL": "https://u:pw@registry.example.at"}, "FIREARMS_PUBLIC_URL"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_PUBLIC_URL": "https://registry.example.at:99999"}, "FIREARMS_PUBLIC_URL"),
        ({"FIREARMS_STATE": "AT", "FIREARMS_PUBLIC_URL": "https://registry.example.at/?x=1"}, "FIREARMS_PUBLIC_URL"),
        # the owner's URL names an external database the service's URL must name too
        (
            {"FIREARMS_STATE": "AT", "FIREARMS_MIGRATION_DATABASE_URL": "postgresql://owner@db/firearms"},
            "FIREARMS_MIGRATION_DATABASE_URL is set without FIREARMS_DATABASE_URL",
        ),
    ],
)
def test_settings_refuse_bad_configuration(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_settings_read_the_owners_database_url_beside_the_services(tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path), "FIREARMS_DATABASE_URL": "postgresql://app@db/r"}
    assert load_settings(env).migration_database_url is None  # one URL does both, as before
    owner = load_settings(env | {"FIREARMS_MIGRATION_DATABASE_URL": "postgresql://owner@db/r"})
    assert (owner.database_url, owner.migration_database_url) == ("postgresql://app@db/r", "postgresql://owner@db/r")


def test_settings_read_the_time_zone_as_an_iana_name(tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path)}
    assert load_settings(env).time_zone.key == "UTC"
    assert load_settings(env | {"FIREARMS_TIME_ZONE": "Europe/Vienna"}).time_zone == ZoneInfo("Europe/Vienna")
    assert load_settings(env | {"FIREARMS_TIME_ZONE": " Pacific/Auckland "}).time_zone.key == "Pacific/Auckland"


@pytest.mark.parametrize("name", ["Europe/Vienn", "Mars/Olympus_Mons", "Europe", "", "/etc/localtime", "../etc/passwd"])
def test_settings_refuse_an_unknown_time_zone_in_one_line(name: str, tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path), "FIREARMS_TIME_ZONE": name}
    with pytest.raises(
        ConfigError, match=r"^FIREARMS_TIME_ZONE=.* is not an IANA time zone name \(e.g. Europe/Vienna\)$"
    ):
        load_settings(env)


def test_canonical_refuses_floats_and_unsafe_integers() -> None:
    assert canonical({"b": [1, {"d": None, "c": True}], "a": "é/"}) == '{"a":"é/","b":[1,{"c":true,"d":null}]}'.encode()
    with pytest.raises(ValueError, match="floats"):
        canonical({"quantity": 1.5})
    with pytest.raises(ValueError, match="outside"):
        canonical([2**53])


def test_times_are_utc_with_z() -> None:
    moment = dt.datetime(2026, 11, 29, 10, 15, tzinfo=dt.UTC)
    assert format_time(moment) == "2026-11-29T10:15:00Z"
    assert parse_time("2026-11-29T10:15:00Z") == moment
    with pytest.raises(ValueError, match="naive"):
        format_time(dt.datetime(2026, 1, 1))  # noqa: DTZ001  # the point of the test
    with pytest.raises(ValueError, match="Z"):
        parse_time("2026-11-29T10:15:00+01:00")


@pytest.mark.parametrize("text", ["AA==", "A", "a+b/", "ab c", "AB"])
def test_b64url_is_strict(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_b64url_round_trip() -> None:
    for size in range(40):
        data = bytes(range(size))
        assert b64url_decode(b64url_encode(data)) == data


def test_signature_verifies_and_tampering_does_not() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"licence AT-EXP-1")
    assert verify(key.public_key, b"licence AT-EXP-1", signature)
    assert not verify(key.public_key, b"licence AT-EXP-2", signature)
    assert not verify(key.public_key, b"licence AT-EXP-1", bytes(64))
    assert not verify(b"short", b"licence AT-EXP-1", signature)


def test_a_key_reads_back_from_its_pem(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "k.pem"
    path.write_bytes(key.pem())
    loaded = SigningKey.load(path)
    assert (loaded.public_key, loaded.key_id) == (key.public_key, key.key_id)
    assert loaded.sign(b"notice") == key.sign(b"notice")  # Ed25519 signatures are deterministic


def test_cursor_round_trip_and_refusal() -> None:
    moment = dt.datetime(2026, 11, 29, 10, 15, 1, 5, tzinfo=dt.UTC)
    token_id = uuid.uuid4()
    assert decode_cursor(encode_cursor(moment, token_id), dt.datetime, uuid.UUID) == (moment, token_id)
    with pytest.raises(InvalidInputError):
        decode_cursor(encode_cursor("x"), int)
    with pytest.raises(InvalidInputError):
        decode_cursor("!!", int)


def test_retention_is_per_state_configuration_never_below_the_protocol(tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path)}
    assert load_settings(env).retention_years == 30
    assert load_settings(env | {"FIREARMS_RETENTION_YEARS": "20"}).retention_years == 20
    for bad in ("9", "ten", "101"):
        with pytest.raises(ConfigError, match="FIREARMS_RETENTION_YEARS"):
            load_settings(env | {"FIREARMS_RETENTION_YEARS": bad})


def test_exchange_timings_are_seconds_above_zero_up_to_a_day(tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path)}
    assert load_settings(env | {"FIREARMS_EXCHANGE_TIMEOUT": "2.5"}).exchange_timeout == 2.5
    assert load_settings(env | {"FIREARMS_EXCHANGE_RETRY_CAP": "86400"}).exchange_retry_cap == 86400
    for bad in ("0", "-1", "86401"):
        with pytest.raises(
            ConfigError, match=r"^FIREARMS_EXCHANGE_RETRY_BASE=.* more than 0 and at most 86400 seconds$"
        ):
            load_settings(env | {"FIREARMS_EXCHANGE_RETRY_BASE": bad})
    with pytest.raises(ConfigError, match="is not a number of seconds"):
        load_settings(env | {"FIREARMS_EXCHANGE_TIMEOUT": "soon"})


def test_a_partners_default_quota_is_a_bound_a_notice_can_always_meet(tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path)}
    assert (load_settings(env).partner_quota_notices, load_settings(env).partner_quota_bytes) == (10_000, 64 << 20)
    given = load_settings(env | {"FIREARMS_PARTNER_QUOTA_NOTICES": "1", "FIREARMS_PARTNER_QUOTA_BYTES": "262144"})
    assert (given.partner_quota_notices, given.partner_quota_bytes) == (1, 262_144)
    for name, bad in (
        ("NOTICES", "0"),
        ("NOTICES", "2147483648"),
        ("NOTICES", "many"),
        ("BYTES", "262143"),  # below one envelope: a notice of 256 KiB refused for ever
        ("BYTES", "-1"),
        ("BYTES", ""),
    ):
        with pytest.raises(ConfigError, match=rf"^FIREARMS_PARTNER_QUOTA_{name}="):
            load_settings(env | {f"FIREARMS_PARTNER_QUOTA_{name}": bad})


def test_settings_read_workers_as_a_number_of_api_processes(tmp_path: Path) -> None:
    env = {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(tmp_path)}
    assert load_settings(env).workers == 1
    assert load_settings(env | {"FIREARMS_WORKERS": "4"}).workers == 4
    assert load_settings(env | {"FIREARMS_WORKERS": "64"}).workers == 64
    assert load_settings(env | {"FIREARMS_WORKERS": "4"}, workers=2).workers == 2
    for bad in ("0", "65", "-1", "two", "", "1.5"):
        with pytest.raises(ConfigError, match=r"^FIREARMS_WORKERS=.* \(1-64\)$"):
            load_settings(env | {"FIREARMS_WORKERS": bad})


def test_a_small_order_public_key_verifies_nothing() -> None:
    # the identity point: with it, R = identity and S = 0 "verify" every message (RFC 8032 cofactored check)
    identity = bytes([1]) + bytes(31)
    assert not verify(identity, b"any notice at all", identity + bytes(32))
    assert not is_public_key(identity)
    assert not is_public_key(bytes([0xFF]) * 32)  # not a point of the curve
    assert is_public_key(SigningKey.generate().public_key)


def test_key_named_twice_names_the_first_repeated_key_at_any_depth() -> None:
    assert key_named_twice(b'{"a": 1, "b": {"c": 2}}') is None
    assert key_named_twice(b'{"role": "auditor", "role": "admin"}') == "role"
    assert key_named_twice(b'{"lines": [{"line": 1, "quantity": 2, "quantity": 900}], "x": 1, "x": 2}') == "quantity"
    with pytest.raises(ValueError, match="Expecting"):
        key_named_twice(b'{"a": ')
