"""Patterns at the boundary match the whole value: Python's ``$`` also matches before a final newline.

msgspec and Litestar test a ``pattern`` with ``re.search``; ``^[A-Z]{2}$`` takes ``"AT\\n"`` as well as
``"AT"``, and a rule that refuses control characters let one through at the end of the value.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.routes import HTTPRoute

from api import create_app, idempotency, peers, received
from firearms import backup, check_rules, licence_object, tokens
from firearms.idempotency import KEY_PATTERN
from firearms.settings import Settings

_TYPES: list[tuple[str, Any, str]] = [
    ("token name", tokens.TokenName, "Jana Novak"),
    ("serial", check_rules.Serial, "AB-123"),
    ("check text", check_rules.Text, "Border crossing Nickelsdorf"),
    ("country", licence_object.CountryCode, "AT"),
    ("licence number", licence_object.LicenceNumber, "AT-2026-1"),
    ("peer State", peers.StateCode, "DE"),
    ("backup digest", backup.Hex32, "0" * 64),
]


@pytest.mark.parametrize(("what", "kind", "valid"), _TYPES, ids=[what for what, _, _ in _TYPES])
def test_a_value_with_a_newline_at_its_end_is_refused(what: str, kind: Any, valid: str) -> None:
    assert msgspec.convert(valid, kind) == valid
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(valid + "\n", kind)


def test_the_request_structs_refuse_a_newline_at_the_end_of_a_patterned_field() -> None:
    check = msgspec.json.decode(
        b'{"check_id":"00000000-0000-4000-8000-000000000001","movement":"export","licence_number":"AT-1",'
        b'"issuing_state":"AT\\n","crossing_point":"Nickelsdorf","lines":[{"line":1,"quantity":1}]}',
        type=dict,
    )
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(check, check_rules.CheckRequest)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"licence_number": "AT-1", "shipment_id": "S-1\n"}, received.ConfirmationRequest)


def test_every_query_path_and_header_pattern_of_the_app_matches_whole_values() -> None:
    """Every anchored pattern on a route parameter (a query's State code, the Idempotency-Key header)."""
    app = create_app(Settings(state="AT", home=Path("/nonexistent")), database_url="postgresql://unused/db")
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for parameter in handler.parsed_fn_signature.parameters.values():
                pattern = getattr(parameter.kwarg_definition, "pattern", None)
                if pattern and pattern.endswith("$"):
                    found.append((handler.handler_name, parameter.name, pattern))
    assert found  # the sweep sees the patterns
    loose = [(name, parameter) for name, parameter, pattern in found if not pattern.endswith(r"(?!\n)$")]
    assert not loose, loose


def test_the_idempotency_key_pattern_matches_whole_keys() -> None:
    assert re.search(KEY_PATTERN, "key-1")
    assert not re.search(KEY_PATTERN, "key-1\n")
    header = typing.get_args(idempotency.IdempotencyKeyHeader)[1].pattern
    assert re.search(header, '"key-1"')
    assert not re.search(header, '"key-1"\n')
