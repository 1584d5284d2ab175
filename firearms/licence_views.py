"""How a licence is shown: the registry's view Structs, the licence object of a stored version, its signature bytes.

Split from the licence modules (:mod:`firearms.licences`, :mod:`firearms.licence_versions`,
:mod:`firearms.licence_reads`) to keep them small; import these names from here.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec

from firearms.canonical import canonical
from firearms.licence_object import LicenceObject

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "LICENCE_STATUSES",
    "Licence",
    "LicenceEvent",
    "LicenceStatus",
    "LicenceVersion",
    "licence_message",
    "licence_object",
    "licence_view",
    "verification_code",
    "version_view",
]

LicenceStatus = Literal["draft", "pending", "issued", "suspended", "revoked", "expired", "exhausted"]
LICENCE_STATUSES: tuple[LicenceStatus, ...] = (
    "draft",
    "pending",
    "issued",
    "suspended",
    "revoked",
    "expired",
    "exhausted",
)
_SIGNING_DOMAIN = b"firearms-licence/1 version\n"


class Licence(msgspec.Struct, frozen=True, kw_only=True):
    """A licence as the API shows it: the registry's facts and the licence object of its current version.

    ``status`` is the full life-cycle state; inside ``licence`` (the wire shape) a draft reads ``pending``.
    """

    licence_id: uuid.UUID
    origin: Literal["local", "received"]
    status: LicenceStatus
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    licence: LicenceObject


class LicenceVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a licence; ``verification_code`` is set once the version is signed (issued).

    The API shows the code only to the roles that fetch licence documents (``None`` to the others).
    """

    licence_id: uuid.UUID
    version: int
    current: bool
    reason: str | None
    created_at: dt.datetime
    created_by: str
    issued_at: dt.datetime | None
    verification_code: Annotated[
        str | None,
        msgspec.Meta(
            description="the version's verification code once signed (issued), told only to the roles that fetch"
            " licence documents (licensing-officer, admin, auditor); null to every other role"
        ),
    ]
    licence: LicenceObject


class LicenceEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One status change of a licence."""

    licence_event_id: int
    version: int
    from_status: LicenceStatus | None
    to_status: LicenceStatus
    reason: str
    actor: str
    occurred_at: dt.datetime


def licence_message(licence: LicenceObject) -> bytes:
    """The bytes the registry signs for a licence version: a domain-separated canonical licence object."""
    return _SIGNING_DOMAIN + canonical(msgspec.to_builtins(licence))


def verification_code(signature: bytes) -> str:
    """The short code printed on a document: 10 base32 characters of SHA-256(signature), as XXXXX-XXXXX."""
    text = base64.b32encode(hashlib.sha256(signature).digest()).decode("ascii")[:10]
    return f"{text[:5]}-{text[5:]}"


def licence_object(licence: asyncpg.Record, version: asyncpg.Record) -> LicenceObject:
    """The licence object (PROTOCOL §5) of a stored version, with the licence's current status."""
    status = "pending" if licence["status"] == "draft" else licence["status"]
    # a received licence keeps its issuing State's issued_at in the content; our own versions are signed here
    data = {"issued_at": None, **version["content"], "status": status, "version": version["version"]}
    obj = msgspec.convert(data, LicenceObject)
    if version["issued_at"] is not None:
        return msgspec.structs.replace(obj, issued_at=version["issued_at"])
    if obj.issued_at is None and licence["origin"] == "received" and version["version"] == licence["version"]:
        # a partner's pending licence announced again as issued, same version: its issue time is on the row
        return msgspec.structs.replace(obj, issued_at=licence["issued_at"])
    return obj


def licence_view(licence: asyncpg.Record, version: asyncpg.Record) -> Licence:
    """The API view of a licence row and its current version row."""
    return Licence(
        licence_id=licence["licence_id"],
        origin=licence["origin"],
        status=licence["status"],
        version=licence["version"],
        created_at=licence["created_at"],
        updated_at=licence["updated_at"],
        licence=licence_object(licence, version),
    )


def version_view(row: asyncpg.Record, version: asyncpg.Record) -> LicenceVersion:
    """The API view of one version row of the licence ``row``."""
    return LicenceVersion(
        licence_id=row["licence_id"],
        version=version["version"],
        current=version["version"] == row["version"],
        reason=version["reason"],
        created_at=version["created_at"],
        created_by=version["created_by"],
        issued_at=version["issued_at"],
        verification_code=verification_code(version["signature"]) if version["signature"] else None,
        licence=licence_object(row, version),
    )
