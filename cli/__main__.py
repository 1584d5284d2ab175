"""``python -m cli`` is the ``firearms`` command."""

from cli.main import main

main()
