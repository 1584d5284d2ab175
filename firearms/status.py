"""The operator's overview (``firearms status``, ``GET /api/v1/status``): is the registry healthy, in one read.

Counts, dates and identifiers of partners, keys and the journal only: no name, no serial, no notice body, so reading
it is not a read of personal data (DESIGN §6). It writes nothing (it does not even seal the journal). What needs
attention is decided by the thresholds below (README "Status"), each reported as an :class:`Attention` line.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import msgspec

from firearms import __version__, clock, keys, restore
from firearms.exchange.consents import silence_is_consent, silent_period
from firearms.files import partials_of
from firearms.journal import BREAK_KINDS, FAILED_ACTION, VERIFIED_ACTION
from firearms.store import rotation as rotation_store
from firearms.store import status as store

if TYPE_CHECKING:
    from pathlib import Path

    from firearms.db import Conn
    from firearms.settings import Settings

__all__ = [
    "DEEMED_CONSENT_NEAR",
    "HELD_CHECK_AGE",
    "HOME_WORDS",
    "PROBLEM_KINDS",
    "QUEUED_NOTICE_AGE",
    "QUOTA_REFUSED_WINDOW",
    "REJECTED_NOTICE_WINDOW",
    "ROTATION_AGE",
    "ROTATION_AWAITING_SHOWN",
    "UNSEALED_AGE",
    "VERIFICATION_AGE",
    "Attention",
    "JournalStatus",
    "KeyStatus",
    "PartnerStatus",
    "ServiceStatus",
    "Status",
    "WaitingWork",
    "read_status",
]

# The thresholds of "needs attention" (README "Status"): one place, no setting.
QUEUED_NOTICE_AGE = dt.timedelta(hours=1)
"""A partner's oldest queued notice older than this: deliveries to it are stuck."""
UNSEALED_AGE = dt.timedelta(minutes=5)
"""A journal entry unsealed for longer than this: the sealer (the worker) is not running or cannot link it."""
VERIFICATION_AGE = dt.timedelta(hours=48)
"""No intact verification of the journal for this long (a journal younger than this is not yet due one)."""
REJECTED_NOTICE_WINDOW = dt.timedelta(hours=72)
"""A notice a partner rejected (it never takes effect there) is flagged this long after its receipt was recorded.

Long enough for a rejection just after Friday morning's read to be seen on Monday morning; short enough that one
the operator dealt with stops being flagged on its own (no command marks a rejection as seen: the overview writes
nothing, and ``firearms notices --status rejected`` keeps every one).
"""
ROTATION_AGE = dt.timedelta(days=1)
"""A key rotation announced and not switched to for longer than this: the switch waits on a partner that will not
acknowledge the announcement (it rejected it, which is never retried, or it cannot be reached). Every enabled
partner's receipt normally comes within minutes of ``keys rotate``; a rotation started in the morning and still
waiting the next needs the operator: ``keys switch`` or ``keys cancel``."""
ROTATION_AWAITING_SHOWN = 20
"""How many of the partners a rotation waits for the overview names (``keys.rotation_awaiting``, the reason); their
number is ``keys.rotation_awaiting_count``."""
QUOTA_REFUSED_WINDOW = dt.timedelta(hours=24)
"""A partner whose notices were refused for its quota within this is flagged: a rogue or compromised partner filling
this registry, or a genuine burst the bound is too tight for (``firearms peers quota``). Its sender retries the
same bytes after the hour: the refusals stop by themselves, and one the night before is still seen in the morning."""
HELD_CHECK_AGE = dt.timedelta(days=1)
"""A held customs check waiting for an officer's decision longer than this."""
DEEMED_CONSENT_NEAR = dt.timedelta(days=3)
"""The oldest pending consent request becomes deemed consent within this: shown as near (not an attention line)."""
NEXT_ATTEMPT_LATE = dt.timedelta(minutes=5)
"""A queue head's next attempt past by more than this: the worker, which takes what is due every few seconds (a run
under way at most its lease), is not sending. Within it the attempt is simply due: the next pass takes it. Judged on
the database's clock, on which the worker schedules (:func:`read_status`), not this process's."""


class PartnerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One partner on the trust list: its queue and deliveries.

    ``head_*``: the head of its queue (the notice the worker offers next): its attempts, the kind of its last error,
    and ``head_next_attempt_at``, when the worker offers it again (a partner's ``Retry-After`` honoured, else the
    back-off; as ``firearms notices`` shows it). ``None`` with nothing queued.
    """

    state: str
    enabled: bool
    queued: int
    oldest_queued_at: dt.datetime | None
    oldest_queued_age_seconds: int | None
    head_attempts: int | None
    head_last_error: str | None
    head_next_attempt_at: dt.datetime | None
    last_delivered_at: dt.datetime | None
    rejected: int
    last_rejected_at: dt.datetime | None
    quota_refused: int
    last_quota_refused_at: dt.datetime | None


class JournalStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The sealer's queue, the last checkpoint, the last intact verification, and a break no intact one walked over.

    ``broken_*``: the latest verification that found the chain broken (``journal.verification-failed``) and that no
    intact verification recorded after it walked over; where it broke and its kind (one of
    :data:`firearms.journal.BREAK_KINDS`, else ``other``), ``None`` where the record holds no such value.
    """

    unsealed: int
    oldest_unsealed_at: dt.datetime | None
    oldest_unsealed_age_seconds: int | None
    last_checkpoint_seq: int | None
    last_checkpoint_at: dt.datetime | None
    last_verified_at: dt.datetime | None
    last_verified_seq: int | None
    broken_at: dt.datetime | None
    broken_seq: int | None
    broken_entry_id: int | None
    broken_kind: str | None


class KeyStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The key signing now, a rotation announced and not switched to, the keys revoked, private key files missing.

    ``unchecked_key_files``: the files this process could not look for (the account running it may not search the
    keys folder): neither there nor missing, as far as it can tell. ``rotation_awaiting``: the enabled partners whose
    acknowledgement of the rotation's announcement the switch waits for, the first :data:`ROTATION_AWAITING_SHOWN` in
    State order; ``rotation_awaiting_count`` how many (0 with no rotation).
    """

    key_id: str | None
    key_since: dt.datetime | None
    rotation_key_id: str | None
    rotation_announced_at: dt.datetime | None
    rotation_age_seconds: int | None
    rotation_awaiting: list[str]
    rotation_awaiting_count: int
    revoked: int
    missing_key_files: list[str]
    unchecked_key_files: list[str]


class WaitingWork(msgspec.Struct, frozen=True, kw_only=True):
    """What waits for officers: held checks, received consent requests, received trace requests."""

    held_checks: int
    oldest_held_check_at: dt.datetime | None
    oldest_held_check_age_seconds: int | None
    consent_requests: int
    oldest_consent_request_at: dt.datetime | None
    oldest_consent_request_age_seconds: int | None
    deemed_consent_on: dt.date | None
    deemed_consent_near: bool
    trace_requests_open: int
    trace_requests_overdue: int


class ServiceStatus(msgspec.Struct, frozen=True, kw_only=True):
    """This program, the State it speaks for, its database."""

    version: str
    state: str
    database_version: str
    migration: str | None
    database_read_only: bool


class Attention(msgspec.Struct, frozen=True, kw_only=True):
    """Something that needs the operator: a stable code and the reason in words."""

    code: str
    reason: str


class Status(msgspec.Struct, frozen=True, kw_only=True):
    """The overview; ``attention`` is empty when all is well."""

    checked_at: dt.datetime
    service: ServiceStatus
    partners: list[PartnerStatus]
    journal: JournalStatus
    keys: KeyStatus
    waiting: WaitingWork
    attention: list[Attention]


def _age(since: dt.datetime | None, now: dt.datetime) -> int | None:
    return None if since is None else max(0, int((now - since).total_seconds()))


def _position(value: object) -> int | None:
    """A chain position or entry id from a journaled payload (``None`` for anything else the writer put there).

    Any integer: a link outside the chain is named at its position, 0 or below.
    """
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# The problem types a partner's answer may name and the overview shows (README "Status"): PROTOCOL §4's, and those of
# this software's receiver before it reads a notice (README "Problem types"). Any other is the partner's choice of
# words, which may be a serial or a name: dropped, the HTTP status kept.
PROBLEM_KINDS = frozenset(
    {
        "malformed-notice", "wrong-recipient", "unknown-sender", "unknown-key", "key-revoked", "bad-signature",
        "clock-skew", "notice-id-conflict", "sequence-gap",
        "invalid-request", "body-too-large", "headers-too-large", "request-timeout", "not-found",
        "method-not-allowed", "unsupported-media-type", "database-unavailable", "database-outcome-unknown",
        "database-timeout", "internal-error", "invalid-input", "conflict", "quota-exceeded",
    }
)  # fmt: skip
# What the worker writes before the partner's words (firearms.exchange.delivery): "HTTP 422 kind", "network:
# ExceptionName", "bad receipt", "signing", "sequence-gap", "notice-id-conflict".
_HTTP = re.compile(r"HTTP (?P<status>[1-5][0-9]{2})(?: (?P<kind>[^:]*))?(?::|$)")
_NETWORK = re.compile(r"network: [A-Za-z_][A-Za-z0-9_]{0,99}")
_OWN_KINDS = frozenset({"bad receipt", "signing", "sequence-gap", "notice-id-conflict"})


def _error_kind(error: str | None) -> str | None:
    """What kind of failure a delivery's last error was, without the partner's words.

    ``HTTP 409 sequence-gap``, ``HTTP 503``, ``bad receipt``, ``network: ConnectError``: the text after it is the
    partner's (a problem's ``detail``, its answer's first bytes) and may quote the notice, a serial or a name;
    ``firearms notices`` shows it whole. So may a problem ``type`` outside :data:`PROBLEM_KINDS` (then the status
    alone), and a text the worker never writes is ``other``: nothing of a partner's reaches the overview, nor a
    control character an operator's terminal would obey.
    """
    if error is None:
        return None
    head = error.split(": ", 1)[0]
    # "HTTP 503: detail", "HTTP 422 kind: detail"; with no detail at all the worker's words end in a colon
    if (http := _HTTP.match(error)) is not None:
        kind = http["kind"]
        return f"HTTP {http['status']} {kind}" if kind in PROBLEM_KINDS else f"HTTP {http['status']}"
    if head == "network" and (network := _NETWORK.match(error)) is not None:
        rest = error[network.end() :]
        if not rest or rest.startswith(": "):
            return network.group()
    if head in _OWN_KINDS:
        return head
    return "other"


def _deemed_on(received_at: dt.datetime | None, settings: Settings) -> dt.date | None:
    """The day the oldest pending consent request becomes deemed consent (the day after the silent period).

    ``None`` when none is pending, or where this State's silence is never deemed consent.
    """
    if received_at is None or not silence_is_consent(settings):
        return None
    return silent_period(received_at, settings).last_day + dt.timedelta(days=1)


HOME_WORDS = "FIREARMS_HOME"
"""How the API's overview names the home in its reasons (the keys folder ``FIREARMS_HOME/keys``, a failed restore's
note): an auditor reads it, and the server's paths are not theirs to know (the command, run on the server, names the
paths)."""


async def read_status(
    conn: Conn, settings: Settings, *, now: dt.datetime | None = None, home_words: str | None = None
) -> Status:
    """Read the overview at ``now`` (default: the present); reads on indexes, nothing written.

    Five reads, and a sixth while a rotation waits (the partners it waits for).

    ``home_words``: how the reasons name the home (its keys folder, a failed restore's note and the archive it names);
    its path by default (:data:`HOME_WORDS` for the API: no absolute path of the server in its reasons).

    A queue head's next attempt is judged on the database's clock, which the worker schedules on (the partners'
    query reads it), not on this process's: a host minutes off read a retry due in a minute as "due since" and asked
    whether the worker runs. A ``now`` given is the moment for that too.
    """
    given = now
    now = now or dt.datetime.now(dt.UTC)
    today = clock.local_date(now, settings.time_zone)
    partner_rows = await store.list_partner_status(conn, now - QUOTA_REFUSED_WINDOW)
    scheduled_now: dt.datetime = given or (partner_rows[0]["database_now"] if partner_rows else now)
    partners = [
        PartnerStatus(
            state=row["state"],
            enabled=row["enabled"],
            queued=row["queued"],
            oldest_queued_at=row["oldest_queued_at"],
            oldest_queued_age_seconds=_age(row["oldest_queued_at"], now),
            head_attempts=row["head_attempts"],
            head_last_error=_error_kind(row["head_last_error"]),
            head_next_attempt_at=row["head_next_attempt_at"],
            last_delivered_at=row["last_delivered_at"],
            rejected=row["rejected"],
            last_rejected_at=row["last_rejected_at"],
            quota_refused=row["quota_refused"],
            last_quota_refused_at=row["last_quota_refused_at"],
        )
        for row in partner_rows
    ]
    row = await store.get_journal_status(conn, VERIFIED_ACTION, FAILED_ACTION)
    verified_seq = row["verified_seq"]
    broken_at: dt.datetime | None = row["broken_at"]
    broken_kind = None if broken_at is None else row["broken_kind"] if row["broken_kind"] in BREAK_KINDS else "other"
    journal = JournalStatus(
        unsealed=row["unsealed"],
        oldest_unsealed_at=row["oldest_unsealed_at"],
        oldest_unsealed_age_seconds=_age(row["oldest_unsealed_at"], now),
        last_checkpoint_seq=row["checkpoint_seq"],
        last_checkpoint_at=row["checkpoint_at"],
        last_verified_at=row["verified_at"],
        last_verified_seq=verified_seq if isinstance(verified_seq, int) else None,
        broken_at=broken_at,
        broken_seq=_position(row["broken_seq"]),
        broken_entry_id=_position(row["broken_entry_id"]),
        broken_kind=broken_kind,
    )
    first_entry_at: dt.datetime | None = row["first_entry_at"]
    row = await store.get_key_status(conn, now)
    missing, unchecked = _look_for_key_files(settings.home, row["key_id"], row["rotation_key_id"])
    # the switch's own query (firearms.exchange.rotation): a handful of partners, only while a rotation waits
    rotation_key_id = row["rotation_key_id"]
    awaiting = [] if rotation_key_id is None else await rotation_store.list_unannounced_states(conn, rotation_key_id)
    key_status = KeyStatus(
        key_id=_shown_key_id(row["key_id"]),
        key_since=row["not_before"],
        rotation_key_id=_shown_key_id(row["rotation_key_id"]),
        rotation_announced_at=row["rotation_announced_at"],
        rotation_age_seconds=_age(row["rotation_announced_at"], now),
        rotation_awaiting=[_shown_state(state) for state in awaiting[:ROTATION_AWAITING_SHOWN]],
        rotation_awaiting_count=len(awaiting),
        revoked=row["revoked"],
        missing_key_files=missing,
        unchecked_key_files=list(unchecked),
    )
    keys_recorded: int = row["recorded"]
    row = await store.get_waiting_work(conn, today)
    deemed_on = _deemed_on(row["oldest_consent_request_at"], settings)
    waiting = WaitingWork(
        held_checks=row["held"],
        oldest_held_check_at=row["oldest_held_at"],
        oldest_held_check_age_seconds=_age(row["oldest_held_at"], now),
        consent_requests=row["consent_requests"],
        oldest_consent_request_at=row["oldest_consent_request_at"],
        oldest_consent_request_age_seconds=_age(row["oldest_consent_request_at"], now),
        deemed_consent_on=deemed_on,
        deemed_consent_near=deemed_on is not None and deemed_on <= today + DEEMED_CONSENT_NEAR,
        trace_requests_open=row["traces_open"],
        trace_requests_overdue=row["traces_overdue"],
    )
    row = await store.get_service_status(conn)
    service = ServiceStatus(
        version=__version__,
        state=settings.state,
        database_version=row["server_version"],
        migration=row["migration"],
        database_read_only=row["read_only"],
    )
    return Status(
        checked_at=now,
        service=service,
        partners=partners,
        journal=journal,
        keys=key_status,
        waiting=waiting,
        attention=[
            *_read_only(service),
            *_restore_failed(settings, home_words),
            *_signing(key_status, keys_recorded, _keys_folder(settings, home_words), unchecked),
            *_attention(now, scheduled_now, partners, journal, key_status, waiting, first_entry_at),
            *_holidays(settings, now),
        ],
    )


def _read_only(service: ServiceStatus) -> list[Attention]:
    """The database takes no write here: nothing can be recorded (README "When the database is slow or gone")."""
    if not service.database_read_only:
        return []
    return [
        Attention(
            code="database-read-only",
            reason="the database takes no write (a hot standby, or default_transaction_read_only = on): customs checks,"
            " records and personal reads are refused 503 database-read-only, and the journal is not sealed, until it"
            " takes writes again",
        )
    ]


def _holidays(settings: Settings, now: dt.datetime) -> list[Attention]:
    """``holidays-run-out``: ``FIREARMS_HOLIDAYS`` lists no day after the end of a silent period starting today.

    Reg. 258/2012 Art. 7(2) counts working days: past the list's last day every public holiday is counted as one, and
    a silent period (this State's, or a transit State's counted here) ends early. A list is written for some years; a
    registry is kept for decades. An empty list (the default) is this State's choice: not flagged.
    """
    if not settings.holidays:
        return []
    last = max(settings.holidays)
    period_end = silent_period(now, settings).last_day  # the one rule the decision and the timer count by
    if last >= period_end:
        return []
    return [
        Attention(
            code="holidays-run-out",
            reason=f"FIREARMS_HOLIDAYS lists no day after {last.isoformat()}: a silent period counted from today"
            f" (to {period_end.isoformat()}) takes every public holiday after it for a working day and ends early;"
            " add the coming year's",
        )
    ]


def _shown_key_id(key_id: str | None) -> str | None:
    """A key id as the overview shows it: one that is no key id (written behind the application) escaped.

    ``pending_registry_key`` took any text before migration 20261201060000: a control character in it would reach the
    operator's terminal (the table, the reasons).
    """
    if key_id is None or keys.is_key_id(key_id):
        return key_id
    return key_id.encode("unicode_escape").decode("ascii")


def _shown_state(state: str) -> str:
    """A partner's State as the overview shows it: one that is no State code escaped, as a key id that is none.

    ``peer_state_check`` holds the trust list to two capital letters; a row written behind it would put its control
    characters into the reason and the operator's terminal (:func:`_shown_key_id`).
    """
    if len(state) == 2 and state.isascii() and state.isalpha() and state.isupper():
        return state
    return state.encode("unicode_escape").decode("ascii")


def _look_for_key_files(
    home: Path, key_id: str | None, rotation_key_id: str | None
) -> tuple[list[str], dict[str, str]]:
    """The private key files of the key in use and a rotation's waiting key not in ``home``; those not looked for.

    The second with why. As the signer finds them (:func:`firearms.keys.signing_key`): a file still beside its place,
    left by a crash after its key's transaction committed, is put in place by the first signature, so it is not
    missing. Only whether the file is there: its mode and content are checked by the signer when it loads it (one line
    naming the path). A file the process may not look for (``PermissionError``: the account running ``firearms
    status`` may not search the service's keys folder) is neither: ``Path.exists()`` raised it, and the overview ended
    in a traceback.
    """
    missing: list[str] = []
    unchecked: dict[str, str] = {}
    for wanted in (key_id, rotation_key_id):
        if wanted is None:
            continue
        if not keys.is_key_id(wanted):
            # no file of the keys folder is its (``../x`` would name one outside it): missing, and never looked for
            missing.append(keys.key_file(str(_shown_key_id(wanted))))
            continue
        path = keys.key_path(home, wanted)
        try:
            if not path.exists() and not partials_of(path):
                missing.append(path.name)
        except OSError as exc:  # not "not there" (exists() says False for that): cannot tell
            unchecked[path.name] = exc.strerror or type(exc).__name__
    return missing, unchecked


def _signing(found: KeyStatus, recorded: int, folder: str, unchecked: dict[str, str]) -> list[Attention]:
    """No key to sign with now, or a needed key's private file missing from the home: nothing can be signed.

    No notice, receipt, checkpoint or licence: nothing else says so until queued notices age past an hour. Right after
    a failed restore's line: the registry cannot work at all without it.
    """
    if found.key_id is None:
        why = (
            "none was ever made: 'firearms serve' makes the first at its first start"
            if recorded == 0
            else f"{recorded} key{'' if recorded == 1 else 's'} recorded, none valid now ('firearms keys show')"
        )
        return [
            Attention(
                code="no-signing-key",
                reason=f"no signing key is in use ({why}): this registry can sign no notice, receipt or checkpoint",
            )
        ]
    lines: list[Attention] = []
    for name in found.missing_key_files:
        if name == keys.key_file(found.key_id):
            role, way = "the key in use", "without it, 'firearms keys replace' (README \"Backups\")"
        else:
            key_id = name.removesuffix(".pem")
            role, way = "the key the rotation waits to switch to", f"or 'firearms keys cancel {key_id}'"
        lines.append(
            Attention(
                code="signing-key-missing",
                reason=f"the private key file {name} ({role}) is not in {folder}: nothing can be signed with it;"
                f" copy it back (mode 0600) from the keys kept offline, {way}",
            )
        )
    for name, why in unchecked.items():
        role = "the key in use" if name == keys.key_file(found.key_id) else "the key the rotation waits to switch to"
        lines.append(
            Attention(
                code="signing-key-unchecked",
                reason=f"cannot tell whether the private key file {name} ({role}) is in {folder} ({why}): run"
                " 'firearms status' as the service's account, which may look into it",
            )
        )
    return lines


def _keys_folder(settings: Settings, home_words: str | None) -> str:
    """The keys folder as the reasons name it: its path, or ``home_words/keys``."""
    return str(keys.keys_folder(settings.home)) if home_words is None else f"{home_words}/keys"


def _restore_failed(settings: Settings, home_words: str | None) -> list[Attention]:
    """The home's restore failed its checks (README "Backups"): its data is for inspection only.

    Every command that writes, ``serve`` and the worker refuse such a home; the overview, which may read it, said
    "all is well" there. First: it makes every other line of the overview a statement about data under inspection.
    The note's problem names the archive restored, or the note itself: with ``home_words`` (the API), the home by those
    words and the archive by its file name (:func:`firearms.restore.failed_restore`).
    """
    try:
        problem = restore.failed_restore(settings.home, home_words=home_words)
    except OSError as exc:  # the account running it may not search the home (the service's, 0700)
        return [
            Attention(
                code="restore-unchecked",
                reason="cannot tell whether a restore into this home failed its checks"
                f" ({exc.strerror or type(exc).__name__}): run 'firearms status' as the service's account",
            )
        ]
    if problem is None:
        return []
    return [
        Attention(
            code="restore-failed",
            reason=f"the restore into this home failed its checks ({problem}): its data is for inspection only, and"
            " every command that writes refuses it",
        )
    ]


def _attention(
    now: dt.datetime,
    scheduled_now: dt.datetime,
    partners: list[PartnerStatus],
    journal: JournalStatus,
    key_status: KeyStatus,
    waiting: WaitingWork,
    first_entry_at: dt.datetime | None,
) -> list[Attention]:
    """What needs the operator, by the thresholds above, in the order of the overview.

    ``scheduled_now``: the database's clock, on which a queue head's next attempt is judged (the worker's).
    """
    found = [
        Attention(
            code="notices-waiting",
            reason=f"{partner.state}{'' if partner.enabled else ' (disabled)'}: its oldest queued notice has waited"
            f" since {partner.oldest_queued_at:%Y-%m-%dT%H:%M:%SZ}, over {_words(QUEUED_NOTICE_AGE)}"
            f" ({partner.queued} queued; {_next_attempt(partner, scheduled_now)})",
        )
        for partner in partners
        if partner.oldest_queued_at is not None and now - partner.oldest_queued_at > QUEUED_NOTICE_AGE
    ]
    found.extend(
        Attention(
            code="notices-rejected",
            reason=f"{partner.state}{'' if partner.enabled else ' (disabled)'} rejected a notice at"
            f" {partner.last_rejected_at:%Y-%m-%dT%H:%M:%SZ}, within {_words(REJECTED_NOTICE_WINDOW)}: it never takes"
            f" effect there ({partner.rejected} rejected in all; the reason:"
            f" 'firearms notices --status rejected --recipient {partner.state}')",
        )
        for partner in partners
        if partner.last_rejected_at is not None and now - partner.last_rejected_at <= REJECTED_NOTICE_WINDOW
    )
    found.extend(
        Attention(
            code="partner-over-quota",
            reason=f"{partner.state}{'' if partner.enabled else ' (disabled)'}: {partner.quota_refused} of its notices"
            f" refused for its quota within {_words(QUOTA_REFUSED_WINDOW)}, the latest at"
            f" {partner.last_quota_refused_at:%Y-%m-%dT%H:%M:%SZ} (nothing of them stored; its registry sends them"
            f" again after the hour): a partner filling this registry, or a bound too tight for it ('firearms peers"
            f" quota {partner.state}'; 'firearms peers disable {partner.state}' stops it)",
        )
        for partner in partners
        if partner.last_quota_refused_at is not None and now - partner.last_quota_refused_at <= QUOTA_REFUSED_WINDOW
    )
    announced = key_status.rotation_announced_at
    if announced is not None and now - announced > ROTATION_AGE:
        found.append(
            Attention(
                code="key-rotation-stalled",
                reason=f"key {key_status.rotation_key_id} has waited since {announced:%Y-%m-%dT%H:%M:%SZ}, over"
                f" {_words(ROTATION_AGE)}, {_awaited(key_status)}: 'firearms keys switch' puts it into use now,"
                f" 'firearms keys cancel {key_status.rotation_key_id} --reason ...' abandons it",
            )
        )
    if journal.broken_at is not None:
        found.append(Attention(code="journal-broken", reason=_broken(journal)))
    if journal.oldest_unsealed_at is not None and now - journal.oldest_unsealed_at > UNSEALED_AGE:
        found.append(
            Attention(
                code="journal-unsealed",
                reason=f"{journal.unsealed} journal entries unsealed, the oldest since"
                f" {journal.oldest_unsealed_at:%Y-%m-%dT%H:%M:%SZ}, over {_words(UNSEALED_AGE)}:"
                " is the worker running?",
            )
        )
    verified_long_ago = journal.last_verified_at is None or now - journal.last_verified_at > VERIFICATION_AGE
    journal_old = first_entry_at is not None and now - first_entry_at > VERIFICATION_AGE
    if verified_long_ago and journal_old:
        since = "ever" if journal.last_verified_at is None else f"since {journal.last_verified_at:%Y-%m-%dT%H:%M:%SZ}"
        found.append(
            Attention(
                code="journal-not-verified",
                reason=f"no intact journal verification {since}, over {_words(VERIFICATION_AGE)}:"
                " run 'firearms journal verify --since-checkpoint'",
            )
        )
    if waiting.trace_requests_overdue:
        found.append(
            Attention(
                code="trace-requests-overdue",
                reason=f"{waiting.trace_requests_overdue} received trace requests unanswered after the day due"
                " ('firearms trace-requests --direction incoming --overdue')",
            )
        )
    if waiting.oldest_held_check_at is not None and now - waiting.oldest_held_check_at > HELD_CHECK_AGE:
        found.append(
            Attention(
                code="checks-held",
                reason=f"{waiting.held_checks} held customs checks await a decision, the oldest since"
                f" {waiting.oldest_held_check_at:%Y-%m-%dT%H:%M:%SZ}, over {_words(HELD_CHECK_AGE)}",
            )
        )
    return found


def _next_attempt(partner: PartnerStatus, now: dt.datetime) -> str:
    """When the worker offers a stalled queue's head again (README "Status", ``notices-waiting``).

    Ahead, due now (past by at most :data:`NEXT_ATTEMPT_LATE`: the worker's next pass), or due since a time further
    past (the worker is not running, or cannot reach the database); nothing is sent to a disabled partner.
    """
    if not partner.enabled:
        return "none is sent while it is disabled"
    at = partner.head_next_attempt_at
    if at is None:  # not with a queue: the head is read by the statement that counts the queue
        return "no notice at its head"
    if at > now:
        return f"the next attempt at {at:%Y-%m-%dT%H:%M:%SZ}"
    if now - at <= NEXT_ATTEMPT_LATE:
        return f"the next attempt due now (at {at:%Y-%m-%dT%H:%M:%SZ})"
    return f"the next attempt due since {at:%Y-%m-%dT%H:%M:%SZ}: is the worker running?"


def _awaited(key_status: KeyStatus) -> str:
    """What a stalled rotation waits for: the partners that have not acknowledged its announcement, or the worker."""
    count = key_status.rotation_awaiting_count
    if count == 0:  # the worker switches at its next pass: it is not running, or cannot
        return "for its switch (no enabled partner still has to acknowledge it: is the worker running?)"
    shown = ", ".join(key_status.rotation_awaiting)
    more = f" and {count - len(key_status.rotation_awaiting)} more" if count > len(key_status.rotation_awaiting) else ""
    return (
        f"for the acknowledgement of its announcement by {shown}{more} ({count} partner{'' if count == 1 else 's'};"
        " rejected, or not delivered: 'firearms notices --recipient STATE')"
    )


def _broken(journal: JournalStatus) -> str:
    """The ``journal-broken`` line: when the failed verification was recorded, where it broke, its kind."""
    seq, entry = journal.broken_seq, journal.broken_entry_id
    at = f" at seq {seq}" if seq is not None else f" at entry {entry}" if entry is not None else ""
    if seq is not None and entry is not None:
        at += f" (entry {entry})"
    return (
        f"the journal verification at {journal.broken_at:%Y-%m-%dT%H:%M:%SZ} found the chain broken{at}:"
        f" {journal.broken_kind}; 'firearms journal verify' names the problem, and this stays until an intact"
        " verification walks over where it broke (the full one, for a break before the checkpoint the daily one"
        " starts at)"
    )


def _words(span: dt.timedelta) -> str:
    """A threshold in words: ``an hour``, ``5 minutes``, ``48 hours``, ``a day``."""
    minutes = int(span.total_seconds()) // 60
    if minutes % (24 * 60) == 0 and minutes // (24 * 60) == 1:
        return "a day"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "an hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"
