"""Canonical JSON (PROTOCOL.md §2: the RFC 8785 subset every signed value obeys) and UTC time text."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec

__all__ = ["MAX_SAFE_INTEGER", "canonical", "format_time", "key_named_twice", "parse_time", "utc_now"]

MAX_SAFE_INTEGER = 2**53 - 1

_encoder = msgspec.json.Encoder(order="sorted")


def canonical(value: Any, *, ascii_keys: bool = False) -> bytes:
    """The canonical UTF-8 bytes of ``value``: keys sorted by code point, no white space, no floats.

    msgspec's sorted order is by code point and its string escaping is the JCS one for the ASCII
    keys and text this protocol uses (checked against protocol/vectors.json in the tests).

    ``ascii_keys``: refuse an object key outside ASCII, as PROTOCOL §2 does for every value that is signed or
    sent. Beyond ASCII, RFC 8785 sorts keys by UTF-16 code units and msgspec by code point (U+1F600 before
    U+FF61 in one, after it in the other), so two conformant registries need not agree on the bytes.

    Raises:
        ValueError: ``value`` holds a float or an integer outside [-(2^53)+1, 2^53-1], or (``ascii_keys``) an
            object key outside ASCII.
    """
    _check(value, ascii_keys=ascii_keys)
    return _encoder.encode(value)


def _check(value: Any, *, ascii_keys: bool) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is outside the canonical range")
        return
    if isinstance(value, float):
        raise ValueError("floats have no canonical form: use integers")
    if isinstance(value, dict):
        if ascii_keys and not all(name.isascii() for name in value):
            # the rule, not the key: anyone may post a notice (README "Security")
            raise ValueError("an object key outside ASCII has no canonical form (PROTOCOL §2: object keys are ASCII)")
        for item in value.values():
            _check(item, ascii_keys=ascii_keys)
    elif isinstance(value, list | tuple):
        for item in value:
            _check(item, ascii_keys=ascii_keys)


def utc_now() -> dt.datetime:
    """Now, timezone-aware UTC, truncated to whole seconds as the protocol writes times."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def format_time(moment: dt.datetime) -> str:
    """RFC 3339 UTC with a ``Z``; whole seconds unless ``moment`` carries microseconds.

    Raises:
        ValueError: ``moment`` is naive.
    """
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every time here is UTC and timezone-aware")
    moment = moment.astimezone(dt.UTC)
    # Not strftime("%Y"): on Linux it writes the year 999 as "999", which is no RFC 3339 time.
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def parse_time(text: str) -> dt.datetime:
    """Parse the strict protocol form ``YYYY-MM-DDTHH:MM:SSZ`` (optionally with microseconds).

    Raises:
        ValueError: the text is not of that form.
    """
    if not text.endswith("Z") or "T" not in text:
        raise ValueError(f"not an RFC 3339 UTC time with Z: {text!r}")
    moment = dt.datetime.fromisoformat(text[:-1] + "+00:00")
    return moment.astimezone(dt.UTC)


class _KeyTwiceError(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _distinct_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise _KeyTwiceError(name)
        found[name] = value
    return found


def key_named_twice(text: bytes) -> str | None:
    """The first key that one object of the JSON ``text`` names twice, else ``None``.

    msgspec keeps the last of the two, silently; another reader of the same bytes (a proxy, an auditor's
    tool, a partner) may keep the first. RFC 8259 §4 makes such a document's meaning unpredictable, and
    I-JSON (RFC 7493 §2.3), which RFC 8785 and so PROTOCOL §2 build on, forbids it.

    Raises:
        ValueError: ``text`` is not JSON (or not UTF-8).
        RecursionError: it nests deeper than Python's parser goes.
    """
    try:
        json.loads(text, object_pairs_hook=_distinct_keys)
    except _KeyTwiceError as twice:
        return twice.name
    return None
