"""``functional-nn sweep``: train every combination of option values, in parallel on Dask.

Each option takes a comma-separated list (or is repeated): ``--lr 1e-3,3e-3 --seed 0,1`` is
four runs. ``--hidden 16,16`` is one network; separate several with ``;`` (``--hidden
'16,16;32'``) or repeat the option. The data is loaded once here and scattered to the workers;
the runs are independent tasks on a local cluster of ``--workers`` processes, or on the
cluster of ``--scheduler ADDRESS``. A run that fails or diverges is reported in the table and
does not stop the others. Exit status 0 when at least one run finished, 1 when none did.

Standalone: ``python -m functional_nn.cli.sweep --lr 1e-3,3e-3 --epochs 1``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

import attrs

from .._validators import one_of
from ..data import Dataset
from ..layers import ACTIVATIONS
from ..recipes import OPTIMIZERS, RECIPES, SCHEDULES, Recipe
from .dataset import class_count, load_data
from .errors import CliError, Interrupted, UsageError, one_line
from .files import check_creatable, check_writable, write_text
from .options import (
    Subparsers,
    add_data_options,
    add_json_option,
    hidden_sizes,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .output import Output
from .shell import run as run_shell

if TYPE_CHECKING:
    from ..distributed import SweepResult

__all__ = ["add_parser", "build_grid", "main", "run"]

T = TypeVar("T")
DESCRIPTION = (__doc__ or "").split("\n\n")[1].replace("``", "")

# option -> (Recipe field, parser of one value, help); values are comma-separated lists
OPTIONS: dict[str, tuple[str, Callable[[str], object], str]] = {
    "hidden": ("hidden", hidden_sizes, "hidden layer sizes such as 16,16 (none: no hidden "
                                       "layer); several networks separated by ';'"),
    "activation": ("activation", str, ", ".join(ACTIVATIONS)),
    "optimizer": ("optimizer", str, ", ".join(OPTIMIZERS)),
    "lr": ("learning_rate", positive_float, "learning rates"),
    "schedule": ("schedule", str, ", ".join(SCHEDULES)),
    "batch_size": ("batch_size", positive_int, "batch sizes"),
    "epochs": ("epochs", positive_int, "epoch counts"),
    "seed": ("seed", non_negative_int, "seeds of the initial weights and the shuffling"),
    "weight_decay": ("weight_decay", non_negative_float, "weight decays"),
    "clip": ("clip", non_negative_float, "global-norm clipping thresholds (0: off)"),
}
CHOICES: dict[str, tuple[str, ...]] = {"activation": tuple(ACTIVATIONS), "optimizer": OPTIMIZERS,
                                       "schedule": SCHEDULES}


def add_parser(subparsers: Subparsers) -> None:
    """Register ``sweep`` and its options."""
    p = subparsers.add_parser(
        "sweep", help="train a grid of configurations in parallel (needs functional_nn[dask])",
        description=DESCRIPTION)
    p.add_argument("--recipe", choices=sorted(RECIPES), default="origin",
                   help="the recipe whose values the unswept options keep (default origin)")
    for option, (_, _, what) in OPTIONS.items():
        p.add_argument(f"--{option.replace('_', '-')}", action="append", metavar="LIST",
                       help=f"{what} (repeatable)")
    add_data_options(p, dataset_help="dataset to train on (default mnist)")
    p.add_argument("--limit", metavar="N", help="use only the first N training and test images")
    p.add_argument("--workers", metavar="N", help="local worker processes (default 2)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on the Dask cluster of this scheduler (tcp://host:8786) instead")
    p.add_argument("--timeout", metavar="SECONDS", default="10",
                   help="how long to wait for --scheduler (default 10)")
    p.add_argument("--out", metavar="FILE", help="write every result to FILE (.json or .csv)")
    p.add_argument("--checkpoints", metavar="DIR",
                   help="save each run's parameters to DIR/run-INDEX.npz (DIR must be "
                        "writable by every worker)")
    add_json_option(p)
    p.set_defaults(run=run)


def _values(option: str, raw: list[str] | None) -> list[object]:
    """The distinct values of one list option, in order; ``UsageError`` for a bad one."""
    parse = OPTIONS[option][1]
    texts = [t.strip() for r in raw or [] for t in r.split(";" if option == "hidden" else ",")]
    if any(not t for t in texts):
        raise UsageError(f"--{option.replace('_', '-')}: empty value in {raw!r}"
                         + (" (write none for no hidden layer)" if option == "hidden" else ""))
    values: list[object] = []
    for text in texts:
        value = _parse(option, text, parse)
        if option in CHOICES:
            try:
                one_of("", value, CHOICES[option])
            except ValueError as error:
                raise UsageError(f"--{option}: {error}") from None
        if value not in values:
            values.append(value)
    return values


def build_grid(args: argparse.Namespace) -> tuple[list[Recipe], list[str]]:
    """The recipes of the options' product, and the recipe fields that vary among them."""
    from ..distributed.sweep import grid  # the dask extra: only when a grid is built

    if RECIPES[args.recipe].model is not None:  # sweeps train on flat pixels: MLPs only
        raise UsageError(f"--recipe {args.recipe}: sweeps train MLPs, and {args.recipe} is "
                         f"a convnet (train it with 'functional-nn train --recipe "
                         f"{args.recipe}')")
    lists = {OPTIONS[o][0]: v for o in OPTIONS if (v := _values(o, getattr(args, o)))}
    try:
        configs = grid(base=RECIPES[args.recipe], **lists)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return configs, [field for field, values in lists.items() if len(values) > 1]


def _parse(option: str, text: str, parse: Callable[[str], T]) -> T:
    """One option value parsed; ``UsageError`` naming the option otherwise."""
    try:
        return parse(text)
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"--{option.replace('_', '-')}: {error}") from None


def _subset(data: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` training and test images (all of them for ``None``)."""
    if limit is None:
        return data
    return Dataset(data.train_x[:limit], data.train_y[:limit], data.test_x[:limit],
                   data.test_y[:limit])


def _show(value: object) -> str:
    """An option value as the command line writes it."""
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _ranked(results: Sequence[SweepResult]) -> list[SweepResult]:
    """Finished runs by test accuracy (best first, ties by index), then the others."""
    def key(r: SweepResult) -> tuple[bool, float, int]:
        accuracy = r.test_accuracy if math.isfinite(r.test_accuracy) else -1.0
        return r.status != "ok", -accuracy, r.index
    return sorted(results, key=key)


def table(results: Sequence[SweepResult], varied: Sequence[str]) -> list[str]:
    """The results table: rank, accuracy, losses, seconds, status and the varied options."""
    labels = {field: option.replace("_", "-") for option, (field, _, _) in OPTIONS.items()}
    head = ["rank", "accuracy", "test loss", "train loss", "seconds", "status",
            *(labels.get(f, f) for f in varied)]
    rows = [[str(rank) if r.status == "ok" else "-",
             f"{r.test_accuracy:.2%}" if math.isfinite(r.test_accuracy) else "-",
             f"{r.test_loss:.4f}", f"{r.train_loss:.4f}", f"{r.seconds:.2f}", r.status,
             *(_show(getattr(r.recipe, f)) for f in varied)]
            for rank, r in enumerate(_ranked(results), 1)]
    widths = [max(len(c) for c in column) for column in zip(head, *rows, strict=True)]
    return ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in [head, *rows]]


def records(results: Sequence[SweepResult]) -> list[dict[str, object]]:
    """Every result as JSON-ready data, ranked."""
    return [{"rank": rank, **r.to_dict()} for rank, r in enumerate(_ranked(results), 1)]


def _csv(rows: list[dict[str, object]]) -> str:
    """The results as CSV: one row per run, the recipe's fields as columns."""
    out = io.StringIO()
    fields = ["rank", "index", "status", "test_accuracy", "test_loss", "train_loss", "seconds",
              "worker", "checkpoint", "message", *attrs.fields_dict(Recipe)]
    writer = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        recipe = dict(row["recipe"]) if isinstance(row["recipe"], dict) else {}
        recipe["hidden"] = ",".join(map(str, recipe.get("hidden", [])))
        writer.writerow({**row, **recipe})
    return out.getvalue()


def _progress(results: Iterator[SweepResult], total: int) -> Iterator[SweepResult]:
    """Yield ``results`` while a tqdm bar on stderr (a terminal only) counts finished runs."""
    try:
        from tqdm import tqdm
    except ImportError:
        yield from results
        return
    best = math.nan
    with tqdm(total=total, desc="sweep", unit="run", file=sys.stderr, disable=None) as bar:
        for result in results:
            best = max(result.test_accuracy, best) if result.status == "ok" else best
            bar.set_postfix_str(f"best {best:.2%}", refresh=False)
            bar.update(1)
            yield result


def run(args: argparse.Namespace, output: Output) -> int:
    """``functional-nn sweep``."""
    try:  # Dask is an optional extra: imported only when a sweep runs
        from .. import distributed as dist
    except ImportError as error:
        raise CliError(str(error)) from None
    configs, varied = build_grid(args)
    workers = _parse("workers", args.workers or "2", positive_int)
    limit = None if args.limit is None else _parse("limit", args.limit, positive_int)
    timeout = _parse("timeout", args.timeout, positive_float)
    if args.out:
        if os.path.splitext(args.out)[1].lower() not in (".json", ".csv"):
            raise UsageError(f"--out: write a .json or a .csv file, got {args.out!r}")
        check_writable(args.out, "results")
    if args.checkpoints and os.path.lexists(args.checkpoints) and not os.path.isdir(
            args.checkpoints):
        raise UsageError(f"--checkpoints: {args.checkpoints} exists and is not a folder")
    if args.checkpoints:
        check_creatable(args.checkpoints, "checkpoint folder")
    dataset = args.dataset or "mnist"
    full = load_data(dataset, args.data_dir, download=not args.no_download)
    data = dist.sweep_data(_subset(full, limit), classes=class_count(full))
    if len(data.x) == 0:
        raise CliError(f"dataset {dataset!r} has no training images")
    started = time.perf_counter()
    try:
        client = (dist.connect(args.scheduler, timeout=timeout) if args.scheduler
                  else dist.local_client(workers))
    except OSError as error:
        raise CliError(str(error)) from None
    except RuntimeError as error:  # e.g. "Nanny failed to start"
        raise CliError(f"cannot start a local Dask cluster: {error}") from None
    where = args.scheduler or f"{workers} local worker{'s' * (workers != 1)}"
    output.say(f"sweeping {len(configs)} run{'s' * (len(configs) != 1)} on {dataset} "
               f"({len(data.x):,} train / {len(data.test_x):,} test images) with {where}")
    try:
        stream = dist.sweep_iter(configs, data=data, client=client, out_dir=args.checkpoints)
        results = sorted(_progress(stream, len(configs)), key=lambda r: r.index)
    except KeyboardInterrupt:
        raise Interrupted("interrupted; no results written") from None
    finally:
        dist.close(client)
    return _report(results, varied, args, output, time.perf_counter() - started)


def _report(results: list[SweepResult], varied: list[str], args: argparse.Namespace,
            output: Output, seconds: float) -> int:
    """Print the table and any failures, write ``--out``, print ``--json``; the exit status."""
    for line in table(results, varied):
        output.say(line)
    for r in results:
        if r.status != "ok":
            output.warn(f"run {r.index} {r.status}: {one_line(r.message)}")
    rows = records(results)
    ok = sum(r.status == "ok" for r in results)
    if args.out:
        write_text(args.out, _csv(rows) if args.out.lower().endswith(".csv") else
                     json.dumps({"results": rows}, indent=2, allow_nan=False) + "\n")
        output.say(f"wrote {args.out}")
    output.say(f"{ok} of {len(results)} runs finished in {seconds:.1f} s")
    if output.as_json:
        output.result({"runs": len(results), "finished": ok, "varied": varied,
                       "seconds": round(seconds, 3), "results": rows})
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m functional_nn.cli.sweep``: ``functional-nn sweep`` alone; the exit status."""
    return run_shell(["sweep", *(sys.argv[1:] if argv is None else argv)], [add_parser])


if __name__ == "__main__":
    sys.exit(main())
