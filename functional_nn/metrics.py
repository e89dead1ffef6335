"""Evaluation metrics, computed in batches so memory stays bounded on any dataset size.

Each takes a batch of any shape the network's first layer expects (features, or images
``(n, height, width, channels)``) and, for a network with model state (BatchNorm), the state
as ``state=``: metrics run at inference, with the running statistics.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import numpy as np
import numpy.typing as npt

from ._validators import positive_int
from .losses import check_labels, softmax_cross_entropy
from .model import check_input, forward

__all__ = [
    "Evaluation",
    "accuracy",
    "confusion_matrix",
    "confusion_matrix_from",
    "evaluate",
    "mean_absolute_error",
    "mean_squared_error",
    "precision_recall",
    "predict",
]

Labels = npt.NDArray[np.integer]


def _chunks(n: int, batch_size: int) -> Iterator[slice]:
    positive_int("batch_size", batch_size)
    return (slice(i, i + batch_size) for i in range(0, n, batch_size))


def _predicted(params: object, x: npt.ArrayLike, batch_size: int,
               state: object) -> tuple[Labels, int | None]:
    """The predicted classes and the number of classes (None for no samples)."""
    x = check_input(x)
    out, classes = np.empty(len(x), dtype=np.int64), None
    for part in _chunks(len(x), batch_size):
        logits = forward(params, x[part], state=state)
        out[part], classes = logits.argmax(axis=1), logits.shape[1]
    return out, classes


def predict(params: object, x: npt.ArrayLike, *, batch_size: int = 4096,
            state: object = None) -> Labels:
    """The predicted class of each sample of ``x``: the argmax of the logits."""
    return _predicted(params, x, batch_size, state)[0]


def _class_labels(y: npt.ArrayLike) -> Labels:
    labels = np.asarray(y)
    if labels.ndim == 2:
        classes: Labels = labels.argmax(axis=1)
        return classes
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer classes of shape (n,), got {labels.dtype} "
                         f"{labels.shape}")
    return labels


def accuracy(params: object, x: npt.ArrayLike, y: npt.ArrayLike, *,
             batch_size: int = 4096, state: object = None) -> float:
    """The fraction of samples of ``x`` whose predicted class is the label in ``y``."""
    predicted, classes = _predicted(params, x, batch_size, state)
    labels = _class_labels(y)
    if len(labels) != len(predicted):
        raise ValueError(f"x has {len(predicted)} samples but y has {len(labels)}")
    if classes is None:
        return float("nan")
    check_labels(y, (len(labels), classes))  # as the loss checks them: range, one-hot width
    return float(np.mean(predicted == labels))


def confusion_matrix_from(y_true: npt.ArrayLike, y_pred: npt.ArrayLike,
                          classes: int) -> npt.NDArray[np.int64]:
    """Counts of (true class, predicted class) pairs: rows are true, columns predicted.

    >>> confusion_matrix_from([0, 1, 1], [0, 1, 0], classes=2).tolist()
    [[1, 0], [1, 1]]
    """
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError(f"{t.shape[0]} true labels but {p.shape[0]} predictions")
    for name, v in (("true label", t), ("prediction", p)):
        if v.size and (v.min() < 0 or v.max() >= classes):
            raise ValueError(f"{name} outside [0, {classes})")
    counts = np.bincount(t * classes + p, minlength=classes * classes)
    return counts.reshape(classes, classes)


def confusion_matrix(params: object, x: npt.ArrayLike, y: npt.ArrayLike, *,
                     classes: int | None = None, batch_size: int = 4096,
                     state: object = None) -> npt.NDArray[np.int64]:
    """The confusion matrix of the network's predictions on ``x`` against labels ``y``."""
    labels = _class_labels(y)
    predicted = predict(params, x, batch_size=batch_size, state=state)
    if classes is None:
        classes = int(max(labels.max(initial=0), predicted.max(initial=0))) + 1
    return confusion_matrix_from(labels, predicted, classes)


def precision_recall(matrix: npt.ArrayLike) -> tuple[npt.NDArray[np.float64],
                                                     npt.NDArray[np.float64]]:
    """Per-class precision (column-wise) and recall (row-wise) of a confusion matrix.

    A class never predicted has precision NaN; a class never present has recall NaN.

    >>> p, r = precision_recall([[3, 1], [0, 4]])
    >>> p.tolist(), r.tolist()
    ([1.0, 0.8], [0.75, 1.0])
    """
    m = np.asarray(matrix, dtype=np.float64)
    diagonal = np.diag(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        return diagonal / m.sum(axis=0), diagonal / m.sum(axis=1)


@attrs.frozen
class Evaluation:
    """Loss, accuracy and confusion matrix of a network on a labelled set."""

    loss: float
    accuracy: float
    confusion: npt.NDArray[np.int64]


def evaluate(params: object, x: npt.ArrayLike, y: npt.ArrayLike, *, classes: int | None = None,
             batch_size: int = 4096, state: object = None) -> Evaluation:
    """Mean loss, accuracy and confusion matrix in one batched pass over ``x``."""
    x = check_input(x)
    labels = _class_labels(y)
    if len(labels) != len(x):
        raise ValueError(f"x has {len(x)} samples but y has {len(labels)}")
    total, predicted = 0.0, np.empty(len(x), dtype=np.int64)
    for part in _chunks(len(x), batch_size):
        logits = forward(params, x[part], state=state)
        total += softmax_cross_entropy(logits, labels[part])[0] * len(logits)
        predicted[part] = logits.argmax(axis=1)
    if classes is None:
        classes = int(max(labels.max(initial=0), predicted.max(initial=0))) + 1
    n = max(len(x), 1)
    return Evaluation(total / n, float(np.mean(predicted == labels)) if len(x) else float("nan"),
                      confusion_matrix_from(labels, predicted, classes))


def _errors(params: object, x: npt.ArrayLike, y: npt.ArrayLike, batch_size: int,
            power: int, state: object) -> float:
    """``mean(|outputs − y|^power)`` over every element, in batches, accumulated in float64."""
    x = check_input(x)
    t = np.asarray(y)
    if len(t) != len(x):
        raise ValueError(f"x has {len(x)} samples but y has {len(t)}")
    if t.dtype.kind not in "fiu":
        raise ValueError(f"regression targets must be numeric, got dtype {t.dtype}")
    total, count = 0.0, 0
    for part in _chunks(len(x), batch_size):
        out = forward(params, x[part], state=state)
        if out.shape != t[part].shape:
            raise ValueError(f"the network's outputs have shape {out.shape[1:]} per sample but "
                             f"the targets {t.shape[1:]}")
        r = np.abs(out.astype(np.float64) - t[part])
        total += float((r * r).sum() if power == 2 else r.sum())
        count += r.size
    if count == 0:
        raise ValueError("no samples: the error of nothing is undefined")
    return total / count


def mean_squared_error(params: object, x: npt.ArrayLike, y: npt.ArrayLike, *,
                       batch_size: int = 4096, state: object = None) -> float:
    """The mean of ``(outputs − y)²`` over every element: the regression error of a network.

    >>> from functional_nn.layers import Dense
    >>> mean_squared_error(Dense(np.ones((1, 1)), np.zeros(1)), [[1.0], [2.0]], [[0.0], [2.0]])
    0.5
    """
    return _errors(params, x, y, batch_size, 2, state)


def mean_absolute_error(params: object, x: npt.ArrayLike, y: npt.ArrayLike, *,
                        batch_size: int = 4096, state: object = None) -> float:
    """The mean of ``|outputs − y|`` over every element.

    >>> from functional_nn.layers import Dense
    >>> mean_absolute_error(Dense(np.ones((1, 1)), np.zeros(1)), [[1.0], [2.0]], [[0.0], [2.0]])
    0.5
    """
    return _errors(params, x, y, batch_size, 1, state)
