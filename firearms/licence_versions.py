"""Licence content: drafts and amendments, each a new version (Protocol Art. 10(3); Reg. 258/2012 Annex II).

A draft is version 1; an amendment is a new row in ``licence_version`` with the whole new content, and
old versions stay readable (:mod:`firearms.licence_reads`). Each is checked (:mod:`firearms.licence_rules`,
the parties, the items an export names) before anything is stored. An issued or suspended licence's new
version is signed at once, and its status changes only through :func:`firearms.licences.transition`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from firearms import clock, consents, gates, journal, parties
from firearms.errors import ConflictError, InvalidInputError
from firearms.exchange import hooks
from firearms.licence_object import LicenceObject, told_states
from firearms.licence_reads import current_version, get_licence, licence_row
from firearms.licence_rules import LicenceDraft, asks_more_of_transit, check_draft
from firearms.licence_views import licence_object
from firearms.licences import exhaust_if_used_up, request_consents, require_gates, sign_current_version
from firearms.serials import normalise
from firearms.store import ledger as ledger_store
from firearms.store import licences as store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn
    from firearms.licence_views import Licence
    from firearms.settings import Settings

__all__ = ["AMENDABLE", "amend", "create_draft"]


AMENDABLE: frozenset[str] = frozenset({"draft", "pending", "issued", "suspended"})
_KIND_CODES = {"export": "EXP", "import": "IMP", "transit": "TRA", "brokering": "BRK"}


async def _check_exportable(conn: Conn, draft: LicenceDraft, on_licence: frozenset[str]) -> None:
    """Art. 10: an export licence names no firearm or component this registry records as unable to leave.

    ``on_licence`` holds the normalised serials of the version an amendment is made from: they were judged
    when they were put on the licence, and a firearm shipped under it since is ``exported`` by now.

    Raises:
        InvalidInputError: ``item-not-exportable``, naming the line, the serial and the items with their status.
    """
    refused = await gates.unexportable(conn, draft.lines, judged=on_licence)
    if refused:
        first = refused[0]
        raise InvalidInputError(
            first.detail,
            code="item-not-exportable",
            line=first.line,
            serial=first.serial,
            items=[{"item_id": item_id, "status": status} for item_id, status in first.items],
        )


async def _content(
    conn: Conn,
    draft: LicenceDraft,
    *,
    number: str,
    registry_state: str,
    settings: Settings,
    today: dt.date,
    on_licence: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], list[str]]:
    """Check a draft and build the stored content (the licence object without status, version, issued_at).

    ``on_licence``: for an amendment, the normalised serials of the version it is made from.
    """
    transit = check_draft(draft, registry_state=registry_state, settings=settings)
    if draft.kind == "export":
        await _check_exportable(conn, draft, on_licence)
    exporter, consignee, final_recipient, brokers = await parties.parties_for_licence(
        conn,
        exporter_id=draft.exporter_id,
        consignee_id=draft.consignee_id,
        final_recipient_id=draft.final_recipient_id,
        broker_ids=draft.broker_ids,
        today=today,
        valid_from=draft.valid_from,
        expires_on=draft.expires_on,
    )
    obj = LicenceObject(
        number=number,
        issuing_state=registry_state,
        kind=draft.kind,
        version=1,
        status="pending",
        issued_at=None,
        place_of_issue=draft.place_of_issue,
        issuing_authority=draft.issuing_authority,
        valid_from=draft.valid_from,
        expires_on=draft.expires_on,
        exporting_state=draft.exporting_state,
        importing_state=draft.importing_state,
        transit_states=transit,
        exporter=exporter.as_licence_party(),
        consignee=consignee.as_licence_party(),
        final_recipient=final_recipient.as_licence_party(),
        brokers=[broker.as_licence_party() for broker in brokers],
        import_authorisation=draft.import_authorisation,
        purpose=draft.purpose,
        lines=sorted(draft.lines, key=lambda item: item.line),
        return_on=draft.return_on,
    )
    content = msgspec.to_builtins(obj)
    for key in ("status", "version", "issued_at"):
        content.pop(key, None)
    return content, transit


async def create_draft(conn: Conn, draft: LicenceDraft, *, settings: Settings, actor: str) -> Licence:
    """Draft a licence (Art. 10(3) content): checked, numbered ``<State>-<EXP|IMP|TRA|BRK>-<year>-<000001>``, journaled.

    Raises:
        InvalidInputError: the draft breaks a rule of :mod:`firearms.licence_rules` or names a bad party;
            ``base-version-not-allowed`` -- a new draft is based on no version.
    """
    if draft.base_version is not None:
        raise InvalidInputError(
            "a new draft is based on no version: leave base_version out", code="base-version-not-allowed"
        )
    now = dt.datetime.now(dt.UTC)
    today = clock.local_date(now, settings.time_zone)
    # Check before numbering: a refused draft must not even advance the counter.
    content, transit = await _content(
        conn, draft, number="X", registry_state=settings.state, settings=settings, today=today
    )
    sequence = await store.next_licence_number(conn, draft.kind, today.year)
    number = f"{settings.state}-{_KIND_CODES[draft.kind]}-{today.year}-{sequence:06d}"
    content["number"] = number
    licence_id = uuid.uuid4()
    await store.insert_licence(
        conn,
        licence_id,
        settings.state,
        number,
        draft.kind,
        "local",
        "draft",
        draft.valid_from,
        draft.expires_on,
        draft.exporting_state,
        draft.importing_state,
        transit,
        now,
        actor,
    )
    await _store_version(conn, licence_id, 1, content, draft, now, actor)
    await store.insert_licence_event(conn, licence_id, 1, None, "draft", draft.reason or "drafted", actor, now)
    await journal.record(
        conn,
        actor=actor,
        action="licence.drafted",
        entity="licence",
        entity_id=str(licence_id),
        payload={"number": number, "version": 1, "content": content},
    )
    return await get_licence(conn, licence_id)


async def _store_version(
    conn: Conn,
    licence_id: uuid.UUID,
    version: int,
    content: dict[str, Any],
    draft: LicenceDraft,
    now: dt.datetime,
    actor: str,
) -> None:
    await store.insert_licence_version(
        conn,
        licence_id,
        version,
        content,
        draft.exporter_id,
        draft.consignee_id,
        draft.final_recipient_id,
        list(draft.broker_ids),
        draft.reason,
        now,
        actor,
    )
    for item in draft.lines:
        await store.upsert_licence_line(conn, licence_id, item.line, item.category, item.quantity, list(item.serials))
    await store.delete_licence_lines_except(conn, licence_id, [item.line for item in draft.lines])


async def _check_ledger_kept(conn: Conn, licence_id: uuid.UUID, draft: LicenceDraft) -> None:
    """An amendment never takes a line below what was debited from it, nor drops a debited serial."""
    new_lines = {item.line: item for item in draft.lines}
    used: dict[int, set[str]] = {}
    for entry in await ledger_store.list_debited_serials(conn, licence_id):
        used.setdefault(entry["line"], set()).add(entry["serial"])
    for line in await ledger_store.get_licence_lines(conn, licence_id):
        debited = line["debited"]
        if not debited:
            continue
        item = new_lines.get(line["line"])
        if item is None or item.quantity < debited:
            raise ConflictError(
                f"line {line['line']} already had {debited} debited; the amendment cannot go below that",
                code="quantity-below-debited",
                line=line["line"],
                debited=debited,
            )
        if line["serials"]:
            kept = {normalise(serial) for serial in item.serials}
            if not used.get(line["line"], set()) <= kept:
                raise ConflictError(
                    f"line {line['line']} had serials debited that the amendment drops",
                    code="quantity-below-debited",
                    line=line["line"],
                    debited=debited,
                )


async def _asks_more(conn: Conn, row: asyncpg.Record, content: dict[str, Any], transit: list[str]) -> list[str]:
    """What ``content`` asks of the transit States beyond the version each consented to or is asked about.

    A State's consent covers the version its decision answers (or the later one it is asked about),
    not the version before this amendment: a quantity taken down and then back up to what it
    consented to asks nothing more of it. A State with neither is judged against the current version.
    """
    covered: dict[str, int] = dict.fromkeys(transit, row["version"])
    for state, decision in (await consents.latest_decisions(conn, row["licence_id"])).items():
        if state in covered:
            covered[state] = decision.licence_version
    for request in await consents.list_requests(conn, row["licence_id"]):
        if request.transit_state in covered:
            covered[request.transit_state] = max(covered[request.transit_state], request.licence_version)
    found: list[str] = []
    for version in sorted(set(covered.values())):
        before = await store.get_licence_version(conn, row["licence_id"], version)
        assert before is not None  # noqa: S101  # consents and requests name versions the licence has
        found.extend(more for more in asks_more_of_transit(before["content"], content) if more not in found)
    return found


async def amend(conn: Conn, licence_id: uuid.UUID, draft: LicenceDraft, *, settings: Settings, actor: str) -> Licence:
    """Amend a licence: a new version with the whole new content; the old version stays readable.

    An issued or suspended licence's new version is signed at once. An issued licence's gates are
    checked again first (Reg. 258/2012 Art. 7), so a State added to its route, which has not consented,
    refuses the amendment, and so does content that asks more of its transit States than they consented
    to (:func:`firearms.licence_rules.asks_more_of_transit`: more or other goods, a longer validity,
    other parties). A suspended licence's gates are checked when it is reinstated, so its route and
    content may change: a State new on the route is asked for consent, every transit State when the
    content asks more of them, and the licence comes back once they consented. A pending export
    licence's transit States are all asked again about the new content. An issued licence whose
    every line is taken down to what was already debited becomes ``exhausted`` (a suspended one when it
    is reinstated).

    Raises:
        NotFoundError: no such licence.
        ConflictError: ``licence-not-amendable`` (revoked, expired, exhausted or received),
            ``version-moved`` (``base_version`` given and the licence has moved on),
            ``quantity-below-debited``, ``gates-unmet``, ``amendment-needs-consent`` (an issued licence's
            new content asks more of its transit States: suspend it first), ``route-change-needs-suspension``
            (an issued licence's amendment takes a State that received it off the licence: suspend it first).
        InvalidInputError: the new content breaks a rule; ``kind-immutable``, ``reason-missing``.
    """
    if draft.reason is None:
        raise InvalidInputError("an amendment states its reason", code="reason-missing")
    row = await licence_row(conn, licence_id, lock=True)
    if row["status"] not in AMENDABLE or row["origin"] != "local":
        raise ConflictError(
            f"licence {row['number']} is {row['status']}: it can no longer be amended",
            code="licence-not-amendable",
            licence_status=row["status"],
        )
    if draft.kind != row["kind"]:
        raise InvalidInputError("an amendment cannot change the kind of licence", code="kind-immutable")
    if draft.base_version is not None and draft.base_version != row["version"]:
        raise ConflictError(
            f"licence {row['number']} is at version {row['version']}, not {draft.base_version}: read it again"
            " and amend what it says now",
            code="version-moved",
            version=row["version"],
            base_version=draft.base_version,
        )
    previous_route = list(row["transit_states"])
    now = dt.datetime.now(dt.UTC)
    today = clock.local_date(now, settings.time_zone)
    previous = await current_version(conn, row)
    before = licence_object(row, previous)
    current = previous["content"]
    content, transit = await _content(
        conn,
        draft,
        number=row["number"],
        registry_state=row["issuing_state"],
        settings=settings,
        today=today,
        on_licence=frozenset(normalise(serial) for line in current["lines"] for serial in line.get("serials", [])),
    )
    more = (
        await _asks_more(conn, row, content, transit)
        if row["kind"] == "export" and row["status"] in {"issued", "suspended"} and transit
        else []
    )
    if more and row["status"] == "issued":
        raise ConflictError(
            f"this amendment asks more of the transit States than they consented to ({'; '.join(more)}):"
            " suspend the licence, amend it, and reinstate it once they consented to the new version",
            code="amendment-needs-consent",
            asks_more=more,
            transit_states=transit,
        )
    leaves = _leaving(row, draft, transit)
    if leaves and row["status"] == "issued":
        raise ConflictError(
            f"this amendment takes {', '.join(leaves)} off the licence, which holds it as issued and would not"
            " receive the new version: suspend the licence, amend it, and reinstate it",
            code="route-change-needs-suspension",
            leaves=leaves,
        )
    await _check_ledger_kept(conn, licence_id, draft)
    version = row["version"] + 1
    await _store_version(conn, licence_id, version, content, draft, now, actor)
    await store.update_licence_version(
        conn,
        licence_id,
        version,
        draft.valid_from,
        draft.expires_on,
        draft.exporting_state,
        draft.importing_state,
        transit,
        now,
    )
    row = await licence_row(conn, licence_id)
    if row["kind"] == "export" and row["status"] in {"pending", "suspended"}:
        # Pending, or suspended with content that asks more of them: every transit State is asked about
        # the new content. Otherwise a suspended licence's State new on the route (not on the version
        # before, even if it was on an older one) is asked; the route may change only while the licence
        # cannot be used.
        kept = previous_route if row["status"] == "suspended" and not more else None
        await request_consents(conn, row, actor, today, kept_route=kept)
    if row["status"] == "issued":
        await require_gates(conn, row, settings, today, before=before)
    if row["status"] in {"issued", "suspended"}:
        # A suspended licence's gates are run when it is reinstated (every one of them, on this version).
        await sign_current_version(conn, row, settings, now)
    await journal.record(
        conn,
        actor=actor,
        action="licence.amended",
        entity="licence",
        entity_id=str(licence_id),
        payload={"number": row["number"], "version": version, "reason": draft.reason, "content": content},
    )
    licence = await get_licence(conn, licence_id)
    await hooks.after_amendment(conn, licence, actor=actor)
    if licence.status == "issued":
        return await exhaust_if_used_up(conn, licence, actor, f"amendment to version {version}")
    return licence


def _leaving(row: asyncpg.Record, draft: LicenceDraft, transit: list[str]) -> list[str]:
    """The States that received the licence's current version and would not receive the amended one.

    Such a State keeps the version it has as it stands (a partner refuses a licence that does not name it):
    an issued licence must be suspended first, so that it holds it suspended, never usable.
    """
    before = told_states(row["kind"], row["exporting_state"], row["importing_state"], list(row["transit_states"]))
    after = told_states(row["kind"], draft.exporting_state, draft.importing_state, transit)
    return sorted(set(before) - set(after) - {row["issuing_state"]})
