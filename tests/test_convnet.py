"""convnet(), channels_last images, clear errors for bad image batches, float32 and purity end
to end, and a tiny convnet trained through fit on a Flat."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import functional_nn as fnn
from functional_nn import optim
from functional_nn.data import DatasetError, channels_last
from functional_nn.metrics import evaluate, predict
from functional_nn.rules import Context
from functional_nn.testing import check_grads


def test_convnet_is_the_keras_simple_mnist_convnet() -> None:
    net = fnn.convnet(seed=0)
    assert fnn.param_count(net) == 34826
    conv1, conv2, dense = net.layers[0], net.layers[3], net.layers[-1]
    assert isinstance(conv1, fnn.Conv2D)
    assert isinstance(conv2, fnn.Conv2D)
    assert isinstance(dense, fnn.Dense)
    assert (conv1.w.shape, conv2.w.shape, dense.w.shape) == ((3, 3, 1, 32), (3, 3, 32, 64),
                                                            (1600, 10))
    assert net.layers[7] == fnn.Dropout(0.5)
    assert all(leaf.dtype == np.float32 for leaf in fnn.array_leaves(net))
    # He init: std sqrt(2 / fan_in)
    assert abs(conv2.w.std() - np.sqrt(2 / 288)) < 0.01 * np.sqrt(2 / 288) * 10
    a, b = fnn.convnet(seed=0), fnn.convnet(seed=1)
    assert fnn.array_leaves(a)[0].tobytes() == fnn.array_leaves(net)[0].tobytes()
    assert fnn.array_leaves(a)[0].tobytes() != fnn.array_leaves(b)[0].tobytes()


def test_convnet_options() -> None:
    net = fnn.convnet((12, 10, 3), 4, seed=0, filters=(5, 6, 7), padding="same",
                      batch_norm=True, hidden=(9,), dropout=0, dtype=np.float64)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds.count("BatchNorm") == 3
    assert "Dropout" not in kinds
    x = np.zeros((2, 12, 10, 3))
    state = fnn.init_state(net)
    assert fnn.forward(net, x, state=state).shape == (2, 4)
    dense = net.layers[-3]
    assert isinstance(dense, fnn.Dense)
    assert dense.w.shape == (1 * 1 * 7, 9)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"input_shape": (28, 28)}, "height, width, channels"),
        ({"filters": (4, 4, 4, 4, 4)}, "shrink"), ({"kernel": 0}, "positive"),
        ({"dtype": np.int32}, "floating")]
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            fnn.convnet(seed=0, **bad)


def test_channels_last() -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    x = channels_last(images)
    assert x.shape == (2, 3, 4, 1)
    assert x.dtype == np.float32
    assert not x.flags.writeable
    np.testing.assert_array_equal(x[..., 0] * 255, images.astype(np.float32))
    assert channels_last(np.zeros((2, 3, 3, 3), np.uint8)).shape == (2, 3, 3, 3)
    wrong: list[Any] = [np.zeros((2, 9), np.uint8), np.zeros((2, 3, 3), np.float32)]
    for bad in wrong:
        with pytest.raises(DatasetError, match="channels_last needs uint8 images"):
            channels_last(bad)


def test_bad_image_batches_name_the_layer_and_the_shape() -> None:
    net = fnn.convnet(seed=0)
    cases: list[tuple[Any, Any, str]] = [
        (net, np.zeros((5, 784), np.float32),
         r"layers\[0\] \(Conv2D\): .*\(batch, height, width, 1\), got \(5, 784\)"),
        (net, np.zeros((5, 28, 28, 3), np.float32),
         r"layers\[0\] \(Conv2D\).*got \(5, 28, 28, 3\)"),
        (net, np.zeros((5, 2, 2, 1), np.float32),
         r"layers\[0\] \(Conv2D\): Conv2D's 3x3 kernel .* 2x2 image"),
        (net, np.zeros((5, 8, 8, 1), np.float32),
         r"layers\[5\] \(MaxPool2D\): MaxPool2D's 2x2 window .* 1x1 image"),
        (net, np.zeros(5, np.float32), r"\(batch, height, width, channels\)"),
        (fnn.Sequential([*net.layers[:6], *net.layers[7:]]), np.zeros((2, 28, 28, 1)),
         r"layers\[7\] \(Dense\).*\(batch, 1600\).*Flatten\(\) before it"),
        (fnn.MaxPool2D(2), np.zeros((2, 4)), r"MaxPool2D expects.*\(batch, height, width"),
        (fnn.LayerNorm(np.ones(3), np.zeros(3)), np.zeros((2, 4)), r"\(batch, \.\.\., 3\)"),
    ]
    for params, x, match in cases:
        with pytest.raises(ValueError, match=match):
            fnn.forward(params, x)
    with pytest.raises(ValueError, match=r"layers\[0\] \(Conv2D\)"):
        fnn.metrics.accuracy(net, np.zeros((3, 28, 28)), np.zeros(3, np.int64))


@pytest.mark.parametrize(("make", "match"), [
    (lambda: fnn.Conv2D(np.zeros((3, 3, 1)), np.zeros(1)), "kh, kw, in_channels"),
    (lambda: fnn.Conv2D(np.zeros((3, 3, 1, 2)), np.zeros(2), stride=2, padding="same"),
     "needs stride 1"),
    (lambda: fnn.Conv2D(np.zeros((1, 1, 1, 1)), np.zeros(1), padding="full"), "padding must"),
    (lambda: fnn.Conv2D(np.zeros((1, 1, 1, 1)), np.zeros(1), stride=0), "stride must"),
    (lambda: fnn.MaxPool2D((2, 2, 2)), "window must"),  # type: ignore[arg-type]
    (lambda: fnn.Dropout(1.0), "rate"), (lambda: fnn.BatchNorm(np.ones(2), np.ones(3)), "shape"),
    (lambda: fnn.LayerNorm(np.ones(2), np.ones(2), eps=0), "eps"),
])
def test_bad_layers_are_rejected(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()


def test_hyperparameters_are_normalised_static_fields() -> None:
    w, b = np.zeros((3, 3, 1, 2)), np.zeros(2)
    assert fnn.tree_structure(fnn.Conv2D(w, b, stride=1, padding=1)) == fnn.tree_structure(
        fnn.Conv2D(w, b, stride=(1, 1), padding=((1, 1), (1, 1))))
    assert fnn.MaxPool2D(2) == fnn.MaxPool2D((2, 2), 2)
    assert fnn.MaxPool2D(3).stride == (3, 3)
    conv = fnn.Conv2D(w, b, stride=2, padding=(0, 1))
    assert fnn.tree_map(lambda a: a + 1, conv).stride == (2, 2)
    assert fnn.tree_structure(conv) != fnn.tree_structure(fnn.Conv2D(w, b))


def test_a_convnet_is_float32_and_pure_end_to_end() -> None:
    net = fnn.flatten(fnn.convnet((10, 10, 1), 3, seed=0, filters=(4, 6)))
    rng = np.random.default_rng(0)
    x, y = rng.random((3, 10, 10, 1), dtype=np.float32), np.array([0, 1, 2])
    x_before, params_before = x.copy(), net.buffer.copy()
    value, grads = fnn.value_and_grad(net, x, y, ctx=Context(True, (0, 0), False))
    assert isinstance(grads, fnn.Flat)
    assert grads.buffer.dtype == np.float32
    assert np.isfinite(value)
    assert fnn.forward(net, x).dtype == np.float32
    assert fnn.forward(net, x.astype(np.float64)).dtype == np.float32
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(net.buffer, params_before)
    assert predict(net, x, batch_size=2).shape == (3,)
    assert evaluate(net, x, y).confusion.sum() == 3


def test_check_grads_over_a_whole_convnet() -> None:
    net = fnn.convnet((7, 7, 2), 3, seed=0, filters=(3,), batch_norm=True, hidden=(4,),
                      dropout=0.3, dtype=np.float64)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 7, 7, 2)), np.array([0, 1, 2, 1])
    ctx = Context(True, (5, 1), False)

    def loss(p: Any, x: np.ndarray, y: np.ndarray) -> float:
        return fnn.loss(p, x, y, ctx=ctx)

    def grad(p: Any, x: np.ndarray, y: np.ndarray) -> Any:
        return fnn.grad(p, x, y, ctx=ctx)

    assert check_grads(loss, net, x, y, grad_fn=grad, max_per_leaf=12).error < 1e-5


def test_a_tiny_convnet_trains_through_fit_on_a_flat() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    x = rng.random((64, 8, 8, 1), dtype=np.float32) * 0.5
    x[y == 1, 2:6, 2:6] += 0.5  # class 1 has a bright square
    params = fnn.flatten(fnn.convnet((8, 8, 1), 2, seed=0, filters=(4,), dropout=0.25))
    opt = optim.adam(1e-2)
    state = fnn.TrainState(params, opt.init(params))
    before = fnn.loss(params, x, y)
    state = fnn.fit(fnn.train_step(opt, seed=0), state,
                    fnn.epochs(x, y, batch_size=16, seed=0, count=12))
    assert isinstance(state.params, fnn.Flat)
    assert state.step == 48
    assert fnn.loss(state.params, x, y) < 0.5 * before
    assert fnn.metrics.accuracy(state.params, x, y) > 0.9
