from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import random
import time
import tracemalloc
from pathlib import Path

import pytest

from firearms import db, imports
from firearms.errors import InvalidInputError
from firearms.import_files import COLUMNS, EXPORT_ONLY_COLUMNS, MAX_LINE, Format, SourceFile, read_rows

ACTOR = "test:import"
TODAY = dt.datetime.now(dt.UTC).date()
HEADER = list(COLUMNS)


def row(serial: str, **changes: str) -> dict[str, str]:
    fields = {
        "kind": "firearm",
        "firearm_type": "pistol",
        "make": "Glock",
        "model": "17",
        "calibre": "9x19",
        "year_of_manufacture": "2015",
        "country_of_manufacture": "AT",
        "category": "B",
        "manufacturer": "Glock GmbH",
        "serial": serial,
        "marking_kind": "manufacture",
        "marking_stamped": f"GLOCK AUSTRIA {serial}",
    }
    fields.update(changes)
    return fields


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


async def counts(conn: db.Conn) -> tuple[int, int, int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM item), (SELECT count(*) FROM marking), (SELECT count(*) FROM item_import),"
        " (SELECT count(*) FROM journal_entry)"
    )
    assert row is not None
    return (row[0], row[1], row[2], row[3])


async def test_import_inserts_valid_rows_reports_bad_ones_and_journals_one_entry(conn: db.Conn, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "dealer.csv",
        [
            row("AAA-001"),
            row("AAA-002", import_stamped="AT 24", import_country="AT", import_year="2024"),
            row("AAA-003", country_of_manufacture="XX"),
            row(" AAA-004"),
            row("AAA-005", year_of_manufacture="2999"),
            row("AAA-001"),
            row("AAA-006", marking_stamped="", marking_kind=""),
        ],
    )
    report = imports.report_path_for(path)
    result = await imports.import_file(conn, path, actor=ACTOR, report=report, today=TODAY)
    assert (result.rows_read, result.inserted, result.already_registered, result.rejected) == (7, 2, 0, 5)
    assert [(r.line, r.reason) for r in result.rejections] == [
        (4, "invalid-country"),
        (5, "invalid-serial"),
        (6, "year-in-future"),
        (7, "duplicate-in-file"),
        (8, "marking-required"),
    ]
    with report.open(encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["line", "reason", "serial", "item_id", "reasons"]
    assert lines[1] == ["4", "invalid-country", "AAA-003", "", "invalid-country"]
    assert len(lines) == 6
    assert await counts(conn) == (2, 3, 1, 1)
    entry = await conn.fetchrow("SELECT action, payload FROM journal_entry")
    assert entry is not None
    assert entry["action"] == "items.imported"
    assert entry["payload"]["inserted"] == 2
    assert entry["payload"]["sha256"] == result.sha256


async def test_a_row_with_several_faults_is_reported_with_every_reason(conn: db.Conn, tmp_path: Path) -> None:
    # only the first rule broken was reported: whoever corrected the file fixed it, imported again, and met the next
    path = write_csv(
        tmp_path / "dealer.csv",
        [
            row("M-0"),
            row("M-1", country_of_manufacture="XX", year_of_manufacture="2999", marking_stamped="", marking_kind=""),
            row(" M-2", make=" Glock", quantity="5"),
            row("M-3", year_of_manufacture="19x5", category="antique"),  # the year unread: no year rule judged
            row("M-4", country_of_manufacture="XX", import_stamped="AT 14", import_country="AT", import_year="2014"),
            row("M-5", kind="blaster", marking_stamped="X\x07"),
            row("M-6", quantity="99999999999"),  # too many digits; and a firearm has no quantity
            row("M-7", country_of_manufacture="XX"),
            row("M-0"),
        ],
    )
    report = imports.report_path_for(path)
    result = await imports.import_file(conn, path, actor=ACTOR, report=report, today=TODAY)
    assert (result.inserted, result.rejected) == (1, 8)
    assert [(r.line, r.reason, r.reasons) for r in result.rejections] == [
        (3, "invalid-country", ["invalid-country", "year-in-future", "marking-required"]),
        (4, "padded-value", ["padded-value", "invalid-serial", "invalid-kind-fields"]),
        (5, "invalid-number", ["invalid-number"]),
        (6, "invalid-country", ["invalid-country", "year-before-manufacture"]),
        (7, "invalid-value", ["invalid-value", "invalid-text"]),
        (8, "invalid-number", ["invalid-number", "invalid-kind-fields"]),
        (9, "invalid-country", ["invalid-country"]),
        (10, "duplicate-in-file", ["duplicate-in-file"]),
    ]
    with report.open(encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["line", "reason", "serial", "item_id", "reasons"]
    assert lines[1] == ["3", "invalid-country", "M-1", "", "invalid-country; year-in-future; marking-required"]
    assert len(lines) == 9
    # a row already registered has that reason alone
    again = await imports.import_file(conn, write_csv(tmp_path / "again.csv", [row("M-0")]), actor=ACTOR, today=TODAY)
    assert [(r.reason, r.reasons) for r in again.rejections] == [("already-registered", ["already-registered"])]


async def test_rejected_rows_report_never_hands_a_spreadsheet_a_formula(conn: db.Conn, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "dealer.csv", [row("OK-1"), row("=cmd|' /C calc'!A0"), row("@SUM(1+1)*cmd|' /C x'!A0")])
    report = imports.report_path_for(path)
    result = await imports.import_file(conn, path, actor=ACTOR, report=report, today=TODAY)
    assert [(r.reason, r.serial) for r in result.rejections] == [
        ("invalid-serial", "=cmd|' /C calc'!A0"),
        ("invalid-serial", "@SUM(1+1)*cmd|' /C x'!A0"),
    ]
    with report.open(encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    assert [line[2] for line in lines[1:]] == ["'=cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C x'!A0"]


def _peak_bytes_reading(path: Path, fmt: Format) -> int:
    """The most memory (bytes, Python allocations) read_rows holds while it reads ``path`` to its end."""
    tracemalloc.start()
    try:
        source = SourceFile(path)
        try:
            with contextlib.suppress(InvalidInputError):
                for _ in read_rows(source, fmt):
                    pass
        finally:
            source.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_an_export_list_of_many_small_values_is_skipped_without_holding_each_value(
    conn: db.Conn, tmp_path: Path
) -> None:
    """A line just under 1 MiB whose ``events`` holds 500,000 zeros: read as a list of raw values, it took 32 MB
    (an object per value, 64 bytes each for 2 bytes of the file) and half a second a line; the list is skipped."""
    lot = {"kind": "ammunition", "manufacturer": "Hirtenberger", "country_of_manufacture": "AT", "quantity": 5}
    path = tmp_path / "many.ndjson"
    many = json.dumps({**lot, "serial": "MANY-1"})[:-1] + ', "events": [' + ",".join(["0"] * 500_000) + "]}"
    assert len(many) < MAX_LINE
    path.write_text(many + "\n" + json.dumps({**lot, "serial": "MANY-2", "markings": {}}) + "\n", encoding="utf-8")
    assert _peak_bytes_reading(path, "ndjson") < 4 << 20
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert result.inserted == 1
    assert [(r.line, r.reason) for r in result.rejections] == [(2, "malformed-line")]  # a list, or nothing
    assert await conn.fetchval("SELECT serial FROM item") == "MANY-1"


@pytest.mark.parametrize("element", ["0", "{}"])
async def test_an_export_list_is_skipped_unread_when_a_text_of_the_line_holds_a_quote(
    conn: db.Conn, tmp_path: Path, element: str
) -> None:
    """A model named ``17 "Gen5"`` (written ``17 \\"Gen5\\"``) made the key-twice check read the whole line again
    with Python's parser, its lists too: 8 MB for 500,000 zeros, 24 MB and 80 ms a line for 330,000 ``{}``,
    where the same line without the quote took under 3 MB and 4 ms. The quotes are now counted as written."""
    lot = {"kind": "ammunition", "manufacturer": "Hirtenberger", "country_of_manufacture": "AT", "quantity": 5}
    path = tmp_path / "quoted.ndjson"
    many = ",".join([element] * (500_000 if element == "0" else 330_000))
    line = json.dumps({**lot, "serial": "MANY-1", "model": '17 "Gen5"'})[:-1] + f', "events": [{many}]}}'
    assert len(line) < MAX_LINE
    path.write_text(line + "\n", encoding="utf-8")
    assert _peak_bytes_reading(path, "ndjson") < 4 << 20
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert (result.inserted, result.rejections) == (1, [])
    assert await conn.fetchval("SELECT model FROM item") == '17 "Gen5"'


async def test_a_huge_line_is_never_read_into_memory_whole(conn: db.Conn, tmp_path: Path) -> None:
    huge = "A" * (32 << 20)  # a 32 MiB line: an upload may be 1 GiB, and an officer's file one line
    ndjson = tmp_path / "huge.ndjson"
    ndjson.write_text(json.dumps(row("BIG-1", make=huge)) + "\n" + json.dumps(row("BIG-2")) + "\n", encoding="utf-8")
    cells = tmp_path / "huge.csv"
    write_csv(cells, [row("BIG-3", make=huge), row("BIG-4")])
    del huge
    assert _peak_bytes_reading(ndjson, "ndjson") < 8 << 20
    assert _peak_bytes_reading(cells, "csv") < 8 << 20

    result = await imports.import_file(conn, ndjson, actor=ACTOR, today=TODAY)
    assert [(r.line, r.reason) for r in result.rejections] == [(1, "malformed-line")]
    assert result.inserted == 1
    with pytest.raises(InvalidInputError) as refused:
        await imports.import_file(conn, cells, actor=ACTOR, today=TODAY)
    assert refused.value.code == "import-invalid-file"
    assert refused.value.facts["line"] == 2


async def test_rerunning_the_same_file_creates_no_duplicates(conn: db.Conn, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "again.csv", [row(f"RR-{n}") for n in range(50)])
    first = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    before = await counts(conn)
    second = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert first.inserted == 50
    assert (second.inserted, second.already_registered, second.import_id) == (0, 50, None)
    assert second.rejections[0].reason == "already-registered"
    assert second.rejections[0].item_id is not None
    assert await counts(conn) == before


async def test_entirely_invalid_file_changes_nothing(conn: db.Conn, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [row("", kind="spaceship"), row("X\x07Y"), row("OK-1", quantity="3")])
    before = await counts(conn)
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert (result.inserted, result.rejected, result.import_id) == (0, 3, None)
    assert [r.reason for r in result.rejections] == ["invalid-value", "invalid-serial", "invalid-kind-fields"]
    assert await counts(conn) == before


async def test_csv_rejections_name_the_line_a_record_starts_on(conn: db.Conn, tmp_path: Path) -> None:
    """A quoted value may hold a line break: the record is reported at its first line, as an editor shows it."""
    path = write_csv(
        tmp_path / "multi.csv",
        [
            row("ML-1", marking_stamped="GLOCK\r\nAUSTRIA ML-1", country_of_manufacture="XX"),
            row("ML-2", country_of_manufacture="XX"),
            row("ML-3"),
        ],
    )
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert [(r.line, r.reason, r.serial) for r in result.rejections] == [
        (2, "invalid-country", "ML-1"),
        (4, "invalid-country", "ML-2"),
    ]
    assert result.inserted == 1


async def test_csv_value_with_text_after_its_closing_quote_is_refused_not_altered(
    conn: db.Conn, tmp_path: Path
) -> None:
    """``"Glock"x GmbH`` is not a CSV value: it is refused, never stored as ``Glockx GmbH``."""
    path = tmp_path / "quotes.csv"
    path.write_text(
        "kind,firearm_type,manufacturer,country_of_manufacture,serial,marking_stamped\r\n"
        'firearm,pistol,"Glock"x GmbH,AT,Q-1,GLOCK Q-1\r\n'
        "firearm,pistol,Glock GmbH,AT,Q-2,GLOCK Q-2\r\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError) as caught:
        await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert (caught.value.code, caught.value.facts["line"]) == ("import-invalid-file", 2)
    assert await conn.fetchval("SELECT count(*) FROM item") == 0
    path.write_text('"kind"x,manufacturer,country_of_manufacture,serial\r\n', encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert caught.value.code == "import-invalid-file"


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param('"' + "x" * 140_000, id="value-beyond-the-csv-field-limit"),
        pytest.param('"GLOCK"x,"stamp', id="text-after-a-closing-quote"),
    ],
)
async def test_csv_that_cannot_be_parsed_is_refused_whole_never_resynced_inside_a_quoted_value(
    broken: str, conn: db.Conn, tmp_path: Path
) -> None:
    """After a CSV syntax error the reader restarts at the next physical line, which may lie inside a
    quoted value: the text in that value must never be imported as a record of its own.
    """
    path = tmp_path / "smuggled.csv"
    path.write_text(
        "kind,firearm_type,manufacturer,country_of_manufacture,serial,marking_stamped\r\n"
        "firearm,pistol,Glock GmbH,AT,OK-1,GLOCK OK-1\r\n"
        f"firearm,pistol,Glock GmbH,AT,OK-2,{broken}\r\n"
        "firearm,pistol,Evil,AT,EVIL-1,EVIL EVIL-1\r\n"
        'end"\r\n',
        encoding="utf-8",
    )
    before = await counts(conn)
    with pytest.raises(InvalidInputError) as caught:
        await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert caught.value.code == "import-invalid-file"
    assert caught.value.facts["line"] == 3
    assert await counts(conn) == before


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param(
            "header-only.csv", "kind,manufacturer,country_of_manufacture,serial\r\n\r\n", id="csv-header-only"
        ),
        pytest.param("empty.ndjson", "", id="ndjson-0-bytes"),
        pytest.param("blank.ndjson", "\n  \n", id="ndjson-blank-lines"),
    ],
)
async def test_a_file_without_records_is_refused_like_an_empty_csv(
    name: str, content: str, conn: db.Conn, tmp_path: Path
) -> None:
    """A 0-byte CSV is import-invalid-file; a CSV with only its header, or an empty NDJSON file, is no better."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    before = await counts(conn)
    with pytest.raises(InvalidInputError) as caught:
        await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert caught.value.code == "import-invalid-file"
    assert await counts(conn) == before


async def test_csv_with_unknown_column_is_refused_whole(conn: db.Conn, tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("kind,manufacturer,country_of_manufacture,serial,colour\nfirearm,A,AT,1,red\n", encoding="utf-8")
    before = await counts(conn)
    with pytest.raises(InvalidInputError) as caught:
        await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert caught.value.code == "import-invalid-file"
    assert caught.value.facts["unknown_columns"] == ["colour"]
    assert await counts(conn) == before


async def test_ndjson_import_with_malformed_lines(conn: db.Conn, tmp_path: Path) -> None:
    path = tmp_path / "lots.ndjson"
    lines = [
        json.dumps(
            {
                "kind": "ammunition",
                "manufacturer": "Hirtenberger",
                "country_of_manufacture": "AT",
                "serial": "LOT-2024-07",
                "calibre": "9x19",
                "quantity": 800,
                "headstamp": "HP 24",
            }
        ),
        "{not json",
        json.dumps({"kind": "ammunition", "serial": "X", "colour": "red"}),
        json.dumps(
            {
                "kind": "ammunition",
                "manufacturer": "Hirtenberger",
                "country_of_manufacture": "AT",
                "serial": "LOT-2024-08",
                "quantity": 1.5,
            }
        ),
        "",
        json.dumps(
            {
                "kind": "ammunition",
                "manufacturer": "Hirtenberger",
                "country_of_manufacture": "AT",
                "serial": "LOT\u00002",
                "quantity": 5,
            }
        ),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert result.inserted == 1
    assert [(r.line, r.reason) for r in result.rejections] == [
        (2, "malformed-line"),
        (3, "malformed-line"),
        (4, "malformed-line"),
        (6, "invalid-serial"),
    ]
    item = await conn.fetchrow("SELECT quantity, headstamp, serial_normalised FROM item")
    assert item is not None
    assert tuple(item) == (800, "HP 24", "LOT202407")


async def test_ndjson_import_ignores_the_complete_exports_lists_and_nothing_else(conn: db.Conn, tmp_path: Path) -> None:
    """An NDJSON export's ``markings``, ``events`` and ``corrections`` (lists) are ignored, as its item_id is; a
    value of them that is no list, or another key, still makes the line malformed."""
    lot = {"kind": "ammunition", "manufacturer": "Hirtenberger", "country_of_manufacture": "AT", "quantity": 5}
    whole = {
        "markings": [{"marking_id": 1, "kind": "manufacture", "stamped": "HP"}],
        "events": [{"event_id": 2, "event": "transferred", "to_party": "Waffen Huber KG"}],
        "corrections": [],
    }
    path = tmp_path / "export.ndjson"
    lines = [
        {**lot, "serial": "EXP-1", "item_id": 7, "status": "active", **whole},
        {**lot, "serial": "EXP-2", "markings": "none"},
        {**lot, "serial": "EXP-3", "events": {"event_id": 2}},
        {**lot, "serial": "EXP-4", "history": []},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert result.inserted == 1
    assert [(r.line, r.reason) for r in result.rejections] == [
        (2, "malformed-line"),
        (3, "malformed-line"),
        (4, "malformed-line"),
    ]
    assert await conn.fetchval("SELECT count(*) FROM item_event") == 0
    assert await conn.fetchval("SELECT count(*) FROM marking") == 0
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("kind,manufacturer,country_of_manufacture,serial,markings\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as caught:
        await imports.import_file(conn, csv_path, actor=ACTOR, today=TODAY)
    assert caught.value.facts["unknown_columns"] == ["markings"]


@pytest.mark.parametrize("key", ["markings", "events", "corrections"])
async def test_ndjson_export_list_nested_too_deeply_is_a_malformed_line(
    conn: db.Conn, tmp_path: Path, key: str
) -> None:
    """The export's lists are skipped unread, and skipping JSON 5,000 arrays deep (10 kB) gives up (RecursionError):
    that line is malformed, as it was when the lists were refused as values of the wrong type; the rest imports."""
    lot = {"kind": "ammunition", "manufacturer": "Hirtenberger", "country_of_manufacture": "AT", "quantity": 5}
    deep = json.dumps({**lot, "serial": "DEEP-1"})[:-1] + f', "{key}": [' + "[" * 5000 + "]" * 5000 + "]}"
    path = tmp_path / "deep.ndjson"
    path.write_text(deep + "\n" + json.dumps({**lot, "serial": "FLAT-2"}) + "\n", encoding="utf-8")
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert result.inserted == 1
    assert [(r.line, r.reason) for r in result.rejections] == [(1, "malformed-line")]
    assert await conn.fetchval("SELECT serial FROM item") == "FLAT-2"


LOT = b'{"kind":"ammunition","manufacturer":"Hirtenberger","country_of_manufacture":"AT","quantity":5,'


@pytest.mark.parametrize(
    "line",
    [
        LOT + b'"serial":"A1","serial":"B2"}',
        LOT + b'"serial":"A1","ser\\u0069al":"B2"}',  # the same key, escaped: JSON reads one name
        LOT + b'"serial" : "A1" , "serial" : "B2"}',  # white space before the colon
        LOT + b'"serial":"B2","quantity":900}',  # another key: the first value was taken silently
        LOT + b'"serial":"B2","headstamp":null,"headstamp":"HP"}',  # null, then a value
        LOT + b'"serial":"B2","headstamp":"x \\"serial\\":","headstamp":"y"}',  # escaped quotes in a value too
        LOT + b'"serial":"B2","events":[],"events":[]}',  # a list of the export named twice
        LOT + b'"serial":"B2","events":"none","events":[]}',
        b"\xef\xbb\xbf" + LOT + b'"serial":"B2","serial":"B2"}',  # the same value, after a byte-order mark
        LOT + b'"serial":"B2","headstamp":"H\xe9","headstamp":"H"}',  # not UTF-8 as well: malformed first
    ],
    ids=[
        "serial",
        "escaped",
        "spaced",
        "quantity",
        "null first",
        "quotes in a value",
        "list",
        "text then list",
        "same value",
        "not UTF-8",
    ],
)
async def test_ndjson_line_naming_a_key_twice_is_malformed_and_nothing_of_it_is_recorded(
    conn: db.Conn, tmp_path: Path, line: bytes
) -> None:
    """``{"serial": "A1", ..., "serial": "B2"}`` says two things: it was imported as B2, the A1 dropped unseen.

    RFC 8259 §4 leaves such an object's meaning to the reader (RFC 7493 §2.3 forbids it): another tool reading
    the same file may take A1. The line is refused whole, as any line that is not a record; the rest imports.
    """
    path = tmp_path / "twice.ndjson"
    path.write_bytes(line + b"\n" + LOT + b'"serial":"C3"}\n')
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert [(r.line, r.reason, r.reasons, r.serial) for r in result.rejections] == [
        (1, "malformed-line", ["malformed-line"], None)
    ]
    assert (result.rows_read, result.inserted, result.rejected) == (2, 1, 1)
    assert [tuple(r) for r in await conn.fetch("SELECT serial, quantity FROM item")] == [("C3", 5)]


@pytest.mark.parametrize(
    "line",
    [
        LOT + b'"serial":"A1","headstamp":"\\"serial\\":\\"B2\\""}',  # a key's text inside a value
        LOT + b'"serial":"A1","model":"17 \\"Gen5\\"","headstamp":null}',
        LOT + b'"serial":"A1","events":[{"event":"a","event":"b"}],"markings":[{"serial":"x"}]}',  # lists unread
        LOT + b'"serial" :"A1" ,\t"headstamp"\t:\t"HP"}',
    ],
    ids=["key text in a value", "escaped quotes", "inside an export list", "white space"],
)
async def test_ndjson_line_naming_each_key_once_is_imported(conn: db.Conn, tmp_path: Path, line: bytes) -> None:
    """No false alarm: what looks like a key inside a value is text, and the export's lists are not read."""
    path = tmp_path / "once.ndjson"
    path.write_bytes(line + b"\n")
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert (result.inserted, result.rejections) == (1, [])
    assert await conn.fetchval("SELECT serial FROM item") == "A1"


def test_ndjson_key_named_twice_is_found_exactly_in_random_lines(tmp_path: Path) -> None:
    """The reader's count of quotes against what msgspec read agrees with Python's parser
    on 3,000 random lines: keys escaped or not, white space, values with quotes, colons and escapes, lists."""
    rng = random.Random(20261130)  # noqa: S311 - repeatable test cases, nothing secret
    texts = ["A1", 'x \\"serial\\": \\"B2\\"', "a\\\\", "\\u0022", "\\u00e9 :", "", '\\"']
    lists = ["[]", '[{"kind":"a","kind":"b"}]', '[{"a":"\\"x\\":"}, [1, "]"]]', '[ "[" ]']

    def key(name: str) -> str:  # now and then a letter written as an escape: the same key to JSON
        at = rng.randrange(len(name))
        return name if rng.random() < 0.7 else name[:at] + f"\\u{ord(name[at]):04x}" + name[at + 1 :]

    def member(name: str) -> str:
        if name in ("events", "markings"):
            value = rng.choice(lists)
        else:
            value = rng.choice([f'"{rng.choice(texts)}"', "null", str(rng.randrange(100))])
        return f'"{key(name)}"{rng.choice(["", " ", chr(9)])}:{rng.choice(["", " "])}{value}'

    lines = []
    for _ in range(3000):
        names = rng.sample(["serial", "make", "model", "headstamp", "events", "markings", "quantity"], 4)
        if rng.random() < 0.4:
            names.insert(rng.randrange(len(names) + 1), rng.choice(names))
        lines.append("{" + ", ".join(member(name) for name in names) + "}")
    path = tmp_path / "random.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = SourceFile(path)
    try:
        found = [row[1] == "malformed-line" for row in read_rows(source, "ndjson")]
    finally:
        source.close()
    names_twice = []
    for line in lines:
        keys = [name for name, _ in json.loads(line, object_pairs_hook=list)]
        names_twice.append(len(set(keys)) < len(keys))
    assert sum(names_twice) > 1000
    assert found == names_twice


_STRICT_TEXTS = [
    "A1",
    '\\"',  # an escaped quote
    "a\\\\",  # a text ending in a backslash: its closing quote follows two
    '\\\\\\"',  # a backslash, then a quote
    "\\u0022",  # a quote written as an escape: no quote in the line
    "\\u005c",  # a backslash so written: the quote after it closes the text
    "\\ud83d\\ude00",  # a surrogate pair
    "\U0001f600 \u00e9",  # the same in UTF-8, and a letter of two bytes
    '\\"serial\\":\\"X\\"',  # a key's text inside a value
    "\\/\\b\\f\\n\\r\\t",
    "",
    ":,{}[]",
]
_STRICT_LISTS = [
    "[]",
    '[{"kind":"a","kind":"b"}]',
    '[{"a":"\\"x\\":"}, [1, "]"]]',
    '["\\\\", "\\"", "\\u0022"]',
    "[[[]]]",
]
_STRICT_OTHERS = ["null", "0", "-1", "42", "1.5", "1e3", "true", "false", "{}", '{"a":"b"}', "[]", '"\\u0022"']


class _Members(list[tuple[str, object]]):
    """An object's members as written, told apart from a list."""


def strict_verdict(line: str) -> bool:
    """True when a strict reader takes ``line`` for no record: a top-level key twice, or a key or value unknown."""
    pairs = json.loads(line, object_pairs_hook=_Members)
    names = [name for name, _ in pairs]
    if len(set(names)) < len(names):
        return True
    for name, value in pairs:
        if name in ("markings", "events", "corrections"):
            wrong = type(value) is not list
        else:
            known = name in COLUMNS or name in EXPORT_ONLY_COLUMNS
            wrong = not known or not (value is None or (isinstance(value, str | int) and not isinstance(value, bool)))
        if wrong:
            return True
    return False


def hostile_lines(count: int, seed: int) -> list[str]:
    """``count`` seeded NDJSON lines a key-twice check may misjudge (see the test below); many name a key twice."""
    rng = random.Random(seed)  # noqa: S311 - repeatable test cases, nothing secret
    names = ["serial", "make", "model", "headstamp", "quantity", "status", "events", "markings"]

    def key(name: str) -> str:  # letters written as escapes, in either case of hex: the same key to JSON
        if rng.random() < 0.6:
            return name
        return "".join(
            (f"\\u{ord(c):04x}" if rng.random() < 0.5 else f"\\u{ord(c):04X}") if rng.random() < 0.3 else c
            for c in name
        )

    def value(name: str) -> str:
        if name in ("events", "markings"):
            return rng.choice(_STRICT_LISTS) if rng.random() < 0.9 else rng.choice(_STRICT_OTHERS)
        if rng.random() < 0.6:
            return '"' + "".join(rng.choice(_STRICT_TEXTS) for _ in range(rng.randrange(3))) + '"'
        return rng.choice(_STRICT_OTHERS[:4] if rng.random() < 0.8 else _STRICT_OTHERS)

    def space() -> str:
        return rng.choice(["", " ", "\t", "\r", "  "])

    lines = []
    for _ in range(count):
        chosen = rng.sample(names, rng.randrange(1, 6)) + ([""] if rng.random() < 0.03 else [])
        for _ in range(rng.choice([0, 0, 1, 1, 2])):  # a key twice, or three times
            chosen.insert(rng.randrange(len(chosen) + 1), rng.choice(chosen))
        members = [f'{space()}"{key(name)}"{space()}:{space()}{value(name)}{space()}' for name in chosen]
        lines.append("{" + ",".join(members) + "}")
    return lines


def test_ndjson_key_check_agrees_with_a_strict_parser_on_hostile_lines(tmp_path: Path) -> None:
    """Over 6,000 seeded lines, a line is malformed exactly when a strict parser (Python's, keys listed as written)
    finds a key twice at the top or a key or value no record has: escaped quotes and backslashes in keys and
    values, ``\\u0022``, surrogate pairs, keys differing only by escape form, a key three times, an empty key, the
    export's lists named twice, numbers, booleans, null, objects and lists where a text goes."""
    lines = hostile_lines(6000, 48)
    path = tmp_path / "hostile.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    source = SourceFile(path)
    try:
        found = [row[1] == "malformed-line" for row in read_rows(source, "ndjson")]
    finally:
        source.close()
    expected = [strict_verdict(line) for line in lines]
    twice = [
        len(keys) > len(set(keys)) for keys in ([n for n, _ in json.loads(x, object_pairs_hook=list)] for x in lines)
    ]
    assert sum(twice) > 2000
    assert len(expected) - sum(expected) > 1000
    assert [(lines[n], a) for n, (a, b) in enumerate(zip(found, expected, strict=True)) if a != b] == []


async def test_ndjson_line_with_bytes_that_are_not_utf8_is_a_rejected_row(conn: db.Conn, tmp_path: Path) -> None:
    """Like a CSV row, an NDJSON line that is not UTF-8 is rejected on its own; the rest of the file is imported."""
    lot = b'{"kind":"ammunition","manufacturer":"Hirtenberger","country_of_manufacture":"AT","quantity":5,'
    path = tmp_path / "latin1.ndjson"
    path.write_bytes(
        lot
        + b'"serial":"LOT-1"}\n'
        + lot
        + b'"serial":"LOT-2","headstamp":"H\xe9"}\n'
        + lot
        + b'"serial":"LOT-\xe93"}\n'
    )
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert result.inserted == 1
    assert [(r.line, r.reason) for r in result.rejections] == [(2, "invalid-text"), (3, "invalid-serial")]
    assert await conn.fetchval("SELECT serial FROM item") == "LOT-1"


async def test_import_of_100000_rows_is_set_wise_and_fast(conn: db.Conn, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "kind",
                "firearm_type",
                "manufacturer",
                "country_of_manufacture",
                "serial",
                "model",
                "year_of_manufacture",
                "marking_stamped",
            ]
        )
        for n in range(100_000):
            serial = f"BIG{n:07d}"
            writer.writerow(["firearm", "rifle", "Big Arms", "DE", serial, "M1", "2001", f"BIG ARMS {serial}"])
        writer.writerow(["firearm", "rifle", "Big Arms", "DE", "BIG0000000", "M1", "2001", "dup"])
    started = time.perf_counter()
    seen: list[int] = []
    result = await imports.import_file(conn, path, actor=ACTOR, progress=seen.append, today=TODAY)
    elapsed = time.perf_counter() - started
    assert (result.inserted, result.rejected) == (100_000, 1)
    assert sum(seen) == path.stat().st_size
    assert await conn.fetchval("SELECT count(*) FROM marking WHERE import_id = $1", result.import_id) == 100_000
    assert await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'items.imported'") == 1
    assert elapsed < 30, elapsed


async def test_a_spreadsheets_csv_is_judged_row_by_row_bom_code_page_and_field_counts(
    conn: db.Conn, tmp_path: Path
) -> None:
    """A CSV file as a spreadsheet saves it: a byte-order mark before the header, a row saved in a Windows code
    page, rows with more or fewer fields than the header, and a bad row next to last. Each bad row is rejected
    alone (its line and reason); the good rows, the one after the bad ones included, are stored as one batch.
    """
    header = "kind,firearm_type,manufacturer,country_of_manufacture,serial,marking_stamped\n"
    lines = [f"firearm,pistol,Glock GmbH,AT,SP-{n},GLOCK SP-{n}\n".encode() for n in range(1, 5)]
    lines[1] = "firearm,pistol,Česká zbrojovka,CZ,SP-L1,CZ SP-L1\n".encode("cp1250")  # not UTF-8
    lines.insert(2, b"firearm,pistol,Glock GmbH,AT,SP-X,GLOCK SP-X,extra\n")
    lines.insert(3, b"firearm,pistol,Glock GmbH,AT\n")
    lines.insert(-1, b"firearm,pistol,Glock GmbH,XX,SP-C,GLOCK SP-C\n")
    path = tmp_path / "spreadsheet.csv"
    path.write_bytes(b"\xef\xbb\xbf" + header.encode() + b"".join(lines))
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert [(r.line, r.reason, r.serial) for r in result.rejections] == [
        (3, "invalid-text", None),  # a line that is not UTF-8 is not read into values
        (4, "malformed-line", None),
        (5, "malformed-line", None),
        (7, "invalid-country", "SP-C"),
    ]
    assert (result.inserted, result.rejected) == (3, 4)
    stored = await conn.fetch("SELECT serial FROM item WHERE import_id = $1 ORDER BY serial", result.import_id)
    assert [r["serial"] for r in stored] == ["SP-1", "SP-3", "SP-4"]
    assert await conn.fetchval("SELECT count(*) FROM item_import") == 1
