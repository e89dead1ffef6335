"""Convnet training throughput: functional_nn vs PyTorch (CPU), the Keras simple MNIST convnet.

Run by hand (never from the tests)::

    FUNCTIONAL_NN_DATA=/work/shared/data python benchmarks/bench_conv.py --repeats 5
    python benchmarks/bench_conv.py --max-steps 60 --repeats 3        # a quick look

The network is ``fnn.convnet(seed=0)``: conv3x3-32, ReLU, max-pool 2, conv3x3-64, ReLU,
max-pool 2, Flatten, Dropout 0.5, Dense 10 (34,826 parameters; ``--no-dropout`` leaves the
Dropout out), float32, batch 128, Adam 1e-3, one epoch of real MNIST in the same batch order
for both. functional_nn runs its own fold (``fnn.fit(fnn.train_step(adam, seed=0), state,
fnn.batches(...))`` on a ``Flat``, images channels-last); PyTorch runs ``torch.nn`` with the
same initial weights (transposed to its channels-first layout, its fastest on CPU) and
``torch.optim.Adam``. Each timed run is a fresh process (after a 10-step warm-up in it), the
contenders alternate ``--repeats`` times, and the table reports medians. Peak memory is the
rise of the process's peak resident set (VmHWM, reset through ``/proc/self/clear_refs``
once the data is loaded and the libraries imported) over the warm-up and the timed epoch,
measured in every run (median reported).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from peak_memory import reset_peak, status_kib

import functional_nn as fnn
from functional_nn import optim
from functional_nn.data import channels_last, load_dataset

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
LR, SEED, EPOCH, BATCH = 1e-3, 0, 0, 128


def network(dropout: bool) -> fnn.Sequential:
    return fnn.convnet(seed=SEED, dropout=0.5 if dropout else 0.0)


def run_fnn(x: F32, y: I64, steps: int, dropout: bool) -> tuple[float, Any]:
    params = fnn.flatten(network(dropout))
    opt = optim.adam(LR)
    state = fnn.TrainState(params, opt.init(params))
    step = fnn.train_step(opt, seed=SEED)
    stream = itertools.islice(fnn.batches(x, y, batch_size=BATCH, seed=SEED, epoch=EPOCH),
                              steps)
    t0 = time.perf_counter()
    state = fnn.fit(step, state, stream)
    return time.perf_counter() - t0, state.params


def predict_fnn(params: Any, x: F32) -> npt.NDArray[np.intp]:
    return np.asarray(fnn.metrics.predict(params, x, batch_size=1000))


def run_torch(x: F32, y: I64, steps: int, dropout: bool) -> tuple[float, Any]:
    import torch
    from torch import nn

    modules: list[Any] = []
    for layer in network(dropout).layers:
        if isinstance(layer, fnn.Conv2D):
            kh, kw, cin, cout = layer.w.shape
            conv = nn.Conv2d(cin, cout, (kh, kw))
            assert conv.bias is not None
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(layer.w.transpose(3, 2, 0, 1).copy()))
                conv.bias.copy_(torch.from_numpy(layer.b.copy()))
            modules.append(conv)
        elif isinstance(layer, fnn.Dense):
            # our Flatten is channels-last: permute the Dense rows to torch's channels-first
            h = w = 5
            c = layer.w.shape[0] // (h * w)
            rows = layer.w.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
            linear = nn.Linear(*layer.w.shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(rows.T.copy()))
                linear.bias.copy_(torch.from_numpy(layer.b.copy()))
            modules.append(linear)
        else:
            same: dict[str, Callable[[], Any]] = {
                "ReLU": nn.ReLU, "MaxPool2D": lambda: nn.MaxPool2d(2), "Flatten": nn.Flatten,
                "Dropout": lambda: nn.Dropout(0.5)}
            modules.append(same[type(layer).__name__]())
    model = nn.Sequential(*modules)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    with warnings.catch_warnings():  # read-only arrays: torch only reads them here
        warnings.simplefilter("ignore", UserWarning)
        xt = torch.from_numpy(np.asarray(x)).permute(0, 3, 1, 2).contiguous()
        yt = torch.from_numpy(np.asarray(y))
    order = torch.from_numpy(np.random.default_rng((SEED, EPOCH)).permutation(len(x)))
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    t0 = time.perf_counter()
    for t in range(steps):
        index = order[t * BATCH:(t + 1) * BATCH]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xt[index]), yt[index])
        loss.backward()
        opt.step()
    return time.perf_counter() - t0, model


def predict_torch(model: Any, x: F32) -> npt.NDArray[np.intp]:
    import torch

    model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        xt = torch.from_numpy(np.asarray(x)).permute(0, 3, 1, 2).contiguous()
        return np.asarray(model(xt).argmax(dim=1).numpy())


CONTENDERS = {"functional_nn": (run_fnn, predict_fnn), "torch": (run_torch, predict_torch)}


def child(args: argparse.Namespace) -> None:
    """Warm up, then time one run and measure its peak memory; print the result as JSON."""
    data = np.load(args.child_data)
    x, y, tx, ty = data["x"], data["y"], data["tx"], data["ty"]
    threads = None
    if args.child_contender == "torch":
        import torch
        threads = torch.get_num_threads()
    run, predict = CONTENDERS[args.child_contender]
    # the baseline: data loaded, libraries imported, nothing trained yet
    if reset_peak():
        before, method = status_kib("VmRSS"), "VmHWM-VmRSS"
    else:
        before, method = 0, "unavailable"
    run(x, y, 10, args.child_dropout)  # warm-up: thread pools, first allocations
    seconds, model = run(x, y, args.child_steps, args.child_dropout)
    peak = (status_kib("VmHWM") - before) / 1024 if method != "unavailable" else float("nan")
    accuracy = float((predict(model, tx) == ty).mean())
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "memory_method": method,
                      "test_accuracy": accuracy, "torch_threads": threads}))


def run_child(contender: str, data_path: str, steps: int, dropout: bool,
              threads: int | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child-contender", contender, "--child-data", data_path,
           "--child-steps", str(steps)] + (["--child-dropout"] if dropout else [])
    env = dict(os.environ)
    if threads:  # OpenBLAS's (numpy) and OpenMP's (torch) thread pools alike
        env.update({name: str(threads) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                    "MKL_NUM_THREADS")})
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{contender} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"numpy": np.__version__, "cpu_count": os.cpu_count(),
                            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")}
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]
        info["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads",
                                                "architecture")} for p in threadpool_info()]
    except ImportError:
        pass
    if importlib.util.find_spec("torch") is not None:
        info["torch"] = importlib.metadata.version("torch")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=0, help="0: the whole epoch")
    parser.add_argument("--no-dropout", action="store_true")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for both (BLAS and torch); 0: each library's default")
    parser.add_argument("--contenders", default="functional_nn,torch")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--child-contender", help=argparse.SUPPRESS)
    parser.add_argument("--child-data", help=argparse.SUPPRESS)
    parser.add_argument("--child-steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-dropout", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_contender:
        child(args)
        return
    contenders = [c for c in args.contenders.split(",") if c in CONTENDERS]
    if "torch" in contenders and importlib.util.find_spec("torch") is None:
        print("torch is not importable: skipping the PyTorch contender", file=sys.stderr)
        contenders.remove("torch")
    load_at_start = os.getloadavg()  # other work on the machine skews every contender
    data = load_dataset("mnist", download=False)
    x, tx = channels_last(data.train_x), channels_last(data.test_x)
    steps = -(-len(x) // BATCH)
    steps = min(steps, args.max_steps) if args.max_steps else steps
    samples = min(steps * BATCH, len(x))
    results: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mnist.npz")
        np.savez(path, x=x, y=data.train_y, tx=tx, ty=data.test_y)
        for r in range(args.repeats):
            for c in contenders if r % 2 == 0 else contenders[::-1]:  # alternate the order
                results[c].append(run_child(c, path, steps, not args.no_dropout, args.threads))
                print(f"run {r + 1}/{args.repeats} {c}: {results[c][-1]['seconds']:.2f} s",
                      file=sys.stderr)
    summary: dict[str, Any] = {"machine": machine(), "steps": steps, "samples": samples,
                               "dropout": not args.no_dropout, "threads": args.threads or None,
                               "load_average_at_start": load_at_start,
                               "load_average_at_end": os.getloadavg(), "contenders": {}}
    for c, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        summary["contenders"][c] = {
            "median_seconds": seconds, "samples_per_second": samples / seconds,
            "ms_per_step": 1000 * seconds / steps, "all_seconds": [r["seconds"] for r in runs],
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
            "test_accuracy": runs[-1]["test_accuracy"], "torch_threads": runs[-1]["torch_threads"]}
    table = summary["contenders"]
    print("| contender | samples/s | ms/step | epoch s (median) | peak MiB | test acc. |")
    print("|---|---|---|---|---|---|")
    for c, row in table.items():
        print(f"| {c} | {row['samples_per_second']:,.0f} | {row['ms_per_step']:.1f} | "
              f"{row['median_seconds']:.2f} | {row['peak_rss_mib']:.1f} | "
              f"{row['test_accuracy']:.4f} |")
    if "functional_nn" in table and "torch" in table:
        ratio = table["functional_nn"]["samples_per_second"] / table["torch"]["samples_per_second"]
        summary["fnn_over_torch"] = ratio
        print(f"\nfunctional_nn / PyTorch: {ratio:.2f}x samples/s ({steps} steps of {BATCH}); "
              f"load average {load_at_start[0]:.2f} at the start, "
              f"{summary['load_average_at_end'][0]:.2f} at the end")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
