"""``firearms trace-requests``: trace requests sent and received, the overdue ones first among them (ITI Section V)."""

from __future__ import annotations

import click
import msgspec

from cli import common
from cli.main import main
from firearms import clock, db, trace_reads, trace_types

__all__ = ["trace_requests"]


@click.command("trace-requests")
@click.option("--direction", type=click.Choice(["incoming", "outgoing"]), help="only received, or only sent")
@click.option("--status", type=click.Choice(["open", "acknowledged", "answered"]), help="only this status")
@click.option("--overdue", is_flag=True, help="only those unanswered after the day the answer was due")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object a line (the API's, findings and answer too)")
@click.pass_context
def trace_requests(
    ctx: click.Context, direction: str | None, status: str | None, limit: int, *, overdue: bool, as_json: bool
) -> None:
    """Trace requests in id order: partner, status, the day the answer is due, overdue or not.

    The plain listing names no person (no circumstances, no holder); ``--json`` prints the whole requests and is
    journaled as a read (``trace-request.read``, and ``item.read`` for a found answer's item; actor the operator),
    as the API's list is.
    """
    settings = common.settings_from(ctx)

    async def work(conn: db.Conn) -> list[trace_types.TraceRequest]:
        found = await trace_reads.list_trace_requests(
            conn,
            direction=direction,  # type: ignore[arg-type]  # click's choice
            status=status,  # type: ignore[arg-type]  # click's choice
            overdue=overdue,
            today=clock.today(settings.time_zone),
            after=0,
            limit=limit,
        )
        if as_json:
            async with db.transaction(conn):
                await trace_reads.journal_read(conn, actor=common.cli_actor(), requests=found)
        return found

    found = common.with_database(settings, work)
    if not found:
        words = [word for word in (direction, status, "overdue" if overdue else None) if word]
        click.echo(" ".join(["No", *words, "trace requests."]), err=as_json)
    for request in found:
        if as_json:
            click.echo(msgspec.json.encode(request).decode())
            continue
        arrow = "->" if request.direction == "outgoing" else "<-"
        late = " OVERDUE" if request.overdue else ""
        outcome = f" ({request.answer.outcome})" if request.answer else ""
        if request.answer is not None and request.answer.unmatched_because is not None:
            outcome = f" ({request.answer.outcome}, item {request.answer.item_id} not matching)"
        click.echo(
            f"#{request.trace_request_id} {request.direction} {arrow} {request.partner_state} {request.status}{outcome}"
            f" due {request.due_on}{late} serials={','.join(request.weapon.serials) or '-'}{_findings(request)}"
        )


def _findings(request: trace_types.TraceRequest) -> str:
    """How many items carry the serials of a received request: its findings, and those left out (at most 50 kept)."""
    if request.findings is None:
        return ""
    omitted = f" (+{request.findings_omitted} not listed)" if request.findings_omitted else ""
    return f" findings={len(request.findings)}{omitted}"


main.add_command(trace_requests)
