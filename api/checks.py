"""Customs checks (DESIGN §5): ``POST /api/v1/checks`` and the records of checks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api.deps import ConnDep, OfficerDep, SettingsDep
from api.idempotency import Answer, IdempotencyKeyHeader, once
from api.params import AfterQuery, LimitQuery, OptionalStateQuery, page, state_code
from firearms import check_decisions, check_records, checks
from firearms.check_records import CheckAnswer, CheckRecord, Decision
from firearms.check_rules import CheckRequest
from firearms.errors import InvalidInputError
from firearms.pagination import DEFAULT_LIMIT, decode_cursor, encode_cursor
from firearms.text_rules import REASON

if TYPE_CHECKING:
    from firearms.db import Conn
    from firearms.settings import Settings
    from firearms.tokens import Officer

__all__ = ["CheckController", "CheckPage", "DecisionRequest"]

_READERS = ("customs-officer", "auditor", "admin")


class DecisionRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Why an officer releases or refuses a held check, kept as given: no control character nor padding."""

    reason: REASON


class CheckPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of checks, newest first; ``next`` is the cursor for the following page."""

    items: list[CheckRecord]
    next: str | None


def _next(last: CheckRecord | None) -> str | None:
    return encode_cursor(last.recorded_at, last.check_id) if last else None


class CheckController(Controller):
    """``/api/v1/checks``."""

    path = "/checks"

    @post("/", opt={"roles": ("customs-officer",)}, status_code=200, summary="Check a consignment")
    async def check(
        self, conn: ConnDep, officer: OfficerDep, settings: SettingsDep, data: JSONBody[CheckRequest]
    ) -> CheckAnswer:
        """Check a consignment against its licence: ``clear``, ``hold`` or ``refuse`` with reasons.

        An unknown licence is a ``refuse`` verdict with ``licence-unknown``, not a 404. The same
        ``check_id`` and request give back the first answer; another request with it is a 409.
        """
        return await checks.perform_check(
            conn, data, state=settings.state, time_zone=settings.time_zone, actor=officer.actor
        )

    @get("/{check_id:uuid}", opt={"roles": _READERS}, summary="One check")
    async def get_check(self, conn: ConnDep, check_id: FromPath[uuid.UUID]) -> CheckRecord:
        """A recorded check with its answer and any officer's decision on it."""
        return await check_records.get_check(conn, check_id)

    @post(
        "/{check_id:uuid}/release", opt={"roles": ("customs-officer",)}, status_code=200, summary="Release a held check"
    )
    async def release(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        check_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        data: JSONBody[DecisionRequest],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[CheckRecord]:
        """Release a held consignment: it then debits as a clear would.

        Sent again with the same ``Idempotency-Key``, the first answer (rather than 409 ``check-not-held``).
        """
        return await _decide(conn, officer, settings, check_id, request, data, idempotency_key, "release")

    @post(
        "/{check_id:uuid}/refuse", opt={"roles": ("customs-officer",)}, status_code=200, summary="Refuse a held check"
    )
    async def refuse(
        self,
        conn: ConnDep,
        officer: OfficerDep,
        settings: SettingsDep,
        check_id: FromPath[uuid.UUID],
        request: Request[Any, Any, Any],
        data: JSONBody[DecisionRequest],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Answer[CheckRecord]:
        """Refuse a held consignment: nothing is debited.

        Sent again with the same ``Idempotency-Key``, the first answer (rather than 409 ``check-not-held``).
        """
        return await _decide(conn, officer, settings, check_id, request, data, idempotency_key, "refuse")

    @get("/", opt={"roles": _READERS}, summary="Checks by licence or by serial")
    async def list_checks(
        self,
        conn: ConnDep,
        licence_number: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
        issuing_state: OptionalStateQuery = None,
        serial: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
        after: AfterQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
    ) -> CheckPage:
        """Checks of a licence (``licence_number`` + ``issuing_state``) or of a ``serial``, newest first."""
        before: tuple[dt.datetime, uuid.UUID] | None = None
        if after:
            checked_at, check_id = decode_cursor(after, dt.datetime, uuid.UUID)
            before = (checked_at, check_id)
        by_licence = licence_number is not None or issuing_state is not None
        if serial is not None and not by_licence:
            found = await check_records.list_by_serial(conn, serial, before=before, limit=limit + 1)
        elif serial is None and licence_number is not None and issuing_state is not None:
            found = await check_records.list_by_licence(
                conn, state_code(issuing_state), licence_number, before=before, limit=limit + 1
            )
        else:
            raise InvalidInputError(
                "give either 'serial' alone, or both 'licence_number' and 'issuing_state'", code="invalid-check-filter"
            )
        items, last = page(found, limit)
        return CheckPage(items=items, next=_next(last))


async def _decide(
    conn: Conn,
    officer: Officer,
    settings: Settings,
    check_id: uuid.UUID,
    request: Request[Any, Any, Any],
    data: DecisionRequest,
    idempotency_key: str | None,
    decision: Decision,
) -> Answer[CheckRecord]:
    """An officer's decision on a held check, once per ``Idempotency-Key`` (:func:`firearms.check_decisions.decide`)."""
    return await once(
        conn,
        officer,
        request,
        idempotency_key,
        data,
        lambda: check_decisions.decide(
            conn,
            check_id,
            decision,
            data.reason,
            state=settings.state,
            time_zone=settings.time_zone,
            actor=officer.actor,
        ),
    )
