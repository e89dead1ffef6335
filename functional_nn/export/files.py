"""What an export file is made of besides the network: string metadata, checked; and the one
way a file is written (atomically, a failure as one line naming the file)."""

from __future__ import annotations

import os
import reprlib
from collections.abc import Mapping

from .. import _atomic as atomic
from .errors import ExportError

__all__ = ["string_metadata", "write_file"]


def string_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """``metadata`` as a dict of strings (both formats hold only strings: JSON-encode other
    values); ``TypeError`` when it is not a mapping, :class:`ExportError` naming an entry
    that is not a string."""
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict of str to str (JSON-encode other values), "
                        f"got a {type(metadata).__name__}: {reprlib.repr(metadata)}")
    items = dict(metadata or {})
    for name, value in items.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ExportError(f"metadata holds strings only (JSON-encode other values), got "
                              f"{name!r}: {type(value).__name__}")
    return items


def write_file(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a failure leaves any old file as it was."""
    if os.path.isdir(path):
        raise ExportError(f"cannot write {os.fspath(path)}: it is a directory")
    try:
        atomic.write_bytes(path, data, durable=True)
    except OSError as error:
        raise ExportError(f"cannot write {os.fspath(path)}: {error.strerror or error}") from None
