"""A data-parallel gradient: one step's batch split into shards, ``value_and_grad`` mapped over
them on the workers, the results reduced on the client in a fixed order.

:func:`sharded_value_and_grad` returns a function with the signature of
:func:`functional_nn.value_and_grad`, ``(params, x, y) -> (loss, grads)``, so it drops into
``train_step(optimizer, value_and_grad=vg)`` and ``fit``/``fit_iter`` run unchanged. Two
kinds of batch, chosen by what the function was built with:

- ``sharded_value_and_grad(client, 2)``: ``(x, y)`` are the batch's arrays. Each call splits
  them into 2 contiguous shards and scatters them to the workers, one per worker.
- ``sharded_value_and_grad(client, scatter_shards(client, shard(x, y, 2)))``: the data is
  scattered and persisted on the workers once. ``x`` is then a 1-D array of row numbers into
  it (``y`` repeats them), as ``fnn.batches(index, index, ...)`` yields for
  ``index = data.index()``: only those row numbers travel per step, and a step over
  ``data.index()`` itself is a full-batch step.

Either way, the parameters are scattered once per step (to every worker) and each shard's
``(loss, grads)`` comes back to the client, which takes the sample-weighted mean of the shard
losses and of the shard gradients (mean-over-batch gradients, weighted by shard size) in shard
order 0, 1, ..., k-1, whatever order they finish in: the result equals ``value_and_grad`` of
the whole batch up to rounding and is itself deterministic.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import TypeVar, cast

import attrs
import numpy as np
import numpy.typing as npt
from distributed import Client, Future

from ..maps import tree_map
from ..model import value_and_grad
from ..train import Batch
from .cluster import pin_blas, scatter, scatter_each, submit

__all__ = ["ShardedData", "ShardedValueAndGrad", "combine", "scatter_shards", "shard",
           "sharded_value_and_grad"]

P = TypeVar("P")
Rows = npt.NDArray[np.intp]


def shard(x: npt.NDArray[np.generic], y: npt.NDArray[np.generic], k: int) -> list[Batch]:
    """``(x, y)`` as ``k`` contiguous parts whose sizes differ by at most one (views, no copy).

    >>> [len(part[0]) for part in shard(np.zeros((7, 2)), np.zeros(7), 3)]
    [3, 2, 2]
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"the number of shards must be a positive integer, got {k!r}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
    bounds = _bounds([len(x) // k + (i < len(x) % k) for i in range(k)])
    return [(x[a:b], y[a:b]) for a, b in itertools.pairwise(bounds)]


def _bounds(sizes: Sequence[int]) -> tuple[int, ...]:
    """The offsets ``0, s0, s0 + s1, ...`` of consecutive parts of the given sizes."""
    return (0, *np.cumsum(np.asarray(sizes, dtype=np.intp)).tolist())


@attrs.frozen(eq=False)
class ShardedData:
    """Shards of a dataset persisted on the workers (while this handle lives), row-numbered
    in shard order: shard ``j`` holds rows ``offsets[j]`` to ``offsets[j + 1] - 1``."""

    futures: tuple[Future[Batch], ...]
    offsets: tuple[int, ...]

    @property
    def size(self) -> int:
        return self.offsets[-1]

    def index(self) -> Rows:
        """Every row number, ``0 .. size - 1``: a full batch, or what to shuffle into batches."""
        return np.arange(self.size, dtype=np.intp)

    def rows(self, index: npt.NDArray[np.generic]) -> list[tuple[int, Rows | None]]:
        """For each shard holding some of the rows ``index``: its number and local rows, in
        the order they appear (``None``: the whole shard, in order)."""
        if not isinstance(index, np.ndarray) or index.ndim != 1 or index.dtype.kind not in "iu":
            got = (f"{index.dtype} of shape {index.shape}" if isinstance(index, np.ndarray)
                   else type(index).__name__)
            raise TypeError(f"index: a batch of sharded data is a 1-D integer array of row "
                            f"numbers, got {got}")
        if len(index) and not (index.min() >= 0 and index.max() < self.size):
            raise IndexError(f"row numbers must lie in [0, {self.size})")
        owner = np.searchsorted(np.asarray(self.offsets), index, side="right") - 1
        out: list[tuple[int, Rows | None]] = []
        for j, (start, stop) in enumerate(itertools.pairwise(self.offsets)):
            local = (index[owner == j] - start).astype(np.intp)
            whole = len(local) == stop - start and bool(np.all(local == np.arange(len(local))))
            if len(local):
                out.append((j, None if whole else local))
        return out


def scatter_shards(client: Client, shards: Sequence[Batch]) -> ShardedData:
    """Send each ``(x, y)`` shard to one worker, round-robin, and keep it there.

    Scattered data has no lineage: if a worker holding a shard dies, scatter them again.
    """
    if not shards:
        raise ValueError("scatter_shards needs at least one (x, y) shard")
    for x, y in shards:
        if len(x) != len(y):
            raise ValueError(f"a shard has {len(x)} inputs but {len(y)} labels")
    futures = scatter_each(client, [(x, y) for x, y in shards])
    return ShardedData(tuple(futures), _bounds([len(x) for x, _ in shards]))


def _shard_value_and_grad(params: P, batch: Batch, rows: Rows | None,
                          blas_threads: int | None) -> tuple[float, P]:
    """``value_and_grad`` of the given rows of one shard (all of it for ``None``): a task."""
    pin_blas(blas_threads)
    x, y = batch if rows is None else (batch[0][rows], batch[1][rows])
    with np.errstate(over="ignore", invalid="ignore"):  # train_step reports divergence
        return value_and_grad(params, x, y)


def combine(parts: Sequence[tuple[float, P]], counts: Sequence[int]) -> tuple[float, P]:
    """The sample-weighted mean of the shards' losses and gradients, folded in shard order.

    ``parts`` holds each shard's ``(loss, grads)`` and ``counts`` its number of samples.
    """
    if not parts:
        raise ValueError("parts: combine needs the (loss, grads) of at least one shard")
    if len(counts) != len(parts):
        raise ValueError(f"counts: {len(counts)} counts for {len(parts)} parts")
    for count in counts:
        if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 1:
            raise ValueError(f"counts: each shard's number of samples must be a positive "
                             f"integer, got {count!r}")
    total = sum(counts)
    weights = [count / total for count in counts]
    loss = sum(w * value for w, (value, _) in zip(weights, parts, strict=True))
    first = tree_map(lambda g: g * weights[0], parts[0][1])
    grads = functools.reduce(
        lambda acc, wg: tree_map(lambda a, g: a + g * wg[0], acc, wg[1][1]),
        zip(weights[1:], parts[1:], strict=True), first)
    return float(loss), grads


@attrs.frozen(eq=False)
class ShardedValueAndGrad:
    """``(params, x, y) -> (loss, grads)`` computed shard by shard on a Dask cluster."""

    client: Client
    shards: int | ShardedData
    blas_threads: int | None = 1

    def __call__(self, params: P, x: npt.NDArray[np.generic],
                 y: npt.NDArray[np.generic]) -> tuple[float, P]:
        """The loss of the batch and its gradient, as :func:`functional_nn.value_and_grad`."""
        futures, rows, counts = (self._rows(x, y) if isinstance(self.shards, ShardedData)
                                 else self._split(x, y, self.shards))
        shared = scatter(self.client, params, broadcast=True)
        tasks = [submit(self.client, _shard_value_and_grad, shared, data, local,
                        self.blas_threads) for data, local in zip(futures, rows, strict=True)]
        return combine([task.result() for task in tasks], counts)

    def _split(self, x: npt.NDArray[np.generic], y: npt.NDArray[np.generic],
               k: int) -> tuple[list[Future[Batch]], list[Rows | None], list[int]]:
        """The batch's non-empty shards, scattered one per worker, and their sizes."""
        parts = [part for part in shard(x, y, k) if len(part[0])]
        if not parts:
            raise ValueError("cannot take the gradient of an empty batch")
        return scatter_each(self.client, parts), [None] * len(parts), [len(p[0]) for p in parts]

    def _rows(self, x: npt.NDArray[np.generic], y: npt.NDArray[np.generic]
              ) -> tuple[list[Future[Batch]], list[Rows | None], list[int]]:
        """The persisted shards holding rows ``x``, the rows in each, and how many."""
        data = cast(ShardedData, self.shards)
        if y is not x and not np.array_equal(x, y):
            raise ValueError("with persisted shards, pass row numbers as both x and y "
                             "(fnn.batches(index, index, ...))")
        located = data.rows(x)
        if not located:
            raise ValueError("cannot take the gradient of an empty batch")
        sizes = [data.offsets[j + 1] - data.offsets[j] if local is None else len(local)
                 for j, local in located]
        return [data.futures[j] for j, _ in located], [local for _, local in located], sizes


def sharded_value_and_grad(client: Client, shards: int | ShardedData = 2, *,
                           blas_threads: int | None = 1) -> ShardedValueAndGrad:
    """A data-parallel :func:`functional_nn.value_and_grad` for ``train_step`` (see module doc).

    ``shards`` is a number of shards to split each batch into, or data persisted with
    :func:`scatter_shards` (then batches are row numbers). Workers run BLAS with
    ``blas_threads`` threads (``None``: as they are).
    """
    if not isinstance(shards, ShardedData) and (
            isinstance(shards, bool) or not isinstance(shards, int) or shards < 1):
        raise ValueError(f"shards must be a positive integer or ShardedData, got {shards!r}")
    return ShardedValueAndGrad(client, shards, blas_threads)
