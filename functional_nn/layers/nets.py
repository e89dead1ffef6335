"""Constructors of common networks (``mlp``, ``convnet``) from an explicit seed, and
``param_count``."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .._array import Array
from .._validators import non_negative_int
from ..tree import array_leaves
from .conv import Conv2D, Flatten, MaxPool2D
from .dense import ACTIVATIONS, Dense, ReLU, Sequential
from .norms import BatchNorm, Dropout

__all__ = ["convnet", "float_dtype", "init_weight", "mlp", "param_count"]


def init_weight(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int,
                activation: str, dtype: np.dtype[np.floating]) -> Array:
    """He (normal) init for ReLU, Glorot (uniform) for tanh and sigmoid, drawn in ``dtype``."""
    draw = np.float32 if dtype == np.float32 else np.float64
    w: Array
    if activation == "relu":
        w = rng.standard_normal(shape, dtype=draw) * np.sqrt(2.0 / fan_in, dtype=draw)
    else:
        limit = np.sqrt(6.0 / (fan_in + fan_out), dtype=draw)
        w = (rng.random(shape, dtype=draw) * draw(2) - draw(1)) * limit
    return w.astype(dtype, copy=False)


def float_dtype(name: str, dtype: npt.DTypeLike) -> np.dtype[np.floating]:
    """``dtype`` as a numpy floating dtype; ``ValueError`` naming ``name`` otherwise."""
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"{name} needs a floating dtype, got {dt}")
    return dt  # type: ignore[return-value]


def mlp(sizes: Sequence[int], *, seed: int, activation: str = "relu",
        dtype: npt.DTypeLike = np.float32) -> Sequential:
    """A multi-layer perceptron: Dense layers with ``activation`` between them, logits out.

    The same seed gives bit-identical parameters; randomness comes from
    ``numpy.random.default_rng(seed)`` only.

    >>> net = mlp([784, 16, 16, 10], seed=0)
    >>> param_count(net), [type(layer).__name__ for layer in net.layers]
    (13002, ['Dense', 'ReLU', 'Dense', 'ReLU', 'Dense'])
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1
                             for s in sizes):
        raise ValueError(f"mlp needs at least two positive integer sizes, got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    dt = float_dtype("mlp", dtype)
    rng = np.random.default_rng(non_negative_int("seed", seed))
    layers: list[object] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        w = init_weight(rng, (fan_in, fan_out), fan_in, fan_out, activation, dt)
        layers.append(Dense(w, np.zeros(fan_out, dtype=dt)))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return Sequential(tuple(layers))


def _positive(name: str, values: Sequence[int]) -> list[int]:
    out = list(values)
    if any(not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1 for v in out):
        raise ValueError(f"convnet: {name} must be positive integers, got {out}")
    return [int(v) for v in out]


def convnet(input_shape: Sequence[int] = (28, 28, 1), classes: int = 10, *, seed: int,
            filters: Sequence[int] = (32, 64), kernel: int = 3, pool: int = 2,
            padding: str = "valid", batch_norm: bool = False, hidden: Sequence[int] = (),
            dropout: float = 0.5, dtype: npt.DTypeLike = np.float32) -> Sequential:
    """A convnet for channels-last images of ``input_shape`` ``(height, width, channels)``.

    For each entry of ``filters``: ``Conv2D`` (``kernel``², ``padding``), ``BatchNorm`` if
    ``batch_norm``, ``ReLU``, ``MaxPool2D(pool)``; then ``Flatten``, a ``Dense``-``ReLU`` per
    entry of ``hidden``, ``Dropout(dropout)`` (left out at 0) and the ``Dense`` logits. He
    (normal) init from ``numpy.random.default_rng(seed)`` alone; zero biases. A network with
    ``batch_norm`` has model state: train it from ``init_state(net)``.

    The defaults are the Keras "simple MNIST convnet":

    >>> net = convnet(seed=0)
    >>> param_count(net), " ".join(type(layer).__name__ for layer in net.layers)
    (34826, 'Conv2D ReLU MaxPool2D Conv2D ReLU MaxPool2D Flatten Dropout Dense')
    """
    height, width, channels = _positive("input_shape", input_shape) if len(input_shape) == 3 \
        else (0, 0, 0)
    if not channels:
        raise ValueError(f"convnet: input_shape must be (height, width, channels), got "
                         f"{tuple(input_shape)}")
    [classes, kernel, pool] = _positive("classes, kernel and pool", [classes, kernel, pool])
    filters, hidden = _positive("filters", filters), _positive("hidden", hidden)
    dt = float_dtype("convnet", dtype)
    rng = np.random.default_rng(non_negative_int("seed", seed))
    layers: list[object] = []
    for out_channels in filters:
        fan_in = kernel * kernel * channels
        w = init_weight(rng, (kernel, kernel, channels, out_channels), fan_in,
                         kernel * kernel * out_channels, "relu", dt)
        layers.append(Conv2D(w, np.zeros(out_channels, dt), padding=padding))
        if padding == "valid":
            height, width = height - kernel + 1, width - kernel + 1
        if batch_norm:
            layers.append(BatchNorm(np.ones(out_channels, dt), np.zeros(out_channels, dt)))
        layers += [ReLU(), MaxPool2D(pool)]
        height, width, channels = height // pool, width // pool, out_channels
        if height < 1 or width < 1:
            raise ValueError(f"convnet: {len(filters)} blocks of a {kernel}x{kernel} conv and "
                             f"a {pool}x{pool} pool shrink a {tuple(input_shape)} image to "
                             "nothing: use fewer filters or padding='same'")
    layers.append(Flatten())
    features = height * width * channels
    for size in hidden:
        w = init_weight(rng, (features, size), features, size, "relu", dt)
        layers += [Dense(w, np.zeros(size, dt)), ReLU()]
        features = size
    if dropout:
        layers.append(Dropout(dropout))
    w = init_weight(rng, (features, classes), features, classes, "relu", dt)
    layers.append(Dense(w, np.zeros(classes, dt)))
    return Sequential(tuple(layers))


def param_count(tree: object) -> int:
    """The number of scalars in a tree of arrays.

    >>> param_count(Dense(np.zeros((3, 2)), np.zeros(2)))
    8
    """
    return sum(leaf.size for leaf in array_leaves(tree))
