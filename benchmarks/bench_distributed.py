"""Scale-out on Dask, measured: sweep throughput and the cost of a data-parallel step.

Run by hand (never from the tests), on real MNIST::

    FUNCTIONAL_NN_DATA=/work/shared/data python benchmarks/bench_distributed.py --json out.json
    python benchmarks/bench_distributed.py --skip-sweep --batches 128 --steps 10   # quick look

1. **Sweep throughput**: the same grid of 784-16-16-10 Adam runs (one epoch each, learning rate x
   seed) one after another in this process, then with :func:`functional_nn.distributed.sweep` on
   a local cluster of 1 and of 2 worker processes; runs per minute, counting the data scatter
   (220 MB of float32 MNIST to every worker, also reported apart) but not the cluster's
   start-up.
2. **Data-parallel step**: one ``train_step`` (Adam) of 784-256-128-10 on a fixed MNIST batch
   of 128 to 60000 images (the last is full-batch), in this process (BLAS with all its
   threads, and with one) and with the gradient sharded over 2 workers: the batch split and
   scattered every step, or persisted on the workers once with only row numbers sent. Also
   the scheduler's bare round trip (submit a no-op, wait for it) and the parameters'
   broadcast, which every sharded step pays on top of the compute.

Medians over ``--steps`` steps (fewer for batches over 4096) after two warm-up steps. The
machine's load average is recorded with the results: other processes sharing the cores skew
every number here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

import functional_nn as fnn
from functional_nn import optim
from functional_nn.data import flatten_images, load_dataset
from functional_nn.distributed import (
    SweepData,
    grid,
    local_client,
    scatter_data,
    scatter_shards,
    shard,
    sharded_value_and_grad,
    sweep,
)
from functional_nn.distributed.cluster import scatter
from functional_nn.recipes import Recipe, train

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def load() -> SweepData:
    """All of MNIST as flat float32 features."""
    data = load_dataset("mnist", download=False)
    return SweepData(flatten_images(data.train_x), data.train_y, flatten_images(data.test_x),
                     data.test_y)


def _noop() -> None:
    """A task that does nothing: its round trip is the scheduler's overhead."""


# --- 1. sweep throughput ----------------------------------------------------------------------


def bench_sweep(data: SweepData, runs: int) -> dict[str, object]:
    """Runs per minute: in this process, then on 1 and 2 local workers."""
    configs = grid(learning_rate=[1e-3, 3e-3], seed=list(range(max(runs // 2, 1))),
                   base=Recipe(hidden=(16, 16), epochs=1, batch_size=32))
    out: dict[str, object] = {"runs": len(configs), "network": "784-16-16-10", "epochs": 1}
    t0 = time.perf_counter()
    for recipe in configs:
        train(recipe, data.x, data.y, data.test_x, data.test_y)
    seconds = time.perf_counter() - t0
    out["in_process"] = {"seconds": round(seconds, 2), "runs_per_minute": _rate(configs, seconds)}
    print(f"sweep: {len(configs)} runs in this process: {seconds:.1f} s", flush=True)
    for workers in (1, 2):
        t0 = time.perf_counter()
        client = local_client(workers)
        started = time.perf_counter() - t0
        try:
            t0 = time.perf_counter()
            shared = scatter_data(client, data)
            scattered = time.perf_counter() - t0
            results = sweep(configs, data=shared, client=client)
            seconds = time.perf_counter() - t0
        finally:
            client.close()  # type: ignore[no-untyped-call]
        assert all(r.status == "ok" for r in results)
        out[f"workers_{workers}"] = {
            "seconds": round(seconds, 2), "cluster_start_seconds": round(started, 2),
            "scatter_seconds": round(scattered, 2), "runs_per_minute": _rate(configs, seconds),
            "runs_per_minute_after_scatter": _rate(configs, seconds - scattered),
            "mean_run_seconds": round(statistics.mean(r.seconds for r in results), 2)}
        print(f"sweep: {len(configs)} runs on {workers} worker(s): {seconds:.1f} s, of which "
              f"scattering the data {scattered:.1f} s (cluster start {started:.1f} s)",
              flush=True)
    return out


def _rate(configs: list[Recipe], seconds: float) -> float:
    return round(len(configs) / seconds * 60, 1)


# --- 2. the data-parallel step ----------------------------------------------------------------


def _median_ms(step: Callable[[Any], Any], state: Any, steps: int) -> float:
    """The median milliseconds of ``state = step(state)``, after two warm-up steps."""
    for _ in range(2):
        state = step(state)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        state = step(state)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1e3, 2)


def on(step: Callable[[Any, Any], Any], batch: object) -> Callable[[Any], Any]:
    """``state -> step(state, batch)``."""
    return lambda state: step(state, batch)


def bench_step(data: SweepData, batches: list[int], steps: int) -> dict[str, object]:
    """Milliseconds per Adam step of 784-256-128-10: in process vs sharded over 2 workers."""
    opt = optim.adam(1e-3)
    params = fnn.mlp([784, 256, 128, 10], seed=0)
    start = fnn.TrainState(params, opt.init(params))
    plain = fnn.train_step(opt)
    client = local_client(2)
    out: dict[str, object] = {"network": "784-256-128-10", "shards": 2, "workers": 2}
    try:
        out["round_trip_ms"] = _median_ms(
            lambda s: client.submit(_noop, pure=False).result(), None, steps)
        out["param_broadcast_ms"] = _median_ms(
            lambda s: scatter(client, params, broadcast=True), None, steps)
        split = fnn.train_step(opt, value_and_grad=sharded_value_and_grad(client, 2))
        for b in batches:
            n = max(5, min(steps, 120_000 // b))  # fewer steps of the big batches
            batch = (data.x[:b], data.y[:b])
            persisted = scatter_shards(client, shard(*batch, 2))
            on_workers = fnn.train_step(opt, value_and_grad=sharded_value_and_grad(
                client, persisted))
            rows = (persisted.index(), persisted.index())
            row = {"in_process": _median_ms(on(plain, batch), start, n)}
            with threadpool_limits(1):
                row["in_process_1_thread"] = _median_ms(on(plain, batch), start, n)
            row["sharded_split"] = _median_ms(on(split, batch), start, n)
            row["sharded_persisted"] = _median_ms(on(on_workers, rows), start, n)
            out[f"batch_{b}"] = row
            print(f"step, batch {b}: " + ", ".join(f"{k} {v} ms" for k, v in row.items()),
                  flush=True)
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return out


def main() -> None:
    """Parse the options, run the benchmarks, print and optionally save the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="sweep runs (default 8)")
    parser.add_argument("--batches", default="128,1024,4096,16384,60000",
                        help="batch sizes of the step")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-step", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args()
    data = load()
    results: dict[str, object] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()}
    if not args.skip_sweep:
        results["sweep"] = bench_sweep(data, args.runs)
    if not args.skip_step:
        batches = [int(b) for b in args.batches.split(",")]
        results["step"] = bench_step(data, batches, args.steps)
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
