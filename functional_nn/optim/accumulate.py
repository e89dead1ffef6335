"""Gradient accumulation: one inner update for every ``k`` micro-batches."""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs
import numpy as np

from .._array import Array, owned
from ..maps import tree_map
from .base import Optimizer, Tree, expect_optimizer, flatten_arrays, leaves_like

__all__ = ["AccumulateState", "accumulate"]

P = TypeVar("P")
S = TypeVar("S")


@attrs.frozen
class AccumulateState(Generic[S]):
    """``mini_step`` micro-batch gradients summed in ``grad_sum`` since the last inner update,
    and the inner transform's state."""

    mini_step: int
    grad_sum: Tree
    inner: S


def _zeros(leaf: Array) -> Array:
    return owned(np.zeros_like(leaf))


def accumulate(transform: Optimizer[S], every_k: int) -> Optimizer[AccumulateState[S]]:
    """Sum the gradients of ``every_k`` calls and apply ``transform`` to their mean on the
    ``every_k``-th call; the calls in between return zero updates.

    With gradients that are means over equal micro-batches, ``k`` calls give the same
    parameters as one call on the batch ``k`` times larger. Same as ``optax.MultiSteps``
    (with the mean taken as ``sum / k``). The sums have the dtype of the parameters.

    >>> from functional_nn.optim.alias import sgd
    >>> opt = accumulate(sgd(1.0), every_k=2)
    >>> params = {"w": np.zeros(1)}
    >>> state = opt.init(params)
    >>> u1, state = opt.update({"w": np.array([1.0])}, state, params)
    >>> u2, state = opt.update({"w": np.array([3.0])}, state, params)
    >>> u1["w"], u2["w"], state.mini_step
    (array([0.]), array([-2.]), 0)
    """
    expect_optimizer(transform, "accumulate's transform")
    if isinstance(every_k, bool) or not isinstance(every_k, int):
        raise TypeError(f"every_k must be an integer, got {every_k!r}")
    if every_k < 1:
        raise ValueError(f"every_k must be >= 1, got {every_k!r}")
    k = every_k

    def init_fn(params: P) -> AccumulateState[S]:
        return AccumulateState(0, tree_map(_zeros, params), transform.init(params))

    def update_fn(grads: P, state: AccumulateState[S],
                  params: P) -> tuple[P, AccumulateState[S]]:
        leaves, treedef = flatten_arrays(grads)
        sums = leaves_like(treedef, state.grad_sum, "the gradient sum")
        step = state.mini_step + 1
        new_sums: list[object] = []
        for g, s in zip(leaves, sums, strict=True):
            total = np.add(s, g, out=np.empty(s.shape, s.dtype), dtype=s.dtype)
            if step == k:
                total /= s.dtype.type(k)
            new_sums.append(owned(total))
        if step < k:
            zeros = treedef.unflatten([_zeros(g) for g in leaves])
            return zeros, AccumulateState(step, treedef.unflatten(new_sums), state.inner)
        updates, inner = transform.update(treedef.unflatten(new_sums), state.inner, params)
        return updates, AccumulateState(0, tree_map(_zeros, state.grad_sum), inner)

    return Optimizer(init_fn, update_fn)
