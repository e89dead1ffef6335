"""A measuring instrument, not a contender to use: the fold's own numpy operations for an MLP,
written out by hand with no library code between them.

``bench_train.py --contenders functional_nn numpy_loop numpy_fused`` times it beside the fold
and the imperative loop. It makes the same arrays the library's step makes, in the same order
(one parameter buffer and one gradient buffer with views for the layers, the forward and VJP
rules' products, cross-entropy through the row maxima and flat-index entries, Adam and the
learning rate over whole buffers into fresh arrays, the parameters never written in place),
and checks the labels and quiets floating-point warnings as the step does, so the gap between
it and ``functional_nn`` is what the library's abstractions cost a step: rule dispatch, tree
builds of a ``Flat``, the transforms' maps and states. The caller sets the allocator up as
``train_step`` does (``keep_freed_memory``), which is the process's, not the step's.

With ``in_place=True`` (contender ``numpy_in_place``) the same arithmetic writes the new
parameters and moments over the old ones, through one scratch buffer, as the imperative loop
does: what the library's purity forbids (a caller may still hold the old state), so the gap
between the two variants is what fresh arrays cost a step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


_ONES: dict[int, F32] = {}


def _ones(n: int) -> F32:
    """A cached vector of ones, as the library's ``_array.ones``."""
    if n not in _ONES:
        _ONES[n] = np.ones(n, np.float32)
    return _ONES[n]


def _views(buffer: F32, shapes: list[tuple[int, int]]) -> list[tuple[F32, F32]]:
    """Each layer's (w, b) as views of ``buffer``, in the library's leaf order."""
    out, at = [], 0
    for n_in, n_out in shapes:
        w = buffer[at:at + n_in * n_out].reshape(n_in, n_out)
        at += n_in * n_out
        out.append((w, buffer[at:at + n_out]))
        at += n_out
    return out


def fused(sizes: list[int], batch: int, x: F32, y: I64, steps: int,
          layers: list[tuple[F32, F32]], order: I64, lr: float, b1: float, b2: float,
          eps: float, in_place: bool = False) -> Iterator[list[tuple[F32, F32]]]:
    """Train ``steps`` batches of Adam from ``layers`` (the shared initial parameters) in the
    batch ``order``: the layers before the first step, then after each step."""
    shapes = [w.shape for w, _ in layers]
    params = np.concatenate([a.ravel() for pair in layers for a in pair]).astype(np.float32)
    m, v = np.zeros_like(params), np.zeros_like(params)
    size = params.size
    scratch = np.empty(size, np.float32)
    views = _views(params, shapes)
    yield views
    for t in range(1, steps + 1):
        index = order[(t - 1) * batch:t * batch]
        xb, yb = x[index], y[index]
        n = len(index)
        with np.errstate(over="ignore", invalid="ignore"):  # as the library's step
            acts, h = [], xb
            for i, (w, b) in enumerate(views):  # forward: x @ w + b, ReLU between
                acts.append(h)
                h = h @ w
                h += b
                if i < len(views) - 1:
                    h = np.maximum(h, 0)
            classes = h.shape[1]
            if np.maximum.reduce(yb.astype(np.uint64)) >= classes:  # the labels' check
                raise ValueError("label out of range")
            starts = np.arange(0, n * classes, classes)  # cross-entropy, as losses.py computes it
            z = h - h.reshape(-1)[starts + h.argmax(axis=-1)][:, None]
            entries = z.reshape(-1)
            at = starts + yb
            picked = entries[at]
            np.exp(z, out=z)
            total = z @ _ones(classes)
            lse = np.log(total)
            z /= total[:, None]
            _loss = float(np.add.reduce(lse, dtype=np.float64)
                          - np.add.reduce(picked, dtype=np.float64)) / n
            entries[at] -= 1.0
            z *= 1.0 / n
            grad = np.empty(size, np.float32)
            grads = _views(grad, shapes)
            g, ones = z, _ones(n)
            for i in range(len(views) - 1, -1, -1):  # VJPs into views of one gradient buffer
                gw, gb = grads[i]
                np.matmul(acts[i].T, g, out=gw)
                np.dot(ones, g, out=gb)
                if i > 0:
                    g = g @ views[i][0].T
                    g = np.multiply(g, acts[i] > 0, out=g)
        bc1, bc2_sqrt = 1.0 - b1**t, math.sqrt(1.0 - b2**t)  # Adam over the whole buffer
        if in_place:  # the same products, the moments overwritten
            u = np.subtract(grad, m, out=scratch)
            u *= 1.0 - b1
            new_m = np.add(u, m, out=m)
            new_v = np.multiply(v, b2, out=v)
        else:
            new_m = np.subtract(grad, m, out=np.empty(size, np.float32))
            new_m *= 1.0 - b1
            new_m += m
            new_v = np.multiply(v, b2, out=np.empty(size, np.float32))
            u = np.empty(size, np.float32)
        np.multiply(grad, grad, out=u)
        u *= 1.0 - b2
        new_v += u
        np.sqrt(new_v, out=u)
        u += eps * bc2_sqrt
        np.divide(new_m, u, out=u)
        u *= bc2_sqrt / bc1
        step = np.multiply(u, -lr, out=u if in_place else np.empty(size, np.float32))
        params = np.add(params, step, out=params if in_place else None, dtype=np.float32)
        m, v = new_m, new_v
        views = _views(params, shapes)
        yield views
