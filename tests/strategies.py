"""Shared hypothesis strategies: pytrees, networks and batches."""

from __future__ import annotations

import attrs
import numpy as np
from hypothesis import strategies as st

import functional_nn as fnn


@attrs.frozen
class Pair:
    """A small attrs node with a static field, for pytree tests."""

    left: object
    right: object
    tag: str = fnn.static_field(default="pair")


def arrays(max_side: int = 3) -> st.SearchStrategy[np.ndarray]:
    """Small float arrays of 0 to 2 dimensions, seeded for reproducibility."""
    shapes = st.lists(st.integers(0, max_side), min_size=0, max_size=2).map(tuple)
    return st.tuples(shapes, st.integers(0, 2**31)).map(
        lambda s: np.random.default_rng(s[1]).standard_normal(s[0]))


leaves: st.SearchStrategy[object] = st.one_of(
    arrays(), st.integers(-5, 5), st.floats(-1, 1, allow_nan=False))


def _extend(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), children, max_size=3),
        st.builds(Pair, children, children, st.sampled_from(["p", "q"])),
        st.just(None),
    )


trees: st.SearchStrategy[object] = st.recursive(leaves, _extend, max_leaves=12)


@st.composite
def networks(
    draw: st.DrawFn, max_width: int = 6, dtype: type[np.floating] = np.float64
) -> tuple[fnn.Sequential, np.ndarray, np.ndarray]:
    """A random MLP with random (non-zero) biases, a batch and integer labels."""
    sizes = draw(st.lists(st.integers(1, max_width), min_size=2, max_size=4))
    sizes[-1] = max(sizes[-1], 2)
    activation = draw(st.sampled_from(["relu", "tanh", "sigmoid"]))
    seed = draw(st.integers(0, 2**31))
    batch = draw(st.integers(1, 5))
    rng = np.random.default_rng(seed)
    net = fnn.mlp(sizes, seed=seed, activation=activation, dtype=dtype)
    # non-zero biases keep ReLU's kink away from the finite-difference points
    net = fnn.tree_map(lambda a: a + rng.uniform(0.05, 0.2, a.shape).astype(dtype), net)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    return net, x, y
