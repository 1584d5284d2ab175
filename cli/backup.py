"""``firearms backup PATH`` and ``firearms restore PATH`` (README "Backups")."""

from __future__ import annotations

from pathlib import Path

import click
import msgspec

from cli import common
from cli.main import main
from firearms import backup, journal, keys, restore
from firearms.text_rules import counted

__all__ = ["backup_command", "restore_command"]


def _progress(line: str) -> None:
    click.echo(f"firearms: {line}", err=True)


@main.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--verify",
    is_flag=True,
    help="then verify the journal (as 'journal verify', and recorded as it is; exit 1 when broken, the backup kept)",
)
@click.option(
    "--unjournaled",
    is_flag=True,
    help="on a database that takes no write (a standby, one set read-only): make and keep the backup though its"
    " journal entry is refused (exit 1 saying so); without it such a backup is refused, no copy made",
)
@click.pass_context
def backup_command(ctx: click.Context, path: Path, *, verify: bool, unjournaled: bool) -> None:
    """Back up the registry's database to PATH, with PATH.manifest.json beside it; serve may be running.

    One consistent snapshot, never overwriting a file. Prints the manifest as one JSON line. The private
    signing keys are not in the backup: keep FIREARMS_HOME/keys apart, offline. With --verify, the journal
    is verified after the backup is in place: a broken chain never stops the copy, and is exit 1. A copy of every
    record is journaled: on a read-only database the backup is refused, unless --unjournaled (then kept, not
    journaled, exit 1; --verify walks what is sealed).
    """
    settings = common.settings_from(ctx)
    path = path.absolute()  # the journal entry and the progress lines name the file wherever it was run from
    # a failed restore's journal is backed up and verified as its archive holds it (restore does not seal)
    seal = restore.failed_restore(settings.home) is None
    refused: list[str] = []  # --unjournaled on a read-only database: the backup made and kept, its entry refused
    manifest = common.on_database(
        settings,
        lambda url: backup.backup(
            url,
            path,
            state=settings.state,
            actor=common.cli_actor(),
            seal=seal,
            connect=common.connect,
            progress=_progress,
            on_write_refused=refused.append if unjournaled else None,
        ),
        owner=True,  # pg_dump reads every table, the migrations' bookkeeping too
    )
    keys_folder = keys.keys_folder(settings.home)
    _progress(
        "the backup holds no private keys: keep "
        + (", ".join(manifest.needed_key_files) if manifest.needed_key_files else "the key files")
        + f" from {keys_folder} apart, offline; a registry restored from it signs with them"
    )
    click.echo(msgspec.json.encode(manifest).decode())
    not_journaled = (
        f"{path} was written, but the backup could not be journaled ({refused[0]}): the journal does not show that"
        " this copy of the registry was made"
        if refused
        else None
    )
    if not verify:
        if not_journaled is not None:
            common.fail(not_journaled)
        return
    checked = common.on_database(
        settings,
        lambda url: backup.verify_after_backup(
            url,
            manifest,
            state=settings.state,
            seal=seal,
            connect=common.connect,
            progress=_progress,
            actor=common.cli_actor(),
        ),
    )
    problem = checked.problem("the journal", manifest.journal_seq)
    if not_journaled is not None and (problem or checked.unrecorded is not None):  # said before the error line
        _progress(not_journaled)
    if problem:
        if checked.unrecorded is not None:  # as 'journal verify' says it, before the verdict's line
            _progress(checked.unrecorded.line("the broken verification", common.UNFLAGGED_BREAK))
        common.fail(f"{path} was written, but {problem}; the backup holds the registry as it is, for inspection")
    found = checked.verification
    _progress(
        f"journal intact: the backup's head (seq {manifest.journal_seq}) is on the verified chain "
        f"({counted(found.entries, 'entry', 'entries')}, {counted(found.checkpoints, 'checkpoint')})"
    )
    if checked.unrecorded is not None:  # the verdict said, its record not written: not a clean run
        common.fail(checked.unrecorded.line("the journal verification", common.UNCOUNTED_VERIFICATION))
    if not_journaled is not None:
        common.fail(not_journaled)


@main.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def restore_command(ctx: click.Context, path: Path) -> None:
    """Restore the backup PATH into this home's empty database, migrate it and verify its journal.

    Restore into a new FIREARMS_HOME or an empty FIREARMS_DATABASE_URL. Prints the outcome as one JSON
    line; exit 1 when the backup is refused or the restored journal does not match its manifest.
    """
    settings = common.settings_from(ctx)
    # the archive first, without a database: a refused backup sets up no embedded server in a new home
    checked = common.run(restore.check_backup(path, state=settings.state, progress=_progress))
    restored = common.on_database(
        settings,
        lambda url: restore.restore(
            url,
            path,
            state=settings.state,
            home=settings.home,
            connect=common.connect,
            progress=_progress,
            checked=checked,
            actor=common.cli_actor(),
        ),
        new_home=True,
        owner=True,  # pg_restore creates the tables, and migrate grants the service role its rights on them
    )
    if restored.problem:
        # told to copy the keys "before 'firearms serve'", an operator served a restore that failed its checks
        _progress(
            "the data stays restored for inspection only: do not serve it ('firearms serve', 'worker' and every "
            f"command that writes refuse this home until you delete {settings.home / restore.FAILED_RESTORE_FILE})"
        )
    elif restored.missing_key_files:
        _progress(
            f"copy {', '.join(restored.missing_key_files)} into {keys.keys_folder(settings.home)}/ (mode 0600) "
            "before 'firearms serve': the registry signs with them and the backup holds no private keys"
        )
    click.echo(msgspec.json.encode(restored).decode())
    if restored.problem:
        common.fail(restored.problem)
    if restored.verification_unrecorded is not None:  # the outcome printed; the command did not end clean
        unrecorded = journal.Unrecorded(
            why=restored.verification_unrecorded, unconfirmed=restored.verification_unconfirmed
        )
        common.fail(
            "the restore passed its checks, but "
            + unrecorded.line(
                "its journal verification",
                "'firearms status' of the restored registry will not count it; run 'firearms journal verify'",
            )
        )
