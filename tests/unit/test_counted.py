"""Counts in the command line's messages name their noun in its number."""

from __future__ import annotations

import pytest

from firearms.text_rules import counted


@pytest.mark.parametrize(
    ("count", "noun", "nouns", "said"),
    [
        (1, "checkpoint", None, "1 checkpoint"),
        (0, "checkpoint", None, "0 checkpoints"),
        (2, "checkpoint", None, "2 checkpoints"),
        (1, "entry", "entries", "1 entry"),
        (0, "entry", "entries", "0 entries"),
        (12, "entry", "entries", "12 entries"),
        (1, "idempotency key", None, "1 idempotency key"),
        (1, "byte", None, "1 byte"),
    ],
)
def test_a_count_names_its_noun_in_its_number(count: int, noun: str, nouns: str | None, said: str) -> None:
    """The command line printed "1 checkpoints", "1 rows read", "pruned 1 idempotency keys"."""
    assert counted(count, noun, nouns) == said
