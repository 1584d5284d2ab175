"""The trust list (PROTOCOL §1): partner States, their base URLs and their keys with validity.

The first key of a partner is entered by an administrator after checking it out of band (the
trust anchor); later keys arrive by ``registry.key-announced`` signed by a key already trusted,
and are recorded with the id of that notice as their provenance.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import urllib.parse
from typing import TYPE_CHECKING

import msgspec

from firearms import files, journal
from firearms.canonical import format_time, utc_now
from firearms.countries import is_country
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.exchange import reports, rotation
from firearms.exchange.checks import KEY_TIMES_FROM, TrustedKey, is_key_time
from firearms.settings import QUOTA_BYTES_RANGE, QUOTA_NOTICES_RANGE
from firearms.signing import b64url_decode, b64url_encode, is_public_key, key_id_of
from firearms.store import keys as key_store
from firearms.store import peers as store
from firearms.text_rules import is_http_base_url

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import asyncpg

    from firearms.db import Conn
    from firearms.settings import Settings

__all__ = [
    "ADMIN_PROVENANCE",
    "OwnAddress",
    "Peer",
    "PeerKey",
    "add_peer",
    "add_peer_key",
    "get_peer",
    "list_peers",
    "own_address",
    "own_addresses",
    "parse_public_key",
    "record_served_address",
    "set_peer_enabled",
    "set_peer_quota",
    "trusted_keys",
]

ADMIN_PROVENANCE = "admin"
_URL_MAX = 500


class OwnAddress(msgspec.Struct, frozen=True, kw_only=True):
    """Where this registry is reached: its ``FIREARMS_PUBLIC_URL`` (empty when unset) and what ``serve`` binds."""

    public_url: str
    host: str
    port: int
    noted: bool = False
    """From ``serve.json`` (the last ``serve`` on the home), not from the settings: it may not be serving now."""


def own_address(settings: Settings) -> OwnAddress:
    """This registry's address from its settings, for :func:`add_peer` to refuse a partner URL that is its own."""
    return OwnAddress(public_url=settings.public_url, host=settings.host, port=settings.port)


SERVED_FILE = "serve.json"  # in FIREARMS_HOME: the host and port the last `serve` on this home bound


class _Served(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int


def record_served_address(home: Path, host: str, port: int) -> None:
    """Note in the home the host and port ``serve`` binds, for :func:`own_addresses` in the command line.

    ``serve --port`` is an option of that process: a ``firearms peers add`` run beside it reads only the
    environment, and took the registry's own loopback URL for a partner's. Written whole (renamed into place).

    Raises:
        OSError: the home cannot be written.
    """
    with files.written_whole(home / SERVED_FILE) as partial:
        partial.write_bytes(msgspec.json.encode(_Served(host=host, port=port)))


def own_addresses(settings: Settings) -> list[OwnAddress]:
    """This registry's addresses for the command line: its settings', and the one ``serve`` last bound on its home.

    A file that cannot be read or decoded is ignored: the check then rests on the settings, as before the file.
    """
    found = [own_address(settings)]
    try:
        served = msgspec.json.decode((settings.home / SERVED_FILE).read_bytes(), type=_Served)
    except (OSError, msgspec.DecodeError):
        return found
    if (served.host, served.port) != (settings.host, settings.port):
        found.append(OwnAddress(public_url=settings.public_url, host=served.host, port=served.port, noted=True))
    return found


class PeerKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key of a partner with its validity and where it came from (``admin`` or a notice id)."""

    key_id: str
    public_key: str
    not_before: dt.datetime
    not_after: dt.datetime | None
    revoked_at: dt.datetime | None
    provenance: str


class Peer(msgspec.Struct, frozen=True, kw_only=True):
    """A partner registry on the trust list."""

    state: str
    base_url: str
    enabled: bool
    last_sent_sequence: int
    quota_notices: int | None
    """The most notices stored from it a UTC hour; ``None``: ``FIREARMS_PARTNER_QUOTA_NOTICES``."""
    quota_bytes: int | None
    """The most bytes of its notices stored a UTC hour; ``None``: ``FIREARMS_PARTNER_QUOTA_BYTES``."""
    keys: list[PeerKey]
    created_at: dt.datetime
    updated_at: dt.datetime


def parse_public_key(text: str) -> bytes:
    """A raw 32-byte Ed25519 public key from unpadded base64url (PROTOCOL §1).

    Raises:
        InvalidInputError: ``invalid-public-key``.
    """
    try:
        raw = b64url_decode(text.strip())
    except ValueError as exc:
        raise InvalidInputError("the public key is not unpadded base64url", code="invalid-public-key") from exc
    if len(raw) != 32:
        raise InvalidInputError(f"an Ed25519 public key is 32 bytes, this one is {len(raw)}", code="invalid-public-key")
    if not is_public_key(raw):
        raise InvalidInputError(
            "these 32 bytes are not an Ed25519 public key (no point of the curve, or one of small order)",
            code="invalid-public-key",
        )
    return raw


def _check_state(state: str, own_state: str) -> None:
    if not is_country(state):
        raise InvalidInputError(f"{state!r} is not an ISO 3166-1 alpha-2 code", code="invalid-state", state=state)
    if state == own_state:
        raise InvalidInputError("a registry does not put its own State on its trust list", code="invalid-state")


def _key_start(not_before: dt.datetime | None) -> dt.datetime:
    """The start of a key's validity entered by an administrator: 1970 when not given.

    Not the moment it is entered: a partner that trusted us first may already have queued notices, signed
    and dated before we entered its key, and its worker sends those bytes again and again. With "now" they
    were ``unknown-key`` for ever, and the key could not be entered again with an earlier start. The date
    bounds nothing the key's holder does not choose anyway (it dates its own notices); what a key may no
    longer sign is said by ``revoked_at`` and ``not_after``.

    Raises:
        InvalidInputError: a naive time, or one outside 1970-9998: PostgreSQL keeps the extremes of
            Python's range as ``-infinity``/``infinity``, which come back as naive datetimes that every
            later check of the partner's notices would compare with aware ones.
    """
    if not_before is None:
        return KEY_TIMES_FROM
    if not_before.tzinfo is None:
        raise InvalidInputError("not_before is a UTC time such as 2026-11-29T10:15:00Z, with its Z")
    if not is_key_time(not_before):
        # said as given: one whose offset puts it before the year 1 or after 9999 in UTC has no UTC form to say
        raise InvalidInputError(f"not_before {not_before.isoformat()} is not a time between 1970 and 9998")
    return not_before


def _check_url(given: str) -> str:
    """A partner's base URL, ``http(s)://host[:port][/path]`` without a trailing slash.

    No user or password (they would sit in the trust list, the journal and every listing), no control
    character, a port of 1-65535, at most 500 characters (the API's limit).
    """
    url = given.strip().rstrip("/")
    if len(url) > _URL_MAX:
        raise InvalidInputError(
            f"a base URL has at most {_URL_MAX} characters, this one {len(url)}", code="invalid-url"
        )
    if not is_http_base_url(url):
        raise InvalidInputError(
            f"{given.strip()!r} is not an http(s) base URL (http(s)://host[:port][/path])", code="invalid-url"
        )
    return url


_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})  # noqa: S104  # names of every interface, compared, not bound
_LOOPBACK = "loopback"  # every name of this machine's loopback interface reads as this one


def _endpoint(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an http(s) base URL, its host in one spelling.

    Lower case, no trailing dot, an IP address in its short form, any loopback name or address
    (``localhost``, 127.0.0.0/8, ``::1``) as one.
    """
    parts = urllib.parse.urlsplit(url)
    return _host(parts.hostname or ""), parts.port or (443 if parts.scheme == "https" else 80), parts.path.rstrip("/")


def _host(name: str) -> str:
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761 §6.3: always the loopback interface
        return _LOOPBACK
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return _LOOPBACK if address.is_loopback else str(address)


def _require_other_registry(url: str, own: OwnAddress) -> None:
    """A partner's base URL may not be this registry's own: its worker would post its notices to itself.

    Its own when it is ``FIREARMS_PUBLIC_URL`` (host, port and path, whatever the spelling of the host, the
    scheme's default port written or not), or the host and port ``serve`` binds -- a loopback name or address
    when it binds the loopback interface or every interface. Both are checked, ``FIREARMS_PUBLIC_URL`` set or
    not: behind a proxy, the port ``serve`` binds on this machine is this registry as much as its public URL.

    Raises:
        InvalidInputError: ``own-url``.
    """
    host, port, path = _endpoint(url)
    bound = _host(own.host)
    own_public = own.public_url != "" and (host, port, path) == _endpoint(own.public_url)
    own_bound = port == own.port and (host == bound or (host == _LOOPBACK and own.host in _WILDCARD_HOSTS))
    if own_public or own_bound:
        if own_public:
            why = f"FIREARMS_PUBLIC_URL {own.public_url}"
        elif own.noted:  # serve may be stopped now: say where the address comes from, not that it serves there
            why = f"the last 'firearms serve' on this home bound {own.host}:{own.port}, noted in its serve.json"
        else:
            why = f"it serves on {own.host}:{own.port}"
        raise InvalidInputError(
            f"{url} is this registry's own address ({why}): its notices for the partner would be posted to itself",
            code="own-url",
            base_url=url,
        )


def _key(row: asyncpg.Record) -> PeerKey:
    return PeerKey(
        key_id=row["key_id"],
        public_key=b64url_encode(row["public_key"]),
        not_before=row["not_before"],
        not_after=row["not_after"],
        revoked_at=row["revoked_at"],
        provenance=row["provenance"],
    )


async def _peer(conn: Conn, row: asyncpg.Record) -> Peer:
    keys = [_key(key) for key in await store.list_peer_keys(conn, row["state"])]
    return Peer(
        state=row["state"],
        base_url=row["base_url"],
        enabled=row["enabled"],
        last_sent_sequence=row["last_sent_sequence"],
        quota_notices=row["quota_notices"],
        quota_bytes=row["quota_bytes"],
        keys=keys,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _require_key_of_no_other_state(conn: Conn, key_id: str, state: str) -> None:
    """A key speaks for one State (PROTOCOL §1): this registry's own, or one on another State's trust entry, is refused.

    The key's entries are serialised from here to the end of the transaction (:func:`store.lock_peer_key_id`), so
    that the caller's insert cannot meet another State's entry of the same key made at the same moment.

    This registry's own keys are every key it made, in use or not (retired, revoked, waiting for a switch,
    cancelled): its private half is here, so a partner's entry holding it would take what this registry signs as
    that partner's word.

    Raises:
        InvalidInputError: ``own-key``.
        ConflictError: ``peer-key-exists``.
    """
    # Two entries of one key for two States at once: the second waits here and then sees the first's.
    await store.lock_peer_key_id(conn, key_id)
    if await key_store.is_own_key(conn, key_id):
        raise InvalidInputError(
            f"key {key_id} is this registry's own signing key: a partner's key is the one its own registry"
            " publishes (GET /exchange/v1/keys there), checked out of band",
            code="own-key",
            key_id=key_id,
        )
    others = [other for other in await store.list_key_states(conn, key_id) if other != state]
    if others:
        raise ConflictError(
            f"key {key_id} is on the trust list for {', '.join(others)}: a key speaks for one State",
            code="peer-key-exists",
            key_id=key_id,
            states=others,
        )


async def add_peer(
    conn: Conn,
    *,
    own_state: str,
    state: str,
    base_url: str,
    public_key: str,
    not_before: dt.datetime | None,
    actor: str,
    own: Sequence[OwnAddress] = (),
) -> Peer:
    """Put a partner and its first key (the trust anchor, checked out of band) on the trust list.

    A new key of this registry still waiting for its announcements is announced to the partner too
    (:func:`firearms.exchange.rotation.announce_waiting_keys`). ``own``: this registry's addresses
    (:func:`own_address`, :func:`own_addresses`); a base URL that is one of them is refused (the administrator's
    commands pass them).

    Raises:
        InvalidInputError: bad State, URL or key; ``own-url`` (the URL is this registry's own); ``own-key`` (the
            key is one of this registry's own).
        ConflictError: ``peer-already-exists``; ``peer-key-exists`` (the key is another State's on the trust list).
    """
    _check_state(state, own_state)
    url = _check_url(base_url)
    for address in own:
        _require_other_registry(url, address)
    raw = parse_public_key(public_key)
    now = utc_now()
    start = _key_start(not_before)
    key_id = key_id_of(raw)
    await _require_key_of_no_other_state(conn, key_id, state)
    await store.insert_peer(conn, state, url, now)
    await store.insert_peer_key(conn, state, key_id, raw, start, None, ADMIN_PROVENANCE, now)
    await journal.record(
        conn,
        actor=actor,
        action="peer.added",
        entity="peer",
        entity_id=state,
        payload={"base_url": url, "key_id": key_id, "public_key": public_key.strip(), "not_before": format_time(start)},
    )
    await rotation.announce_waiting_keys(conn, state, actor=actor)
    await reports.catch_up(conn, state, actor=actor)
    return await get_peer(conn, state)


async def add_peer_key(conn: Conn, *, state: str, public_key: str, not_before: dt.datetime | None, actor: str) -> Peer:
    """Add a further key to a partner by an administrator (a new trust anchor, checked out of band).

    Raises:
        NotFoundError: the partner is not on the trust list.
        InvalidInputError: ``own-key`` (the key is one of this registry's own).
        ConflictError: ``peer-key-exists`` (this partner's already, or another State's).
    """
    await get_peer(conn, state)
    raw = parse_public_key(public_key)
    now = utc_now()
    start = _key_start(not_before)
    key_id = key_id_of(raw)
    await _require_key_of_no_other_state(conn, key_id, state)
    await store.insert_peer_key(conn, state, key_id, raw, start, None, ADMIN_PROVENANCE, now)
    await journal.record(
        conn,
        actor=actor,
        action="peer.key-added",
        entity="peer",
        entity_id=state,
        payload={"key_id": key_id, "public_key": public_key.strip(), "not_before": format_time(start)},
    )
    return await get_peer(conn, state)


async def get_peer(conn: Conn, state: str) -> Peer:
    """One partner with its keys.

    Raises:
        NotFoundError: not on the trust list.
    """
    row = await store.get_peer(conn, state)
    if row is None:
        raise NotFoundError(f"{state} is not on the trust list", state=state)
    return await _peer(conn, row)


async def list_peers(conn: Conn, *, after: str, limit: int) -> list[Peer]:
    """A page of partners in State order."""
    return [await _peer(conn, row) for row in await store.list_peers(conn, after, limit)]


async def set_peer_enabled(conn: Conn, state: str, *, enabled: bool, actor: str) -> Peer:
    """Disable a partner (its notices are refused as ``unknown-sender``, nothing is sent to it) or enable it again.

    Enabling a disabled partner queues it the withdrawal of every lost or stolen report it was sent and that ended
    while it was disabled, then every report open now (:func:`firearms.exchange.reports.catch_up`: all of them, not
    only those made while it was disabled; a repeat supersedes at the receiver).

    Raises:
        NotFoundError: not on the trust list.
    """
    # locked as read: an enabling that read the partner enabled while a disabling was under way would owe the
    # catch-up and skip it, and two enablings at once would each run one
    before = await store.get_peer_for_update(conn, state)
    row = await store.set_peer_enabled(conn, state, enabled, utc_now())
    if before is None or row is None:
        raise NotFoundError(f"{state} is not on the trust list", state=state)
    await journal.record(
        conn,
        actor=actor,
        action="peer.enabled" if enabled else "peer.disabled",
        entity="peer",
        entity_id=state,
        payload={},
    )
    if enabled and not before["enabled"]:
        await reports.catch_up(conn, state, actor=actor)
    return await _peer(conn, row)


async def set_peer_quota(
    conn: Conn,
    state: str,
    *,
    notices: int | msgspec.UnsetType | None = msgspec.UNSET,
    bytes_: int | msgspec.UnsetType | None = msgspec.UNSET,
    actor: str,
) -> Peer:
    """Set the bound an hour on what is stored from a partner; ``None`` follows the settings' default.

    A bound not given (``UNSET``) stays as it is: raising one never puts the other back to the default. README "What
    one partner can make this registry store". Journaled (``peer.quota-set``, the values before and after) in the
    caller's transaction.

    Raises:
        InvalidInputError: neither bound given; a bound below one notice, or below one envelope's 256 KiB (the
            partner's sender retries the same bytes: such a bound would refuse a notice for ever), or beyond what is
            kept.
        NotFoundError: not on the trust list.
    """
    if notices is msgspec.UNSET and bytes_ is msgspec.UNSET:
        raise InvalidInputError("neither bound given: nothing to set", field="notices")
    for value, (low, high), what in (
        (notices, QUOTA_NOTICES_RANGE, "notices"),
        (bytes_, QUOTA_BYTES_RANGE, "bytes (at least one envelope's 256 KiB)"),
    ):
        if isinstance(value, int) and not low <= value <= high:
            raise InvalidInputError(f"a quota of {value} {what} an hour is outside {low}-{high}", field=what.split()[0])
    before = await store.get_peer_for_update(conn, state)
    if before is None:
        raise NotFoundError(f"{state} is not on the trust list", state=state)
    # read under the row's lock: a concurrent change to the other bound is kept, not overwritten with a stale value
    notices = before["quota_notices"] if notices is msgspec.UNSET else notices
    bytes_ = before["quota_bytes"] if bytes_ is msgspec.UNSET else bytes_
    row = await store.set_peer_quota(conn, state, notices, bytes_, utc_now())
    if row is None:
        raise NotFoundError(f"{state} is not on the trust list", state=state)
    await journal.record(
        conn,
        actor=actor,
        action="peer.quota-set",
        entity="peer",
        entity_id=state,
        payload={
            "quota_notices": notices,
            "quota_bytes": bytes_,
            "before": {"quota_notices": before["quota_notices"], "quota_bytes": before["quota_bytes"]},
        },
    )
    return await _peer(conn, row)


async def trusted_keys(conn: Conn, state: str) -> list[TrustedKey] | None:
    """The keys of ``state`` for checks 3-4 of PROTOCOL §4; ``None`` when it is unknown or disabled."""
    rows = await store.list_trusted_keys(conn, state)
    if not rows:
        return None
    return [
        TrustedKey(
            key_id=row["key_id"],
            public_key=row["public_key"],
            not_before=row["not_before"],
            not_after=row["not_after"],
            revoked_at=row["revoked_at"],
        )
        for row in rows
    ]
