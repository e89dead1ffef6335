"""Rules of MaxPool2D and AvgPool2D: separable, over strided views of the image.

A ``kh × kw`` window reduces in two stages: over its ``kw`` columns (``x[:, :, b::sw]`` for
each column offset ``b``: every row at once), then over its ``kh`` rows (``m[:, a::sh]``), so a
pool is ``kw + kh`` elementwise passes, not ``kh·kw``, with no per-window Python loop and no
index arrays. Taking the first maximum of each row, then the first row holding the maximum,
is taking the window's first maximum in row-major order: PyTorch's choice, where the gradient
goes. The VJP runs the stages backwards, writing (tiling windows) or adding (overlapping
ones) into the same views of the cotangent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._array import Array
from ..layers import AvgPool2D, MaxPool2D
from .core import Context, register

__all__ = ["pool_output_shape"]

Pool = MaxPool2D | AvgPool2D


def pool_output_shape(layer: Pool, height: int, width: int) -> tuple[int, int]:
    """The (rows, columns) of ``layer``'s output on a ``height`` × ``width`` image;
    ``ValueError`` when its window does not fit."""
    (kh, kw), (sh, sw) = layer.window, layer.stride
    if kh > height or kw > width:
        raise ValueError(f"{type(layer).__name__}'s {kh}x{kw} window does not fit a "
                         f"{height}x{width} image")
    return (height - kh) // sh + 1, (width - kw) // sw + 1


def _output_shape(layer: Pool, x: Array) -> tuple[int, int]:
    if x.ndim != 4:
        raise ValueError(f"{type(layer).__name__} expects inputs of shape (batch, height, "
                         f"width, channels), got {x.shape}")
    return pool_output_shape(layer, *x.shape[1:3])


def _columns(a: Array, window: int, stride: int, size: int) -> list[Array]:
    """The views of ``a`` (n, h, w, c) at each column offset of the windows: (n, h, size, c)."""
    return [a[:, :, b:b + stride * (size - 1) + 1:stride] for b in range(window)]


def _rows(a: Array, window: int, stride: int, size: int) -> list[Array]:
    """The views of ``a`` (n, h, w, c) at each row offset of the windows: (n, size, w, c)."""
    return [a[:, r:r + stride * (size - 1) + 1:stride] for r in range(window)]


def _give(target: Array, value: Array, tiles: bool) -> None:
    """Write ``value`` into ``target`` (windows that tile) or add it (overlapping ones)."""
    if tiles:
        np.copyto(target, value)
    else:
        target += value


# Max over views v_0..v_{k-1}: y = max(...max(max(v_0, v_1), v_2)..., v_{k-1}), where each
# binary max keeps its earlier operand on ties. Its VJP runs the chain backwards: at step j the
# cotangent of the running maximum r_{j-1} = max(v_0..v_{j-1}) is g·[r_{j-1} ≥ v_j], and v_j
# gets the rest, g·[r_{j-1} < v_j] = g − g·[r_{j-1} ≥ v_j].
def _max_of(views: list[Array]) -> Array:
    if len(views) == 1:
        return views[0].copy()
    y = np.maximum(views[0], views[1])
    for view in views[2:]:
        np.maximum(y, view, out=y)
    return y


def _max_vjp_into(views: list[Array], g: Array, targets: list[Array], tiles: bool) -> None:
    running = [views[0]]  # r_0..r_{k-2}, recomputed: cheaper to redo than to keep
    for view in views[1:-1]:
        running.append(np.maximum(running[-1], view))
    mask = np.empty(g.shape, np.bool_)
    for j in range(len(views) - 1, 0, -1):
        np.greater_equal(running[j - 1], views[j], out=mask)
        # tiling windows: the last split writes straight into the cotangent's views
        kept = np.multiply(g, mask, out=targets[0] if tiles and j == 1 else None)
        if tiles:
            np.subtract(g, kept, out=targets[j])
        else:
            targets[j] += np.subtract(g, kept, out=g)  # g is private: overwrite it
        g = kept
    if len(views) == 1 or not tiles:  # (tiling windows of two or more: written above)
        _give(targets[0], g, tiles)


def _sum_of(views: list[Array]) -> Array:
    if len(views) == 1:
        return views[0].copy()
    y = np.add(views[0], views[1])
    for view in views[2:]:
        y += view
    return y


def _sum_vjp_into(views: list[Array], g: Array, targets: list[Array], tiles: bool) -> None:
    for target in targets:
        _give(target, g, tiles)


Reduce = Callable[[list[Array]], Array]
ReduceVjp = Callable[[list[Array], Array, list[Array], bool], None]


def _pool_forward(layer: Pool, x: Array, reduce: Reduce) -> tuple[Array, Array]:
    """Stage 1 over each window's columns, stage 2 over its rows: ``(y, stage 1)``."""
    ho, wo = _output_shape(layer, x)
    (kh, kw), (sh, sw) = layer.window, layer.stride
    used = x[:, :sh * (ho - 1) + kh]  # the rows some window covers
    across = reduce(_columns(used, kw, sw, wo))
    return reduce(_rows(across, kh, sh, ho)), across


def _cotangent(shape: tuple[int, ...], dtype: np.dtype[np.floating], window: int,
               stride: int, axis: int, covered: int) -> Array:
    """Zeros of ``shape``, but only where no window writes when they tile along ``axis``
    (stride = window: every covered element is written, so it needs no zero first)."""
    if stride != window:
        return np.zeros(shape, dtype)
    out = np.empty(shape, dtype)
    out[(slice(None),) * axis + (slice(covered, None),)] = 0
    return out


def _pool_vjp(layer: Pool, g: Array, x_shape: tuple[int, ...], across_shape: tuple[int, ...],
              x: Array | None, across: Array | None, reduce_vjp: ReduceVjp) -> Array:
    """The stages' VJPs in reverse; ``x`` and ``across`` (stage 1's output) for a reduction
    whose VJP reads its operands (max), ``None`` for one whose VJP does not (sum)."""
    (kh, kw), (sh, sw) = layer.window, layer.stride
    ho, wo = g.shape[1:3]
    rows = across_shape[1]  # the rows some window covers
    g_across = _cotangent(across_shape, g.dtype, kh, sh, 1, rows)
    operands = [] if across is None else _rows(across, kh, sh, ho)
    reduce_vjp(operands, g, _rows(g_across, kh, sh, ho), sh >= kh)
    gx = _cotangent(x_shape, g.dtype, kw, sw, 2, wo * kw)
    gx[:, rows:] = 0  # rows no window covers
    operands = [] if x is None else _columns(x[:, :rows], kw, sw, wo)
    reduce_vjp(operands, g_across, _columns(gx[:, :rows], kw, sw, wo), sw >= kw)
    return gx


# MaxPool2D: y = max over the window;  dy/dx = 1 at the window's first maximum, else 0.
def _max_forward(layer: MaxPool2D, x: Array,
                 ctx: Context) -> tuple[Array, tuple[Array, Array]]:
    y, across = _pool_forward(layer, x, _max_of)
    return y, (x, across)


def _max_vjp(layer: MaxPool2D, residual: tuple[Array, Array], g: Array, out: MaxPool2D,
             ctx: Context) -> Array | None:
    if not ctx.input_grad:
        return None
    x, across = residual
    return _pool_vjp(layer, g, x.shape, across.shape, x, across, _max_vjp_into)


# AvgPool2D: y = mean over the window;  dy/dx = 1 / (kh·kw) for every pixel of the window.
def _avg_forward(layer: AvgPool2D, x: Array,
                 ctx: Context) -> tuple[Array, tuple[tuple[int, ...], tuple[int, ...]]]:
    y, across = _pool_forward(layer, x, _sum_of)
    y *= y.dtype.type(1 / (layer.window[0] * layer.window[1]))
    return y, (x.shape, across.shape)


def _avg_vjp(layer: AvgPool2D, shapes: tuple[tuple[int, ...], tuple[int, ...]], g: Array,
             out: AvgPool2D, ctx: Context) -> Array | None:
    if not ctx.input_grad:
        return None
    g *= g.dtype.type(1 / (layer.window[0] * layer.window[1]))
    return _pool_vjp(layer, g, *shapes, None, None, _sum_vjp_into)


register(MaxPool2D, _max_forward, _max_vjp)
register(AvgPool2D, _avg_forward, _avg_vjp)
