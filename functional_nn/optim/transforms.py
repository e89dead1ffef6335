"""The scaling transforms: learning rate, constant scale, momentum, Adam and RMSprop.

Each transform's formula is written once, for one leaf, and mapped over the trees with
:func:`~._leafwise.leafwise`; on a :class:`~functional_nn.flat.Flat` the leaf is the whole
parameter vector. Per-leaf state (moments, traces) has the dtype of the parameter leaf; all
arithmetic stays in the leaf's dtype: every result is written into an array of that dtype
(``out=`` or in place), where numpy casts a Python-float hyperparameter to it. New arrays are
read-only, and no input is modified.
"""

from __future__ import annotations

import math
from typing import TypeAlias, TypeVar

import attrs
import numpy as np

from .._array import Array
from .._validators import check, non_negative, positive, unit_interval
from ..tree import tree_leaves
from ._leafwise import leafwise, zeros_like
from .base import EmptyState, Optimizer, Tree
from .schedules import Schedule, validated

__all__ = [
    "LearningRate",
    "ScaleByAdamState",
    "ScaleByLearningRateState",
    "ScaleByRmsState",
    "TraceState",
    "current_learning_rate",
    "scale",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scaled",
    "trace",
]

P = TypeVar("P")

LearningRate: TypeAlias = float | Schedule
"""A learning rate: a float ≥ 0, or a schedule of the step count."""


def scaled(factor: float, tree: P) -> P:
    """``factor · u`` for every leaf ``u`` of ``tree``, in the leaf's dtype."""
    def leaf(u: Array) -> tuple[Array]:
        return (np.multiply(u, factor, out=np.empty(u.shape, u.dtype)),)
    out: P = leafwise(leaf, (tree,), ("the updates",))[0]
    return out


def check_eps(name: str, eps: float, params: object) -> None:
    """``ValueError`` when ``eps`` is 0 in a parameter leaf's dtype (1e-8 in float16): the
    first update of an entry whose gradient is 0 would be 0/0."""
    for leaf in tree_leaves(params):
        if isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f" and leaf.dtype.type(eps) == 0:
            raise ValueError(f"{name}'s eps {eps:g} is 0 in {leaf.dtype}: zero gradients would "
                             "give 0/0; train in float32 (or pass a larger eps)")


def empty_init(params: object) -> EmptyState:
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

        def rate(count: int) -> float:
            return validated(schedule, count)
    else:  # checked once, here, not at every step
        value = float(non_negative("learning_rate", learning_rate))

        def rate(count: int) -> float:
            return value

    def init_fn(params: P) -> ScaleByLearningRateState:
        return ScaleByLearningRateState(0, rate(0))

    def update_fn(grads: P, state: ScaleByLearningRateState,
                  params: P) -> tuple[P, ScaleByLearningRateState]:
        lr = rate(state.count)
        return scaled(-lr, grads), ScaleByLearningRateState(state.count + 1, lr)

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
        return scaled(factor, grads), state

    return Optimizer(empty_init, update_fn)


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

    def momentum_leaf(g: Array, v: Array) -> tuple[Array, Array]:
        new_v = np.multiply(v, beta, out=np.empty(v.shape, v.dtype))
        new_v += g  # v ← β·v + g
        if not nesterov:
            return new_v, new_v
        u = np.multiply(new_v, beta, out=np.empty(v.shape, v.dtype))
        u += g  # u = g + β·v
        return new_v, u

    def update_fn(grads: P, state: TraceState, params: P) -> tuple[P, TraceState]:
        new_v, updates = leafwise(momentum_leaf, (grads, state.trace),
                                  ("the gradients", "the momentum trace"), 2)
        return updates, TraceState(new_v)

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
        check_eps("Adam", epsilon, params)
        return ScaleByAdamState(0, zeros_like(params), zeros_like(params))

    def update_fn(grads: P, state: ScaleByAdamState, params: P) -> tuple[P, ScaleByAdamState]:
        t = state.count + 1
        bc1 = 1.0 - beta1**t
        bc2_sqrt = math.sqrt(1.0 - beta2**t)

        def adam_leaf(g: Array, m: Array, v: Array) -> tuple[Array, Array, Array]:
            # m ← b1·m + (1−b1)·g, as the lerp m + (1−b1)·(g − m) (torch's form)
            new_m = np.subtract(g, m, out=np.empty(m.shape, m.dtype))
            new_m *= 1.0 - beta1
            new_m += m
            # v ← b2·v + (1−b2)·g²
            new_v = np.multiply(v, beta2, out=np.empty(v.shape, v.dtype))
            u = np.multiply(g, g, out=np.empty(v.shape, v.dtype))
            u *= 1.0 - beta2
            new_v += u
            # u = m̂ / (√v̂ + eps) = m / (√v + eps·√bc2) · (√bc2 / bc1)
            np.sqrt(new_v, out=u)
            u += epsilon * bc2_sqrt
            np.divide(new_m, u, out=u)
            u *= bc2_sqrt / bc1
            return new_m, new_v, u

        mu, nu, updates = leafwise(
            adam_leaf, (grads, state.mu, state.nu),
            ("the gradients", "Adam's first moment", "Adam's second moment"), 3)
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
        check_eps("RMSprop", epsilon, params)
        return ScaleByRmsState(zeros_like(params))

    def rms_leaf(g: Array, v: Array) -> tuple[Array, Array]:
        new_v = np.multiply(v, a, out=np.empty(v.shape, v.dtype))
        u = np.multiply(g, g, out=np.empty(v.shape, v.dtype))
        u *= 1.0 - a
        new_v += u  # v ← α·v + (1−α)·g²
        np.sqrt(new_v, out=u)
        u += epsilon
        np.divide(g, u, out=u)  # u = g / (√v + eps)
        return new_v, u

    def update_fn(grads: P, state: ScaleByRmsState, params: P) -> tuple[P, ScaleByRmsState]:
        nu, updates = leafwise(rms_leaf, (grads, state.nu),
                               ("the gradients", "RMSprop's square average"), 2)
        return updates, ScaleByRmsState(nu)

    return Optimizer(init_fn, update_fn)
