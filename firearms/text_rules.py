"""The registry's one definition of control characters and of white space (DESIGN §7: input validated at the boundary).

Every rule that refuses padding (record fields, serials, the identifiers of a customs check) and the
bulk import's SQL use these, so that a value padded with a no-break space is refused wherever one
padded with a blank is. Python's ``str.strip()`` is not the registry's white space: it also takes
control characters (NEL U+0085, U+001C-U+001F), which are refused as control characters instead.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Annotated

import msgspec

__all__ = [
    "CONTROL",
    "CONTROL_PATTERN_SQL",
    "IDENTIFIER",
    "REASON",
    "SPACE_CHARACTERS",
    "STATE_CODE_PATTERN",
    "TEXT_OR_EMPTY_PATTERN",
    "TEXT_PATTERN",
    "UNPADDED_TEXT_PATTERN",
    "counted",
    "decode_location",
    "identifier_fault",
    "is_http_base_url",
    "is_padded",
    "plain_name",
    "printable",
    "without_input",
]

STATE_CODE_PATTERN = r"^[A-Z]{2}$(?!\n)"
"""A State as two capital letters, for msgspec and Litestar (which match with ``re.search``, where ``$`` alone
also matches before a final line feed; ``(?!\n)`` refuses ``"AT\n"`` and reads to OpenAPI as ``$`` does)."""

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0 and C1 control characters and DEL: refused in every text value."""
TEXT_PATTERN = r"^(?=.*\S)[^\x00-\x1f\x7f-\x9f]+$(?!\n)"
"""Text as a request body's Struct takes it (msgspec ``pattern``): something besides white space, no character of
:data:`CONTROL`. For the fields that are printed and sent to partners: a licence's, a party's."""
UNPADDED_TEXT_PATTERN = r"^(?!\s)[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f]$(?!\n)"
""":data:`TEXT_PATTERN` without white space before or after it (Python's white space class outside the
control characters is :data:`SPACE_CHARACTERS`): an officer's words for a decision, kept as given."""
REASON = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=UNPADDED_TEXT_PATTERN)]
"""An officer's reason for a decision (a licence's status change, a consent, a party's, a held check's), journaled and
often sent to partners, kept as given: 1-2,000 characters, no control character (a line break included), no white
space before or after it."""
TEXT_OR_EMPTY_PATTERN = r"^(?:(?=.*\S)[^\x00-\x1f\x7f-\x9f]+)?$(?!\n)"
""":data:`TEXT_PATTERN` or the empty string (a licence line's model, which an ammunition lot has not)."""
# The same rule as a regular expression the bulk import hands to PostgreSQL (NUL never reaches it).
CONTROL_PATTERN_SQL = "[\x01-\x1f\x7f-\x9f]"
SPACE_CHARACTERS = "".join(ch for ch in map(chr, range(0x20, 0x3001)) if ch.isspace() and not CONTROL.match(ch))
"""White space that is not a control character: space, the no-break spaces, U+1680, U+2000-U+200A, U+2028,
U+2029, U+205F, U+3000. It may not lead or trail a value."""
_PADDED = re.compile(f"^[{re.escape(SPACE_CHARACTERS)}]|[{re.escape(SPACE_CHARACTERS)}]$")


def is_padded(value: str) -> bool:
    """Whether ``value`` begins or ends with white space (:data:`SPACE_CHARACTERS`)."""
    return _PADDED.search(value) is not None


IDENTIFIER = msgspec.Meta(extra={"identifier": True})
"""Marks a string of a received notice's body as an identifier: ``Annotated[str, msgspec.Meta(...), IDENTIFIER]``.

An identifier names a record or is matched (a report id, a shipment id, a serial): padded or holding a control
character it is refused, never trimmed (:func:`identifier_fault`), as the registry refuses its own.
"""


def identifier_fault(value: str) -> str | None:
    """Why ``value`` cannot be an identifier, in words (white space around it, a control character); else ``None``."""
    if CONTROL.search(value):
        return "holds a control character"
    if is_padded(value):
        return "has white space before or after it"
    return None


def counted(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and the noun in its number, for people: ``1 entry``, ``0 entries``, ``2 checkpoints``.

    ``nouns`` is the plural when it is not ``noun`` + ``s`` (``entry``, ``entries``).
    """
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def printable(text: str) -> str:
    """``text`` with every character that is not printable escaped as Python writes it (a newline, ESC).

    For words from outside in a log line or a terminal: a path (percent-decoded, so ``/%0aINFO ...``), a
    partner's error text. Unescaped, a newline would start a forged line of its own and an ESC drive the
    terminal of whoever reads it.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


_BASE_URL = re.compile(r"https?://[^\s/?#\x00-\x1f\x7f-\x9f]+(/[^\s?#\x00-\x1f\x7f-\x9f]*)?")


def is_http_base_url(url: str) -> bool:
    """``http(s)://host[:port][/path]``: no user or password, query, fragment or control character; a port of 1-65535.

    The rule for a partner's base URL and for this registry's own (``FIREARMS_PUBLIC_URL``). No white space or
    control character (C0, DEL, C1): the URL sits in the trust list, listings and the log.
    """
    if not _BASE_URL.fullmatch(url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError when it is not a number of 0-65535
    except ValueError:
        return False
    return bool(parts.hostname) and "@" not in parts.netloc and port != 0


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# msgspec's location of an error: the Struct's own field names, array indexes and "[...]" for a mapping's values
_DECODE_AT = re.compile(r" - at `\$(?P<path>(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|\[\.\.\.\])*)`$")
_UNKNOWN_FIELD = "Object contains unknown field `"


def plain_name(name: str) -> str | None:
    """``name`` when it is a plain name (letters, digits, ``_.-``, at most 64), safe to quote back; else ``None``.

    A field or query parameter name the caller chose is quoted in an answer only then (README "Security").
    """
    return name if _PLAIN_NAME.fullmatch(name) else None


def decode_location(message: str) -> str | None:
    """Where in the document msgspec's decode error ``message`` is, as Litestar keys it (``lines[0].serials``).

    Read from its closing `` - at `$...` `` only, which names the Struct's own fields: ``None`` at the top level.
    A search for "`$." anywhere took an unknown field's name (``$.<script>``) for the place (README "Security").
    """
    at = _DECODE_AT.search(message)
    return (at["path"].removeprefix(".") or None) if at else None


def without_input(message: str) -> str:
    """A decode error of msgspec's as it may be quoted back: no value nor unknown name the caller wrote in it.

    msgspec quotes the value it refused (``Invalid enum value '<script>'``) and an unknown field's name; its
    location (`` - at `$.notice.type` ``) names only the Struct's own fields and stays (README "Security").
    A message cut short before the closing quote of a name (Litestar cuts at the first " - ") names none.
    """
    at = _DECODE_AT.search(message)
    head, where = (message[: at.start()], at.group()) if at else (message, "")
    if head.startswith(("Invalid enum value ", "Invalid value ")):
        head = "Invalid value: not one of those the field takes"
    elif head.startswith(_UNKNOWN_FIELD):
        name = head[len(_UNKNOWN_FIELD) :]
        plain = plain_name(name[:-1]) if name.endswith("`") else None
        head = "Object contains an unknown field" if plain is None else f"Object contains unknown field `{plain}`"
    return head + where
