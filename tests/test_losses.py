"""Losses: gradients against finite differences, values against float64 transcriptions of
PyTorch's formulas (and PyTorch itself when installed), stability, errors, and training."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn import losses, optim

Targets = Callable[[np.random.Generator, tuple[int, int]], np.ndarray]


def _classes(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.integers(0, shape[1], shape[0])


def _soft(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    p = rng.random(shape) + 0.1
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def _unit(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.random(shape)


def _real(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.standard_normal(shape) * 2


CASES: dict[str, tuple[losses.Loss, Targets]] = {
    "ce": (losses.cross_entropy(), _classes),
    "ce_smooth": (losses.cross_entropy(0.2), _classes),
    "ce_soft_smooth": (losses.cross_entropy(0.1), _soft),
    "bce": (losses.binary_cross_entropy(), _unit),
    "mse": (losses.mean_squared_error(), _real),
    "huber": (losses.huber(0.7), _real),
}


def _reference(name: str, z: np.ndarray, t: np.ndarray) -> float:
    """PyTorch's formulas (reduction="mean"), transcribed naively in float64."""
    k = z.shape[1]
    if name.startswith("ce"):
        eps = {"ce": 0.0, "ce_smooth": 0.2, "ce_soft_smooth": 0.1}[name]
        q = np.eye(k)[t] if t.ndim == 1 else t
        q = q * (1 - eps) + eps / k
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-(q * logp).sum(axis=1).mean())
    if name == "bce":
        s = 1 / (1 + np.exp(-z))
        return float(-(t * np.log(s) + (1 - t) * np.log(1 - s)).mean())
    r = z - t
    if name == "mse":
        return float((r * r).mean())
    a = np.abs(r)
    return float(np.where(a <= 0.7, 0.5 * r * r, 0.7 * (a - 0.35)).mean())


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=20)
@given(batch=st.integers(1, 5), width=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_gradient_and_value(name: str, batch: int, width: int, seed: int) -> None:
    loss, targets = CASES[name]
    rng = np.random.default_rng(seed)
    shape = (batch, width + 1 if name.startswith("ce") else width)
    z, t = rng.standard_normal(shape) * 3, targets(rng, shape)
    value, g = loss.value_and_grad(z, t)
    assert g.shape == z.shape
    assert value == pytest.approx(_reference(name, z, t), rel=1e-10, abs=1e-12)
    eps = 1e-6
    numeric = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (loss.value_and_grad(up, t)[0] - loss.value_and_grad(down, t)[0]) / (2 * eps)
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", sorted(CASES))
def test_finite_for_huge_logits_and_float32_stays_float32(name: str) -> None:
    loss, targets = CASES[name]
    rng = np.random.default_rng(0)
    z = (np.sign(rng.standard_normal((4, 3))) * 1e4).astype(np.float32)
    value, g = loss.value_and_grad(z, targets(rng, z.shape).astype(
        np.int64 if name in ("ce", "ce_smooth") else np.float32))
    assert np.isfinite(value)
    assert np.all(np.isfinite(g))
    assert g.dtype == np.float32


def _old_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The cross-entropy of the landed main before label smoothing, transcribed: the bits
    ``cross_entropy(0.0)`` must keep."""
    batch, classes = logits.shape
    rows = np.arange(batch)
    z = logits - logits[rows, logits.argmax(axis=-1)][:, None]
    picked = z[rows, y]
    np.exp(z, out=z)
    total = z @ np.ones((classes, 1), z.dtype)
    lse = np.log(total)
    value = float(lse.sum(dtype=np.float64) - picked.sum(dtype=np.float64)) / batch
    z /= total
    z[rows, y] -= 1
    z *= z.dtype.type(1.0 / batch)
    return value, z


@given(seed=st.integers(0, 2**31), batch=st.integers(1, 40))
def test_no_smoothing_is_the_old_cross_entropy_bit_for_bit(seed: int, batch: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((batch, 10)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    value, g = losses.cross_entropy(0.0).value_and_grad(z, y)
    old_value, old_g = _old_cross_entropy(z, y)
    assert value == old_value
    assert g.tobytes() == old_g.tobytes()
    assert fnn.softmax_cross_entropy(z, y)[1].tobytes() == g.tobytes()


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_real_torch(name: str) -> None:
    import torch
    from torch import nn

    loss, targets = CASES[name]
    rng = np.random.default_rng(3)
    z, t = rng.standard_normal((6, 4)) * 3, targets(rng, (6, 4))
    modules: dict[str, Any] = {
        "ce": nn.CrossEntropyLoss(), "ce_smooth": nn.CrossEntropyLoss(label_smoothing=0.2),
        "ce_soft_smooth": nn.CrossEntropyLoss(label_smoothing=0.1),
        "bce": nn.BCEWithLogitsLoss(), "mse": nn.MSELoss(), "huber": nn.HuberLoss(delta=0.7)}
    zt = torch.tensor(z, requires_grad=True)
    theirs = modules[name](zt, torch.tensor(t))
    theirs.backward()
    value, g = loss.value_and_grad(z, t)
    assert value == pytest.approx(theirs.item(), rel=1e-10)
    assert zt.grad is not None
    np.testing.assert_allclose(g, zt.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("loss", "targets", "match"), [
    (losses.mean_squared_error(), np.array([0, 1]), "mean_squared_error: targets must be "
                                                    "floating .* integer class labels"),
    (losses.huber(), np.zeros((2, 3)), r"huber: targets must have the outputs' shape \(2, 1\)"),
    (losses.binary_cross_entropy(), np.full((2, 1), 1.5), r"binary_cross_entropy: .*\[0, 1\]"),
    (losses.cross_entropy(), np.array([0.5, 1.0]), "cross_entropy: integer labels expected"),
    (losses.cross_entropy(), np.array([0, 3]), r"cross_entropy: label 3 outside \[0, 1\)"),
])
def test_bad_targets_name_the_loss(loss: losses.Loss, targets: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        loss.value_and_grad(np.zeros((2, 1)), targets)


def test_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        losses.cross_entropy(1.5)
    with pytest.raises(ValueError, match="delta must be positive"):
        losses.huber(0.0)


def test_a_regression_net_trains_through_the_fold() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (256, 1))
    y = np.sin(x)
    net = fnn.flatten(fnn.mlp([1, 16, 1], seed=0, activation="tanh", dtype=np.float64))
    opt = optim.adam(0.02)
    step = fnn.train_step(opt, loss=losses.mean_squared_error())
    start = fnn.metrics.mean_squared_error(net, x, y)
    state = fnn.fit(step, fnn.TrainState(net, opt.init(net)),
                    fnn.epochs(x, y, batch_size=32, seed=0, count=30))
    assert fnn.metrics.mean_squared_error(state.params, x, y) < start / 10
    assert fnn.metrics.mean_absolute_error(state.params, x, y) < 0.2
    assert fnn.loss(state.params, x, y, loss=losses.huber()) < fnn.loss(net, x, y,
                                                                        loss=losses.huber())


def test_multi_label_with_binary_cross_entropy() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 4))
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] < -0.5], axis=1).astype(float)
    net = fnn.mlp([4, 12, 3], seed=1, dtype=np.float64)
    fnn.testing.check_grads(lambda p, *a: fnn.loss(p, *a, loss=losses.binary_cross_entropy()),
                            net, x[:5], y[:5],
                            grad_fn=lambda p, *a: fnn.grad(
                                p, *a, loss=losses.binary_cross_entropy()))
    opt = optim.adam(0.05)
    step = fnn.train_step(opt, loss=losses.binary_cross_entropy())
    state = fnn.fit(step, fnn.TrainState(net, opt.init(net)),
                    fnn.epochs(x, y, batch_size=20, seed=0, count=40))
    predicted = fnn.forward(state.params, x) > 0
    assert (predicted == (y > 0.5)).mean() > 0.9


def test_softmax_and_log_softmax_name_what_is_not_floating_logits() -> None:
    for f, name in ((fnn.losses.softmax, "softmax"), (fnn.losses.log_softmax, "log_softmax")):
        for fine in ([[1.0, 2.0]], np.array([[1, 2]])):  # a list, integers: logits as floats
            np.testing.assert_allclose(f(fine), f(np.array([[1.0, 2.0]])))
        cases: list[tuple[npt.ArrayLike, str]] = [
            (np.array([[1j]]), "dtype complex128"), (np.array([["a"]]), "dtype <U1"),
            (np.array(1.0), "0-d")]
        for bad, shown in cases:
            with pytest.raises(TypeError, match=f"{name} takes a real array of logits "
                                                f".*, got .*{shown}"):
                f(bad)


def test_integer_one_hot_rows_are_targets_like_float_ones() -> None:
    logits = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    rows = np.eye(3)[[0, 2, 1, 2]]
    value, grad = fnn.losses.cross_entropy().value_and_grad(logits, rows)
    same, same_grad = fnn.losses.cross_entropy().value_and_grad(logits, rows.astype(np.uint8))
    assert same == value
    np.testing.assert_array_equal(same_grad, grad)
    with pytest.raises(ValueError, match="one-hot labels must be numeric, got dtype <U1"):
        fnn.losses.cross_entropy().value_and_grad(logits, np.full((4, 3), "a"))
