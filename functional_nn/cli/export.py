"""``functional-nn export CHECKPOINT OUT``: a trained network as an ONNX model or safetensors.

The format comes from ``OUT``'s extension (``.onnx``, ``.safetensors``) or ``--format``. The
checkpoint may hold a whole training state or bare parameters (a ``Flat`` too), with or
without model state (BatchNorm's running statistics), for any network the library runs.

ONNX: input ``"input"`` (float32, ``(batch, *input shape)``, channels-last images), output
``"logits"``, or ``"probabilities"`` with ``--probabilities``. The input shape is
``--input-shape``, else the one the checkpoint's metadata records, else the first layer's:
a ``Dense`` layer's inputs, or for a ``Conv2D`` an image of the recorded dataset (the
built-in ones are 28×28) with the layer's channels; the network is run on it before anything
is written, so a wrong shape is one line, not a broken file.

safetensors: the parameters under their dotted paths (``layers.0.w``), or, when the
checkpoint has model state, the tree ``{"params": ..., "model_state": ...}``
(``params.layers.0.w``, ``model_state.1.mean``); its metadata holds the checkpoint's
(architecture, configuration, dataset...) as JSON strings, the tree's structure and
``contents`` (``params`` or ``params, model_state``).
"""

from __future__ import annotations

import argparse
import json
import os

from .. import checkpoint
from ..data import DATASETS
from ..export import ExportError, MissingExtra, to_onnx, to_safetensors, weight_keys
from ..export.errors import require
from ..flat import unflatten
from ..layers import Conv2D, Dense, Sequential
from ..train import TrainState
from ..tree import describe, tree_structure
from .errors import CliError, UsageError
from .files import check_distinct, check_writable
from .options import Subparsers, add_json_option
from .output import Output

__all__ = ["FORMATS", "add_parser", "input_shape", "run"]

FORMATS = {".onnx": "onnx", ".safetensors": "safetensors"}
"""The formats, by file extension."""

IMAGE_SIZE = (28, 28)  # every built-in dataset's images (MNIST, Fashion-MNIST, KMNIST)
_BULKY = ("history", "loss_trace")  # the checkpoint's metadata left out of the export's


def input_shape(text: str) -> tuple[int, ...]:
    """Comma-separated positive sizes of one input, without the batch: ``784``, ``28,28,1``.

    >>> input_shape("28, 28, 1")
    (28, 28, 1)
    """
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive sizes such as "
                                         f"784 or 28,28,1, got {text!r}")
    return values


def add_parser(subparsers: Subparsers) -> None:
    """Register ``export`` and its options."""
    p = subparsers.add_parser(
        "export", help="write a trained network as ONNX or safetensors (needs "
                       "functional_nn[export])",
        description="Write the network of a checkpoint as an ONNX model (run it with "
                    "onnxruntime) or its weights as a safetensors file. Needs the export "
                    "extra: pip install 'functional_nn[export]'.")
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .npz file written by train")
    p.add_argument("out", metavar="OUT", help="the file to write: .onnx or .safetensors")
    p.add_argument("--format", choices=sorted(FORMATS.values()), default=None,
                   help="the format (default: from OUT's extension)")
    p.add_argument("--input-shape", type=input_shape, default=None, metavar="SHAPE",
                   help="ONNX: one input's shape without the batch, e.g. 784 or 28,28,1 "
                        "(default: from the checkpoint)")
    p.add_argument("--probabilities", action="store_true",
                   help="ONNX: output the softmax probabilities instead of the logits")
    add_json_option(p)
    p.set_defaults(run=run, memory_hint="an export needs a few times the network's size in "
                                        "memory: free some, or give a smaller --input-shape")


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    found = FORMATS.get(os.path.splitext(args.out)[1].lower())
    if found is None:
        raise UsageError(f"cannot tell the format of {args.out} from its extension: name it "
                         ".onnx or .safetensors, or pass --format")
    return found


def _derived_shape(path: str, params: object, metadata: dict[str, object]) -> tuple[int, ...]:
    """The input shape the checkpoint records, or its first layer's (see the module)."""
    architecture = metadata.get("architecture")
    for recorded in (architecture.get("input_shape") if isinstance(architecture, dict)
                     else None, metadata.get("input_shape")):
        if isinstance(recorded, list) and recorded and all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in recorded):
            return tuple(recorded)
    first = params.layers[0] if isinstance(params, Sequential) and params.layers else params
    if isinstance(first, Dense):
        return (first.w.shape[0],)
    if isinstance(first, Conv2D) and metadata.get("dataset") in DATASETS:
        return (*IMAGE_SIZE, first.w.shape[2])
    raise UsageError(f"{path} does not record its input shape and its first layer "
                     f"({type(first).__name__}) does not tell it: pass --input-shape, "
                     "e.g. 28,28,1")


def _metadata(params: object, contents: str, metadata: dict[str, object]) -> dict[str, str]:
    kept = {k: json.dumps(v) for k, v in metadata.items() if k not in _BULKY}
    return {**kept, "structure": describe(tree_structure(params)), "contents": contents}


def run(args: argparse.Namespace, output: Output) -> int:
    """``functional-nn export``."""
    kind = _format(args)
    if kind == "safetensors" and (args.probabilities or args.input_shape):
        raise UsageError("--probabilities and --input-shape are for ONNX; a safetensors file "
                         "holds the weights only")
    check_distinct({"checkpoint": args.checkpoint, "export": args.out})
    check_writable(args.out, "export")
    try:
        require(*(("onnx", "ONNX export") if kind == "onnx" else
                  ("safetensors", "safetensors export")))
    except MissingExtra as error:
        raise CliError(str(error)) from None
    tree = checkpoint.load(args.checkpoint)  # a CheckpointError names the file and problem
    params, state = (tree.params, tree.model_state) if isinstance(tree, TrainState) else (
        tree, None)
    params = unflatten(params)
    metadata = checkpoint.load_metadata(args.checkpoint)
    result: dict[str, object] = {"checkpoint": args.checkpoint, "out": args.out,
                                 "format": kind}
    try:
        if kind == "onnx":
            shape = args.input_shape or _derived_shape(args.checkpoint, params, metadata)
            to_onnx(params, args.out, input_shape=shape, probabilities=args.probabilities,
                    state=state, metadata=_metadata(params, "params", metadata))
            name = "probabilities" if args.probabilities else "logits"
            output.say(f"wrote {args.out}: input 'input' float32 (batch, "
                       f"{', '.join(map(str, shape))}), output {name!r}")
            result.update(input_shape=list(shape), output=name)
        else:
            weights = params if state is None else {"params": params, "model_state": state}
            contents = "params" if state is None else "params, model_state"
            to_safetensors(weights, args.out, metadata=_metadata(params, contents, metadata))
            keys = weight_keys(weights)
            output.say(f"wrote {args.out}: {len(keys)} tensors ({contents}), "
                       f"{', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}")
            result.update(tensors=keys, contents=contents)
    except ExportError as error:  # about the network, but for a failed write (which names OUT)
        message = str(error)
        raise CliError(message if message.startswith(f"cannot write {args.out}")
                       else f"{args.checkpoint}: {message}") from None
    if output.as_json:
        output.result(result)
    return 0
