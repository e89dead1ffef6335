"""One table of rules: each layer kind's forward rule and its vector-Jacobian rule, side by side.

A forward rule ``forward(layer, x, ctx) -> (y, residual)`` computes the layer's output and
whatever its VJP rule needs later. A VJP rule ``vjp(layer, residual, g, out, ctx) -> gx`` pulls
the output cotangent ``g`` back:

* it writes the gradient of every parameter leaf into the matching leaf of ``out``, a tree of
  the layer's type whose leaves are fresh writable arrays (views of the gradient buffer: write
  every element, with ``out=`` or ``[...] =``);
* it returns the input cotangent, or ``None`` when ``ctx.input_grad`` is false (the network's
  first layer: nobody needs it).

``g`` is a private temporary of the reverse sweep: a rule may overwrite it (and return it).
``ctx`` is a :class:`Context`: the mode (training or inference) and an explicit random key, so
layers such as Dropout are rules like any other. Add a layer kind with :func:`register`;
nothing in the library needs to change. Every network, built-in or not, runs these rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

import attrs
import numpy as np

from ._array import Array
from .flat import Flat, layout_of
from .layers import Dense, ReLU, Sequential, Sigmoid, Tanh
from .tree import tree_leaves

__all__ = ["Context", "ForwardRule", "Rule", "UnknownLayerError", "VjpRule", "out_like",
           "register", "rule_for", "sum_to"]

L = TypeVar("L")
R = TypeVar("R")


@attrs.frozen
class Context:
    """What a rule sees besides its layer and input.

    ``training``: whether this is a training step (Dropout drops, BatchNorm uses the batch's
    statistics) or inference. ``key``: the explicit source of randomness, a tuple of integers
    (a training step uses ``(seed, step)``); each layer of a :class:`Sequential` gets its own
    key, the parent's plus its index. ``input_grad``: whether the VJP must return the input
    cotangent.
    """

    training: bool = False
    key: tuple[int, ...] | None = None
    input_grad: bool = True

    def child(self, index: int) -> Context:
        """The context of sub-layer ``index``: the same, with a key of its own."""
        if self.key is None:
            return self
        return Context(self.training, (*self.key, index), self.input_grad)

    def rng(self) -> np.random.Generator:
        """A generator seeded from ``key`` alone: the same key, the same draws."""
        if self.key is None:
            raise ValueError("this layer needs randomness, but no key was given: pass seed= "
                             "to train_step (or key= to value_and_grad)")
        return np.random.default_rng(self.key)


ForwardRule = Callable[[L, Array, Context], tuple[Array, R]]
VjpRule = Callable[[L, R, Array, L, Context], Array | None]


class UnknownLayerError(TypeError):
    """A layer kind with no registered rules."""


@attrs.frozen
class Rule(Generic[L, R]):
    """A layer kind's forward rule and VJP rule."""

    forward: ForwardRule[L, R]
    vjp: VjpRule[L, R]


_RULES: dict[type, Rule[Any, Any]] = {}


def register(kind: type[L], forward: ForwardRule[L, R], vjp: VjpRule[L, R]) -> None:
    """Register the forward and VJP rules of a layer kind (replacing any earlier ones)."""
    _RULES[kind] = Rule(forward, vjp)


def rule_for(layer: object) -> Rule[Any, Any]:
    """The rules registered for ``layer``'s type, or for the nearest registered base class."""
    rule = _RULES.get(type(layer))
    if rule is not None:
        return rule
    for base in type(layer).__mro__[1:]:
        if base in _RULES:
            return _RULES[base]
    raise UnknownLayerError(f"no rules registered for layer type {type(layer).__qualname__}; "
                            "add them with functional_nn.register(kind, forward, vjp)")


def out_like(layer: L) -> L:
    """A tree like ``layer`` whose leaves are fresh writable zeros: the ``out`` to hand a VJP
    rule when calling it directly (``value_and_grad`` makes its own)."""
    if not tree_leaves(layer):
        return layer
    layout = layout_of(layer)
    return layout.unflatten(np.zeros(layout.size, layout.dtype))


def sum_to(g: Array, out: Array) -> None:
    """Undo broadcasting: write into ``out`` the sum of ``g`` over the axes broadcasting added.

    The one place where broadcasting is handled: a bias of shape (out,) broadcast over a batch
    gets the batch-summed cotangent.
    """
    lead = g.ndim - out.ndim
    if g.shape[lead:] == out.shape:  # broadcast over leading axes only: the usual bias
        np.add.reduce(g, axis=tuple(range(lead)), out=out)
        return
    kept = tuple(lead + i for i, n in enumerate(out.shape) if n == 1 and g.shape[lead + i] != 1)
    np.copyto(out, g.sum(axis=tuple(range(lead)) + kept).reshape(out.shape))


# Dense: y = x @ w + b;  dL/dw = xᵀ g,  dL/db = Σ_batch g,  dL/dx = g wᵀ.
def _dense_forward(layer: Dense, x: Array, ctx: Context) -> tuple[Array, Array]:
    w = layer.w
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"Dense expects inputs of shape (batch, {w.shape[0]}), got {x.shape}")
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
def _sequential_forward(seq: Sequential, x: Array, ctx: Context) -> tuple[Array, list[object]]:
    residuals = []
    for i, layer in enumerate(seq.layers):
        try:
            x, res = rule_for(layer).forward(layer, x, ctx.child(i))
        except ValueError as error:
            raise ValueError(f"layers[{i}] ({type(layer).__name__}): {error}") from None
        residuals.append(res)
    return x, residuals


def _sequential_vjp(seq: Sequential, residuals: list[object], g: Array, out: Sequential,
                    ctx: Context) -> Array | None:
    gx: Array | None = g
    inner = ctx if ctx.input_grad else Context(ctx.training, ctx.key, True)  # all but layer 0
    for i in range(len(seq.layers) - 1, -1, -1):
        layer = seq.layers[i]
        child = (inner if i else ctx).child(i)
        gx = rule_for(layer).vjp(layer, residuals[i], cast("Array", gx), out.layers[i], child)
    return gx


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


register(Dense, _dense_forward, _dense_vjp)
register(ReLU, _relu_forward, _relu_vjp)
register(Sigmoid, _sigmoid_forward, _sigmoid_vjp)
register(Tanh, _tanh_forward, _tanh_vjp)
register(Sequential, _sequential_forward, _sequential_vjp)
register(Flat, _flat_forward, _flat_vjp)
