"""Atomic file writes: a new file takes the place of the old one whole, or not at all.

Every file the library writes (checkpoints, IDX files, downloads, and the command line's JSON,
CSV and plots) goes to a temporary file beside its target, on the same file system so that the
final rename is atomic: an error, Ctrl-C, SIGTERM or SIGHUP midway leaves any previous file as
it was and no temporary file behind. The new file gets the mode of the file it replaces, or that
of a newly created file (``0o666`` less the umask), never ``mkstemp``'s private ``0o600``.

What no process can clean up after itself (SIGKILL, a power cut) leaves its temporary file
(``.NAME.XXXXXXXX.tmp``): the next write to the same target removes it. A writer holds an
exclusive ``flock`` on its temporary file for as long as it writes, so a temporary file that
can be locked is one whose writer is gone, and concurrent writers never remove each other's.

Only regular files are replaced: a FIFO, a device or a socket at the target is refused (renaming
over it would destroy it, ``/dev/null`` included), and a symbolic link is written through (its
target is replaced, the link kept). :func:`open_regular` opens a file to read the same way: a
FIFO is refused at once instead of waiting for a writer forever.

Errors are ``OSError``; each caller words them for its own users.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import BinaryIO

import attrs

try:
    import fcntl

    _LOCKING = True
except ImportError:  # not POSIX: no locks, so stale temporary files are left alone
    _LOCKING = False

__all__ = ["Staged", "Terminated", "new_file_mode", "new_folders", "open_regular", "remove_stale",
           "replacing", "umask", "write_bytes", "write_text"]

# The signals that end a process by default and that a program can catch; SIGINT already
# raises KeyboardInterrupt. SIGHUP does not exist on Windows.
SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C's ``KeyboardInterrupt`` so the same cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


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


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _signals_raise() -> Iterator[list[int]]:
    """While the block runs, SIGTERM and SIGHUP raise :class:`Terminated` where they would
    kill the process; the list gets the signal that did, to deliver again after cleaning up.

    Only where nobody handles them already (a program's own handler is left alone), and only
    in the main thread, the one that Python runs signal handlers in.
    """
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    ours = [s for s, handler in previous.items() if handler == signal.SIG_DFL]
    for s in ours:
        signal.signal(s, _raise_terminated)
    try:
        yield caught
    except Terminated as error:
        if error.signum not in ours:
            raise
        caught.append(error.signum)
    finally:
        for s in ours:
            signal.signal(s, previous[s])


def _stale_pattern(target: str, suffix: str) -> re.Pattern[str]:
    # mkstemp's random part: 8 characters of [a-z0-9_], never a dot.
    return re.compile(rf"\.{re.escape(os.path.basename(target))}\.[a-z0-9_]{{8}}"
                      rf"{re.escape(suffix)}\Z")


def remove_stale(path: str | os.PathLike[str], suffix: str = ".tmp") -> list[str]:
    """Remove the temporary files that writers of ``path`` left when killed; return them.

    A file is stale when its lock can be taken: its writer, which held it, is gone.
    """
    if not _LOCKING:
        return []
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    pattern = _stale_pattern(target, suffix)
    removed = []
    try:
        names = [n for n in os.listdir(folder) if pattern.match(n)]
    except OSError:
        return []
    for name in names:
        candidate = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            fd = os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # OSError: a live writer's
                os.unlink(candidate)
                removed.append(candidate)
            finally:
                os.close(fd)
    return removed


def _locked_temporary(target: str, folder: str, suffix: str) -> tuple[int, str]:
    """A new temporary file beside ``target``, locked for as long as its descriptor is open."""
    while True:
        fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=suffix,
                                         dir=folder)
        if not _LOCKING:
            return fd, temporary
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # Between mkstemp and flock another writer's cleanup may have taken it for stale.
            if os.path.samestat(os.fstat(fd), os.stat(temporary)):
                return fd, temporary
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], *, durable: bool = False,
              suffix: str = ".tmp") -> Iterator[Staged]:
    """A temporary file beside ``path`` that is renamed onto ``path`` when the block succeeds.

    When the block raises (anything, ``KeyboardInterrupt`` included), the temporary file is
    removed and ``path`` is untouched; SIGTERM and SIGHUP, where nothing else handles them,
    first remove it and then end the process as they would have. Stale temporary files of
    ``path`` (see :func:`remove_stale`) are removed first. ``durable`` syncs the file and its
    folder to disk, so that a power cut after the return cannot lose the new file.
    """
    target = _regular_target(os.fspath(path))
    folder = os.path.dirname(os.path.abspath(target))
    remove_stale(target, suffix)
    with _signals_raise() as caught:
        fd, temporary = _locked_temporary(target, folder, suffix)
        try:
            with os.fdopen(fd, "wb") as file:
                yield Staged(file, Path(temporary))
                file.flush()
                if durable:
                    os.fsync(file.fileno())
                os.chmod(temporary, new_file_mode(target))
                if _LOCKING:
                    # Renamed while still locked, so that no cleanup can take it for stale
                    # between the close and the rename.
                    os.replace(temporary, target)
            if not _LOCKING:  # where an open file cannot be renamed, and nothing cleans up
                os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    if caught:  # a signal that would have killed the process: now that nothing is left over
        signal.raise_signal(caught[0])
        raise Terminated(caught[0])  # only if the signal did not end the process
    if durable:
        _sync_folder(folder)


def _not_regular(path: str, mode: int) -> OSError:
    if stat.S_ISDIR(mode):
        return IsADirectoryError(errno.EISDIR, "is a directory", path)
    return OSError(errno.EINVAL, "not a regular file (a FIFO, device or socket)", path)


def _regular_target(target: str) -> str:
    """The path to replace for ``target``: itself, or the end of its symbolic links; an
    ``OSError`` when that exists and is not a regular file."""
    real = os.path.realpath(target) if os.path.islink(target) else target
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real
    if not stat.S_ISREG(mode):
        raise _not_regular(target, mode)
    return real


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``open(path, "rb")`` for a regular file only: ``IsADirectoryError`` for a folder and an
    ``OSError`` for a FIFO, device or socket, at once (an ordinary open of a FIFO waits for a
    writer, forever)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(os.fspath(path), mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def new_folders(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """``folder``, made with its missing parents for the block; when the block leaves
    ``folder`` empty (it failed, or had nothing to write), the folders it made are removed
    again, so no empty folder is left behind. When it wrote there, they all stay.

    The folders are made one component at a time, and only those ``mkdir`` made are recorded:
    through ``..`` they are not each other's parents (``new1/../new2`` makes ``new1`` and
    ``new2``, and the path needs both), and a folder that was there before is never removed.
    """
    path = Path(folder)
    made: list[Path] = []
    try:
        for prefix in reversed((path, *path.parents)):
            if prefix.is_dir():
                continue
            if os.path.lexists(prefix):  # a file, or a dangling link, where a folder must be
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(prefix))
            try:
                prefix.mkdir()
            except FileExistsError:
                if prefix.is_dir():  # made meanwhile by another process: theirs to keep
                    continue
                raise
            made.append(prefix)
        yield path
    finally:
        if made and not _holds_anything(path):
            for new in reversed(made):  # deepest first; past a ``..`` not each other's parents
                with contextlib.suppress(OSError):
                    new.rmdir()  # only while empty


def _holds_anything(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except OSError:  # gone, or unreadable: nothing of ours to keep there
        return False


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
