"""Training throughput: functional_nn's fold vs a plain imperative numpy loop vs PyTorch (CPU).

Run by hand (never from the tests)::

    FUNCTIONAL_NN_DATA=/work/shared/data python benchmarks/bench_train.py --json out.json
    python benchmarks/bench_train.py --nets 16-16 --max-steps 300 --repeats 1   # quick look

For each network (784-16-16-10 at batch 32, 784-256-128-10 and 784-800-10 at batch 128, all
Adam 1e-3, float32, one epoch of real MNIST in the same batch order) it

1. measures this machine's float32 matmul rate on that network's forward and backward matmul
   shapes at its batch size (the ``a @ b`` calls one training step makes, timed alone);
2. times one epoch with ``fnn.fit(fnn.train_step(optim.adam(1e-3)), state, fnn.batches(...))``,
   with the plain numpy loop below (in-place Adam, hand-written backprop), and with
   ``torch.nn`` + ``torch.optim.Adam`` when torch is importable — alternating the contenders,
   ``--repeats`` times, reporting medians;
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
import importlib.util
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from numpy_fused import fused
from peak_memory import reset_peak, status_kib

import functional_nn as fnn
from functional_nn import optim
from functional_nn._memory import keep_freed_memory
from functional_nn.data import flatten_images, load_dataset

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
NETS: dict[str, tuple[list[int], int]] = {
    "16-16": ([784, 16, 16, 10], 32),
    "256-128": ([784, 256, 128, 10], 128),
    "800": ([784, 800, 10], 128),
}
LR, SEED, EPOCH = 1e-3, 0, 0
B1, B2, EPS = 0.9, 0.999, 1e-8


# --- data and batch order ------------------------------------------------------------------


def load_mnist() -> tuple[F32, I64, F32, I64]:
    data = load_dataset("mnist", download=False)
    return (flatten_images(data.train_x), data.train_y,
            flatten_images(data.test_x), data.test_y)


def batch_order(n: int) -> I64:
    """The permutation ``fnn.batches(..., seed=SEED, epoch=EPOCH)`` uses."""
    return np.random.default_rng((SEED, EPOCH)).permutation(n)


def steps_for(n: int, batch: int, max_steps: int | None, fraction: float) -> int:
    steps = -(-int(n * fraction) // batch)
    return min(steps, max_steps) if max_steps else steps


def init_params(sizes: list[int]) -> list[tuple[F32, F32]]:
    """The same initial parameters for every contender: ``fnn.mlp(sizes, seed=SEED)``."""
    leaves = fnn.array_leaves(fnn.mlp(sizes, seed=SEED))
    return [(np.array(leaves[i], np.float32), np.array(leaves[i + 1], np.float32))
            for i in range(0, len(leaves), 2)]


# --- contender 1: functional_nn, plain and composed ------------------------------------------


@attrs.frozen
class UserReLU:
    """A user-registered activation: a copy of ReLU, to show that new kinds are not slower."""


def _user_relu_forward(layer: UserReLU, x: F32, ctx: fnn.Context) -> tuple[F32, F32]:
    y = np.maximum(x, 0)
    return y, y


def _user_relu_vjp(layer: UserReLU, y: F32, g: F32, out: UserReLU,
                   ctx: fnn.Context) -> F32 | None:
    return np.multiply(g, y > 0, out=g) if ctx.input_grad else None


fnn.register(UserReLU, _user_relu_forward, _user_relu_vjp)


def _no_bias(path: str, leaf: object) -> bool:
    return not path.endswith(".b")


def _user_net(sizes: list[int]) -> fnn.Sequential:
    layers = fnn.mlp(sizes, seed=SEED).layers
    return fnn.Sequential(UserReLU() if isinstance(k, fnn.ReLU) else k for k in layers)


# variant -> (optimizer, network, whether to train on a Flat)
VARIANTS: dict[str, Callable[[list[int]], tuple[optim.Optimizer[Any], object]]] = {
    "functional_nn": lambda s: (optim.adam(LR), fnn.flatten(fnn.mlp(s, seed=SEED))),
    "fnn_tree": lambda s: (optim.adam(LR), fnn.mlp(s, seed=SEED)),
    "fnn_clip": lambda s: (optim.chain(optim.clip_by_global_norm(1.0), optim.adam(LR)),
                           fnn.flatten(fnn.mlp(s, seed=SEED))),
    "fnn_adamw_mask": lambda s: (optim.adamw(LR, weight_decay=1e-2, mask=_no_bias),
                                 fnn.flatten(fnn.mlp(s, seed=SEED))),
    "fnn_accumulate": lambda s: (optim.accumulate(optim.adam(LR), 4),
                                 fnn.flatten(fnn.mlp(s, seed=SEED))),
    "fnn_user_layer": lambda s: (optim.adam(LR), fnn.flatten(_user_net(s))),
}


Steps = Callable[[list[int], int, F32, I64, int], Iterator[object]]
"""``(sizes, batch, x, y, steps) ->`` the model before the first step, then after each step."""


def fnn_steps(variant: str) -> Steps:
    """``fnn.fit_iter`` of ``variant``'s training step: a stream of the parameters."""
    def steps_of(sizes: list[int], batch: int, x: F32, y: I64, steps: int) -> Iterator[object]:
        opt, params = VARIANTS[variant](sizes)
        step = fnn.train_step(opt)
        stream = itertools.islice(
            fnn.batches(x, y, batch_size=batch, seed=SEED, epoch=EPOCH), steps)
        return (state.params for state in
                fnn.fit_iter(step, fnn.TrainState(params, opt.init(params)), stream))
    return steps_of


def fnn_runner(variant: str) -> Callable[[list[int], int, F32, I64, int], tuple[float, object]]:
    """The seconds of ``fnn.fit`` over ``steps`` batches with ``variant``, and the parameters."""
    def run_fnn(sizes: list[int], batch: int, x: F32, y: I64, steps: int) -> tuple[float, object]:
        opt, params = VARIANTS[variant](sizes)
        state = fnn.TrainState(params, opt.init(params))
        step = fnn.train_step(opt)
        stream = itertools.islice(
            fnn.batches(x, y, batch_size=batch, seed=SEED, epoch=EPOCH), steps)
        t0 = time.perf_counter()
        state = fnn.fit(step, state, stream)
        seconds = time.perf_counter() - t0
        return seconds, state.params
    return run_fnn


def timed(steps_of: Steps) -> Callable[[list[int], int, F32, I64, int], tuple[float, object]]:
    """A runner: the seconds ``steps_of`` takes for its steps (set-up excluded), and the
    final model."""
    def run(sizes: list[int], batch: int, x: F32, y: I64, steps: int) -> tuple[float, object]:
        stream = steps_of(sizes, batch, x, y, steps)
        model = next(stream)  # set up, before the first step
        t0 = time.perf_counter()
        for model in stream:  # noqa: B007 (the last one is the result)
            pass
        return time.perf_counter() - t0, model
    return run


def predict_fnn(params: object, x: F32) -> npt.NDArray[np.intp]:
    out: npt.NDArray[np.intp] = np.asarray(fnn.forward(params, x)).argmax(axis=1)
    return out


# --- contender 2: a plain imperative numpy loop ----------------------------------------------


def numpy_steps(sizes: list[int], batch: int, x: F32, y: I64,
                steps: int) -> Iterator[object]:
    """A good honest imperative loop: float32, in-place Adam, hand-written backprop."""
    layers = init_params(sizes)
    params = [p for pair in layers for p in pair]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    scratch = [np.empty_like(p) for p in params]
    order = batch_order(len(x))
    f = np.float32
    yield layers
    for t in range(1, steps + 1):
        index = order[(t - 1) * batch:t * batch]
        xb, yb = x[index], y[index]
        n = len(index)
        acts = [xb]
        h = xb
        for i, (w, b) in enumerate(layers):
            z = h @ w
            z += b
            if i < len(layers) - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
            h = z
        z = acts.pop()  # logits -> softmax cross-entropy gradient, in place
        z -= z.max(axis=1, keepdims=True)
        rows = np.arange(n)
        np.exp(z, out=z)
        s = z.sum(axis=1, keepdims=True)
        _loss = float(np.log(s).sum() - np.log(z[rows, yb]).sum()) / n
        z /= s
        z[rows, yb] -= 1
        z *= f(1.0 / n)
        g = z
        grads: list[F32] = [g] * len(params)
        for i in range(len(layers) - 1, -1, -1):
            w = layers[i][0]
            grads[2 * i] = acts[i].T @ g
            grads[2 * i + 1] = g.sum(axis=0)
            if i > 0:
                g = g @ w.T
                g *= acts[i] > 0
        bc1, bc2 = 1 - B1**t, 1 - B2**t
        step_size, sq = f(LR / bc1), f(np.sqrt(bc2))
        for p, gr, m, v, tmp in zip(params, grads, ms, vs, scratch, strict=True):
            m *= f(B1)
            np.multiply(gr, f(1 - B1), out=tmp)
            m += tmp
            v *= f(B2)
            np.multiply(gr, gr, out=tmp)
            tmp *= f(1 - B2)
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= sq
            tmp += f(EPS)
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p -= tmp
        yield layers


def fused_steps(in_place: bool) -> Steps:
    """The fold's own operations without the library (see ``numpy_fused.py``), with the
    allocator set up as ``train_step`` sets it (freed memory kept in the process); with
    ``in_place``, the parameters and moments overwritten: what fresh arrays cost a step."""
    def steps_of(sizes: list[int], batch: int, x: F32, y: I64, steps: int) -> Iterator[object]:
        keep_freed_memory()
        return fused(sizes, batch, x, y, steps, init_params(sizes), batch_order(len(x)),
                     LR, B1, B2, EPS, in_place=in_place)
    return steps_of


def predict_numpy(layers: Any, x: F32) -> npt.NDArray[np.intp]:
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    out: npt.NDArray[np.intp] = np.asarray(h).argmax(axis=1)
    return out


# --- contender 3: PyTorch (optional) -----------------------------------------------------------


def torch_available() -> bool:
    """Whether torch is installed, without importing it (its OpenMP pool would spin in this
    process and slow numpy's OpenBLAS threads down: every contender runs in its own process)."""
    return importlib.util.find_spec("torch") is not None


def torch_steps(sizes: list[int], batch: int, x: F32, y: I64,
                steps: int) -> Iterator[object]:
    """``torch.nn`` and ``torch.optim.Adam`` from the same parameters, in the same order."""
    import torch
    from torch import nn

    modules: list[Any] = []
    for i, (w, b) in enumerate(init_params(sizes)):
        linear = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            linear.bias.copy_(torch.from_numpy(b))
        modules.append(linear)
        if i < len(sizes) - 2:
            modules.append(nn.ReLU())
    model = nn.Sequential(*modules)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    with warnings.catch_warnings():  # read-only arrays: torch only reads them here
        warnings.simplefilter("ignore", UserWarning)
        xt, yt = torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(y))
    order = torch.from_numpy(batch_order(len(x)))
    loss_fn = nn.CrossEntropyLoss()
    yield model
    for t in range(steps):
        index = order[t * batch:(t + 1) * batch]
        xb, yb = xt[index], yt[index]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        yield model


def predict_torch(model: Any, x: F32) -> npt.NDArray[np.intp]:
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(model(torch.from_numpy(np.asarray(x))).argmax(dim=1).numpy())


Runner = Callable[[list[int], int, F32, I64, int], tuple[float, object]]
STEPS: dict[str, tuple[Steps, Callable[[Any, F32], npt.NDArray[np.intp]]]] = {
    **{name: (fnn_steps(name), predict_fnn) for name in VARIANTS},
    "numpy_loop": (numpy_steps, predict_numpy),
    "numpy_fused": (fused_steps(in_place=False), predict_numpy),
    "numpy_in_place": (fused_steps(in_place=True), predict_numpy),
    "torch": (torch_steps, predict_torch),
}
"""The contenders as streams of steps (``bench_interleaved.py`` runs them side by side)."""
CONTENDERS: dict[str, tuple[Runner, Callable[[Any, F32], npt.NDArray[np.intp]]]] = {
    **{name: (fnn_runner(name), predict_fnn) for name in VARIANTS},
    **{name: (timed(steps_of), predict) for name, (steps_of, predict) in STEPS.items()
       if name not in VARIANTS},
}


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
