"""Add a layer kind without touching the library, then property-test its gradient.

A layer kind is three things: a frozen attrs class (its parameters; hyperparameters are static
fields), a forward rule ``(layer, x, ctx) -> (y, residual)`` and a VJP rule
``(layer, residual, g, out, ctx) -> input_grad`` that writes the parameter gradients into
``out`` (a tree like the layer, of fresh writable arrays), registered together.
``check_grads`` compares the VJP with central finite differences in float64; hypothesis runs
that comparison over random shapes, batches and slopes.

Run: ``python examples/property_test_your_layer.py`` (add ``--examples 200`` for a longer run).
"""

from __future__ import annotations

import argparse

import attrs
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import functional_nn as fnn
from functional_nn.testing import check_grads


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
    """A network using the new layers, a batch and labels, all drawn at random."""
    n_in, hidden, classes = (draw(st.integers(1, 6)) for _ in range(3))
    batch, seed = draw(st.integers(1, 5)), draw(st.integers(0, 2**31))
    slope = draw(st.floats(0.0, 0.5))
    rng = np.random.default_rng(seed)
    first, last = fnn.mlp([n_in, hidden, classes + 1], seed=seed, dtype=np.float64).layers[::2]
    net = fnn.Sequential((first, LeakyReLU(slope), Scale(rng.uniform(0.5, 2, hidden)), last))
    x = rng.standard_normal((batch, n_in))
    return net, x, rng.integers(0, classes + 1, batch)


@given(cases())
def gradients_match_finite_differences(case: tuple[fnn.Sequential, np.ndarray, np.ndarray]) -> None:
    """The property: for every drawn network, the VJPs agree with finite differences."""
    net, x, y = case
    check_grads(fnn.loss, net, x, y, max_per_leaf=None)


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
