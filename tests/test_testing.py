"""The testing kit tests itself: each check catches a planted bug and passes the correct code."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn import optim
from functional_nn.testing import (
    GradientMismatch,
    Impure,
    LawBroken,
    LayerGradientMismatch,
    assert_pure,
    check_grads,
    check_layer,
    check_optimizer,
    check_tree_laws,
)
from functional_nn.testing import strategies as fst


@attrs.frozen
class Gain:
    """``y = x * gain``, with a VJP that can be planted with a 1% error in one place."""

    gain: fnn.Array = attrs.field(converter=fnn.readonly)
    bug: str = fnn.static_field(default="")


def _gain_forward(layer: Gain, x: fnn.Array, ctx: fnn.Context) -> tuple[fnn.Array, fnn.Array]:
    return x * layer.gain, x


def _gain_vjp(layer: Gain, x: fnn.Array, g: fnn.Array, out: Gain,
              ctx: fnn.Context) -> fnn.Array | None:
    fnn.rules.sum_to(g * x * (1.01 if layer.bug == "param" else 1.0), out.gain)
    gx = g * layer.gain
    if layer.bug == "nan":  # a rule broken everywhere: no comparison may pass it
        out.gain[...] = np.nan
        return np.full_like(g, np.nan)
    return gx * 1.01 if layer.bug == "input" else gx


fnn.register(Gain, _gain_forward, _gain_vjp)


def _gain(bug: str = "") -> tuple[Gain, np.ndarray]:
    rng = np.random.default_rng(0)
    return Gain(rng.uniform(0.5, 2.0, 4), bug), rng.standard_normal((3, 4))


def test_check_layer_passes_a_correct_rule_and_names_a_wrong_one() -> None:
    layer, x = _gain()
    assert check_layer(layer, x).error < 1e-7
    with pytest.raises(LayerGradientMismatch, match=r"Gain: .* at input\["):
        check_layer(_gain("input")[0], x)
    with pytest.raises(LayerGradientMismatch, match=r"Gain: .* at gain\[\d\]: analytic"):
        check_layer(_gain("param")[0], x)


def test_a_rule_of_nan_or_infinity_fails_and_so_do_settings_that_check_nothing() -> None:
    layer, x = _gain("nan")
    with pytest.raises(LayerGradientMismatch, match="Gain: worst relative error inf at"):
        check_layer(layer, x)
    net = fnn.Sequential([layer, fnn.Dense(np.ones((4, 2)), np.zeros(2))])
    with pytest.raises(GradientMismatch, match="worst relative error inf"):
        check_grads(fnn.loss, net, x, np.array([0, 1, 0]))
    good, _ = _gain()
    bad: list[tuple[dict[str, Any], str]] = [
        ({"tol": np.nan}, "tol must be >= 0"), ({"eps": 0.0}, "eps must be positive"),
        ({"eps": np.nan}, "eps must be positive"), ({"floor": -1.0}, "floor must be positive"),
        ({"max_per_leaf": 0}, "max_per_leaf must be a positive integer"),
        ({"seed": -1}, "seed must be >= 0")]
    for setting, message in bad:
        with pytest.raises(ValueError, match=message):
            check_layer(good, x, **setting)
        with pytest.raises(ValueError, match=message):
            check_grads(fnn.loss, net, x, np.array([0, 1, 0]), **setting)
    with pytest.raises(ValueError, match="nothing to check"):
        check_layer(fnn.ReLU(), x, ctx=fnn.Context(input_grad=False))


@settings(max_examples=30)
@given(fst.layers())
def test_check_layer_on_every_built_in_kind(case: tuple[object, np.ndarray]) -> None:
    layer, x = case
    check_layer(layer, x)


@settings(max_examples=10)
@given(fst.mlps(dtypes=(np.float64,)), st.data())
def test_check_layer_on_whole_networks_and_their_flats(net: fnn.Sequential,
                                                       data: st.DataObject) -> None:
    x, _ = data.draw(fst.batches_for(net))
    check_layer(net, x)
    check_layer(fnn.flatten(net), x)


def test_assert_pure_catches_writes_global_draws_and_changing_results() -> None:
    def writes(a: np.ndarray) -> float:
        a[0] += 1
        return float(a.sum())

    def draws(a: np.ndarray) -> np.ndarray:
        return a + np.random.rand()  # noqa: NPY002

    counter = iter(range(10))

    def changes(a: np.ndarray) -> int:
        return next(counter)

    tree = {"w": np.ones(3), "b": (np.zeros(2),)}

    def writes_a_leaf(t: dict[str, Any]) -> None:
        t["b"][0][1] = 5.0

    with pytest.raises(Impure, match="mutated argument 0 at <root> on its first call"):
        assert_pure(writes, np.ones(3))
    with pytest.raises(Impure, match=r"mutated argument 0 at \['b'\]\[0\]"):
        assert_pure(writes_a_leaf, tree)
    with pytest.raises(Impure, match="global RNG"):
        assert_pure(draws, np.ones(3))
    with pytest.raises(Impure, match="different results"):
        assert_pure(changes, np.ones(3))
    net = fnn.mlp([3, 2], seed=0)
    assert_pure(fnn.value_and_grad, net, np.ones((2, 3), np.float32), np.array([0, 1]))


@given(fst.pytrees())
def test_tree_laws_hold_for_every_pytree(tree: object) -> None:
    check_tree_laws(tree)


@pytest.mark.parametrize("make", [
    lambda: optim.adam(0.1), lambda: optim.sgd(0.1), lambda: optim.momentum(0.1, 0.9),
    lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.rmsprop(0.01)),
    lambda: optim.accumulate(optim.adam(0.1), 2)])
def test_check_optimizer_passes_the_library_optimizers(make: Any) -> None:
    params = fnn.mlp([3, 4, 2], seed=0)
    check_optimizer(make(), params)
    check_optimizer(make(), fnn.flatten(params))


def test_check_optimizer_catches_mutation_and_a_state_that_changes_shape() -> None:
    def init(params: Any) -> dict[str, Any]:
        return {"count": 0}

    def in_place(grads: Any, state: Any, params: Any) -> tuple[Any, Any]:
        for g in fnn.array_leaves(grads):
            np.negative(g, out=g)  # writes the caller's gradients
        return grads, state

    def growing(grads: Any, state: Any, params: Any) -> tuple[Any, Any]:
        return fnn.tree_map(lambda g: -g, grads), {**state, f"k{len(state)}": 1}

    params = {"w": np.ones(3)}
    with pytest.raises(Impure, match="mutated argument 2"):
        check_optimizer(optim.Optimizer(init, in_place), params)
    with pytest.raises(LawBroken, match="changed structure at step 1"):
        check_optimizer(optim.Optimizer(init, growing), params)
    with pytest.raises(LawBroken, match="zero gradient moved"):
        check_optimizer(optim.adamw(0.1, weight_decay=0.5), params)
    check_optimizer(optim.adamw(0.1, weight_decay=0.5), params,
                    zero_gradient_is_a_fixed_point=False)


@settings(max_examples=300)
@given(fst.convnets(max_side=9))
def test_the_convnets_strategy_draws_only_networks_that_fit_their_images(
        net: fnn.Sequential) -> None:
    # drawing is the test: convnet() refuses a shape that its blocks shrink to nothing
    assert isinstance(net.layers[-1], fnn.Dense)


@settings(max_examples=8)
@given(fst.convnets(dtypes=(np.float64,)), st.data())
def test_random_convnets_take_their_images_and_their_conv_rule_checks(
        net: fnn.Sequential, data: st.DataObject) -> None:
    x, y = data.draw(fst.images_for(net))
    logits = fnn.forward(net, x, state=fnn.init_state(net))
    assert logits.shape[0] == len(x) == len(y)
    check_layer(net.layers[0], x)  # the first Conv2D: its w, b and input
