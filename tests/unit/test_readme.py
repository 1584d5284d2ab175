"""The README's problem table lists every problem code the API can answer with."""

from __future__ import annotations

from pathlib import Path

from api.problems import TITLES
from firearms.check_rules import POLICY

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_problem_code() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [code for code in TITLES if f"`{code}`" not in text]
    assert not missing, f"README lacks problem codes: {missing}"


def test_readme_lists_every_reason_code_with_its_policy() -> None:
    text = README.read_text(encoding="utf-8")
    for code, verdict in POLICY.items():
        assert f"| `{code}` | {verdict} |" in text, code
