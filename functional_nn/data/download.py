"""Download files with the standard library: mirrors in turn, verified, atomic, bounded.

A download never takes more than it may: the body is cut off at ``max_bytes``, at its own
Content-Length, and at the limit that ``limit`` reads from its first bytes (for a data file,
the size its IDX header declares), and one mirror gets ``deadline`` seconds in all, besides
``timeout`` for each network read. So a mirror sending an endless or a slow body fails in
bounded time and disk.
"""

from __future__ import annotations

import http.client
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, TypeAlias, TypeVar

import attrs

from .. import _atomic as atomic
from .. import _validators as validators
from .idx import DatasetError, StrPath, nul_free

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_TIMEOUT",
    "DownloadError",
    "ProgressFn",
    "checked_times",
    "default_progress",
    "download_file",
    "stderr_progress",
]

T = TypeVar("T")

# progress(url, bytes_done, bytes_total or None), called after every chunk.
ProgressFn: TypeAlias = Callable[[str, int, int | None], None]

# limit(first bytes) -> the most bytes the body may have, or None while it cannot tell yet.
Limit: TypeAlias = Callable[[bytes], int | None]

DEFAULT_TIMEOUT = 30.0
DEFAULT_DEADLINE = 900.0  # MNIST's 11 MB at 12 kB/s; a mirror slower than that is broken
_CHUNK = 1 << 16
_HEAD = 1 << 16  # the first bytes must tell ``limit`` what it needs within this many
# Some hosts refuse urllib's default agent string.
_HEADERS = {"User-Agent": "functional_nn-data/0.1 (python urllib)"}


class DownloadError(DatasetError):
    """Every mirror failed to deliver a valid copy of a file."""


class _Deadline(TimeoutError):
    """A mirror took longer than the whole download may."""


def download_file(
    urls: Sequence[str],
    dest: StrPath,
    *,
    check: Callable[[Path, str], T],
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressFn | None = None,
    hint: str = "",
    deadline: float | None = DEFAULT_DEADLINE,
    max_bytes: int | None = None,
    limit: Limit | None = None,
) -> T:
    """Fetch the first URL that yields a file ``check`` accepts, into ``dest``.

    Each attempt streams to a temporary file beside ``dest``; ``check(tmp, url)``
    verifies it (raising ``ValueError``/``OSError`` to reject) and its result is
    returned once the file is renamed into place. On any failure, including
    ``KeyboardInterrupt``, nothing is left under ``dest`` nor any temporary.

    A body is refused as soon as it would exceed ``max_bytes`` or the limit ``limit`` sets
    from its first bytes (``limit`` may also raise ``ValueError`` to refuse them), and an
    attempt as soon as it has taken ``deadline`` seconds (at most ``timeout`` more).
    """
    timeout, deadline = checked_times(timeout, deadline)
    target = Path(nul_free(dest))
    failures: list[str] = []
    with atomic.new_folders(target.parent):  # a failed download leaves no folder it made
        for url in urls:
            try:
                bounds = _Bounds(timeout, deadline, max_bytes, limit)
                return _fetch_one(url, target, check, bounds, progress)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                failures.append(f"  - {url}: {_reason(exc, timeout)}")
    tried = "\n".join(failures) or "  (no mirror URLs configured)"
    raise DownloadError(
        f"could not download {target.name} into {target.parent}; every mirror failed:\n"
        f"{tried}" + (f"\n{hint}" if hint else "")
    )


def checked_times(timeout: float, deadline: float | None) -> tuple[float, float | None]:
    """``timeout`` (finite, > 0) and ``deadline`` (``None`` or > 0), or a one-line error
    naming the one at fault: else the socket's own error would be told once per mirror."""
    seconds = validators.positive("timeout", timeout)
    if deadline is None:
        return seconds, None
    return seconds, validators.check("deadline", deadline, lambda x: x > 0, "None or > 0")


@attrs.frozen
class _Bounds:
    """How long and how large one attempt may be."""

    timeout: float
    deadline: float | None
    max_bytes: int | None
    limit: Limit | None


def _fetch_one(
    url: str,
    target: Path,
    check: Callable[[Path, str], T],
    bounds: _Bounds,
    progress: ProgressFn | None,
) -> T:
    """Download ``url`` to a temp file, ``check`` it, then rename it to ``target``."""
    with atomic.replacing(target, suffix=".part") as staged:
        _stream(url, staged.file, bounds, progress)
        staged.file.flush()  # check reads the file by name
        return check(staged.path, url)


def _stream(url: str, out: BinaryIO, bounds: _Bounds, progress: ProgressFn | None) -> None:
    """Copy the body of ``url`` into ``out``, failing if it ends short or goes too far."""
    started = time.monotonic()
    request = urllib.request.Request(url, headers=_HEADERS)
    with urllib.request.urlopen(request, timeout=bounds.timeout) as response:
        total: int | None = getattr(response, "length", None)  # Content-Length, if sent
        most = bounds.max_bytes
        if total is not None and most is not None and total > most:
            raise ValueError(f"the body would be {total} bytes (its Content-Length), more "
                             f"than the {most} a valid file can have")
        head, done, deciding = b"", 0, bounds.limit is not None
        # read1: at most one read from the socket, so the deadline is checked between them.
        while chunk := response.read1(_CHUNK):
            if deciding and bounds.limit is not None:
                head += chunk[:_HEAD - len(head)]
                allowed = bounds.limit(head)
                if allowed is not None:
                    most, deciding = allowed if most is None else min(most, allowed), False
                elif len(head) >= _HEAD:
                    raise ValueError(f"the first {_HEAD} bytes do not begin a file of the "
                                     "expected kind")
            if most is not None and done + len(chunk) > most:
                raise ValueError(f"the body is longer than {most} bytes, the most a valid "
                                 "file can have; stopped there")
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(url, done, total)
            if bounds.deadline is not None and time.monotonic() - started > bounds.deadline:
                raise _Deadline(f"took longer than the deadline of {bounds.deadline:g} s "
                                f"({done} bytes received)")
    # http.client returns b"" (no error) when the peer closes early on sized reads.
    if total is not None and done != total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")


def _reason(exc: BaseException, timeout: float) -> str:
    """Describe why one mirror failed, in a few words."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, _Deadline):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return f"timed out (timeout={timeout}s)"
    return f"{type(exc).__name__}: {exc}"


def stderr_progress(url: str, done: int, total: int | None) -> None:
    """Draw a one-line progress indicator for ``url`` on stderr."""
    name = url.rsplit("/", 1)[-1]
    if total:
        text = f"{name}: {100 * done // total:3d}% ({done / 1e6:.1f}/{total / 1e6:.1f} MB)"
    else:
        text = f"{name}: {done / 1e6:.1f} MB"
    end = "\n" if total is not None and done >= total else ""
    sys.stderr.write(f"\r{text}{end}")
    sys.stderr.flush()


def default_progress() -> ProgressFn | None:
    """Return ``stderr_progress`` when stderr is a terminal, else ``None`` (silent)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return stderr_progress if isatty is not None and isatty() else None
