"""DESIGN §10 (contract) command lines no other CLI test ran to success."""

from __future__ import annotations

import json

from tests.cli.test_exchange_cli import DE_KEY, _run, env
from tests.exchange_util import VECTORS

__all__ = ["env"]


def test_peers_add_takes_not_before_and_peers_list_shows_it(env: dict[str, str]) -> None:
    """``firearms peers add STATE --url URL --public-key B64URL --not-before RFC3339``, then ``peers list``."""
    code, out, err = _run(
        env, "peers", "add", "DE", "--url", "http://127.0.0.1:8081", "--public-key", DE_KEY,
        "--not-before", "2026-12-01T00:00:00Z",
    )  # fmt: skip
    assert code == 0, err
    added = json.loads(out)
    (key,) = added["keys"]
    assert (key["key_id"], key["not_before"]) == (VECTORS["keys"]["DE"]["key_id"], "2026-12-01T00:00:00Z")
    listed = [json.loads(line) for line in _run(env, "peers", "list")[1].splitlines()]
    assert [(item["state"], item["keys"][0]["not_before"]) for item in listed] == [("DE", "2026-12-01T00:00:00Z")]


def test_peers_add_takes_any_rfc_3339_time_as_not_before(env: dict[str, str]) -> None:
    """DESIGN §10 says ``--not-before RFC3339``: an offset (``date -Iseconds`` prints one), RFC 3339's lower-case
    ``t`` and ``z`` and the space its note allows (``date --rfc-3339=seconds``) are RFC 3339 too, and name one
    UTC moment. Before, only ``...Z`` was taken: ``2026-12-01T01:00:00+01:00`` was "not an RFC 3339 UTC time"."""
    for state, given in (
        ("DE", "2026-12-01T01:00:00+01:00"),
        ("CZ", "2026-11-30t19:00:00-05:00"),
        ("FR", "2026-12-01t00:00:00z"),
    ):
        key = DE_KEY if state == "DE" else VECTORS["keys"]["OTHER" if state == "CZ" else "AT"]["public_key"]
        code, out, err = _run(
            env, "peers", "add", state, "--url", f"http://{state.lower()}.example", "--public-key", key,
            "--not-before", given,
        )  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["keys"][0]["not_before"] == "2026-12-01T00:00:00Z", given


def test_peers_add_refuses_a_not_before_that_is_no_rfc_3339_time(env: dict[str, str]) -> None:
    """A time without its zone names no moment, and a date alone is no RFC 3339 date-time: usage errors. (One whose
    offset puts it before the year 1 in UTC is an RFC 3339 time out of the trust list's range: exit 1,
    ``tests/cli/test_exchange_cli.py``.)"""
    for given in (
        "2026-12-01T00:00:00",
        "2026-12-01",
        "2026-12-01T00:00Z",
        "2026-12-01T00:00:00+0100",
        "2026-12-31T24:00:00Z",
    ):
        code, out, err = _run(
            env, "peers", "add", "DE", "--url", "http://de.example", "--public-key", DE_KEY, "--not-before", given
        )
        assert (code, out) == (2, ""), given
        assert "RFC 3339" in err
    assert _run(env, "peers", "list")[1] == ""
