"""``firearms status``: what an operator checks each morning, in one place (README "Status")."""

from __future__ import annotations

import sys

import click
import msgspec

from cli import common
from cli.main import main
from firearms import db, status
from firearms.text_rules import printable

__all__ = ["ATTENTION_EXIT", "status_command"]

ATTENTION_EXIT = 3
"""The exit code when something needs attention (0: all is well; 1: the command failed)."""


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="the object of GET /api/v1/status as one JSON line")
@click.pass_context
def status_command(ctx: click.Context, *, as_json: bool) -> None:
    """The registry's health: partners' queues, the journal, keys, work waiting, the service.

    Exit 0 when all is well, 3 when something needs attention (each listed on an 'attention:' line, README
    "Status"). Reads counts and dates only: nothing personal, nothing written (the journal is not sealed).
    """
    settings = common.settings_from(ctx)

    async def work(conn: db.Conn) -> status.Status:
        async with db.transaction(conn, isolation="repeatable_read", readonly=True):
            return await status.read_status(conn, settings)

    found = common.with_database(settings, work)
    if as_json:
        click.echo(msgspec.json.encode(found).decode())
    else:
        _table(found)
    if found.attention:
        sys.exit(ATTENTION_EXIT)


def _when(moment: object) -> str:
    """A time or a day as the table shows it, ``-`` for none."""
    if moment is None:
        return "-"
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}" if hasattr(moment, "hour") else str(moment)


def _table(found: status.Status) -> None:
    """The overview as a short table."""
    service, journal, keys, waiting = found.service, found.journal, found.keys, found.waiting
    click.echo(
        f"registry {service.state}  version {service.version}  PostgreSQL {service.database_version}"
        f"  migration {service.migration or '-'}" + ("  database read-only" if service.database_read_only else "")
    )
    click.echo(f"checked {_when(found.checked_at)}")
    checkpoint = "none"
    if journal.last_checkpoint_seq is not None:
        checkpoint = f"#{journal.last_checkpoint_seq} {_when(journal.last_checkpoint_at)}"
    verified = "never"
    if journal.last_verified_at is not None:
        verified = f"{_when(journal.last_verified_at)} up to #{journal.last_verified_seq}"
    click.echo(
        f"journal  unsealed {journal.unsealed} (oldest {_when(journal.oldest_unsealed_at)})"
        f"  checkpoint {checkpoint}  verified {verified}"
    )
    rotation = f"{keys.rotation_key_id} announced {_when(keys.rotation_announced_at)}" if keys.rotation_key_id else "-"
    missing = f"  missing files {', '.join(keys.missing_key_files)}" if keys.missing_key_files else ""
    if keys.unchecked_key_files:
        missing += f"  files not looked for {', '.join(keys.unchecked_key_files)}"
    click.echo(
        f"keys     signing {keys.key_id or '-'} since {_when(keys.key_since)}  rotation {rotation}"
        f"  revoked {keys.revoked}{missing}"
    )
    deemed = ""
    if waiting.deemed_consent_on is not None:
        deemed = f", deemed consent on {waiting.deemed_consent_on}{' (near)' if waiting.deemed_consent_near else ''}"
    click.echo(
        f"waiting  held checks {waiting.held_checks} (oldest {_when(waiting.oldest_held_check_at)})"
        f"  consent requests {waiting.consent_requests} (oldest {_when(waiting.oldest_consent_request_at)}{deemed})"
        f"  trace requests open {waiting.trace_requests_open}, overdue {waiting.trace_requests_overdue}"
    )
    if not found.partners:
        click.echo("partners none on the trust list")
    else:
        click.echo("partner  enabled  queued  oldest queued         last delivered        rejected  head of queue")
    for partner in found.partners:
        head = "-"
        if partner.head_attempts is not None:
            error = f": {printable(partner.head_last_error)}" if partner.head_last_error else ""
            # when the worker offers it again: a partner's Retry-After honoured (up to an hour), else the back-off
            head = f"attempts {partner.head_attempts}{error}, next attempt {_when(partner.head_next_attempt_at)}"
        click.echo(
            f"{partner.state:<8} {'yes' if partner.enabled else 'no':<8} {partner.queued:<7} "
            f"{_when(partner.oldest_queued_at):<21} {_when(partner.last_delivered_at):<21} {partner.rejected:<9} {head}"
        )
    for item in found.attention:
        click.echo(f"attention: {item.code}: {printable(item.reason)}")
    if not found.attention:
        click.echo("all is well")


main.add_command(status_command)
