"""Leaf-by-leaf maps for the transforms: one formula per leaf, any number of outputs.

A transform's formula is a function of one leaf of each input tree. On a
:class:`~functional_nn.flat.Flat` the only leaf is the whole buffer, so the formula runs as a
few passes over one vector, whatever the number of parameter leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._array import Array, owned
from ..flat import Flat, owned_flats
from ..tree import TreeStructureError, tree_flatten

__all__ = ["leafwise", "zeros_like"]


def leafwise(f: Callable[..., tuple[Array, ...]], trees: tuple[object, ...],
             names: tuple[str, ...], outputs: int = 1) -> tuple[Any, ...]:
    """The trees of ``f``'s outputs, ``f`` applied to the leaves of ``trees`` side by side.

    Same as ``unzip(tree_map(f, *trees))`` for ``f`` of ``outputs`` results. ``trees[0]``
    gives the structure; the others must have it too (``names`` name them in the error
    otherwise). ``f`` returns fresh arrays (they are handed out read-only).
    """
    first = trees[0]
    if type(first) is Flat:  # a Flat's one leaf is its buffer: no general flatten and rebuild
        layout = first.layout
        buffers = [t.buffer for t in trees if type(t) is Flat and t.layout is layout]
        if len(buffers) == len(trees):
            return owned_flats(layout, f(*buffers))
    leaves, treedef = tree_flatten(trees[0])
    columns = [leaves]
    for tree, name in zip(trees[1:], names[1:], strict=True):
        other_leaves, other = tree_flatten(tree)
        if other != treedef:
            raise TreeStructureError(f"{name} has structure {other!r}, expected {treedef!r}")
        columns.append(other_leaves)
    results = [f(*xs) for xs in zip(*columns, strict=True)]
    return tuple(treedef.unflatten([_owned(r[j]) for r in results]) for j in range(outputs))


def _owned(result: Array) -> Array:
    # numpy gives a scalar, not an array, for arithmetic on 0-d arrays
    return owned(result if type(result) is np.ndarray else np.asarray(result))


def _zeros(leaf: Array) -> tuple[Array]:
    return (np.zeros_like(leaf),)


def zeros_like(params: object) -> Any:
    """A tree of zeros shaped like ``params`` (a Flat of zeros for a Flat), read-only."""
    return leafwise(_zeros, (params,), ("params",))[0]
