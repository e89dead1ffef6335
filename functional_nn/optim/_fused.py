"""Fused update-and-apply for the usual optimizers on flat trees.

:func:`functional_nn.optim.update` is ``optimizer.update`` followed by ``apply_updates``. For
the aliases (:func:`~.alias.sgd`, :func:`~.alias.momentum`, :func:`~.alias.adam`, and
:func:`~.alias.adamw` without a mask) it first tries a fused path: when the parameters, the
gradients and every per-leaf part of the state are flat trees of one layout (see
:mod:`functional_nn._flat`), one kernel computes the new state and the new parameters over the
whole buffers, with the same ufunc calls as the chain of transforms and ``apply_updates`` (so
bit-identical results), but without the trees of updates in between. In any other case it
returns None and the chain runs as usual.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import _flat, _kernels
from .._array import Array
from ._leafwise import flat_inputs
from .base import Optimizer
from .schedules import Schedule, validated
from .transforms import ScaleByAdamState, ScaleByLearningRateState, TraceState

__all__ = ["FUSED", "Fused", "adam", "momentum", "sgd", "with_fused"]

Fused = Callable[..., "tuple[Any, Any] | None"]
"""``fused(params, grads, state, flat_grads=None, donate=False) -> (new_params, new_state)``, or
None when it does not apply. ``flat_grads``, a ``(layout, buffer)`` pair, stands for ``grads``
when the gradients were never made a tree (:func:`functional_nn.train_step`'s fused step);
with ``donate`` that private buffer may become the new parameters' buffer (Adam, AdamW, SGD:
one buffer less, and one that is warm in cache)."""

FUSED = "_functional_nn_fused"


def with_fused(optimizer: Optimizer[Any], fused: Fused) -> Optimizer[Any]:
    """Attach a fused update-and-apply to ``optimizer`` (to its ``update`` function)."""
    setattr(optimizer.update, FUSED, fused)
    return optimizer


def _inputs(grads: Any, flat_grads: tuple[_flat.Layout, Array] | None,
            *trees: Any) -> tuple[_flat.Layout, list[Array]] | None:
    """The layout and buffers of the gradients and ``trees`` when all are flat, else None."""
    if flat_grads is None:
        return flat_inputs((grads, *trees))
    layout, g = flat_grads
    rest = flat_inputs(trees)
    if rest is None or rest[0] is not layout:
        return None
    return layout, [g, *rest[1]]


def _out(layout: _flat.Layout, flat_grads: tuple[_flat.Layout, Array] | None,
         donate: bool) -> Array:
    """The buffer of the new parameters: a donated gradient buffer (the kernels read each
    gradient element before they write that element of ``out``), else a fresh one."""
    if donate and flat_grads is not None:
        return flat_grads[1]
    return _flat.empty(layout)


def _lr_state(state: object, schedule: Schedule) -> tuple[float, ScaleByLearningRateState]:
    lr_state: ScaleByLearningRateState = state  # type: ignore[assignment]
    lr = validated(schedule, lr_state.count)
    return lr, ScaleByLearningRateState(lr_state.count + 1, lr)


def adam(b1: float, b2: float, eps: float, schedule: Schedule,
         weight_decay: float | None = None) -> Fused:
    """Adam (``weight_decay=None``) or AdamW without a mask."""
    parts = 2 if weight_decay is None else 3

    def fused(params: Any, grads: Any, state: Any,
              flat_grads: tuple[_flat.Layout, Array] | None = None,
              donate: bool = False) -> tuple[Any, Any] | None:
        if type(state) is not tuple or len(state) != parts \
                or type(state[0]) is not ScaleByAdamState \
                or type(state[-1]) is not ScaleByLearningRateState:
            return None
        adam_state: ScaleByAdamState = state[0]
        flat = _inputs(grads, flat_grads, adam_state.mu, adam_state.nu, params)
        if flat is None:
            return None
        layout, (g, m, v, p) = flat
        t = adam_state.count + 1
        bc1 = 1.0 - b1**t
        bc2_sqrt = math.sqrt(1.0 - b2**t)
        lr, lr_state = _lr_state(state[-1], schedule)
        dt = layout.dtype.type
        nm, nv = _flat.empty(layout), _flat.empty(layout)
        out = _out(layout, flat_grads, donate)
        scalars = [dt(1.0 - b1), dt(b2), dt(1.0 - b2), dt(eps * bc2_sqrt), dt(bc2_sqrt / bc1)]
        if weight_decay is None:
            _kernels.run(_kernels.adam_apply, [g, m, v, p, nm, nv, out], *scalars, dt(-lr))
        else:
            u = _flat.empty(layout)
            _kernels.run(_kernels.adamw_apply, [g, m, v, p, nm, nv, u, out], *scalars,
                         dt(weight_decay), dt(-lr))
            _flat.release(layout, u)
        new_adam = ScaleByAdamState(t, _flat.build(layout, nm), _flat.build(layout, nv))
        new_state = (new_adam, lr_state) if weight_decay is None else (
            new_adam, state[1], lr_state)
        return _flat.build(layout, out), new_state

    return fused


def sgd(schedule: Schedule) -> Fused:
    def fused(params: Any, grads: Any, state: Any,
              flat_grads: tuple[_flat.Layout, Array] | None = None,
              donate: bool = False) -> tuple[Any, Any] | None:
        if type(state) is not tuple or len(state) != 1 \
                or type(state[0]) is not ScaleByLearningRateState:
            return None
        flat = _inputs(grads, flat_grads, params)
        if flat is None:
            return None
        layout, (g, p) = flat
        lr, lr_state = _lr_state(state[0], schedule)
        out = _out(layout, flat_grads, donate)
        _kernels.run(_kernels.sgd_apply, [g, p, out], layout.dtype.type(-lr))
        return _flat.build(layout, out), (lr_state,)

    return fused


def momentum(beta: float, nesterov: bool, schedule: Schedule) -> Fused:
    def fused(params: Any, grads: Any, state: Any,
              flat_grads: tuple[_flat.Layout, Array] | None = None,
              donate: bool = False) -> tuple[Any, Any] | None:
        if type(state) is not tuple or len(state) != 2 or type(state[0]) is not TraceState \
                or type(state[1]) is not ScaleByLearningRateState:
            return None
        flat = _inputs(grads, flat_grads, state[0].trace, params)
        if flat is None:
            return None
        layout, (g, v, p) = flat
        lr, lr_state = _lr_state(state[1], schedule)
        dt = layout.dtype.type
        nv, out = _flat.empty(layout), _flat.empty(layout)
        _kernels.run(_kernels.momentum_apply, [g, v, p, nv, out], dt(beta), dt(-lr), nesterov)
        return _flat.build(layout, out), (TraceState(_flat.build(layout, nv)), lr_state)

    return fused
