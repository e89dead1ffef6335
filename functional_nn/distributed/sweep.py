"""Sweeps: one independent Dask task per recipe, the data scattered to the workers once.

Each task is :func:`run_recipe`, which calls the pure, deterministic
:func:`functional_nn.recipes.train`. A run that raises or diverges comes back as a result with
status ``"failed"`` or ``"diverged"`` instead of sinking the others. The workers run BLAS with
one thread (``blas_threads``); :func:`run_recipe` in this process under the same setting gives
bit-identical parameters and metrics, wherever and in whatever order the runs were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import attrs
import numpy as np
import numpy.typing as npt
from distributed import Client, Future

from .. import _atomic as atomic
from .. import checkpoint
from ..data import Dataset, flatten_images, load_dataset
from ..flat import unflatten
from ..layers import Sequential
from ..recipes import EpochRecord, Recipe, train
from ..train import TrainingDiverged
from .cluster import cancel_pending, client_for, finished, pin_blas, scatter, submit, this_worker

__all__ = ["STATUSES", "Data", "SweepData", "SweepResult", "grid", "run_recipe", "scatter_data",
           "sweep", "sweep_data", "sweep_iter"]

Arrays = npt.NDArray[np.generic]
STATUSES = ("ok", "failed", "diverged")


@attrs.frozen(eq=False)
class SweepData:
    """The arrays every run trains and evaluates on: flat features and integer labels."""

    x: Arrays
    y: Arrays
    test_x: Arrays
    test_y: Arrays
    classes: int = 10


def sweep_data(data: Dataset | SweepData | Sequence[Arrays], *, classes: int = 10) -> SweepData:
    """``data`` as :class:`SweepData`: a ``Dataset`` (images flattened) or ``(x, y, tx, ty)``."""
    if isinstance(data, SweepData):
        return data
    if isinstance(data, Dataset):
        return SweepData(flatten_images(data.train_x), data.train_y,
                         flatten_images(data.test_x), data.test_y, classes)
    given: object = data  # what untyped callers pass: a string is a sequence of four, too
    if isinstance(given, str | bytes) or not isinstance(given, Sequence):
        raise TypeError(f"data must be a Dataset or (x, y, test_x, test_y), got "
                        f"{type(given).__name__}")
    if len(data) != 4:
        raise ValueError(f"data must be a Dataset or (x, y, test_x, test_y), got {len(data)} "
                         "arrays")
    for name, array in zip(("x", "y", "test_x", "test_y"), data, strict=True):
        if not isinstance(array, np.ndarray) or array.ndim == 0:
            got = "a 0-d array" if isinstance(array, np.ndarray) else type(array).__name__
            raise TypeError(f"data: {name} must be an array of samples, got {got}")
    x, y, test_x, test_y = data
    if len(x) != len(y):
        raise ValueError(f"data: x has {len(x)} samples but y has {len(y)}")
    if len(test_x) != len(test_y):
        raise ValueError(f"data: test_x has {len(test_x)} samples but test_y has {len(test_y)}")
    return SweepData(x, y, test_x, test_y, classes)


@attrs.frozen
class SweepResult:
    """One run of a sweep: its recipe, status, per-epoch history and trained parameters.

    ``params`` is ``None`` when the run did not finish or was saved to ``checkpoint``.
    """

    index: int
    recipe: Recipe
    status: str = attrs.field(validator=attrs.validators.in_(STATUSES))
    history: tuple[EpochRecord, ...] = ()
    params: Sequential | None = None
    checkpoint: str | None = None
    worker: str = ""
    message: str = ""
    seconds: float = 0.0

    @property
    def test_accuracy(self) -> float:
        return self.history[-1].test_accuracy if self.history else math.nan

    @property
    def test_loss(self) -> float:
        return self.history[-1].test_loss if self.history else math.nan

    @property
    def train_loss(self) -> float:
        return self.history[-1].train_loss if self.history else math.nan

    def to_dict(self) -> dict[str, object]:
        """JSON-ready data (no parameters; NaN becomes ``None``)."""
        return {"index": self.index, "status": self.status, "message": self.message,
                "test_accuracy": _finite(self.test_accuracy),
                "test_loss": _finite(self.test_loss), "train_loss": _finite(self.train_loss),
                "seconds": round(self.seconds, 3), "worker": self.worker,
                "checkpoint": self.checkpoint, "recipe": self.recipe.to_dict(),
                "history": [{k: _finite(v) if isinstance(v, float) else v
                             for k, v in attrs.asdict(r).items()} for r in self.history]}


# An explicit alias: without Dask, Future is Any to mypy and an implicit alias would not be one
Data: TypeAlias = Dataset | SweepData | Sequence[Arrays] | Future[SweepData]
"""What a sweep trains on: a dataset, ``(x, y, test_x, test_y)``, or data already scattered."""


def scatter_data(client: Client,
                 data: Dataset | SweepData | Sequence[Arrays]) -> Future[SweepData]:
    """Send ``data`` to every worker once, for :func:`sweep`'s ``data``."""
    return scatter(client, sweep_data(data), broadcast=True)


def _finite(value: float) -> float | None:
    """A float for JSON: ``None`` for NaN or infinity."""
    return value if math.isfinite(value) else None


def grid(*, base: Recipe | None = None, **lists: Sequence[object]) -> list[Recipe]:
    """The recipes of every combination of the value lists, the last name varying fastest.

    >>> [(r.learning_rate, r.seed) for r in grid(learning_rate=[0.1, 0.2], seed=[0, 1])]
    [(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)]

    Each value is one recipe field's value: ``hidden=[(16, 16), (32,)]`` is two networks.
    """
    base = base or Recipe()
    fields = set(attrs.fields_dict(Recipe))
    for name, values in lists.items():
        if name not in fields:
            raise ValueError(f"unknown recipe field {name!r}; choose from "
                             f"{', '.join(sorted(fields))}")
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"{name} needs a non-empty list of values, got {values!r}")
    names = list(lists)
    combinations: list[dict[str, Any]] = [dict(zip(names, values, strict=True))
                                          for values in itertools.product(*lists.values())]
    return [attrs.evolve(base, **changes) for changes in combinations]


def _diverged(history: Sequence[EpochRecord]) -> str:
    """Why a finished run counts as diverged (a non-finite loss), or ``""``."""
    for record in history:
        if not (math.isfinite(record.train_loss) and math.isfinite(record.test_loss)):
            return (f"epoch {record.epoch}: train loss {record.train_loss}, test loss "
                    f"{record.test_loss}")
    return ""


def _save(out_dir: str, index: int, recipe: Recipe, params: Sequential) -> str:
    """Write the run's parameters to ``out_dir/run-INDEX.npz``; the path."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)  # on the worker's machine
    path = str(Path(out_dir) / f"run-{index:04d}.npz")
    checkpoint.save(path, params, metadata={"index": index, "recipe": recipe.to_dict()})
    return path


def run_recipe(recipe: Recipe, data: SweepData, index: int = 0, out_dir: str | None = None,
               blas_threads: int | None = 1) -> SweepResult:
    """Train ``recipe`` on ``data`` (a sweep's task), catching failure and divergence."""
    pin_blas(blas_threads)
    start = time.perf_counter()
    failed = SweepResult(index, recipe, "failed", worker=this_worker())
    try:
        run = train(recipe, data.x, data.y, data.test_x, data.test_y, classes=data.classes)
        if reason := _diverged(run.history):
            done = attrs.evolve(failed, status="diverged", history=run.history, message=reason)
        elif out_dir is None:
            done = attrs.evolve(failed, status="ok", history=run.history,
                                params=unflatten(run.state.params))
        else:
            path = _save(out_dir, index, recipe, unflatten(run.state.params))
            done = attrs.evolve(failed, status="ok", history=run.history, checkpoint=path)
    except TrainingDiverged as error:
        done = attrs.evolve(failed, status="diverged", message=str(error))
    except Exception as error:
        done = attrs.evolve(failed, message=f"{type(error).__name__}: {error}")
    return attrs.evolve(done, seconds=time.perf_counter() - start)


def _lost(index: int, recipe: Recipe, error: BaseException) -> SweepResult:
    """The result of a task Dask gave up on (its workers kept dying, or it was cancelled)."""
    return SweepResult(index, recipe, "failed", message=f"{type(error).__name__}: {error}")


def sweep_iter(configs: Sequence[Recipe], *, data: Data | None = None,
               client: Client | None = None,
               address: str | None = None, workers: int | None = None,
               out_dir: str | None = None, retries: int = 2,
               blas_threads: int | None = 1) -> Iterator[SweepResult]:
    """The results of :func:`sweep` in the order the runs finish (for a progress bar).

    Stopping the iteration early cancels the runs still pending.
    """
    configs = list(configs)
    # Left last in, first out: the client closes, so no run is still writing, before an
    # out_dir the runs left empty is removed
    with contextlib.ExitStack() as stack:
        if out_dir is not None:
            _make_out_dir(stack, out_dir)
        if data is None:  # MNIST, found as load_dataset finds it (or downloaded)
            data = load_dataset("mnist")
        dask = stack.enter_context(client_for(client, address=address, workers=workers))
        shared = data if isinstance(data, Future) else scatter_data(dask, data)
        tag = uuid.uuid4().hex[:8]
        futures = {submit(dask, run_recipe, recipe, shared, index, out_dir, blas_threads,
                          key=f"fnn-sweep-{tag}-{index}", retries=retries): (index, recipe)
                   for index, recipe in enumerate(configs)}
        try:
            for future in finished(futures):
                try:
                    result = future.result()
                except (Exception, asyncio.CancelledError) as error:  # KilledWorker, ...
                    result = _lost(*futures[future], error)
                yield result
        finally:
            cancel_pending(futures)


def _make_out_dir(stack: contextlib.ExitStack, out_dir: str) -> None:
    """Make ``out_dir``, removed again on leaving ``stack`` (with the parents made for it)
    if no run wrote there; a one-line ``OSError`` naming it when it cannot be made."""
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise NotADirectoryError(f"out_dir {out_dir} exists and is not a folder")
    try:
        stack.enter_context(atomic.new_folders(out_dir))
    except OSError as error:
        raise OSError(f"cannot create out_dir {out_dir}: {error.strerror or error}") from None


def sweep(configs: Sequence[Recipe], *, client: Client | None = None, data: Data | None = None,
          address: str | None = None, workers: int | None = None, out_dir: str | None = None,
          retries: int = 2, blas_threads: int | None = 1) -> list[SweepResult]:
    """Train one network per recipe as independent Dask tasks; results in ``configs`` order.

    ``data`` defaults to MNIST (``load_dataset("mnist")``). It is scattered to every worker
    once (or pass :func:`scatter_data`'s future to share
    one scatter between sweeps). ``client`` is used as it is; without one, a client of
    ``address`` or of a new local cluster of ``workers`` processes (default 2) is made and
    closed. With ``out_dir`` each run's parameters go to ``out_dir/run-INDEX.npz``
    (a folder every worker can write) instead of coming back; the folders made for it are
    removed again if no run saved there. A run whose worker dies is run
    again elsewhere (the scheduler reassigns it; ``retries`` re-runs a task that raised).
    """
    results = sweep_iter(configs, data=data, client=client, address=address, workers=workers,
                         out_dir=out_dir, retries=retries, blas_threads=blas_threads)
    return sorted(results, key=lambda result: result.index)
