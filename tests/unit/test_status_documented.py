"""The overview's JSON (``firearms status --json``, ``GET /api/v1/status``) is documented member by member in README
"Status", and so is every attention code: a monitoring script reads them."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from firearms import status

README = Path(__file__).parents[2] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("\n## Status\n") : text.index("\n## The journal\n")]


def _members(struct: type[msgspec.Struct]) -> set[str]:
    found: set[str] = set()
    for field in msgspec.structs.fields(struct):
        found.add(field.name)
        kind = field.type
        inner = getattr(kind, "__args__", (kind,))
        for part in inner:
            if isinstance(part, type) and issubclass(part, msgspec.Struct):
                found |= _members(part)
    return found


def test_every_member_of_the_overview_is_named_in_the_readme() -> None:
    named = set(re.findall(r"`([a-z_]+)(?:\[\])?`", _section()))
    missing = _members(status.Status) - named
    assert missing == set()


def test_every_attention_code_is_in_the_readmes_table() -> None:
    source = Path(status.__file__).read_text(encoding="utf-8")
    codes = set(re.findall(r'code="([a-z-]+)"', source))
    assert {"restore-failed", "journal-not-verified", "notices-waiting"} <= codes
    table = set(re.findall(r"^\| `([a-z]+-[a-z-]+)` \|", _section(), re.MULTILINE))
    assert codes == table
