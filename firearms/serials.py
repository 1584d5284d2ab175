"""Serial numbers (Art. 8(1)(a); ITI para 8): validation, the normalised identity form and the folded search form.

A serial is kept three ways (DESIGN §3):

* raw: exactly as given, never altered;
* normalised: Latin letters in upper case, separators (space ``-`` ``.`` ``/`` ``_``) removed: the
  identity form. Only ``a``-``z`` change case: a general case mapping would make other characters
  equal to Latin ones (long s U+017F to ``S``, sharp s to ``SS``, the ligature U+FB01 to ``FI``), a
  folding the identity must not do;
* folded: the normalised form with confusable characters mapped (O→0, I→1, L→1, S→5, B→8, Z→2),
  for fuzzy search only; a folded match is a candidate for a person, never an identity.

The same rules exist once in SQL (``normalise_serial``/``fold_serial`` in the migration) for the
stored columns; :func:`normalise` and :func:`fold` here must agree with them (a test checks it).
"""

from __future__ import annotations

import re
import string

from firearms.errors import InvalidInputError
from firearms.text_rules import CONTROL, is_padded

__all__ = ["MAX_SERIAL_LENGTH", "SEPARATORS", "check_serial", "fold", "normalise", "serial_problem"]

MAX_SERIAL_LENGTH = 64
SEPARATORS = " -./_"
_NORMALISE = str.maketrans(string.ascii_lowercase, string.ascii_uppercase, SEPARATORS)
_FOLD = str.maketrans("OILSBZ", "011582")
_ALLOWED = re.compile(r"^[A-Za-z0-9 ./_-]+$")


def normalise(serial: str) -> str:
    """The identity form: ``a``-``z`` upper-cased, separators removed (never the confusable folding)."""
    return serial.translate(_NORMALISE)


def fold(serial: str) -> str:
    """The search form: :func:`normalise` then O/0, I/1/L, S/5, B/8, Z/2 folded onto the digit."""
    return normalise(serial).translate(_FOLD)


def serial_problem(serial: str) -> str | None:  # noqa: PLR0911  # one return per rule
    """Why ``serial`` cannot be registered, or ``None`` when it can.

    Rules: not empty; no control characters; no leading or trailing white space (padding is refused,
    never trimmed, because the raw serial is kept exactly as stamped); at most 64 characters; only
    Latin letters, Arabic numerals and the separators space ``-`` ``.`` ``/`` ``_``; at least one
    letter or digit.
    """
    if not serial:
        return "the serial is empty"
    if CONTROL.search(serial):
        return "the serial contains control characters"
    if is_padded(serial):
        return "the serial has leading or trailing white space"
    if len(serial) > MAX_SERIAL_LENGTH:
        return f"the serial is longer than {MAX_SERIAL_LENGTH} characters"
    if not _ALLOWED.fullmatch(serial):
        return "the serial may hold only Latin letters, digits, spaces and - . / _"
    if not normalise(serial):
        return "the serial holds no letter or digit"
    return None


def check_serial(serial: str, field: str = "serial") -> str:
    """Return ``serial`` unchanged when it is acceptable.

    Raises:
        InvalidInputError: code ``invalid-serial``, with the field and the reason.
    """
    problem = serial_problem(serial)
    if problem is not None:
        raise InvalidInputError(f"{field}: {problem}", code="invalid-serial", field=field)
    return serial
