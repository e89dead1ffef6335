"""Elementwise kernels of the optimizers, run over whole flat buffers or leaf by leaf.

A kernel is a function of equally shaped arrays (inputs, then fresh private outputs) and
scalars that makes a fixed sequence of numpy ufunc calls. :func:`run` applies it to arrays of
any size: in one call, or (when ``THREADS > 1``) split above ``MIN_PARALLEL`` elements between
this thread and a small persistent pool (numpy ufuncs release the GIL on large arrays), each
share in blocks of at most ``BLOCK`` elements. Every element goes through the same ufunc calls
in either case, so the result is bit-identical however the work is split (elementwise IEEE
arithmetic: ``+ - * /`` and ``sqrt`` are correctly rounded).

``THREADS``, ``MIN_PARALLEL`` and ``BLOCK`` tune the split; tests set them to force each path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from ._array import Array

__all__ = ["BLOCK", "MIN_PARALLEL", "THREADS", "adam", "adam_apply", "adamw_apply", "add",
           "decayed", "momentum_apply", "rms", "run", "scaled", "sgd_apply", "trace"]


def _threads() -> int:
    try:
        return max(1, int(os.environ.get("FUNCTIONAL_NN_THREADS", "1")))
    except ValueError:
        return 1


THREADS = _threads()
"""Threads that share a large kernel (this one included); 1 (the default) turns the pool off.
Set by the ``FUNCTIONAL_NN_THREADS`` environment variable.

Off by default because, measured on 2 cores with numpy's OpenBLAS, it loses during training:
OpenBLAS's idle threads busy-wait for about 0.1 s after every matrix product, so the other
core is taken whenever the optimizer runs, and a second Python thread only adds hand-off and
GIL costs (Adam on 636k parameters: 1.4 ms in one thread, 1.5 ms in two, in a training loop).
Alone (no matrix product nearby) the same kernel runs 1.8 times faster on two threads; the pool
pays with a single-threaded BLAS (``OPENBLAS_NUM_THREADS=1``) and large models."""
MIN_PARALLEL = 1 << 18
"""Arrays of fewer elements run in this thread, in one call per ufunc (handing work to another
thread costs tens of microseconds: it pays only on large arrays)."""
BLOCK = 1 << 22
"""Elements per block (smaller blocks keep a block's arrays in L2 cache, but every ufunc call
costs about a microsecond, which cancelled the gain in every measurement on this machine)."""

Kernel = Callable[..., None]

_pool: ThreadPoolExecutor | None = None
_pool_pid = -1
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The persistent pool (made again in a forked child, whose threads did not survive)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=max(THREADS - 1, 1),
                                       thread_name_prefix="functional_nn")
            _pool_pid = os.getpid()
        return _pool


def _blocks(kernel: Kernel, flat: Sequence[Array], scalars: tuple[Any, ...], lo: int,
            hi: int) -> None:
    for start in range(lo, hi, BLOCK):
        stop = min(start + BLOCK, hi)
        kernel(*[a[start:stop] for a in flat], *scalars)


def run(kernel: Kernel, arrays: Sequence[Array], *scalars: Any) -> None:
    """``kernel(*arrays, *scalars)``, split into blocks and threads when the arrays are large.

    ``arrays`` are the kernel's inputs and outputs, all of one shape; the outputs must be
    C-contiguous (fresh ``np.empty`` arrays), inputs may be any layout.
    """
    n = arrays[0].size
    threads = THREADS if n >= MIN_PARALLEL else 1
    if threads == 1 and n <= BLOCK:
        kernel(*arrays, *scalars)
        return
    flat = [a.reshape(-1) for a in arrays]  # views for the contiguous outputs
    if threads == 1:
        _blocks(kernel, flat, scalars, 0, n)
        return
    edges = [(n * k // threads) // 16 * 16 for k in range(threads)] + [n]
    pool = _executor()
    futures: list[Future[None]] = [
        pool.submit(_blocks, kernel, flat, scalars, edges[k], edges[k + 1])
        for k in range(1, threads)]
    _blocks(kernel, flat, scalars, edges[0], edges[1])
    for future in futures:
        future.result()


# --- the kernels ---------------------------------------------------------------------------


def adam(g: Array, m: Array, v: Array, nm: Array, nv: Array, u: Array,
         c1: Any, b2: Any, c2: Any, eps_hat: Any, step: Any) -> None:
    """``nm = m + (g - m)·c1`` (a lerp, as torch does), ``nv = b2·v + c2·g²``,
    ``u = nm / (√nv + eps_hat) · step``.

    With ``eps_hat = eps·√bc2`` and ``step = √bc2 / bc1`` this is Adam's
    ``(nm / bc1) / (√nv / √bc2 + eps)`` in one pass fewer (the same up to round-off)."""
    dt = m.dtype
    np.subtract(g, m, out=nm, dtype=dt)
    nm *= c1
    nm += m
    np.multiply(v, b2, out=nv)
    np.multiply(g, g, out=u, dtype=dt)
    u *= c2
    nv += u
    np.sqrt(nv, out=u)
    u += eps_hat
    np.divide(nm, u, out=u)
    u *= step


def rms(g: Array, v: Array, nv: Array, u: Array, a: Any, c: Any, eps: Any) -> None:
    """``nv = a·v + c·g²``, ``u = g / (√nv + eps)``."""
    dt = v.dtype
    np.multiply(v, a, out=nv)
    np.multiply(g, g, out=u, dtype=dt)
    u *= c
    nv += u
    np.sqrt(nv, out=u)
    u += eps
    np.divide(g, u, out=u, dtype=dt)


def trace(g: Array, v: Array, nv: Array, b: Any) -> None:
    """``nv = b·v + g``."""
    np.multiply(v, b, out=nv)
    nv += g


def scaled(u: Array, out: Array, factor: Any) -> None:
    """``out = factor·u``."""
    np.multiply(u, factor, out=out)


def decayed(u: Array, p: Array, out: Array, wd: Any) -> None:
    """``out = wd·p + u``."""
    np.multiply(p, wd, out=out)
    out += u


# Fused update-and-apply kernels (see :mod:`functional_nn.optim._fused`): the same ufunc calls
# as the chain of transforms followed by ``apply_updates``, minus the trees in between.


def adam_apply(g: Array, m: Array, v: Array, p: Array, nm: Array, nv: Array, out: Array,
               c1: Any, b2: Any, c2: Any, eps_hat: Any, step: Any, neg_lr: Any) -> None:
    """:func:`adam` with ``u`` in ``out``, then ``out = p + (−lr)·u`` (one buffer less)."""
    adam(g, m, v, nm, nv, out, c1, b2, c2, eps_hat, step)
    out *= neg_lr
    np.add(p, out, out=out, dtype=out.dtype)


def adamw_apply(g: Array, m: Array, v: Array, p: Array, nm: Array, nv: Array, u: Array,
                out: Array, c1: Any, b2: Any, c2: Any, eps_hat: Any, step: Any, wd: Any,
                neg_lr: Any) -> None:
    """:func:`adam`, then :func:`decayed` into ``out``, then ``out = p + (−lr)·out``."""
    adam(g, m, v, nm, nv, u, c1, b2, c2, eps_hat, step)
    decayed(u, p, out, wd)
    out *= neg_lr
    np.add(p, out, out=out, dtype=out.dtype)


def sgd_apply(g: Array, p: Array, out: Array, neg_lr: Any) -> None:
    """``out = p + (−lr)·g``."""
    np.multiply(g, neg_lr, out=out)
    np.add(p, out, out=out, dtype=out.dtype)


def momentum_apply(g: Array, v: Array, p: Array, nv: Array, out: Array, b: Any,
                   neg_lr: Any, nesterov: bool) -> None:
    """:func:`trace` (and Nesterov's ``β·v' + g``), then ``out = p + (−lr)·u``."""
    trace(g, v, nv, b)
    if nesterov:
        trace(g, nv, out, b)
        out *= neg_lr
    else:
        np.multiply(nv, neg_lr, out=out)
    np.add(p, out, out=out, dtype=out.dtype)


def add(p: Array, u: Array, out: Array) -> None:
    """``out = p + u`` in the dtype of ``out``."""
    np.add(p, u, out=out, dtype=out.dtype)
