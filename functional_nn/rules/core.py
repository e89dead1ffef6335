"""The rule protocol: :class:`Context`, :func:`register`, :func:`rule_for`, :func:`sum_to`,
:func:`out_like` and :func:`init_state` (described in :mod:`functional_nn.rules`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import attrs
import numpy as np

from .._array import Array, ones
from ..flat import layout_of
from ..tree import tree_leaves

__all__ = ["Context", "ForwardRule", "InitStateRule", "NextStateRule", "Rule",
           "UnknownLayerError", "VjpRule", "init_state", "next_state", "out_like", "register",
           "rule_for", "sum_to"]

L = TypeVar("L")
R = TypeVar("R")


@attrs.frozen
class Context:
    """What a rule sees besides its layer and input.

    ``training``: whether this is a training step (Dropout drops, BatchNorm uses the batch's
    statistics) or inference. ``key``: the explicit source of randomness, a tuple of integers
    (a training step uses ``(seed, step)``); each layer of a :class:`Sequential` gets its own
    key, the parent's plus its index. ``input_grad``: whether the VJP must return the input
    cotangent. ``state``: this layer's model state (BatchNorm's running statistics), or
    ``None``; a container's state is a tuple with one entry per child, and :meth:`child`
    hands each child its entry.
    """

    training: bool = False
    key: tuple[int, ...] | None = None
    input_grad: bool = True
    state: Any = None

    def child(self, index: int) -> Context:
        """The context of sub-layer ``index``: the same, with a key and a state of its own."""
        if self.key is None and self.state is None:
            return self  # the common case: no new object per layer and step
        key = None if self.key is None else (*self.key, index)
        return Context(self.training, key, self.input_grad,
                       None if self.state is None else self.state[index])

    def children(self, count: int) -> list[Context]:
        """The contexts of sub-layers ``0 .. count − 1``: ``[child(i) for i in range(count)]``."""
        if self.key is None and self.state is None:
            return [self] * count
        return [self.child(i) for i in range(count)]

    def with_input_grad(self) -> Context:
        """The same context with ``input_grad=True`` (what the inner layers of a network see
        when its first layer needs no input cotangent)."""
        if self.input_grad:
            return self
        if self.key is None and self.state is None:  # the common case: no new object per step
            plain = _WITH_INPUT_GRAD.get(self.training)
            if plain is not None:
                return plain
        return Context(self.training, self.key, True, self.state)

    def with_state(self, state: object) -> Context:
        """The same context carrying ``state``."""
        return Context(self.training, self.key, self.input_grad, state)

    def rng(self) -> np.random.Generator:
        """A generator seeded from ``key`` alone: the same key, the same draws."""
        if self.key is None:
            raise ValueError("this layer needs randomness, but no key was given: pass seed= "
                             "to train_step (or a Context with a key as ctx=)")
        return np.random.default_rng(self.key)


_WITH_INPUT_GRAD = {False: Context(False), True: Context(True)}

ForwardRule = Callable[[L, Array, Context], tuple[Array, R]]
VjpRule = Callable[[L, R, Array, L, Context], Array | None]
InitStateRule = Callable[[L], Any]
NextStateRule = Callable[[L, R, Context], Any]


class UnknownLayerError(TypeError):
    """A layer kind with no registered rules."""


@attrs.frozen
class Rule(Generic[L, R]):
    """A layer kind's forward rule and VJP rule, and its state rules if it has state."""

    forward: ForwardRule[L, R]
    vjp: VjpRule[L, R]
    init_state: InitStateRule[L] | None = None
    next_state: NextStateRule[L, R] | None = None


_RULES: dict[type, Rule[Any, Any]] = {}


def register(kind: type[L], forward: ForwardRule[L, R], vjp: VjpRule[L, R], *,
             init_state: InitStateRule[L] | None = None,
             next_state: NextStateRule[L, R] | None = None) -> None:
    """Register the rules of a layer kind (replacing any earlier ones).

    A kind with model state also gives ``init_state(layer) -> state`` and
    ``next_state(layer, residual, ctx) -> new state`` (see :mod:`functional_nn.rules`).
    """
    if (init_state is None) != (next_state is None):
        raise TypeError(f"{kind.__qualname__}: a layer with state needs both init_state= and "
                        "next_state=")
    _RULES[kind] = Rule(forward, vjp, init_state, next_state)


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
    if g.ndim != 2 or out.ndim != 1 or g.shape[1] != out.shape[0]:  # not a (batch, n) → (n,)
        lead = g.ndim - out.ndim
        if lead >= 0 and g.shape[lead:] != out.shape:  # size-1 axes of out were broadcast too
            g = g.sum(axis=tuple(lead + i for i, n in enumerate(out.shape) if n == 1),
                      keepdims=True)
        if lead < 0 or g.shape[lead:] != out.shape:
            raise ValueError(f"sum_to: a cotangent of shape {g.shape} is not a broadcast of "
                             f"shape {out.shape}")
        g = g.reshape(-1, out.size)
    if g.dtype != out.dtype:
        g = g.astype(out.dtype)
    # Σ over the leading axes = 1ᵀ·rows: BLAS's matrix-vector product costs a third of
    # numpy's reduction over a leading axis
    total = ones(g.shape[0], g.dtype)
    if out.flags.c_contiguous:  # every out the library hands a rule: straight into it
        np.dot(total, g, out=out if out.ndim == 1 else out.reshape(out.size))
    else:
        np.copyto(out, np.dot(total, g).reshape(out.shape))


def init_state(layer: object) -> Any:
    """The initial model state of ``layer`` (``None`` for a layer without state).

    A :class:`~functional_nn.layers.Sequential` with a BatchNorm has a tuple with one entry
    per layer (``None`` for the stateless ones); a network without stateful layers has
    ``None``, so its training state carries nothing extra.
    """
    rule = rule_for(layer)
    return None if rule.init_state is None else rule.init_state(layer)


def next_state(layer: object, residual: object, ctx: Context) -> Any:
    """The model state after a forward pass of ``layer`` (which gave ``residual``) in ``ctx``;
    ``None`` for a layer without state."""
    rule = rule_for(layer)
    return None if rule.next_state is None else rule.next_state(layer, residual, ctx)
