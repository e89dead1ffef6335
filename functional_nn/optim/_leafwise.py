"""Run an elementwise kernel over the leaves of trees: over whole flat buffers when it can.

The fast path: when every input tree is a recorded flat tree (see :mod:`functional_nn._flat`)
of one layout, the kernel runs once over their buffers and the outputs are flat trees of that
layout. Otherwise it runs leaf by leaf, writing into flat output buffers when the trees allow
it (so the next step takes the fast path), else into one fresh array per leaf. Both paths make
the same ufunc calls on every element: their results are bit-identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _flat, _kernels
from .._array import Array, owned
from ..tree import TreeStructureError, tree_flatten, tree_map

__all__ = ["flat_inputs", "leafwise", "zeros_like"]


def flat_inputs(trees: Sequence[object]) -> tuple[_flat.Layout, list[Array]] | None:
    first = _flat.lookup(trees[0])
    if first is None:
        return None
    layout, bases = first[0], [first[1]]
    for tree in trees[1:]:
        record = _flat.lookup(tree)
        if record is None or record[0] is not layout:
            return None
        bases.append(record[1])
    return layout, bases


def leafwise(kernel: _kernels.Kernel, trees: Sequence[object], names: Sequence[str],
             like: int, n_out: int, *scalars: float) -> list[Any]:
    """``n_out`` trees computed by ``kernel(*input_leaves, *output_leaves, *scalars)``.

    ``trees[0]`` gives the structure; the others must have it too (``names`` name them in
    the error otherwise). Outputs have the dtype and shapes of ``trees[like]``'s leaves, and the
    scalars are cast to that dtype. The outputs are read-only; no input is modified.
    """
    flat = flat_inputs(trees)
    if flat is not None:
        layout, bases = flat
        dt = layout.dtype.type
        outs = [_flat.empty(layout) for _ in range(n_out)]
        _kernels.run(kernel, [*bases, *outs], *[dt(s) for s in scalars])
        return [_flat.build(layout, out) for out in outs]
    leaves, treedef = tree_flatten(trees[0])
    columns = [leaves]
    for tree, name in zip(trees[1:], names[1:], strict=True):
        other_leaves, other = tree_flatten(tree)
        if other != treedef:
            raise TreeStructureError(f"{name} has structure {other!r}, expected {treedef!r}")
        columns.append(other_leaves)
    out_layout = _flat.layout_of(trees[like])
    model: list[Array] = columns[like]  # type: ignore[assignment]
    buffers: list[Array] = []
    if out_layout is not None:
        buffers = [_flat.empty(out_layout) for _ in range(n_out)]
        views = [out_layout.views(b) for b in buffers]
    else:
        views = [[np.empty(leaf.shape, leaf.dtype) for leaf in model] for _ in range(n_out)]
    for i, inputs in enumerate(zip(*columns, strict=True)):
        dt = model[i].dtype.type
        _kernels.run(kernel, [*inputs, *[v[i] for v in views]], *[dt(s) for s in scalars])
    if out_layout is not None:
        return [_flat.build(out_layout, b) for b in buffers]
    return [treedef.unflatten([owned(a) for a in v]) for v in views]


def _zeros(leaf: Array) -> Array:
    return owned(np.zeros_like(leaf))


def zeros_like(params: object) -> Any:
    """A tree of zeros shaped like ``params`` (flat when ``params`` allows it), read-only."""
    layout = _flat.layout_of(params)
    if layout is not None:
        return _flat.zeros(layout)
    return tree_map(_zeros, params)
