"""A fused value-and-gradient for MLPs: a ``Sequential`` of ``Dense`` and built-in activations.

Private fast path of :func:`functional_nn.value_and_grad`. It makes the same numpy calls as the
rules in :mod:`functional_nn.rules` (so its results are bit-identical to theirs), minus the
per-layer dispatch and tree building, plus three savings:

* activations run in place on the Dense output that feeds them (a private temporary);
* every weight and bias gradient is written by ``np.matmul(..., out=)`` / ``np.sum(..., out=)``
  straight into one flat buffer, which becomes the gradient tree (see :mod:`._flat`), so the
  optimizer's fast path can update all leaves in a few passes;
* the plan (which layer does what, where its gradients go) is made once per layout.

It applies only while the built-in rules of these layer kinds are the registered ones; any
other tree, or an input it does not expect, takes the general path (which also raises the
errors).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from . import _flat, rules
from ._array import Array
from .layers import Dense, ReLU, Sequential, Sigmoid, Tanh
from .losses import check_labels, cross_entropy_of_private

__all__ = ["Plan", "plan_for", "value_and_grad", "value_and_grad_buffer"]

_DENSE, _RELU, _TANH, _SIGMOID = range(4)
_KINDS: dict[type, int] = {Dense: _DENSE, ReLU: _RELU, Tanh: _TANH, Sigmoid: _SIGMOID}
_BUILTIN = {kind: rules.rule_for(object.__new__(kind)) for kind in (*_KINDS, Sequential)}


class Plan:
    """What each layer of one MLP layout does and where its gradients live in the buffer."""

    __slots__ = ("in_features", "kinds", "layout", "slots")

    def __init__(self, layout: _flat.Layout, kinds: tuple[int, ...]) -> None:
        self.layout = layout
        self.kinds = kinds
        self.in_features = layout.shapes[0][0]
        o, shapes = layout.offsets, layout.shapes
        slots: list[tuple[int, int, tuple[int, ...], int, int] | None] = []
        leaf = 0
        for kind in kinds:
            if kind == _DENSE:
                slots.append((o[leaf], o[leaf + 1], shapes[leaf], o[leaf + 1], o[leaf + 2]))
                leaf += 2
            else:
                slots.append(None)
        self.slots = tuple(slots)


_CHECKED = [-1, False]  # [rules generation, whether the built-in rules were registered then]


def _builtin_rules() -> bool:
    if _CHECKED[0] != rules._GENERATION[0]:
        _CHECKED[:] = [rules._GENERATION[0], _scan_rules()]
    return bool(_CHECKED[1])


def _scan_rules() -> bool:
    for kind, rule in _BUILTIN.items():
        now = rules._RULES.get(kind)
        if now is not rule and (now is None or now.forward is not rule.forward
                                or now.vjp is not rule.vjp):
            return False
    return True


def plan_for(params: object) -> Plan | None:
    """The plan of an MLP whose leaves share one floating dtype; None for any other tree."""
    if type(params) is not Sequential:
        return None
    layout = _flat.layout_of(params)
    if layout is None:
        return None
    plan = layout.plan
    if plan is None:
        kinds = tuple(_KINDS.get(type(layer), -1) for layer in params.layers)
        ok = bool(kinds) and kinds[0] == _DENSE and -1 not in kinds
        plan = layout.plan = Plan(layout, kinds) if ok else False
    if plan is False or not _builtin_rules():
        return None
    return plan  # type: ignore[return-value]


def value_and_grad(plan: Plan, params: Sequential, x: Array,
                   y: npt.ArrayLike) -> tuple[float, Any] | None:
    """The loss and the flat gradient tree, or None to let the general path handle ``x``."""
    done = value_and_grad_buffer(plan, params, x, y)
    if done is None:
        return None
    return done[0], _flat.build(plan.layout, done[1])


def value_and_grad_buffer(plan: Plan, params: Sequential, x: Array,
                          y: npt.ArrayLike) -> tuple[float, Array] | None:
    """The loss and the gradients in a private flat buffer of ``plan.layout`` (no tree yet),
    or None to let the general path handle ``x``."""
    layout = plan.layout
    if x.shape[1] != plan.in_features or x.shape[0] == 0:
        return None
    if x.dtype != layout.dtype:
        x = x.astype(layout.dtype)  # inputs follow the parameters' dtype, as Dense does
    layers: tuple[Any, ...] = params.layers
    kinds = plan.kinds
    residuals: list[Array] = []
    h = x
    private = False  # whether h is a temporary of ours (so activations may overwrite it)
    for kind, layer in zip(kinds, layers, strict=True):
        if kind == _DENSE:
            residuals.append(h)
            h = h @ layer.w
            h += layer.b
            private = True
            continue
        if kind == _RELU:  # y > 0 exactly where x > 0, so y is the residual
            h = np.maximum(h, 0, out=h) if private else np.maximum(h, 0)
        elif kind == _TANH:
            h = np.tanh(h, out=h) if private else np.tanh(h)
        else:
            half = h.dtype.type(0.5)
            if private:
                h *= half
                np.tanh(h, out=h)
            else:
                h = np.tanh(h * half)
            h += 1
            h *= half
        private = True
        residuals.append(h)
    value, g = cross_entropy_of_private(h, check_labels(y, h.shape), private=True)
    buffer = _flat.empty(layout)
    for i in range(len(kinds) - 1, -1, -1):
        kind = kinds[i]
        r = residuals[i]
        if kind == _DENSE:
            w0, w1, w_shape, b0, b1 = plan.slots[i]  # type: ignore[misc]
            np.matmul(r.T, g, out=buffer[w0:w1].reshape(w_shape))
            np.add.reduce(g, axis=0, out=buffer[b0:b1])  # = g.sum(axis=0)
            if i > 0:
                g = g @ layers[i].w.T
        elif kind == _RELU:  # g is always a temporary of ours here: updated in place
            np.multiply(g, r > 0, out=g)
        elif kind == _TANH:
            d = r * r
            np.subtract(1, d, out=d)
            g *= d
        else:
            g = g * r
            g *= 1 - r
    return value, buffer
