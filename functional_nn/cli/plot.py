"""``functional-nn plot SOURCE``: the plots of a checkpoint, or the curves of a metrics JSON.

A checkpoint gives every plot (:mod:`.figures`): its metadata holds the run's history for the
curves, and its network is run on the test set of its dataset for the rest. A metrics JSON
written by ``train --metrics`` holds only the history, so it gives the curves.
"""

from __future__ import annotations

import argparse
import json

from .._atomic import open_regular
from .dataset import load_data
from .errors import CliError
from .figures import INSTALL_HINT, check_record, draw_all, plot_curves, prepare_plots
from .files import check_distinct
from .loader import check_match, load_model, model_dataset
from .options import Subparsers, add_data_options
from .output import Output

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> None:
    """Register ``plot`` and its options."""
    p = subparsers.add_parser(
        "plot", help="draw PNG plots from a checkpoint or a metrics JSON",
        description="From a checkpoint: loss and accuracy curves, confusion matrix, "
                    "first-layer weights (an MLP's) or first conv layer's filters (a "
                    "convnet's) and misclassified test digits. From a metrics JSON "
                    f"written by train --metrics: the curves. Needs matplotlib ({INSTALL_HINT}).")
    p.add_argument("source", metavar="SOURCE", help="a checkpoint (.npz) or a metrics JSON")
    p.add_argument("-o", "--out-dir", default="plots", metavar="DIR",
                   help="folder for the PNG files (default plots)")
    add_data_options(p, dataset_help="test set for the checkpoint's plots (default: the "
                                     "checkpoint's dataset)")
    p.set_defaults(run=run)


def _read_record(path: str) -> dict[str, object] | None:
    """The metrics JSON at ``path``, or ``None`` if the file is not JSON (a checkpoint)."""
    try:
        with open_regular(path) as file:  # a FIFO is refused, not waited on
            if file.read(2) == b"PK":  # a zip archive: an .npz checkpoint
                return None
            file.seek(0)
            record: object = json.loads(file.read().decode("utf-8"))
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except (OSError, ValueError, RecursionError) as error:  # too deeply nested: RecursionError
        raise CliError(f"{path}: neither a checkpoint nor a metrics JSON: {error}") from None
    if not isinstance(record, dict) or not isinstance(record.get("history"), list):
        raise CliError(f"{path}: not a metrics JSON written by 'functional-nn train --metrics'")
    return record


def run(args: argparse.Namespace, output: Output) -> int:
    """``functional-nn plot``."""
    record = _read_record(args.source)
    check_distinct({"source": args.source}, args.out_dir)
    prepare_plots(args.out_dir)
    if record is not None:
        paths = plot_curves(record, args.out_dir, args.source)
        if not paths:
            raise CliError(f"{args.source}: the metrics hold no epochs to plot")
    else:
        model = load_model(args.source)
        check_record(model.metadata, args.source)
        name = model_dataset(model, args.dataset)
        data = load_data(name, args.data_dir, download=not args.no_download)
        check_match(model, data, name)
        paths = draw_all(args.out_dir, model.metadata, model.params,
                         model.inputs(data.test_x), data.test_y, warn=output.warn,
                         source=args.source, state=model.state)
    for path in paths:
        output.say(f"wrote {path}")
    return 0
