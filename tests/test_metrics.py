"""Metrics: batched evaluation equals one-shot evaluation; precision and recall."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.metrics import (
    confusion_matrix,
    confusion_matrix_from,
    evaluate,
    precision_recall,
    predict,
)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 60), st.integers(1, 70), st.integers(0, 2**31))
def test_batched_metrics_equal_one_batch(n: int, batch_size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = fnn.mlp([5, 4, 3], seed=seed)
    x = rng.standard_normal((n, 5)).astype(np.float32)
    y = rng.integers(0, 3, n)
    expected = fnn.forward(net, x).argmax(axis=1)
    assert predict(net, x, batch_size=batch_size).tolist() == expected.tolist()
    assert fnn.accuracy(net, x, y, batch_size=batch_size) == np.mean(expected == y)
    cm = confusion_matrix(net, x, y, classes=3, batch_size=batch_size)
    assert cm.sum() == n
    assert np.trace(cm) == np.sum(expected == y)
    ev = evaluate(net, x, y, classes=3, batch_size=batch_size)
    assert ev.loss == pytest.approx(fnn.loss(net, x, y), rel=1e-5)
    assert ev.confusion.tolist() == cm.tolist()


def test_precision_recall_by_hand() -> None:
    cm = confusion_matrix_from([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    precision, recall = precision_recall(cm)
    np.testing.assert_allclose(precision, [0.5, 0.5, 1.0])
    np.testing.assert_allclose(recall, [0.5, 1.0, 2 / 3])


def test_bad_arguments() -> None:
    net = fnn.mlp([2, 2], seed=0)
    with pytest.raises(ValueError, match="batch_size"):
        predict(net, np.ones((3, 2)), batch_size=0)
    with pytest.raises(ValueError, match="3 samples but y has 2"):
        fnn.accuracy(net, np.ones((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"outside \[0, 2\)"):
        confusion_matrix_from([0, 2], [0, 1], classes=2)


def test_accuracy_checks_its_labels_as_the_loss_does() -> None:
    net = fnn.mlp([4, 3, 2], seed=0)
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    for labels, message in [(np.full(5, 7), r"label 7 outside \[0, 2\)"),
                            (np.array([0, 1, 1, 0, -1]), r"label -1 outside \[0, 2\)"),
                            (np.ones((5, 1)), r"one-hot labels of shape \(5, 2\) expected, got "
                                              r"\(5, 1\)"),
                            (np.eye(3)[[0, 1, 2, 0, 1]], r"of shape \(5, 2\) expected")]:
        with pytest.raises(ValueError, match=message):
            fnn.accuracy(net, x, labels)
    classes = np.array([0, 1, 1, 0, 1])
    for one_hot in (np.eye(2)[classes], np.eye(2, dtype=np.uint8)[classes]):  # get_dummies' too
        assert fnn.accuracy(net, x, one_hot) == fnn.accuracy(net, x, classes)
