"""Gates before an export licence is issued (Protocol Art. 10(2); Reg. 258/2012 Art. 7; DESIGN §3).

:func:`unmet_gates` returns EVERY gate that does not hold, so the officer sees all of them at once:

- ``validity-ended``: the licence's last day has passed (every kind);
- ``party-not-active``, ``broker-not-active``: a party or broker the licence names was suspended or
  revoked, or its registration's validity ended, since it was drafted (every kind; the broker register is
  Art. 15's);
- ``import-authorisation-missing``: no import authorisation of the importing State is recorded;
- ``import-authorisation-not-valid``: the importing State's authorisation, as received by notice
  (a ``licence`` row of that State and number), is not ``issued`` (suspended, revoked, ...), or is no
  authorisation of this export: an export licence of that State's, or an import authorisation for goods
  from another exporting State;
- ``import-authorisation-expired``: it has expired;
- ``validity-beyond-import-authorisation``: the licence would outlive it;
- ``validity-before-import-authorisation``: the licence would be usable before it is (its first day
  is after the licence's ``valid_from``);
- ``goods-beyond-import-authorisation``: the licence names more items of a category (firearm, component,
  ammunition) than the import authorisation, as received, authorises, less what the other export licences drawn on
  it hold of it (its quantity is one balance, shared);
- ``consignee-not-on-import-authorisation``: the import authorisation, as received, names another consignee;
- ``transit-consent-missing``: a transit State has neither a no-objection nor a deemed consent;
- ``transit-consent-outdated``: its decision answers an earlier version than the one last sent to it
  (the pending licence was amended since; it was asked again);
- ``transit-consent-objected``: a transit State's latest decision is an objection;
- ``transit-consent-after-shipment``: the consent is dated after the requested shipment start;
- ``transit-consent-lapsed``: the consent's ``valid_until`` has passed;
- ``item-not-exportable``: before the first issue, a serial of a firearm or component line names only items
  this registry records as not ``active`` (reported stolen, seized, destroyed, exported... since the draft).

The import authorisation's last day is the earlier of the one recorded in the licence and the one
the importing State sent by notice, when it did (its own word wins over a date typed here); its first
day the later of the two.

Complete serials on firearm lines are checked when the licence is used for a shipment, not at issue
(Reg. 258/2012 Art. 8(1)(h)): a customs check holds each serial its line does not list
(``serial-not-on-licence``, :mod:`firearms.check_rules`).
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from firearms import consents, items
from firearms.licence_object import CATEGORIES
from firearms.licence_views import licence_object
from firearms.parties import Party
from firearms.serials import normalise
from firearms.store import consents as consent_store
from firearms.store import licences as licence_store
from firearms.store import parties as party_store

if TYPE_CHECKING:
    import datetime as dt
    import uuid
    from collections.abc import Iterable

    import asyncpg

    from firearms.db import Conn
    from firearms.licence_object import LicenceLine, LicenceObject
    from firearms.licence_object import Party as LicencePartyObject

__all__ = ["Cover", "Gate", "Share", "Unexportable", "unexportable", "unmet_gates"]

_NEVER_ISSUED = frozenset({"draft", "pending"})


class Share(msgspec.Struct, frozen=True, kw_only=True):
    """What another export licence drawn on the same import authorisation holds of one category of it."""

    number: str
    status: str
    quantity: int


class Cover(msgspec.Struct, frozen=True, kw_only=True):
    """The facts of ``goods-beyond-import-authorisation``: one category of an import authorisation, as a balance.

    ``authorised``: what its current version, as received, authorises; ``held``: what the other export licences
    drawn on it hold (``licences``, each once, at its current version); ``asked``: what this licence names.
    """

    number: str
    state: str
    category: str
    authorised: int
    held: int
    asked: int
    licences: list[Share]


class Gate(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An unmet gate: its code, the State it concerns (transit gates) and a sentence for people.

    ``confidentiality``: where the sentence quotes a partner's words (an objection's reason, received by
    notice), the level that notice carried (Art. 12(5)); left out otherwise. ``cover``: the facts of
    ``goods-beyond-import-authorisation``; left out otherwise.
    """

    gate: str
    state: str | None
    detail: str
    confidentiality: str | None = None
    cover: Cover | None = None


async def unmet_gates(
    conn: Conn,
    row: asyncpg.Record,
    licence: LicenceObject,
    *,
    today: dt.date,
    lock: bool = False,
    before: LicenceObject | None = None,
) -> list[Gate]:
    """Every gate that does not hold for issuing ``licence`` today (an empty list: it may be issued).

    With ``lock`` (issuing, reinstating, amending an issued licence: the caller holds the licence's lock)
    the parties' rows are read ``FOR SHARE`` and the received import authorisation's row is locked (``FOR NO KEY
    UPDATE``), so a status change in flight on one of them is seen and a later one waits until the licence's change
    has committed; so does the issue or amendment of another licence drawn on the same authorisation, which then
    counts this one's share of it.

    ``before`` (amending an issued licence): the version in force. The import authorisation's cover is then judged
    on what the amendment adds: a category not raised above ``before`` and a consignee ``before`` named too open
    no gate, so a licence is always amended down after the importing State lowered its authorisation (refusing
    would keep the larger version in force).
    """
    unmet: list[Gate] = []
    if licence.expires_on < today:
        unmet.append(Gate(gate="validity-ended", state=None, detail=f"the validity ended on {licence.expires_on}"))
    unmet.extend(await _party_gates(conn, row, today, lock=lock))
    if licence.kind != "export":
        return unmet
    auth = licence.import_authorisation
    if auth is None or auth.state != licence.importing_state:
        unmet.append(
            Gate(
                gate="import-authorisation-missing",
                state=licence.importing_state,
                detail=f"no import authorisation of {licence.importing_state} is recorded",
            )
        )
    else:
        received = await (licence_store.find_licence_for_update if lock else licence_store.find_licence)(
            conn, auth.state, auth.number
        )
        foreign = None if received is None else _not_this_authorisation(received, licence)
        if foreign is not None:
            unmet.append(
                Gate(
                    gate="import-authorisation-not-valid",
                    state=auth.state,
                    detail=f"{auth.number} as received from {auth.state} is {foreign}",
                )
            )
        elif received is not None and received["status"] != "issued":
            unmet.append(
                Gate(
                    gate="import-authorisation-not-valid",
                    state=auth.state,
                    detail=f"import authorisation {auth.number} as received from {auth.state} is {received['status']}",
                )
            )
        if received is not None and foreign is None:
            unmet.extend(await _cover_gates(conn, received, row["licence_id"], licence, before))
        # The importing State's own word on its authorisation's last day wins over the date typed here.
        auth_expires = auth.expires_on if received is None else min(auth.expires_on, received["expires_on"])
        if auth_expires < today:
            unmet.append(
                Gate(
                    gate="import-authorisation-expired",
                    state=auth.state,
                    detail=f"import authorisation {auth.number} expired on {auth_expires}",
                )
            )
        # Likewise its first day: goods leaving before the importing State authorised them are not authorised.
        auth_starts = auth.issued_on if received is None else max(auth.issued_on, received["valid_from"])
        if licence.valid_from < auth_starts:
            unmet.append(
                Gate(
                    gate="validity-before-import-authorisation",
                    state=auth.state,
                    detail=f"the licence runs from {licence.valid_from}, the import authorisation from {auth_starts}",
                )
            )
        if licence.expires_on > auth_expires:
            unmet.append(
                Gate(
                    gate="validity-beyond-import-authorisation",
                    state=auth.state,
                    detail=f"the licence runs to {licence.expires_on}, the import authorisation to {auth_expires}",
                )
            )
    latest = await consents.latest_decisions(conn, row["licence_id"])
    requests = {
        request["transit_state"]: request
        for request in await consent_store.list_transit_consent_requests(conn, row["licence_id"])
    }
    for state in licence.transit_states:
        unmet.extend(_transit_gate(state, latest.get(state), requests.get(state), today))
    if row["status"] in _NEVER_ISSUED:
        unmet.extend(await _item_gates(conn, licence))
    return unmet


async def _item_gates(conn: Conn, licence: LicenceObject) -> list[Gate]:
    """Art. 10: the firearms and components of a licence about to be issued are still here and usable.

    Its draft was judged when written (:func:`firearms.licence_versions.create_draft`: ``item-not-exportable``); a
    firearm reported stolen, seized, destroyed or exported while the licence waited for its consents is not
    licensed for export by the issue. Only before the first issue: once issued, the licence's own firearms
    become ``exported`` as they leave, and a reinstatement or an amendment must not stop on them.
    """
    return [
        Gate(gate="item-not-exportable", state=None, detail=found.detail)
        for found in await unexportable(conn, licence.lines)
    ]


class Unexportable(NamedTuple):
    """A serial of a licence line that names only items here that cannot leave as what they are (Art. 10)."""

    line: int
    serial: str
    items: list[tuple[int, str]]
    """The items it names, each ``(item_id, status)``."""

    @property
    def detail(self) -> str:
        """The sentence for people."""
        named = ", ".join(f"item {item_id} ({status})" for item_id, status in self.items)
        return f"line {self.line}: serial {self.serial!r} is {named} here; only an active item is licensed for export"


async def unexportable(
    conn: Conn, lines: Iterable[LicenceLine], *, judged: frozenset[str] = frozenset()
) -> list[Unexportable]:
    """The serials of firearm and component ``lines`` that name only items here that cannot be exported, in line order.

    An item is exportable while ``active`` (:func:`firearms.items.not_exportable`). Serials in ``judged``
    (normalised) were judged when they were put on the licence and are not judged again.
    """
    found: list[Unexportable] = []
    for line in sorted(lines, key=lambda item: item.line):
        if line.category == "ammunition" or not line.serials:
            continue
        new = [serial for serial in line.serials if normalise(serial) not in judged]
        refused = await items.not_exportable(conn, line.category, new)
        found.extend(Unexportable(line.line, serial, refused[serial]) for serial in new if serial in refused)
    return found


def _not_this_authorisation(received: asyncpg.Record, licence: LicenceObject) -> str | None:
    """What the importing State's licence under the authorisation's number is, when it authorises not this export.

    Art. 10(2)(a): the importing State authorised the import of these goods from the exporting State. Its export
    licence under that number, or its authorisation for goods from another State (a later version it sent
    supersedes the one naming this State, PROTOCOL §5), opens no gate here. ``None`` when it is the one.
    """
    if received["kind"] != "import":
        return f"an {received['kind']} licence, not an import authorisation"
    if received["exporting_state"] != licence.exporting_state:
        return f"an import authorisation for goods from {received['exporting_state']}, not {licence.exporting_state}"
    return None


async def _cover_gates(
    conn: Conn,
    received: asyncpg.Record,
    licence_id: uuid.UUID,
    licence: LicenceObject,
    before: LicenceObject | None,
) -> list[Gate]:
    """Art. 10(2)(a): the import authorisation, as received, covers the licence's goods and names its consignee.

    Against ``before`` (the version in force, for an amendment) when it names the same authorisation: only more of a
    category than it names, or another consignee than it names, is judged; an amendment onto another authorisation
    is judged as a whole.

    Goods are compared per category (firearm, component, ammunition): the licence may use part of what the
    importing State authorised, never more, and nothing of a category it did not authorise. The authorisation's
    quantity is one balance shared by every export licence drawn on it: what the other licences naming it hold
    (:func:`firearms.store.licences.list_import_authorisation_shares`: an issued or suspended licence the whole of
    its current version, a revoked, expired or exhausted one what left under it) is not there for this one. Line
    texts (make, model, calibre) are not compared: each State writes them its own way. What left under the licence
    while it named another authorisation was imported under that one, and is not asked of this one (nor held of it,
    in the other licences' shares). The consignee is the same
    party by country and registration when both name one, else by country and name (case and spacing aside).
    """
    version = await licence_store.get_licence_version(conn, received["licence_id"], received["version"])
    if version is None:
        return []  # a row without content (nothing to compare against)
    authorisation = licence_object(received, version)
    state, number = received["issuing_state"], received["number"]
    drawn = None if before is None else before.import_authorisation
    if drawn is None or (drawn.state, drawn.number) != (state, number):
        # The version in force drew on another authorisation (or none): it holds nothing of this one, so the whole
        # of the amendment is new to it. Before, an amendment onto another authorisation was compared with the
        # version in force and opened both gates whatever the new authorisation covered and named.
        before = None
    shares: dict[str, list[Share]] = {}
    for share in await licence_store.list_import_authorisation_shares(conn, state, number, licence_id):
        shares.setdefault(share["category"], []).append(
            Share(number=share["number"], status=share["status"], quantity=share["quantity"])
        )
    # Goods that left while the licence named another authorisation were imported under that one: not asked of this.
    gone = await licence_store.list_debits_under_other_authorisations(conn, licence_id, state, number)
    unmet: list[Gate] = []
    for category in CATEGORIES:
        wanted = _quantity(licence, category) - gone.get(category, 0)
        allowed = _quantity(authorisation, category)
        in_force = 0 if before is None else _quantity(before, category) - gone.get(category, 0)
        others = shares.get(category, [])
        held = sum(share.quantity for share in others)
        if wanted > in_force and wanted + held > allowed:
            holders = "".join(f"; {share.number} ({share.status}) holds {share.quantity}" for share in others)
            unmet.append(
                Gate(
                    gate="goods-beyond-import-authorisation",
                    state=state,
                    detail=f"the licence names {wanted} {category} items; import authorisation {number} of"
                    f" {state} authorises {allowed}"
                    + (f", of which other licences hold {held}{holders}" if others else ""),
                    cover=Cover(
                        number=number,
                        state=state,
                        category=category,
                        authorised=allowed,
                        held=held,
                        asked=wanted,
                        licences=others,
                    ),
                )
            )
    if not _same_party(licence.consignee, authorisation.consignee) and (
        before is None or not _same_party(licence.consignee, before.consignee)
    ):
        unmet.append(
            Gate(
                gate="consignee-not-on-import-authorisation",
                state=state,
                detail=f"the licence's consignee {licence.consignee.name} ({licence.consignee.country}) is not the"
                f" one import authorisation {number} of {state} names: {authorisation.consignee.name}"
                f" ({authorisation.consignee.country})",
            )
        )
    return unmet


def _quantity(licence: LicenceObject, category: str) -> int:
    """What a licence or authorisation names of one category (firearm, component, ammunition), over its lines."""
    return sum(line.quantity for line in licence.lines if line.category == category)


# German umlauts written out (Mueller for Müller) fold to the bare vowel, as the accent-stripped letter does.
_WRITTEN_OUT = (("ae", "a"), ("oe", "o"), ("ue", "u"))


def _folded(text: str) -> str:
    """A name or registration as compared across States: letters and digits only, without accents, case-folded.

    Each State types them its own way: case, spacing, punctuation and hyphens (``K.G.``, ``DE-HRB 4711``), an
    accent kept or dropped (``Müller``, ``Muller``), an umlaut written out (``Mueller``). The words themselves,
    legal forms included, are compared: ``KG`` and ``GmbH`` are other firms.
    """
    bare = "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))
    kept = "".join(char for char in bare.casefold() if char.isalnum())
    for written, vowel in _WRITTEN_OUT:
        kept = kept.replace(written, vowel)
    return kept


def _same_party(one: LicencePartyObject, other: LicencePartyObject) -> bool:
    """Whether two States' records name the same party: country, then registration when both give one, else name.

    Compared in :func:`_folded` form: each State types the name and number its own way.
    """
    if one.country != other.country:
        return False
    if one.registration and other.registration and _folded(one.registration) and _folded(other.registration):
        return _folded(one.registration) == _folded(other.registration)
    return _folded(one.name) == _folded(other.name)


async def _party_gates(conn: Conn, row: asyncpg.Record, today: dt.date, *, lock: bool) -> list[Gate]:
    """The parties and brokers of the current version that may no longer be named on a licence today.

    They were checked when the version was made (:func:`firearms.parties.parties_for_licence`); a licence
    may wait weeks for its transit consents, and a party struck off meanwhile must not be licensed.
    """
    version = await licence_store.get_licence_version(conn, row["licence_id"], row["version"])
    if version is None:
        return []
    roles = [
        ("exporter", version["exporter_id"]),
        ("consignee", version["consignee_id"]),
        ("final recipient", version["final_recipient_id"]),
    ]
    brokers = list(version["broker_ids"] or [])
    wanted = [party_id for _, party_id in roles if party_id is not None] + brokers
    if not wanted:
        return []  # a partner's licence names no party of this register
    rows = await (party_store.get_parties_for_share if lock else party_store.get_parties)(conn, wanted)
    found = {row["party_id"]: Party(**dict(row)) for row in rows}
    unmet: list[Gate] = []
    for role, party_id in roles:
        party = found.get(party_id) if party_id is not None else None
        if party is not None and not party.usable_on(today):
            unmet.append(
                Gate(
                    gate="party-not-active",
                    state=None,
                    detail=f"the {role} {party.name} is {party.status} or outside its registration's validity",
                )
            )
    for broker_id in brokers:
        broker = found.get(broker_id)
        if broker is not None and not broker.usable_on(today):
            unmet.append(
                Gate(
                    gate="broker-not-active",
                    state=None,
                    detail=f"broker {broker.registration} is {broker.status} or outside its registration's validity",
                )
            )
    return unmet


def _transit_gate(
    state: str, decision: consents.TransitConsent | None, request: asyncpg.Record | None, today: dt.date
) -> list[Gate]:
    if decision is None:
        return [Gate(gate="transit-consent-missing", state=state, detail=f"{state} has not consented to the transit")]
    if request is not None and decision.licence_version < request["licence_version"]:
        return [
            Gate(
                gate="transit-consent-outdated",
                state=state,
                detail=f"{state} decided on version {decision.licence_version}; version"
                f" {request['licence_version']} was sent to it on {request['requested_on']} and awaits its decision",
            )
        ]
    if decision.decision == "objection":
        return [
            Gate(
                gate="transit-consent-objected",
                state=state,
                detail=f"{state} objected: {decision.reason or ''}",
                confidentiality=decision.confidentiality,
            )
        ]
    found: list[Gate] = []
    shipment_from = None if request is None else request["shipment_from"]
    if shipment_from is not None and decision.decided_on > shipment_from:
        found.append(
            Gate(
                gate="transit-consent-after-shipment",
                state=state,
                detail=f"{state}'s consent of {decision.decided_on} is dated after the shipment start {shipment_from}",
            )
        )
    if decision.valid_until is not None and decision.valid_until < today:
        found.append(
            Gate(
                gate="transit-consent-lapsed", state=state, detail=f"{state}'s consent lapsed on {decision.valid_until}"
            )
        )
    return found
