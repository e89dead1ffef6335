"""The checkpoint loader every command shares: a saved network, checked, with its metadata.

``evaluate``, ``predict`` and ``plot`` take a checkpoint written by ``train`` (a whole training
state, or bare parameters) and need an MLP of ``Dense`` layers whose sizes agree with the
architecture its metadata records, and a dataset its input and output sizes fit. Every way a
file can fail those becomes one :class:`~.errors.CliError` line naming the file.
"""

from __future__ import annotations

import itertools
import math

import attrs

from .. import checkpoint
from ..data import DATASETS, Dataset
from ..flat import unflatten
from ..layers import Dense, Sequential
from ..train import TrainState
from .dataset import class_count
from .errors import CliError

__all__ = ["Model", "check_match", "load_model", "model_dataset"]


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
    params = unflatten(tree.params if isinstance(tree, TrainState) else tree)
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
