"""forward, loss and grad: gradients vs finite differences, stability, purity and bad inputs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.testing import GradientMismatch, check_grads
from functional_nn.testing import strategies as fst


@st.composite
def networks(draw: st.DrawFn, dtype: type[np.floating[Any]] = np.float64
             ) -> tuple[fnn.Sequential, np.ndarray, np.ndarray]:
    """A random MLP of ``dtype`` with a batch and integer labels that fit it."""
    net = draw(fst.mlps(dtypes=(dtype,)))
    x, y = draw(fst.batches_for(net, one_hot=False))
    return net, x, y

Net = tuple[fnn.Sequential, np.ndarray, np.ndarray]


@settings(max_examples=40, deadline=None)
@given(networks())
def test_grad_matches_finite_differences(case: Net) -> None:
    net, x, y = case
    check_grads(fnn.loss, net, x, y, max_per_leaf=None, tol=1e-5)


@settings(max_examples=20, deadline=None)
@given(networks())
def test_grad_with_one_hot_labels_matches_integer_labels(case: Net) -> None:
    net, x, y = case
    classes = fnn.array_leaves(net)[-1].shape[0]
    onehot = np.eye(classes)[y]
    a, b = fnn.value_and_grad(net, x, y), fnn.value_and_grad(net, x, onehot)
    assert a[0] == pytest.approx(b[0], rel=1e-12)
    for ga, gb in zip(fnn.array_leaves(a[1]), fnn.array_leaves(b[1]), strict=True):
        np.testing.assert_allclose(np.asarray(ga, float), np.asarray(gb, float), 1e-10, 1e-14)
    check_grads(fnn.loss, net, x, onehot, max_per_leaf=None)


@settings(max_examples=20, deadline=None)
@given(networks(dtype=np.float32))
def test_float32_stays_float32(case: Net) -> None:
    net, x, y = case
    assert fnn.forward(net, x).dtype == np.float32
    value, grads = fnn.value_and_grad(net, x, y)
    assert isinstance(value, float)
    assert all(g.dtype == np.float32 for g in fnn.array_leaves(grads))


@settings(max_examples=20, deadline=None)
@given(networks())
def test_grad_has_the_structure_of_params_and_descent_lowers_the_loss(case: Net) -> None:
    net, x, y = case
    value, grads = fnn.value_and_grad(net, x, y)
    assert fnn.tree_structure(grads) == fnn.tree_structure(net)
    stepped = fnn.tree_map(lambda p, g: p - 1e-3 * g, net, grads)
    assert fnn.loss(stepped, x, y) <= value + 1e-12


@settings(max_examples=20, deadline=None)
@given(networks())
def test_pure_inputs_untouched_and_outputs_reproducible(case: Net) -> None:
    net, x, y = case
    x.flags.writeable = False
    y.flags.writeable = False
    before = [leaf.copy() for leaf in fnn.array_leaves(net)]
    a, b = fnn.value_and_grad(net, x, y), fnn.value_and_grad(net, x, y)
    assert a[0] == b[0]
    for ga, gb in zip(fnn.array_leaves(a[1]), fnn.array_leaves(b[1]), strict=True):
        assert ga.tobytes() == gb.tobytes()
    for old, new in zip(before, fnn.array_leaves(net), strict=True):
        assert old.tobytes() == new.tobytes()


def test_loss_is_finite_for_huge_logits() -> None:
    layer = fnn.Dense(np.array([[1e4, -1e4, 0.0]], np.float32), np.zeros(3, np.float32))
    x = np.ones((2, 1), np.float32)
    value, grads = fnn.value_and_grad(layer, x, np.array([0, 1]))
    assert value == pytest.approx(1e4, rel=1e-6)
    assert all(np.isfinite(g).all() for g in fnn.array_leaves(grads))
    assert np.isfinite(fnn.forward(fnn.Sequential((layer, fnn.Sigmoid())), -x)).all()


def test_parameters_are_immutable() -> None:
    net = fnn.mlp([4, 3, 2], seed=0)
    layer = net.layers[0]
    assert isinstance(layer, fnn.Dense)
    with pytest.raises(ValueError, match="read-only"):
        layer.w[0, 0] = 1
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        layer.w = np.zeros((4, 3), np.float32)  # type: ignore[misc]
    grads = fnn.grad(net, np.ones((1, 4), np.float32), np.array([1]))
    with pytest.raises(ValueError, match="read-only"):
        grads.layers[0].w[0, 0] = 1  # type: ignore[attr-defined]


def test_dense_copies_writable_arrays_and_trusts_read_only_ones() -> None:
    w, b = np.ones((2, 3)), np.zeros(3)
    layer = fnn.Dense(w, b)
    w[0, 0] = 5
    assert layer.w[0, 0] == 1
    frozen = layer.w
    assert fnn.Dense(frozen, layer.b).w is frozen


def test_mlp_is_deterministic_and_initialised_by_activation() -> None:
    a, b = fnn.mlp([784, 16, 16, 10], seed=3), fnn.mlp([784, 16, 16, 10], seed=3)
    for la, lb in zip(fnn.array_leaves(a), fnn.array_leaves(b), strict=True):
        assert la.tobytes() == lb.tobytes()
    assert fnn.param_count(a) == 13002
    he = fnn.mlp([4000, 500], seed=0).layers[0].w  # type: ignore[attr-defined]
    assert he.std() == pytest.approx(np.sqrt(2 / 4000), rel=0.02)
    glorot = fnn.mlp([4000, 500], seed=0, activation="tanh").layers[0].w  # type: ignore[attr-defined]
    assert np.abs(glorot).max() <= np.sqrt(6 / 4500)
    assert fnn.mlp([3, 2], seed=0, dtype=np.float64).layers[0].b.dtype == np.float64  # type: ignore[attr-defined]


@pytest.mark.parametrize(("sizes", "kwargs", "match"), [
    ([3], {}, "at least two"),
    ([3, 0], {}, "positive"),
    ([3, 2], {"activation": "gelu"}, "unknown activation 'gelu'"),
    ([3, 2], {"dtype": np.int32}, "floating dtype"),
])
def test_mlp_rejects_bad_arguments(sizes: list[int], kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fnn.mlp(sizes, seed=0, **kwargs)  # type: ignore[arg-type]


def test_bad_inputs_get_clear_errors() -> None:
    net = fnn.mlp([4, 3, 2], seed=0)
    with pytest.raises(ValueError, match=r"layers\[0\] \(Dense\).*\(batch, 4\).*\(5, 3\)"):
        fnn.forward(net, np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"shape \(batch, features\)"):
        fnn.forward(net, np.ones(4))
    with pytest.raises(TypeError, match="numeric"):
        fnn.forward(net, np.array([["a", "b", "c", "d"]]))
    x = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"label 2 outside \[0, 2\)"):
        fnn.loss(net, x, np.array([0, 2]))
    with pytest.raises(ValueError, match="got 3 labels for a batch of 2"):
        fnn.loss(net, x, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="integer labels"):
        fnn.loss(net, x, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="one-hot labels of shape"):
        fnn.loss(net, x, np.ones((2, 3)))
    with pytest.raises(ValueError, match="Dense needs w of shape"):
        fnn.Dense(np.ones((2, 3)), np.ones(2))


def test_unregistered_layer_kinds_are_named() -> None:
    @attrs.frozen
    class Mystery:
        pass

    with pytest.raises(TypeError, match=r"no rules registered for layer type .*Mystery"):
        fnn.forward(fnn.Sequential((Mystery(),)), np.ones((1, 2)))


def test_check_grads_catches_a_wrong_rule() -> None:
    net = fnn.mlp([3, 2], seed=0, dtype=np.float64)
    x, y = np.ones((2, 3)), np.array([0, 1])

    def wrong(p: fnn.Sequential, x: np.ndarray, y: np.ndarray) -> fnn.Sequential:
        return fnn.tree_map(lambda g: g * 1.01, fnn.grad(p, x, y))

    with pytest.raises(GradientMismatch, match=r"layers\[0\]\.[wb]"):
        check_grads(fnn.loss, net, x, y, grad_fn=wrong)
    report = check_grads(fnn.loss, net, x, y)
    assert report.error < 1e-6
    assert report.checked == fnn.param_count(net)


@given(st.integers(1, 64))
def test_first_layer_input_gradient_is_not_computed(batch: int) -> None:
    net = fnn.mlp([3, 2], seed=0)
    rule = fnn.rules.rule_for(net)
    x = np.ones((batch, 3), np.float32)
    ctx = fnn.Context(training=True, input_grad=False)
    logits, res = rule.forward(net, x, ctx)
    out = fnn.rules.out_like(net)
    assert rule.vjp(net, res, np.ones_like(logits), out, ctx) is None


def test_the_gradient_of_a_layer_subclass_is_of_the_subclass() -> None:
    @attrs.frozen
    class MyDense(fnn.Dense):
        pass

    @attrs.frozen
    class MyNet(fnn.Sequential):
        pass

    base = fnn.mlp([3, 4, 2], seed=0)
    first, relu, last = base.layers
    assert isinstance(first, fnn.Dense)
    net = MyNet((MyDense(first.w, first.b), relu, last))
    grads = fnn.grad(net, np.ones((2, 3), np.float32), np.array([0, 1]))
    assert type(grads) is MyNet
    assert type(grads.layers[0]) is MyDense
    assert fnn.tree_structure(grads) == fnn.tree_structure(net)
    fnn.tree_map(lambda p, g: p - 0.1 * g, net, grads)


def test_an_empty_batch_has_no_loss() -> None:
    net = fnn.mlp([4, 2], seed=0)
    assert fnn.forward(net, np.ones((0, 4), np.float32)).shape == (0, 2)
    with pytest.raises(ValueError, match="empty batch"):
        fnn.value_and_grad(net, np.ones((0, 4), np.float32), np.array([], np.int64))


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: fnn.mlp([4, 3], seed=-1), ValueError, "seed must be >= 0, got -1"),
    (lambda: fnn.mlp([4, 3], seed=None),  # type: ignore[arg-type]
     TypeError, "seed must be an integer, got None"),
    (lambda: fnn.convnet(seed=1.5),  # type: ignore[arg-type]
     TypeError, "seed must be an integer, got 1.5"),
    (lambda: fnn.mlp([4, True, 3], seed=0), ValueError, "positive integer sizes"),
    (lambda: list(fnn.batches(np.ones((3, 2)), np.ones(3), batch_size=2, seed=0, epoch=-1)),
     ValueError, "epoch must be >= 0, got -1"),
    (lambda: fnn.Sequential("abc"), TypeError, "Sequential takes a tuple or list of layers"),
    (lambda: fnn.optim.momentum(0.1, beta=1.0), ValueError, "beta must be in"),
    (lambda: fnn.Conv2D(np.zeros((0, 3, 1, 2)), np.zeros(2)), ValueError, "each at least 1"),
])
def test_bad_constructor_arguments_are_named(make: Callable[[], object], error: type[Exception],
                                             message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        make()
