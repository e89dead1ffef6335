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

__all__ = ["check_creatable", "check_distinct", "check_writable", "write_json", "write_text"]

PLOT_FILES = ("loss.png", "accuracy.png", "confusion.png", "weights.png", "misclassified.png")
"""Every file a plots folder may get."""


def _same(a: str, b: str) -> bool:
    """Whether two paths name one file (symbolic links and ``..`` resolved; hard links too)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet: they differ by name
        return False


def check_distinct(files: dict[str, str | None], plots: str | None = None) -> None:
    """Fail unless the named files (``what -> path``) and the plots folder's files are all
    different files, so that no output overwrites another, or an input, of the same command."""
    named = [(what, path) for what, path in files.items() if path]
    if plots:
        named += [(f"plot {name}", os.path.join(plots, name)) for name in PLOT_FILES]
        named += [("the plots folder", plots)]
    for i, (what, path) in enumerate(named):
        for other, there in named[i + 1:]:
            if _same(path, there):
                raise CliError(f"the {what} and the {other} would be the same file ({path}); "
                               "give them different paths")


def check_writable(path: str, what: str) -> None:
    """Fail early unless a file could be created at ``path`` (touching nothing there)."""
    try:  # a name too long for the file system fails even the look at it
        refused = _unwritable(Path(path))
    except OSError as error:
        refused = str(error.strerror or error)
    if refused:
        raise CliError(f"cannot write the {what} to {path}: {refused}")


def _unwritable(target: Path) -> str | None:
    if target.is_dir():
        return "it is a directory"
    if not target.parent.is_dir():
        return f"the folder {target.parent} does not exist"
    return _refusal(target.parent)


def _refusal(folder: Path) -> str | None:
    """Why no file can be created in ``folder``, or None when one can (a real probe:
    ``os.access`` misjudges root, ACLs and read-only mounts)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".functional-nn-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        return str(error.strerror or error)
    return None


def check_creatable(folder: str, what: str) -> None:
    """Fail early unless ``folder`` is a folder or could be made (touching nothing): its
    nearest existing ancestor must be a folder that takes new files."""
    existing = Path(folder)
    try:  # a name too long for the file system fails even the look at it
        while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
            existing = existing.parent
        is_folder = existing.is_dir()
    except OSError as error:
        raise CliError(f"cannot create the {what} {folder}: {error.strerror or error}") from None
    if not is_folder:
        raise CliError(f"cannot create the {what} {folder}: {existing} is not a folder")
    refused = None if existing == Path(folder) else _refusal(existing)
    if refused:
        raise CliError(f"cannot create the {what} {folder} in {existing}: {refused}")


def write_text(path: str, text: str) -> None:
    """Write ``text`` atomically: a failure leaves any old file as it was."""
    try:
        atomic.write_text(path, text)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None


def write_json(path: str, obj: dict[str, object]) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")
