"""The command line's errors: mistakes a user can fix, each with the exit status it ends in.

:func:`functional_nn.cli.shell.run` prints each as one line on stderr and returns its
``code``; nothing else in the command line prints an error or picks an exit status.
"""

from __future__ import annotations

__all__ = ["CliError", "Interrupted", "UsageError", "one_line"]


class CliError(Exception):
    """A mistake the user can fix: printed as one line, exit status ``code``."""

    code = 1


class UsageError(CliError):
    """A bad option value or a missing argument (exit status 2, as argparse uses)."""

    code = 2


class Interrupted(CliError):
    """Ctrl-C: the message says what was left as it was (exit status 130 = 128 + SIGINT)."""

    code = 130


def one_line(message: str) -> str:
    """A library message squeezed onto one line."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())
