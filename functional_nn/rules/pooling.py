"""Rules of MaxPool2D and AvgPool2D, as passes over ``kh·kw`` strided views of the image.

Offset ``(a, b)`` of every window at once is the view ``x[:, a::sh, b::sw]`` (cut to the
output's size), so a pool is ``kh·kw`` elementwise passes over arrays of the output's size,
and its VJP writes (tiling windows) or adds (overlapping ones) into the same views of the
input gradient: no per-window Python loop and no index arrays.
"""

from __future__ import annotations

import numpy as np

from .._array import Array
from ..layers import AvgPool2D, MaxPool2D
from .core import Context, register

__all__: list[str] = []


def _views(layer: MaxPool2D | AvgPool2D, x: Array, ho: int, wo: int) -> list[Array]:
    """The view of ``x`` at each window offset, in row-major order of the window."""
    (kh, kw), (sh, sw) = layer.window, layer.stride
    return [x[:, a:a + sh * (ho - 1) + 1:sh, b:b + sw * (wo - 1) + 1:sw]
            for a in range(kh) for b in range(kw)]


def _output_shape(layer: MaxPool2D | AvgPool2D, x: Array) -> tuple[int, int]:
    kind = type(layer).__name__
    if x.ndim != 4:
        raise ValueError(f"{kind} expects inputs of shape (batch, height, width, channels), "
                         f"got {x.shape}")
    (kh, kw), (sh, sw) = layer.window, layer.stride
    h, w = x.shape[1:3]
    if kh > h or kw > w:
        raise ValueError(f"{kind}: a {kh}x{kw} window does not fit a {h}x{w} image")
    return (h - kh) // sh + 1, (w - kw) // sw + 1


def _tiles(layer: MaxPool2D | AvgPool2D) -> bool:
    """Whether windows never overlap, so each input pixel gets at most one cotangent."""
    return layer.stride[0] >= layer.window[0] and layer.stride[1] >= layer.window[1]


# MaxPool2D: y = max over the window;  dy/dx = 1 at the window's first maximum, else 0.
def _max_forward(layer: MaxPool2D, x: Array, ctx: Context) -> tuple[Array, tuple[Array, Array]]:
    views = _views(layer, x, *_output_shape(layer, x))
    y = views[0].copy()
    for view in views[1:]:
        np.maximum(y, view, out=y)
    # the argmax is found again by the VJP, from x and y: inference pays one pass per offset
    return y, (x, y)


def _max_vjp(layer: MaxPool2D, residual: tuple[Array, Array], g: Array, out: MaxPool2D,
             ctx: Context) -> Array | None:
    if not ctx.input_grad:
        return None
    x, y = residual
    gx = np.zeros(x.shape, g.dtype)
    views, targets = _views(layer, x, *y.shape[1:3]), _views(layer, gx, *y.shape[1:3])
    tiles = _tiles(layer)
    free = np.ones(y.shape, np.bool_)  # windows whose maximum has no cotangent yet
    hit = np.empty(y.shape, np.bool_)
    last = len(views) - 1
    for k, (view, target) in enumerate(zip(views, targets, strict=True)):
        np.equal(view, y, out=hit)
        if k:
            np.logical_and(hit, free, out=hit)  # only the first maximum of each window
        if k < last:
            np.logical_xor(free, hit, out=free)  # hit ⊆ free: free and not hit
        if tiles:
            np.multiply(g, hit, out=target)
        else:
            target += g * hit
    return gx


# AvgPool2D: y = mean over the window;  dy/dx = 1 / (kh·kw) for every pixel of the window.
def _avg_forward(layer: AvgPool2D, x: Array, ctx: Context) -> tuple[Array, tuple[int, ...]]:
    views = _views(layer, x, *_output_shape(layer, x))
    y = views[0].copy()
    for view in views[1:]:
        y += view
    y *= y.dtype.type(1 / len(views))
    return y, x.shape


def _avg_vjp(layer: AvgPool2D, shape: tuple[int, ...], g: Array, out: AvgPool2D,
             ctx: Context) -> Array | None:
    if not ctx.input_grad:
        return None
    gx = np.zeros(shape, g.dtype)
    targets = _views(layer, gx, *g.shape[1:3])
    share = np.multiply(g, g.dtype.type(1 / len(targets)), out=g)
    tiles = _tiles(layer)
    for target in targets:
        if tiles:
            np.copyto(target, share)
        else:
            target += share
    return gx


register(MaxPool2D, _max_forward, _max_vjp)
register(AvgPool2D, _avg_forward, _avg_vjp)
