"""The checkpoint loader every command shares: a saved network, checked, with its metadata.

``evaluate``, ``predict`` and ``plot`` take a checkpoint written by ``train`` (a whole training
state, or bare parameters): an MLP of ``Dense`` layers, or any network of the built-in layers
(a convnet), agreeing with the architecture its metadata records (layer sizes, spec), and a
dataset it fits. The architecture is the checkpoint's own structure record, so no command
needs architecture flags; a network with model state (BatchNorm) comes with its state. Every
way a file can fail those becomes one :class:`~.errors.CliError` line naming the file.
"""

from __future__ import annotations

import itertools
import math
from typing import cast

import attrs
import numpy as np
import numpy.typing as npt

from .. import checkpoint
from .._atomic import open_regular
from ..data import DATASETS, Dataset
from ..flat import unflatten
from ..layers import Dense, Sequential
from ..specs import SpecError, layer_shapes, network_inputs, spec_of, takes_images
from ..train import TrainState
from .dataset import class_count, image_shape
from .errors import CliError

__all__ = ["Model", "check_match", "load_model", "model_dataset"]


@attrs.frozen(eq=False)
class Model:
    """A network loaded from a checkpoint, with the checkpoint's metadata and model state.

    ``sizes`` are an MLP's layer sizes (a network whose first layer is Dense), ``()`` for a
    network that takes images; ``spec`` is the network's spec (``""`` when none describes it).
    """

    path: str
    params: Sequential
    metadata: dict[str, object]
    sizes: tuple[int, ...]
    spec: str = ""
    state: object = None

    @property
    def name(self) -> str:
        """The network as lines name it: an MLP by its sizes, another by its spec."""
        return "-".join(map(str, self.sizes)) if self.sizes else self.spec or "convolutional"

    def inputs(self, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """uint8 images ``(N, rows, cols)`` as the network takes them."""
        return network_inputs(self.params, images)

    def recorded(self, key: str) -> object:
        """A value of the architecture the metadata records, or ``None``."""
        architecture = self.metadata.get("architecture")
        if not isinstance(architecture, dict):
            return None
        value: object = cast("dict[str, object]", architecture).get(key)
        return value


def _sizes(path: str, params: object) -> tuple[int, ...]:
    """The layer sizes of an MLP, ``()`` for a network that takes images, or a ``CliError``
    if ``params`` is neither."""
    layers = params.layers if isinstance(params, Sequential) else ()
    dense = [layer for layer in layers if isinstance(layer, Dense)]
    if dense and isinstance(params, Sequential) and takes_images(params):
        return ()
    if not dense or any(a.w.shape[1] != b.w.shape[0] for a, b in itertools.pairwise(dense)):
        kind = type(params).__name__
        raise CliError(f"{path}: does not hold a network of Dense layers (found a {kind}); "
                       "pass a checkpoint written by 'functional-nn train'")
    return (dense[0].w.shape[0], *(d.w.shape[1] for d in dense))


def _spec(params: Sequential) -> str:
    try:
        return spec_of(params)
    except ValueError:  # a layer no spec token describes: the network still runs
        return ""


def _sniff(path: str) -> None:
    """Reject a file that is not a zip archive before numpy says something confusing."""
    try:
        with open_regular(path) as file:
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
    state = tree.model_state if isinstance(tree, TrainState) else None
    model = Model(path, params, checkpoint.load_metadata(path), sizes, _spec(params), state)
    for key, found in (("sizes", list(sizes)), ("spec", model.spec)):
        recorded = model.recorded(key)
        if recorded is not None and found != recorded:
            raise CliError(f"{path}: the metadata describes a {recorded} network but the "
                           f"arrays are of a {found} one; the file was altered")
    return model


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
    if not model.sizes:
        try:
            outputs = layer_shapes(model.params, image_shape(data))[-1]
        except SpecError as error:
            raise CliError(f"{model.path} does not match {name}: {error}") from None
        if outputs != (classes,):
            raise CliError(f"{model.path} does not match {name}: the network gives outputs "
                           f"of shape {outputs} but {name} has {classes} classes")
        return
    if model.sizes[0] != features:
        raise CliError(f"{model.path} does not match {name}: the network takes "
                       f"{model.sizes[0]} inputs but {name} images have "
                       f"{'×'.join(map(str, shape))} = {features} pixels")
    if model.sizes[-1] != classes:
        raise CliError(f"{model.path} does not match {name}: the network has "
                       f"{model.sizes[-1]} outputs but {name} has {classes} classes")
