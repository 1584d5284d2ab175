"""Domain errors. Each carries a stable ``code`` that api/problems.py maps to a problem ``type``.

The domain knows nothing of HTTP: a subclass says what went wrong, in typed fields, and the
API layer decides which status and which problem document that becomes.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BackupError",
    "ConfigError",
    "ConflictError",
    "FirearmsError",
    "ForbiddenError",
    "InvalidInputError",
    "JournalError",
    "MigrationError",
    "NotFoundError",
    "UnauthenticatedError",
]


class FirearmsError(Exception):
    """Base of every error the domain raises on purpose.

    Attributes:
        code: stable slug, the last path segment of the problem ``type``.
        detail: a sentence for people; clients never parse it.
        facts: extension members for the problem document (machine-readable facts).
    """

    code: ClassVar[str] = "error"

    def __init__(self, detail: str, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.facts = facts


class ConfigError(FirearmsError):
    """The configuration (environment or command line) is missing or invalid."""

    code = "invalid-configuration"


class MigrationError(FirearmsError):
    """A migration cannot be applied, or an applied migration file was changed."""

    code = "migration-error"


class InvalidInputError(FirearmsError):
    """Input that passed the type checks breaks a domain rule."""

    code = "invalid-input"

    def __init__(self, detail: str, *, code: str | None = None, **facts: Any) -> None:
        super().__init__(detail, **facts)
        if code is not None:
            self.code = code  # type: ignore[misc]  # a rule may name its own, more precise, code


class NotFoundError(FirearmsError):
    """The named record does not exist."""

    code = "not-found"


class ConflictError(FirearmsError):
    """The request conflicts with the current state (duplicate, illegal transition, replay)."""

    code = "conflict"

    def __init__(self, detail: str, *, code: str | None = None, **facts: Any) -> None:
        super().__init__(detail, **facts)
        if code is not None:
            self.code = code  # type: ignore[misc]


class UnauthenticatedError(FirearmsError):
    """No bearer token, or one that is unknown or revoked."""

    code = "unauthenticated"


class ForbiddenError(FirearmsError):
    """A known officer whose role does not allow the operation."""

    code = "forbidden"


class JournalError(FirearmsError):
    """The journal chain does not verify."""

    code = "journal-broken"


class BackupError(FirearmsError):
    """A backup or a restore was refused or failed; ``code`` says why (``backup-exists``, ``backup-damaged`` ...)."""

    code = "backup-failed"

    def __init__(self, detail: str, *, code: str | None = None, **facts: Any) -> None:
        super().__init__(detail, **facts)
        if code is not None:
            self.code = code  # type: ignore[misc]
