"""Download files with the standard library: mirrors in turn, verified, atomic."""

from __future__ import annotations

import http.client
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, TypeAlias, TypeVar

from .. import _atomic as atomic
from .idx import DatasetError, StrPath

__all__ = [
    "DEFAULT_TIMEOUT",
    "DownloadError",
    "ProgressFn",
    "default_progress",
    "download_file",
    "stderr_progress",
]

T = TypeVar("T")

# progress(url, bytes_done, bytes_total or None), called after every chunk.
ProgressFn: TypeAlias = Callable[[str, int, int | None], None]

DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 16
# Some hosts refuse urllib's default agent string.
_HEADERS = {"User-Agent": "functional_nn-data/0.1 (python urllib)"}


class DownloadError(DatasetError):
    """Every mirror failed to deliver a valid copy of a file."""


def download_file(
    urls: Sequence[str],
    dest: StrPath,
    *,
    check: Callable[[Path, str], T],
    timeout: float = DEFAULT_TIMEOUT,
    progress: ProgressFn | None = None,
    hint: str = "",
) -> T:
    """Fetch the first URL that yields a file ``check`` accepts, into ``dest``.

    Each attempt streams to a temporary file beside ``dest``; ``check(tmp, url)``
    verifies it (raising ``ValueError``/``OSError`` to reject) and its result is
    returned once the file is renamed into place. On any failure, including
    ``KeyboardInterrupt``, nothing is left under ``dest`` nor any temporary.
    """
    target = Path(dest)
    created = _make_folders(target.parent)
    failures: list[str] = []
    try:
        for url in urls:
            try:
                return _fetch_one(url, target, check, timeout, progress)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                failures.append(f"  - {url}: {_reason(exc, timeout)}")
    finally:
        _remove_if_empty(created)
    tried = "\n".join(failures) or "  (no mirror URLs configured)"
    raise DownloadError(
        f"could not download {target.name} into {target.parent}; every mirror failed:\n"
        f"{tried}" + (f"\n{hint}" if hint else "")
    )


def _make_folders(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created, deepest first."""
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove folders a failed download created, so a mistyped path leaves no trace."""
    for folder in folders:
        try:
            folder.rmdir()  # only succeeds while empty: a successful download stays
        except OSError:
            return


def _fetch_one(
    url: str,
    target: Path,
    check: Callable[[Path, str], T],
    timeout: float,
    progress: ProgressFn | None,
) -> T:
    """Download ``url`` to a temp file, ``check`` it, then rename it to ``target``."""
    with atomic.replacing(target, suffix=".part") as staged:
        _stream(url, staged.file, timeout, progress)
        staged.file.flush()  # check reads the file by name
        return check(staged.path, url)


def _stream(url: str, out: BinaryIO, timeout: float, progress: ProgressFn | None) -> None:
    """Copy the body of ``url`` into ``out``, failing if it ends short."""
    request = urllib.request.Request(url, headers=_HEADERS)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total: int | None = getattr(response, "length", None)  # Content-Length, if sent
        done = 0
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(url, done, total)
    # http.client returns b"" (no error) when the peer closes early on sized reads.
    if total is not None and done != total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")


def _reason(exc: BaseException, timeout: float) -> str:
    """Describe why one mirror failed, in a few words."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
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
