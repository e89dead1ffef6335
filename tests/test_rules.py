"""Each layer kind's VJP rule, tested directly against central finite differences in float64.

For a layer ``f``, an input ``x`` and a random cotangent ``v``, the scalar ``s = Σ f(x) · v`` has
``ds/dθ`` = the parameter gradients the VJP writes into ``out`` and ``ds/dx`` = the input
gradient it returns. Both are compared with central differences of ``s``, entry by entry.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.rules import Context, out_like, rule_for, sum_to
from functional_nn.testing import check_layer

TRAINING = Context(training=True)


def check_rule(layer: object, x: np.ndarray, seed: int, eps: float = 1e-5) -> None:
    """Assert that ``layer``'s VJP rule agrees with central differences, input included."""
    check_layer(layer, x, ctx=TRAINING, seed=seed, eps=eps)


shapes = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 4))


@settings(max_examples=25)
@given(shape=shapes, seed=st.integers(0, 2**31))
def test_dense_vjp(shape: tuple[int, int, int], seed: int) -> None:
    batch, n_in, n_out = shape
    rng = np.random.default_rng(seed)
    layer = fnn.Dense(rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out))
    check_rule(layer, rng.standard_normal((batch, n_in)), seed)


@pytest.mark.parametrize("kind", [fnn.ReLU, fnn.Sigmoid, fnn.Tanh])
@settings(max_examples=25)
@given(shape=shapes, seed=st.integers(0, 2**31))
def test_activation_vjp(kind: type, shape: tuple[int, int, int], seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(shape[:2])
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU's kink away from the difference points
    check_rule(kind(), x, seed)


@settings(max_examples=15)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 2**31),
       activation=st.sampled_from(["relu", "tanh", "sigmoid"]), flat=st.booleans())
def test_sequential_and_flat_vjp(sizes: list[int], seed: int, activation: str,
                                 flat: bool) -> None:
    rng = np.random.default_rng(seed)
    net: Any = fnn.mlp(sizes, seed=seed, activation=activation, dtype=np.float64)
    net = fnn.tree_map(lambda a: a + rng.uniform(0.05, 0.2, a.shape), net)
    check_rule(fnn.flatten(net) if flat else net, rng.standard_normal((3, sizes[0])), seed)


def test_first_layer_input_gradient_is_skipped_only_when_asked() -> None:
    net = fnn.mlp([3, 4, 2], seed=0, dtype=np.float64)
    x = np.ones((2, 3))
    y, res = rule_for(net).forward(net, x, TRAINING)
    no_input = Context(training=True, input_grad=False)
    assert rule_for(net).vjp(net, res, np.ones_like(y), out_like(net), no_input) is None
    assert rule_for(net).vjp(net, res, np.ones_like(y), out_like(net), TRAINING) is not None


@st.composite
def _broadcasts(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A shape and a shape it broadcasts to: leading axes added, size-1 axes widened."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    lead = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=2)))
    wide = tuple(draw(st.integers(1, 4)) if n == 1 else n for n in shape)
    return lead + wide, shape


@given(_broadcasts(), st.sampled_from([np.float64, np.float32]))
def test_sum_to_undoes_broadcasting(shapes: tuple[tuple[int, ...], tuple[int, ...]],
                                    dtype: type[np.floating[Any]]) -> None:
    g_shape, shape = shapes
    g = np.random.default_rng(0).standard_normal(g_shape).astype(dtype)
    out = np.full(shape, np.nan, dtype)
    sum_to(g, out)
    strided = np.full((*shape, 2), np.nan, dtype)[..., 0]  # an out that is not contiguous
    sum_to(g, strided)
    assert strided.tobytes() == out.tobytes()
    # the adjoint of broadcasting: <broadcast(b), g> == <b, sum_to(g)> for every b
    b = np.random.default_rng(1).standard_normal(shape)
    assert np.isclose((np.broadcast_to(b, g_shape) * g).sum(), (b * out).sum(),
                      rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("g_shape", "shape"), [((6, 4), (3,)), ((3,), (1, 3)), ((2, 5), (2,))])
def test_sum_to_refuses_shapes_that_do_not_broadcast(g_shape: tuple[int, ...],
                                                      shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="is not a broadcast of shape"):
        sum_to(np.ones(g_shape), np.empty(shape))


@given(st.booleans(), st.none() | st.tuples(st.integers(0, 9), st.integers(0, 9)),
       st.booleans(), st.none() | st.just((None, None)))
def test_with_input_grad_is_the_context_asking_for_the_input_cotangent(
        training: bool, key: tuple[int, int] | None, input_grad: bool,
        state: tuple[None, None] | None) -> None:
    ctx = Context(training, key, input_grad, state)
    assert ctx.with_input_grad() == attrs.evolve(ctx, input_grad=True)


def test_keys_are_per_layer_and_reproducible() -> None:
    ctx = Context(training=True, key=(7, 3))
    assert ctx.child(0).key == (7, 3, 0)
    assert ctx.child(1).key != ctx.child(0).key
    draws = [ctx.child(2).rng().random() for _ in range(2)]
    assert draws[0] == draws[1]
    with pytest.raises(ValueError, match="no key"):
        Context().rng()
