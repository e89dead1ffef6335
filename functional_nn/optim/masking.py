"""Transforms that act on some leaves only: decoupled weight decay and :func:`masked`.

A mask picks leaves (``mask(path, leaf) -> bool``, or a tree of bools). On a
:class:`~functional_nn.flat.Flat` it picks the leaves of the flat's tree, and becomes a bool
per element of the buffer (:meth:`~functional_nn.flat.Layout.expand`), so the same formulas run
over the whole vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from .._array import Array, owned
from .._validators import non_negative
from ..flat import Flat
from ..tree import tree_flatten, tree_leaves
from ._leafwise import leafwise
from .base import (
    EmptyState,
    Mask,
    Optimizer,
    expect_optimizer,
    flatten_arrays,
    leaf_flags,
    leaves_like,
    mask_flags,
)
from .transforms import empty_init

__all__ = ["MaskedState", "add_decayed_weights", "masked"]

P = TypeVar("P")
S = TypeVar("S")
Flag = bool | npt.NDArray[np.bool_]


def add_decayed_weights(weight_decay: float,
                        mask: Mask | None = None) -> Optimizer[EmptyState]:
    """Decoupled weight decay: ``u ← u + λ·p`` on the leaves the mask selects (all by default).

    Followed by :func:`~.transforms.scale_by_learning_rate` this is the ``p ← p − η·λ·p`` of
    AdamW (Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, 2019). ``mask`` is a
    :data:`~.base.MaskFn` such as ``lambda path, leaf: not path.endswith(".b")`` or a tree of
    bools; the leaves it leaves out decay at the rate 0 (``u ← u + 0·p``).
    """
    wd = non_negative("weight_decay", weight_decay)

    def decay(u: Array, p: Array, rate: Array | float) -> tuple[Array]:
        out = np.multiply(p, rate, out=np.empty(p.shape, p.dtype))
        out += u
        return (out,)

    def update_fn(grads: P, state: EmptyState, params: P) -> tuple[P, EmptyState]:
        updates: P = leafwise(decay, (grads, params, _rates(wd, mask, params)),
                              ("the updates", "params", "the decay rates"))[0]
        return updates, state

    return Optimizer(empty_init, update_fn)


def _rates(wd: float, mask: Mask | None, params: object) -> object:
    """The decay rate of each leaf, as a tree like ``params``: ``wd`` where the mask selects
    and 0 elsewhere; on a Flat, a Flat of one rate per element (made once per layout and mask
    function)."""
    if isinstance(params, Flat):
        key = (params.layout, mask, wd) if mask is None or callable(mask) else None
        found = _FLAT_RATES.get(key) if key is not None else None
        if found is None:
            layout = params.layout
            flags = [True] * len(layout.shapes) if mask is None else leaf_flags(mask, params)
            found = Flat.of(layout, layout.expand([wd if f else 0.0 for f in flags],
                                                  layout.dtype))
            if key is not None:
                if len(_FLAT_RATES) >= 64:  # a bound for programs that make many layouts
                    _FLAT_RATES.clear()
                _FLAT_RATES[key] = found
        return found
    leaves, treedef = tree_flatten(params)
    flags = [True] * len(leaves) if mask is None else leaf_flags(mask, params)
    return treedef.unflatten([wd if f else 0.0 for f in flags])


_FLAT_RATES: dict[tuple[object, object, float], Flat[Any]] = {}


@attrs.frozen
class MaskedState(Generic[S]):
    """The inner transform's state, which holds nothing for the leaves left out."""

    inner: S


def _pruned(leaves: Sequence[object], flags: Sequence[Flag]) -> list[object]:
    return [None if f is False else leaf for leaf, f in zip(leaves, flags, strict=True)]


def _select(flag: Flag, inner: Array, g: Array) -> Array:
    if flag is True:
        return inner
    if flag is False:
        return g
    return owned(np.where(flag, inner, g))  # an element mask (a Flat)


def masked(transform: Optimizer[S], mask: Mask) -> Optimizer[MaskedState[S]]:
    """Apply ``transform`` to the leaves the mask selects; the others pass through unchanged.

    ``mask`` is ``mask(path, leaf) -> bool`` (paths as :func:`~functional_nn.tree.tree_paths`
    spells them, such as ``layers[2].b``), or a tree of bools with the structure of the
    parameters. The inner transform sees the tree with the left-out leaves replaced by
    ``None`` (an empty node), so its state has no entries for them. Same as ``optax.masked``.
    On a :class:`~functional_nn.flat.Flat` the inner transform sees the whole buffer (its state
    covers every element) and the elements left out keep their incoming values.

    >>> from functional_nn.optim.alias import sgd
    >>> opt = masked(sgd(0.5), lambda path, leaf: path != "['b']")
    >>> params = {"w": np.ones(2), "b": np.ones(1)}
    >>> updates, _ = opt.update(params, opt.init(params), params)
    >>> updates["w"], updates["b"] is params["b"]
    (array([-0.5, -0.5]), True)
    """
    expect_optimizer(transform, "masked's transform")

    def init_fn(params: P) -> MaskedState[S]:
        leaves, treedef = tree_flatten(params)
        return MaskedState(transform.init(treedef.unflatten(
            _pruned(leaves, mask_flags(mask, params)))))

    def update_fn(grads: P, state: MaskedState[S], params: P) -> tuple[P, MaskedState[S]]:
        leaves, treedef = flatten_arrays(grads)
        ps = leaves_like(treedef, params, "params")
        flags = mask_flags(mask, params)
        inner_updates, inner_state = transform.update(
            treedef.unflatten(_pruned(leaves, flags)), state.inner,
            treedef.unflatten(_pruned(ps, flags)))
        inner_leaves = tree_leaves(inner_updates)
        selected = [f for f in flags if f is not False]
        if len(inner_leaves) != len(selected):
            raise ValueError(f"the masked transform returned {len(inner_leaves)} leaves for "
                             f"{len(selected)} selected ones")
        it = iter(inner_leaves)
        out = [g if f is False else _select(f, next(it), g)  # type: ignore[arg-type]
               for g, f in zip(leaves, flags, strict=True)]
        return treedef.unflatten(out), MaskedState(inner_state)

    return Optimizer(init_fn, update_fn)
