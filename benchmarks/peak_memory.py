"""Peak resident memory of a benchmark's child process, from /proc (shared by the benchmarks).

``reset_peak()`` resets the kernel's high-water mark (``VmHWM``) to the current resident set;
``status_kib(field)`` reads a field of ``/proc/self/status`` in KiB. RSS sees BLAS buffers and
torch's allocator, which tracemalloc does not.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["reset_peak", "status_kib"]


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS; False where /proc does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def status_kib(field: str) -> int:
    """A field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)
