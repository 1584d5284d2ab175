"""Code128 barcodes as inline SVG (DESIGN §8): the only module that imports python-barcode."""

from __future__ import annotations

import io

import barcode
from barcode.writer import SVGWriter

__all__ = ["code128_encodable", "code128_svg"]

_OPTIONS = {"write_text": False, "module_width": 0.33, "module_height": 15.0, "quiet_zone": 6.5}


def code128_encodable(text: str) -> bool:
    """Whether ``text`` can be drawn as Code128: printable ASCII only (a scanner types nothing else)."""
    return bool(text) and all(" " <= character <= "~" for character in text)


def code128_svg(text: str) -> str:
    """An ``<svg>`` element (no XML prologue, ready to inline in HTML) with ``text`` as Code128.

    Any 1D scanner at a border post reads it back into the check screen as ``text``.
    """
    buffer = io.BytesIO()
    barcode.get("code128", text, writer=SVGWriter()).write(buffer, options=_OPTIONS)
    svg = buffer.getvalue().decode("utf-8")
    return svg[svg.index("<svg") :].strip()
