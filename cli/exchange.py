"""``firearms peers``, ``firearms notices`` and ``firearms keys`` (PROTOCOL §1, §4, §6)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from typing import Any

import click
import msgspec

from cli import common
from cli.main import keys_group, main
from firearms import db, keys, outbox
from firearms.exchange import rotation, trust
from firearms.settings import QUOTA_BYTES_RANGE, QUOTA_NOTICES_RANGE
from firearms.text_rules import printable

__all__ = ["notices", "peers"]


# RFC 3339 §5.6's date-time: a zone is required, ``Z`` or an offset; ``T`` and ``Z`` in either case, and the space
# its note allows (GNU ``date --rfc-3339=seconds`` prints one)
_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)(?P<zone>[Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)


def _time(text: str | None) -> dt.datetime | None:
    """``--not-before``: any RFC 3339 date-time (DESIGN §10), as the UTC moment it names (as given past 9999 in UTC)."""
    if text is None:
        return None
    match = _RFC3339.fullmatch(text)
    if match is not None:
        zone = "+00:00" if match["zone"] in ("Z", "z") else match["zone"]
        with contextlib.suppress(ValueError):  # 30 February, 24:00, +24:00
            moment = dt.datetime.fromisoformat(f"{match['date']}T{match['time']}{zone}")
            try:
                return moment.astimezone(dt.UTC)
            except OverflowError:
                # before the year 1 or after 9999 in UTC: an RFC 3339 time all the same, which the trust list
                # refuses as it refuses the years 1 and 9999 (1970-9998), naming it as given
                return moment
    common.fail(f"{text!r} is not an RFC 3339 time such as 2026-11-29T10:15:00Z or 2026-11-29T11:15:00+01:00", 2)
    return None


def _echo_json(value: Any) -> None:
    click.echo(msgspec.json.encode(value).decode())


@click.group()
def peers() -> None:
    """The trust list: partner registries and their keys."""


@peers.command("add")
@click.argument("state")
@click.option("--url", required=True, help="the partner's base URL, e.g. https://registry.example.de")
@click.option("--public-key", required=True, help="its current public key, base64url (from its /exchange/v1/keys)")
@click.option(
    "--not-before", help="the key is valid for notices dated from (RFC 3339, Z or an offset) [default: 1970, no bound]"
)
@click.pass_context
def peers_add(ctx: click.Context, state: str, url: str, public_key: str, not_before: str | None) -> None:
    """Trust STATE's registry: check its key out of band first (phone, letter, signed e-mail)."""
    settings = common.settings_for_change(ctx)
    start = _time(not_before)

    async def work(conn: db.Conn) -> trust.Peer:
        async with conn.transaction():
            return await trust.add_peer(
                conn,
                own_state=settings.state,
                state=state.strip().upper(),
                base_url=url,
                public_key=public_key,
                not_before=start,
                actor=common.cli_actor(),
                own=trust.own_addresses(settings),
            )

    _echo_json(common.with_database(settings, work))


@peers.command("add-key")
@click.argument("state")
@click.option("--public-key", required=True, help="its further public key, base64url (checked out of band)")
@click.option(
    "--not-before", help="the key is valid for notices dated from (RFC 3339, Z or an offset) [default: 1970, no bound]"
)
@click.pass_context
def peers_add_key(ctx: click.Context, state: str, public_key: str, not_before: str | None) -> None:
    """Trust a further key of STATE, a partner on the trust list: check it out of band first.

    For a partner whose announcement of a new key was lost, or that ran 'firearms keys replace' (see README,
    Backups): there, enter its key without --not-before, or with one at or before the 'not_before' it printed.
    Prints the partner with its keys as one JSON line, as POST /api/v1/peers/STATE/keys answers.
    """
    settings = common.settings_for_change(ctx)
    start = _time(not_before)

    async def work(conn: db.Conn) -> trust.Peer:
        async with conn.transaction():
            return await trust.add_peer_key(
                conn, state=state.strip().upper(), public_key=public_key, not_before=start, actor=common.cli_actor()
            )

    _echo_json(common.with_database(settings, work))


@peers.command("list")
@click.pass_context
def peers_list(ctx: click.Context) -> None:
    """Every partner with its keys, one JSON object a line."""

    async def work(conn: db.Conn) -> list[trust.Peer]:
        found: list[trust.Peer] = []
        after = ""
        while page := await trust.list_peers(conn, after=after, limit=500):
            found.extend(page)
            after = page[-1].state
        return found

    found = common.with_database(common.settings_from(ctx), work)
    if not found:  # stdout stays one JSON object a line (none); the words are for the operator
        click.echo("No partners.", err=True)
    for peer in found:
        _echo_json(peer)


def _set_enabled(ctx: click.Context, state: str, *, enabled: bool) -> None:
    async def work(conn: db.Conn) -> trust.Peer:
        async with conn.transaction():
            return await trust.set_peer_enabled(conn, state.strip().upper(), enabled=enabled, actor=common.cli_actor())

    peer = common.with_database(common.settings_for_change(ctx), work)
    click.echo(f"{peer.state} {'enabled' if peer.enabled else 'disabled'}")


@peers.command("disable")
@click.argument("state")
@click.pass_context
def peers_disable(ctx: click.Context, state: str) -> None:
    """Refuse STATE's notices and hold notices for it (they stay queued)."""
    _set_enabled(ctx, state, enabled=False)


@peers.command("enable")
@click.argument("state")
@click.pass_context
def peers_enable(ctx: click.Context, state: str) -> None:
    """Trust STATE again; held notices are delivered."""
    _set_enabled(ctx, state, enabled=True)


class _Bound(click.ParamType[Any, Any]):
    """A quota bound: a whole number in its range, or ``default`` (``None``: FIREARMS_PARTNER_QUOTA_*)."""

    name = "integer|default"

    def __init__(self, low: int, high: int) -> None:
        self.range = click.IntRange(low, high)

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | msgspec.UnsetType | None:
        if isinstance(value, msgspec.UnsetType):  # not given: stays as it is
            unset: msgspec.UnsetType = msgspec.UNSET
            return unset
        if isinstance(value, str) and value.strip().lower() == "default":
            return None
        if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
            self.fail(f"{value!r} is neither a whole number nor 'default'", param, ctx)
        converted: int = self.range.convert(value, param, ctx)
        return converted


@peers.command("quota")
@click.argument("state")
@click.option(
    "--notices",
    type=_Bound(*QUOTA_NOTICES_RANGE),
    default=msgspec.UNSET,
    show_default=False,
    help="the most notices stored from STATE a UTC hour, or 'default': FIREARMS_PARTNER_QUOTA_NOTICES [not given: as"
    " it is]",
)
@click.option(
    "--bytes",
    "bytes_",
    type=_Bound(*QUOTA_BYTES_RANGE),
    default=msgspec.UNSET,
    show_default=False,
    help="the most bytes of its notices stored a UTC hour, at least 262144, or 'default': FIREARMS_PARTNER_QUOTA_BYTES"
    " [not given: as it is]",
)
@click.pass_context
def peers_quota(
    ctx: click.Context, state: str, notices: int | msgspec.UnsetType | None, bytes_: int | msgspec.UnsetType | None
) -> None:
    """Bound what STATE's notices may store an hour; a bound not given stays as it is, 'default' follows the setting.

    Beyond it STATE's notices are refused 429 quota-exceeded (Retry-After: the hour's end) and its registry sends
    them again. Journaled; prints the partner as one JSON line, as 'peers list' does.
    """
    if notices is msgspec.UNSET and bytes_ is msgspec.UNSET:
        common.fail("give --notices N|default or --bytes B|default (a bound not given stays as it is)", 2)

    async def work(conn: db.Conn) -> trust.Peer:
        async with conn.transaction():
            return await trust.set_peer_quota(
                conn, state.strip().upper(), notices=notices, bytes_=bytes_, actor=common.cli_actor()
            )

    _echo_json(common.with_database(common.settings_for_change(ctx), work))


@peers.command("resequence")
@click.argument("state")
@click.option(
    "--from",
    "first",
    type=click.IntRange(1, 2**53 - 1),
    required=True,
    help="the sequence STATE expects (its sequence-gap's expected_sequence)",
)
@click.pass_context
def peers_resequence(ctx: click.Context, state: str, first: int) -> None:
    """Number the notices queued for STATE from --from on (after restoring this registry from a backup).

    For a partner that answers sequence-gap with a number ahead of every notice here: it holds notices
    this registry lost with the restore. Let the worker offer the queue first (STATE answers the notices
    it already holds with their first receipts, then refuses one: 'firearms notices' shows "expects N,
    ahead of this notice"; before that this is refused) and agree with its administrator; the queued
    notices are signed again with their new numbers. Prints the outcome as one JSON line.
    """

    async def work(conn: db.Conn) -> outbox.Resequenced:
        async with conn.transaction():
            return await outbox.resequence(conn, state.strip().upper(), first, actor=common.cli_actor())

    _echo_json(common.with_database(common.settings_for_change(ctx), work))


@click.command("notices")
@click.option("--status", type=click.Choice(["queued", "delivered", "rejected"]), help="only this delivery state")
@click.option("--recipient", callback=common.state_code, help="only notices for this State (alpha-2 code)")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object a line")
@click.pass_context
def notices(ctx: click.Context, status: str | None, recipient: str | None, limit: int, *, as_json: bool) -> None:
    """The outbox, newest first: queued, delivered and rejected notices with attempts and last error."""

    async def work(conn: db.Conn) -> list[outbox.OutboxNotice]:
        return await outbox.list_notices(conn, before=None, status=status, recipient=recipient, limit=limit)

    found = common.with_database(common.settings_from(ctx), work)
    if not found:  # nothing printed looked like a command that did not run; --json keeps stdout one object a line
        status_words = f" with status {status}" if status else ""
        recipient_words = f" for {recipient}" if recipient else ""
        click.echo(f"No notices{status_words}{recipient_words}.", err=as_json)
    for notice in found:
        if as_json:
            _echo_json(notice)
            continue
        error = (
            f"  last error: {printable(notice.last_error)}" if notice.last_error and notice.status == "queued" else ""
        )
        reason = f" ({printable(notice.receipt_reason)})" if notice.receipt_reason else ""
        number = f"#{notice.sequence}" if notice.sequence is not None else "#-"
        click.echo(
            f"{notice.created_at:%Y-%m-%dT%H:%M:%SZ} {notice.notice_id} -> {notice.recipient} {number} "
            f"{notice.type} {notice.status}{reason} attempts={notice.attempts}{error}"
        )


@keys_group.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """New signing key, announced to every partner signed by the current key; used once all acknowledged."""
    settings = common.settings_for_change(ctx)

    async def work(conn: db.Conn) -> rotation.Rotation:
        async with keys.key_transaction(conn, settings.home) as files:
            return await rotation.rotate(conn, files, actor=common.cli_actor())

    done = common.with_database(settings, work)
    _echo_json(done)
    if not done.switched:
        click.echo(
            f"the new key is used once {', '.join(done.awaiting)} acknowledged its announcement "
            "(see 'firearms notices --status queued'; 'firearms keys switch' uses it at once)",
            err=True,
        )
    if disabled := [state for state in done.announced_to if state not in done.awaiting]:
        click.echo(
            f"{', '.join(disabled)} (disabled) will get the announcement once enabled; the switch does not wait for it",
            err=True,
        )


@keys_group.command("switch")
@click.pass_context
def keys_switch(ctx: click.Context) -> None:
    """Use the new key now, before every partner acknowledged it (one that is long unreachable)."""
    settings = common.settings_for_change(ctx)

    async def work(conn: db.Conn) -> rotation.Switch:
        async with conn.transaction():
            return await rotation.switch_now(conn, actor=common.cli_actor())

    done = common.with_database(settings, work)
    _echo_json(done)
    if done.unacknowledged:
        click.echo(
            f"{', '.join(done.unacknowledged)} will learn the new key from its queued announcement, which goes "
            "ahead of every notice signed with it",
            err=True,
        )


@keys_group.command("revoke")
@click.argument("key_id")
@click.option("--reason", required=True, help="why (sent to every partner)")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str, reason: str) -> None:
    """Revoke one of this registry's retired keys from now and tell every partner."""
    settings = common.settings_for_change(ctx)

    async def work(conn: db.Conn) -> rotation.Revocation:
        async with conn.transaction():
            return await rotation.revoke(conn, key_id.strip(), reason=reason, actor=common.cli_actor())

    _echo_json(common.with_database(settings, work))


@keys_group.command("cancel")
@click.argument("key_id")
@click.option("--reason", required=True, help="why (sent to every partner told of the key, with its revocation)")
@click.pass_context
def keys_cancel(ctx: click.Context, key_id: str, reason: str) -> None:
    """Abandon a rotation still waiting for its switch: its key is never used, and revoked with every partner.

    KEY_ID is the new key 'keys rotate' printed. The partners its announcement was queued for are sent
    registry.key-revoked for it; its private key file is removed. Asked again, it prints the same outcome.
    """
    settings = common.settings_for_change(ctx)

    async def work(conn: db.Conn) -> rotation.Cancellation:
        async with keys.key_transaction(conn, settings.home) as files:
            return await rotation.cancel(conn, files, key_id.strip(), reason=reason, actor=common.cli_actor())

    _echo_json(common.with_database(settings, work))


@keys_group.command("replace")
@click.option("--reason", required=True, help="why (journaled): after a restore from a backup older than a key change")
@click.pass_context
def keys_replace(ctx: click.Context, reason: str) -> None:
    """Use a new key at once, unannounced, and sign every queued notice again with it (see README, Backups).

    For a registry whose partners refuse its key (restored from a backup older than the key's revocation): each
    partner's administrator enters the printed key out of band ('firearms peers add-key' or the API), valid from
    'not_before' at the latest.
    """
    settings = common.settings_for_change(ctx)

    async def work(conn: db.Conn) -> rotation.Replacement:
        async with keys.key_transaction(conn, settings.home) as files:
            return await rotation.replace(conn, files, reason=reason, actor=common.cli_actor())

    done = common.with_database(settings, work)
    _echo_json(done)
    click.echo(
        f"key {done.key_id} is in use and was announced to no partner: give each partner's administrator its key_id"
        f" and public_key out of band, to enter with 'firearms peers add-key {settings.state}' or POST /api/v1/peers/"
        f"{settings.state}/keys (without not_before, or one at or before {done.not_before:%Y-%m-%dT%H:%M:%SZ})",
        err=True,
    )


main.add_command(peers)
main.add_command(notices)
