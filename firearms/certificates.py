"""The deactivation certificate as a printable page (DESIGN §3 and §8; Reg. 2015/2403 Art. 3).

The page shows the item's deactivation in effect: the certificate the verifier issued (number as text and as an
SVG Code128 barcode, date), the item, the deactivation mark, the deactivator, the verifier and the category before
and after. Labels are in English and in the registry's State's national language (:mod:`firearms.certificate_labels`).
Every value is escaped: the page shows what officers typed, never markup. It is drawn on each read (the rows it
shows never change; a correction takes the deactivation out, and the page with it).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import msgspec

from firearms.barcodes import code128_encodable, code128_svg
from firearms.certificate_labels import ENGLISH, labels_for
from firearms.errors import ConflictError, NotFoundError
from firearms.item_types import CertifiedItem, Item
from firearms.store import items as store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn

__all__ = ["Certificate", "find_by_number", "render_certificate"]

_NONE = "—"


class Certificate(msgspec.Struct, frozen=True, kw_only=True):
    """A rendered certificate: the deactivated event it certifies, the certificate number and the page."""

    item_id: int
    event_id: int
    certificate_number: str
    html: str


async def render_certificate(conn: Conn, item_id: int, *, state: str) -> Certificate:
    """The printable certificate of the item's deactivation in effect, labelled for ``state`` (the registry's State).

    Raises:
        NotFoundError: no such item, or no deactivation in effect (none recorded, or corrected).
        ConflictError: ``certificate-not-recorded``: the deactivation was recorded before the registry took its
            certificate (migration 20261130063000): there is nothing to print.
    """
    item = await store.get_item(conn, item_id)
    if item is None:
        raise NotFoundError(f"no item {item_id}", item_id=item_id)
    deactivation = await store.get_current_deactivation(conn, item_id)
    if deactivation is None:
        raise NotFoundError(
            f"item {item_id} has no deactivation in effect (none recorded, or it was corrected): no certificate",
            item_id=item_id,
        )
    number: str | None = deactivation["certificate_number"]
    if number is None:
        raise ConflictError(
            f"the deactivation of item {item_id} (event {deactivation['event_id']}) was recorded without its"
            " certificate: record the certificate with a correction and a new deactivation",
            code="certificate-not-recorded",
            item_id=item_id,
            event_id=deactivation["event_id"],
        )
    return Certificate(
        item_id=item_id,
        event_id=deactivation["event_id"],
        certificate_number=number,
        html=_html(item, deactivation, number, state),
    )


async def find_by_number(conn: Conn, certificate_number: str, *, after: int, limit: int) -> list[CertifiedItem]:
    """The items whose deactivation in effect records ``certificate_number``, in item order (Reg. 2015/2403 Art. 7).

    An officer holding a paper certificate has its number: this is the look-up by it. The number is compared as
    recorded (it is the verifier's: case and separators are its own), on ``item_event_certificate_number_idx``. A
    deactivation corrected since is not in effect and is not found; more than one item is found for a number that
    two verifiers each issued, or for one firearm recorded twice (an identity duplicate). ``after`` is the last
    ``item_id`` of the previous page.
    """
    rows = await store.find_items_by_certificate(conn, certificate_number, after, limit)
    names = (
        *Item.__struct_fields__,
        "event_id",
        "deactivated_on",
        "certificate_number",
        "certificate_date",
        "verifier",
    )
    return [CertifiedItem(**{name: row[name] for name in names}) for row in rows]


def _text(value: object) -> str:
    return _NONE if value is None else html.escape(str(value))


def _html(item: asyncpg.Record, deactivation: asyncpg.Record, number: str, state: str) -> str:
    national = labels_for(state)

    def label(key: str) -> str:
        if national is None:
            return ENGLISH[key]
        language, labels = national
        return f'{ENGLISH[key]}<br><span lang="{language}">{labels[key]}</span>'

    def row(key: str, value: object) -> str:
        return f"<tr><th>{label(key)}</th><td>{_text(value)}</td></tr>"

    mark_fields = ", ".join(
        _text(deactivation[name]) for name in ("mark_country", "mark_symbol_code", "mark_year") if deactivation[name]
    )
    mark = (
        _NONE
        if deactivation["mark_stamped"] is None
        else f"{html.escape(deactivation['mark_stamped'])} ({mark_fields})"
    )
    barcode = (
        code128_svg(number)
        if code128_encodable(number)
        else "<p>(This number holds characters a Code128 barcode cannot carry: type it.)</p>"
    )
    item_type = item["firearm_type"] or item["component_type"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(number)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
th,td{{border:1px solid #444;padding:4px;text-align:left;vertical-align:top}}th{{width:40%}}
th span{{font-weight:normal}}@media print{{body{{margin:0}}}}</style></head>
<body>
<h1>{label("title")}</h1>
<p>Commission Implementing Regulation (EU) 2015/2403 — Directive (EU) 2021/555 Annex I</p>
<div class="barcode">{barcode}</div>
<table>
{row("certificate_number", number)}
{row("certificate_date", deactivation["certificate_date"])}
{row("state", state)}
</table>
<h2>{label("item")}</h2>
<table>
{row("kind", item["kind"])}
{row("type", item_type)}
{row("make", item["make"])}
{row("model", item["model"])}
{row("calibre", item["calibre"])}
{row("serial", item["serial"])}
{row("manufacturer", item["manufacturer"])}
{row("country_of_manufacture", item["country_of_manufacture"])}
{row("year_of_manufacture", item["year_of_manufacture"])}
</table>
<h2>{label("deactivation")}</h2>
<table>
{row("occurred_on", deactivation["occurred_on"])}
<tr><th>{label("mark")}</th><td>{mark}</td></tr>
{row("deactivator", deactivation["deactivator"])}
{row("verifier", deactivation["verifier"])}
{row("category_before", deactivation["category_before"])}
{row("category_after", deactivation["category_after"])}
</table>
</body></html>
"""
