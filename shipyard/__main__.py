"""``python -m shipyard`` is the ``shipyard`` command."""

from .cli import main

main()
