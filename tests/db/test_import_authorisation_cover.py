"""The export licence rests on an import authorisation that covers it (Protocol Art. 10(2)(a); Reg. 258/2012 Art. 7).

The importing State authorised the import of certain goods, by a certain consignee. An export licence for more of
them (a larger quantity, a category the authorisation does not name) or for another consignee is not authorised by
it: before, the gate read only the authorisation's status, kind, exporting State and dates, and issued such a licence.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from firearms import db, licence_reads, licence_versions, parties
from firearms.errors import ConflictError
from firearms.licence_rules import DraftLine
from firearms.parties import NewParty
from firearms.settings import Settings
from tests.db.test_exchange_licensing import _receive, at
from tests.db.test_partner_standing import AUTHORISATION, _from_de
from tests.licensing_helpers import ACTOR, LINES, Parties, export_draft, issued_export

__all__ = ["at"]


def _authorisation(**changes: Any) -> dict[str, Any]:
    authorisation = copy.deepcopy(AUTHORISATION)
    authorisation.update(changes)
    return authorisation


def _lines(rifles: int, cartridges: int | None) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = copy.deepcopy(AUTHORISATION["lines"])
    lines[0]["quantity"] = rifles
    lines[0]["serials"] = [f"SSG08-{n:03d}" for n in range(1, rifles + 1)]
    if cartridges is None:
        return lines[:1]
    lines[1]["quantity"] = cartridges
    return lines


async def _issue_unmet(conn: db.Conn, settings: Settings, at: Parties) -> list[tuple[str, str | None]]:
    with pytest.raises(ConflictError) as blocked:
        await issued_export(conn, settings, at)
    assert blocked.value.code == "gates-unmet"
    assert await conn.fetchval("SELECT count(*) FROM licence WHERE origin = 'local' AND status = 'issued'") == 0
    return [(gate["gate"], gate["state"]) for gate in blocked.value.facts["unmet"]]


@pytest.mark.parametrize(
    ("authorisation", "gate"),
    [
        # one rifle authorised, two licensed
        (_authorisation(lines=_lines(1, 800)), "goods-beyond-import-authorisation"),
        # 500 cartridges authorised, 800 licensed
        (_authorisation(lines=_lines(2, 500)), "goods-beyond-import-authorisation"),
        # the rifles only: no ammunition authorised at all
        (_authorisation(lines=_lines(2, None)), "goods-beyond-import-authorisation"),
        # another consignee
        (
            _authorisation(consignee={"name": "Waffen Schulz GmbH", "country": "DE", "address": "Ring 2, Köln"}),
            "consignee-not-on-import-authorisation",
        ),
        # another legal form is another firm: the legal form is compared, not dropped
        (
            _authorisation(consignee={"name": "Jagdbedarf Müller GmbH", "country": "DE", "address": "Marktplatz 3"}),
            "consignee-not-on-import-authorisation",
        ),
        # the same name in another country is another firm
        (
            _authorisation(
                consignee={"name": "Jagdbedarf Müller KG", "country": "AT", "address": "Marktplatz 3, 5020 Salzburg"}
            ),
            "consignee-not-on-import-authorisation",
        ),
    ],
)
async def test_an_export_licence_beyond_its_import_authorisation_is_not_issued(
    authorisation: dict[str, Any], gate: str, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    raw = _from_de(1, "import-authorisation.issued", {"licence": authorisation})
    assert await _receive(conn, settings, raw) == ("accepted", None)
    assert await _issue_unmet(conn, settings, at) == [(gate, "DE")]


@pytest.mark.parametrize(
    "authorisation",
    [
        AUTHORISATION,  # exactly the licence's goods and consignee
        _authorisation(lines=_lines(5, 2000)),  # more than the licence: the licence uses part of it
        # the consignee's name as DE spells it, in another case and spacing
        _authorisation(consignee={"name": "JAGDBEDARF  müller kg", "country": "DE", "address": "Marktplatz 3"}),
        # the umlaut written out, or dropped, as a keyboard without it writes the name
        _authorisation(consignee={"name": "Jagdbedarf Mueller KG", "country": "DE", "address": "Marktplatz 3"}),
        _authorisation(consignee={"name": "JAGDBEDARF MULLER KG", "country": "DE", "address": "Marktplatz 3"}),
        # the legal form with its dots, and a hyphen for the space
        _authorisation(consignee={"name": "Jagdbedarf-Müller K.G.", "country": "DE", "address": "Marktplatz 3"}),
    ],
)
async def test_an_export_licence_within_its_import_authorisation_is_issued(
    authorisation: dict[str, Any], conn: db.Conn, settings: Settings, at: Parties
) -> None:
    raw = _from_de(1, "import-authorisation.issued", {"licence": authorisation})
    assert await _receive(conn, settings, raw) == ("accepted", None)
    assert (await issued_export(conn, settings, at)).status == "issued"


async def test_an_issued_licence_is_not_amended_beyond_its_import_authorisation(
    conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """A direct export (no transit State to ask more of): the amendment's gates stop 1000 cartridges on 800."""
    raw = _from_de(1, "import-authorisation.issued", {"licence": AUTHORISATION})
    assert await _receive(conn, settings, raw) == ("accepted", None)
    issued = await issued_export(conn, settings, at, route=["AT", "DE"])
    lines = [DraftLine(**msgspec.structs.asdict(line)) for line in LINES]
    lines[1] = msgspec.structs.replace(lines[1], quantity=1000)
    with pytest.raises(ConflictError) as blocked:
        async with conn.transaction():
            await licence_versions.amend(
                conn,
                issued.licence_id,
                export_draft(at, route=["AT", "DE"], lines=lines, reason="more cartridges"),
                settings=settings,
                actor=ACTOR,
            )
    assert [(gate["gate"], gate["state"]) for gate in blocked.value.facts["unmet"]] == [
        ("goods-beyond-import-authorisation", "DE")
    ]
    after = await licence_reads.get_licence(conn, issued.licence_id)
    assert (after.version, after.status, after.licence.lines[1].quantity) == (1, "issued", 800)


@pytest.mark.parametrize(
    ("registration", "name", "issued"),
    [
        ("de-hrb 4711", "Jagdbedarf Mueller KG", True),  # the same registration, the name spelt DE's way
        ("DE HRB-4711", "Jagdbedarf Müller KG", True),  # the same registration, its separators written otherwise
        ("DE-HRB 4712", "Jagdbedarf Müller KG", False),  # the same name, another registered firm
    ],
)
async def test_a_consignee_registered_on_both_sides_is_the_same_by_its_registration(
    registration: str, name: str, issued: bool, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    async with conn.transaction():
        consignee = await parties.create_party(
            conn,
            NewParty(
                kind="consignee",
                name="Jagdbedarf Müller KG",
                country="DE",
                address="Marktplatz 3, 94032 Passau",
                registration="DE-HRB 4711",
            ),
            actor=ACTOR,
        )
    named = {"name": name, "country": "DE", "address": "Marktplatz 3", "registration": registration}
    raw = _from_de(1, "import-authorisation.issued", {"licence": _authorisation(consignee=named)})
    assert await _receive(conn, settings, raw) == ("accepted", None)
    with_registration = msgspec.structs.replace(at, consignee=consignee.party_id, final_recipient=consignee.party_id)
    if issued:
        assert (await issued_export(conn, settings, with_registration)).status == "issued"
    else:
        assert await _issue_unmet(conn, settings, with_registration) == [
            ("consignee-not-on-import-authorisation", "DE")
        ]


@pytest.mark.parametrize(
    ("cartridges", "issued"),
    [
        (700, True),  # lowered, though still above what DE now authorises: less exposure than the 800 in force
        (600, True),  # lowered to what DE now authorises
        (900, False),  # more than the version in force, and beyond DE's authorisation
    ],
)
async def test_an_issued_licence_is_amended_down_after_its_import_authorisation_was_lowered(
    cartridges: int, issued: bool, conn: db.Conn, settings: Settings, at: Parties
) -> None:
    """DE lowers its authorisation to 600 cartridges under an issued licence for 800: AT may always amend it down.

    The cover gates judge what an amendment adds: a version that asks no more of a category than the one in force
    (nor names another consignee) is no less covered than it; refusing it would keep the 800 in force.
    """
    assert await _receive(conn, settings, _from_de(1, "import-authorisation.issued", {"licence": AUTHORISATION})) == (
        "accepted",
        None,
    )
    licence = await issued_export(conn, settings, at, route=["AT", "DE"])
    lowered = _authorisation(version=2, lines=_lines(2, 600))
    assert await _receive(conn, settings, _from_de(2, "import-authorisation.issued", {"licence": lowered})) == (
        "accepted",
        None,
    )
    lines = [DraftLine(**msgspec.structs.asdict(line)) for line in LINES]
    lines[1] = msgspec.structs.replace(lines[1], quantity=cartridges)
    draft = export_draft(at, route=["AT", "DE"], lines=lines, reason="DE lowered its authorisation")
    if issued:
        async with conn.transaction():
            amended = await licence_versions.amend(conn, licence.licence_id, draft, settings=settings, actor=ACTOR)
        assert (amended.version, amended.status, amended.licence.lines[1].quantity) == (2, "issued", cartridges)
        return
    with pytest.raises(ConflictError) as blocked:
        async with conn.transaction():
            await licence_versions.amend(conn, licence.licence_id, draft, settings=settings, actor=ACTOR)
    assert [(gate["gate"], gate["state"]) for gate in blocked.value.facts["unmet"]] == [
        ("goods-beyond-import-authorisation", "DE")
    ]
    after = await licence_reads.get_licence(conn, licence.licence_id)
    assert (after.version, after.licence.lines[1].quantity) == (1, 800)
