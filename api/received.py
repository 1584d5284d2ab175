"""What partners told this registry: foreign licences, shipments, transit-consent requests (PROTOCOL §5)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api.deps import ConnDep, OfficerDep, SettingsDep
from api.idempotency import Answer, IdempotencyKeyHeader, journaled_read, once
from api.params import AfterQuery, LicenceNumberQuery, LimitQuery, StatePath, StateQuery, page, state_code
from firearms import clock, journal
from firearms.db import Conn
from firearms.errors import NotFoundError
from firearms.exchange import consents, hooks
from firearms.exchange.consents import ConsentRequest
from firearms.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from firearms.store import received as store
from firearms.text_rules import REASON

__all__ = [
    "ConsentDecision",
    "ConsentRequestController",
    "ConsentRequestPage",
    "ForeignLicence",
    "ForeignLicenceController",
    "ForeignLicencePage",
    "Passage",
    "Shipment",
    "ShipmentController",
    "ShipmentPage",
    "ShipmentRecord",
    "request_receipt_confirmation",
]

READERS = ("customs-officer", "licensing-officer", "admin", "auditor")


class ForeignLicence(msgspec.Struct, frozen=True, kw_only=True):
    """A licence as received from its issuing State, with every later status change applied."""

    issuing_state: str
    number: str
    kind: str
    version: int
    status: str
    status_reason: str | None
    status_effective_at: dt.datetime | None
    licence: Any
    confidentiality: str
    notice_id: str
    received_at: dt.datetime
    updated_at: dt.datetime


class ForeignLicencePage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of received licences."""

    items: list[ForeignLicence]
    next: str | None


class ForeignLicenceController(Controller):
    """``/api/v1/foreign-licences``: licences received by signed notice."""

    path = "/foreign-licences"
    opt = {"roles": READERS}  # noqa: RUF012

    @get("/", summary="Licences received from other States")
    async def list_licences(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        kind: Annotated[Literal["export", "import", "transit", "brokering"] | None, QueryParameter()] = None,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> ForeignLicencePage:
        """Received licences by issuing State and number (the read is journaled: they name parties)."""
        key = decode_cursor(after, str, str) if after else ("", "")
        rows = await store.list_foreign_licences(conn, (key[0], key[1]), kind, limit + 1)
        items, last = page([ForeignLicence(**dict(row)) for row in rows], limit)
        await journal.record_read(
            conn,
            actor=officer.actor,
            entity="foreign-licence",
            ids=[f"{item.issuing_state}/{item.number}" for item in items],
        )
        return ForeignLicencePage(items=items, next=encode_cursor(last.issuing_state, last.number) if last else None)

    @get("/{issuing_state:str}/{number:str}", summary="One received licence")
    async def get_licence(
        self, conn: ConnDep, officer: OfficerDep, issuing_state: StatePath, number: FromPath[str]
    ) -> ForeignLicence:
        """The licence as last received, status applied (the read is journaled)."""
        return await _foreign_licence(conn, officer.actor, state_code(issuing_state), number)

    @get("/by-number", summary="One received licence, its number in the query (for a number with a '/')")
    async def get_licence_by_number(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        issuing_state: StateQuery,
        number: LicenceNumberQuery,
    ) -> ForeignLicence:
        """As ``/{issuing_state}/{number}``, for any number: one with a ``/`` cannot be a path segment."""
        return await _foreign_licence(conn, officer.actor, state_code(issuing_state), number)


async def _foreign_licence(conn: Conn, actor: str, issuing_state: str, number: str) -> ForeignLicence:
    row = await store.get_foreign_licence(conn, issuing_state, number)
    if row is None:
        raise NotFoundError(f"no licence {number} of {issuing_state} was received", number=number)
    await journal.record_read(conn, actor=actor, entity="foreign-licence", ids=[f"{issuing_state}/{number}"])
    return ForeignLicence(**dict(row))


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    """A border check reported by a transit State."""

    recorded_by: str
    check_id: str
    licence_number: str
    issuing_state: str
    shipment_id: str | None
    verdict: str
    reasons: list[str]
    checked_at: dt.datetime
    crossing_point: str
    items: Any
    confidentiality: str
    notice_id: str
    received_at: dt.datetime


class ShipmentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A shipment as the notices about it tell: dispatch, confirmation request, receipt."""

    exporting_state: str
    shipment_id: str
    licence_number: str
    issuing_state: str
    dispatched_at: dt.datetime | None
    items: Any
    confirmation_requested_at: dt.datetime | None
    received_on: dt.date | None
    customs_document: str | None
    received_items: Any
    confirmed_by: str | None
    confidentiality: str
    updated_at: dt.datetime


class Dispatch(msgspec.Struct, frozen=True, kw_only=True):
    """One ``shipment.dispatched`` of a shipment: a consignment may cross the exit in parts (two trucks)."""

    notice_id: str
    sequence: int
    licence_number: str
    dispatched_at: dt.datetime
    items: Any
    confidentiality: str
    received_at: dt.datetime


class Confirmation(msgspec.Struct, frozen=True, kw_only=True):
    """One ``receipt.confirmed`` of a shipment: the importing State confirms each part its customs let in."""

    confirmed_by: str
    notice_id: str
    sequence: int
    licence_number: str
    received_on: dt.date
    customs_document: str
    items: Any
    confidentiality: str
    received_at: dt.datetime


class Shipment(ShipmentRecord, frozen=True, kw_only=True):
    """A shipment with each dispatch and receipt notice and the border passages reported for its licence.

    ``items`` is what every dispatch of the shipment sent, added up per line, ``dispatched_at`` the last
    part's dispatch; ``received_items`` and ``received_on`` the same for the confirmations of receipt (a part
    confirmed again counted once), ``customs_document`` the last confirmation's.
    """

    dispatches: list[Dispatch]
    receipts: list[Confirmation]
    passages: list[Passage]


class ShipmentPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of the shipments recorded under a licence."""

    items: list[ShipmentRecord]
    next: str | None


class ShipmentController(Controller):
    """``/api/v1/shipments``: dispatches, passages and receipts reported by partners."""

    path = "/shipments"
    opt = {"roles": READERS}  # noqa: RUF012

    @get("/", summary="Shipments under a licence")
    async def list_shipments(
        self,
        conn: ConnDep,
        issuing_state: StateQuery,
        licence_number: LicenceNumberQuery,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> ShipmentPage:
        """The shipments recorded under a licence, by exporting State and shipment id.

        Here the exporting State sees which of its shipments the importing State confirmed
        (``received_on``), and a transit or importing State what was dispatched towards it.
        """
        key = decode_cursor(after, str, str) if after else ("", "")
        rows = await store.list_shipment_records(
            conn, state_code(issuing_state), licence_number, (key[0], key[1]), limit + 1
        )
        items, last = page([ShipmentRecord(**dict(row)) for row in rows], limit)
        return ShipmentPage(items=items, next=encode_cursor(last.exporting_state, last.shipment_id) if last else None)

    @get("/{exporting_state:str}/{shipment_id:str}", summary="One shipment")
    async def get_shipment(
        self, conn: ConnDep, settings: SettingsDep, exporting_state: StatePath, shipment_id: FromPath[str]
    ) -> Shipment:
        """A shipment's dispatches, confirmation request and receipts, with the border passages of its licence."""
        return await _shipment(conn, settings.state, state_code(exporting_state), shipment_id)

    @get("/by-id", summary="One shipment, its id in the query (for an id with a '/')")
    async def get_shipment_by_id(
        self,
        conn: ConnDep,
        settings: SettingsDep,
        exporting_state: StateQuery,
        shipment_id: Annotated[str, QueryParameter(min_length=1, max_length=200)],
    ) -> Shipment:
        """As ``/{exporting_state}/{shipment_id}``, for any id: one with a ``/`` cannot be a path segment."""
        return await _shipment(conn, settings.state, state_code(exporting_state), shipment_id)


async def _shipment(conn: Conn, state: str, exporting_state: str, shipment_id: str) -> Shipment:
    row = await store.get_shipment_record(conn, exporting_state, shipment_id)
    if row is None:
        detail = f"no shipment {shipment_id} of {exporting_state} is recorded"
        if exporting_state == state:
            # The records are built from partners' notices: this State's own dispatch is its exit check.
            detail += (
                ": a shipment record holds what partners reported (passages, receipts);"
                f" {state}'s own dispatches are its exit checks"
                f" (GET /api/v1/checks?licence_number=&issuing_state={state})"
            )
        raise NotFoundError(detail, shipment_id=shipment_id)
    dispatches = await store.list_shipment_dispatches(conn, exporting_state, shipment_id)
    receipts = await store.list_shipment_receipts(conn, exporting_state, shipment_id)
    passages = await store.list_shipment_passages(conn, row["issuing_state"], row["licence_number"])
    return Shipment(
        **dict(row),
        dispatches=[Dispatch(**dict(item)) for item in dispatches],
        receipts=[Confirmation(**dict(item)) for item in receipts],
        passages=[Passage(**dict(item)) for item in passages],
    )


class ConfirmationRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A shipment of one of this State's export licences whose receipt the importing State should confirm."""

    licence_number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    # as a check's shipment id: no control character (C1 and a final line feed included; "$" alone lets one through)
    shipment_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$(?!\n)")]


class ConfirmationRequested(msgspec.Struct, frozen=True, kw_only=True):
    """The request is queued for these States (the importing State, when it is a partner)."""

    licence_number: str
    shipment_id: str
    sent_to: list[str]


@post(
    "/shipments/confirmation-requests",
    opt={"roles": ("customs-officer", "licensing-officer")},
    status_code=202,
    summary="Ask the importing State to confirm receipt",
)
async def request_receipt_confirmation(
    conn: ConnDep,
    officer: OfficerDep,
    settings: SettingsDep,
    request: Request[Any, Any, Any],
    data: JSONBody[ConfirmationRequest],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Answer[ConfirmationRequested]:
    """Send ``receipt.confirmation-requested`` (Art. 10(4)); the importing registry answers by itself."""

    async def ask() -> ConfirmationRequested:
        sent = await hooks.ask_receipt_confirmation(
            conn,
            own_state=settings.state,
            licence_number=data.licence_number,
            shipment_id=data.shipment_id,
            actor=officer.actor,
        )
        return ConfirmationRequested(licence_number=data.licence_number, shipment_id=data.shipment_id, sent_to=sent)

    return await once(conn, officer, request, idempotency_key, data, ask)


class ConsentDecision(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The licensing officer's decision on a transit-consent request.

    ``acknowledgement``: the officer's words taking a no-objection while an item of the licence is reported lost
    or stolen (409 ``consent-items-reported-lost-or-stolen`` without them); kept with the decision and journaled,
    never sent to the requesting State.
    """

    decision: Literal["no-objection", "objection"]
    reason: REASON | None = None
    valid_until: dt.date | None = None
    acknowledgement: REASON | None = None


class ConsentRequestPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of received transit-consent requests."""

    items: list[ConsentRequest]
    next: str | None


class ConsentRequestController(Controller):
    """``/api/v1/consent-requests``: transit-consent requests received from exporting States."""

    path = "/consent-requests"
    opt = {"roles": ("licensing-officer", "admin", "auditor")}  # noqa: RUF012

    @get("/", summary="Received transit-consent requests")
    async def list_requests(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        status: Annotated[Literal["pending", "decided", "superseded", "deemed"] | None, QueryParameter()] = None,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> ConsentRequestPage:
        """Requests in arrival order with their pre-check findings; ``status=pending`` for the officer's queue.

        ``findings`` as made on arrival; a pending request's ``findings_now`` made again at this read. The read is
        journaled: each request carries a licence that names parties.
        """
        key = decode_cursor(after, dt.datetime, str, str) if after else None
        items, last = page(
            await consents.list_requests(
                conn,
                after=(key[0], key[1], key[2]) if key else None,
                status=status,
                limit=limit + 1,
                own_state=settings.state,
                today=clock.today(settings.time_zone),
            ),
            limit,
        )
        await journal.record_read(
            conn,
            actor=officer.actor,
            entity="consent-request",
            ids=[f"{item.requesting_state}/{item.notice_id}" for item in items],
        )
        return ConsentRequestPage(
            items=items,
            next=encode_cursor(last.received_at, last.requesting_state, last.notice_id) if last else None,
        )

    @get("/{requesting_state:str}/{notice_id:str}", summary="One received transit-consent request")
    async def get_request(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        requesting_state: StatePath,
        notice_id: FromPath[str],
    ) -> ConsentRequest:
        """A request with the licence it carries and the findings: on arrival, and a pending one's made again now.

        The read is journaled.
        """
        requesting_state = state_code(requesting_state)
        request = await consents.get_request(
            conn, requesting_state, notice_id, own_state=settings.state, today=clock.today(settings.time_zone)
        )
        await journal.record_read(
            conn, actor=officer.actor, entity="consent-request", ids=[f"{requesting_state}/{notice_id}"]
        )
        return request

    @post(
        "/{requesting_state:str}/{notice_id:str}/decision",
        summary="Decide on a transit-consent request",
        status_code=200,
        opt={"roles": ("licensing-officer",)},
    )
    async def decide(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        requesting_state: StatePath,
        notice_id: FromPath[str],
        request: Request[Any, Any, Any],
        data: JSONBody[ConsentDecision],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[ConsentRequest]:
        """No objection or objection (with a reason); sent back as ``transit-consent.decided``.

        Sent again with the same ``Idempotency-Key``, the first answer (rather than 409 ``consent-already-decided``).
        """
        return await once(
            conn,
            officer,
            request,
            idempotency_key,
            data,
            lambda: consents.decide(
                conn,
                state_code(requesting_state),
                notice_id,
                settings=settings,
                decision=data.decision,
                reason=data.reason,
                valid_until=data.valid_until,
                actor=officer.actor,
                acknowledgement=data.acknowledgement,
            ),
            # the answer holds the partner's licence as received, its parties: a read when shown again
            journaled_read(conn, officer, "consent-request", lambda _: [f"{state_code(requesting_state)}/{notice_id}"]),
        )
