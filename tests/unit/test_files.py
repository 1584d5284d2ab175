"""``firearms.files``: the partial files written beside their place are found again by the name they are for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from firearms.files import partial_beside, partials_in, partials_of

if TYPE_CHECKING:
    from pathlib import Path


def test_partials_are_found_by_the_name_they_were_written_for(tmp_path: Path) -> None:
    backup = tmp_path / "registry.2026-11-29.dump"
    key = tmp_path / "0123456789abcdef0123456789abcdef.pem"
    first, second, of_key = partial_beside(backup), partial_beside(backup), partial_beside(key)
    (tmp_path / ".something.partial").write_bytes(b"")  # no name of partial_beside's: not one of them
    (tmp_path / "registry.dump").write_bytes(b"")

    assert first != second
    assert sorted(partials_of(backup)) == sorted([first, second])
    assert partials_of(key) == [of_key]
    assert partials_of(tmp_path / "registry.2026-11-29") == []  # a name that is a prefix of another's
    assert sorted(partials_in(tmp_path)) == sorted([(first, backup.name), (second, backup.name), (of_key, key.name)])
    assert partials_in(tmp_path / "absent") == []
    assert first.stat().st_mode & 0o777 == 0o600
