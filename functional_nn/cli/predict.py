"""``functional-nn predict CHECKPOINT IMAGE...``: classify image files or test-set images.

Each input prints its predicted class and the softmax probabilities of every class. Images
are read as described in :mod:`.images` (white digit on black, as in MNIST; ``--invert`` for
dark-on-light); ``--index N`` picks image N of the checkpoint's test set and shows its label.
"""

from __future__ import annotations

import argparse
from typing import cast

import numpy as np

from ..losses import softmax
from ..model import forward
from .dataset import load_data
from .errors import CliError, UsageError
from .images import image_shape, read_image
from .loader import Model, check_match, load_model, model_dataset
from .options import Subparsers, add_data_options, add_json_option
from .output import Output

__all__ = ["add_parser", "indices", "run"]


def indices(text: str) -> list[int]:
    """Comma-separated test-set indices, each >= 0.

    >>> indices("0,7, 42")
    [0, 7, 42]
    """
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated image indices, got "
                                         f"{text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"indices start at 0, got {text!r}")
    return values


def add_parser(subparsers: Subparsers) -> None:
    """Register ``predict`` and its options."""
    p = subparsers.add_parser(
        "predict", help="classify PNG/PGM images or test-set images",
        description="Print the predicted class and the class probabilities of each image. "
                    "Images should be white digits on black, 28×28 grayscale as in MNIST; "
                    "others are converted and resized with a warning, never inverted unless "
                    "--invert is given.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz file written by train")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="PNG or PGM files")
    p.add_argument("--index", type=indices, action="append", default=[], metavar="N",
                   help="classify test image N (repeatable, or comma-separated: 0,1,2)")
    p.add_argument("--invert", action="store_true",
                   help="invert image files (for dark digits on a light background)")
    add_data_options(p, dataset_help="test set for --index (default: the checkpoint's dataset)")
    add_json_option(p)
    p.set_defaults(run=run)


def _file_shape(model: Model) -> tuple[int, int]:
    """The (rows, columns) of the images the network takes: an MLP's from its input size, a
    convnet's from the input shape its checkpoint records."""
    if model.sizes:
        return image_shape(model.sizes[0])
    recorded = model.recorded("input_shape")
    values = cast("list[object]", recorded) if isinstance(recorded, list) else []
    shape = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    if len(shape) != 3 or len(values) != 3:
        raise CliError(f"{model.path} records no input image size; classify test images with "
                       "--index instead")
    if shape[2] != 1:
        raise CliError(f"the network takes {shape[2]}-channel images but predict reads "
                       "grayscale ones; classify test images with --index instead")
    return shape[0], shape[1]


def run(args: argparse.Namespace, output: Output) -> int:
    """``functional-nn predict``."""
    wanted: list[int] = [i for group in args.index for i in group]
    if not args.images and not wanted:
        raise UsageError("predict needs at least one IMAGE or --index N")
    model = load_model(args.checkpoint)
    sources: list[str] = []
    labels: list[int | None] = []
    pictures: list[np.ndarray] = []
    if args.images:
        shape = _file_shape(model)
        for path in args.images:
            pictures.append(read_image(path, shape, invert=args.invert, warn=output.warn))
            sources.append(path)
            labels.append(None)
    if wanted:
        name = model_dataset(model, args.dataset)
        data = load_data(name, args.data_dir, download=not args.no_download)
        check_match(model, data, name)
        count = len(data.test_x)
        for i in wanted:
            if i >= count:
                raise UsageError(f"--index {i} is out of range: the {name} test set has "
                                 f"{count:,} images (0 to {count - 1})")
            pictures.append(data.test_x[i])
            sources.append(f"{name} test image {i}")
            labels.append(int(data.test_y[i]))
    sizes = sorted({"×".join(map(str, p.shape[::-1])) for p in pictures})
    if len(sizes) > 1:  # only a checkpoint whose metadata lies
        raise CliError(f"{model.path}: the input size its metadata records is not its "
                       f"dataset's image size ({' and '.join(sizes)})")
    x = model.inputs(np.stack(pictures))
    probabilities = softmax(forward(model.params, x, state=model.state))
    results: list[dict[str, object]] = []
    for source, label, p in zip(sources, labels, probabilities, strict=True):
        predicted = int(p.argmax())
        wrong = "" if label == predicted else ", wrong"
        known = "" if label is None else f" (label {label}{wrong})"
        output.say(f"{source}: {predicted} with probability {p[predicted]:.4f}{known}")
        output.say("  " + "  ".join(f"{k}:{v:.3f}" for k, v in enumerate(p)))
        results.append({"source": source, "predicted": predicted, "label": label,
                        "probabilities": [float(v) for v in p]})
    if output.as_json:
        output.result({"checkpoint": args.checkpoint, "predictions": results})
    return 0
