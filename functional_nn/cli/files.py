"""The command line's own files (metrics JSON, sweep results): checked early, written atomically.

Every output location is probed before any work starts, so a typo in ``--metrics`` fails in
a second, not after an hour of training; the writes go through :mod:`functional_nn._atomic`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from .. import _atomic as atomic
from .errors import CliError

__all__ = ["check_writable", "write_json", "write_text"]


def check_writable(path: str, what: str) -> None:
    """Fail early unless a file could be created at ``path`` (touching nothing there)."""
    target = Path(path)
    if target.is_dir():
        raise CliError(f"cannot write the {what} to {path}: it is a directory")
    folder = target.parent
    if not folder.is_dir():
        raise CliError(f"cannot write the {what} to {path}: the folder {folder} does not exist")
    try:  # a real probe: os.access misjudges root, ACLs and read-only mounts
        fd, probe = tempfile.mkstemp(prefix=".functional-nn-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise CliError(f"cannot write the {what} to {path}: {error.strerror or error}") from None


def write_text(path: str, text: str) -> None:
    """Write ``text`` atomically: a failure leaves any old file as it was."""
    try:
        atomic.write_text(path, text)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None


def write_json(path: str, obj: dict[str, object]) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")
