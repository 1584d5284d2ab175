"""The NDJSON export's entries are the record's public shapes, not new ones (ITI para 13).

A marking, an event and a correction in the export carry the fields of :class:`Marking`, :class:`ItemEvent` and
:class:`Correction` (what the API answers when one is recorded) but ``item_id`` (the line's) and ``recorded_by``
(staff data), and the item's history shows the same fields with ``recorded_by`` and its time beside them: a field
added to one of the three and not to the export, or not to the history, fails here.
"""

from __future__ import annotations

import re

import msgspec
import pytest

from firearms import db
from firearms.item_types import Correction, ItemEvent, Marking

_KEY = re.compile(r"'(\w+)', ")
_NOT_EXPORTED = {"item_id", "recorded_by"}


def _history_part(table: str) -> str:
    """The part of ``list_item_history`` that reads ``table``."""
    (part,) = [part for part in db.QUERIES["list_item_history"].split("UNION ALL") if f"FROM {table} AS" in part]
    return part


@pytest.mark.parametrize(
    ("query", "table", "shape"),
    [
        ("list_export_markings", "marking", Marking),
        ("list_export_events", "item_event", ItemEvent),
        ("list_export_corrections", "item_correction", Correction),
    ],
)
def test_an_exported_entry_has_the_fields_of_its_struct_and_of_its_history_entry(
    query: str, table: str, shape: type[msgspec.Struct]
) -> None:
    exported = _KEY.findall(db.QUERIES[query])
    assert len(exported) == len(set(exported))
    assert set(exported) == set(shape.__struct_fields__) - _NOT_EXPORTED
    # the history names the time outside its detail (``at``), and the officer inside
    assert set(_KEY.findall(_history_part(table))) == set(exported) - {"recorded_at"} | {"recorded_by"}
