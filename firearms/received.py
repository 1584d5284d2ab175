"""Licences of partner States, as received by signed notice (PROTOCOL §5; DESIGN §5: checks use them).

The exchange issue decodes and verifies a notice, then calls :func:`record_received` with the
licence object (``import-authorisation.issued``, ``transit-consent.requested``,
``export-licence.issued``) or :func:`apply_status` (``licence.status-changed``). They live in the
same ``licence`` table (``origin='received'``), found by ``(issuing_state, number)``; a later
version with the same number supersedes the earlier, and every status change still goes through
:func:`firearms.licences.transition` (received licences skip gates and signing there). A transit
State's own decision on a received licence is recorded with :func:`firearms.consents.record_decision`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from firearms import journal, licence_reads, licences
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.licence_object import LicenceObject
from firearms.store import licences as store
from firearms.store import received as received_store

if TYPE_CHECKING:
    import asyncpg

    from firearms.db import Conn
    from firearms.licence_views import Licence, LicenceStatus

__all__ = ["apply_status", "check_lines", "record_received", "requested_content", "version_conflict"]


def _content(licence: LicenceObject) -> dict[str, Any]:
    content: dict[str, Any] = msgspec.to_builtins(licence)
    content.pop("status", None)
    content.pop("version", None)
    return content


async def _store_version(
    conn: Conn, licence_id: uuid.UUID, licence: LicenceObject, now: dt.datetime, actor: str
) -> None:
    await store.insert_licence_version(
        conn, licence_id, licence.version, _content(licence), None, None, None, [], "received", now, actor
    )
    await store.update_licence_version(
        conn,
        licence_id,
        licence.version,
        licence.valid_from,
        licence.expires_on,
        licence.exporting_state,
        licence.importing_state,
        list(licence.transit_states),
        now,
    )
    for item in licence.lines:
        await store.upsert_licence_line(conn, licence_id, item.line, item.category, item.quantity, list(item.serials))
    await store.delete_licence_lines_except(conn, licence_id, [item.line for item in licence.lines])


def check_lines(licence: LicenceObject) -> None:
    """A partner's licence names each line number once: lines are stored, and named by shipments, by number.

    Raises:
        InvalidInputError: ``duplicate-line``.
    """
    seen: set[int] = set()
    for item in licence.lines:
        if item.line in seen:
            raise InvalidInputError(
                f"line {item.line} of licence {licence.number} appears twice", code="duplicate-line", line=item.line
            )
        seen.add(item.line)


async def record_received(conn: Conn, licence: LicenceObject, *, registry_state: str, actor: str) -> Licence:
    """Store a partner's licence, or its newer version; an older or equal version changes nothing but the status.

    Raises:
        InvalidInputError: ``not-a-partner-licence`` (this registry's own number); ``duplicate-line``.
        ConflictError: ``licence-not-received`` (the number belongs to a local licence).
    """
    check_lines(licence)
    if licence.issuing_state == registry_state:
        raise InvalidInputError(
            f"{licence.number} is this registry's own licence, not a partner's", code="not-a-partner-licence"
        )
    now = dt.datetime.now(dt.UTC)
    row = await store.find_licence(conn, licence.issuing_state, licence.number)
    if row is None:
        licence_id = uuid.uuid4()
        await store.insert_licence(
            conn,
            licence_id,
            licence.issuing_state,
            licence.number,
            licence.kind,
            "received",
            licence.status,
            licence.valid_from,
            licence.expires_on,
            licence.exporting_state,
            licence.importing_state,
            list(licence.transit_states),
            now,
            actor,
        )
        await _store_version(conn, licence_id, licence, now, actor)
        await store.insert_licence_event(
            conn,
            licence_id,
            licence.version,
            None,
            licence.status,
            f"received from {licence.issuing_state}",
            actor,
            now,
        )
        await journal.record(
            conn,
            actor=actor,
            action="licence.received",
            entity="licence",
            entity_id=str(licence_id),
            payload={"licence": _content(licence), "status": licence.status, "version": licence.version},
        )
        return await licence_reads.get_licence(conn, licence_id)
    row = await _received_row(conn, row)
    if licence.version > row["version"]:
        await _store_version(conn, row["licence_id"], licence, now, actor)
        await journal.record(
            conn,
            actor=actor,
            action="licence.received",
            entity="licence",
            entity_id=str(row["licence_id"]),
            payload={"licence": _content(licence), "status": licence.status, "version": licence.version},
        )
    if licence.version >= row["version"] and licence.status != row["status"]:
        await licences.transition(
            conn,
            licence_id=row["licence_id"],
            to=licence.status,
            actor=actor,
            reason=f"version {licence.version} received from {licence.issuing_state}",
        )
    if licence.version >= row["version"] and licence.issued_at is not None and row["issued_at"] is None:
        await store.update_licence_status(conn, row["licence_id"], licence.status, now, licence.issued_at)
    return await licence_reads.get_licence(conn, row["licence_id"])


async def version_conflict(conn: Conn, licence: LicenceObject) -> str | None:
    """Whether a licence version disagrees with what this registry already holds of that version, or is older.

    One version of a licence has one content (PROTOCOL §5: a change is a later version), whichever notice brought
    it here: a transit State holds a licence from its consent request (status ``pending``) before the issued
    licence arrives, and a request may also ask about a later version (an amendment) of a licence held issued.
    Both copies of a received licence (the object as received, and these tables) must then say the same, and a
    transit State's consent to a version covers the content its request showed: an issued version, or a request,
    carrying other content under a version held here would let customs clear what the officer never saw.
    ``stale-version`` when the tables hold a later version, and ``version-conflict`` when they hold this version,
    or a request here carried it, with other content (issuing changes only the status and ``issued_at``);
    ``None`` otherwise.
    """
    given = _content(licence)
    given.pop("issued_at", None)
    row = await store.find_licence(conn, licence.issuing_state, licence.number)
    if row is not None and row["origin"] == "received" and row["version"] >= licence.version:
        if row["version"] > licence.version:
            return "stale-version"
        stored = await store.get_licence_version(conn, row["licence_id"], licence.version)
        if stored is not None:
            held = dict(stored["content"])
            held.pop("issued_at", None)
            if given != held:
                return "version-conflict"
    asked = await requested_content(conn, licence.issuing_state, licence.number, licence.version)
    if asked is not None:
        asked.pop("issued_at", None)
        if given != asked:
            return "version-conflict"
    return None


async def requested_content(conn: Conn, issuing_state: str, number: str, version: int) -> dict[str, Any] | None:
    """The content of a version this State was asked to consent to, as its request carried it.

    A request about an amendment of a licence recorded issued does not take the licence back: the licensing
    tables may never hold the version this State's consent answers (issued later as a version after it).
    ``None`` when no request carried that version.
    """
    raw = await received_store.get_requested_licence(conn, issuing_state, number, version)
    if raw is None:
        return None
    try:
        licence = msgspec.convert(raw, LicenceObject)
    except msgspec.ValidationError:
        return None
    return _content(licence)


async def _received_row(conn: Conn, row: asyncpg.Record) -> asyncpg.Record:
    if row["origin"] != "received":
        raise ConflictError(
            f"{row['number']} of {row['issuing_state']} is a local licence", code="licence-not-received"
        )
    locked = await store.get_licence_for_update(conn, row["licence_id"])
    assert locked is not None  # noqa: S101  # found a moment ago; licences are never deleted
    return locked


async def apply_status(
    conn: Conn, *, issuing_state: str, number: str, status: LicenceStatus, reason: str, actor: str
) -> Licence:
    """Apply a ``licence.status-changed`` notice to a received licence (the same status again changes nothing).

    Raises:
        NotFoundError: no such received licence.
        ConflictError: ``licence-not-received``; ``illegal-transition`` out of a final status.
    """
    row = await store.find_licence(conn, issuing_state, number)
    if row is None:
        raise NotFoundError(f"no licence {number} of {issuing_state}", number=number, issuing_state=issuing_state)
    row = await _received_row(conn, row)
    if row["status"] == status:
        return await licence_reads.get_licence(conn, row["licence_id"])
    return await licences.transition(conn, licence_id=row["licence_id"], to=status, actor=actor, reason=reason)
