"""Hypothesis strategies for networks, pytrees, layers and batches (the ``testing`` extra).

Compose them in your own property tests::

    from hypothesis import given
    from functional_nn.testing import check_layer, strategies as fst

    @given(fst.layers(), fst.data())
    def test_my_rules(layer, data): ...

``mlps`` draws random valid architectures and dtypes, ``batches_for(params)`` inputs and labels
that fit a given network, ``pytrees`` nested attrs classes, tuples, lists and dicts with array
leaves, ``layers`` the built-in kinds with a batch that fits each.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from hypothesis import strategies as st

from ..flat import Flat
from ..layers import (
    ACTIVATIONS,
    AvgPool2D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    Sequential,
    ZeroPad2D,
    convnet,
    mlp,
)
from ..maps import tree_map
from ..model import forward
from ..rules import init_state
from ..tree import static_field

__all__ = ["Node", "arrays", "batches_for", "convnets", "data", "images_for", "layers", "mlps",
           "pytrees"]

def data() -> st.SearchStrategy[st.DataObject]:
    """Hypothesis's ``data()``: draw inside a test, e.g. ``data.draw(batches_for(net))``."""
    return st.data()


Floating = type[np.floating[Any]]


@attrs.frozen
class Node:
    """An attrs node with a static field, as pytrees draws them."""

    left: object
    right: object
    tag: str = static_field(default="node")


def arrays(*, max_side: int = 3, max_dims: int = 2,
           dtypes: tuple[Floating, ...] = (np.float64,)) -> st.SearchStrategy[np.ndarray]:
    """Small floating arrays of 0 to ``max_dims`` dimensions (seeded draws, so they shrink)."""
    shapes = st.lists(st.integers(0, max_side), max_size=max_dims).map(tuple)
    return st.builds(lambda shape, seed, dtype: np.asarray(
        np.random.default_rng(seed).standard_normal(shape), dtype),
        shapes, st.integers(0, 2**31), st.sampled_from(dtypes))


def pytrees(leaves: st.SearchStrategy[object] | None = None, *,
            max_leaves: int = 10) -> st.SearchStrategy[object]:
    """Nested attrs nodes (:class:`Node`), tuples, lists, dicts and ``None`` over ``leaves``
    (small float64 arrays by default)."""
    base = arrays() if leaves is None else leaves
    return st.recursive(base, lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.lists(kids, max_size=3).map(tuple),
        st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), kids, max_size=3),
        st.builds(Node, kids, kids, st.sampled_from(["p", "q"])),
        st.just(None)), max_leaves=max_leaves)


@st.composite
def mlps(draw: st.DrawFn, *, max_layers: int = 3, max_width: int = 6,
         activations: tuple[str, ...] = tuple(ACTIVATIONS),
         dtypes: tuple[Floating, ...] = (np.float64, np.float32)) -> Sequential:
    """A random MLP: 1 to ``max_layers`` Dense layers, a random activation, dtype and seed, and
    small non-zero biases (so ReLU's kink stays away from finite-difference points)."""
    sizes = draw(st.lists(st.integers(1, max_width), min_size=2, max_size=max_layers + 1))
    sizes[-1] = max(sizes[-1], 2)
    dtype = draw(st.sampled_from(dtypes))
    seed = draw(st.integers(0, 2**31))
    net = mlp(sizes, seed=seed, activation=draw(st.sampled_from(activations)), dtype=dtype)
    rng = np.random.default_rng(seed)
    return tree_map(lambda a: a + rng.uniform(0.05, 0.2, a.shape).astype(a.dtype), net)


@st.composite
def convnets(draw: st.DrawFn, *, max_side: int = 9, max_channels: int = 2,
             dtypes: tuple[Floating, ...] = (np.float64, np.float32)) -> Sequential:
    """A random small convnet (:func:`~functional_nn.layers.convnet`) for channels-last images
    of a random shape: one or two conv blocks, a random kernel, padding and pooling, with or
    without BatchNorm (whose model state ``init_state(net)`` gives), no Dropout."""
    side = draw(st.integers(4, max_side))
    channels = draw(st.integers(1, max_channels))
    kernel, pool = draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 2]))
    padding = draw(st.sampled_from(["valid", "same"]))
    shrink = kernel - 1 if padding == "valid" else 0
    # a second block only where the image survives both (each conv, then each pool, shrinks it)
    two_fit = ((side - shrink) // pool - shrink) // pool >= 1
    blocks = draw(st.integers(1, 2 if two_fit else 1))
    filters = draw(st.lists(st.integers(1, 3), min_size=blocks, max_size=blocks))
    return convnet((side, side, channels), draw(st.integers(2, 4)), seed=draw(
        st.integers(0, 2**31)), filters=filters, kernel=kernel, pool=pool, padding=padding,
        batch_norm=draw(st.booleans()), dropout=0.0, dtype=draw(st.sampled_from(dtypes)))


@st.composite
def images_for(draw: st.DrawFn, params: object, *,
               max_batch: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Channels-last images and class labels that fit a convnet whose first layer is a Conv2D
    made by :func:`convnets` (square images: the shape is read off its Flatten'd Dense)."""
    tree = params.tree if isinstance(params, Flat) else params
    layers = tree.layers if isinstance(tree, Sequential) else (tree,)
    first = layers[0]
    if not isinstance(first, Conv2D):
        raise TypeError(f"images_for needs a network starting with a Conv2D, got {type(first)}")
    classes = next(layer for layer in reversed(layers) if isinstance(layer, Dense)).w.shape[1]
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    for side in range(1, 64):  # the image side the network was built for: its forward fits
        x = rng.random((draw(st.integers(1, max_batch)), side, side, first.w.shape[2]))
        try:
            forward(tree, x.astype(first.w.dtype), state=init_state(tree))
        except ValueError:
            continue
        return x.astype(first.w.dtype), rng.integers(0, classes, len(x))
    raise ValueError("images_for: found no image size this network takes")


def _dense_ends(params: object) -> tuple[int, int, np.dtype[Any]]:
    tree = params.tree if isinstance(params, Flat) else params
    layers = tree.layers if isinstance(tree, Sequential) else (tree,)
    dense = [layer for layer in layers if isinstance(layer, Dense)]
    if not dense:
        raise TypeError(f"batches_for needs a network with Dense layers, got {type(tree)}")
    return dense[0].w.shape[0], dense[-1].w.shape[1], dense[0].w.dtype


@st.composite
def batches_for(draw: st.DrawFn, params: object, *, max_batch: int = 5,
                one_hot: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(batch, features)`` in the network's dtype and class labels that fit it
    (integer classes, or one-hot rows when ``one_hot``; drawn either way when None)."""
    features, classes, dtype = _dense_ends(params)
    batch = draw(st.integers(1, max_batch))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((batch, features)).astype(dtype)
    y = rng.integers(0, classes, batch)
    if one_hot if one_hot is not None else draw(st.booleans()):
        return x, np.eye(classes, dtype=dtype)[y]
    return x, y


@st.composite
def layers(draw: st.DrawFn, *, max_width: int = 5,
           max_batch: int = 4) -> tuple[object, np.ndarray]:
    """A built-in layer kind with random parameters, and a float64 batch that fits it."""
    n_in, n_out = draw(st.integers(1, max_width)), draw(st.integers(1, max_width))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((draw(st.integers(1, max_batch)), n_in))
    x[np.abs(x) < 1e-3] = 0.5  # away from ReLU's kink
    kind = draw(st.sampled_from(["dense", "conv", "maxpool", "avgpool", "zeropad", "flatten",
                                 *ACTIVATIONS]))
    if kind == "dense":
        return Dense(rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out)), x
    if kind in ("conv", "maxpool", "avgpool", "zeropad", "flatten"):  # channels-last images
        images = rng.standard_normal((x.shape[0], draw(st.integers(3, 6)),
                                      draw(st.integers(3, 6)), n_in))
        if kind == "conv":
            k = draw(st.integers(1, 3))
            return Conv2D(rng.standard_normal((k, k, n_in, n_out)), rng.standard_normal(n_out),
                          stride=draw(st.integers(1, 2)),
                          padding=draw(st.sampled_from([0, 1]))), images
        if kind == "flatten":
            return Flatten(), images
        if kind == "zeropad":
            return ZeroPad2D(draw(st.tuples(st.integers(0, 2), st.integers(0, 2)))), images
        pool = MaxPool2D if kind == "maxpool" else AvgPool2D
        return pool(draw(st.integers(1, 3))), images
    layer: object = ACTIVATIONS[kind]()
    return layer, x
