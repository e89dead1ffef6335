"""Small gradient transformations; the optimizers in :mod:`.alias` are chains of them.

Each transform works leaf by leaf on any parameter tree. Per-leaf state (moments, traces) has
the dtype of the parameter leaf; all arithmetic stays in the leaf's dtype, with Python-float
hyperparameters cast by ``dtype.type(x)``. New arrays are read-only, and no input is modified.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Generic, TypeAlias, TypeVar

import attrs
import numpy as np

from .. import _flat, _kernels
from .._array import Array, owned
from ..tree import tree_flatten, tree_leaves
from ._leafwise import leafwise, zeros_like
from .base import (
    EmptyState,
    Mask,
    Optimizer,
    Tree,
    check,
    flatten_arrays,
    leaves_like,
    mask_flags,
    non_negative,
    positive,
    unit_interval,
)
from .schedules import Schedule, constant_schedule, validated

__all__ = [
    "LearningRate",
    "MaskedState",
    "ScaleByAdamState",
    "ScaleByLearningRateState",
    "ScaleByRmsState",
    "TraceState",
    "add_decayed_weights",
    "clip_by_global_norm",
    "current_learning_rate",
    "global_norm",
    "masked",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "trace",
]

P = TypeVar("P")
S = TypeVar("S")

LearningRate: TypeAlias = float | Schedule
"""A learning rate: a float ≥ 0, or a schedule of the step count."""


def _scaled(factor: float, tree: P) -> P:
    """``factor · u`` for every leaf ``u`` of ``tree``, in the leaf's dtype."""
    return leafwise(_kernels.scaled, (tree,), ("the updates",), 0, 1, factor)[0]  # type: ignore[no-any-return]


def _empty_init(params: object) -> EmptyState:
    return EmptyState()


# --- scaling by a learning rate -----------------------------------------------------------------


@attrs.frozen
class ScaleByLearningRateState:
    """``count`` updates done; ``learning_rate``: the rate the latest update used (after
    ``init``, the rate the first update will use)."""

    count: int
    learning_rate: float


def scale_by_learning_rate(learning_rate: LearningRate) -> Optimizer[ScaleByLearningRateState]:
    """The descent step: ``u ← −η_t · u``, with ``η_t = learning_rate(t)`` for a schedule.

    ``t`` counts the earlier updates, so the first update uses ``learning_rate(0)``.
    """
    if callable(learning_rate):
        schedule: Schedule = learning_rate
    else:
        schedule = constant_schedule(non_negative("learning_rate", learning_rate))

    def init_fn(params: P) -> ScaleByLearningRateState:
        return ScaleByLearningRateState(0, validated(schedule, 0))

    def update_fn(grads: P, state: ScaleByLearningRateState,
                  params: P) -> tuple[P, ScaleByLearningRateState]:
        lr = validated(schedule, state.count)
        return _scaled(-lr, grads), ScaleByLearningRateState(state.count + 1, lr)

    return Optimizer(init_fn, update_fn)


def _find_lr_state(state: object) -> ScaleByLearningRateState | None:
    if isinstance(state, ScaleByLearningRateState):
        return state
    if isinstance(state, np.ndarray):
        return None
    if isinstance(state, tuple | list):
        children: list[object] = list(state)
    elif attrs.has(cls := type(state)):
        children = [getattr(state, f.name) for f in attrs.fields(cls)]
    else:
        return None
    for child in children:
        found = _find_lr_state(child)
        if found is not None:
            return found
    return None


def current_learning_rate(state: object) -> float:
    """The learning rate of the latest update, read from an optimizer's state.

    It is the first :class:`ScaleByLearningRateState` found (depth first) in the state; right
    after ``init`` it is the rate the first update will use.

    >>> from functional_nn.optim.alias import sgd
    >>> from functional_nn.optim.schedules import step_decay
    >>> opt = sgd(step_decay(0.1, 1, gamma=0.5))
    >>> params = {"w": np.zeros(2)}
    >>> state = opt.init(params)
    >>> for _ in range(3):
    ...     _, state = opt.update(params, state, params)
    >>> current_learning_rate(state)
    0.025
    """
    found = _find_lr_state(state)
    if found is None:
        raise ValueError("the state has no ScaleByLearningRateState (from "
                         "scale_by_learning_rate), so it holds no learning rate")
    return found.learning_rate


def scale(step_size: float) -> Optimizer[EmptyState]:
    """Multiply by a constant: ``u ← step_size · u``."""
    factor = check("step_size", step_size, math.isfinite, "finite")

    def update_fn(grads: P, state: EmptyState, params: P) -> tuple[P, EmptyState]:
        return _scaled(factor, grads), state

    return Optimizer(_empty_init, update_fn)


# --- momentum --------------------------------------------------------------------------------


@attrs.frozen
class TraceState:
    """The momentum buffer ``v``, one array per parameter leaf."""

    trace: Tree


def trace(decay: float, nesterov: bool = False) -> Optimizer[TraceState]:
    """Momentum as PyTorch's SGD keeps it: ``v ← β·v + g``, then ``u = v``, or with Nesterov
    ``u = g + β·v``.

    Sutskever et al., *On the importance of initialization and momentum in deep learning*
    (2013); the formulation of ``torch.optim.SGD`` with ``dampening=0``.
    """
    beta = unit_interval("decay", decay)

    def init_fn(params: P) -> TraceState:
        return TraceState(zeros_like(params))

    def update_fn(grads: P, state: TraceState, params: P) -> tuple[P, TraceState]:
        names = ("the gradients", "the momentum trace")
        (new_v,) = leafwise(_kernels.trace, (grads, state.trace), names, 1, 1, beta)
        if nesterov:  # u = β·v' + g
            (updates,) = leafwise(_kernels.trace, (grads, new_v), names, 1, 1, beta)
            return updates, TraceState(new_v)
        return new_v, TraceState(new_v)

    return Optimizer(init_fn, update_fn)


# --- adaptive scalings -----------------------------------------------------------------------


@attrs.frozen
class ScaleByAdamState:
    """``count`` updates done and the moment estimates ``mu`` (of g) and ``nu`` (of g²)."""

    count: int
    mu: Tree
    nu: Tree


def scale_by_adam(b1: float = 0.9, b2: float = 0.999,
                  eps: float = 1e-8) -> Optimizer[ScaleByAdamState]:
    """Adam's direction: ``m ← b1·m + (1−b1)·g``, ``v ← b2·v + (1−b2)·g²``, then
    ``u = m̂ / (√v̂ + eps)`` with ``m̂ = m/(1−b1^t)`` and ``v̂ = v/(1−b2^t)``.

    Kingma & Ba, *Adam: A Method for Stochastic Optimization* (2015), with eps outside the
    square root as in ``torch.optim.Adam``. The bias corrections are computed in float64 and
    folded into two scalars cast to the leaf's dtype: ``u = m / (√v + eps·√bc2) · √bc2 / bc1``
    (one pass fewer than ``(m / bc1) / (√v / √bc2 + eps)``, equal up to round-off).
    """
    beta1 = unit_interval("b1", b1)
    beta2 = unit_interval("b2", b2)
    epsilon = positive("eps", eps)

    def init_fn(params: P) -> ScaleByAdamState:
        return ScaleByAdamState(0, zeros_like(params), zeros_like(params))

    def update_fn(grads: P, state: ScaleByAdamState, params: P) -> tuple[P, ScaleByAdamState]:
        t = state.count + 1
        bc1 = 1.0 - beta1**t
        bc2_sqrt = math.sqrt(1.0 - beta2**t)
        mu, nu, updates = leafwise(
            _kernels.adam, (grads, state.mu, state.nu),
            ("the gradients", "Adam's first moment", "Adam's second moment"), 1, 3,
            1.0 - beta1, beta2, 1.0 - beta2, epsilon * bc2_sqrt, bc2_sqrt / bc1)
        return updates, ScaleByAdamState(t, mu, nu)

    return Optimizer(init_fn, update_fn)


@attrs.frozen
class ScaleByRmsState:
    """The running average ``nu`` of the squared gradients."""

    nu: Tree


def scale_by_rms(alpha: float = 0.99, eps: float = 1e-8) -> Optimizer[ScaleByRmsState]:
    """RMSprop's scaling: ``v ← α·v + (1−α)·g²``, ``u = g / (√v + eps)``, with ``v₀ = 0``.

    Tieleman & Hinton, *Lecture 6.5 — RMSprop* (COURSERA, 2012); the formulation of
    ``torch.optim.RMSprop`` (eps outside the square root).
    """
    a = unit_interval("alpha", alpha)
    epsilon = positive("eps", eps)

    def init_fn(params: P) -> ScaleByRmsState:
        return ScaleByRmsState(zeros_like(params))

    def update_fn(grads: P, state: ScaleByRmsState, params: P) -> tuple[P, ScaleByRmsState]:
        nu, updates = leafwise(_kernels.rms, (grads, state.nu),
                               ("the gradients", "RMSprop's square average"), 1, 2,
                               a, 1.0 - a, epsilon)
        return updates, ScaleByRmsState(nu)

    return Optimizer(init_fn, update_fn)


# --- weight decay and clipping ---------------------------------------------------------------


def add_decayed_weights(weight_decay: float,
                        mask: Mask | None = None) -> Optimizer[EmptyState]:
    """Decoupled weight decay: ``u ← u + λ·p`` on the leaves the mask selects (all by default).

    Followed by :func:`scale_by_learning_rate` this is the ``p ← p − η·λ·p`` of AdamW
    (Loshchilov & Hutter, *Decoupled Weight Decay Regularization*, 2019). ``mask`` is a
    :data:`~.base.MaskFn` such as ``lambda path, leaf: not path.endswith(".b")`` or a tree of
    bools; leaves it leaves out pass through unchanged.
    """
    wd = non_negative("weight_decay", weight_decay)

    def decay(u: Array, p: Array) -> Array:
        out = np.multiply(p, p.dtype.type(wd), out=np.empty_like(p))
        out += u
        return owned(out)

    def update_fn(grads: P, state: EmptyState, params: P) -> tuple[P, EmptyState]:
        if mask is None:
            (out_tree,) = leafwise(_kernels.decayed, (grads, params), ("the updates", "params"),
                                   1, 1, wd)
            return out_tree, state
        leaves, treedef = flatten_arrays(grads)
        ps = leaves_like(treedef, params, "params")
        flags = mask_flags(mask, params)
        out = [decay(u, p) if f else u
               for u, p, f in zip(leaves, ps, flags, strict=True)]
        return treedef.unflatten(out), state

    return Optimizer(_empty_init, update_fn)


def global_norm(tree: object) -> float:
    """The Euclidean norm of all the leaves of a tree taken together: ``√(Σ ‖leaf‖²)``.

    >>> global_norm({"a": np.array([3.0]), "b": np.array([[4.0]])})
    5.0
    """
    record = _flat.lookup(tree)
    if record is not None:  # the same per-leaf sums, read from the flat buffer
        layout, base = record
        o = layout.offsets
        xs: list[Array] = [base[o[i]:o[i + 1]] for i in range(len(o) - 1)]
    else:
        xs = [np.asarray(leaf) for leaf in tree_leaves(tree)]
    total = 0.0
    for x in xs:
        total += float(np.vdot(x, x))
    return math.sqrt(total)


def clip_by_global_norm(max_norm: float) -> Optimizer[EmptyState]:
    """Rescale all updates together so their global norm is at most ``max_norm``:
    ``u ← u · min(1, max_norm / ‖u‖)``.

    Pascanu et al., *On the difficulty of training recurrent neural networks* (2013); as
    ``optax.clip_by_global_norm`` (PyTorch's ``clip_grad_norm_`` adds 1e-6 to the norm).
    Below the threshold the updates pass through unchanged.
    """
    limit = positive("max_norm", max_norm)

    def update_fn(grads: P, state: EmptyState, params: P) -> tuple[P, EmptyState]:
        norm = global_norm(grads)
        if norm <= limit:
            return grads, state
        return _scaled(limit / norm, grads), state

    return Optimizer(_empty_init, update_fn)


# --- masking -----------------------------------------------------------------------------------


@attrs.frozen
class MaskedState(Generic[S]):
    """The inner transform's state, which holds nothing for the leaves left out."""

    inner: S


def _pruned(leaves: Sequence[object], flags: list[bool]) -> list[object]:
    return [leaf if f else None for leaf, f in zip(leaves, flags, strict=True)]


def masked(transform: Optimizer[S], mask: Mask) -> Optimizer[MaskedState[S]]:
    """Apply ``transform`` to the leaves the mask selects; the others pass through unchanged.

    ``mask`` is ``mask(path, leaf) -> bool`` (paths as :func:`~functional_nn.tree.tree_paths`
    spells them, such as ``layers[2].b``), or a tree of bools with the structure of the
    parameters. The inner transform sees the tree with the left-out leaves replaced by
    ``None`` (an empty node), so its state has no entries for them. Same as ``optax.masked``.

    >>> from functional_nn.optim.alias import sgd
    >>> opt = masked(sgd(0.5), lambda path, leaf: path != "['b']")
    >>> params = {"w": np.ones(2), "b": np.ones(1)}
    >>> updates, _ = opt.update(params, opt.init(params), params)
    >>> updates["w"], updates["b"] is params["b"]
    (array([-0.5, -0.5]), True)
    """

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
        if len(inner_leaves) != sum(flags):
            raise ValueError(f"the masked transform returned {len(inner_leaves)} leaves for "
                             f"{sum(flags)} selected ones")
        selected = iter(inner_leaves)
        out = [next(selected) if f else g for g, f in zip(leaves, flags, strict=True)]
        return treedef.unflatten(out), MaskedState(inner_state)

    return Optimizer(init_fn, update_fn)

