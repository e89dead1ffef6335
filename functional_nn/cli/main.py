"""``functional-nn``: argument parsing, sub-command dispatch, and the one place where a user's
mistake becomes one line on stderr and a non-zero exit status.

Each sub-command lives in its own module with ``add_parser(subparsers)``, which adds its parser
and sets ``run(args, output) -> int`` as the parser's ``run`` default. To add a sub-command
(say ``sweep``), write ``functional_nn/cli/sweep.py`` with those two functions and list the
module in :data:`COMMANDS`.

Exit status: 0 on success, 1 for an error the user can fix (a missing file, a checkpoint that
does not match, diverged training), 2 for a usage error (a bad option value), 130 when
interrupted with Ctrl-C. Unexpected internal errors still show their traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol, cast

from .. import __version__
from ..checkpoint import CheckpointError
from ..data import DatasetError
from . import (
    PROG,
    CliError,
    Interrupted,
    Output,
    Subparsers,
    UsageError,
    evaluate,
    one_line,
    plots,
    predict,
    sweep,
    train,
)

__all__ = ["COMMANDS", "ArgumentParser", "build_parser", "main"]


class Command(Protocol):
    """A sub-command module."""

    def add_parser(self, subparsers: Subparsers, /) -> None:
        """Add the sub-command's parser, with ``run`` set as its default."""


COMMANDS: tuple[Command, ...] = (train, evaluate, predict, plots, sweep)
"""The sub-command modules, in the order ``--help`` lists them."""


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, raised as :class:`UsageError`."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting, so ``main`` reports it."""
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> ArgumentParser:
    """The top-level parser with every sub-command's parser added."""
    parser = ArgumentParser(
        prog=PROG, description="Train, evaluate and use MNIST networks built with functional_nn.",
        epilog="Data is found through --data-dir or $FUNCTIONAL_NN_DATA (a folder holding "
               "mnist/), else downloaded. Exit status: 0 ok, 1 error, 2 usage error, "
               "130 interrupted.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # The sub-parsers are of this module's ArgumentParser (argparse uses the parent's class),
    # so their errors are one line too; to the type checker they are plain parsers.
    subparsers = cast(Subparsers, parser.add_subparsers(dest="command", metavar="COMMAND"))
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def _error(message: str, code: int) -> int:
    """Print one ``functional-nn: error: ...`` line; return the exit status."""
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        status: int = args.run(args, Output(as_json=bool(getattr(args, "json", False))))
        return status
    except Interrupted as error:
        print(f"{PROG}: {one_line(str(error))}", file=sys.stderr, flush=True)
        return Interrupted.code
    except CliError as error:
        return _error(str(error), error.code)
    except (CheckpointError, DatasetError) as error:
        return _error(str(error), 1)
    except MemoryError as error:
        return _error(f"out of memory ({error or 'allocation failed'}); try smaller --hidden "
                      "sizes or --batch-size", 1)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return Interrupted.code
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); point stdout at devnull so the interpreter's
        # final flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
