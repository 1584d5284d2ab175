"""The bulk import's SQL rules and the API's Python rules give the same code for the same fault."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest

from firearms import db, imports
from firearms.errors import InvalidInputError
from firearms.import_files import COLUMNS
from firearms.item_rules import validate_item
from firearms.item_types import NewItem, NewMarking

TODAY = dt.datetime.now(dt.UTC).date()
NEXT_YEAR = str(TODAY.year + 1)
BASE = {
    "kind": "firearm",
    "firearm_type": "pistol",
    "manufacturer": "Glock GmbH",
    "country_of_manufacture": "AT",
    "serial": "RA-1",
    "make": "Glock",
    "year_of_manufacture": "2015",
    "marking_stamped": "GLOCK RA-1",
}
FAULTS: list[dict[str, str]] = [
    {"country_of_manufacture": "XX"},
    {"year_of_manufacture": NEXT_YEAR},
    {"serial": "A\x07B"},
    {"serial": " AB"},
    {"serial": "AB#"},
    {"serial": "--"},
    {"make": " Glock"},
    {"make": "Glock\u00a0"},
    {"make": "Gl\x1bock"},
    {"manufacturer": "Glock\tGmbH"},
    {"category": "antique"},
    {"quantity": "5"},
    {"firearm_type": ""},
    {"marking_stamped": ""},
    {"marking_kind": "geometric"},
    {"import_stamped": "AT 24"},
    {"import_stamped": "AT 24", "import_country": "AT", "import_year": NEXT_YEAR},
    {"import_stamped": "AT 24", "import_country": "XX"},
    {"import_stamped": "AT 14", "import_country": "AT", "import_year": "2014"},
]


def to_new_item(row: dict[str, str]) -> NewItem:
    def value(name: str) -> Any:
        return row.get(name) or None

    markings: list[NewMarking] = []
    if value("marking_stamped") or value("marking_kind"):
        markings.append(
            NewMarking(
                kind=value("marking_kind") or "manufacture",
                stamped=row.get("marking_stamped", ""),
                symbol_code=value("symbol_code"),
                alphanumeric_code=value("alphanumeric_code"),
            )
        )
    if value("import_stamped"):
        year = value("import_year")
        markings.append(
            NewMarking(
                kind="import",
                stamped=row["import_stamped"],
                country=value("import_country"),
                year=int(year) if year else None,
            )
        )
    fields = {
        name: value(name)
        for name in ("kind", "firearm_type", "manufacturer", "country_of_manufacture", "serial", "make", "category")
    }
    fields["serial"] = row.get("serial", "")
    fields["year_of_manufacture"] = int(row["year_of_manufacture"]) if value("year_of_manufacture") else None
    fields["quantity"] = int(row["quantity"]) if value("quantity") else None
    return msgspec.convert({**fields, "markings": [msgspec.to_builtins(m) for m in markings]}, NewItem)


def python_code(row: dict[str, str]) -> str | None:
    try:
        validate_item(to_new_item(row), TODAY)
    except InvalidInputError as exc:
        return exc.code
    return None


async def test_sql_and_python_rules_agree(conn: db.Conn, tmp_path: Path) -> None:
    rows = [{**BASE, "serial": f"RA-{n}", **fault} for n, fault in enumerate(FAULTS)]
    rows.append({**BASE, "serial": "RA-OK"})
    path = tmp_path / "agree.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    result = await imports.import_file(conn, path, actor="test", today=TODAY)
    sql = {r.line - 2: r.reason for r in result.rejections}
    for index, row in enumerate(rows):
        assert sql.get(index) == python_code(row), (index, row)
    # one fault is one reason: a rule that depends on another is not judged on its fault's value
    assert [r.reasons for r in result.rejections] == [[r.reason] for r in result.rejections]
    assert result.inserted == 1


def test_corpus_covers_every_row_rule() -> None:
    codes = {python_code({**BASE, **fault}) for fault in FAULTS}
    assert codes >= {
        "invalid-country",
        "year-in-future",
        "invalid-serial",
        "padded-value",
        "invalid-text",
        "antique-too-recent",
        "invalid-kind-fields",
        "marking-required",
        "invalid-marking",
        "year-before-manufacture",
    }
    assert None not in codes
    with pytest.raises(InvalidInputError) as empty:
        validate_item(to_new_item({**BASE, "serial": ""}), TODAY)
    assert (empty.value.code, empty.value.facts) == ("invalid-serial", {"field": "serial"})
