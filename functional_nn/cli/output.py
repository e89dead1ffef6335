"""Where the command line's text goes: human lines to stdout, or to stderr under ``--json``.

With ``--json`` stdout carries exactly one JSON object (:meth:`Output.result`), so that a
script can read it, and every human line moves to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

__all__ = ["PROG", "Output"]

PROG = "functional-nn"
"""The program's name, at the start of its warnings and errors."""


class Output:
    """Where text goes: human lines to stdout, or to stderr when stdout carries ``--json``."""

    def __init__(self, as_json: bool = False, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stdout: TextIO = stdout or sys.stdout
        self.stderr: TextIO = stderr or sys.stderr

    def say(self, line: str = "") -> None:
        """A human line; flushed at once so a pipe sees progress as it happens."""
        stream = self.stderr if self.as_json else self.stdout
        print(line, file=stream, flush=True)

    def warn(self, line: str) -> None:
        """A warning, always on stderr."""
        print(f"{PROG}: warning: {line}", file=self.stderr, flush=True)

    def result(self, obj: dict[str, object]) -> None:
        """The one JSON object of ``--json`` mode, on stdout."""
        print(json.dumps(obj, allow_nan=False), file=self.stdout, flush=True)
