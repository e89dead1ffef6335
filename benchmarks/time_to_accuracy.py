"""Wall time of training from its start to 98.0% MNIST test accuracy (run by hand).

    FUNCTIONAL_NN_DATA=/work/shared/data python benchmarks/time_to_accuracy.py            # "fast"
    python benchmarks/time_to_accuracy.py --recipe origin --target 0.95
    python benchmarks/time_to_accuracy.py --hidden 512 --lr 2e-3 --schedule cosine --epochs 5
    OPENBLAS_NUM_THREADS=1 python benchmarks/time_to_accuracy.py --recipe convnet --target 0.99

Trains a recipe of :mod:`functional_nn.recipes` with ``functional_nn.recipes.train`` (the
library's fold, as the CLI runs it) and evaluates the test set once per epoch. The time
reported is training wall time only: each epoch's ``seconds`` as ``train`` measures them (from
the epoch's first batch to its last update, batch gathering included); the evaluations run
between epochs, outside those seconds, and their total is reported separately. With
``--repeats`` the whole run is repeated and the median time to target is reported (the
parameters are bit-identical between repeats: only the clock differs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import attrs
import numpy as np

from functional_nn.data import load_dataset
from functional_nn.recipes import RECIPES, Recipe, build_params, train
from functional_nn.specs import network_inputs


def recipe_from(args: argparse.Namespace) -> Recipe:
    recipe = RECIPES[args.recipe]
    changes: dict[str, Any] = {}
    for field, value in (("hidden", args.hidden), ("model", args.model),
                         ("optimizer", args.optimizer),
                         ("learning_rate", args.lr), ("schedule", args.schedule),
                         ("warmup_epochs", args.warmup_epochs), ("batch_size", args.batch_size),
                         ("epochs", args.epochs), ("seed", args.seed),
                         ("weight_decay", args.weight_decay), ("clip", args.clip)):
        if value is not None:
            changes[field] = tuple(value) if field == "hidden" else value
    return attrs.evolve(recipe, **changes)


def run_once(recipe: Recipe, data: tuple[Any, ...], target: float) -> dict[str, Any]:
    x, y, tx, ty = data
    start = time.perf_counter()
    result = train(recipe, x, y, tx, ty)
    wall = time.perf_counter() - start
    training = 0.0
    reached: float | None = None
    epochs = []
    for record in result.history:
        training += record.seconds
        epochs.append({"epoch": record.epoch, "test_accuracy": record.test_accuracy,
                       "train_seconds": record.seconds, "cumulative_train_seconds": training})
        if reached is None and record.test_accuracy >= target:
            reached = training
    return {"time_to_target": reached, "train_seconds": training,
            "eval_seconds": wall - training, "final_accuracy": result.test_accuracy,
            "epochs": epochs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="fast", choices=sorted(RECIPES))
    parser.add_argument("--target", type=float, default=0.98)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="write the result as JSON ('-': stdout)")
    parser.add_argument("--hidden", type=int, nargs="+")
    parser.add_argument("--model", help="a network spec (functional_nn.specs)")
    parser.add_argument("--optimizer")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--schedule")
    parser.add_argument("--warmup-epochs", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--clip", type=float)
    args = parser.parse_args()
    recipe = recipe_from(args)
    dataset = load_dataset("mnist", download=False)
    net = build_params(recipe, (*dataset.train_x.shape[1:], 1), 10)  # flat or images?
    data = (network_inputs(net, dataset.train_x), dataset.train_y,
            network_inputs(net, dataset.test_x), dataset.test_y)
    print(f"# recipe: {json.dumps(recipe.to_dict())}")
    load = os.getloadavg()  # other work on the machine skews the clock, not the accuracy
    print(f"# load average at start: {' '.join(f'{v:.2f}' for v in load)}", flush=True)
    runs = [run_once(recipe, data, args.target) for _ in range(args.repeats)]
    print(f"# load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for i, run in enumerate(runs):
        accs = " ".join(f"{100 * e['test_accuracy']:.2f}%@{e['cumulative_train_seconds']:.2f}s"
                        for e in run["epochs"])
        print(f"run {i}: {accs}  (evaluation: {run['eval_seconds']:.2f}s, not counted)")
    times = [r["time_to_target"] for r in runs]
    reached = [t for t in times if t is not None]
    median = statistics.median(reached) if len(reached) == len(times) else None
    verdict = (f"{median:.2f} s of training to {100 * args.target:.1f}% (median of {len(runs)})"
               if median is not None else f"did not reach {100 * args.target:.1f}% every run")
    print(f"time to target: {verdict}; final accuracy {100 * runs[-1]['final_accuracy']:.2f}%")
    if args.json:
        payload = json.dumps({"recipe": recipe.to_dict(), "target": args.target,
                              "load_average_at_start": load,
                              "load_average_at_end": os.getloadavg(),
                              "median_time_to_target": median, "runs": runs,
                              "numpy": np.__version__}, indent=2)
        if args.json == "-":
            print(payload)
        else:
            with open(args.json, "w") as f:
                f.write(payload + "\n")
    return 0 if median is not None else 1


if __name__ == "__main__":
    sys.exit(main())
