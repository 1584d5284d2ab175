from __future__ import annotations

from pathlib import Path

from api.problems import TITLES
from firearms.imports import REASONS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
RECORD_CODES = [
    "item-already-registered",
    "illegal-transition",
    "import-marking-missing",
    "state-to-civilian-marking-missing",
    "deactivation-marking-missing",
    "already-imported",
    "verifier-is-deactivator",
    "certificate-already-recorded",
    "event-not-for-kind",
    "invalid-serial",
    "invalid-country",
    "year-in-future",
    "year-before-manufacture",
    "date-in-future",
    "date-before-manufacture",
    "date-before-previous-event",
    "padded-value",
    "invalid-text",
    "invalid-kind-fields",
    "antique-too-recent",
    "invalid-marking",
    "marking-required",
    "invalid-parent",
    "invalid-event-fields",
    "invalid-correction",
    "correction-breaks-history",
    "import-invalid-file",
    "import-rejected",
]


def test_every_records_problem_code_has_a_title_and_a_readme_row() -> None:
    for code in RECORD_CODES:
        assert code in TITLES, code
        assert f"| `{code}` |" in README, code


def test_every_import_reason_code_is_documented() -> None:
    for reason in REASONS:
        assert f"`{reason}`" in README, reason


def test_the_lifecycle_section_does_not_deny_the_date_rule_it_states() -> None:
    """The README stated the date-before-previous-event rule and, a paragraph later, that there was none."""
    section = README.split("### Lifecycle", 1)[1].split("\n### ", 1)[0]
    assert "`date-before-previous-event`" in section
    assert "not checked against the item's earlier events" not in section
