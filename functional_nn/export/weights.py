"""Weights as safetensors files: :func:`to_safetensors`, :func:`from_safetensors` and
:func:`safetensors_metadata`.

A file holds each array leaf of a tree under its path written with dots (:func:`weight_keys`:
``layers.0.w`` for ``layers[0].w``, as :mod:`.paths` names it; a
:class:`~functional_nn.flat.Flat`'s under its tree's paths), and the caller's metadata
(strings: JSON-encode the rest). Loading takes a tree of the structure to fill (``like``):
the file must hold exactly its keys, each of its shape and dtype, or the error names the
first key at fault, and the leaves come back bit for bit. A file is read by safetensors' own
checked parser (a capped header whose offsets must tile the data), and no tensor is read
before every key, shape and dtype has matched.

>>> import os, tempfile
>>> from functional_nn import mlp
>>> net = mlp([3, 2], seed=0)
>>> with tempfile.TemporaryDirectory() as folder:
...     to_safetensors(net, os.path.join(folder, "net.safetensors"), metadata={"seed": "0"})
...     back = from_safetensors(os.path.join(folder, "net.safetensors"), like=net)
...     safetensors_metadata(os.path.join(folder, "net.safetensors"))
{'seed': '0'}
>>> weight_keys(net), bool((back.layers[0].w == net.layers[0].w).all())
(['layers.0.w', 'layers.0.b'], True)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar, cast

import numpy as np

from .. import _atomic as atomic
from .._array import owned
from ..flat import from_flattened
from ..tree import TreeDef, tree_unflatten
from .errors import ExportError, require
from .files import string_metadata, write_file
from .paths import keyed_leaves

__all__ = ["from_safetensors", "safetensors_metadata", "to_safetensors", "weight_keys"]

T = TypeVar("T")

_CODES = {np.dtype(t): code for code, t in [
    ("F64", np.float64), ("F32", np.float32), ("F16", np.float16), ("I64", np.int64),
    ("U64", np.uint64), ("I32", np.int32), ("U32", np.uint32), ("I16", np.int16),
    ("U16", np.uint16), ("I8", np.int8), ("U8", np.uint8), ("BOOL", np.bool_),
    ("C64", np.complex64)]}
"""safetensors' name of each dtype that it and ``safetensors.numpy`` both know."""


def _leaves(tree: object) -> tuple[list[str], list[np.ndarray], TreeDef[Any]]:
    """The keys and array leaves of ``tree`` (its Flats as their trees), and its structure."""
    keys, leaves, treedef = keyed_leaves(tree)
    for k, leaf in zip(keys, leaves, strict=True):
        if not isinstance(leaf, np.ndarray) or leaf.dtype not in _CODES:
            what = (f"an array of dtype {leaf.dtype}" if isinstance(leaf, np.ndarray)
                    else f"a {type(leaf).__name__}, not an array")
            raise ExportError(f"leaf {k} is {what}: a safetensors file holds arrays of "
                              f"{', '.join(sorted(str(d) for d in _CODES))}")
    return keys, cast("list[np.ndarray]", leaves), treedef


def weight_keys(tree: object) -> list[str]:
    """The key of each array leaf of ``tree`` in a safetensors file, in leaf order."""
    return _leaves(tree)[0]


def to_safetensors(tree: object, path: str | os.PathLike[str], *,
                   metadata: Mapping[str, str] | None = None) -> None:
    """Write the array leaves of ``tree`` (parameters, a ``Flat``, model state, or a dict of
    them) to ``path`` as a safetensors file with ``metadata``, atomically."""
    require("safetensors", "safetensors export")
    from safetensors.numpy import save

    props = string_metadata(metadata)  # before any copy of the leaves is made
    keys, leaves, _ = _leaves(tree)
    tensors = {k: np.require(leaf, requirements="C") for k, leaf in zip(keys, leaves, strict=True)}
    write_file(path, save(tensors, metadata=props or None))


def _check_header(name: str, file: Any, keys: list[str], leaves: list[np.ndarray]) -> None:
    """Fail unless the open file holds exactly ``keys``, with the leaves' shapes and dtypes."""
    found = set(file.keys())
    for k, leaf in zip(keys, leaves, strict=True):
        if k not in found:
            raise ExportError(f"{name}: has no tensor {k}: it holds another network's "
                              f"weights (the file has {len(found)} tensors, the tree "
                              f"{len(keys)})")
        tensor = file.get_slice(k)
        shape, code = tuple(tensor.get_shape()), tensor.get_dtype()
        if shape != leaf.shape or code != _CODES[leaf.dtype]:
            raise ExportError(f"{name}: {k} is {code}{list(shape)} in the file but "
                              f"{_CODES[leaf.dtype]}{list(leaf.shape)} in the tree")
    extra = sorted(found - set(keys))
    if extra:
        raise ExportError(f"{name}: holds {extra[0]}, which the tree has no leaf for "
                          f"({len(extra)} such tensors): it holds another network's weights")


def _reading(name: str, error: Exception) -> ExportError:
    if isinstance(error, OSError):
        return ExportError(f"cannot read {name}: {error.strerror or error}")
    detail = " ".join(str(error).split())
    return ExportError(f"{name}: not a readable safetensors file ({detail})")


@contextlib.contextmanager
def _open(name: str) -> Iterator[Any]:
    """safe_open of ``name``, a regular file: a FIFO or device is an ``OSError`` at once."""
    from safetensors import safe_open

    with atomic.open_regular(name) as held:  # safe_open would wait on a FIFO forever
        # safe_open takes a name: the held descriptor's own makes it map the file that was
        # checked, not whatever has been put at the path since.
        fd_path = f"/dev/fd/{held.fileno()}"
        with safe_open(fd_path if os.path.exists(fd_path) else name, framework="np") as file:
            yield file


def from_safetensors(path: str | os.PathLike[str], *, like: T) -> T:
    """The tree of ``like``'s structure with the arrays of the safetensors file ``path``: the
    same keys, shapes and dtypes, bit for bit; :class:`ExportError` naming what differs."""
    require("safetensors", "safetensors loading")
    from safetensors import SafetensorError

    keys, leaves, treedef = _leaves(like)
    name = os.fspath(path)
    try:
        with _open(name) as file:
            _check_header(name, file, keys, leaves)
            arrays = [owned(np.array(file.get_tensor(k))) for k in keys]
    except (OSError, SafetensorError) as error:
        raise _reading(name, error) from None
    return cast("T", from_flattened(tree_unflatten(treedef, arrays)))


def safetensors_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of the safetensors file ``path`` (``{}`` when it has none)."""
    require("safetensors", "safetensors loading")
    from safetensors import SafetensorError

    name = os.fspath(path)
    try:
        with _open(name) as file:
            found = file.metadata()
    except (OSError, SafetensorError) as error:
        raise _reading(name, error) from None
    return dict(found or {})
