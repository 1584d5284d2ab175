"""Input patterns end where the value ends: in Python's ``re`` a final ``$`` also matches before a final line feed.

msgspec and Litestar check a ``pattern`` with ``re.search``, so ``^[A-Z]{2}$`` let ``"AT\\n"`` through: a State code,
a licence number, a peer's URL or a token name could end in a line feed. ``$(?!\\n)`` refuses it, and to a
JSON Schema (ECMA-262) reader of the OpenAPI document it means what ``$`` means.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import msgspec
import pytest

from firearms.check_rules import CheckRequest
from firearms.exchange.protocol import Notice, is_time
from firearms.licence_object import CountryCode, LicenceNumber
from firearms.tokens import TokenName

ROOT = Path(__file__).parent.parent.parent


def _pattern_literals() -> list[tuple[str, str]]:
    """Every string given as ``pattern=`` in the application's code, with where it is."""
    found = []
    for folder in ("firearms", "api", "cli"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.keyword) and node.arg == "pattern":
                    parts = [node.value] if isinstance(node.value, ast.Constant) else list(ast.walk(node.value))
                    text = "".join(
                        part.value for part in parts if isinstance(part, ast.Constant) and isinstance(part.value, str)
                    )
                    found.append((f"{path.relative_to(ROOT)}:{node.value.lineno}", text))
    return found


PATTERNS = _pattern_literals()


def test_the_scan_finds_the_patterns() -> None:
    assert len(PATTERNS) > 20


@pytest.mark.parametrize(("where", "pattern"), PATTERNS, ids=[where for where, _ in PATTERNS])
def test_an_anchored_pattern_refuses_a_final_line_feed(where: str, pattern: str) -> None:
    if "$" in pattern:
        assert pattern.endswith("$(?!\\n)"), f"{where}: {pattern!r} ends in a bare $"


@pytest.mark.parametrize(
    ("kind", "value"),
    [(CountryCode, "DE"), (LicenceNumber, "AT-EXP-2026-000123"), (TokenName, "customs desk 4")],
)
def test_a_value_with_a_final_line_feed_is_refused(kind: object, value: str) -> None:
    assert msgspec.convert(value, kind) == value
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(value + "\n", kind)


def test_check_and_notice_fields_refuse_a_final_line_feed() -> None:
    for struct, field in ((CheckRequest, "issuing_state"), (Notice, "sender"), (Notice, "recipient")):
        info = msgspec.inspect.type_info(struct)
        assert isinstance(info, msgspec.inspect.StructType)
        (found,) = [f for f in info.fields if f.name == field]
        assert isinstance(found.type, msgspec.inspect.StrType)
        assert found.type.pattern is not None
        assert re.search(found.type.pattern, "AT")
        assert re.search(found.type.pattern, "AT\n") is None


def test_a_protocol_time_with_a_final_line_feed_is_no_time() -> None:
    assert is_time("2026-11-29T10:15:00Z")
    assert not is_time("2026-11-29T10:15:00Z\n")
