"""Paired speed in one process: the contenders' training steps interleaved, chunk by chunk.

Run by hand (never from the tests)::

    FUNCTIONAL_NN_DATA=../shared/data python benchmarks/bench_interleaved.py
    python benchmarks/bench_interleaved.py --nets 16-16 --contenders functional_nn numpy_loop

This machine's speed drifts by tens of percent within seconds (other tenants of its host),
which runs in separate processes seconds apart cannot cancel (``bench_train.py``'s rounds
spread by ±30%). Here each contender of ``contenders.py`` trains its own run of one epoch in
the same batch order, and the runs advance in turn, ``--chunk`` steps each, in a new order
every round (shuffled from a fixed seed, so that no contender always follows the same one and
inherits its footprint in the caches): a round's chunks ran within milliseconds of each
other, so the ratio of their times is taken on the same machine. With ``torch`` among them,
every contender runs on one thread (numpy's BLAS and PyTorch's intra-op pool: two pools
spinning in one process would slow each other), so that comparison is core against core.
Reported: each contender's median time per step, the median over the rounds of the ratios the
targets are stated in (the plain ``functional_nn`` fold against each other contender, each
composition against the plain fold) with their quartiles, and each run's test accuracy (the
same arithmetic gives the same numbers).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from contenders import NETS, STEPS, VARIANTS, load_mnist, torch_available

from functional_nn.train import steps_per_epoch

WARM_UP = 2  # chunks of each run left out: first-use allocations, lazy imports


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """The 25th, 50th and 75th percentiles."""
    low, mid, high = statistics.quantiles(values, n=4)
    return low, mid, high


def interleave(net: str, names: list[str], chunk: int) -> tuple[dict[str, list[float]],
                                                                dict[str, float]]:
    """Each contender's seconds per step in every round, and its run's test accuracy."""
    x, y, tx, ty = load_mnist()
    sizes, batch = NETS[net]
    steps = steps_per_epoch(len(x), batch)
    streams = {name: STEPS[name][0](sizes, batch, x, y, steps) for name in names}
    models = {name: next(stream) for name, stream in streams.items()}  # set up
    seconds: dict[str, list[float]] = {name: [] for name in names}
    shuffle = np.random.default_rng(0)
    for _ in range(steps // chunk):
        for k in shuffle.permutation(len(names)):
            name = names[k]
            stream = streams[name]
            t0 = time.perf_counter()
            for _ in range(chunk):
                models[name] = next(stream)
            seconds[name].append((time.perf_counter() - t0) / chunk)
    accuracy = {name: float((STEPS[name][1](models[name], tx) == ty).mean()) for name in names}
    return {name: s[WARM_UP:] for name, s in seconds.items()}, accuracy


def report(net: str, seconds: dict[str, list[float]], accuracy: dict[str, float]) -> None:
    rounds = len(next(iter(seconds.values())))
    print(f"{net}: {rounds} rounds")
    for name, s in seconds.items():
        print(f"  {name:<16}{statistics.median(s) * 1e6:9.1f} µs/step  "
              f"test accuracy {100 * accuracy[name]:.2f}%")
    if "functional_nn" not in seconds:
        return
    fold = seconds["functional_nn"]
    for name, s in seconds.items():
        if name == "functional_nn":
            continue
        # the fold's speed over a numpy contender's; a composition's over the plain fold's
        label, ratios = ((f"{name}/adam", [a / b for a, b in zip(fold, s, strict=True)])
                         if name in VARIANTS else
                         (f"fnn/{name}", [b / a for a, b in zip(fold, s, strict=True)]))
        low, mid, high = quartiles(ratios)
        print(f"  {label:<24}{mid:6.3f}x  (quartiles {low:.3f}-{high:.3f})")


_LIMITS: list[object] = []  # threadpoolctl's limit holds while its object lives


def one_thread() -> bool:
    """Limit numpy's BLAS and PyTorch to one thread each; a one-line reason when it cannot."""
    if not torch_available():
        print("torch is not importable (pip install torch==2.13.0)", file=sys.stderr)
        return False
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        print("threadpoolctl is missing (pip install -e '.[dask]')", file=sys.stderr)
        return False
    import torch

    _LIMITS.append(threadpool_limits(limits=1))
    torch.set_num_threads(1)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", nargs="+", choices=list(NETS), default=list(NETS))
    parser.add_argument("--contenders", nargs="+", choices=list(STEPS),
                        default=["functional_nn", "numpy_loop", "numpy_fused", "numpy_in_place"])
    parser.add_argument("--chunk", type=int, default=None,
                        help="steps per turn (default: 25 on 784-16-16-10, 5 on the others)")
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.contenders))
    if "torch" in names and not one_thread():
        return 2
    for net in args.nets:
        chunk = args.chunk or (25 if net == "16-16" else 5)
        if chunk < 1:
            print("--chunk must be a positive number of steps", file=sys.stderr)
            return 2
        report(net, *interleave(net, names, chunk))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
