"""The API processes ``serve --workers N`` starts get the service's database URL, never the owner's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cli.supervisor import _Supervisor
from firearms.settings import Settings

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_the_api_processes_are_not_handed_the_owners_database_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """They connect as the service (README "Database roles"): the owner's login in their environment was one any
    code running in them could read, and with it switch the guards off."""
    owner = "postgresql://firearms_owner:secret@db/firearms"
    service = "postgresql://firearms_service:other@db/firearms"
    monkeypatch.setenv("FIREARMS_MIGRATION_DATABASE_URL", owner)
    monkeypatch.setenv("FIREARMS_DATABASE_URL", service)
    settings = Settings(state="AT", home=tmp_path, database_url=service, migration_database_url=owner, workers=2)
    environment = _Supervisor(settings, service).environment
    assert environment["FIREARMS_DATABASE_URL"] == service
    assert "FIREARMS_MIGRATION_DATABASE_URL" not in environment
    assert owner not in environment.values()
