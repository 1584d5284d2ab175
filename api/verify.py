"""``GET /api/v1/verify/{number}`` (DESIGN §8): is this licence genuine, valid, and how much is left."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get
from litestar.params import FromPath, QueryParameter

from api.deps import ConnDep, OfficerDep, SettingsDep
from api.licences import PRINT
from api.params import STATE_QUERY_PATTERN, state_code
from firearms import clock, documents
from firearms.documents import Verification

__all__ = ["verify_licence"]


@get(
    "/verify/{number:str}",
    summary="Verify a licence by number",
    opt={"roles": ("customs-officer", "licensing-officer", "records-officer", "auditor", "admin")},
)
async def verify_licence(
    conn: ConnDep,
    settings: SettingsDep,
    officer: OfficerDep,
    number: FromPath[str],
    code: Annotated[
        str | None, QueryParameter(description="verification code printed on the document", min_length=1, max_length=20)
    ] = None,
    issuing_state: Annotated[
        str | None,
        QueryParameter(description="issuing State, either case (default: this registry)", pattern=STATE_QUERY_PATTERN),
    ] = None,
) -> Verification:
    """Status, validity, balances and version; with ``code``, whether the printed code is the current version's.

    ``in_validity_period`` judges the dates on the registry's calendar today, apart from the status: a partner's
    licence past its last day shows ``issued`` until its issuing State expires it.

    ``verification_code`` (the current version's code) is told only to the roles that fetch licence documents
    (licensing-officer, admin, auditor); to every other role it is null, and a code is judged only as one presented.
    """
    answer = await documents.verify(
        conn,
        state=settings.state,
        today=clock.today(settings.time_zone),
        issuing_state=state_code(issuing_state),
        number=number,
        code=code,
    )
    if officer.role in PRINT:
        return answer
    return msgspec.structs.replace(answer, verification_code=None)
