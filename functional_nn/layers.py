"""Parameter classes: frozen, slotted attrs pytrees whose array leaves are read-only.

A layer is data only; what it computes lives in :mod:`functional_nn.rules`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from ._array import Array, readonly
from .tree import array_leaves

__all__ = ["Dense", "ReLU", "Sequential", "Sigmoid", "Tanh", "mlp", "param_count"]


def _check_dense(instance: Dense, attribute: attrs.Attribute[Array], value: Array) -> None:
    w, b = instance.w, value
    if w.ndim != 2 or b.ndim != 1 or b.shape[0] != w.shape[1]:
        raise ValueError(f"Dense needs w of shape (in, out) and b of shape (out,), "
                         f"got w {w.shape} and b {b.shape}")
    if w.dtype != b.dtype:
        raise ValueError(f"Dense needs w and b of one dtype, got {w.dtype} and {b.dtype}")


@attrs.frozen
class Dense:
    """An affine layer ``y = x @ w + b`` with ``w`` of shape (in, out) and ``b`` of shape (out,)."""

    w: Array = attrs.field(converter=readonly)
    b: Array = attrs.field(converter=readonly, validator=_check_dense)


@attrs.frozen
class ReLU:
    """``max(x, 0)``, elementwise."""


@attrs.frozen
class Sigmoid:
    """``1 / (1 + exp(-x))``, elementwise."""


@attrs.frozen
class Tanh:
    """``tanh(x)``, elementwise."""


def _as_layers(layers: Iterable[object]) -> tuple[object, ...]:
    return tuple(layers)


@attrs.frozen
class Sequential:
    """Layers applied one after another: ``Sequential((f, g))(x) == g(f(x))``."""

    layers: tuple[object, ...] = attrs.field(converter=_as_layers)


ACTIVATIONS: dict[str, type] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


def _init_weight(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str,
                 dtype: np.dtype[np.floating]) -> Array:
    """He (normal) init for ReLU, Glorot (uniform) for tanh and sigmoid, drawn in ``dtype``."""
    draw = np.float32 if dtype == np.float32 else np.float64
    shape = (fan_in, fan_out)
    w: Array
    if activation == "relu":
        w = rng.standard_normal(shape, dtype=draw) * np.sqrt(2.0 / fan_in, dtype=draw)
    else:
        limit = np.sqrt(6.0 / (fan_in + fan_out), dtype=draw)
        w = (rng.random(shape, dtype=draw) * draw(2) - draw(1)) * limit
    return w.astype(dtype, copy=False)


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
    if len(sizes) < 2 or any(not isinstance(s, int | np.integer) or s < 1 for s in sizes):
        raise ValueError(f"mlp needs at least two positive integer sizes, got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"mlp needs a floating dtype, got {dt}")
    rng = np.random.default_rng(seed)
    layers: list[object] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        w = _init_weight(rng, fan_in, fan_out, activation, dt)  # type: ignore[arg-type]
        layers.append(Dense(w, np.zeros(fan_out, dtype=dt)))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return Sequential(tuple(layers))


def param_count(tree: object) -> int:
    """The number of scalars in a tree of arrays.

    >>> param_count(Dense(np.zeros((3, 2)), np.zeros(2)))
    8
    """
    return sum(leaf.size for leaf in array_leaves(tree))
