"""The README's problem table lists every problem code the API can answer with."""

from __future__ import annotations

from pathlib import Path

from api.problems import TITLES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_problem_code() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [code for code in TITLES if f"`{code}`" not in text]
    assert not missing, f"README lacks problem codes: {missing}"
