from __future__ import annotations

import re
from pathlib import Path

from api.problems import TITLES

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "parties.py",
    "licences.py",
    "licence_versions.py",
    "licence_reads.py",
    "licence_rules.py",
    "consents.py",
    "ledger.py",
    "documents.py",
    "store/parties.py",
    "store/licences.py",
    "store/ledger.py",
    "received.py",
    "checks.py",
    "exchange/rotation.py",
]


def test_every_licensing_problem_code_has_a_title_and_a_readme_row() -> None:
    codes: set[str] = set()
    for module in MODULES:
        text = (ROOT / "firearms" / module).read_text(encoding="utf-8")
        codes |= set(re.findall(r'code="([a-z-]+)"', text))
        codes |= set(re.findall(r'code = "([a-z-]+)"', text))
        codes |= set(re.findall(r'_bad\([^)]*?"([a-z]+(?:-[a-z]+)+)"', text, flags=re.DOTALL))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(codes) > 30
    assert codes <= TITLES.keys(), sorted(codes - TITLES.keys())
    missing = sorted(code for code in codes if f"`{code}`" not in readme)
    assert missing == []
