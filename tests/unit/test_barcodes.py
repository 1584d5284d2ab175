from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import zxingcpp

from firearms.barcodes import code128_svg

_MM = re.compile(r"^([0-9.]+)mm$")


def rasterise(svg: str, pixels_per_mm: float = 12.0) -> np.ndarray:
    """Draw the black rects of a python-barcode SVG into a grey-scale image (white background)."""
    root = ET.fromstring(svg)  # noqa: S314  # our own SVG, not untrusted input
    width = float(_MM.match(root.attrib["width"]).group(1))  # type: ignore[union-attr]
    height = float(_MM.match(root.attrib["height"]).group(1))  # type: ignore[union-attr]
    image = np.full((round(height * pixels_per_mm), round(width * pixels_per_mm)), 255, dtype=np.uint8)
    for rect in root.iter("{http://www.w3.org/2000/svg}rect"):
        if "black" not in rect.attrib.get("style", ""):
            continue
        x, y, w, h = (float(_MM.match(rect.attrib[k]).group(1)) for k in ("x", "y", "width", "height"))  # type: ignore[union-attr]
        image[
            round(y * pixels_per_mm) : round((y + h) * pixels_per_mm),
            round(x * pixels_per_mm) : round((x + w) * pixels_per_mm),
        ] = 0
    return image


def decode(svg: str) -> list[str]:
    return [
        result.text
        for result in zxingcpp.read_barcodes(rasterise(svg))
        if result.format == zxingcpp.BarcodeFormat.Code128
    ]


def test_code128_svg_decodes_back_to_the_licence_number() -> None:
    for number in ("AT-EXP-2026-000123", "DE-IMP-2026-42", "AT-BRK-2027-999999"):
        svg = code128_svg(number)
        assert svg.startswith("<svg")
        assert decode(svg) == [number]
