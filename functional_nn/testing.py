"""Tools for testing gradients: compare analytic gradients with finite differences.

:func:`check_grads` checks a loss's gradient over a whole network; :func:`check_vjp` checks one
layer kind's VJP rule directly, input cotangent included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

import attrs
import numpy as np

from .model import grad as model_grad
from .model import loss as model_loss
from .rules import Context, out_like, rule_for
from .tree import array_leaves, tree_flatten, tree_map, tree_paths, tree_unflatten

__all__ = ["GradCheck", "GradientMismatch", "check_grads", "check_vjp"]

P = TypeVar("P")


class GradientMismatch(AssertionError):
    """An analytic gradient disagrees with finite differences."""


@attrs.frozen
class GradCheck:
    """The worst disagreement found by :func:`check_grads`.

    ``error`` is ``|analytic - numeric| / max(|analytic|, |numeric|, floor)``.
    """

    error: float
    path: str
    index: tuple[int, ...]
    analytic: float
    numeric: float
    checked: int

    def __str__(self) -> str:
        where = f"{self.path}{list(self.index)}" if self.index else self.path
        return (f"worst relative error {self.error:.3g} at {where}: analytic {self.analytic:.10g}"
                f" vs numeric {self.numeric:.10g} ({self.checked} entries checked)")


def _to_float64(leaf: object) -> object:
    if isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
        return leaf.astype(np.float64)
    return leaf


def check_grads(f: Callable[..., float], params: P, *args: object,
                grad_fn: Callable[..., P] | None = None, eps: float = 1e-5,
                floor: float = 1e-4, tol: float = 1e-5, max_per_leaf: int | None = 64,
                seed: int = 0) -> GradCheck:
    """Compare ``grad_fn(params, *args)`` with central finite differences of ``f``, in float64.

    ``grad_fn`` defaults to :func:`functional_nn.grad` when ``f`` is :func:`functional_nn.loss`.
    At most ``max_per_leaf`` entries of each leaf are checked (chosen with ``seed``; ``None``
    checks all). Returns the worst disagreement; raises :class:`GradientMismatch` naming its
    path when that exceeds ``tol``. The step ``eps`` balances the central difference's
    truncation error (about ``eps²``) against float64 round-off in the loss (about
    ``1e-16 / eps``): at 1e-6 the round-off alone reaches the ``tol · floor`` of small entries.
    """
    if grad_fn is None:
        if f is not model_loss:
            raise TypeError("check_grads needs grad_fn= unless f is functional_nn.loss")
        grad_fn = cast("Callable[..., P]", model_grad)
    p64 = tree_map(_to_float64, params)
    analytic = array_leaves(grad_fn(p64, *args))
    leaves, treedef = tree_flatten(p64)
    paths = tree_paths(p64)
    rng = np.random.default_rng(seed)
    worst = GradCheck(0.0, "", (), 0.0, 0.0, 0)
    checked = 0
    for k, leaf in enumerate(leaves):
        if not isinstance(leaf, np.ndarray) or leaf.dtype.kind != "f" or leaf.size == 0:
            continue
        flat = np.arange(leaf.size)
        if max_per_leaf is not None and leaf.size > max_per_leaf:
            flat = rng.choice(leaf.size, size=max_per_leaf, replace=False)
        for i in flat:
            index = tuple(int(j) for j in np.unravel_index(i, leaf.shape))

            def at(delta: float, k: int = k, leaf: np.ndarray = leaf,
                   index: tuple[int, ...] = index) -> float:
                moved = leaf.copy()
                moved[index] += delta
                return f(tree_unflatten(treedef, [*leaves[:k], moved, *leaves[k + 1:]]), *args)

            numeric = (at(eps) - at(-eps)) / (2 * eps)
            a = float(analytic[k][index])
            error = abs(a - numeric) / max(abs(a), abs(numeric), floor)
            checked += 1
            if error >= worst.error:
                worst = GradCheck(error, paths[k], index, a, numeric, 0)
    worst = attrs.evolve(worst, checked=checked)
    if worst.error > tol:
        raise GradientMismatch(str(worst))
    return worst


_TRAINING = Context(training=True)


def check_vjp(layer: object, x: np.ndarray, *, ctx: Context = _TRAINING, seed: int = 0,
              eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7) -> None:
    """Assert that ``layer``'s VJP rule agrees with central differences, input included.

    For a random cotangent ``v`` (from ``seed``), the scalar ``s = Σ f(x)·v`` has
    ``ds/dθ`` = the parameter gradients the VJP writes into ``out`` and ``ds/dx`` = the input
    gradient it returns; both are compared with central differences of ``s`` entry by entry
    (use float64 ``layer`` and ``x``). ``ctx`` is the context of every call: give it a key for
    a layer that draws (the same key, the same draws) and a state for one that reads its own.
    Raises ``AssertionError`` naming the input or the parameter path that disagrees.
    """
    rule = rule_for(layer)

    def s(layer_: object, x_: np.ndarray, v: np.ndarray) -> float:
        return float((rule.forward(layer_, x_, ctx)[0] * v).sum())

    y, residual = rule.forward(layer, x, ctx)
    v = np.random.default_rng(seed).standard_normal(y.shape)
    out = out_like(layer)
    original = x.copy()
    gx = rule.vjp(layer, residual, v.copy(), out, ctx)
    np.testing.assert_array_equal(x, original, err_msg="the rules changed their input")
    if not ctx.input_grad:
        assert gx is None, "the VJP returned an input cotangent that ctx.input_grad refused"
    else:
        assert gx is not None, "the VJP returned no input cotangent"
        numeric_x = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[i] += eps
            down[i] -= eps
            numeric_x[i] = (s(layer, up, v) - s(layer, down, v)) / (2 * eps)
        np.testing.assert_allclose(gx, numeric_x, rtol=rtol, atol=atol, err_msg="input")
    leaves, treedef = tree_flatten(layer)
    for k, (path, grad) in enumerate(zip(tree_paths(layer), tree_flatten(out)[0], strict=True)):
        leaf = np.asarray(leaves[k])
        numeric = np.zeros_like(leaf)
        for i in np.ndindex(leaf.shape):
            moved = []
            for delta in (eps, -eps):
                changed = leaf.copy()
                changed[i] += delta
                moved.append(treedef.unflatten([*leaves[:k], changed, *leaves[k + 1:]]))
            numeric[i] = (s(moved[0], x, v) - s(moved[1], x, v)) / (2 * eps)
        np.testing.assert_allclose(np.asarray(grad), numeric, rtol=rtol, atol=atol,
                                   err_msg=path)
