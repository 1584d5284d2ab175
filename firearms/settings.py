"""Configuration: one frozen Settings Struct, read once at start from ``FIREARMS_*`` variables (DESIGN §9)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from firearms.countries import is_country
from firearms.errors import ConfigError
from firearms.text_rules import is_http_base_url

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "PARTNER_QUOTA_BYTES",
    "PARTNER_QUOTA_NOTICES",
    "QUOTA_BYTES_RANGE",
    "QUOTA_NOTICES_RANGE",
    "Settings",
    "load_settings",
]

# A partner's default quota an hour (README "What one partner can make this registry store"): a national registry
# exchanges thousands of notices a day at most, of a few KiB; 10,000 an hour and 64 MiB bound one partner to 240,000
# notices and 1.5 GiB a day, where one receiver would otherwise take 1,200 a second of up to 256 KiB each.
PARTNER_QUOTA_NOTICES = 10_000
PARTNER_QUOTA_BYTES = 64 * 1024 * 1024


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service reads from its environment; command-line options override it.

    Attributes:
        state: ISO 3166-1 alpha-2 code of the State this registry speaks for.
        home: data directory (embedded database, signing keys).
        database_url: external PostgreSQL; ``None`` starts the embedded server in ``home``.
        migration_database_url: the same database as the tables' owner, for migrations, backups and restores
            (``FIREARMS_MIGRATION_DATABASE_URL``; README "Database roles"); ``None``: ``database_url`` does all.
        public_url: the base URL partner registries use to reach this one.
        host: interface ``serve`` binds to.
        port: port ``serve`` binds to.
        run_worker: whether ``serve`` also runs the outbox/timer worker.
        workers: how many API processes ``serve`` runs on ``host:port`` (``FIREARMS_WORKERS``, 1-64); above 1,
            ``serve`` supervises that many processes, each on its own ``SO_REUSEPORT`` socket.
        seal_interval: seconds between journal sealing passes in the worker.
        checkpoint_interval: seconds between signed journal checkpoints in the worker.
        max_body_bytes: request body limit for officer endpoints.
        pool_size: maximum database connections this process opens.
        tacit_consent: whether a transit State's silence counts as consent after the silent period
            (Reg. 258/2012 Art. 7(2)); ``FIREARMS_TACIT_CONSENT`` = yes/no.
        tacit_consent_days: the silent period in working days (``FIREARMS_TACIT_CONSENT_DAYS``, 20).
        trace_answer_days: the days a trace request gives the requested State to answer, when it names no day
            (``FIREARMS_TRACE_ANSWER_DAYS``, 30; ITI para 17 says "in a timely manner" and sets no number).
        tacit_consent_refused_by: transit States whose policy never allows tacit consent
            (``FIREARMS_TACIT_CONSENT_REFUSED_BY``, comma-separated alpha-2 codes).
        holidays: days that are not working days besides weekends (``FIREARMS_HOLIDAYS``, ISO dates, comma-separated).
        ammunition_limits: most cartridges a temporary licence of each Art. 10(6) purpose may carry
            (``FIREARMS_AMMUNITION_LIMITS``, e.g. ``hunting=800,sport-shooting=1200``); a purpose not
            listed has no limit.
        retention_years: how long records are kept at least, per this State's law
            (``FIREARMS_RETENTION_YEARS``; Protocol Art. 7 asks at least 10, ITI para 12 20 or 30, EU Dir.
            2021/555 30 after destruction). Nothing is ever purged by this code; the value is the
            declared policy a purge job must honour, and it may not be below the Protocol's 10.
        licence_timer_interval: seconds between passes of the licence timers (expiry, deemed consent) in the worker.
        exchange_retry_base: seconds before the first retry of a failed delivery (doubles per attempt).
        exchange_retry_cap: the most seconds between two delivery attempts (back-off cap).
        exchange_timeout: seconds one delivery may take before it counts as a network error.
        lock_timeout: seconds an officer request's transaction waits for one lock (a licence row another
            request holds) before it gives up with 503 ``database-timeout`` (``FIREARMS_LOCK_TIMEOUT``, 5).
        statement_timeout: seconds one statement of an officer request's transaction may run
            (``FIREARMS_STATEMENT_TIMEOUT``, 10); the long jobs (journal verification, bulk import, export,
            backup, the worker) are not bound by either.
        partner_quota_notices: the most notices stored from one partner in a UTC hour, unless the operator set the
            partner's own (``FIREARMS_PARTNER_QUOTA_NOTICES``, 10,000; README "What one partner can make this
            registry store"); more are refused 429 ``quota-exceeded`` until the hour ends.
        partner_quota_bytes: the most bytes of notices (canonical, as stored) from one partner in a UTC hour
            (``FIREARMS_PARTNER_QUOTA_BYTES``, 64 MiB; at least one envelope's 256 KiB).
        time_zone: the State's time zone (``FIREARMS_TIME_ZONE``, an IANA name such as ``Europe/Vienna``):
            every "today" is the date there (:mod:`firearms.clock`); moments stay UTC.
    """

    state: str
    home: Path
    database_url: str | None = None
    migration_database_url: str | None = None
    public_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    run_worker: bool = True
    workers: int = 1
    seal_interval: float = 0.5
    checkpoint_interval: float = 3600.0
    max_body_bytes: int = 1_048_576
    pool_size: int = 20
    tacit_consent: bool = True
    tacit_consent_days: int = 20
    tacit_consent_refused_by: tuple[str, ...] = ()
    trace_answer_days: int = 30
    holidays: tuple[dt.date, ...] = ()
    ammunition_limits: dict[str, int] = msgspec.field(default_factory=lambda: {"hunting": 800, "sport-shooting": 1200})
    retention_years: int = 30
    licence_timer_interval: float = 60.0
    exchange_retry_base: float = 1.0
    exchange_retry_cap: float = 300.0
    exchange_timeout: float = 10.0
    lock_timeout: float = 5.0
    statement_timeout: float = 10.0
    partner_quota_notices: int = PARTNER_QUOTA_NOTICES
    partner_quota_bytes: int = PARTNER_QUOTA_BYTES
    time_zone: ZoneInfo = ZoneInfo("UTC")

    @property
    def base_url(self) -> str:
        """The URL partners use: ``public_url`` when set, else ``http://host:port``."""
        return self.public_url or f"http://{self.host}:{self.port}"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read ``FIREARMS_*`` variables, apply command-line ``overrides`` (``None`` values ignored), validate.

    Raises:
        ConfigError: a variable is missing or invalid; the message is one line for the operator.
    """
    env = os.environ if environ is None else environ
    given = {key: value for key, value in overrides.items() if value is not None}
    state = str(given.pop("state", env.get("FIREARMS_STATE", ""))).strip()
    if not state:
        raise ConfigError("FIREARMS_STATE is not set: give this registry's ISO 3166-1 alpha-2 code, e.g. AT")
    if not is_country(state):
        raise ConfigError(f"FIREARMS_STATE={state!r} is not an ISO 3166-1 alpha-2 code (upper case, e.g. AT)")
    home = _home(given.pop("home", env.get("FIREARMS_HOME", "firearms-home")))
    values: dict[str, Any] = {
        "state": state,
        "home": home,
        **_database_urls(env),
        "public_url": _public_url(env.get("FIREARMS_PUBLIC_URL", "")),
        "host": _host(str(given.pop("host", env.get("FIREARMS_HOST", "127.0.0.1")))),
    }
    # an option replaces its variable, which is then not read (DESIGN §9: command-line options override them)
    port = None if "port" in given else env.get("FIREARMS_PORT")
    if port is not None:
        if not port.isdecimal() or not 0 < int(port) < 65536:
            raise ConfigError(f"FIREARMS_PORT={port!r} is not a port number (1-65535)")
        values["port"] = int(port)
    if (text := None if "workers" in given else env.get("FIREARMS_WORKERS")) is not None:
        if not text.strip().isdecimal() or not 1 <= int(text) <= 64:
            raise ConfigError(f"FIREARMS_WORKERS={text!r} is not a number of API processes (1-64)")
        values["workers"] = int(text)
    values.update(_licensing_settings(env))
    values.update(_trace_settings(env))
    values["time_zone"] = _time_zone(env.get("FIREARMS_TIME_ZONE", "UTC"))
    if (text := env.get("FIREARMS_RETENTION_YEARS")) is not None:
        if not text.strip().isdecimal() or not 10 <= int(text) <= 100:
            raise ConfigError(
                f"FIREARMS_RETENTION_YEARS={text!r}: records are kept at least 10 years (Protocol Art. 7), at most 100"
            )
        values["retention_years"] = int(text)
    for name in ("exchange_retry_base", "exchange_retry_cap", "exchange_timeout", "lock_timeout", "statement_timeout"):
        text = env.get(f"FIREARMS_{name.upper()}")
        if text is not None:
            try:
                values[name] = float(text)
            except ValueError:
                raise ConfigError(f"FIREARMS_{name.upper()}={text!r} is not a number of seconds") from None
            if not 0 < values[name] <= 86400:
                raise ConfigError(f"FIREARMS_{name.upper()}={text!r} must be more than 0 and at most 86400 seconds")
    values.update(_partner_quota(env))
    values.update(given)
    return Settings(**values)


# A bound a partner's notices can always meet: one notice, one envelope of PROTOCOL §4's 256 KiB; the sender retries
# the same bytes, and a bound below one of them would refuse it for ever. At most what the columns hold.
QUOTA_NOTICES_RANGE = (1, 2**31 - 1)
QUOTA_BYTES_RANGE = (262_144, 2**53)


def _partner_quota(env: Mapping[str, str]) -> dict[str, int]:
    """``FIREARMS_PARTNER_QUOTA_NOTICES`` and ``_BYTES``: the default bound an hour on what one partner stores."""
    found: dict[str, int] = {}
    for name, (low, high), what in (
        ("partner_quota_notices", QUOTA_NOTICES_RANGE, "notices"),
        ("partner_quota_bytes", QUOTA_BYTES_RANGE, "bytes (at least one envelope's 256 KiB)"),
    ):
        text = env.get(f"FIREARMS_{name.upper()}")
        if text is None:
            continue
        if not text.strip().isdecimal() or not low <= int(text) <= high:
            raise ConfigError(
                f"FIREARMS_{name.upper()}={text!r} is not a number of {what} a partner may send an hour ({low}-{high})"
            )
        found[name] = int(text)
    return found


def _database_urls(env: Mapping[str, str]) -> dict[str, str | None]:
    """``FIREARMS_DATABASE_URL`` (the service's) and ``FIREARMS_MIGRATION_DATABASE_URL`` (the owner's).

    README "Database roles". The owner's alone is refused: the embedded server makes both itself.
    """
    service = env.get("FIREARMS_DATABASE_URL") or None
    owner = env.get("FIREARMS_MIGRATION_DATABASE_URL") or None
    if owner and not service:
        raise ConfigError(
            "FIREARMS_MIGRATION_DATABASE_URL is set without FIREARMS_DATABASE_URL: it names the owner of an external"
            " database whose service login FIREARMS_DATABASE_URL names; the embedded server needs neither"
        )
    return {"database_url": service, "migration_database_url": owner}


def _host(given: str) -> str:
    """The interface ``serve`` binds; blank is refused rather than read as every interface (as uvicorn would)."""
    if not given.strip():
        raise ConfigError(
            "FIREARMS_HOST (or --host) is empty: name the interface to listen on (127.0.0.1 by default;"
            " 0.0.0.0 or :: for every interface)"
        )
    return given


def _public_url(given: str) -> str:
    """``FIREARMS_PUBLIC_URL``: ``http(s)://host[:port][/path]`` without a trailing slash, or empty (unset).

    The rule ``peers add`` applies to a partner's base URL: no user or password, no query, no control
    character, a port of 1-65535.
    """
    url = given.strip().rstrip("/")
    if not url:
        return ""
    if not is_http_base_url(url):
        raise ConfigError(f"FIREARMS_PUBLIC_URL={given!r} is not an http(s) base URL (http(s)://host[:port][/path])")
    return url


def _home(given: str | Path) -> Path:
    """The data directory, absolute; something there that is not a folder is refused before anything starts."""
    home = Path(given).expanduser().resolve()
    if home.exists() and not home.is_dir():
        raise ConfigError(f"FIREARMS_HOME={str(home)!r} is not a folder: it holds the database and signing keys")
    return home


def _time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (system zoneinfo, else the ``tzdata`` package); an unknown name is refused."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):  # ValueError: '', '/abs', '..' or a file that is no zone
        raise ConfigError(f"FIREARMS_TIME_ZONE={name!r} is not an IANA time zone name (e.g. Europe/Vienna)") from None


_TEMPORARY = frozenset({"hunting", "sport-shooting", "evaluation", "exhibition", "repair"})  # Art. 10(6)
_YES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def _trace_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The trace request variables (ITI Section V) that are set in ``env``, parsed and validated."""
    values: dict[str, Any] = {}
    if (text := env.get("FIREARMS_TRACE_ANSWER_DAYS")) is not None:
        if not text.strip().isdecimal() or not 1 <= int(text) <= 365:
            raise ConfigError(f"FIREARMS_TRACE_ANSWER_DAYS={text!r} is not a number of days (1-365)")
        values["trace_answer_days"] = int(text)
    return values


def _licensing_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The licensing variables (issue 4) that are set in ``env``, parsed and validated."""
    values: dict[str, Any] = {}
    if (text := env.get("FIREARMS_TACIT_CONSENT")) is not None:
        if text.strip().lower() not in _YES:
            raise ConfigError(f"FIREARMS_TACIT_CONSENT={text!r} is not yes or no")
        values["tacit_consent"] = _YES[text.strip().lower()]
    if (text := env.get("FIREARMS_TACIT_CONSENT_DAYS")) is not None:
        if not text.strip().isdecimal() or not 1 <= int(text) <= 365:
            raise ConfigError(f"FIREARMS_TACIT_CONSENT_DAYS={text!r} is not a number of working days (1-365)")
        values["tacit_consent_days"] = int(text)
    if (text := env.get("FIREARMS_TACIT_CONSENT_REFUSED_BY")) is not None:
        codes = tuple(code.strip() for code in text.split(",") if code.strip())
        bad = [code for code in codes if not is_country(code)]
        if bad:
            raise ConfigError(f"FIREARMS_TACIT_CONSENT_REFUSED_BY holds {bad[0]!r}, not an ISO alpha-2 code")
        values["tacit_consent_refused_by"] = codes
    if (text := env.get("FIREARMS_HOLIDAYS")) is not None:
        try:
            values["holidays"] = tuple(dt.date.fromisoformat(day.strip()) for day in text.split(",") if day.strip())
        except ValueError as exc:
            raise ConfigError(f"FIREARMS_HOLIDAYS={text!r} is not a comma-separated list of YYYY-MM-DD dates") from exc
    if (text := env.get("FIREARMS_AMMUNITION_LIMITS")) is not None:
        limits: dict[str, int] = {}
        for item in (part.strip() for part in text.split(",") if part.strip()):
            purpose, _, number = item.partition("=")
            if not number.strip().isdecimal() or purpose.strip() not in _TEMPORARY:
                raise ConfigError(
                    f"FIREARMS_AMMUNITION_LIMITS item {item!r} is not purpose=number"
                    f" with a purpose among {', '.join(sorted(_TEMPORARY))}"
                )
            limits[purpose.strip()] = int(number)
        values["ammunition_limits"] = limits
    return values
