"""The ``firearms`` command (click): each command runs one coroutine of ``firearms/``."""

from cli.main import main

__all__ = ["main"]
