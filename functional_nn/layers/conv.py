"""Convolution, pooling and Flatten over channels-last images ``(batch, height, width, channels)``.

Data only: the maths is in ``rules/conv.py`` and ``rules/pooling.py``. Hyperparameters (stride,
padding, dilation, window) are static fields, normalised when a layer is made, so
``Conv2D(w, b, stride=1)`` and ``Conv2D(w, b, stride=(1, 1))`` are the same tree structure.
"""

from __future__ import annotations

from typing import Any, cast

import attrs
import numpy as np

from .._array import Array, readonly
from ..tree import STATIC

__all__ = ["AvgPool2D", "Conv2D", "Flatten", "MaxPool2D", "Padding", "Pads", "Pair", "ZeroPad2D",
           "pair"]

Pair = tuple[int, int]
Pads = tuple[tuple[int, int], tuple[int, int]]
Padding = str | Pads
"""``"valid"``, ``"same"`` or explicit ``((top, bottom), (left, right))``."""

_STATIC = {STATIC: True}


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def pair(name: str, value: object, minimum: int = 1) -> Pair:
    """``value`` (an int or a pair of ints, each ``>= minimum``) as a pair; ``ValueError``
    naming ``name`` otherwise."""
    items: Any = (value, value) if _is_int(value) else value
    try:
        a, b = items
    except (TypeError, ValueError):
        a = b = None
    if not (_is_int(a) and _is_int(b) and a >= minimum and b >= minimum):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(a), int(b)


def _stride(value: int | Pair) -> Pair:
    return pair("stride", value)


def _dilation(value: int | Pair) -> Pair:
    return pair("dilation", value)


def _padding(value: str | int | Pair | Pads) -> Padding:
    """``"valid"`` and ``"same"`` as they are; ``p``, ``(ph, pw)`` and ``((t, b), (l, r))`` as
    ``((t, b), (l, r))``."""
    if isinstance(value, str):
        if value not in ("valid", "same"):
            raise ValueError(f'padding must be "valid", "same", an int, (ph, pw) or '
                             f"((top, bottom), (left, right)), got {value!r}")
        return value
    pads = _explicit_pads(value)
    if pads is None:
        raise ValueError(f'padding must be "valid", "same", an int >= 0, (ph, pw) or '
                         f"((top, bottom), (left, right)), got {value!r}")
    return pads


def _explicit_pads(value: object) -> Pads | None:
    """``p``, ``(ph, pw)`` or ``((t, b), (l, r))`` as ``((t, b), (l, r))``; ``None`` for
    anything else."""
    try:
        if _is_int(value) or (isinstance(value, tuple | list) and all(map(_is_int, value))):
            ph, pw = pair("padding", value, minimum=0)
            return (ph, ph), (pw, pw)
        rows, cols = cast("tuple[object, object]", value)  # or TypeError, ValueError
        return pair("padding", rows, minimum=0), pair("padding", cols, minimum=0)
    except (TypeError, ValueError):
        return None


def _check_conv(instance: Conv2D, attribute: attrs.Attribute[Pair], value: Pair) -> None:
    w, b = instance.w, instance.b
    if w.ndim != 4 or 0 in w.shape or b.shape != (w.shape[3],):
        raise ValueError(f"Conv2D needs w of shape (kh, kw, in_channels, out_channels), each at "
                         f"least 1, and b of shape (out_channels,), got w {w.shape} and b "
                         f"{b.shape}")
    if w.dtype != b.dtype:
        raise ValueError(f"Conv2D needs w and b of one dtype, got {w.dtype} and {b.dtype}")
    if instance.padding == "same" and instance.stride != (1, 1):
        raise ValueError(f'Conv2D: padding="same" needs stride 1, got stride {instance.stride}'
                         " (give the padding explicitly)")


@attrs.frozen
class Conv2D:
    """A 2-D convolution (cross-correlation, as in every deep-learning library) plus a bias.

    ``y[n, i, j, o] = b[o] + Σ_{a, c, k} xp[n, i·sh + a·dh, j·sw + c·dw, k] · w[a, c, k, o]``,
    where ``xp`` is the input zero-padded by ``padding`` and ``(sh, sw)``, ``(dh, dw)`` are
    ``stride`` and ``dilation``; the output has ``⌊(H + pads − dh(kh − 1) − 1) / sh⌋ + 1`` rows
    (likewise columns). ``w`` has shape ``(kh, kw, in_channels, out_channels)`` (Keras/TF's
    layout; PyTorch's ``Conv2d`` weight is its ``(3, 2, 0, 1)`` transpose). ``padding`` is
    ``"valid"`` (none), ``"same"`` (output as large as the input; stride 1; an odd total puts
    the extra row/column at the bottom/right, as TensorFlow and PyTorch do), an int, a pair
    ``(ph, pw)`` or ``((top, bottom), (left, right))``.
    """

    w: Array = attrs.field(converter=readonly)
    b: Array = attrs.field(converter=readonly)
    stride: Pair = attrs.field(default=(1, 1), converter=_stride, metadata=_STATIC)
    padding: Padding = attrs.field(default="valid", converter=_padding, metadata=_STATIC)
    dilation: Pair = attrs.field(default=(1, 1), converter=_dilation, metadata=_STATIC,
                                 validator=_check_conv)


def _check_pool(instance: _Pool2D, attribute: attrs.Attribute[Pair], value: Pair) -> None:
    pair("window", instance.window)
    pair("stride", value)


@attrs.frozen(init=False)
class _Pool2D:
    """Shared fields of the pooling layers: ``window`` and ``stride`` (pairs, static)."""

    window: Pair = attrs.field(metadata=_STATIC)
    stride: Pair = attrs.field(metadata=_STATIC, validator=_check_pool)

    def __init__(self, window: int | Pair = 2, stride: int | Pair | None = None) -> None:
        size = pair("window", window)
        self.__attrs_init__(size, size if stride is None else pair("stride", stride))


@attrs.frozen(init=False)
class MaxPool2D(_Pool2D):
    """The maximum over each ``window`` of every channel, windows ``stride`` apart (default:
    the window, so they tile the image); windows that do not fit are dropped, as PyTorch's
    ``MaxPool2d`` (``ceil_mode=False``, no padding) does. The gradient goes to the first
    maximum of each window in row-major order, as PyTorch's does."""


@attrs.frozen(init=False)
class AvgPool2D(_Pool2D):
    """The mean over each ``window`` of every channel, windows ``stride`` apart (default: the
    window); windows that do not fit are dropped, as PyTorch's ``AvgPool2d`` does."""


def _zero_pads(value: int | Pair | Pads) -> Pads:
    padding = None if isinstance(value, str) else _explicit_pads(value)
    if padding is None:
        raise ValueError(f"ZeroPad2D's padding must be an int >= 0, (ph, pw) or "
                         f"((top, bottom), (left, right)), got {value!r}")
    return padding


@attrs.frozen
class ZeroPad2D:
    """Zeros around every image: ``padding`` is ``p``, ``(ph, pw)`` or ``((top, bottom),
    (left, right))`` rows and columns, as Keras's ``ZeroPadding2D`` and PyTorch's
    ``ZeroPad2d``.

    Before an :class:`AvgPool2D` it gives PyTorch's padded average pooling
    (``count_include_pad=True``); before a :class:`MaxPool2D` of non-negative inputs (after a
    ReLU), its padded max pooling.
    """

    padding: Pads = attrs.field(default=((1, 1), (1, 1)), converter=_zero_pads, metadata=_STATIC)


@attrs.frozen
class Flatten:
    """``(batch, d1, d2, ...) -> (batch, d1·d2·...)`` in C order of the channels-last layout:
    feature ``(i·W + j)·C + k`` is pixel ``(i, j)``, channel ``k``."""
