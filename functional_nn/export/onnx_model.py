"""ONNX models of networks: :func:`onnx_model` builds one, :func:`to_onnx` writes it.

The model has one input, ``"input"``: float32, of shape ``(batch, *input_shape)`` with a
dynamic batch dimension named ``"batch"``, images channels-last ``(batch, height, width,
channels)`` as :func:`~functional_nn.forward` takes them. It has one output: ``"logits"``, the
network's output, or with ``probabilities=True`` ``"probabilities"``, its softmax over the
last axis. It is default-domain opset 17, IR version 8 (onnxruntime 1.13 and later), checked
by ``onnx.checker`` (with shape inference) before it is returned. Each layer's nodes come from
its kind's export rule (:mod:`.rules`; your own kinds': :func:`~.graph.register_onnx`).
An ONNX file holds its weights inside one protobuf message, which cannot pass 2 GB: a larger
network is refused before the model is built (export its weights as safetensors instead).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .. import __version__
from ..model import forward
from ..tree import tree_leaves
from .errors import ExportError, require
from .files import string_metadata, write_file
from .graph import Graph, Value, _Builder, onnx_rule_for
from .paths import keyed_leaves

if TYPE_CHECKING:
    import onnx

__all__ = ["INPUT", "IR_VERSION", "LOGITS", "OPSET", "PROBABILITIES", "PROTOBUF_LIMIT",
           "onnx_model", "to_onnx"]

INPUT = "input"
"""The name of the exported model's input: a float32 batch, one sample as ``forward`` takes it."""
LOGITS = "logits"
"""The name of the exported model's output: the network's outputs."""
PROBABILITIES = "probabilities"
"""The output's name with ``probabilities=True``: the softmax of the logits."""
"""The names of the model's input and of its output (without and with ``probabilities``)."""
OPSET = 17  # the first with LayerNormalization
IR_VERSION = 8  # opset 17's: newer runtimes read it, older ones refuse newer versions
PROTOBUF_LIMIT = 2**31
"""The most bytes protobuf serialises one model to: an ONNX file holds its weights inside."""
_TOO_BIG = ("the ONNX model would be larger than protobuf's 2 GB limit{}; export .safetensors "
            "instead")


def _input_shape(value: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(value) if isinstance(value, Sequence) else ()
    if not shape or not all(isinstance(n, int | np.integer) and not isinstance(n, bool)
                            and n >= 1 for n in shape):
        raise ExportError(f"input_shape must be the positive sizes of one input without the "
                          f"batch dimension, such as (784,) or (28, 28, 1), got {value!r}")
    return tuple(int(n) for n in shape)


def _check_dtype(params: object) -> None:
    keys, leaves, _ = keyed_leaves(params)
    for name, leaf in zip(keys, leaves, strict=True):
        if not isinstance(leaf, np.ndarray) or leaf.dtype != np.float32:
            what = leaf.dtype if isinstance(leaf, np.ndarray) else type(leaf).__name__
            raise ExportError(f"ONNX export takes float32 parameters, but {name} is {what}")


def _check_size(params: object, state: object) -> None:
    """Refuse, before any copy is made, weights that protobuf could never serialise (the
    model would cost a few times their size in memory only to fail at the end)."""
    size = sum(leaf.nbytes for leaf in tree_leaves((params, state))
               if isinstance(leaf, np.ndarray))
    if size >= PROTOBUF_LIMIT:
        raise ExportError(_TOO_BIG.format(f" ({size / 1e9:.1f} GB of weights)"))


def _build(params: object, state: object, sample: np.ndarray, out: np.ndarray,
           probabilities: bool) -> onnx.ModelProto:
    """The model of the network, unchecked, from its export rules."""
    from onnx import helper

    builder = _Builder((INPUT, LOGITS, PROBABILITIES))
    graph = Graph(builder, "", sample, state)
    y = onnx_rule_for(params)(params, Value(INPUT), graph)
    last = Graph(builder, "", out, None).channels_last(y)
    output = PROBABILITIES if probabilities else LOGITS
    graph.node("Softmax" if probabilities else "Identity", [last], output=output,
               **({"axis": -1} if probabilities else {}))
    float32 = helper.np_dtype_to_tensor_dtype(np.dtype(np.float32))
    shape = sample.shape[1:]
    return helper.make_model(
        helper.make_graph(
            builder.nodes, "functional_nn", initializer=builder.initializers,
            inputs=[helper.make_tensor_value_info(INPUT, float32, ["batch", *shape])],
            outputs=[helper.make_tensor_value_info(output, float32,
                                                   ["batch", *out.shape[1:]])]),
        opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
        producer_name="functional_nn", producer_version=__version__,
        doc_string=f"input {INPUT!r}: float32 (batch, {', '.join(map(str, shape))}), "
                   f"channels-last; output {output!r}")


def onnx_model(params: object, *, input_shape: Sequence[int], probabilities: bool = False,
               state: object = None, metadata: Mapping[str, str] | None = None
               ) -> onnx.ModelProto:
    """The ONNX model of the network ``params`` (any tree :func:`~functional_nn.forward`
    runs, a ``Flat`` too) at inference, with its model ``state`` (a network with BatchNorm
    needs it), for inputs of shape ``(batch, *input_shape)``; ``metadata`` becomes the
    model's metadata properties (strings)."""
    require("onnx", "ONNX export")
    import onnx
    from google.protobuf.message import EncodeError
    from onnx import helper

    shape, props = _input_shape(input_shape), string_metadata(metadata)
    _check_dtype(params)
    _check_size(params, state)
    inputs = f"inputs of shape (batch, {', '.join(map(str, shape))})"
    try:  # numpy's "array is too big" (a ValueError) past its index range, MemoryError short of it
        sample = np.zeros((1, *shape), np.float32)
    except (ValueError, MemoryError):
        raise ExportError(f"{inputs} do not fit in memory: one is "
                          f"{math.prod(shape) * 4 / 1e9:.3g} GB of float32") from None
    try:  # the library's own checks, and messages, for a network and inputs that do not fit
        out = forward(params, sample, state=state)
    except (TypeError, ValueError) as error:
        raise ExportError(f"the network does not run on {inputs}: {error}") from None
    except MemoryError as error:
        raise ExportError(f"the network does not run on {inputs} in memory "
                          f"({error or 'allocation failed'})") from None
    try:
        model = _build(params, state, sample, out, probabilities)
        if props:
            helper.set_model_props(model, props)
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as error:
        detail = " ".join(str(error).split())  # the checker's text runs over several lines
        raise ExportError(f"the exported graph is not valid ONNX: {detail}") from None
    except EncodeError:  # under the limit in weights, over it with the graph's own constants
        raise ExportError(_TOO_BIG.format("")) from None
    return model


def to_onnx(params: object, path: str | os.PathLike[str], *, input_shape: Sequence[int],
            probabilities: bool = False, state: object = None,
            metadata: Mapping[str, str] | None = None) -> None:
    """Write :func:`onnx_model` of the network to ``path``, atomically.

    >>> import tempfile, onnx
    >>> from functional_nn import mlp
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     to_onnx(mlp([4, 3, 2], seed=0), f"{folder}/net.onnx", input_shape=(4,))
    ...     model = onnx.load(f"{folder}/net.onnx")
    >>> [n.op_type for n in model.graph.node]
    ['MatMul', 'Add', 'Relu', 'MatMul', 'Add', 'Identity']
    """
    model = onnx_model(params, input_shape=input_shape, probabilities=probabilities,
                       state=state, metadata=metadata)
    write_file(path, model.SerializeToString())  # the checker has serialised it already
