"""The rule of Dropout: a mask drawn from the context's key alone (``ctx.rng()``)."""

from __future__ import annotations

import numpy as np

from .._array import Array
from ..layers import Dropout
from .core import Context, register

__all__: list[str] = []


# Dropout (training): y = x · s with s = [u ≥ rate] / (1 − rate), u ~ U[0, 1);  dy/dx = s.
# At inference (or rate 0) it is the identity, and so is its VJP.
def _dropout_forward(layer: Dropout, x: Array, ctx: Context) -> tuple[Array, Array | None]:
    if not ctx.training or layer.rate == 0:
        return x, None
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    draws = ctx.rng().random(x.shape, dtype=np.float32 if dtype == np.float32 else np.float64)
    scale = np.greater_equal(draws, layer.rate).astype(dtype)
    scale *= dtype.type(1 / (1 - layer.rate))
    return x * scale, scale


def _dropout_vjp(layer: Dropout, scale: Array | None, g: Array, out: Dropout,
                 ctx: Context) -> Array | None:
    if not ctx.input_grad:
        return None
    return g if scale is None else np.multiply(g, scale, out=g)


register(Dropout, _dropout_forward, _dropout_vjp)
