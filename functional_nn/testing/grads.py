"""check_grads: a whole loss's gradient against central finite differences, in float64."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar, cast

import attrs
import numpy as np
import numpy.typing as npt

from .._validators import non_negative, non_negative_int, positive, positive_int
from ..maps import tree_map
from ..model import grad as model_grad
from ..model import loss as model_loss
from ..tree import array_leaves, tree_flatten, tree_paths, tree_unflatten

__all__ = ["GradCheck", "GradientMismatch", "check_grads", "check_options", "compare_entries",
           "worst_of"]

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
    check_options(eps=eps, floor=floor, tol=tol, max_per_leaf=max_per_leaf, seed=seed)
    if grad_fn is None:
        if f is not model_loss:
            raise TypeError("check_grads needs grad_fn= unless f is functional_nn.loss")
        grad_fn = cast("Callable[..., P]", model_grad)
    p64 = tree_map(_to_float64, params)
    analytic = array_leaves(grad_fn(p64, *args))
    leaves, treedef = tree_flatten(p64)
    rng = np.random.default_rng(seed)
    results = []
    for k, (path, leaf) in enumerate(zip(tree_paths(p64), leaves, strict=True)):
        if not isinstance(leaf, np.ndarray) or leaf.dtype.kind != "f" or leaf.size == 0:
            continue

        def loss_at(index: tuple[int, ...], delta: float, k: int = k,
                    leaf: np.ndarray = leaf) -> float:
            moved = leaf.copy()
            moved[index] += delta
            return f(tree_unflatten(treedef, [*leaves[:k], moved, *leaves[k + 1:]]), *args)

        results.append(compare_entries(path, np.asarray(analytic[k]), loss_at, eps=eps,
                                       floor=floor, rng=rng, max_entries=max_per_leaf))
    worst = worst_of(results)
    if worst.error > tol:
        raise GradientMismatch(str(worst))
    return worst


def check_options(*, eps: float, floor: float, tol: float, max_per_leaf: int | None,
                  seed: int) -> None:
    """Refuse settings under which a check would pass without checking (a NaN ``tol``, no
    entries) or could not run (a zero ``eps``), naming the setting."""
    positive("eps", eps)
    positive("floor", floor)
    non_negative("tol", tol)
    if max_per_leaf is not None:
        positive_int("max_per_leaf", max_per_leaf)
    non_negative_int("seed", seed)


def compare_entries(path: str, analytic: npt.NDArray[np.floating],
                    value_at: Callable[[tuple[int, ...], float], float], *, eps: float,
                    floor: float, rng: np.random.Generator,
                    max_entries: int | None) -> GradCheck:
    """The worst entry of ``analytic`` against the central difference
    ``(value_at(i, eps) - value_at(i, -eps)) / 2eps``, over at most ``max_entries`` entries."""
    entries = np.arange(analytic.size)
    if max_entries is not None and analytic.size > max_entries:
        entries = rng.choice(analytic.size, size=max_entries, replace=False)
    worst = GradCheck(0.0, path, (), 0.0, 0.0, 0)
    for i in entries:
        index = tuple(int(j) for j in np.unravel_index(i, analytic.shape))
        numeric = (value_at(index, eps) - value_at(index, -eps)) / (2 * eps)
        a = float(analytic[index])
        error = abs(a - numeric) / max(abs(a), abs(numeric), floor)
        if not math.isfinite(error):  # NaN or infinity on either side: no agreement at all
            error = math.inf
        if error >= worst.error:
            worst = GradCheck(error, path, index, a, numeric, 0)
    return attrs.evolve(worst, checked=len(entries))


def worst_of(results: list[GradCheck]) -> GradCheck:
    """The worst of several comparisons, counting every entry they checked; ``ValueError``
    when they checked none (a check of nothing must not pass)."""
    checked = sum(r.checked for r in results)
    if not checked:
        raise ValueError("nothing to check: no floating parameter entries and no input "
                         "gradient")
    return attrs.evolve(max(results, key=lambda r: r.error), checked=checked)
