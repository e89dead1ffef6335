"""Rules of Conv2D (im2col: one matmul each way), Flatten and ZeroPad2D.

The convolution is one matmul on the im2col matrix ``cols`` of shape
``(n·ho·wo, kh·kw·c + 1)``: row ``(n, i, j)`` holds the receptive field of output pixel
``(i, j)`` in ``(a, b, k)`` order, then a 1, so that ``y = cols @ [w; b]`` with ``w`` of shape
``(kh, kw, c, o)`` as its matching ``(kh·kw·c, o)`` matrix and the bias as one more row: the
matmul adds the bias, and ``colsᵀ g`` is the weight gradient and the bias gradient at once.
In a :class:`~functional_nn.flat.Flat` the bias directly follows the weight, so ``[w; b]``
(and its gradient) is a view of the buffer. ``cols`` is gathered in one copy from a strided
view of the (padded) input, and kept as the residual. The input gradient is
``g wᵀ``, computed per kernel offset (one batched matmul) and scattered back (col2im) by
``kh·kw`` strided adds, one per offset.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._array import Array
from ..layers import Conv2D, Flatten, ZeroPad2D
from ..layers.conv import Pads
from .core import Context, register

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


def _owner(a: Array) -> object:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a if a.base is None else a.base


def _stacked(w: Array, b: Array) -> Array | None:
    """``w`` as a ``(kh·kw·c, o)`` matrix with ``b`` as one more row, as a view of their
    memory when ``b`` directly follows ``w`` in one buffer (as in a Flat); else ``None``."""
    if not (w.flags.c_contiguous and b.flags.c_contiguous and _owner(w) is _owner(b)):
        return None
    if b.__array_interface__["data"][0] != w.__array_interface__["data"][0] + w.nbytes:
        return None
    rows, cout = w.size // b.size + 1, b.size
    return as_strided(w, (rows, cout), (cout * w.itemsize, w.itemsize),
                      writeable=w.flags.writeable and b.flags.writeable)


def _gather(target: Array, fields: Array, layer: Conv2D, xp: Array) -> None:
    """Copy the receptive fields (n, ho, wo, kh, kw, c) into ``target``, in one copy whose
    inner loops run over a field's rows ``(kw, c)``, or one copy per kernel offset whose inner
    loops run over the output's width: whichever is longer (few channels: the width)."""
    ho, wo, _, kw, cin = fields.shape[1:]
    if wo <= kw * cin:
        np.copyto(target, fields)
        return
    for k, rows, columns in _offsets(layer, ho, wo):
        np.copyto(target[:, :, :, k // kw, k % kw], xp[:, rows, columns])


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
        raise ValueError(f"Conv2D's {kh}x{kw} kernel (dilation {layer.dilation}) does not fit "
                         f"a {h}x{width} image (padded: {h + top + bottom}x"
                         f"{width + left + right})")
    xp = x
    if top or bottom or left or right:
        xp = np.zeros((n, h + top + bottom, width + left + right, cin), x.dtype)
        xp[:, top:top + h, left:left + width] = x
    (sh, sw), (dh, dw) = layer.stride, layer.dilation
    rows, k = n * ho * wo, kh * kw * cin
    s0, s1, s2, s3 = xp.strides
    fields = as_strided(xp, (n, ho, wo, kh, kw, cin),
                        (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3), writeable=False)
    cols = np.empty((rows, k + 1), x.dtype)
    _gather(cols[:, :k].reshape(fields.shape), fields, layer, xp)  # the one im2col copy
    cols[:, k] = 1
    wb = _stacked(w, layer.b)
    if wb is None:  # not laid out as in a Flat: stack a copy (small: the parameters)
        wb = np.concatenate([w.reshape(k, cout), layer.b[None]])
    y = cols @ wb
    return y.reshape(n, ho, wo, cout), _ConvResidual(cols, xp.shape, pads, (h, width))


def _conv_vjp(layer: Conv2D, residual: _ConvResidual, g: Array, out: Conv2D,
              ctx: Context) -> Array | None:
    cols, xp_shape, pads, (h, width) = residual
    kh, kw, cin, cout = layer.w.shape
    n, ho, wo = g.shape[:3]
    g2 = g.reshape(n * ho * wo, cout)
    gwb = _stacked(out.w, out.b)
    if gwb is not None:
        np.matmul(cols.T, g2, out=gwb)  # [dw; db] straight into the gradient buffer
    else:
        gwb = cols.T @ g2
        np.copyto(out.w, gwb[:-1].reshape(out.w.shape))
        np.copyto(out.b, gwb[-1])
    if not ctx.input_grad:
        return None
    # g wᵀ per kernel offset, (kh·kw, n·ho·wo, c): each offset's block is contiguous, so each
    # strided add of col2im runs over whole rows of (wo, c) instead of c values at a time
    w_offsets = layer.w.reshape(kh * kw, cin, cout).transpose(0, 2, 1)
    gcols = np.matmul(g2, w_offsets).reshape(kh * kw, n, ho, wo, cin)
    gxp = np.zeros(xp_shape, g.dtype)
    for k, rows, columns in _offsets(layer, ho, wo):  # col2im: one strided add per offset
        target = gxp[:, rows, columns]
        np.add(target, gcols[k], out=target)
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


# ZeroPad2D: y = x framed by zeros;  its VJP is the cotangent's interior (the frame is constant).
def _pad_forward(layer: ZeroPad2D, x: Array, ctx: Context) -> tuple[Array, tuple[int, int]]:
    if x.ndim != 4:
        raise ValueError(f"ZeroPad2D expects inputs of shape (batch, height, width, channels), "
                         f"got {x.shape}")
    (top, bottom), (left, right) = layer.padding
    n, h, w, c = x.shape
    y = np.zeros((n, top + h + bottom, left + w + right, c), x.dtype)
    y[:, top:top + h, left:left + w] = x
    return y, (h, w)


def _pad_vjp(layer: ZeroPad2D, size: tuple[int, int], g: Array, out: ZeroPad2D,
             ctx: Context) -> Array | None:
    if not ctx.input_grad:
        return None
    (top, _), (left, _) = layer.padding
    return np.ascontiguousarray(g[:, top:top + size[0], left:left + size[1]])


register(ZeroPad2D, _pad_forward, _pad_vjp)
