"""Printable licence documents and their verification (DESIGN §8).

A document is an HTML page per licence version, with the number as an SVG Code128 barcode and a
short verification code derived from the version's signature (the registry key signs the canonical
licence object when the version is issued: :func:`firearms.licence_views.licence_message`). Rendering is
cached per version in ``licence_document``; :func:`verify` answers status, validity, balances and
version for a number, and whether a printed code belongs to one of its versions.
"""

from __future__ import annotations

import datetime as dt
import html
import uuid
from typing import TYPE_CHECKING, Annotated

import msgspec

from firearms import journal, ledger, licence_reads, licence_views
from firearms.barcodes import code128_svg
from firearms.errors import ConflictError, NotFoundError
from firearms.store import licences as store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn
    from firearms.licence_object import LicenceObject, Party

__all__ = ["Document", "Verification", "render_document", "verify"]

_NEVER_ISSUED = frozenset({"draft", "pending"})
_CODE_SHOWN = (
    "the current version's verification code, told only to the roles that fetch licence documents"
    " (licensing-officer, admin, auditor); null to every other role, and for a partner's licence"
)


class Document(msgspec.Struct, frozen=True, kw_only=True):
    """A rendered document: the HTML page and the verification code printed on it."""

    licence_id: uuid.UUID
    version: int
    verification_code: str
    html: str


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    """What ``GET /api/v1/verify/{number}`` answers.

    ``verification_code`` is the current version's code, ``None`` for a partner's licence; the API
    answers it only to the roles that fetch licence documents, ``None`` to every other role (told
    it, they could print a paper that passes). ``code_matches`` is ``None`` when no code was given,
    or when the licence is a partner's (its versions are signed by its issuing State and no code of
    theirs can be checked here), else whether it is the code of the current version
    (``code_version`` names the version a code belongs to, also an older one). ``in_validity_period`` says
    whether ``today``, the registry's date, lies within ``valid_from``..``expires_on``: a partner's licence stays
    ``issued`` here until its issuing State says otherwise, and an own one until the licence timer runs, so the
    status alone can show ``issued`` for a licence whose last day has passed.
    """

    number: str
    issuing_state: str
    kind: str
    status: licence_views.LicenceStatus
    version: int
    valid_from: dt.date
    expires_on: dt.date
    today: Annotated[
        dt.date, msgspec.Meta(description="the registry's date (FIREARMS_TIME_ZONE) the period is judged on")
    ]
    in_validity_period: Annotated[
        bool, msgspec.Meta(description="today lies within valid_from..expires_on, whatever the status says")
    ]
    verification_code: Annotated[str | None, msgspec.Meta(description=_CODE_SHOWN)]
    code_matches: bool | None
    code_version: int | None
    lines: list[ledger.LineBalance]


async def render_document(conn: Conn, licence_id: uuid.UUID, version: int, *, actor: str) -> Document:
    """The printable page of a signed (issued) version, rendered once and then served from the cache.

    Raises:
        NotFoundError: no such licence or version.
        ConflictError: ``licence-not-issued`` (the version was never signed).
    """
    cached = await store.get_licence_document(conn, licence_id, version)
    if cached is not None:
        return Document(
            licence_id=licence_id, version=version, verification_code=cached["verification_code"], html=cached["html"]
        )
    view = await licence_reads.get_version(conn, licence_id, version)
    if view.verification_code is None:
        raise ConflictError(
            f"version {version} of {view.licence.number} was never issued: there is no document",
            code="licence-not-issued",
            version=version,
        )
    page = _html(view.licence, view.verification_code)
    await store.insert_licence_document(
        conn, licence_id, version, page, view.verification_code, dt.datetime.now(dt.UTC)
    )
    await journal.record(
        conn,
        actor=actor,
        action="licence.document-rendered",
        entity="licence",
        entity_id=str(licence_id),
        # the version, not its code: a journal is read and kept in more places (exports, archives) than the page
        payload={"version": version},
    )
    return Document(licence_id=licence_id, version=version, verification_code=view.verification_code, html=page)


async def verify(
    conn: Conn, *, state: str, today: dt.date, issuing_state: str | None, number: str, code: str | None = None
) -> Verification:
    """Status, validity, balances and version of a licence; with ``code``, whether a printed code is genuine.

    ``state`` is this registry's and ``today`` its date; ``issuing_state`` defaults to ``state``. A licence never
    issued (draft or pending) is answered like an unknown number: numbers run in sequence, and a guess must not
    learn of a licence still being drafted, its dates and quantities. The balances of a partner's licence are this
    State's own tally for its part on the route (transit or import), as its customs checks count them (DESIGN §5).

    Raises:
        NotFoundError: no licence with this number, or none issued yet; given without its issuing State, the
            detail names the partners whose issued licence of that number is held here.
    """
    issuer = issuing_state or state
    row = await store.find_licence(conn, issuer, number)
    if row is None or row["status"] in _NEVER_ISSUED:
        detail = f"no licence {number} of {issuer}"
        partners = await store.list_partner_states_of_number(conn, number) if issuing_state is None else []
        if partners:
            asked = " or ".join(f"?issuing_state={partner}" for partner in partners)
            detail += f": for a partner's licence give its issuing State ({asked})"
        raise NotFoundError(detail, number=number, issuing_state=issuer)
    current = await licence_reads.get_version(conn, row["licence_id"], row["version"])
    code_version: int | None = None
    # A partner's versions carry no signature of theirs here: its printed code cannot be judged.
    judged = code is not None and row["origin"] == "local"
    if judged and code is not None:
        wanted = _typed_code(code)
        after = 0
        while code_version is None:
            batch = await licence_reads.list_versions(conn, row["licence_id"], after=after, limit=100)
            if not batch:
                break
            code_version = next((v.version for v in batch if v.verification_code == wanted), None)
            after = batch[-1].version
    return Verification(
        number=row["number"],
        issuing_state=row["issuing_state"],
        kind=row["kind"],
        status=row["status"],
        version=row["version"],
        valid_from=row["valid_from"],
        expires_on=row["expires_on"],
        today=today,
        in_validity_period=row["valid_from"] <= today <= row["expires_on"],
        verification_code=current.verification_code,
        code_matches=code_version == row["version"] if judged else None,
        code_version=code_version,
        lines=await _balances(conn, row, state),
    )


async def _balances(conn: Conn, row: asyncpg.Record, state: str) -> list[ledger.LineBalance]:
    """The ledger of an own licence; of a partner's, this State's tally for its part on the route."""
    movement = None
    if row["origin"] == "received":
        if row["importing_state"] == state:
            movement = "import"
        elif state in row["transit_states"]:
            movement = "transit"
    if movement is None:
        return await ledger.balances(conn, row["licence_id"])
    return await ledger.passage_balances(
        conn, row["licence_id"], issuing_state=row["issuing_state"], number=row["number"], movement=movement
    )


def _typed_code(code: str) -> str:
    """A code as an officer typed it, in the printed form ``XXXXX-XXXXX`` (case, spaces and hyphens ignored)."""
    plain = "".join(character for character in code.upper() if character.isalnum())
    return f"{plain[:5]}-{plain[5:]}" if len(plain) == 10 else plain  # the printed length: 10 characters


def _party(label: str, party: Party) -> str:
    registration = f"<br>Registration: {html.escape(party.registration)}" if party.registration else ""
    return (
        f"<tr><th>{label}</th><td>{html.escape(party.name)}<br>{html.escape(party.address)}<br>"
        f"{html.escape(party.country)}{registration}</td></tr>"
    )


def _html(obj: LicenceObject, code: str) -> str:
    esc = html.escape
    kind_title = {
        "export": "Export authorisation",
        "import": "Import authorisation",
        "transit": "Transit authorisation",
        "brokering": "Brokering authorisation",
    }[obj.kind]
    route = " → ".join([obj.exporting_state, *obj.transit_states, obj.importing_state])
    lines = "".join(
        f"<tr><td>{item.line}</td><td>{esc(item.category)}</td><td>{esc(item.type)}</td><td>{esc(item.make)}</td>"
        f"<td>{esc(item.model)}</td><td>{esc(item.calibre)}</td><td>{item.quantity}</td>"
        f"<td>{esc(', '.join(item.serials))}</td><td>{esc(item.description)}</td></tr>"
        for item in obj.lines
    )
    auth = obj.import_authorisation
    auth_row = (
        f"<tr><th>Import authorisation</th><td>{esc(auth.number)} ({esc(auth.state)}), "
        f"{auth.issued_on.isoformat()} to {auth.expires_on.isoformat()}</td></tr>"
        if auth
        else ""
    )
    brokers = "".join(_party("Broker", broker) for broker in obj.brokers)
    return_row = f"<tr><th>Return date</th><td>{obj.return_on.isoformat()}</td></tr>" if obj.return_on else ""
    issued = obj.issued_at.strftime("%Y-%m-%d %H:%M UTC") if obj.issued_at else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(obj.number)} v{obj.version}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
th,td{{border:1px solid #444;padding:4px;text-align:left;vertical-align:top}}
.code{{font-family:monospace;font-size:1.4em}}
@media print{{body{{margin:0}}}}</style></head>
<body>
<h1>{kind_title}</h1>
<p>UN Firearms Protocol Art. 10 — Regulation (EU) No 258/2012 Annex II</p>
<div class="barcode">{code128_svg(obj.number)}</div>
<table>
<tr><th>Number</th><td>{esc(obj.number)}</td></tr>
<tr><th>Version</th><td>{obj.version}</td></tr>
<tr><th>Issuing State</th><td>{esc(obj.issuing_state)}</td></tr>
<tr><th>Issuing authority</th><td>{esc(obj.issuing_authority)}, {esc(obj.place_of_issue)}</td></tr>
<tr><th>Issued</th><td>{issued}</td></tr>
<tr><th>Valid</th><td>{obj.valid_from.isoformat()} to {obj.expires_on.isoformat()}</td></tr>
<tr><th>Route</th><td>{esc(route)}</td></tr>
<tr><th>Purpose</th><td>{esc(obj.purpose)}</td></tr>
{return_row}{_party("Exporter", obj.exporter)}{_party("Consignee", obj.consignee)}
{_party("Final recipient", obj.final_recipient)}{brokers}{auth_row}
</table>
<h2>Goods</h2>
<table><tr><th>Line</th><th>Category</th><th>Type</th><th>Make</th><th>Model</th><th>Calibre</th><th>Quantity</th>
<th>Serials</th><th>Description</th></tr>{lines}</table>
<p>Verification code: <span class="code">{esc(code)}</span> — confirm at GET /api/v1/verify/{esc(obj.number)}</p>
</body></html>
"""
