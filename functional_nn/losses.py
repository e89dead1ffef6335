"""Softmax cross-entropy, numerically stable, with its gradient with respect to the logits."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from ._array import Array

__all__ = ["Loss", "check_labels", "log_softmax", "softmax", "softmax_cross_entropy"]


def log_softmax(logits: Array) -> Array:
    """``log(softmax(z))`` along the last axis, computed as ``z - max - log(sum(exp(z - max)))``.

    >>> log_softmax(np.array([[0.0, 0.0]]))
    array([[-0.69314718, -0.69314718]])
    """
    shifted: Array = logits - logits.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


def softmax(logits: Array) -> Array:
    """``exp(z) / sum(exp(z))`` along the last axis, stable for large logits.

    >>> softmax(np.array([[1e4, 0.0]]))
    array([[1., 0.]])
    """
    e: Array = np.exp(logits - logits.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def check_labels(labels: npt.ArrayLike, logits_shape: tuple[int, ...]) -> npt.NDArray[np.generic]:
    """Validate labels against logits of shape (batch, classes): integer class indices of
    shape (batch,) in ``[0, classes)``, or one-hot (or soft) rows of shape (batch, classes)."""
    y = np.asarray(labels)
    batch, classes = logits_shape
    if batch == 0:
        raise ValueError("empty batch: the loss of no samples is undefined")
    if y.ndim == 1:
        if y.dtype.kind not in "iu":
            raise ValueError(f"integer labels expected, got dtype {y.dtype}")
        if y.shape[0] != batch:
            raise ValueError(f"got {y.shape[0]} labels for a batch of {batch}")
        if y.size and (y.min() < 0 or y.max() >= classes):
            bad = y[(y < 0) | (y >= classes)][0]
            raise ValueError(f"label {bad} outside [0, {classes})")
        return y
    if y.ndim == 2:
        if y.shape != (batch, classes):
            raise ValueError(f"one-hot labels of shape {(batch, classes)} expected, got {y.shape}")
        if y.dtype.kind not in "fb":
            raise ValueError(f"one-hot labels must be floating or bool, got dtype {y.dtype}")
        return y
    raise ValueError(f"labels must have shape (batch,) or (batch, classes), got {y.shape}")


Loss: TypeAlias = Callable[[Array, npt.ArrayLike], tuple[float, Array]]
"""``loss(outputs, targets) -> (value, gradient w.r.t. outputs)``: a pure function; the gradient
is a fresh array (the reverse sweep may overwrite it)."""


def softmax_cross_entropy(logits: Array, labels: npt.ArrayLike) -> tuple[float, Array]:
    """Mean categorical cross-entropy of ``softmax(logits)`` and its gradient w.r.t. the logits.

    ``L = -mean_i sum_k y_ik log p_ik`` and ``dL/dz = (p * sum_k y_k - y) / batch``, which is
    ``(p - onehot(y)) / batch`` for class indices. With ``z = logits - max`` and
    ``lse = log(sum(exp(z)))``, ``log p = z - lse`` and ``p = exp(z) / sum(exp(z))``: one exp
    serves the loss and the gradient.

    >>> value, g = softmax_cross_entropy(np.array([[0.0, 0.0]]), np.array([1]))
    >>> round(value, 6), g.tolist()
    (0.693147, [[0.5, -0.5]])
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (batch, classes), got {logits.shape}")
    y = check_labels(labels, logits.shape)
    batch, classes = logits.shape
    rows = np.arange(batch)
    # Row maxima through argmax and row sums through a matrix-vector product: numpy's
    # reductions along a short last axis cost several times more.
    z: Array = logits - logits[rows, logits.argmax(axis=-1)][:, None]
    if y.ndim == 1:
        picked = z[rows, y]
    else:
        yf = y.astype(logits.dtype, copy=False)
        picked = (yf * z).sum(axis=1)
        weights = yf.sum(axis=1, keepdims=True)
    np.exp(z, out=z)
    total = z @ np.ones((classes, 1), z.dtype)
    lse = np.log(total)
    z /= total  # p
    if y.ndim == 1:  # L = mean(lse - z_y);  dL/dz = (p - onehot(y)) / n
        value = float(lse.sum(dtype=np.float64) - picked.sum(dtype=np.float64)) / batch
        z[rows, y] -= 1
    else:  # L = mean(lse · Σy - Σ y·z);  dL/dz = (p · Σy - y) / n
        value = float((lse * weights).sum(dtype=np.float64)
                      - picked.sum(dtype=np.float64)) / batch
        z *= weights
        z -= yf
    z *= z.dtype.type(1.0 / batch)
    return value, z
