"""Rules of LayerNorm and BatchNorm (formulas and references in their classes' docstrings).

BatchNorm is the library's stateful layer: its running statistics come in as ``ctx.state``
(a :class:`~functional_nn.layers.BatchNormState`) and its ``next_state`` rule computes the
new ones from the batch statistics its forward rule kept in the residual.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._array import Array, owned
from ..layers import BatchNorm, BatchNormState, LayerNorm
from .core import Context, register, sum_to

__all__: list[str] = []


def _check_features(kind: str, gamma: Array, x: Array) -> Array:
    c = gamma.shape[0]
    if x.ndim < 2 or x.shape[-1] != c:
        raise ValueError(f"{kind} expects inputs of shape (batch, ..., {c}), got {x.shape}")
    return x if x.dtype == gamma.dtype else x.astype(gamma.dtype)


def _affine(xhat: Array, gamma: Array, beta: Array) -> Array:
    y = xhat * gamma
    y += beta
    return y


# LayerNorm: statistics over the last axis, per sample (and pixel).
def _layer_norm_forward(layer: LayerNorm, x: Array,
                        ctx: Context) -> tuple[Array, tuple[Array, Array]]:
    x = _check_features("LayerNorm", layer.gamma, x)
    xhat = x - x.mean(axis=-1, keepdims=True)
    var = np.mean(xhat * xhat, axis=-1, keepdims=True)
    var += x.dtype.type(layer.eps)
    inv = np.sqrt(var, out=var)
    np.divide(1, inv, out=inv)
    xhat *= inv
    return _affine(xhat, layer.gamma, layer.beta), (xhat, inv)


def _layer_norm_vjp(layer: LayerNorm, residual: tuple[Array, Array], g: Array,
                    out: LayerNorm, ctx: Context) -> Array | None:
    xhat, inv = residual
    sum_to(g * xhat, out.gamma)
    sum_to(g, out.beta)
    if not ctx.input_grad:
        return None
    h = np.multiply(g, layer.gamma, out=g)
    mean_hx = np.mean(h * xhat, axis=-1, keepdims=True)
    h -= h.mean(axis=-1, keepdims=True)
    h -= xhat * mean_hx
    h *= inv
    return h


# BatchNorm: statistics over every axis but the last, per channel.
class _BatchNormResidual(NamedTuple):
    xhat: Array
    inv: Array  # 1 / √(σ² + ε), per channel
    mean: Array  # the statistics used: the batch's in training, the running ones at inference
    var: Array
    m: int  # values per channel


def _batch_norm_forward(layer: BatchNorm, x: Array,
                        ctx: Context) -> tuple[Array, _BatchNormResidual]:
    x = _check_features("BatchNorm", layer.gamma, x)
    c, dtype = layer.gamma.shape[0], x.dtype
    x2 = x.reshape(-1, c)  # channels last: (values per channel, channels)
    m = x2.shape[0]
    if ctx.training:
        if m < 2:
            raise ValueError(f"BatchNorm in training needs more than one value per channel, "
                             f"got inputs of shape {x.shape}")
        # the statistics accumulate in float64 (hundreds of thousands of values per channel)
        mean = x2.mean(axis=0, dtype=np.float64).astype(dtype)
        xhat = x - mean
        var = np.asarray(np.mean(np.square(xhat), axis=tuple(range(x.ndim - 1)),
                                 dtype=np.float64), dtype)
    else:
        state = ctx.state
        if not isinstance(state, BatchNormState):
            raise ValueError("BatchNorm at inference needs its running statistics: pass "
                             "state= (a TrainState's model_state, or init_state(params))")
        if state.mean.shape != (c,):
            raise ValueError(f"BatchNorm has {c} channels but its state has "
                             f"{state.mean.shape[0]}")
        mean, var = state.mean.astype(dtype), state.var.astype(dtype)
        xhat = x - mean
    inv = np.divide(1, np.sqrt(var + dtype.type(layer.eps)), dtype=dtype)
    xhat *= inv
    return _affine(xhat, layer.gamma, layer.beta), _BatchNormResidual(xhat, inv, mean, var, m)


def _batch_norm_vjp(layer: BatchNorm, residual: _BatchNormResidual, g: Array, out: BatchNorm,
                    ctx: Context) -> Array | None:
    xhat, inv, _, _, m = residual
    sum_to(g * xhat, out.gamma)
    sum_to(g, out.beta)
    if not ctx.input_grad:
        return None
    if ctx.training:  # the batch statistics depend on x too
        g -= out.beta / out.beta.dtype.type(m)
        g -= xhat * (out.gamma / out.gamma.dtype.type(m))
    g *= layer.gamma * inv
    return g


def _batch_norm_init_state(layer: BatchNorm) -> BatchNormState:
    c, dtype = layer.gamma.shape[0], layer.gamma.dtype
    return BatchNormState(owned(np.zeros(c, dtype)), owned(np.ones(c, dtype)))


def _batch_norm_next_state(layer: BatchNorm, residual: _BatchNormResidual,
                           ctx: Context) -> BatchNormState:
    old = ctx.state
    if not isinstance(old, BatchNormState):
        raise ValueError("BatchNorm has no running statistics to update: start training from "
                         "TrainState(..., model_state=init_state(params))")
    if not ctx.training:
        return old
    _, _, mean, var, m = residual
    momentum = float(layer.momentum)
    dtype = old.mean.dtype
    keep, take = dtype.type(1 - momentum), dtype.type(momentum)
    running_mean = old.mean * keep
    running_mean += take * mean
    running_var = old.var * keep
    running_var += (take * dtype.type(m / (m - 1))) * var
    return BatchNormState(owned(running_mean), owned(running_var))


register(LayerNorm, _layer_norm_forward, _layer_norm_vjp)
register(BatchNorm, _batch_norm_forward, _batch_norm_vjp, init_state=_batch_norm_init_state,
         next_state=_batch_norm_next_state)
