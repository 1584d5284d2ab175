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
