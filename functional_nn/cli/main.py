"""``functional-nn``: every sub-command, run through the one shell (:func:`.shell.run`).

Each sub-command lives in its own module with ``add_parser(subparsers)``, which adds its parser
and sets ``run(args, output) -> int`` as the parser's ``run`` default. To add a sub-command,
write ``functional_nn/cli/NAME.py`` with those two functions and list its ``add_parser`` in
:data:`COMMANDS`. Sub-commands never import each other: what two of them share lives in a
module of its own (:mod:`.loader`, :mod:`.figures`, :mod:`.dataset`, :mod:`.options`, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import evaluate, export, plot, predict, sweep, train
from .shell import AddParser, ArgumentParser, run
from .shell import build_parser as _build_parser

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: tuple[AddParser, ...] = (train.add_parser, evaluate.add_parser, predict.add_parser,
                                   plot.add_parser, sweep.add_parser, export.add_parser)
"""The sub-commands, in the order ``--help`` lists them."""


def build_parser() -> ArgumentParser:
    """The ``functional-nn`` parser with every sub-command's parser added."""
    return _build_parser(COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    return run(argv, COMMANDS)
