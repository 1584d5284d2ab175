"""Files the registry writes whole or not at all: written beside their place, renamed into it once complete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["partial_beside"]


def partial_beside(path: Path) -> Path:
    """A new empty file beside ``path``, to be renamed to ``path`` once complete.

    Mode 0600 whatever the umask (a backup or an export holds the whole registry), and a name of its own,
    so that two writers never share one and a file left by a killed one is never reused.

    Raises:
        OSError: the folder cannot be written.
    """
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(handle)
    return Path(name)
