"""The shell around the sub-commands: one parser, and the one path from an error to an exit status.

:func:`run` builds the parser of the given sub-commands, runs the one named on the command
line, and is the only place where a user's mistake becomes one line on stderr and a non-zero
exit status: 1 for an error the user can fix (a missing file, a checkpoint that does not
match, diverged training), 2 for a usage error (a bad option value), 130 when interrupted with
Ctrl-C, and 128 + the signal's number when stopped by SIGTERM or SIGHUP, which are handled as
Ctrl-C is (files being written are cleaned up, ``train`` says what it saved). Unexpected
internal errors still show their traceback. ``functional-nn`` runs it with
every sub-command (:mod:`.main`); ``python -m functional_nn.cli.sweep`` with one.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import NoReturn, TypeAlias, cast

from .. import __version__
from .._atomic import SIGNALS, Terminated
from ..checkpoint import CheckpointError
from ..data import DatasetError
from .errors import CliError, Interrupted, UsageError, one_line
from .options import Subparsers
from .output import PROG, Output

__all__ = ["MEMORY_HINT", "AddParser", "ArgumentParser", "build_parser", "run"]

MEMORY_HINT = "try smaller --hidden sizes or --batch-size"
"""What an out-of-memory error suggests, unless the command's parser sets its own default
``memory_hint`` (one without those options)."""

AddParser: TypeAlias = Callable[[Subparsers], None]
"""A sub-command: adds its parser, with ``run(args, output) -> int`` as its ``run`` default."""


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, raised as :class:`UsageError`."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting, so :func:`run` reports it."""
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser(commands: Sequence[AddParser]) -> ArgumentParser:
    """The top-level parser with each of ``commands``' parsers added, in order."""
    parser = ArgumentParser(
        prog=PROG, description="Train, evaluate and use MNIST networks built with functional_nn.",
        epilog="Data is found through --data-dir or $FUNCTIONAL_NN_DATA (a folder holding "
               "mnist/), else downloaded. Exit status: 0 ok, 1 error, 2 usage error, "
               "130 interrupted.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # The sub-parsers are of this module's ArgumentParser (argparse uses the parent's class),
    # so their errors are one line too; to the type checker they are plain parsers.
    subparsers = cast(Subparsers, parser.add_subparsers(dest="command", metavar="COMMAND"))
    for add_parser in commands:
        add_parser(subparsers)
    return parser


def _error(message: str, code: int) -> int:
    """Print one ``functional-nn: error: ...`` line; return the exit status."""
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr, flush=True)
    return code


_stopped_by: list[int] = []


def _stop(signum: int, frame: FrameType | None) -> None:
    _stopped_by.append(signum)
    raise Terminated(signum)


def _handle_signals() -> None:
    """SIGTERM and SIGHUP raise as Ctrl-C does, where nothing else handles them."""
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            if signal.getsignal(s) == signal.SIG_DFL:
                signal.signal(s, _stop)


def _interrupted(message: str) -> int:
    """Report an interrupt (or a stop by a signal); return its exit status."""
    if _stopped_by:
        name = signal.Signals(_stopped_by[-1]).name
        message = f"stopped by {name}" + message.removeprefix("interrupted")
    print(f"{PROG}: {one_line(message)}", file=sys.stderr, flush=True)
    return 128 + _stopped_by[-1] if _stopped_by else Interrupted.code


def run(argv: Sequence[str] | None, commands: Sequence[AddParser]) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    _handle_signals()
    args: argparse.Namespace | None = None
    try:
        parser = build_parser(commands)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        status: int = args.run(args, Output(as_json=bool(getattr(args, "json", False))))
        return status
    except Interrupted as error:
        return _interrupted(str(error))
    except CliError as error:
        return _error(str(error), error.code)
    except (CheckpointError, DatasetError) as error:
        return _error(str(error), 1)
    except MemoryError as error:
        hint = getattr(args, "memory_hint", MEMORY_HINT)
        return _error(f"out of memory ({error or 'allocation failed'}); {hint}", 1)
    except KeyboardInterrupt:
        return _interrupted("interrupted")
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); point stdout at devnull so the interpreter's
        # final flush does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
