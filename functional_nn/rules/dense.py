"""Rules of Dense, the elementwise activations, Sequential and Flat (the containers thread
model state: see :mod:`functional_nn.rules`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._array import Array
from ..flat import Flat
from ..layers import Dense, ReLU, Sequential, Sigmoid, Tanh
from .core import Context, init_state, next_state, register, rule_for, sum_to


# Dense: y = x @ w + b;  dL/dw = xᵀ g,  dL/db = Σ_batch g,  dL/dx = g wᵀ.
def _dense_forward(layer: Dense, x: Array, ctx: Context) -> tuple[Array, Array]:
    w = layer.w
    if x.ndim != 2 or x.shape[-1] != w.shape[0]:
        hint = ": put a Flatten() before it" if x.ndim > 2 else ""
        raise ValueError(f"Dense expects inputs of shape (batch, {w.shape[0]}), got "
                         f"{x.shape}{hint}")
    if x.dtype != w.dtype:
        x = x.astype(w.dtype)  # inputs follow the parameters' dtype: no silent upcast
    y = x @ w
    y += layer.b  # y is private until returned
    return y, x


def _dense_vjp(layer: Dense, x: Array, g: Array, out: Dense, ctx: Context) -> Array | None:
    np.matmul(x.T, g, out=out.w)
    sum_to(g, out.b)
    return g @ layer.w.T if ctx.input_grad else None


# ReLU: y = max(x, 0);  dy/dx = [x > 0] = [y > 0], so y is the residual.
def _relu_forward(layer: ReLU, x: Array, ctx: Context) -> tuple[Array, Array]:
    y = np.maximum(x, 0)
    return y, y


def _relu_vjp(layer: ReLU, y: Array, g: Array, out: ReLU, ctx: Context) -> Array | None:
    if not ctx.input_grad:
        return None
    # g · [y > 0]: a multiply by the mask is ten times faster than np.where on large batches
    return np.multiply(g, y > 0, out=g)


# Sigmoid: y = 1 / (1 + exp(-x)) = (1 + tanh(x / 2)) / 2 (no overflow);  dy/dx = y (1 - y).
def _sigmoid_forward(layer: Sigmoid, x: Array, ctx: Context) -> tuple[Array, Array]:
    half = x.dtype.type(0.5)
    y = np.tanh(x * half)
    y += 1
    y *= half
    return y, y


def _sigmoid_vjp(layer: Sigmoid, y: Array, g: Array, out: Sigmoid,
                 ctx: Context) -> Array | None:
    if not ctx.input_grad:
        return None
    d = 1 - y
    d *= y
    return np.multiply(g, d, out=g)


# Tanh: y = tanh(x);  dy/dx = 1 - y².
def _tanh_forward(layer: Tanh, x: Array, ctx: Context) -> tuple[Array, Array]:
    y = np.tanh(x)
    return y, y


def _tanh_vjp(layer: Tanh, y: Array, g: Array, out: Tanh, ctx: Context) -> Array | None:
    if not ctx.input_grad:
        return None
    d = y * y
    np.subtract(1, d, out=d)
    return np.multiply(g, d, out=g)


# Sequential: y = f_n(...f_1(x));  the VJP runs the layers' VJPs in reverse (the chain rule).
# Its model state is a tuple with one entry per layer (None for the stateless ones).
def _sequential_forward(seq: Sequential, x: Array, ctx: Context) -> tuple[Array, list[object]]:
    layers = seq.layers
    if ctx.state is not None and (type(ctx.state) is not tuple or len(ctx.state) != len(layers)):
        raise ValueError(f"the model state does not fit this network of {len(layers)} "
                         "layers: make it with init_state(params)")
    residuals = []
    children = ctx.children(len(layers))
    for i, layer in enumerate(layers):
        try:
            x, res = rule_for(layer).forward(layer, x, children[i])
        except ValueError as error:
            raise ValueError(f"layers[{i}] ({type(layer).__name__}): {error}") from None
        residuals.append(res)
    return x, residuals


def _sequential_vjp(seq: Sequential, residuals: list[object], g: Array, out: Sequential,
                    ctx: Context) -> Array | None:
    layers, grads = seq.layers, out.layers
    # every layer but the first returns its input cotangent (the layer before needs it)
    children = ctx.with_input_grad().children(len(layers))
    if children:
        children[0] = ctx.child(0)
    gx: Any = g  # an array for every layer but the first (input_grad)
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        gx = rule_for(layer).vjp(layer, residuals[i], gx, grads[i], children[i])
    result: Array | None = gx
    return result


def _sequential_init_state(seq: Sequential) -> tuple[object, ...] | None:
    states = tuple(init_state(layer) for layer in seq.layers)
    return None if all(s is None for s in states) else states


def _sequential_next_state(seq: Sequential, residuals: list[object],
                           ctx: Context) -> tuple[object, ...] | None:
    states = []
    for i, layer in enumerate(seq.layers):
        try:
            states.append(next_state(layer, residuals[i], ctx.child(i)))
        except ValueError as error:
            raise ValueError(f"layers[{i}] ({type(layer).__name__}): {error}") from None
    return None if all(s is None for s in states) else tuple(states)


# Flat: the tree stored in one buffer. Its rules are the tree's; the VJP hands the tree's rules
# views of the gradient buffer as ``out``, so every gradient lands in place.
def _flat_forward(flat: Flat[Any], x: Array, ctx: Context) -> tuple[Array, tuple[Any, Any]]:
    tree = flat.tree
    y, residual = rule_for(tree).forward(tree, x, ctx)
    return y, (tree, residual)


def _flat_vjp(flat: Flat[Any], residual: tuple[Any, Any], g: Array, out: Flat[Any],
              ctx: Context) -> Array | None:
    tree, inner = residual
    return rule_for(tree).vjp(tree, inner, g, out.tree, ctx)


def _flat_init_state(flat: Flat[Any]) -> Any:
    return init_state(flat.tree)


def _flat_next_state(flat: Flat[Any], residual: tuple[Any, Any], ctx: Context) -> Any:
    tree, inner = residual
    return next_state(tree, inner, ctx)


register(Dense, _dense_forward, _dense_vjp)
register(ReLU, _relu_forward, _relu_vjp)
register(Sigmoid, _sigmoid_forward, _sigmoid_vjp)
register(Tanh, _tanh_forward, _tanh_vjp)
register(Sequential, _sequential_forward, _sequential_vjp,
         init_state=_sequential_init_state, next_state=_sequential_next_state)
register(Flat, _flat_forward, _flat_vjp, init_state=_flat_init_state,
         next_state=_flat_next_state)
