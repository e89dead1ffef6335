"""Add a layer kind without touching the library, then property-test its gradient.

A layer kind is three things: a frozen attrs class (its parameters; hyperparameters are static
fields), a forward rule ``(layer, x, ctx) -> (y, residual)`` and a VJP rule
``(layer, residual, g, out, ctx) -> input_grad`` that writes the parameter gradients into
``out`` (a tree like the layer, of fresh writable arrays), registered together.
The testing kit checks them: ``check_layer`` compares one layer's VJP (parameters and input)
with central finite differences in float64, ``check_grads`` the whole network's gradient,
``assert_pure`` that nothing is mutated or drawn from a global RNG; hypothesis runs them over
the kit's random networks and batches (``functional_nn.testing.strategies``).

Run: ``python examples/property_test_your_layer.py`` (add ``--examples 200`` for a longer run).
"""

from __future__ import annotations

import argparse

import attrs
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.testing import assert_pure, check_grads, check_layer
from functional_nn.testing import strategies as fst


@attrs.frozen
class LeakyReLU:
    """``x if x > 0 else slope * x``; ``slope`` is a hyperparameter, not a leaf."""

    slope: float = fnn.static_field(default=0.01)


def leaky_forward(layer: LeakyReLU, x: fnn.Array,
                  ctx: fnn.Context) -> tuple[fnn.Array, fnn.Array]:
    return np.where(x > 0, x, layer.slope * x), x


def leaky_vjp(layer: LeakyReLU, x: fnn.Array, g: fnn.Array, out: LeakyReLU,
              ctx: fnn.Context) -> fnn.Array | None:
    # no parameters: nothing to write into ``out``
    return np.where(x > 0, g, layer.slope * g) if ctx.input_grad else None


@attrs.frozen
class Scale:
    """A learnable per-feature gain: ``y = x * gain``."""

    gain: fnn.Array = attrs.field(converter=fnn.readonly)


def scale_forward(layer: Scale, x: fnn.Array, ctx: fnn.Context) -> tuple[fnn.Array, fnn.Array]:
    return x * layer.gain, x


def scale_vjp(layer: Scale, x: fnn.Array, g: fnn.Array, out: Scale,
              ctx: fnn.Context) -> fnn.Array | None:
    # dL/dgain sums over the batch: the gain was broadcast over it (sum_to undoes that)
    fnn.rules.sum_to(g * x, out.gain)
    return g * layer.gain if ctx.input_grad else None


fnn.register(LeakyReLU, leaky_forward, leaky_vjp)
fnn.register(Scale, scale_forward, scale_vjp)


@st.composite
def cases(draw: st.DrawFn) -> tuple[fnn.Sequential, np.ndarray, np.ndarray]:
    """A random MLP from the kit with the new layers spliced in, and a batch that fits it."""
    net = draw(fst.mlps(max_layers=2, dtypes=(np.float64,)))
    first, *rest = net.layers
    assert isinstance(first, fnn.Dense)
    width = first.w.shape[1]
    slope = draw(st.floats(0.0, 0.5))
    gain = np.random.default_rng(draw(st.integers(0, 2**31))).uniform(0.5, 2, width)
    net = fnn.Sequential((first, LeakyReLU(slope), Scale(gain), *rest))
    x, y = draw(fst.batches_for(net))
    return net, x, y


@given(cases())
def gradients_match_finite_differences(case: tuple[fnn.Sequential, np.ndarray, np.ndarray]) -> None:
    """The properties: each new layer's VJP (its input gradient too) and the whole network's
    gradient agree with finite differences, and the gradient is a pure function."""
    net, x, y = case
    hidden = fnn.forward(fnn.Sequential(net.layers[:1]), x)
    check_layer(net.layers[1], hidden)  # LeakyReLU
    check_layer(net.layers[2], hidden)  # Scale: its gain and its input
    check_grads(fnn.loss, net, x, y, max_per_leaf=None)
    assert_pure(fnn.value_and_grad, net, x, y)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50)
    args = parser.parse_args(argv)
    net, x, y = cases().example()
    print(fnn.tree_structure(net))
    print("one network:", check_grads(fnn.loss, net, x, y, max_per_leaf=None))
    settings(max_examples=args.examples, deadline=None)(gradients_match_finite_differences)()
    print(f"{args.examples} random networks: gradients match finite differences")


if __name__ == "__main__":
    main()
