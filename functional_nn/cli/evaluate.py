"""``functional-nn evaluate CHECKPOINT``: accuracy, per-class precision and recall, confusion.

The architecture comes from the checkpoint's own structure record (no flags); the test set
is the one of the dataset recorded in its metadata unless ``--dataset`` says otherwise. The
forward pass is deterministic, so the accuracy is exactly the one ``train`` reported.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import numpy.typing as npt

from ..metrics import evaluate, precision_recall
from ..specs import batch_for
from .dataset import class_count, load_data
from .figures import check_record, draw_all, prepare_plots
from .files import check_distinct
from .loader import check_match, load_model, model_dataset
from .options import Subparsers, add_data_options, add_json_option
from .output import Output

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> None:
    """Register ``evaluate`` and its options."""
    p = subparsers.add_parser(
        "evaluate", help="evaluate a checkpoint on its dataset's test set",
        description="Print the test accuracy, per-class precision and recall and the "
                    "confusion matrix of a checkpoint (a saved training state or bare "
                    "network parameters).")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz file written by train")
    add_data_options(p, dataset_help="test set to use (default: the dataset recorded in the "
                                     "checkpoint, else mnist)")
    p.add_argument("--plots", metavar="DIR", help="also draw the plots into DIR")
    add_json_option(p)
    p.set_defaults(run=run)


def _json_numbers(values: npt.NDArray[np.float64]) -> list[float | None]:
    """Floats for JSON, ``None`` where undefined (a class never predicted or never present)."""
    return [float(v) if math.isfinite(v) else None for v in values]


def _table(precision: npt.NDArray[np.float64], recall: npt.NDArray[np.float64],
           confusion: npt.NDArray[np.int64]) -> list[str]:
    """Per-class precision and recall, then the confusion matrix, as text lines."""
    lines = ["class  precision  recall"]
    pairs = enumerate(zip(precision, recall, strict=True))
    lines += [f"{k:>5}  {p:9.4f}  {r:6.4f}" for k, (p, r) in pairs]
    width = max(5, len(str(int(confusion.max(initial=0)))) + 1)
    lines.append("confusion matrix (rows: true class, columns: predicted class)")
    lines.append("     " + "".join(f"{k:>{width}}" for k in range(len(confusion))))
    lines += [f"{k:>5}" + "".join(f"{v:>{width}}" for v in row)
              for k, row in enumerate(confusion)]
    return lines


def run(args: argparse.Namespace, output: Output) -> int:
    """``functional-nn evaluate``."""
    model = load_model(args.checkpoint)
    name = model_dataset(model, args.dataset)
    if args.plots:
        check_distinct({"checkpoint": args.checkpoint}, args.plots)
        prepare_plots(args.plots)
        check_record(model.metadata, model.path)
    data = load_data(name, args.data_dir, download=not args.no_download)
    check_match(model, data, name)
    started = time.perf_counter()
    test_x = model.inputs(data.test_x)
    result = evaluate(model.params, test_x, data.test_y, classes=class_count(data),
                      batch_size=batch_for(model.params, test_x.shape[1:]), state=model.state)
    precision, recall = precision_recall(result.confusion)
    seconds = time.perf_counter() - started
    correct = int(np.trace(result.confusion))
    output.say(f"{model.path}: {model.name} network on the {name} test set")
    output.say(f"test accuracy {result.accuracy:.2%} ({correct:,}/{len(test_x):,}), "
               f"loss {result.loss:.4f}")
    for line in _table(precision, recall, result.confusion):
        output.say(line)
    if args.plots:
        for path in draw_all(args.plots, model.metadata, model.params, test_x, data.test_y,
                             source=model.path, state=model.state):
            output.say(f"wrote {path}")
    if output.as_json:
        output.result({
            "checkpoint": args.checkpoint, "dataset": name, "samples": len(test_x),
            "test_accuracy": result.accuracy,
            "test_loss": result.loss if math.isfinite(result.loss) else None,
            "precision": _json_numbers(precision), "recall": _json_numbers(recall),
            "confusion": result.confusion.tolist(), "sizes": list(model.sizes),
            "model": model.spec,
            "epochs": model.metadata.get("epochs"), "seconds": round(seconds, 3)})
    return 0
