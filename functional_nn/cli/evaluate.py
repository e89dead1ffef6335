"""``functional-nn evaluate CHECKPOINT``: accuracy, per-class precision and recall, confusion.

The architecture comes from the checkpoint's own structure record (no flags); the test set
is the one of the dataset recorded in its metadata unless ``--dataset`` says otherwise. The
forward pass is deterministic, so the accuracy is exactly the one ``train`` reported.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import attrs
import numpy as np
import numpy.typing as npt

from .. import checkpoint
from ..data import DATASETS, Dataset, flatten_images
from ..layers import Dense, Sequential
from ..metrics import evaluate, precision_recall
from ..train import TrainState
from . import (
    CliError,
    Output,
    Subparsers,
    add_data_options,
    add_json_option,
    class_count,
    load_data,
)

__all__ = ["Model", "add_parser", "check_match", "load_model", "model_dataset", "run"]


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


@attrs.frozen
class Model:
    """A network loaded from a checkpoint, with the checkpoint's metadata."""

    path: str
    params: Sequential
    metadata: dict[str, object] = attrs.field(hash=False)
    sizes: tuple[int, ...]


def _sizes(path: str, params: object) -> tuple[int, ...]:
    """The layer sizes of an MLP, or a ``CliError`` if ``params`` is not one."""
    layers = params.layers if isinstance(params, Sequential) else ()
    dense = [layer for layer in layers if isinstance(layer, Dense)]
    if not dense or any(a.w.shape[1] != b.w.shape[0] for a, b in itertools.pairwise(dense)):
        kind = type(params).__name__
        raise CliError(f"{path}: does not hold a network of Dense layers (found a {kind}); "
                       "pass a checkpoint written by 'functional-nn train'")
    return (dense[0].w.shape[0], *(d.w.shape[1] for d in dense))


def _sniff(path: str) -> None:
    """Reject a file that is not a zip archive before numpy says something confusing."""
    try:
        with open(path, "rb") as file:
            head = file.read(4)
    except OSError:
        return  # checkpoint.load explains a missing or unreadable file
    if head and head != b"PK\x03\x04":
        raise CliError(f"{path}: not a checkpoint (not an .npz file written by "
                       "'functional-nn train')")


def load_model(path: str) -> Model:
    """Load a checkpoint holding a ``TrainState`` or bare parameters."""
    _sniff(path)
    tree = checkpoint.load(path)  # a CheckpointError names the file and the problem
    params = tree.params if isinstance(tree, TrainState) else tree
    if isinstance(params, Dense):
        params = Sequential((params,))
    sizes = _sizes(path, params)
    assert isinstance(params, Sequential)  # _sizes raised otherwise
    metadata = checkpoint.load_metadata(path)
    architecture = metadata.get("architecture")
    recorded = architecture.get("sizes") if isinstance(architecture, dict) else None
    if recorded is not None and list(sizes) != recorded:
        raise CliError(f"{path}: the metadata describes a {recorded} network but the arrays "
                       f"are of a {list(sizes)} one; the file was altered")
    return Model(path, params, metadata, sizes)


def model_dataset(model: Model, override: str | None) -> str:
    """The dataset to evaluate on: ``--dataset``, else the one the checkpoint records."""
    name = override or model.metadata.get("dataset") or "mnist"
    if not isinstance(name, str) or name not in DATASETS:
        raise CliError(f"{model.path} was trained on {name!r}, which is not a known dataset; "
                       f"pass --dataset (one of {', '.join(sorted(DATASETS))})")
    return name


def check_match(model: Model, data: Dataset, name: str) -> None:
    """Fail unless the network's input and output sizes fit the dataset."""
    shape = data.test_x.shape[1:]
    features, classes = math.prod(shape), class_count(data)
    if model.sizes[0] != features:
        raise CliError(f"{model.path} does not match {name}: the network takes "
                       f"{model.sizes[0]} inputs but {name} images have "
                       f"{'×'.join(map(str, shape))} = {features} pixels")
    if model.sizes[-1] != classes:
        raise CliError(f"{model.path} does not match {name}: the network has "
                       f"{model.sizes[-1]} outputs but {name} has {classes} classes")


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
        from .plots import prepare_plots

        prepare_plots(args.plots)
    data = load_data(name, args.data_dir, download=not args.no_download)
    check_match(model, data, name)
    started = time.perf_counter()
    test_x = flatten_images(data.test_x)
    result = evaluate(model.params, test_x, data.test_y, classes=class_count(data))
    precision, recall = precision_recall(result.confusion)
    seconds = time.perf_counter() - started
    correct = int(np.trace(result.confusion))
    output.say(f"{model.path}: {'-'.join(map(str, model.sizes))} network on the {name} test set")
    output.say(f"test accuracy {result.accuracy:.2%} ({correct:,}/{len(test_x):,}), "
               f"loss {result.loss:.4f}")
    for line in _table(precision, recall, result.confusion):
        output.say(line)
    if args.plots:
        from .plots import draw_all

        for path in draw_all(args.plots, model.metadata, model.params, test_x, data.test_y):
            output.say(f"wrote {path}")
    if output.as_json:
        output.result({
            "checkpoint": args.checkpoint, "dataset": name, "samples": len(test_x),
            "test_accuracy": result.accuracy,
            "test_loss": result.loss if math.isfinite(result.loss) else None,
            "precision": _json_numbers(precision), "recall": _json_numbers(recall),
            "confusion": result.confusion.tolist(), "sizes": list(model.sizes),
            "epochs": model.metadata.get("epochs"), "seconds": round(seconds, 3)})
    return 0
