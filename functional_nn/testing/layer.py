"""check_layer: one layer's registered VJP rule against central finite differences, in float64.

For a layer ``f``, an input ``x`` and a random cotangent ``v``, the scalar ``s(θ, x) = Σ f(x)·v``
has ``∂s/∂θ`` = the gradients the VJP writes into ``out`` and ``∂s/∂x`` = the input cotangent it
returns. Both are compared with central differences of ``s``, entry by entry.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..maps import tree_map
from ..rules import Context, out_like, rule_for
from ..tree import tree_flatten, tree_paths, tree_unflatten
from .grads import GradCheck, check_options, compare_entries, worst_of

__all__ = ["LayerGradientMismatch", "check_layer"]


class LayerGradientMismatch(AssertionError):
    """A layer's VJP disagrees with finite differences, for its input or a parameter."""


def _float64(leaf: object) -> object:
    if isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
        return leaf.astype(np.float64)
    return leaf


def check_layer(layer: object, x: npt.ArrayLike, *, key: tuple[int, ...] | None = None,
                training: bool = True, ctx: Context | None = None, eps: float = 1e-5,
                floor: float = 1e-3, tol: float = 1e-5, max_per_leaf: int | None = 64,
                seed: int = 0) -> GradCheck:
    """Check ``layer``'s registered VJP rule for every parameter leaf and for the input.

    Works for built-in and user-registered kinds; a layer that draws (Dropout) needs ``key``,
    which fixes its draws; ``ctx`` (a :class:`~functional_nn.rules.Context`) replaces
    ``key`` and ``training`` when given, e.g. to pass a layer's state (BatchNorm). At most
    ``max_per_leaf`` entries of each leaf and of ``x`` are checked (``None``: all). Returns
    the worst disagreement; raises :class:`LayerGradientMismatch` naming ``input`` or the
    parameter's path and entry (such as ``w[2, 0]``), with the analytic and numeric values,
    when it exceeds ``tol``. The error is ``|analytic - numeric| / max(|analytic|, |numeric|,
    floor)``: the scalar differenced sums every output, so its float64 round-off over ``eps``
    (about ``1e-16 · Σ|y·v| / eps``) sets how small an entry can be held to ``tol`` relatively.

    >>> from functional_nn.layers import Dense
    >>> check_layer(Dense(np.ones((3, 2)), np.zeros(2)), np.ones((4, 3))).error < 1e-6
    True
    """
    check_options(eps=eps, floor=floor, tol=tol, max_per_leaf=max_per_leaf, seed=seed)
    layer64 = tree_map(_float64, layer)
    x64 = np.asarray(x, dtype=np.float64)
    if ctx is None:
        ctx = Context(training=training, key=key)
    rule = rule_for(layer64)
    y, residual = rule.forward(layer64, x64, ctx)
    v = np.random.default_rng(seed).standard_normal(y.shape)
    out = out_like(layer64)
    gx = rule.vjp(layer64, residual, v.copy(), out, ctx)
    if gx is None and ctx.input_grad:
        raise LayerGradientMismatch(f"{type(layer).__name__}'s VJP returned no input gradient "
                                    "although ctx.input_grad was true")

    def s(params: object, inputs: npt.NDArray[np.float64]) -> float:
        return float((rule.forward(params, inputs, ctx)[0] * v).sum())

    def input_at(index: tuple[int, ...], delta: float) -> float:
        moved = x64.copy()
        moved[index] += delta
        return s(layer64, moved)

    rng = np.random.default_rng(seed + 1)
    results = [] if gx is None else [  # no input gradient asked for: the parameters only
        compare_entries("input", np.asarray(gx), input_at, eps=eps, floor=floor, rng=rng,
                        max_entries=max_per_leaf)]
    leaves, treedef = tree_flatten(layer64)
    grads = tree_flatten(out)[0]
    for k, path in enumerate(tree_paths(layer64)):
        leaf = leaves[k]
        if not isinstance(leaf, np.ndarray) or leaf.dtype.kind != "f" or leaf.size == 0:
            continue

        def param_at(index: tuple[int, ...], delta: float, k: int = k,
                     leaf: np.ndarray = leaf) -> float:
            moved = leaf.copy()
            moved[index] += delta
            return s(tree_unflatten(treedef, [*leaves[:k], moved, *leaves[k + 1:]]), x64)

        results.append(compare_entries(path or "<root>", np.asarray(grads[k]), param_at,
                                       eps=eps, floor=floor, rng=rng, max_entries=max_per_leaf))
    worst = worst_of(results)
    if worst.error > tol:
        raise LayerGradientMismatch(f"{type(layer).__name__}: {worst}")
    return worst
