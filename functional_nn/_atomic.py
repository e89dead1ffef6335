"""Atomic file writes: a new file takes the place of the old one whole, or not at all.

Every file the library writes (checkpoints, IDX files, downloads, and the command line's JSON,
CSV and plots) goes to a temporary file beside its target, on the same file system so that the
final rename is atomic: a crash, an error or Ctrl-C midway leaves any previous file as it was
and no temporary file behind. The new file gets the mode of the file it replaces, or that of a
newly created file (``0o666`` less the umask), never ``mkstemp``'s private ``0o600``.

Errors are ``OSError``; each caller words them for its own users.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import attrs

__all__ = ["Staged", "new_file_mode", "replacing", "umask", "write_bytes", "write_text"]


def umask() -> int:
    """The process's umask.

    Read from ``/proc`` where there is one: the only other way, setting it and setting it back,
    briefly changes the mode of files that other threads create meanwhile.
    """
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(path: str | os.PathLike[str]) -> int:
    """The mode for a file written at ``path``: the replaced file's, else ``0o666 & ~umask``."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~umask()


@attrs.frozen
class Staged:
    """The temporary file being written, and its path (to read back what was written)."""

    file: BinaryIO
    path: Path


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], *, durable: bool = False,
              suffix: str = ".tmp") -> Iterator[Staged]:
    """A temporary file beside ``path`` that is renamed onto ``path`` when the block succeeds.

    When the block raises (anything, ``KeyboardInterrupt`` included), the temporary file is
    removed and ``path`` is untouched. ``durable`` syncs the file and its folder to disk, so
    that a power cut after the return cannot lose the new file.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=suffix,
                                     dir=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            yield Staged(file, Path(temporary))
            file.flush()
            if durable:
                os.fsync(file.fileno())
            os.chmod(temporary, new_file_mode(target))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    if durable:
        _sync_folder(folder)


def _sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable; not every system can open a folder, so best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` to ``path`` atomically."""
    with replacing(path, durable=durable) as staged:
        staged.file.write(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically, as UTF-8 with its line endings as they are."""
    write_bytes(path, text.encode("utf-8"))
