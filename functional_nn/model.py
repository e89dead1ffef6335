"""The network as a composed function: ``forward``, ``loss``, ``grad`` and ``value_and_grad``.

``forward`` runs the layers' forward rules (see :mod:`functional_nn.rules`); ``value_and_grad``
adds the loss's value and gradient, then runs the same table's VJP rules in reverse, writing
every parameter gradient into one fresh buffer: the gradient of a :class:`~.flat.Flat` is a
``Flat`` of the same layout, and the gradient of any other tree is a tree of its type whose
leaves are views of that buffer. All are pure functions of their arguments.

A network with model state (BatchNorm's running statistics, see :mod:`functional_nn.rules`)
takes it as ``state=``: :func:`forward` and :func:`loss` read it at inference, and
:func:`value_and_grad_with_state` also returns the state after the step.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ._array import Array
from .flat import Flat, flatten, owned_flats
from .losses import CrossEntropy, Loss
from .rules import Context, next_state, rule_for

__all__ = ["check_input", "forward", "grad", "loss", "value_and_grad",
           "value_and_grad_with_state"]

P = TypeVar("P")

INFERENCE = Context()
_TRAINING = Context(training=True, input_grad=False)
CROSS_ENTROPY = CrossEntropy()


def check_input(x: npt.ArrayLike) -> Array:
    """A batch as a numeric array of shape ``(batch, ...)``: features, or images
    ``(batch, height, width, channels)``; a clear error otherwise. Whether the shape suits the
    network is the first layer's to say (a ``ValueError`` naming the layer and the shape it
    expects)."""
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as error:
            raise TypeError(f"x must be a numeric array: {error}") from None
    if x.dtype.kind not in "fiu":
        raise TypeError(f"x must be a numeric array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (batch, features) or (batch, height, width, "
                         f"channels), got shape {x.shape}")
    return x


def _with_state(ctx: Context, state: object) -> Context:
    return ctx if state is None else ctx.with_state(state)


def forward(params: object, x: npt.ArrayLike, *, ctx: Context = INFERENCE,
            state: object = None) -> Array:
    """The outputs (logits) of the network ``params`` on a batch ``x``, in inference mode
    unless ``ctx`` says otherwise, with model ``state`` (a network with BatchNorm needs it).

    >>> from functional_nn.layers import mlp
    >>> forward(mlp([4, 3, 2], seed=0), np.ones((5, 4), np.float32)).shape
    (5, 2)
    """
    ctx = _with_state(ctx, state)
    y: Array = rule_for(params).forward(params, check_input(x), ctx)[0]
    return y


def loss(params: object, x: npt.ArrayLike, y: npt.ArrayLike, *,
         loss: Loss = CROSS_ENTROPY, ctx: Context = INFERENCE, state: object = None) -> float:
    """The loss of the network's outputs against targets ``y`` (see :mod:`.losses`): mean
    softmax cross-entropy by default, where ``y`` holds integer classes (batch,) or one-hot
    rows (batch, classes)."""
    return loss.value_and_grad(forward(params, x, ctx=ctx, state=state), y)[0]


def _sweep(params: P, x: npt.ArrayLike, y: npt.ArrayLike, loss: Loss, ctx: Context,
           stateful: bool) -> tuple[float, P, object]:
    """Forward, loss, the model state after the pass (when ``stateful``), reverse sweep."""
    x = check_input(x)
    flat: Flat[Any] = params if isinstance(params, Flat) else flatten(params)
    rule = rule_for(flat)
    outputs, residual = rule.forward(flat, x, ctx)
    state = next_state(flat, residual, ctx) if stateful else None
    value, g = loss.value_and_grad(outputs, y)
    layout = flat.layout
    buffer = np.empty(layout.size, layout.dtype)  # private until the sweep has filled it
    # a writable Flat for the rules to fill (the constructor would freeze a copy)
    rule.vjp(flat, residual, g, Flat.of(layout, buffer), ctx)
    grads = owned_flats(layout, (buffer,))[0]
    result: Any = grads if isinstance(params, Flat) else grads.tree
    return value, result, state


def value_and_grad(params: P, x: npt.ArrayLike, y: npt.ArrayLike, *,
                   loss: Loss = CROSS_ENTROPY,
                   ctx: Context = _TRAINING) -> tuple[float, P]:
    """The loss and its gradient: a tree of the same type and structure as ``params``.

    Same as ``(loss(params, x, y), grad(params, x, y))`` with one forward pass. ``ctx`` is the
    training context by default (no input gradient for the first layer: nobody needs it).
    A tree that is not a :class:`~.flat.Flat` is copied into one first (its leaves must be
    floating arrays of one dtype); train on ``flatten(params)`` to skip that copy. Model state
    is neither read nor updated (BatchNorm trains on batch statistics): to thread it, use
    :func:`value_and_grad_with_state`.
    """
    value, grads, _ = _sweep(params, x, y, loss, ctx, stateful=False)
    return value, grads


def value_and_grad_with_state(params: P, x: npt.ArrayLike, y: npt.ArrayLike, *, state: object,
                              loss: Loss = CROSS_ENTROPY,
                              ctx: Context = _TRAINING) -> tuple[float, P, object]:
    """:func:`value_and_grad` of a network with model ``state``: ``(loss, grads, new_state)``.

    ``state`` is the network's model state (from :func:`~functional_nn.rules.init_state`, or
    the previous step's); in training, ``new_state`` is the state after this batch (BatchNorm's
    running statistics updated), at inference ``state`` itself. ``state`` is not changed.
    """
    return _sweep(params, x, y, loss, _with_state(ctx, state), stateful=True)


def grad(params: P, x: npt.ArrayLike, y: npt.ArrayLike, *,
         loss: Loss = CROSS_ENTROPY, ctx: Context = _TRAINING) -> P:
    """The gradient of :func:`loss` with respect to ``params``: same tree type as ``params``."""
    return value_and_grad(params, x, y, loss=loss, ctx=ctx)[1]
