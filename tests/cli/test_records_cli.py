from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import os
import pwd
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli.records
from cli.main import main
from firearms import db, files, item_events
from firearms.item_types import NewEvent
from tests.roles import database_env


def env(database: str, home: Path) -> dict[str, str]:
    return {"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(home), **database_env(database)}


def count_items(database: str) -> int:
    async def run() -> int:
        conn = await db.connect(database)
        try:
            count: int = await conn.fetchval("SELECT count(*) FROM item")
            return count
        finally:
            await conn.close()

    return asyncio.run(run())


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["kind", "firearm_type", "manufacturer", "country_of_manufacture", "serial", "marking_stamped"])
        writer.writerows(rows)
    return path


def test_import_command_reports_rejections_next_to_the_file(database: str, home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "dealer.csv",
        [
            ["firearm", "pistol", "Glock GmbH", "AT", "CLI-1", "GLOCK CLI-1"],
            ["firearm", "pistol", "Glock GmbH", "QQ", "CLI-2", "GLOCK CLI-2"],
        ],
    )
    result = CliRunner().invoke(main, ["import", str(path)], env=env(database, home))
    assert result.exit_code == 0, result.output
    assert "2 rows read, 1 imported, 0 already registered, 1 rejected" in result.stdout
    assert "importing dealer.csv" in result.stderr
    assert "dealer.csv: checking ..." in result.stderr
    report = tmp_path / "dealer.rejected.csv"
    assert report.read_text(encoding="utf-8").splitlines() == [
        "line,reason,serial,item_id,reasons",
        "3,invalid-country,CLI-2,,invalid-country",
    ]
    again = CliRunner().invoke(main, ["import", str(path)], env=env(database, home))
    assert again.exit_code == 0
    assert "0 imported, 1 already registered, 1 rejected" in again.stdout
    assert count_items(database) == 1


def test_import_with_a_report_that_cannot_be_written_is_a_one_line_error_and_stores_nothing(
    database: str, home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "dealer.csv", [["firearm", "pistol", "Glock GmbH", "AT", "RP-1", "GLOCK RP-1"]])
    report = tmp_path / "missing" / "dealer.rejected.csv"
    result = CliRunner().invoke(main, ["import", str(path), "--report", str(report)], env=env(database, home))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[-1].startswith("firearms: error: cannot write the report")
    assert count_items(database) == 0


def test_import_refuses_a_report_path_that_is_the_input_file_and_keeps_the_file(
    database: str, home: Path, tmp_path: Path
) -> None:
    """``--report`` naming the file being imported overwrote the dealer's records with the report."""
    path = write(tmp_path / "dealer.csv", [["firearm", "pistol", "Glock GmbH", "AT", "RP-1", "GLOCK RP-1"]])
    original = path.read_bytes()
    same = tmp_path / "." / "dealer.csv"
    result = CliRunner().invoke(main, ["import", str(path), "--report", str(same)], env=env(database, home))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("firearms: error: the report would overwrite")
    assert path.read_bytes() == original
    assert count_items(database) == 0


def test_import_command_fails_on_entirely_invalid_file(database: str, home: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", [["firearm", "pistol", "Glock GmbH", "AT", "", "X"]])
    result = CliRunner().invoke(main, ["import", str(path)], env=env(database, home))
    assert result.exit_code == 1
    assert "nothing was stored" in result.stderr
    assert "Traceback" not in result.output
    assert count_items(database) == 0


def test_import_command_rejects_a_line_naming_a_key_twice(database: str, home: Path, tmp_path: Path) -> None:
    """Before, the line was imported with the last of its two serials, and the report said nothing."""
    path = tmp_path / "twice.ndjson"
    path.write_bytes(
        b'{"kind":"ammunition","manufacturer":"Hirtenberger","country_of_manufacture":"AT","quantity":5,'
        b'"serial":"A1","serial":"B2"}\n'
    )
    result = CliRunner().invoke(main, ["import", str(path)], env=env(database, home))
    assert result.exit_code == 1, result.output
    assert "nothing was stored" in result.stderr
    assert (tmp_path / "twice.rejected.csv").read_text(encoding="utf-8").splitlines() == [
        "line,reason,serial,item_id,reasons",
        "1,malformed-line,,,malformed-line",
    ]
    assert count_items(database) == 0


def test_import_command_refuses_unknown_columns_in_one_line(database: str, home: Path, tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("serial,colour\n1,red\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(path)], env=env(database, home))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("firearms: error:")]
    assert len(errors) == 1
    assert errors[0].startswith("firearms: error: the header row")
    assert "Traceback" not in result.output


def test_an_unknown_column_name_is_echoed_on_one_line_without_control_characters(
    database: str, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "forged.csv"
    path.write_text('serial,"x\nfirearms: imported 1000 rows",\x1b[2Jred\n1,a,b\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(path)], env=env(database, home))
    assert result.exit_code == 1
    assert [line.split(":", 1)[0] for line in result.stderr.splitlines()] == ["importing forged.csv", "firearms"]
    assert "\x1b" not in result.stderr
    assert "x\\nfirearms: imported 1000 rows" in result.stderr  # the newline shown as \n
    assert count_items(database) == 0


def test_export_then_import_round_trips(database: str, home: Path, tmp_path: Path) -> None:
    path = write(
        tmp_path / "in.csv", [["firearm", "rifle", "Steyr", "AT", f"RT-{n}", f"STEYR RT-{n}"] for n in range(3)]
    )
    assert CliRunner().invoke(main, ["import", str(path)], env=env(database, home)).exit_code == 0
    out = tmp_path / "out.ndjson"
    exported = CliRunner().invoke(main, ["export", str(out)], env=env(database, home))
    assert exported.exit_code == 0, exported.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    again = CliRunner().invoke(main, ["import", str(out)], env=env(database, home))
    assert again.exit_code == 0, again.output
    assert "3 rows read, 0 imported, 3 already registered, 0 rejected" in again.stdout


def test_ndjson_export_command_writes_the_complete_record_and_round_trips(
    database: str, home: Path, tmp_path: Path
) -> None:
    """``firearms export PATH.ndjson`` hands over every marking and event of each item, as the API export does."""
    path = write(
        tmp_path / "in.csv", [["firearm", "rifle", "Steyr", "AT", f"CR-{n}", f"STEYR CR-{n}"] for n in range(2)]
    )
    assert CliRunner().invoke(main, ["import", str(path)], env=env(database, home)).exit_code == 0

    async def record_events() -> list[int]:
        conn = await db.connect(database)
        try:
            item_id: int = await conn.fetchval("SELECT item_id FROM item WHERE serial = 'CR-1'")
            today = dt.datetime.now(dt.UTC).date()
            events = [
                NewEvent(event="transferred", occurred_on=today, to_party="Waffen Huber KG", document="TR-9"),
                NewEvent(event="stolen", occurred_on=today),
            ]
            return [
                (await item_events.record_event(conn, item_id, event, actor="test:records", today=today)).event_id
                for event in events
            ]
        finally:
            await conn.close()

    recorded = asyncio.run(record_events())
    out = tmp_path / "whole.ndjson"
    exported = CliRunner().invoke(main, ["export", str(out)], env=env(database, home))
    assert exported.exit_code == 0, exported.output
    records = {record["serial"]: record for record in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert [m["stamped"] for m in records["CR-1"]["markings"]] == ["STEYR CR-1"]
    assert [(e["event_id"], e["event"]) for e in records["CR-1"]["events"]] == list(
        zip(recorded, ["transferred", "stolen"], strict=True)
    )
    assert (records["CR-1"]["events"][0]["to_party"], records["CR-1"]["events"][0]["document"]) == (
        "Waffen Huber KG",
        "TR-9",
    )
    assert (records["CR-0"]["events"], records["CR-0"]["corrections"]) == ([], [])
    assert "test:records" not in out.read_text(encoding="utf-8")
    again = CliRunner().invoke(main, ["import", str(out)], env=env(database, home))
    assert again.exit_code == 0, again.output
    assert "2 rows read, 0 imported, 2 already registered, 0 rejected" in again.stdout


def test_csv_export_has_a_byte_order_mark_and_no_officer_and_round_trips(
    database: str, home: Path, tmp_path: Path
) -> None:
    path = write(tmp_path / "in.csv", [["firearm", "rifle", "Česká zbrojovka", "CZ", "CZ-1", "ČZ CZ-1"]])
    assert CliRunner().invoke(main, ["import", str(path)], env=env(database, home)).exit_code == 0
    out = tmp_path / "out.csv"
    exported = CliRunner().invoke(main, ["export", str(out)], env=env(database, home))
    assert exported.exit_code == 0, exported.output
    content = out.read_bytes()
    assert content.startswith(b"\xef\xbb\xbfitem_id,")
    assert b"registered_by" not in content
    assert "Česká zbrojovka" in content.decode("utf-8-sig")
    again = CliRunner().invoke(main, ["import", str(out)], env=env(database, home))
    assert again.exit_code == 0, again.output
    assert "1 row read, 0 imported, 1 already registered, 0 rejected" in again.stdout
    # an export written before (with registered_by, without the mark) still imports as it is
    earlier = tmp_path / "earlier.csv"
    earlier.write_text(
        "item_id,status,registered_by,kind,firearm_type,manufacturer,country_of_manufacture,serial,marking_stamped\n"
        "7,active,officer,firearm,rifle,Steyr,AT,OLD-1,STEYR OLD-1\n",
        encoding="utf-8",
    )
    old = CliRunner().invoke(main, ["import", str(earlier)], env=env(database, home))
    assert old.exit_code == 0, old.output
    assert "1 row read, 1 imported" in old.stdout


def test_export_command_is_journaled_like_the_api_export(database: str, home: Path, tmp_path: Path) -> None:
    """Handing the records over from the command line leaves the same trace as GET /items/export."""
    out = tmp_path / "lost.csv"
    exported = CliRunner().invoke(main, ["export", str(out), "--status", "lost"], env=env(database, home))
    assert exported.exit_code == 0, exported.output

    async def entries() -> list[tuple[str, str, object]]:
        conn = await db.connect(database)
        try:
            rows = await conn.fetch(
                "SELECT actor, entity_id, payload FROM journal_entry WHERE action = 'items.exported'"
            )
            return [(row["actor"], row["entity_id"], row["payload"]) for row in rows]
        finally:
            await conn.close()

    assert asyncio.run(entries()) == [
        (
            f"cli:{pwd.getpwuid(os.getuid()).pw_name}",
            "*",
            {"format": "csv", "filters": [None, None, None, None, "lost", None, None, None]},
        )
    ]


def test_export_file_is_readable_by_its_owner_only(database: str, home: Path, tmp_path: Path) -> None:
    """The whole registry (serials, makes, who registered what) is not left readable by every local user."""
    path = write(tmp_path / "in.csv", [["firearm", "rifle", "Steyr", "AT", "PERM-1", "STEYR PERM-1"]])
    assert CliRunner().invoke(main, ["import", str(path)], env=env(database, home)).exit_code == 0
    out = tmp_path / "all.csv"
    previous = os.umask(0o022)  # a usual umask: files are made world-readable unless asked otherwise
    try:
        exported = CliRunner().invoke(main, ["export", str(out)], env=env(database, home))
    finally:
        os.umask(previous)
    assert exported.exit_code == 0, exported.output
    assert "PERM-1" in out.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o777 == 0o600


def test_the_import_report_is_written_0600_whatever_the_umask(database: str, home: Path, tmp_path: Path) -> None:
    """The report names rows, serials and item ids: it took the umask's mode (0644, readable by every user)."""
    path = write(
        tmp_path / "dealer.csv",
        [
            ["firearm", "pistol", "Glock GmbH", "AT", "CLI-1", "GLOCK CLI-1"],
            ["firearm", "pistol", "Glock GmbH", "QQ", "CLI-2", "GLOCK CLI-2"],
        ],
    )
    chosen = tmp_path / "chosen.csv"
    chosen.write_text("an older report\n", encoding="utf-8")
    chosen.chmod(0o644)
    previous = os.umask(0o022)
    try:
        beside = CliRunner().invoke(main, ["import", str(path)], env=env(database, home))
        named = CliRunner().invoke(main, ["import", str(path), "--report", str(chosen)], env=env(database, home))
    finally:
        os.umask(previous)
    assert beside.exit_code == 0, beside.output
    assert named.exit_code == 0, named.output
    report = tmp_path / "dealer.rejected.csv"
    assert report.stat().st_mode & 0o777 == 0o600
    assert chosen.stat().st_mode & 0o777 == 0o600  # replaced whole, not rewritten in its old mode
    assert "3,invalid-country,CLI-2," in report.read_text(encoding="utf-8")
    assert chosen.read_text(encoding="utf-8").splitlines()[1].startswith("2,already-registered,CLI-1,")
    assert list(tmp_path.glob(".*.partial")) == []  # the partial files were renamed into place


def export_entries(database: str) -> int:
    async def run() -> int:
        conn = await db.connect(database)
        try:
            count: int = await conn.fetchval("SELECT count(*) FROM journal_entry WHERE action = 'items.exported'")
            return count
        finally:
            await conn.close()

    return asyncio.run(run())


def test_export_refuses_an_existing_file_and_keeps_it(database: str, home: Path, tmp_path: Path) -> None:
    """Yesterday's export under today's name (perhaps the only copy an inspector got) was silently replaced."""
    path = write(tmp_path / "in.csv", [["firearm", "rifle", "Steyr", "AT", "KEEP-1", "STEYR KEEP-1"]])
    assert CliRunner().invoke(main, ["import", str(path)], env=env(database, home)).exit_code == 0
    out = tmp_path / "yesterday.csv"
    out.write_text("yesterday's export\n", encoding="utf-8")

    refused = CliRunner().invoke(main, ["export", str(out)], env=env(database, home))

    assert refused.exit_code == 1, refused.output
    assert (
        refused.stderr
        == f"firearms: error: {out} already exists: name another file, or give --overwrite to replace it\n"
    )
    assert out.read_text(encoding="utf-8") == "yesterday's export\n"
    assert export_entries(database) == 0  # refused before it began: nothing journaled
    assert files.partials_of(out) == []  # nor a partial file beside it


def test_export_with_overwrite_replaces_an_existing_file(database: str, home: Path, tmp_path: Path) -> None:
    """The operator who means it says so; the file is still written beside and renamed into place (mode 0600)."""
    path = write(tmp_path / "in.csv", [["firearm", "rifle", "Steyr", "AT", "OVER-1", "STEYR OVER-1"]])
    assert CliRunner().invoke(main, ["import", str(path)], env=env(database, home)).exit_code == 0
    out = tmp_path / "today.csv"
    out.write_text("yesterday's export\n", encoding="utf-8")
    out.chmod(0o644)

    replaced = CliRunner().invoke(main, ["export", str(out), "--overwrite"], env=env(database, home))

    assert replaced.exit_code == 0, replaced.output
    assert "OVER-1" in out.read_text(encoding="utf-8-sig")
    assert out.stat().st_mode & 0o777 == 0o600
    assert export_entries(database) == 1


def test_import_progress_without_a_terminal_is_plain_periodic_lines(
    database: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From cron, systemd or CI (stderr no terminal) the progress bar printed its label once and nothing more.

    Now a line when reading starts, one every ``PROGRESS_INTERVAL`` seconds (bytes read of the file's size, the
    share, the rows read, the rates), and one when the file was read; no carriage return or terminal escape.
    """
    rows = [["firearm", "pistol", "Glock GmbH", "AT", f"PLAIN-{n}", f"GLOCK PLAIN-{n}"] for n in range(3000)]
    path = write(tmp_path / "nightly.csv", rows)
    size = path.stat().st_size
    monkeypatch.setattr(cli.records, "PROGRESS_INTERVAL", 0.0)  # a line at every block read
    result = CliRunner().invoke(main, ["import", str(path)], env=env(database, home))
    assert result.exit_code == 0, result.output
    assert "3000 imported" in result.stdout
    lines = result.stderr.splitlines()
    assert "\r" not in result.stderr
    assert "\x1b" not in result.stderr
    assert lines[0] == f"importing nightly.csv: {size} bytes ..."
    periodic = [line for line in lines if " read (" in line]
    assert periodic, result.stderr
    assert periodic[-1].startswith(f"importing nightly.csv: {size} bytes of {size} bytes read (100%), ")
    assert periodic[-1].endswith(" rows/s")
    [done] = [line for line in lines if line.startswith("importing nightly.csv: read ")]
    assert done.startswith(f"importing nightly.csv: read 3000 rows ({size} bytes) in ")
    assert done.endswith(" rows/s)")
    assert lines.index(done) < lines.index("nightly.csv: checking ...")


def test_import_progress_without_a_terminal_is_not_a_line_per_block(database: str, home: Path, tmp_path: Path) -> None:
    """At the default interval a file read in well under it gets its first and last line only: a log, not a flood."""
    path = write(tmp_path / "small.csv", [["firearm", "pistol", "Glock GmbH", "AT", "SMALL-1", "GLOCK SMALL-1"]])
    result = CliRunner().invoke(main, ["import", str(path)], env=env(database, home))
    assert result.exit_code == 0, result.output
    reading = [line for line in result.stderr.splitlines() if line.startswith("importing small.csv")]
    assert len(reading) == 2, result.stderr
    assert reading[1].startswith("importing small.csv: read ")
