"""The network as a composed function: ``forward``, ``loss``, ``grad`` and ``value_and_grad``.

``forward`` runs each layer's forward rule; ``value_and_grad`` adds the loss and then the
reverse sweep through the same rule table. All four are pure functions of their arguments.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from . import _fastmlp
from ._array import Array
from .losses import softmax_cross_entropy
from .rules import rule_for

__all__ = ["check_input", "forward", "grad", "loss", "value_and_grad"]

P = TypeVar("P")


def check_input(x: npt.ArrayLike) -> Array:
    """A batch as a 2-D numeric array (batch, features); raises a clear error otherwise."""
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (TypeError, ValueError) as error:
            raise TypeError(f"x must be a numeric array: {error}") from None
    if x.dtype.kind not in "fiu":
        raise TypeError(f"x must be a numeric array, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"x must have shape (batch, features), got shape {x.shape}")
    return x


def forward(params: object, x: npt.ArrayLike) -> Array:
    """The logits of a batch ``x`` of shape (batch, features).

    >>> from functional_nn.layers import mlp
    >>> forward(mlp([4, 3, 2], seed=0), np.ones((5, 4), np.float32)).shape
    (5, 2)
    """
    return rule_for(params).forward(params, check_input(x))[0]


def loss(params: object, x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Mean softmax cross-entropy of the network's logits against labels ``y``.

    ``y`` holds integer classes of shape (batch,) or one-hot rows of shape (batch, classes).
    """
    return softmax_cross_entropy(forward(params, x), y)[0]


def value_and_grad(params: P, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, P]:
    """The loss and its gradient: a tree of the same type and structure as ``params``.

    Same as ``(loss(params, x, y), grad(params, x, y))`` with one forward pass.
    """
    x = check_input(x)
    plan = _fastmlp.plan_for(params)
    if plan is not None:
        fast = _fastmlp.value_and_grad(plan, params, x, y)  # type: ignore[arg-type]
        if fast is not None:
            return fast
    rule = rule_for(params)
    logits, residual = rule.forward(params, x)
    value, g = softmax_cross_entropy(logits, y)
    grads, _ = rule.vjp(params, residual, g, False)
    return value, grads  # type: ignore[return-value]


def grad(params: P, x: npt.ArrayLike, y: npt.ArrayLike) -> P:
    """The gradient of :func:`loss` with respect to ``params``: same tree type as ``params``."""
    return value_and_grad(params, x, y)[1]
