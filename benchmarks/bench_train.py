"""Training throughput: functional_nn's fold vs a plain imperative numpy loop vs PyTorch (CPU).

Run by hand (never from the tests)::

    FUNCTIONAL_NN_DATA=/work/shared/data python benchmarks/bench_train.py --json out.json
    python benchmarks/bench_train.py --nets 16-16 --max-steps 300 --repeats 1   # quick look

For each network (784-16-16-10 at batch 32, 784-256-128-10 and 784-800-10 at batch 128, all
Adam 1e-3, float32, one epoch of real MNIST in the same batch order) it

1. measures this machine's float32 matmul rate on that network's forward and backward matmul
   shapes at its batch size (the ``a @ b`` calls one training step makes, timed alone);
2. times one epoch of each contender (``contenders.py``): ``fnn.fit(fnn.train_step(
   optim.adam(1e-3)), state, fnn.batches(...))`` and its compositions, a plain numpy loop
   (in-place Adam, hand-written backprop), the fold's own operations without the library, and
   ``torch.nn`` + ``torch.optim.Adam`` when torch is importable — each run in a fresh process,
   alternating the contenders, ``--repeats`` times, reporting medians;
3. measures each contender's peak memory once, in a fresh subprocess: the rise of the
   process's peak resident set (VmHWM, reset through ``/proc/self/clear_refs`` after the data
   is loaded; ``ru_maxrss`` delta where that is unavailable) during one training epoch. RSS
   sees BLAS buffers and torch's allocator, which tracemalloc does not.

Achieved GFLOP/s counts the exact matmul flops of a step (forward ``x@W``, ``x.T@g`` for
every weight gradient, ``g@W.T`` for every input gradient but the first layer's).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from contenders import CONTENDERS, F32, NETS, load_mnist, steps_for, torch_available
from peak_memory import reset_peak, status_kib

# --- flops and the matmul rate -----------------------------------------------------------------


def matmul_shapes(sizes: list[int], batch: int) -> list[tuple[tuple[int, int], tuple[int, int],
                                                              str]]:
    """(a shape, b shape, layout) of each matmul of one training step."""
    out = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        out.append(((batch, n_in), (n_in, n_out), "x@W"))
        out.append(((n_in, batch), (batch, n_out), "x.T@g"))
        if i > 0:
            out.append(((batch, n_out), (n_out, n_in), "g@W.T"))
    return out


def step_flops(sizes: list[int], batch: int) -> int:
    return sum(2 * a[0] * a[1] * b[1] for a, b, _ in matmul_shapes(sizes, batch))


def _operands(a_shape: tuple[int, int], b_shape: tuple[int, int], layout: str,
              rng: np.random.Generator) -> tuple[F32, F32]:
    """Operands in the memory layout a training step sees (transposed views where it has them)."""
    def rand(*shape: int) -> F32:
        return rng.standard_normal(shape, dtype=np.float32)
    if layout == "x.T@g":
        return rand(a_shape[1], a_shape[0]).T, rand(*b_shape)
    if layout == "g@W.T":
        return rand(*a_shape), rand(b_shape[1], b_shape[0]).T
    return rand(*a_shape), rand(*b_shape)


def matmul_rate(sizes: list[int], batch: int, budget: float = 0.4) -> dict[str, float]:
    """GFLOP/s of the step's matmuls timed alone (median per shape, summed)."""
    rng = np.random.default_rng(1)
    total_flops, total_seconds = 0, 0.0
    for a_shape, b_shape, layout in matmul_shapes(sizes, batch):
        a, b = _operands(a_shape, b_shape, layout, rng)
        for _ in range(5):
            a @ b
        per_call: list[float] = []
        deadline = time.perf_counter() + budget / 3
        while time.perf_counter() < deadline or len(per_call) < 20:
            t0 = time.perf_counter_ns()
            for _ in range(10):
                a @ b
            per_call.append((time.perf_counter_ns() - t0) / 10e9)
        total_seconds += statistics.median(per_call)
        total_flops += 2 * a_shape[0] * a_shape[1] * b_shape[1]
    return {"gflops": total_flops / total_seconds / 1e9,
            "matmul_seconds_per_step": total_seconds}


def _single(m: int, k: int, n: int) -> float:
    """GFLOP/s of one (m, k) @ (k, n) float32 matmul: a reference point."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
    times = []
    for _ in range(200):
        t0 = time.perf_counter_ns()
        a @ b
        times.append(time.perf_counter_ns() - t0)
    return 2 * m * k * n / statistics.median(times)


# --- one contender's epoch in a fresh process -------------------------------------------------


def child(args: argparse.Namespace) -> None:
    """Warm up, then time one run and measure its peak memory; print the result as JSON."""
    import resource

    data = np.load(args.child_data)
    x, y, tx, ty = data["x"], data["y"], data["tx"], data["ty"]
    sizes, batch = NETS[args.child_net]
    threads: int | None = None
    if args.child_contender == "torch":
        import torch
        threads = torch.get_num_threads()
    run, predict = CONTENDERS[args.child_contender]
    run(sizes, batch, x, y, 20)  # warm-up: lazy imports, thread pools, first-use allocations
    before_ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reset = reset_peak()
    before = status_kib("VmRSS") if reset else before_ru
    seconds, model = run(sizes, batch, x, y, args.child_steps)
    after = status_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    accuracy = float((predict(model, tx) == ty).mean())
    print(json.dumps({"seconds": seconds, "peak_rss_mib": max(after - before, 0) / 1024,
                      "memory_method": "VmHWM-VmRSS" if reset else "ru_maxrss delta",
                      "test_accuracy": accuracy, "torch_threads": threads}))


def run_child(net: str, contender: str, data_path: str, steps: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child-net", net, "--child-contender", contender,
           "--child-data", data_path, "--child-steps", str(steps)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{contender} on {net} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- the benchmark -----------------------------------------------------------------------------


def blas_info() -> dict[str, Any]:
    info: dict[str, Any] = {"numpy": np.__version__, "cpu_count": os.cpu_count()}
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]
        info["threadpools"] = [{k: p.get(k) for k in ("internal_api", "version",
                                                      "num_threads", "architecture")}
                               for p in threadpool_info()]
    except ImportError:
        config: Any = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        info["blas"] = {"name": blas.get("name"), "version": blas.get("version")}
    if torch_available():
        info["torch"] = importlib.metadata.version("torch")
    return info


def contenders_to_run(wanted: list[str]) -> list[str]:
    out = [c for c in wanted if c in CONTENDERS]
    if "torch" in out and not torch_available():
        print("torch is not importable: skipping the PyTorch contender", file=sys.stderr)
        out.remove("torch")
    return out


def alternate(names: list[str], repeats: int) -> Iterator[tuple[int, str]]:
    """Round r runs the contenders rotated by r, so no one always goes first."""
    for r in range(repeats):
        for k in range(len(names)):
            yield r, names[(k + r) % len(names)]


_OTHERS = ("numpy_loop", "numpy_fused", "numpy_in_place", "torch")


def bench_net(net: str, names: list[str], args: argparse.Namespace, n: int,
              data_path: str) -> dict[str, Any]:
    sizes, batch = NETS[net]
    steps = steps_for(n, batch, args.max_steps, args.epochs_fraction)
    samples = min(steps * batch, n)
    flops = step_flops(sizes, batch) * samples / batch
    rate = matmul_rate(sizes, batch)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for _, name in alternate(names, args.repeats):
        runs[name].append(run_child(net, name, data_path, steps))
    result: dict[str, Any] = {"net": "-".join(map(str, sizes)), "batch": batch, "steps": steps,
                              "samples": samples, "flops_per_step": step_flops(sizes, batch),
                              "matmul_gflops": rate["gflops"],
                              "matmul_seconds_per_step": rate["matmul_seconds_per_step"],
                              "contenders": {}}
    for name in names:
        median = statistics.median(r["seconds"] for r in runs[name])
        achieved = flops / median / 1e9
        result["contenders"][name] = {
            "seconds": median, "all_seconds": [r["seconds"] for r in runs[name]],
            "samples_per_s": samples / median, "gflops": achieved,
            "fraction_of_matmul": achieved / rate["gflops"],
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs[name]),
            "memory_method": runs[name][0]["memory_method"],
            "test_accuracy": runs[name][-1]["test_accuracy"]}
        if runs[name][0]["torch_threads"] is not None:
            result["torch_threads"] = runs[name][0]["torch_threads"]
    c = result["contenders"]
    if "functional_nn" in c:
        for other in c:
            if other in _OTHERS:  # the plain adam net against the others
                key = f"fnn_over_{other}"
                result[key] = c["functional_nn"]["samples_per_s"] / c[other]["samples_per_s"]
                result[key + "_paired"] = paired(runs[other], runs["functional_nn"])
            elif other != "functional_nn":  # a composition or new kind against plain adam
                key = f"{other}_over_adam"
                result[key] = c[other]["samples_per_s"] / c["functional_nn"]["samples_per_s"]
                result[key + "_paired"] = paired(runs["functional_nn"], runs[other])
    return result


def paired(slow: list[dict[str, Any]], fast: list[dict[str, Any]]) -> dict[str, float]:
    """Round by round, ``slow``'s seconds over ``fast``'s (the speed of ``fast`` relative to
    ``slow``): the two ran minutes apart at most, so drift of the machine's speed cancels.
    Median, min and max over the rounds."""
    ratios = [a["seconds"] / b["seconds"] for a, b in zip(slow, fast, strict=True)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def print_table(results: list[dict[str, Any]]) -> None:
    head = (f"{'net':<16}{'batch':>6} {'contender':<14}{'samples/s':>11}{'GFLOP/s':>9}"
            f"{'%matmul':>8}{'peak MiB':>9}{'acc':>7}")
    print(head)
    print("-" * len(head))
    for r in results:
        for name, c in r["contenders"].items():
            mem = c.get("peak_rss_mib")
            mem_s = f"{mem:9.1f}" if isinstance(mem, float | int) else f"{'-':>9}"
            print(f"{r['net']:<16}{r['batch']:>6} {name:<14}{c['samples_per_s']:>11,.0f}"
                  f"{c['gflops']:>9.2f}{100 * c['fraction_of_matmul']:>7.1f}%{mem_s}"
                  f"{100 * c['test_accuracy']:>6.2f}%")
        ratios = "\n".join(
            [f"{'':<22}fnn/{k.removeprefix('fnn_over_')} = {v:.2f}x{_paired(r, k)}"
             for k, v in r.items() if k.startswith("fnn_over_") and k.endswith(_OTHERS)]
            + [f"{'':<22}{k.removesuffix('_over_adam')}/adam = {v:.2f}x{_paired(r, k)}"
               for k, v in r.items() if k.endswith("_over_adam")])
        print(f"{'':<22}matmul alone: {r['matmul_gflops']:.1f} GFLOP/s on this net's shapes")
        print(ratios)


def _paired(result: dict[str, Any], key: str) -> str:
    p = result.get(key + "_paired")
    if p is None:
        return ""
    return f"  (paired by round: {p['median']:.2f}x, {p['min']:.2f}-{p['max']:.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", nargs="+", choices=list(NETS), default=list(NETS))
    parser.add_argument("--contenders", nargs="+",
                        default=["functional_nn", "numpy_loop", "torch"], choices=list(CONTENDERS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs-fraction", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON ('-': stdout)")
    parser.add_argument("--child-net", help=argparse.SUPPRESS)
    parser.add_argument("--child-contender", help=argparse.SUPPRESS)
    parser.add_argument("--child-data", help=argparse.SUPPRESS)
    parser.add_argument("--child-steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_net:
        child(args)
        return 0
    names = contenders_to_run(args.contenders)
    info = blas_info()
    print(f"# {json.dumps(info)}")
    print(f"# 128x784 @ 784x800 float32 matmul: {_single(128, 784, 800):.1f} GFLOP/s")
    x, y, tx, ty = load_mnist()
    with tempfile.TemporaryDirectory() as tmp:
        data_path = str(Path(tmp) / "mnist.npz")
        np.savez(data_path, x=x, y=y, tx=tx, ty=ty)
        results = [bench_net(net, names, args, len(x), data_path) for net in args.nets]
    print_table(results)
    print(f"# medians of {args.repeats} runs, each contender's run in a fresh process (warmed "
          "up by 20 steps); peak MiB: rise of the peak RSS during the timed run (VmHWM reset "
          "via /proc/self/clear_refs), which sees BLAS buffers and torch's allocator")
    if args.json:
        payload = json.dumps({"machine": info, "repeats": args.repeats,
                              "results": results}, indent=2)
        if args.json == "-":
            print(payload)
        else:
            Path(args.json).write_text(payload + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
