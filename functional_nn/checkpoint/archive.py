"""The checkpoint file: written atomically as an ``.npz``, read back without ever unpickling.

The file is an uncompressed zip of ``.npy`` members that ``numpy.load`` can read: one per leaf,
named by its key, and ``__structure__``, a JSON record as UTF-8 bytes in a 1-d ``uint8``
array: ``{"format": "functional_nn.checkpoint", "version": 1, "metadata": {...}, "tree":
{...}}`` (``tree`` is the structure record of :mod:`.record`). Every problem with a file
raises :class:`~.errors.CheckpointError` naming the file; a missing file too.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import zipfile
from collections.abc import Iterator, Mapping
from typing import IO, TypeVar, overload

import attrs
import numpy as np
import numpy.typing as npt

from .. import _atomic as atomic
from ..flat import from_flattened, to_flattened
from ..tree import tree_structure, tree_unflatten
from .errors import CheckpointError, RecordError
from .leaves import LeafInfo, leaf_value
from .npz import MAX_RECORD, Members
from .rebuilt import check_rebuilt
from .record import Record, first_difference_of, from_json, from_tree, to_treedef
from .values import json_metadata

__all__ = ["FORMAT", "VERSION", "CheckpointInfo", "load", "load_metadata", "read_info", "save"]

T = TypeVar("T")

FORMAT = "functional_nn.checkpoint"
VERSION = 1
STRUCTURE_KEY = "__structure__"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same tree gives the same bytes


@attrs.frozen
class CheckpointInfo:
    """What a checkpoint holds, read without loading its arrays: see :func:`read_info`."""

    path: str
    version: int
    metadata: dict[str, object] = attrs.field(hash=False)
    structure: str
    leaves: tuple[LeafInfo, ...]

    @property
    def size(self) -> int:
        """The number of scalars in all leaves."""
        return sum(math.prod(leaf.shape) for leaf in self.leaves)


# --- saving ---------------------------------------------------------------------------------


def _write_npz(file: IO[bytes], record: str, keys: list[str],
               arrays: list[npt.NDArray[np.generic]]) -> None:
    members = [(STRUCTURE_KEY, np.frombuffer(record.encode("utf-8"), dtype=np.uint8))]
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in [*members, *zip(keys, arrays, strict=True)]:
            info = zipfile.ZipInfo(key + ".npy", date_time=_EPOCH)
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def save(path: str | os.PathLike[str], tree: object, *,
         metadata: Mapping[str, object] | None = None) -> None:
    """Write ``tree`` (and JSON ``metadata``) to the ``.npz`` file ``path``, atomically.

    The file is written to a temporary file in the same directory, flushed, synced and then
    renamed onto ``path``: an error, Ctrl-C, SIGTERM or SIGHUP leaves any previous checkpoint
    intact and no temporary file behind; a process killed outright (SIGKILL, a power cut)
    leaves the previous checkpoint intact and a temporary file that the next save to ``path``
    removes. ``path`` is used exactly (no ``.npz`` is appended). Raises
    :class:`CheckpointError`, before touching the disk, for a leaf, a static field value or a
    metadata value that a checkpoint cannot hold, and when the file cannot be written.
    """
    name = os.fspath(path)
    try:
        record, leaves, arrays = from_tree(to_flattened(tree))
        meta = json_metadata(metadata)
    except RecordError as error:
        raise CheckpointError(f"cannot save {name}: {error}") from None
    keys = [leaf.key for leaf in leaves]
    if len(set(keys)) != len(keys) or STRUCTURE_KEY in keys or any(
            zipfile.ZipInfo(k).filename != k for k in keys):
        raise CheckpointError(f"cannot save {name}: the tree's leaf paths {keys} are not "
                              f"distinct file names (or one is {STRUCTURE_KEY})")
    text = json.dumps({"format": FORMAT, "version": VERSION, "metadata": meta,
                       "tree": record}, allow_nan=False)
    if len(text.encode("utf-8")) > MAX_RECORD:  # a file that load would refuse
        raise CheckpointError(f"cannot save {name}: its structure record and metadata take "
                              f"{len(text.encode('utf-8'))} bytes, more than the {MAX_RECORD} "
                              "a checkpoint may hold")
    if os.path.isdir(name):
        raise CheckpointError(f"cannot save {name}: it is a directory")
    try:
        with atomic.replacing(name, durable=True) as staged:
            _write_npz(staged.file, text, keys, arrays)
    except OSError as error:
        raise CheckpointError(f"cannot save {name}: {error.strerror or error}") from error


# --- loading --------------------------------------------------------------------------------


@contextlib.contextmanager
def _errors(name: str, prefix: str = "") -> Iterator[None]:
    """Turn a ``RecordError`` into a ``CheckpointError`` naming the file."""
    try:
        yield
    except RecordError as error:
        raise CheckpointError(f"{name}: {prefix}{error}") from None
    except RecursionError:
        raise CheckpointError(f"{name}: {prefix}the structure is nested too deeply") from None


@attrs.frozen
class _Archive:
    """An open checkpoint whose structure record has been read and checked."""

    name: str
    members: Members
    version: int
    metadata: dict[str, object] = attrs.field(hash=False)
    record: Record

    def leaves(self) -> list[object]:
        """Every leaf, in leaf order, each checked against its record before it is read."""
        with _errors(self.name):
            return [leaf_value(info, self.members.array(info)) for info in self.record.leaves]


def _read_record(name: str, members: Members) -> _Archive:
    files = members.keys
    if STRUCTURE_KEY not in files:
        raise CheckpointError(f"{name}: not a functional_nn checkpoint: no {STRUCTURE_KEY} "
                              f"record (an npz holding {files[:5]})")
    raw = members.record(STRUCTURE_KEY)
    try:
        obj: object = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise CheckpointError(f"{name}: the structure record is not valid JSON: {error}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{name}: not a functional_nn checkpoint (format {found!r})")
    version, metadata = obj.get("version"), obj.get("metadata")
    if version != VERSION or type(version) is not int:
        raise CheckpointError(f"{name}: unsupported checkpoint format version {version!r}; "
                              f"this functional_nn reads version {VERSION}")
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{name}: the metadata in the structure record is not an object")
    with _errors(name):
        record = from_json(obj.get("tree"))
    keys = [leaf.key for leaf in record.leaves]
    if len(set(keys)) != len(keys):
        raise CheckpointError(f"{name}: the checkpoint names an array twice")
    missing = sorted(set(keys) - set(files))
    extra = sorted(set(files) - set(keys) - {STRUCTURE_KEY})
    if missing or extra:
        problem = f"missing arrays {missing}" if missing else f"unexpected arrays {extra}"
        raise CheckpointError(f"{name}: the arrays do not match the structure record: {problem}")
    return _Archive(name, members, version, metadata, record)


@contextlib.contextmanager
def _open(path: str | os.PathLike[str]) -> Iterator[_Archive]:
    name = os.fspath(path)
    try:
        file = atomic.open_regular(name)  # a FIFO is refused, not waited on
    except FileNotFoundError:
        raise CheckpointError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{name}: is a directory, not a checkpoint file") from None
    except OSError as error:
        raise CheckpointError(f"{name}: cannot open: {error.strerror or error}") from error
    with file:
        if os.fstat(file.fileno()).st_size == 0:
            raise CheckpointError(f"{name}: not a checkpoint: the file is empty")
        head = file.read(6)
        file.seek(0)
        if head == b"\x93NUMPY":
            raise CheckpointError(f"{name}: not a checkpoint: a .npy array, not an npz file")
        if not head.startswith(b"PK"):
            raise CheckpointError(f"{name}: not a checkpoint: not an npz file (no zip header)")
        members = Members(name, file)  # never numpy's loader: it suggests unpickling
        try:
            yield _read_record(name, members)
        finally:
            members.close()


@overload
def load(path: str | os.PathLike[str], like: None = None) -> object: ...


@overload
def load(path: str | os.PathLike[str], like: T) -> T: ...


def load(path: str | os.PathLike[str], like: object = None) -> object:
    """The tree saved in ``path``; array leaves are read-only and bit-identical to those saved.

    Without ``like``, the tree is rebuilt from the structure record, so a model loads without
    knowing its architecture. Its attrs and named-tuple classes are looked up by name among
    the modules already imported (and functional_nn's own modules): import the module that
    defines a class before loading, since a checkpoint never imports anything itself.

    With ``like``, the saved structure, dtypes and shapes must equal those of ``like``, and the
    tree is rebuilt the same way as ``tree_unflatten(tree_structure(like), leaves)``. A
    :class:`~functional_nn.flat.Flat` is saved as its tree, keyed by the tree's paths, and
    loads as a Flat again. Either way
    a mismatch or a bad file raises :class:`CheckpointError` naming the file and the first
    difference, e.g. ``at layers[2].w: expected float32 array of shape (16, 10), found ...``.
    """
    with _open(path) as archive:
        if like is None:
            with _errors(archive.name, "cannot rebuild the tree: "):
                treedef = to_treedef(archive.record)
        else:
            with _errors(archive.name, "like= is not a tree a checkpoint can hold: "):
                like = to_flattened(like)
                expected = from_json(from_tree(like)[0])
            difference = first_difference_of(expected, archive.record)
            if difference is not None:
                raise CheckpointError(f"{archive.name} does not match like= {difference}")
            treedef = tree_structure(like)
        leaves = archive.leaves()
        tree = tree_unflatten(treedef, leaves)
        with _errors(archive.name):
            check_rebuilt(tree)
    return from_flattened(tree)


def load_metadata(path: str | os.PathLike[str]) -> dict[str, object]:
    """The metadata saved with a checkpoint (``{}`` if none), without loading its arrays.

    Same as ``read_info(path).metadata``; tuples come back as lists, as JSON has no tuples.
    """
    with _open(path) as archive:
        return archive.metadata


def read_info(path: str | os.PathLike[str]) -> CheckpointInfo:
    """What a checkpoint holds: metadata, a one-line structure, each leaf's dtype and shape.

    Reads only the structure record, never the arrays, and needs none of the classes named.
    """
    with _open(path) as archive:
        return CheckpointInfo(archive.name, archive.version, archive.metadata,
                              archive.record.describe(), archive.record.leaves)
