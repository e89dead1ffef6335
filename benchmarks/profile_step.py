"""Where a functional_nn training step spends its time (run by hand; never from the tests).

    FUNCTIONAL_NN_DATA=/work/shared/data python benchmarks/profile_step.py --net 16-16
    python benchmarks/profile_step.py --net 800 --cprofile 25

Trains a ``Flat`` of the MLP (``--tree``: the ``Sequential`` itself). Prints median
micro-timings (``perf_counter_ns``) of the parts of one step: batch gathering,
``value_and_grad``, the optimizer's ``update``, ``apply_updates``, the whole ``train_step``,
and of the pytree machinery they use (flatten, unflatten, attrs construction); with
``--cprofile N`` also the top N functions of a cProfile of a few hundred whole steps.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import pstats
import statistics
import time
from collections.abc import Callable

import numpy as np

import functional_nn as fnn
from functional_nn import optim
from functional_nn.data import flatten_images, load_dataset

NETS = {"16-16": ([784, 16, 16, 10], 32), "256-128": ([784, 256, 128, 10], 128),
        "800": ([784, 800, 10], 128)}


def timeit(f: Callable[[], object], repeat: int) -> float:
    """Median microseconds of ``f()`` over ``repeat`` calls (after a few warm-up calls)."""
    for _ in range(5):
        f()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        f()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", choices=list(NETS), default="16-16")
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--cprofile", type=int, default=0, metavar="N")
    parser.add_argument("--tree", dest="flat", action="store_false",
                        help="train the Sequential itself instead of its Flat")
    args = parser.parse_args()
    sizes, batch = NETS[args.net]
    data = load_dataset("mnist", download=False)
    x, y = flatten_images(data.train_x), data.train_y
    opt = optim.adam(1e-3)
    params = fnn.flatten(fnn.mlp(sizes, seed=0)) if args.flat else fnn.mlp(sizes, seed=0)
    step = fnn.train_step(opt)
    state = fnn.TrainState(params, opt.init(params))
    state = fnn.fit(step, state, itertools.islice(
        fnn.batches(x, y, batch_size=batch, seed=0, epoch=0), 3))  # past the first step
    index = np.random.default_rng(0).permutation(len(x))[:batch]
    xb, yb = x[index], y[index]
    _, grads = fnn.value_and_grad(state.params, xb, yb)
    updates, _ = opt.update(grads, state.opt_state, state.params)
    r = args.repeat
    leaves, treedef = fnn.tree_flatten(state.params)
    rows = {
        "gather x[idx], y[idx]": timeit(lambda: (x[index], y[index]), r),
        "value_and_grad": timeit(lambda: fnn.value_and_grad(state.params, xb, yb), r),
        "forward": timeit(lambda: fnn.forward(state.params, xb), r),
        "opt.update": timeit(lambda: opt.update(grads, state.opt_state, state.params), r),
        "apply_updates": timeit(lambda: optim.apply_updates(state.params, updates), r),
        "optim.update (both)": timeit(
            lambda: optim.update(opt, state.params, grads, state.opt_state), r),
        "train_step": timeit(lambda: step(state, (xb, yb)), r),
        "tree_flatten(params)": timeit(lambda: fnn.tree_flatten(state.params), r),
        "unflatten (Flat -> tree)": timeit(lambda: fnn.unflatten(state.params), r),
        "tree_unflatten(params)": timeit(lambda: treedef.unflatten(leaves), r),
        "TrainState(...)": timeit(
            lambda: fnn.TrainState(state.params, state.opt_state, 1, 0.5), r),
    }
    print(f"{args.net} at batch {batch} (median µs of {r} calls)")
    for name, us in rows.items():
        print(f"  {name:<26}{us:9.1f}")
    if args.cprofile:
        stream = list(itertools.islice(
            fnn.batches(x, y, batch_size=batch, seed=0, epoch=1), 300))
        profiler = cProfile.Profile()
        profiler.enable()
        fnn.fit(step, state, stream)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.cprofile)


if __name__ == "__main__":
    main()
