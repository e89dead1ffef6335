"""The checkpoint's two errors: the one callers see, and the one raised before a file is named.

The record's modules raise :class:`RecordError` (what is wrong with a tree or a record);
:mod:`.archive`, which knows the file, turns it into a :class:`CheckpointError` naming it.
"""

from __future__ import annotations

__all__ = ["CheckpointError", "RecordError"]


class CheckpointError(ValueError):
    """A checkpoint cannot be saved or loaded; the message names the file and the problem."""


class RecordError(Exception):
    """A tree that cannot be recorded, or a record that is malformed or does not match."""
