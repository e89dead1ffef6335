"""Losses as values: each has a pure ``value_and_grad(outputs, targets) -> (value, gradient)``.

A loss is any object with that method (:class:`Loss`); the built-in ones are frozen attrs
classes whose fields are their hyperparameters, made by the factories :func:`cross_entropy`,
:func:`binary_cross_entropy`, :func:`mean_squared_error` and :func:`huber`. Each reduces with a
mean, as PyTorch's ``reduction="mean"`` does (cross-entropy: over the batch; the others: over
every element), accumulates in float64, and returns a gradient of the outputs' dtype. The
gradient is a fresh array: the reverse sweep may overwrite it.
"""

from __future__ import annotations

from typing import Protocol, cast

import attrs
import numpy as np
import numpy.typing as npt

from ._array import Array, ones

__all__ = ["BinaryCrossEntropy", "CrossEntropy", "Huber", "Loss", "MeanSquaredError",
           "binary_cross_entropy", "check_labels", "cross_entropy", "huber", "log_softmax",
           "mean_squared_error", "softmax", "softmax_cross_entropy"]


def _floating(name: str, logits: object) -> Array:
    """``logits`` as a floating array of at least one axis (integers as float64);
    ``TypeError`` naming ``name`` for anything else (complex, text, a 0-d array)."""
    z = np.asarray(logits) if not isinstance(logits, np.ndarray) else logits
    if z.dtype.kind in "iub":
        z = z.astype(np.float64)
    if z.dtype.kind != "f" or z.ndim == 0:
        raise TypeError(f"{name} takes a real array of logits (..., classes), got "
                        f"{'a 0-d array' if z.dtype.kind == 'f' else f'dtype {z.dtype}'}")
    return z


def log_softmax(logits: npt.ArrayLike) -> Array:
    """``log(softmax(z))`` along the last axis, computed as ``z - max - log(sum(exp(z - max)))``.

    >>> log_softmax(np.array([[0.0, 0.0]]))
    array([[-0.69314718, -0.69314718]])
    """
    z = _floating("log_softmax", logits)
    shifted: Array = z - z.max(axis=-1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return shifted


def softmax(logits: npt.ArrayLike) -> Array:
    """``exp(z) / sum(exp(z))`` along the last axis, stable for large logits.

    >>> softmax(np.array([[1e4, 0.0]]))
    array([[1., 0.]])
    """
    z = _floating("softmax", logits)
    e: Array = np.exp(z - z.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return e


def check_labels(labels: npt.ArrayLike, logits_shape: tuple[int, ...]) -> npt.NDArray[np.generic]:
    """Validate labels against logits of shape (batch, classes): integer class indices of
    shape (batch,) in ``[0, classes)`` (returned as ``intp``), or one-hot (or soft) rows of
    shape (batch, classes)."""
    y = np.asarray(labels)
    batch, classes = logits_shape
    if batch == 0:
        raise ValueError("empty batch: the loss of no samples is undefined")
    if y.ndim == 1:
        if y.dtype.kind not in "iu":
            raise ValueError(f"integer labels expected, got dtype {y.dtype}")
        if y.shape[0] != batch:
            raise ValueError(f"got {y.shape[0]} labels for a batch of {batch}")
        # negative labels wrap to huge unsigned ones: one reduction checks both bounds
        if y.size and np.maximum.reduce(y.astype(np.uint64)) >= classes:
            bad = y[(y < 0) | (y >= classes)][0]
            raise ValueError(f"label {bad} outside [0, {classes})")
        return y.astype(np.intp, copy=False)
    if y.ndim == 2:
        if y.shape != (batch, classes):
            raise ValueError(f"one-hot labels of shape {(batch, classes)} expected, got {y.shape}")
        if y.dtype.kind not in "fbiu":  # pandas' get_dummies gives uint8 rows
            raise ValueError(f"one-hot labels must be numeric, got dtype {y.dtype}")
        return y
    raise ValueError(f"labels must have shape (batch,) or (batch, classes), got {y.shape}")


class Loss(Protocol):
    """What ``value_and_grad``, ``loss`` and ``train_step`` take as ``loss=``: a pure
    ``value_and_grad(outputs, targets)`` returning the loss and its gradient w.r.t. the outputs
    (a fresh array of the outputs' shape and dtype)."""

    def value_and_grad(self, outputs: Array, targets: npt.ArrayLike, /) -> tuple[float, Array]:
        ...


def _fail(name: str, message: str) -> ValueError:
    return ValueError(f"{name}: {message}")


def _float_targets(name: str, outputs: Array, targets: npt.ArrayLike) -> Array:
    """Targets of the outputs' shape, as floats of the outputs' dtype."""
    t = np.asarray(targets)
    if t.dtype.kind not in "fb":
        raise _fail(name, f"targets must be floating (of shape {outputs.shape}), got dtype "
                          f"{t.dtype}" + (": integer class labels go to cross_entropy"
                                          if t.dtype.kind in "iu" else ""))
    if t.shape != outputs.shape:
        raise _fail(name, f"targets must have the outputs' shape {outputs.shape}, got {t.shape}")
    if outputs.size == 0:
        raise _fail(name, "empty batch: the loss of no samples is undefined")
    return t.astype(outputs.dtype, copy=False)


@attrs.frozen
class CrossEntropy:
    """Mean softmax cross-entropy over the batch, with optional label smoothing.

    With ``p = softmax(z)`` and target distribution ``q`` (one-hot rows for integer labels;
    with smoothing ``ε``, ``q ← (1−ε)·q + ε/K`` over ``K`` classes, as PyTorch's
    ``CrossEntropyLoss(label_smoothing=ε)``): ``L = −mean_i Σ_k q_ik log p_ik`` and
    ``dL/dz = (p · Σ_k q_k − q) / batch``. Szegedy et al., *Rethinking the Inception
    Architecture* (2016), for the smoothing.

    >>> value, g = cross_entropy().value_and_grad(np.array([[0.0, 0.0]]), np.array([1]))
    >>> round(value, 6), g.tolist()
    (0.693147, [[0.5, -0.5]])
    """

    label_smoothing: float = attrs.field(default=0.0)

    @label_smoothing.validator
    def _check(self, attribute: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {value!r}")

    def value_and_grad(self, outputs: Array, targets: npt.ArrayLike) -> tuple[float, Array]:
        if outputs.ndim != 2:
            raise _fail("cross_entropy", f"logits must have shape (batch, classes), got "
                                         f"{outputs.shape}")
        try:
            y = check_labels(targets, outputs.shape)
        except ValueError as error:
            raise _fail("cross_entropy", str(error)) from None
        batch, classes = outputs.shape
        eps = float(self.label_smoothing)
        # z = logits − max, lse = log Σ exp(z): log p = z − lse and p = exp(z) / Σ exp(z), one
        # exp for the loss and the gradient. (Row maxima through argmax, row sums through a
        # matrix-vector product and entries by their flat index, starts[i] + k for row i's
        # class k: numpy's reductions along a short last axis and two-index gathers cost more.)
        starts = np.arange(0, batch * classes, classes)
        z: Array = outputs - outputs.reshape(-1)[starts + outputs.argmax(axis=-1)][:, None]
        entries = z.reshape(-1)  # a view: z is fresh
        q: Array | None = None
        weights: Array | None = None  # Σ_k q_k: one per row for integer labels
        if y.ndim == 1:  # Σ_k q_k z_k = (1−ε)·z_y + ε/K · Σ_k z_k
            at = starts + y
            picked = entries[at]
            if eps:
                picked = picked * (1.0 - eps) + (eps / classes) * z.sum(axis=1)
        else:
            q = y.astype(outputs.dtype)
            if eps:
                q *= 1.0 - eps
                q += eps / classes
            picked = (q * z).sum(axis=1)
            weights = q.sum(axis=1)
        np.exp(z, out=z)
        total = z @ ones(classes, z.dtype)
        lse = np.log(total)
        z /= total[:, None]  # p
        weighted = lse if weights is None else lse * weights
        value = float(np.add.reduce(weighted, dtype=np.float64)
                      - np.add.reduce(picked, dtype=np.float64))
        if q is None:  # dL/dz = (p − q) / n with q = (1−ε)·onehot(y) + ε/K
            entries[at] -= 1.0 - eps
            if eps:
                z -= eps / classes
        else:  # dL/dz = (p · Σq − q) / n
            z *= cast("Array", weights)[:, None]
            z -= q
        z *= 1.0 / batch
        return value / batch, z


@attrs.frozen
class BinaryCrossEntropy:
    """Mean binary cross-entropy of ``sigmoid(z)`` against targets ``t`` in [0, 1] of the
    logits' shape (multi-label), over every element, computed from the logits.

    ``ℓ = max(z, 0) − z·t + log(1 + exp(−|z|))`` (no overflow: the form of PyTorch's
    ``BCEWithLogitsLoss``) and ``dℓ/dz = σ(z) − t``, divided by the number of elements.

    >>> value, g = binary_cross_entropy().value_and_grad(np.array([[0.0]]), np.array([[1.0]]))
    >>> round(value, 6), g.tolist()
    (0.693147, [[-0.5]])
    """

    def value_and_grad(self, outputs: Array, targets: npt.ArrayLike) -> tuple[float, Array]:
        t = _float_targets("binary_cross_entropy", outputs, targets)
        if np.any((t < 0) | (t > 1)) or not np.all(np.isfinite(t)):
            raise _fail("binary_cross_entropy", "targets must be in [0, 1]")
        z = outputs
        elementwise = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        half = z.dtype.type(0.5)
        g = np.tanh(z * half)  # σ(z) = (1 + tanh(z/2)) / 2
        g += 1
        g *= half
        g -= t
        g *= g.dtype.type(1.0 / z.size)
        return float(elementwise.sum(dtype=np.float64)) / z.size, g


@attrs.frozen
class MeanSquaredError:
    """Mean squared error over every element: ``L = mean((y − t)²)``, ``dL/dy = 2(y − t)/N``.

    >>> value, g = mean_squared_error().value_and_grad(np.array([[1.0, 3.0]]), np.zeros((1, 2)))
    >>> value, g.tolist()
    (5.0, [[1.0, 3.0]])
    """

    def value_and_grad(self, outputs: Array, targets: npt.ArrayLike) -> tuple[float, Array]:
        r = outputs - _float_targets("mean_squared_error", outputs, targets)
        r64 = r.astype(np.float64)
        value = float(np.vdot(r64, r64))
        r *= r.dtype.type(2.0 / r.size)
        return value / outputs.size, r


@attrs.frozen
class Huber:
    """Mean Huber loss over every element, with ``r = y − t``: ``½r²`` where ``|r| ≤ δ``, else
    ``δ(|r| − ½δ)``; ``dℓ/dr = clip(r, −δ, δ)``, divided by the number of elements.

    Huber, *Robust Estimation of a Location Parameter* (1964); PyTorch's ``HuberLoss(delta=δ)``.

    >>> value, g = huber(1.0).value_and_grad(np.array([[0.5, 3.0]]), np.zeros((1, 2)))
    >>> value, g.tolist()
    (1.3125, [[0.25, 0.5]])
    """

    delta: float = attrs.field(default=1.0)

    @delta.validator
    def _check(self, attribute: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < np.inf:
            raise ValueError(f"huber: delta must be positive and finite, got {value!r}")

    def value_and_grad(self, outputs: Array, targets: npt.ArrayLike) -> tuple[float, Array]:
        r = outputs - _float_targets("huber", outputs, targets)
        d = float(self.delta)
        a = np.abs(r).astype(np.float64)
        value = float(np.where(a <= d, 0.5 * a * a, d * (a - 0.5 * d)).sum())
        np.clip(r, -d, d, out=r)
        r *= r.dtype.type(1.0 / r.size)
        return value / outputs.size, r


def cross_entropy(label_smoothing: float = 0.0) -> CrossEntropy:
    """Softmax cross-entropy, from logits, for integer or one-hot labels (see
    :class:`CrossEntropy`). Same as ``CrossEntropy(label_smoothing)``."""
    return CrossEntropy(label_smoothing)


def binary_cross_entropy() -> BinaryCrossEntropy:
    """Binary cross-entropy from logits, for multi-label targets (see
    :class:`BinaryCrossEntropy`). Same as ``BinaryCrossEntropy()``."""
    return BinaryCrossEntropy()


def mean_squared_error() -> MeanSquaredError:
    """Mean squared error (see :class:`MeanSquaredError`). Same as ``MeanSquaredError()``."""
    return MeanSquaredError()


def huber(delta: float = 1.0) -> Huber:
    """Huber loss (see :class:`Huber`). Same as ``Huber(delta)``."""
    return Huber(delta)


def softmax_cross_entropy(logits: Array, labels: npt.ArrayLike) -> tuple[float, Array]:
    """Mean softmax cross-entropy and its gradient w.r.t. the logits.

    Same as ``cross_entropy().value_and_grad(logits, labels)``.
    """
    return _CROSS_ENTROPY.value_and_grad(logits, labels)


_CROSS_ENTROPY = CrossEntropy()
