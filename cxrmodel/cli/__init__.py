"""The ``python -m cxrmodel`` command line: :func:`main` runs a command, :func:`build_parser` assembles them all.

One module per command group registers its commands (see :mod:`cxrmodel.cli.main`); :class:`CommandError` is
the user error every command raises (one line on stderr, exit status 2).
"""

from cxrmodel.cli._common import CommandError
from cxrmodel.cli.main import build_parser, main

__all__ = ["main", "build_parser", "CommandError"]
