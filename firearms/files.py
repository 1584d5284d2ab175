"""Files the registry writes whole or not at all: written beside their place, renamed into it once complete."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["partial_beside", "partials_in", "partials_of", "written_whole"]

_PARTIAL = re.compile(r"^\.(?P<final>.+)\.[^.]+\.partial$")  # the names partial_beside gives


def partial_beside(path: Path) -> Path:
    """A new empty file beside ``path``, to be renamed to ``path`` once complete.

    Mode 0600 whatever the umask (a backup or an export holds the whole registry, an import's report names
    serials and item ids), and a name of its own,
    so that two writers never share one and a file left by a killed one is never reused.

    Raises:
        OSError: the folder cannot be written.
    """
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    return Path(name)


@contextlib.contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A :func:`partial_beside` file for the block to write, renamed to ``path`` when the block ends well.

    Removed when the block raises: a file that fails leaves nothing, nor a part that looks whole.

    Raises:
        OSError: the folder cannot be written (on entering the block), or the rename fails.
    """
    partial = partial_beside(path)
    try:
        yield partial
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def partials_of(path: Path) -> list[Path]:
    """The files :func:`partial_beside` made for ``path`` and that are still there, by name."""
    return [partial for partial, final in partials_in(path.parent) if final == path.name]


def partials_in(folder: Path) -> list[tuple[Path, str]]:
    """Every file :func:`partial_beside` made in ``folder`` and that is still there, with the name it was for."""
    if not folder.is_dir():
        return []
    found = ((path, _PARTIAL.fullmatch(path.name)) for path in sorted(folder.glob(".*.partial")))
    return [(path, match["final"]) for path, match in found if match]
