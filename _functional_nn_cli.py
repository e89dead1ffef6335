"""The ``functional-nn`` command's entry point, outside the package so that it runs first.

Importing ``functional_nn`` (numpy and all) takes a good part of a second; Ctrl-C meanwhile
would show the traceback of an import. This module imports nothing of the library until
``main`` runs, and turns an interrupt during that import into the command's usual one line.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> int:
    """Import the command line and run it; exit status 130 if interrupted while importing."""
    try:
        from functional_nn.cli.main import main as run
    except KeyboardInterrupt:
        print("functional-nn: interrupted while starting", file=sys.stderr, flush=True)
        return 130
    return run()
