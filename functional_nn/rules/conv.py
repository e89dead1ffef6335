"""Rules of Conv2D (im2col: one matmul each way) and Flatten.

The convolution is one matmul on the im2col matrix ``cols`` of shape ``(n·ho·wo, kh·kw·c)``,
row ``(n, i, j)`` holding the receptive field of output pixel ``(i, j)`` in ``(a, b, k)``
order, so that ``w`` of shape ``(kh, kw, c, o)`` is its matching ``(kh·kw·c, o)`` matrix
without a transpose. ``cols`` is gathered in one copy from a strided view of the (padded)
input, and kept as the residual: the weight gradient is ``colsᵀ g``. The input gradient is
``g wᵀ`` scattered back (col2im) by ``kh·kw`` strided adds, one per kernel offset.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._array import Array
from ..layers import Conv2D, Flatten
from ..layers.conv import Pads
from .core import Context, register, sum_to

__all__ = ["conv_output_shape", "conv_pads"]


def conv_pads(layer: Conv2D) -> Pads:
    """``((top, bottom), (left, right))`` zero padding of ``layer``'s input."""
    if layer.padding == "valid":
        return (0, 0), (0, 0)
    if layer.padding == "same":  # the odd row/column at the bottom/right, as TF and PyTorch
        kh, kw = layer.w.shape[:2]
        th, tw = layer.dilation[0] * (kh - 1), layer.dilation[1] * (kw - 1)
        return (th // 2, th - th // 2), (tw // 2, tw - tw // 2)
    return layer.padding  # type: ignore[return-value]


def conv_output_shape(layer: Conv2D, height: int, width: int) -> tuple[int, int]:
    """The (rows, columns) of ``layer``'s output on a ``height`` × ``width`` image (< 1 when
    the kernel does not fit)."""
    (top, bottom), (left, right) = conv_pads(layer)
    kh, kw = layer.w.shape[:2]
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    return ((height + top + bottom - dh * (kh - 1) - 1) // sh + 1,
            (width + left + right - dw * (kw - 1) - 1) // sw + 1)


def _offsets(layer: Conv2D, ho: int, wo: int) -> list[tuple[int, slice, slice]]:
    """For each kernel offset ``(a, b)``, in ``cols`` order: its index and the rows and
    columns of the padded input that it meets, one per output pixel."""
    kh, kw = layer.w.shape[:2]
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    return [(a * kw + b, slice(a * dh, a * dh + sh * (ho - 1) + 1, sh),
             slice(b * dw, b * dw + sw * (wo - 1) + 1, sw))
            for a in range(kh) for b in range(kw)]


class _ConvResidual(NamedTuple):
    cols: Array  # the im2col matrix (n·ho·wo, kh·kw·c)
    padded: tuple[int, ...]  # the padded input's shape
    pads: Pads
    size: tuple[int, int]  # the input's (height, width)


def _conv_forward(layer: Conv2D, x: Array, ctx: Context) -> tuple[Array, _ConvResidual]:
    w = layer.w
    kh, kw, cin, cout = w.shape
    if x.ndim != 4 or x.shape[3] != cin:
        raise ValueError(f"Conv2D expects inputs of shape (batch, height, width, {cin}), got "
                         f"{x.shape}")
    if x.dtype != w.dtype:
        x = x.astype(w.dtype)  # inputs follow the parameters' dtype: no silent upcast
    n, h, width = x.shape[:3]
    ho, wo = conv_output_shape(layer, h, width)
    pads = conv_pads(layer)
    (top, bottom), (left, right) = pads
    if ho < 1 or wo < 1:
        raise ValueError(f"Conv2D: a {kh}x{kw} kernel (dilation {layer.dilation}) does not fit "
                         f"a {h}x{width} image padded to {h + top + bottom}x"
                         f"{width + left + right}")
    xp = x
    if top or bottom or left or right:
        xp = np.zeros((n, h + top + bottom, width + left + right, cin), x.dtype)
        xp[:, top:top + h, left:left + width] = x
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    rows = n * ho * wo
    if (kh, kw, sh, sw) == (1, 1, 1, 1) and xp.flags.c_contiguous:
        cols = xp.reshape(rows, cin)  # a 1x1 kernel's receptive fields are the pixels
    else:
        s0, s1, s2, s3 = xp.strides
        fields = as_strided(xp, (n, ho, wo, kh, kw, cin),
                            (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3), writeable=False)
        cols = np.empty((rows, kh * kw * cin), x.dtype)
        np.copyto(cols.reshape(fields.shape), fields)  # the one im2col copy
    y = cols @ w.reshape(kh * kw * cin, cout)
    y += layer.b
    return y.reshape(n, ho, wo, cout), _ConvResidual(cols, xp.shape, pads, (h, width))


def _conv_vjp(layer: Conv2D, residual: _ConvResidual, g: Array, out: Conv2D,
              ctx: Context) -> Array | None:
    cols, xp_shape, pads, (h, width) = residual
    kh, kw, cin, cout = layer.w.shape
    n, ho, wo = g.shape[:3]
    g2 = g.reshape(n * ho * wo, cout)
    gw = out.w.reshape(kh * kw * cin, cout)
    np.matmul(cols.T, g2, out=gw)
    if not np.shares_memory(gw, out.w):  # an out= leaf that is not contiguous: reshape copied
        np.copyto(out.w, gw.reshape(out.w.shape))
    sum_to(g2, out.b)
    if not ctx.input_grad:
        return None
    gcols = (g2 @ layer.w.reshape(kh * kw * cin, cout).T).reshape(n, ho, wo, kh * kw, cin)
    gxp = np.zeros(xp_shape, g.dtype)
    for k, rows, columns in _offsets(layer, ho, wo):  # col2im: one strided add per offset
        target = gxp[:, rows, columns]
        np.add(target, gcols[:, :, :, k], out=target)
    (top, _), (left, _) = pads
    gx: Array = gxp[:, top:top + h, left:left + width]
    return gx


# Flatten: a reshape; its VJP reshapes back.
def _flatten_forward(layer: Flatten, x: Array, ctx: Context) -> tuple[Array, tuple[int, ...]]:
    if x.ndim < 2:
        raise ValueError(f"Flatten expects inputs of shape (batch, ...), got {x.shape}")
    return x.reshape(x.shape[0], math.prod(x.shape[1:])), x.shape


def _flatten_vjp(layer: Flatten, shape: tuple[int, ...], g: Array, out: Flatten,
                 ctx: Context) -> Array | None:
    return g.reshape(shape) if ctx.input_grad else None


register(Conv2D, _conv_forward, _conv_vjp)
register(Flatten, _flatten_forward, _flatten_vjp)
