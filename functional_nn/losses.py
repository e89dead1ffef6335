"""Softmax cross-entropy, numerically stable, with its gradient with respect to the logits."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._array import Array

__all__ = ["check_labels", "log_softmax", "softmax", "softmax_cross_entropy"]


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


def softmax_cross_entropy(logits: Array, labels: npt.ArrayLike) -> tuple[float, Array]:
    """Mean categorical cross-entropy of ``softmax(logits)`` and its gradient w.r.t. the logits.

    ``L = -mean_i sum_k y_ik log p_ik`` and ``dL/dz = (p * sum_k y_k - y) / batch``, which is
    ``(p - onehot(y)) / batch`` for class indices.

    >>> value, g = softmax_cross_entropy(np.array([[0.0, 0.0]]), np.array([1]))
    >>> round(value, 6), g.tolist()
    (0.693147, [[0.5, -0.5]])
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (batch, classes), got {logits.shape}")
    y = check_labels(labels, logits.shape)
    batch = logits.shape[0]
    logp = log_softmax(logits)
    probs = np.exp(logp)
    scale = logits.dtype.type(1.0 / max(batch, 1))
    if y.ndim == 1:
        rows = np.arange(batch)
        value = -float(logp[rows, y].sum(dtype=np.float64)) / max(batch, 1)
        probs[rows, y] -= 1
    else:
        yf = y.astype(logits.dtype, copy=False)
        value = -float((yf * logp).sum(dtype=np.float64)) / max(batch, 1)
        probs *= yf.sum(axis=1, keepdims=True)
        probs -= yf
    probs *= scale
    return value, probs
