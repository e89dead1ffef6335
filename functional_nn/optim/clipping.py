"""Clipping by the global norm of all leaves taken together."""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

from .._validators import positive
from ..tree import tree_leaves
from .base import EmptyState, Optimizer
from .transforms import empty_init, scaled

__all__ = ["clip_by_global_norm", "global_norm"]

P = TypeVar("P")


def global_norm(tree: object) -> float:
    """The Euclidean norm of all the leaves of a tree taken together: ``√(Σ ‖leaf‖²)``.

    >>> global_norm({"a": np.array([3.0]), "b": np.array([[4.0]])})
    5.0
    """
    total = 0.0
    for leaf in tree_leaves(tree):
        x = np.asarray(leaf).reshape(-1)
        total += float(np.dot(x, x))
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
        return scaled(limit / norm, grads), state

    return Optimizer(empty_init, update_fn)
