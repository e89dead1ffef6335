"""Dense, the elementwise activations and Sequential: data only (rules: ``rules/dense.py``)."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .._array import Array, readonly

__all__ = ["ACTIVATIONS", "Dense", "ReLU", "Sequential", "Sigmoid", "Tanh"]


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
    if isinstance(layers, str | bytes) or not isinstance(layers, Iterable):
        raise TypeError(f"Sequential takes a tuple or list of layers, got "
                        f"{type(layers).__name__}")
    return tuple(layers)


@attrs.frozen
class Sequential:
    """Layers applied one after another: ``Sequential((f, g))(x) == g(f(x))``."""

    layers: tuple[object, ...] = attrs.field(converter=_as_layers)


ACTIVATIONS: dict[str, type] = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
