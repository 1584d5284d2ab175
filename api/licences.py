"""Licences: drafts, amendments (versions), life-cycle transitions, transit consents, ledger and documents."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api.deps import ConnDep, OfficerDep, SettingsDep
from api.idempotency import Answer, IdempotencyKeyHeader, journaled_read, once
from api.params import (
    AfterQuery,
    LicenceNumberQuery,
    LimitQuery,
    StatePath,
    StateQuery,
    VersionPath,
    page,
    state_code,
)
from firearms import clock, consents, documents, journal, ledger, licence_reads, licence_versions, licences
from firearms.consents import ConsentDecision, ConsentRequest, TransitConsent, TransitConsentRequest
from firearms.db import Conn
from firearms.gates import Gate
from firearms.ledger import LedgerEntry, LineBalance
from firearms.licence_object import Kind
from firearms.licence_rules import LicenceDraft
from firearms.licence_views import Licence, LicenceEvent, LicenceStatus, LicenceVersion
from firearms.pagination import DEFAULT_LIMIT, IntegerKey, decode_cursor, encode_cursor
from firearms.text_rules import REASON
from firearms.tokens import Officer

__all__ = ["PRINT", "LicenceController", "shown_to"]

WRITE = ("licensing-officer", "admin")
READ = ("licensing-officer", "records-officer", "auditor", "admin")
LEDGER_READ = (*READ, "customs-officer")
# The roles that fetch a licence document, and so are told a version's verification code (the page and its
# X-Verification-Code header carry it): the licensing officer and the admin print it, the auditor reads everything
# (DESIGN §1). Every other role presents the code read off a paper to /verify and learns only whether it matches:
# told it, it could print a paper that passes (README "Documents and verification").
PRINT = (*WRITE, "auditor")
# The printable page names persons and is opened in a browser: it may run nothing, load nothing but its own inline
# style, be framed by no one, and be kept by no cache. Every value on it is escaped (firearms.documents); these
# headers are the wall behind that one (README "Security").
DOCUMENT_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


class TransitionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Why the status changes (journaled with the officer)."""

    reason: REASON


class LicencePage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of licences."""

    items: list[Licence]
    next: str | None


class VersionPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of versions."""

    items: list[LicenceVersion]
    next: str | None


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of status changes."""

    items: list[LicenceEvent]
    next: str | None


class ConsentPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of transit-consent decisions."""

    items: list[TransitConsent]
    next: str | None


class ConsentRequestPage(msgspec.Struct, frozen=True, kw_only=True):
    """The consent requests of a licence (one per transit State; ``next`` is always null)."""

    items: list[TransitConsentRequest]
    next: str | None


class LedgerPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of ledger debits."""

    items: list[LedgerEntry]
    next: str | None


class Balances(msgspec.Struct, frozen=True, kw_only=True):
    """Every line's issued quantity, debits and remaining balance."""

    licence_id: uuid.UUID
    lines: list[LineBalance]


class Gates(msgspec.Struct, frozen=True, kw_only=True):
    """The gates that would stop the licence being issued today (empty: it may be issued)."""

    licence_id: uuid.UUID
    unmet: list[Gate]


def shown_to(officer: Officer, version: LicenceVersion) -> LicenceVersion:
    """A version as ``officer`` may see it: without its verification code unless the role fetches documents."""
    if officer.role in PRINT or version.verification_code is None:
        return version
    return msgspec.structs.replace(version, verification_code=None)


class _Shown(msgspec.Struct, frozen=True):
    """The licence a kept answer shows (its other members are not read)."""

    licence_id: uuid.UUID


class LicenceController(Controller):
    """``/api/v1/licences``."""

    path = "/licences"

    @post("/", summary="Draft a licence", opt={"roles": WRITE})
    async def create(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        request: Request[Any, Any, Any],
        data: JSONBody[LicenceDraft],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[Licence]:
        """Draft an export, import, transit or brokering licence (Art. 10(3); Annex II); its number is generated.

        Sent again with the same ``Idempotency-Key``, the same draft answers the first answer (one licence).
        """
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: licence_versions.create_draft(conn, data, settings=settings, actor=officer.actor),
            # the answer names the parties (their names and addresses, from the register): a read when shown again
            journaled_read(
                conn, officer, "licence", lambda kept: [str(msgspec.json.decode(kept, type=_Shown).licence_id)]
            ),
        )

    @get("/", summary="List licences", opt={"roles": READ})
    async def list_licences(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        status: Annotated[LicenceStatus | None, QueryParameter(description="only this status")] = None,
        kind: Annotated[Kind | None, QueryParameter(description="only this kind")] = None,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> LicencePage:
        """Licences in creation order."""
        key = decode_cursor(after, dt.datetime, uuid.UUID) if after else None
        items, last = page(
            await licence_reads.list_licences(conn, after=key, status=status, kind=kind, limit=limit + 1), limit
        )
        await journal.record_read(conn, actor=officer.actor, entity="licence", ids=[str(i.licence_id) for i in items])
        return LicencePage(items=items, next=encode_cursor(last.created_at, last.licence_id) if last else None)

    @get("/{licence_id:uuid}", summary="One licence", opt={"roles": READ})
    async def get_licence(self, conn: ConnDep, officer: OfficerDep, licence_id: FromPath[uuid.UUID]) -> Licence:
        """A licence with its current version (the read is journaled: it names parties)."""
        licence = await licence_reads.get_licence(conn, licence_id)
        await journal.record_read(conn, actor=officer.actor, entity="licence", ids=[str(licence_id)])
        return licence

    @get("/by-number/{issuing_state:str}/{number:str}", summary="A licence by number", opt={"roles": READ})
    async def by_number(
        self, conn: ConnDep, officer: OfficerDep, issuing_state: StatePath, number: FromPath[str]
    ) -> Licence:
        """A licence by its issuing State and number (the read is journaled)."""
        return await _by_number(conn, officer.actor, state_code(issuing_state), number)

    @get("/by-number", summary="A licence by number, in the query (for a number with a '/')", opt={"roles": READ})
    async def by_number_in_query(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        issuing_state: StateQuery,
        number: LicenceNumberQuery,
    ) -> Licence:
        """As ``/by-number/{issuing_state}/{number}``, for any number: a partner's may hold a ``/``."""
        return await _by_number(conn, officer.actor, state_code(issuing_state), number)

    @post("/{licence_id:uuid}/versions", summary="Amend a licence (new version)", opt={"roles": WRITE})
    async def amend(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        licence_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        data: JSONBody[LicenceDraft],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[Licence]:
        """Amend: the whole new content and a ``reason``; a new version, the old stays readable."""
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: licence_versions.amend(conn, licence_id, data, settings=settings, actor=officer.actor),
            journaled_read(conn, officer, "licence", lambda _: [str(licence_id)]),
        )

    @get("/{licence_id:uuid}/versions", summary="Versions of a licence", opt={"roles": READ})
    async def versions(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        licence_id: FromPath[uuid.UUID],
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> VersionPage:
        """Every version, oldest first; ``verification_code`` is null but to the roles that fetch documents."""
        (start,) = decode_cursor(after, IntegerKey) if after else (0,)
        items, last = page(await licence_reads.list_versions(conn, licence_id, after=start, limit=limit + 1), limit)
        await journal.record_read(conn, actor=officer.actor, entity="licence", ids=[str(licence_id)])
        return VersionPage(
            items=[shown_to(officer, item) for item in items], next=encode_cursor(last.version) if last else None
        )

    @get("/{licence_id:uuid}/versions/{version:int}", summary="One version of a licence", opt={"roles": READ})
    async def version(
        self, conn: ConnDep, officer: OfficerDep, licence_id: FromPath[uuid.UUID], version: VersionPath
    ) -> LicenceVersion:
        """One version (old versions stay readable; the read is journaled); code: roles fetching documents."""
        found = await licence_reads.get_version(conn, licence_id, version)
        await journal.record_read(conn, actor=officer.actor, entity="licence", ids=[str(licence_id)])
        return shown_to(officer, found)

    @get(
        "/{licence_id:uuid}/versions/{version:int}/document",
        summary="Printable document of a version",
        opt={"roles": PRINT},
        media_type="text/html",
    )
    async def document(
        self, conn: ConnDep, officer: OfficerDep, licence_id: FromPath[uuid.UUID], version: VersionPath
    ) -> Response[str]:
        """The printable HTML page of an issued version: Code128 barcode of the number, verification code.

        Only the licensing officer, the admin and the auditor fetch it: the page carries the code ``/verify`` confirms.
        """
        rendered = await documents.render_document(conn, licence_id, version, actor=officer.actor)
        await journal.record_read(conn, actor=officer.actor, entity="licence", ids=[str(licence_id)])
        return Response(
            rendered.html,
            media_type="text/html",
            headers={**DOCUMENT_HEADERS, "X-Verification-Code": rendered.verification_code},
        )

    @get("/{licence_id:uuid}/events", summary="Status history", opt={"roles": READ})
    async def events(
        self,
        conn: ConnDep,
        licence_id: FromPath[uuid.UUID],
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> EventPage:
        """Every status change with actor and reason, oldest first."""
        (start,) = decode_cursor(after, int) if after else (0,)
        items, last = page(await licence_reads.list_events(conn, licence_id, after=start, limit=limit + 1), limit)
        return EventPage(items=items, next=encode_cursor(last.licence_event_id) if last else None)

    @get("/{licence_id:uuid}/gates", summary="Unmet gates", opt={"roles": READ})
    async def gates(self, conn: ConnDep, settings: SettingsDep, licence_id: FromPath[uuid.UUID]) -> Gates:
        """The gates that would stop the licence being issued today."""
        today = clock.today(settings.time_zone)
        return Gates(licence_id=licence_id, unmet=await licences.pending_gates(conn, licence_id, today=today))

    async def _transition(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        licence_id: uuid.UUID,
        to: LicenceStatus,
        reason: str,
        only_from: frozenset[str] | None = None,
    ) -> Licence:
        return await licences.transition(
            conn,
            licence_id=licence_id,
            to=to,
            actor=officer.actor,
            reason=reason,
            settings=settings,
            only_from=only_from,
            own_only=True,
        )

    @post("/{licence_id:uuid}/submit", summary="Submit a draft (-> pending)", opt={"roles": WRITE}, status_code=200)
    async def submit(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        licence_id: FromPath[uuid.UUID],
        data: JSONBody[TransitionRequest],
    ) -> Licence:
        """Draft -> pending; an export licence's transit States are asked for consent."""
        return await self._transition(conn, officer, settings, licence_id, "pending", data.reason)

    @post("/{licence_id:uuid}/issue", summary="Issue (-> issued)", opt={"roles": WRITE}, status_code=200)
    async def issue(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        licence_id: FromPath[uuid.UUID],
        data: JSONBody[TransitionRequest],
    ) -> Licence:
        """Pending -> issued when every gate holds (409 ``gates-unmet`` lists every unmet gate).

        A suspended licence is reinstated, not issued: 409 ``illegal-transition`` here.
        """
        return await self._transition(
            conn, officer, settings, licence_id, "issued", data.reason, only_from=frozenset({"pending"})
        )

    @post("/{licence_id:uuid}/suspend", summary="Suspend (-> suspended)", opt={"roles": WRITE}, status_code=200)
    async def suspend(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        licence_id: FromPath[uuid.UUID],
        data: JSONBody[TransitionRequest],
    ) -> Licence:
        """Issued -> suspended."""
        return await self._transition(conn, officer, settings, licence_id, "suspended", data.reason)

    @post("/{licence_id:uuid}/reinstate", summary="Reinstate (-> issued)", opt={"roles": WRITE}, status_code=200)
    async def reinstate(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        licence_id: FromPath[uuid.UUID],
        data: JSONBody[TransitionRequest],
    ) -> Licence:
        """Suspended -> issued when every gate holds again; a pending licence is issued, not reinstated (409)."""
        return await self._transition(
            conn, officer, settings, licence_id, "issued", data.reason, only_from=frozenset({"suspended"})
        )

    @post("/{licence_id:uuid}/revoke", summary="Revoke (-> revoked)", opt={"roles": WRITE}, status_code=200)
    async def revoke(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        licence_id: FromPath[uuid.UUID],
        data: JSONBody[TransitionRequest],
    ) -> Licence:
        """Issued or suspended -> revoked (final)."""
        return await self._transition(conn, officer, settings, licence_id, "revoked", data.reason)

    @post("/{licence_id:uuid}/transit-consents", summary="Record a transit State's decision", opt={"roles": WRITE})
    async def record_consent(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        licence_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        data: JSONBody[ConsentDecision],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[TransitConsent]:
        """A transit State's no-objection or objection, as an officer received it, on the version it answered.

        ``licence_version`` may be left out only while the licence has a single version.
        """
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: self._record_consent(conn, officer, settings, licence_id, data),
        )

    async def _record_consent(
        self, conn: ConnDep, officer: OfficerDep, settings: SettingsDep, licence_id: uuid.UUID, data: ConsentDecision
    ) -> TransitConsent:
        return await consents.record_decision(
            conn,
            licence_id=licence_id,
            transit_state=data.transit_state,
            decision=data.decision,
            decided_on=data.decided_on,
            valid_until=data.valid_until,
            reason=data.reason,
            source="officer",
            today=clock.today(settings.time_zone),
            actor=officer.actor,
            licence_version=data.licence_version,
            own_state=settings.state,
        )

    @get("/{licence_id:uuid}/transit-consents", summary="Transit-consent decisions", opt={"roles": READ})
    async def consents(
        self,
        conn: ConnDep,
        licence_id: FromPath[uuid.UUID],
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> ConsentPage:
        """Every decision (officer, notice, deemed by the timer), oldest first."""
        (start,) = decode_cursor(after, int) if after else (0,)
        items, last = page(await consents.list_decisions(conn, licence_id, after=start, limit=limit + 1), limit)
        return ConsentPage(items=items, next=encode_cursor(last.transit_consent_id) if last else None)

    @post(
        "/{licence_id:uuid}/transit-consent-requests", summary="Ask a transit State for consent", opt={"roles": WRITE}
    )
    async def request_consent(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        licence_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        data: JSONBody[ConsentRequest],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[TransitConsentRequest]:
        """Record a consent request (the silent period runs from its first date) with the shipment window."""
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: consents.request_consent(
                conn,
                licence_id=licence_id,
                transit_state=data.transit_state,
                shipment_from=data.shipment_from,
                shipment_to=data.shipment_to,
                today=clock.today(settings.time_zone),
                actor=officer.actor,
            ),
        )

    @get("/{licence_id:uuid}/transit-consent-requests", summary="Transit-consent requests", opt={"roles": READ})
    async def consent_requests(self, conn: ConnDep, licence_id: FromPath[uuid.UUID]) -> ConsentRequestPage:
        """The consent requests (one per transit State, so one page)."""
        return ConsentRequestPage(items=await consents.list_requests(conn, licence_id), next=None)

    @get("/{licence_id:uuid}/balances", summary="Ledger balances", opt={"roles": LEDGER_READ})
    async def balances(self, conn: ConnDep, licence_id: FromPath[uuid.UUID]) -> Balances:
        """Per line: issued, debited, remaining."""
        await licence_reads.get_licence(conn, licence_id)
        return Balances(licence_id=licence_id, lines=await ledger.balances(conn, licence_id))

    @get("/{licence_id:uuid}/ledger", summary="Ledger debits", opt={"roles": LEDGER_READ})
    async def ledger_entries(
        self,
        conn: ConnDep,
        licence_id: FromPath[uuid.UUID],
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> LedgerPage:
        """Every debit (check, customs document, serials), oldest first."""
        await licence_reads.get_licence(conn, licence_id)
        (start,) = decode_cursor(after, int) if after else (0,)
        items, last = page(await ledger.list_entries(conn, licence_id, after=start, limit=limit + 1), limit)
        return LedgerPage(items=items, next=encode_cursor(last.ledger_entry_id) if last else None)


async def _by_number(conn: Conn, actor: str, issuing_state: str, number: str) -> Licence:
    licence = await licence_reads.find_licence(conn, issuing_state, number)
    await journal.record_read(conn, actor=actor, entity="licence", ids=[str(licence.licence_id)])
    return licence
