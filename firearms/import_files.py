"""Reading bulk-import files (CSV, NDJSON) as a stream of staging rows, in constant memory.

Each file row becomes one tuple ``(line, problem, *COLUMNS)`` of text for the staging table; the
rules are applied later, set-wise, in SQL (:mod:`firearms.imports`). Here only what SQL cannot see
is decided: a line that is not a record (``malformed-line``), text PostgreSQL cannot hold (NUL,
invalid UTF-8: ``invalid-text``/``invalid-serial``). An empty value means "absent". A CSV file that
is not CSV somewhere (text after a closing quote, a quote never closed, a value beyond the csv
module's field limit) is refused whole (``import-invalid-file`` with the line): past such an error
the records cannot be told apart.

The file's bytes are hashed (SHA-256) and counted while they are read, for the journal and the
progress bar.
"""

from __future__ import annotations

import csv
import hashlib
import io
import operator
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from firearms.errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "COLUMNS",
    "EXPORT_ONLY_COLUMNS",
    "EXPORT_ONLY_KEYS",
    "MAX_LINE",
    "REQUIRED_COLUMNS",
    "STAGING_COLUMNS",
    "Format",
    "SourceFile",
    "detect_format",
    "from_spreadsheet_cell",
    "read_rows",
    "spreadsheet_cell",
]

Format = Literal["csv", "ndjson"]
COLUMNS: tuple[str, ...] = (
    "kind",
    "firearm_type",
    "component_type",
    "make",
    "model",
    "calibre",
    "year_of_manufacture",
    "country_of_manufacture",
    "category",
    "manufacturer",
    "serial",
    "headstamp",
    "quantity",
    "marking_kind",
    "marking_stamped",
    "symbol_code",
    "alphanumeric_code",
    "import_country",
    "import_year",
    "import_stamped",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("kind", "manufacturer", "country_of_manufacture", "serial")
# Columns an export adds; an import ignores them, so an export can be imported into another registry.
# registered_by is no longer exported (staff data) but is still ignored, so earlier exports import as they are.
EXPORT_ONLY_COLUMNS = frozenset(
    {"item_id", "status", "serial_normalised", "registered_at", "registered_by", "import_id", "parent_item_id"}
)
# The NDJSON export's complete record (firearms.exports): each a list, ignored by an import (an item's markings
# beyond the first of each kind, its events and corrections are the sending registry's record, not imported).
EXPORT_ONLY_KEYS: tuple[str, ...] = ("markings", "events", "corrections")
STAGING_COLUMNS: tuple[str, ...] = ("line", "problem", *COLUMNS)
_SERIAL_AT = COLUMNS.index("serial")
_NOTHING = (None,) * len(COLUMNS)
_CHUNK = 1 << 20
# The longest line read: a record's values are at most a few hundred characters each, so a longer line is
# not a record; reading it whole would hold it in memory (an upload may be 1 GiB on a single line).
MAX_LINE = 1 << 20
# A spreadsheet takes a cell that begins with one of these for a formula (CSV injection): in a CSV file
# we write, such a value is preceded by an apostrophe, and so is one that already begins with apostrophes
# before such a character, so that reading the file back (:func:`from_spreadsheet_cell`) is exact.
_FORMULA_START = re.compile(r"'*[=+\-@\t\r]")


class SourceFile(io.RawIOBase):
    """A binary file read through a SHA-256 and a byte counter that reports progress."""

    def __init__(self, path: Path, progress: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._digest = hashlib.sha256()
        self._progress = progress
        self.bytes_read = 0

    def readable(self) -> bool:
        """Always: this is an input stream."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer``, hashing and counting what was read."""
        count = self._file.readinto(buffer)
        if count:
            view = memoryview(buffer)[:count]
            self._digest.update(view)
            self.bytes_read += count
            if self._progress is not None:
                self._progress(count)
        return count or 0

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()
        super().close()

    @property
    def sha256(self) -> bytes:
        """The digest of the bytes read so far (of the whole file once it is read to its end)."""
        return self._digest.digest()


def spreadsheet_cell(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text, never runs as a formula (OWASP: CSV injection)."""
    return "'" + value if _FORMULA_START.match(value) else value


def from_spreadsheet_cell(value: str) -> str:
    """The value of a CSV cell written by :func:`spreadsheet_cell` (other cells are returned as they are)."""
    return value[1:] if value.startswith("'") and _FORMULA_START.match(value) else value


def detect_format(path: Path, given: str | None = None) -> Format:
    """``csv`` or ``ndjson``: as given, else from the file name (``.csv``; ``.ndjson``/``.jsonl``).

    Raises:
        InvalidInputError: ``import-invalid-file`` when the format cannot be told.
    """
    name = (given or Path(path).suffix.lstrip(".")).lower()
    if name == "csv":
        return "csv"
    if name in {"ndjson", "jsonl"}:
        return "ndjson"
    raise InvalidInputError(
        f"cannot tell the format of {Path(path).name!r}: name it .csv, .ndjson or .jsonl (or give the format)",
        code="import-invalid-file",
    )


def read_rows(source: SourceFile, fmt: Format) -> Iterator[tuple[int, str | None, *tuple[str | None, ...]]]:
    """Stream the staging rows of ``source``: ``(line, problem, *COLUMNS)``.

    Raises:
        InvalidInputError: ``import-invalid-file`` for a CSV file without a usable header row.
    """
    buffered = io.BufferedReader(source, buffer_size=_CHUNK)
    if fmt == "csv":
        yield from _read_csv(buffered)
    else:
        yield from _read_ndjson(buffered)


def _unstorable(values: tuple[str | None, ...], text: str) -> tuple[int, str | None, *tuple[str | None, ...]] | None:
    """A problem row when some value holds NUL or an undecodable byte (PostgreSQL text cannot hold them)."""
    if "\x00" not in text and (text.isascii() or not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)):
        return None
    serial = values[_SERIAL_AT] or ""
    bad_serial = "\x00" in serial or any(0xD800 <= ord(ch) <= 0xDFFF for ch in serial)
    return (0, "invalid-serial" if bad_serial else "invalid-text", *_NOTHING)


def _read_csv(buffered: io.BufferedReader[SourceFile]) -> Iterator[tuple[int, str | None, *tuple[str | None, ...]]]:
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="surrogateescape", newline="")
    # text after a closing quote is malformed, never silently joined
    reader = csv.reader(_bounded_lines(text), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInputError(
            "the file is empty: a CSV import starts with a header row", code="import-invalid-file"
        ) from None
    except csv.Error as exc:
        raise InvalidInputError(f"the header row is not CSV: {exc}", code="import-invalid-file") from None
    _check_header(header)
    width = len(header)
    positions = [header.index(name) if name in header else width for name in COLUMNS]
    pick = operator.itemgetter(*positions)
    while True:
        line = reader.line_num + 1  # a quoted value may span lines: a record is named by its first line
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader goes on at the next physical line, which may lie inside a quoted value: what it
            # read from there could be text of that value taken for records. The file is refused whole.
            raise InvalidInputError(
                f"line {line} is not CSV ({exc}): where the records after it begin cannot be told; nothing was stored",
                code="import-invalid-file",
                line=line,
            ) from None
        if not fields:
            continue
        if len(fields) != width:
            yield (line, "malformed-line", *_NOTHING)
            continue
        fields.append("")
        values = tuple(from_spreadsheet_cell(value) or None for value in pick(fields))
        bad = _unstorable(values, "".join(fields))
        yield (line, bad[1], *_NOTHING) if bad else (line, None, *values)


def _bounded_lines(text: io.TextIOWrapper) -> Iterator[str]:
    """The physical lines of ``text``, none read past :data:`MAX_LINE` characters.

    Raises:
        InvalidInputError: ``import-invalid-file`` with the ``line`` that is longer: past it, where the
            records begin cannot be told (as for any CSV syntax error).
    """
    number = 0
    while line := text.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE and not line.endswith(("\n", "\r")):
            raise InvalidInputError(
                f"line {number} is longer than {MAX_LINE} characters: not a record; nothing was stored",
                code="import-invalid-file",
                line=number,
            )
        yield line


def _shown(name: str) -> str:
    """A column name as it can be shown: bytes that are not UTF-8 (read as surrogates) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _check_header(header: list[str]) -> None:
    # a name with bytes that are not UTF-8 is unknown; it is named with U+FFFD in their place (a problem
    # or an error line cannot hold the raw bytes)
    unknown = [_shown(name) for name in header if name not in COLUMNS and name not in EXPORT_ONLY_COLUMNS]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        raise InvalidInputError(
            "the header row must name known columns once each and include "
            f"{', '.join(REQUIRED_COLUMNS)} (unknown: {', '.join(unknown) or 'none'}; "
            f"missing: {', '.join(missing) or 'none'})",
            code="import-invalid-file",
            unknown_columns=unknown,
            missing_columns=missing,
        )


# A line is an object of the known keys (any other is malformed), each column text, a number or null; the export's
# lists are skipped unread, each as one raw value (not a list of them: an object per element, 32 MB and half a
# second for a line of 500,000 zeros), only checked to be lists. A key the line leaves out is UNSET, not None (a
# null): the keys it names are counted (:func:`_not_a_record`).
_FIELDS: tuple[str, ...] = (*COLUMNS, *sorted(EXPORT_ONLY_COLUMNS), *EXPORT_ONLY_KEYS)
_LISTS_AT = len(_FIELDS) - len(EXPORT_ONLY_KEYS)
_NDJSON = msgspec.json.Decoder(
    msgspec.defstruct(
        "NdjsonRecord",
        [(name, str | int | msgspec.UnsetType | None, msgspec.UNSET) for name in _FIELDS[:_LISTS_AT]]
        + [(name, msgspec.Raw | msgspec.UnsetType, msgspec.UNSET) for name in EXPORT_ONLY_KEYS],
        forbid_unknown_fields=True,
    )
)


def _not_a_record(line: bytes, fields: tuple[Any, ...]) -> bool:
    r"""True when ``line``, read into ``fields``, is no record: a list of the export is no list, or a key comes twice.

    A key named twice (``"serial"``, or ``"ser\u0069al"`` too): msgspec keeps the last value, silently; another
    reader of the file may keep the first (RFC 8259 §4; RFC 7493 §2.3 forbids such an object). The export's lists
    are not looked into: they are not read (see above).

    Exact, and without reading the line again: every key the line names is a known field written as a JSON
    string, and so is every text value; each string is opened and closed by a quote that no odd run of
    backslashes precedes (:func:`_string_quotes`). So when those quotes of the line, less those of its lists and
    two for each text value read, are two for each field given, no key came twice (a key, a text or a list
    written and not read adds to them; nothing read was not written).
    """
    kinds = list(map(type, fields))
    quotes = _string_quotes(line) - 2 * kinds.count(str)
    if kinds.count(msgspec.Raw):
        lists = [value for value in fields[_LISTS_AT:] if value is not msgspec.UNSET]
        text, at = b"".join(lists), 0
        for value in lists:  # each list is one raw value: its JSON text, from its first character
            if text[at] != ord("["):
                return True
            at += len(value)
        quotes -= _string_quotes(text)
    return quotes != 2 * (len(fields) - kinds.count(msgspec.UnsetType))


def _string_quotes(text: bytes) -> int:
    r"""The quotes of the JSON ``text`` that open or close a string.

    Any other quote is in a string, escaped: after an odd run of backslashes (``\"`` is one; after ``\\"`` the
    string is closed). Outside strings JSON has no backslash; taking each pair of backslashes away leaves one before
    each escaped quote and none before the others. ``\u0022`` holds no quote. Two passes over the bytes, in C.
    """
    quotes = text.count(b'"')
    if b"\\" in text:
        return quotes - text.replace(b"\\\\", b"").count(b'\\"')
    return quotes


def _read_ndjson(buffered: io.BufferedReader[SourceFile]) -> Iterator[tuple[int, str | None, *tuple[str | None, ...]]]:
    line = 0
    while raw := buffered.readline(MAX_LINE + 1):
        line += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            # not a record: skipped to its end a chunk at a time, never held whole
            while (rest := buffered.readline(_CHUNK)) and not rest.endswith(b"\n"):
                pass
            yield (line, "malformed-line", *_NOTHING)
            continue
        if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte-order mark is not part of the first record
        if not raw.strip():
            continue
        undecodable = False
        try:
            try:
                record = _NDJSON.decode(raw)
            except UnicodeDecodeError:
                # bytes that are not UTF-8: read with them replaced only to tell the field they are in
                record = _NDJSON.decode(raw.decode("utf-8", errors="replace"))
                undecodable = True
        # RecursionError: an export's list nested deeper than msgspec skips (about a thousand levels; a few kB)
        except (msgspec.DecodeError, RecursionError):
            yield (line, "malformed-line", *_NOTHING)
            continue
        fields = msgspec.structs.astuple(record)
        if _not_a_record(raw, fields):
            yield (line, "malformed-line", *_NOTHING)
            continue
        values = tuple(_text(value) for value in fields[: len(COLUMNS)])
        if undecodable:
            yield (line, "invalid-serial" if "\ufffd" in (values[_SERIAL_AT] or "") else "invalid-text", *_NOTHING)
            continue
        bad = _unstorable(values, "".join(value for value in values if value))
        yield (line, bad[1], *_NOTHING) if bad else (line, None, *values)


def _text(value: str | int | msgspec.UnsetType | None) -> str | None:
    if value is None or value is msgspec.UNSET or value == "":
        return None
    return value if isinstance(value, str) else str(value)
